/**
 * `docker cp` into a container (PUT /containers/{id}/archive): a tar stream (plain or gzip)
 * extracted into a directory of the container, with dockerd's semantics and none of its
 * escapes.
 *
 * Semantics (dockerd's): the destination path is resolved in the container's scope, its last
 * element too (so a symlink to a directory works), and must be a directory. Entry names are
 * relative to it; a name whose ".." would leave it is refused. Missing parents are created
 * (0755, root). An existing entry is replaced, except that a directory stays a directory when
 * the archive has one too; with `noOverwriteDirNonDir` replacing a directory by a non-directory
 * (or the reverse) is an error. Ownership comes from the tar unless the caller gives one
 * (`copyUIDGID`: the container's user). Like dockerd, extraction streams: entries before a
 * refused one stay extracted.
 *
 * Safety: every directory is reached through scoped-fs.ts (fds opened without following
 * symlinks, container symlinks resolved inside the container's root), and everything is
 * created with no-follow calls on `/proc/self/fd/<dir>/<name>`. A tar that plants an absolute
 * symlink and then writes "through" it, or a container whose `/evil -> /`, lands inside the
 * container's root, as if the extraction ran chrooted there.
 */
import { spawn } from 'node:child_process';
import fs, { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { invalid, isErrno, notFound, system } from '../common/errors.js';
import { blockPadding, ByteSource, TarReader, type Entry } from '../common/tar-reader.js';
import {
  at,
  closeFd,
  containerAbsPath,
  containerPathOf,
  lstatAt,
  makeDir,
  openDirAt,
  openDirIn,
  openTrustedDir,
  removeAt,
} from './scoped-fs.js';

export interface ExtractOptions {
  /** The name or ID the client used (for messages). */
  ref: string;
  noOverwriteDirNonDir: boolean;
  /** Ownership for every entry (copyUIDGID); otherwise the tar's. */
  owner?: { uid: number; gid: number };
  signal?: AbortSignal;
}

const fdOpen = promisify(fs.open);
const fdWrite = promisify(fs.write);
const fdChown = promisify(fs.fchown);
const fdChmod = promisify(fs.fchmod);
const fdUtimes = promisify(fs.futimes);
const WRITE_CHUNK = 1024 * 1024;
const ROOT_DIRS = { mode: 0o755, uid: 0, gid: 0 };

/** Lexically normalises an entry name relative to the destination; null if ".." would leave it. */
function relName(raw: string): string | null {
  if (raw.includes('\0')) return null;
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join('/');
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

export async function extractArchive(rootfs: string, p: string, body: Readable, o: ExtractOptions): Promise<void> {
  const abs = containerAbsPath(p);
  const rootFd = await openTrustedDir(rootfs);
  try {
    let destFd: number;
    try {
      destFd = await openDirIn(rootFd, abs);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ELOOP')) throw notFound(`Could not find the file ${p} in container ${o.ref}`);
      if (isErrno(err, 'ENOTDIR')) throw invalid('extraction point is not a directory');
      throw err;
    }
    let dest: string;
    try {
      dest = await containerPathOf(rootfs, destFd);
    } finally {
      await closeFd(destFd);
    }
    const x = new Extractor(rootFd, dest, o);
    try {
      await x.run(await tarStream(body));
    } finally {
      await x.close();
    }
  } finally {
    await closeFd(rootFd);
  }
}

class Extractor {
  /** Open parent directories by their path relative to the destination. */
  private readonly dirs = new Map<string, number>();
  /** Directories whose times are set at the end (creating entries inside changes them). */
  private readonly dirTimes: { rel: string; atime: number; mtime: number }[] = [];

  constructor(
    private readonly rootFd: number,
    private readonly dest: string,
    private readonly o: ExtractOptions,
  ) {}

  async close(): Promise<void> {
    await this.forgetDirs();
  }

  private async forgetDirs(): Promise<void> {
    for (const fd of this.dirs.values()) await closeFd(fd);
    this.dirs.clear();
  }

  private abs(rel: string): string {
    return rel === '' ? this.dest : path.posix.join(this.dest, rel);
  }

  /** The directory `rel` (relative to the destination), created with its parents if missing. */
  private async dir(rel: string): Promise<number> {
    const cached = this.dirs.get(rel);
    if (cached !== undefined) return cached;
    const fd = await openDirIn(this.rootFd, this.abs(rel), ROOT_DIRS);
    this.dirs.set(rel, fd);
    return fd;
  }

  async run(stream: Readable): Promise<void> {
    const src = new ByteSource(stream);
    const reader = new TarReader(src, this.o.signal);
    for (;;) {
      const e = await reader.next();
      if (e === null) break;
      const rel = relName(e.name);
      if (rel === null) throw invalid(`${JSON.stringify(e.name)} is outside of ${JSON.stringify(this.dest)}`);
      if (rel === '') {
        await src.skip(e.size + blockPadding(e.size), 'an entry');
        continue;
      }
      await this.entry(src, e, rel);
      await src.skip(blockPadding(e.size), 'an entry');
    }
    for (const d of this.dirTimes.reverse()) {
      const fd = await openDirIn(this.rootFd, this.abs(d.rel)).catch(() => undefined);
      if (fd === undefined) continue;
      await fdUtimes(fd, d.atime, d.mtime).catch(() => undefined);
      await closeFd(fd);
    }
  }

  private async entry(src: ByteSource, e: Entry, rel: string): Promise<void> {
    const i = rel.lastIndexOf('/');
    const parent = i === -1 ? '' : rel.slice(0, i);
    const name = rel.slice(i + 1);
    const dirFd = await this.dir(parent);
    const uid = this.o.owner?.uid ?? e.uid;
    const gid = this.o.owner?.gid ?? e.gid;
    const existing = await lstatAt(dirFd, name);
    if (existing) {
      const shown = this.abs(rel);
      if (this.o.noOverwriteDirNonDir && existing.isDirectory() && e.type !== 'dir') {
        throw invalid(`cannot overwrite directory ${JSON.stringify(shown)} with non-directory ${JSON.stringify(shown)}`);
      }
      if (this.o.noOverwriteDirNonDir && !existing.isDirectory() && e.type === 'dir') {
        throw invalid(`cannot overwrite non-directory ${JSON.stringify(shown)} with directory ${JSON.stringify(shown)}`);
      }
      if (!(existing.isDirectory() && e.type === 'dir')) {
        await removeAt(dirFd, name);
        // Cached directories below what was removed are gone: look them up again.
        if (existing.isDirectory()) {
          const keep = this.dirs.get(parent);
          this.dirs.delete(parent);
          await this.forgetDirs();
          if (keep !== undefined) this.dirs.set(parent, keep);
        }
      }
    }
    const target = at(dirFd, name);
    switch (e.type) {
      case 'dir': {
        if (!existing?.isDirectory()) await makeDir(dirFd, name, { mode: 0o700, uid, gid });
        const fd = await openDirAt(dirFd, name);
        try {
          await fdChown(fd, uid, gid);
          await fdChmod(fd, e.mode);
        } finally {
          await closeFd(fd);
        }
        this.dirTimes.push({ rel, atime: e.atime, mtime: e.mtime });
        return;
      }
      case 'file': {
        const fd = await fdOpen(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          let left = e.size;
          while (left > 0) {
            const chunk = await src.next(Math.min(left, WRITE_CHUNK));
            if (chunk === null) throw invalid(`the archive is truncated inside ${JSON.stringify(e.name)}`);
            let off = 0;
            while (off < chunk.length) off += (await fdWrite(fd, chunk, off, chunk.length - off)).bytesWritten;
            left -= chunk.length;
          }
          await fdChown(fd, uid, gid);
          await fdChmod(fd, e.mode);
          await fdUtimes(fd, e.atime, e.mtime);
        } finally {
          await closeFd(fd);
        }
        return;
      }
      case 'symlink':
        await fsp.symlink(e.linkname, target);
        break;
      case 'link': {
        const to = relName(e.linkname);
        if (to === null || to === '') throw invalid(`invalid hardlink ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)}`);
        const j = to.lastIndexOf('/');
        const toDir = await openDirIn(this.rootFd, this.abs(j === -1 ? '' : to.slice(0, j)));
        try {
          await fsp.link(at(toDir, to.slice(j + 1)), target);
        } finally {
          await closeFd(toDir);
        }
        return; // a hard link shares its target's owner, mode and times
      }
      case 'char':
      case 'block':
      case 'fifo':
        await mknodAt(dirFd, name, e);
        break;
    }
    await fsp.lchown(target, uid, gid);
    await fsp.lutimes(target, e.atime, e.mtime);
  }
}

/** Node cannot mknod: mknod(1) gets the directory as its fd 3 and creates the node inside it. */
function mknodAt(dirFd: number, name: string, e: Entry): Promise<void> {
  const kind = e.type === 'fifo' ? ['p'] : [e.type === 'char' ? 'c' : 'b', String(e.devmajor), String(e.devminor)];
  const mode = (e.mode & 0o7777).toString(8);
  return new Promise((resolve, reject) => {
    const child = spawn('mknod', ['-m', mode, `/proc/self/fd/3/${name}`, ...kind], { stdio: ['ignore', 'ignore', 'pipe', dirFd] });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(system(`creating ${JSON.stringify(e.name)} failed: ${err.trim() || `exit ${code}`}`))));
  });
}
