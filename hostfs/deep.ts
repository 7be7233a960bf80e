/**
 * Paths below a directory the daemon owns (a layer being unpacked, an image's layer directories)
 * that may be longer than PATH_MAX. Short paths are used as they are; longer ones go through
 * directory fds opened a few components at a time, so no single path the kernel sees is too long.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import { at, closeFd, fdOpen, isErrno } from './fd.js';
import { openDirAt, openTrustedDir } from './rooted.js';

/** Paths up to this many bytes are handed to the kernel directly (PATH_MAX is 4096). */
const SHORT_BYTES = 3072;
/** Bytes of path opened in one step on the way down a deep tree. */
const STEP_BYTES = 2048;
/** Directory fds a TreeLookup keeps open. */
const MAX_CACHED = 256;

export const isShortPath = (p: string): boolean => p.length < SHORT_BYTES / 3 || Buffer.byteLength(p) < SHORT_BYTES;

/**
 * Opens the directory `rel` below the trusted directory `root`, a few components per open. Its
 * components are trusted to be directories (intermediate symlinks would be followed).
 */
export async function openDeepDir(root: string, rel: string): Promise<number> {
  let fd = await openTrustedDir(root);
  try {
    let chunk: string[] = [];
    let bytes = 0;
    const step = async (): Promise<void> => {
      const next = await fdOpen(at(fd, chunk.join('/')), fsc.O_RDONLY | fsc.O_DIRECTORY);
      await closeFd(fd);
      fd = next;
      chunk = [];
      bytes = 0;
    };
    for (const seg of rel === '' ? [] : rel.split('/')) {
      const n = Buffer.byteLength(seg) + 1;
      if (chunk.length > 0 && bytes + n > STEP_BYTES) await step();
      chunk.push(seg);
      bytes += n;
    }
    if (chunk.length > 0) await step();
    return fd;
  } catch (err) {
    await closeFd(fd);
    throw err;
  }
}

/** A path for `rel` below `root` that the kernel accepts, valid until release(). */
export async function deepPath(root: string, rel: string): Promise<{ path: string; release(): Promise<void> }> {
  const full = rel === '' ? root : `${root}/${rel}`;
  if (isShortPath(full)) return { path: full, release: () => Promise.resolve() };
  const i = rel.lastIndexOf('/');
  const fd = await openDeepDir(root, i === -1 ? '' : rel.slice(0, i));
  return { path: at(fd, rel.slice(i + 1)), release: () => closeFd(fd) };
}

/** Runs fn with a kernel-acceptable path for `rel` below `root`. */
export async function withDeepPath<T>(root: string, rel: string, fn: (p: string) => Promise<T>): Promise<T> {
  const p = await deepPath(root, rel);
  try {
    return await fn(p.path);
  } finally {
    await p.release();
  }
}

/** lstat of `rel` below `root`; undefined when it does not exist. */
export async function lstatBelow(root: string, rel: string): Promise<Stats | undefined> {
  return withDeepPath(root, rel, (p) => fsp.lstat(p)).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  });
}

/**
 * Looks paths up in a read-only tree (an image layer) without following any symlink on the way,
 * as overlayfs does: a symlink where a directory is expected means the path is not there. The
 * directories of the last lookup stay open for the next one (lookups come in walk order).
 */
export class TreeLookup {
  private chain: { name: string; fd: number }[] = [];
  private rootFd: number | undefined;

  private constructor() {}

  static async open(root: string): Promise<TreeLookup> {
    const t = new TreeLookup();
    t.rootFd = await openTrustedDir(root).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    });
    return t;
  }

  /** lstat of `rel` ('a/b/c'), or undefined when it (or a directory on the way) is not there. */
  async lstat(rel: string): Promise<Stats | undefined> {
    if (this.rootFd === undefined) return undefined;
    const segs = rel.split('/');
    const dirs = segs.slice(0, -1);
    let k = 0;
    while (k < this.chain.length && k < dirs.length && this.chain[k]!.name === dirs[k]) k++;
    while (this.chain.length > k) await closeFd(this.chain.pop()!.fd);
    let parent = k === 0 ? this.rootFd : this.chain[k - 1]!.fd;
    // Below MAX_CACHED levels, directories are opened and closed again (deep trees only).
    let transient: number | undefined;
    try {
      for (let i = k; i < dirs.length; i++) {
        let fd: number;
        try {
          fd = await openDirAt(parent, dirs[i]!);
        } catch (err) {
          if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) return undefined;
          throw err;
        }
        if (this.chain.length < MAX_CACHED && transient === undefined) this.chain.push({ name: dirs[i]!, fd });
        else {
          if (transient !== undefined) await closeFd(transient);
          transient = fd;
        }
        parent = fd;
      }
      return await this.lstatAt(parent, segs[segs.length - 1]!);
    } finally {
      if (transient !== undefined) await closeFd(transient);
    }
  }

  private async lstatAt(fd: number, name: string): Promise<Stats | undefined> {
    try {
      return await fsp.lstat(at(fd, name));
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) return undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    while (this.chain.length > 0) await closeFd(this.chain.pop()!.fd);
    if (this.rootFd !== undefined) await closeFd(this.rootFd);
  }
}
