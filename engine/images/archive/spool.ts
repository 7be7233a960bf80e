/**
 * The first step of `docker load`: every entry of the archive copied to a file.
 *
 * A tar stream is sequential and its entries can come in any order, so every
 * entry is first spooled to a private scratch directory inside the layer store's
 * temp area (same filesystem, deleted at start-up after a crash), hashing as it
 * is written. The archive itself may be gzip or zstd compressed. The Spool then
 * answers "what is at this archive path" for the layout parsers (layouts.ts),
 * following symlinks and hard links inside the archive.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { addAbortSignal, pipeline, type Readable } from 'node:stream';
import { TarReader } from '../../../common/tar/index.js';
import { hasherDigest, newHasher, type Digest } from '../../common/digest.js';
import { errorMessage } from '../../common/errors.js';
import { autoDecompressor, detectCompression, SNIFF_BYTES, type Compression } from '../../store/compression.js';
import { archiveError, bad, cancelled, cleanPath } from './format.js';

/** Largest JSON document (manifest.json, config, index) read from an archive. */
export const MAX_JSON_BYTES = 32 << 20;
/** Symlink hops followed when resolving a path inside an archive. */
const MAX_LINK_HOPS = 40;

export interface SpoolFile {
  /** Path inside the archive (after links were followed). */
  name: string;
  /** Where the bytes were spooled. */
  file: string;
  size: number;
  digest: Digest;
  /** Compression sniffed from the first bytes. */
  compression: Compression;
}

export class Spool {
  private readonly entries = new Map<string, SpoolFile | { link: string }>();

  add(name: string, file: SpoolFile): void {
    this.entries.set(name, file);
  }

  link(name: string, target: string): void {
    this.entries.set(name, { link: target });
  }

  /** The file at an archive path, following symlinks and hard links inside the archive. */
  get(name: string): SpoolFile | undefined {
    let p = cleanPath(name);
    for (let hops = 0; p !== undefined && hops <= MAX_LINK_HOPS; hops++) {
      const e = this.entries.get(p);
      if (!e) return undefined;
      if (!('link' in e)) return e;
      p = e.link;
    }
    return undefined;
  }

  async read(name: string, what: string): Promise<{ file: SpoolFile; data: Buffer }> {
    const file = this.get(name);
    if (!file) throw bad(`${what} is missing from the archive`);
    return { file, data: await readLimited(file) };
  }

  async json(name: string, what: string): Promise<unknown> {
    const { data } = await this.read(name, what);
    try {
      return JSON.parse(data.toString('utf8')) as unknown;
    } catch (err) {
      throw bad(`${what} is not valid JSON: ${errorMessage(err)}`);
    }
  }
}

/** Copy every entry of the (possibly compressed) archive to dir, hashing as it goes. */
export async function spoolArchive(input: Readable, dir: string, signal?: AbortSignal): Promise<Spool> {
  const spool = new Spool();
  const decoded = pipeline(input, autoDecompressor(), () => undefined);
  if (signal) addAbortSignal(signal, decoded);
  const reader = new TarReader(decoded);
  let n = 0;
  try {
    for await (const e of reader) {
      const name = cleanPath(e.name);
      if (name !== undefined && e.type === 'file') {
        const file = path.join(dir, `e${n++}`);
        spool.add(name, await spoolEntry(reader.body(), name, file));
        continue;
      }
      if (name !== undefined && (e.type === 'symlink' || e.type === 'link') && e.linkname) {
        // Symlinks resolve against the link's directory; hard links name an archive path.
        const base = e.type === 'symlink' && !e.linkname.startsWith('/') ? path.posix.dirname(name) : '';
        const target = cleanPath(base === '' || base === '.' ? e.linkname : `${base}/${e.linkname}`);
        if (target !== undefined) spool.link(name, target);
      }
      // directories, devices and the like carry nothing load needs
    }
  } catch (err) {
    decoded.destroy();
    if (signal?.aborted) throw cancelled('load cancelled');
    throw archiveError(err);
  }
  return spool;
}

async function spoolEntry(entry: AsyncIterable<Uint8Array>, name: string, file: string): Promise<SpoolFile> {
  const fh = await fsp.open(file, 'wx', 0o600);
  const hash = newHasher();
  let size = 0;
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of entry) {
      hash.update(chunk);
      size += chunk.length;
      if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
      for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return { name, file, size, digest: hasherDigest(hash), compression: detectCompression(head) };
}

export async function readLimited(file: SpoolFile): Promise<Buffer> {
  if (file.size > MAX_JSON_BYTES) throw bad(`${file.name} is too large (${file.size} bytes)`);
  return fsp.readFile(file.file);
}
