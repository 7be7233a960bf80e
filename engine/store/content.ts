import { createReadStream, createWriteStream, fdatasync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { hasherDigest, newHasher, sha256, digestHex, isDigest, type Digest } from '../common/digest.js';
import { BerthError, isErrno, notFound } from '../common/errors.js';
import { fsyncDir } from '../common/fsutil.js';
import type { BlobInfo, ContentStore, ContentWriter } from './types.js';

/**
 * Content-addressed blob store on the local filesystem.
 *
 *   <root>/blobs/sha256/<hex>   committed, verified blobs (immutable)
 *   <root>/ingest/<random>      writes in flight; deleted at start-up
 *
 * A blob is only ever visible under its digest after its bytes hashed to that
 * digest, so a crash mid-write can never leave a lying blob behind.
 */
/** Bytes written between two early flushes of an ingest (see ingest()). */
const WRITEBACK_EVERY = 8 << 20;

export class LocalContentStore implements ContentStore {
  private readonly blobsDir: string;
  private readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.blobsDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  blobPath(digest: Digest): string {
    return path.join(this.blobsDir, digestHex(digest));
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const st = await fsp.stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async readBuffer(digest: Digest): Promise<Buffer> {
    try {
      return await fsp.readFile(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(`blob ${digest} not found`);
      throw err;
    }
  }

  createReadStream(digest: Digest): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: 1 << 20 });
  }

  async ingest(expected: Partial<BlobInfo> = {}): Promise<ContentWriter> {
    const tmp = path.join(this.ingestDir, randomBytes(12).toString('hex'));
    const file = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    const hasher = newHasher();
    let written = 0;
    let done = false;
    let digest: Digest | undefined;
    const finalDigest = (): Digest => (digest ??= hasherDigest(hasher));
    // Writeback while the blob arrives. Nothing else flushes a pull's dirty pages within its
    // second or so (the kernel waits 30 s, or for 10% of memory), so without this the fsync at
    // commit writes the whole blob out and the pull stalls on the disk at the very end. One
    // fdatasync in flight at a time; its errors are left to the commit's fsync to report.
    let flushedAt = 0;
    let flushing: Promise<void> | undefined;
    const flushSome = (): void => {
      const fd = (file as unknown as { fd: number | null }).fd;
      if (flushing || typeof fd !== 'number' || file.bytesWritten - flushedAt < WRITEBACK_EVERY) return;
      flushedAt = file.bytesWritten;
      flushing = new Promise<void>((resolve) =>
        fdatasync(fd, () => {
          flushing = undefined;
          resolve();
        }),
      );
    };
    const stream = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        hasher.update(chunk);
        written += chunk.length;
        if (file.write(chunk, flushSome)) cb();
        else file.once('drain', () => cb());
      },
      final(cb) {
        const end = (): void => void file.end(() => cb());
        if (flushing) void flushing.then(end);
        else end();
      },
      destroy(err, cb) {
        file.destroy();
        cb(err);
      },
    });
    file.on('error', (err) => stream.destroy(err));
    const finished = new Promise<void>((resolve, reject) => {
      stream.once('finish', () => (file.closed ? resolve() : file.once('close', () => resolve())));
      stream.once('error', reject);
    });
    finished.catch(() => undefined);
    const abort = async (): Promise<void> => {
      done = true;
      stream.destroy();
      await fsp.rm(tmp, { force: true });
    };
    return {
      stream,
      get written() {
        return written;
      },
      digest: () => {
        if (!stream.writableFinished) throw new BerthError('system', 'content writer: digest asked before the stream finished');
        return finalDigest();
      },
      commit: async (): Promise<BlobInfo> => {
        if (done) throw new BerthError('system', 'content writer already finished');
        await finished;
        done = true;
        const digest = finalDigest();
        try {
          if (expected.size !== undefined && expected.size !== written) {
            throw new BerthError(
              'upstream',
              `size mismatch: expected ${expected.size} bytes for ${expected.digest ?? digest}, got ${written}`,
              { code: 'SIZE_MISMATCH' },
            );
          }
          if (expected.digest !== undefined && expected.digest !== digest) {
            throw new BerthError('upstream', `digest mismatch: expected ${expected.digest}, got ${digest}`, {
              code: 'DIGEST_MISMATCH',
            });
          }
          await this.moveIntoPlace(tmp, digest);
        } catch (err) {
          await fsp.rm(tmp, { force: true });
          throw err;
        }
        return { digest, size: written };
      },
      abort,
    };
  }

  private async moveIntoPlace(tmp: string, digest: Digest): Promise<void> {
    const fh = await fsp.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    // "Already exists" is success: content is immutable and equal by definition.
    await fsp.rename(tmp, this.blobPath(digest));
    await fsyncDir(this.blobsDir);
  }

  async putBuffer(data: Uint8Array, expected?: Digest): Promise<BlobInfo> {
    const digest = sha256(data);
    if (expected !== undefined && expected !== digest) {
      throw new BerthError('upstream', `digest mismatch: expected ${expected}, got ${digest}`, { code: 'DIGEST_MISMATCH' });
    }
    if (await this.has(digest)) return { digest, size: data.length };
    const tmp = path.join(this.ingestDir, randomBytes(12).toString('hex'));
    await fsp.writeFile(tmp, data, { mode: 0o600, flag: 'wx' });
    try {
      await this.moveIntoPlace(tmp, digest);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return { digest, size: data.length };
  }

  async delete(digest: Digest): Promise<void> {
    await fsp.rm(this.blobPath(digest), { force: true });
  }

  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const name of await fsp.readdir(this.blobsDir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      const info = await this.info(digest);
      if (info) out.push(info);
    }
    return out;
  }

  async cleanup(): Promise<void> {
    for (const name of await fsp.readdir(this.ingestDir)) {
      await fsp.rm(path.join(this.ingestDir, name), { recursive: true, force: true });
    }
    // Temp files from putBuffer/atomic writes that a crash left next to blobs.
    for (const name of await fsp.readdir(this.blobsDir)) {
      if (!isDigest(`sha256:${name}`)) await fsp.rm(path.join(this.blobsDir, name), { recursive: true, force: true });
    }
  }
}
