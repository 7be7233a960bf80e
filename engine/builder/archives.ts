/**
 * ADD's local archives: a tar, plain or compressed with gzip, bzip2, xz or zstd, is extracted
 * into the destination instead of copied, as Docker does. A file is an archive when, after
 * decompression, it starts with a valid tar header (a compressed file that is not a tar, say a
 * `.gz` log, is copied as it is). gzip is decompressed in-process (zlib); bzip2, xz and zstd by
 * Debian's `bzip2`, `xz` and `zstd` tools (Node 20 has no decoder for them, and Docker also runs
 * `xz` for its xz archives).
 */
import { spawn } from 'node:child_process';
import { constants as fsc, promises as fsp } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { invalid } from '../common/errors.js';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const MAGIC: Array<[Exclude<ArchiveKind, 'tar'>, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** A 512-byte tar header: "ustar" magic, or (old v7 tars) a checksum that adds up. */
export function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  if (b.subarray(257, 262).toString('latin1') === 'ustar') return true;
  const stored = parseInt(b.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
  if (!Number.isFinite(stored) || b[0] === 0) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (b[i] as number);
  return sum === stored;
}

/** The decompressed (plain tar) stream of an archive's bytes. */
export function plainTar(body: AsyncIterable<Buffer>, kind: ArchiveKind): Readable {
  const source = Readable.from(body, { objectMode: false });
  if (kind === 'tar') return source;
  if (kind === 'gzip') {
    const out = createGunzip();
    pipeline(source, out).catch((err: unknown) => out.destroy(err as Error));
    return out;
  }
  const tool = kind;
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  child.on('error', (err) => out.destroy(invalid(`ADD: cannot run ${tool} to decompress the archive: ${err.message}`)));
  pipeline(source, child.stdin).catch(() => undefined);
  child.stdout.pipe(out, { end: false });
  let stdoutDone = false;
  let exit: number | null | undefined;
  const finish = (): void => {
    if (!stdoutDone || exit === undefined) return;
    if (exit === 0) out.end();
    else out.destroy(invalid(`ADD: the ${kind} archive is corrupt: ${Buffer.concat(stderr).toString('utf8').trim() || `${tool} exited with ${exit}`}`));
  };
  child.stdout.on('end', () => {
    stdoutDone = true;
    finish();
  });
  child.on('close', (code) => {
    exit = code;
    finish();
  });
  // A reader that stops early (the sniffing below) must not leave the tool running.
  out.on('close', () => {
    if (exit === undefined) child.kill('SIGKILL');
  });
  return out;
}

async function readFirst(file: string, n: number): Promise<Buffer> {
  const fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function* fileBytes(file: string): AsyncGenerator<Buffer> {
  const fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 })) yield chunk as Buffer;
  } finally {
    await fh.close();
  }
}

/** The first 512 decompressed bytes (fewer when the stream is shorter or broken). */
async function decompressedHead(file: string, kind: ArchiveKind): Promise<Buffer> {
  const stream = plainTar(fileBytes(file), kind);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of stream) {
      chunks.push(c as Buffer);
      size += (c as Buffer).length;
      if (size >= 512) break;
    }
  } catch {
    // not decompressible: not an archive
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks);
}

/** What kind of archive ADD would extract this file as; undefined to copy it as it is. */
export async function archiveKind(file: string): Promise<ArchiveKind | undefined> {
  const head = await readFirst(file, 512);
  const compressed = MAGIC.find(([, m]) => head.length >= m.length && m.every((b, i) => head[i] === b))?.[0];
  if (!compressed) return isTarHeader(head) ? 'tar' : undefined;
  return isTarHeader(await decompressedHead(file, compressed)) ? compressed : undefined;
}
