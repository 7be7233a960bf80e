/**
 * `docker cp` into a container (PUT /containers/{id}/archive), the build context and the
 * builder's COPY: a tar stream (plain or gzip) extracted into a directory of a root, with
 * dockerd's semantics and none of its escapes.
 *
 * Semantics (dockerd's): the destination path is resolved in the root's scope, its last element
 * too (so a symlink to a directory works), and must be a directory. Writing is refused when it
 * lies in a read-only mount ("mounted volume is marked read-only") or, outside every mount, when
 * the rootfs is read-only ("container rootfs is marked read-only"). Entries are written by the
 * shared extractor (hostfs/extract.ts: every path resolved in the root's scope, mounts seen
 * through); ownership comes from the tar unless the caller gives one (`copyUIDGID`).
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isTarFormatError, TarReader } from '../../common/tar/index.js';
import { extractTar, isExtractError } from '../../hostfs/extract.js';
import { isErrno } from '../../hostfs/fd.js';
import { cleanAbsPath, RootedFs, type RootMount } from '../../hostfs/rooted.js';
import { invalid, notFound } from '../common/errors.js';

export interface ExtractOptions {
  /** The name or ID the client used (for messages). */
  ref: string;
  noOverwriteDirNonDir: boolean;
  /** Ownership for every entry (copyUIDGID); otherwise the tar's. */
  owner?: { uid: number; gid: number };
  /** The container's mounts, seen through as in Docker's view of it. */
  mounts?: readonly RootMount[];
  /** The rootfs itself is read-only (HostConfig.ReadonlyRootfs). */
  readOnly?: boolean;
  signal?: AbortSignal;
}

/** A plain or gzip-compressed tar stream, told apart by its first bytes. */
async function tarStream(body: Readable): Promise<Readable> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : first.value;
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const raw = Readable.from(all(), { objectMode: false });
  if (head[0] === 0x1f && head[1] === 0x8b) return raw.pipe(createGunzip());
  if (head.subarray(0, 3).toString('latin1') === 'BZh' || head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw invalid('bzip2 and xz compressed archives are not supported; send a plain or gzip-compressed tar');
  }
  return raw;
}

export async function extractArchive(root: string, p: string, body: Readable, o: ExtractOptions): Promise<void> {
  await RootedFs.with(root, { mounts: o.mounts ?? [], readOnly: o.readOnly === true }, async (fs) => {
    let dest;
    try {
      dest = await fs.openDir(cleanAbsPath(p));
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ELOOP')) throw notFound(`Could not find the file ${p} in container ${o.ref}`);
      if (isErrno(err, 'ENOTDIR')) throw invalid('extraction point is not a directory');
      throw err;
    }
    try {
      const readOnly = fs.readOnlyReason(dest);
      if (readOnly) throw invalid(readOnly);
      const reader = new TarReader(await tarStream(body), o.signal ? { signal: o.signal } : {});
      await extractTar(fs, dest, reader, {
        owner: o.owner ?? 'archive',
        noOverwriteDirNonDir: o.noOverwriteDirNonDir,
        specialFiles: 'create',
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      if (isExtractError(err) || isTarFormatError(err)) throw invalid(err.message);
      throw err;
    } finally {
      await fs.closeDir(dest);
    }
  });
}
