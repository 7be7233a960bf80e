/**
 * Race-free file operations inside a container's root filesystem, as if chrooted into it
 * (`docker cp` both ways, `docker export`, `docker diff`).
 *
 * The rootfs belongs to the container: a running container can turn any directory into a
 * symlink at any moment (`/target -> /etc`, `/evil -> /`). So a path is never handed to the
 * kernel as `<rootfs>/<path>`. Directories are opened one component at a time with
 * O_NOFOLLOW|O_DIRECTORY, and every later operation names its target as
 * `/proc/self/fd/<dirfd>/<name>`: the kernel jumps straight to the directory that fd holds
 * (a "magic link") and resolves only `<name>`, which the callers here never follow (lstat,
 * O_NOFOLLOW, unlink, mkdir, symlink, link). That is openat(2) for Node, which has none.
 * Container symlinks met while walking are resolved in the container's scope: absolute
 * targets restart at the container's root and ".." never climbs above it (Docker's
 * FollowSymlinkInScope, without the window between resolving and using the result).
 */
import fs, { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { isErrno } from '../common/errors.js';
import { at } from '../common/fd.js';

/** Linux follows at most 40 symlinks in one lookup. */
const MAX_SYMLINKS = 40;
const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;

const fdOpen = promisify(fs.open);
const fdClose = promisify(fs.close);

/** The path that names `name` inside the directory `fd` holds (shared with the image layer writer). */
export { at };

export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

export function closeFd(fd: number): Promise<void> {
  return fdClose(fd).catch(() => undefined);
}

/** Opens the directory `name` inside `dirFd` ('' reopens `dirFd` itself); never follows a symlink. */
export function openDirAt(dirFd: number, name: string): Promise<number> {
  // The magic link itself is a symlink: reopening `dirFd` must follow it (and only it).
  return fdOpen(at(dirFd, name), name === '' ? fsc.O_RDONLY | fsc.O_DIRECTORY : DIR_FLAGS);
}

/** Opens a trusted host directory (the rootfs mount point itself). */
export function openTrustedDir(dir: string): Promise<number> {
  return fdOpen(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
}

export async function lstatAt(dirFd: number, name: string): Promise<Stats | undefined> {
  try {
    return await fsp.lstat(at(dirFd, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

const splitPath = (p: string): string[] => p.split('/').filter((s) => s !== '' && s !== '.');

/** How missing directories are created while walking (extraction creates parents, like MkdirAll). */
export interface CreateDirs {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Opens the directory that the container path `p` names, following the container's symlinks
 * in scope. The caller owns the returned fd. Fails with ENOENT, ENOTDIR or ELOOP (errno-style
 * errors) like a lookup inside a chroot would.
 */
export async function openDirIn(rootFd: number, p: string, create?: CreateDirs): Promise<number> {
  // stack[0] is the root (borrowed, never closed here); the rest are ours.
  const stack: number[] = [rootFd];
  const pending = splitPath(p);
  let links = 0;
  try {
    while (pending.length > 0) {
      const part = pending.shift() as string;
      if (part === '..') {
        if (stack.length > 1) await closeFd(stack.pop() as number);
        continue;
      }
      const top = stack[stack.length - 1] as number;
      let st = await lstatAt(top, part);
      if (st === undefined) {
        if (!create) throw errnoError('ENOENT', `no such file or directory: ${p}`);
        await makeDir(top, part, create);
        st = await fsp.lstat(at(top, part));
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw errnoError('ELOOP', `too many levels of symbolic links: ${p}`);
        const target = await fsp.readlink(at(top, part));
        if (target.startsWith('/')) while (stack.length > 1) await closeFd(stack.pop() as number);
        pending.unshift(...splitPath(target));
        continue;
      }
      if (!st.isDirectory()) throw errnoError('ENOTDIR', `not a directory: ${p}`);
      stack.push(await openDirAt(top, part));
    }
    if (stack.length === 1) return await openDirAt(rootFd, '');
    return stack.pop() as number;
  } finally {
    for (const fd of stack.slice(1)) await closeFd(fd);
  }
}

/** mkdir + ownership, tolerating a racing creator; the result is checked by the caller's lstat. */
export async function makeDir(dirFd: number, name: string, c: CreateDirs): Promise<void> {
  try {
    await fsp.mkdir(at(dirFd, name), c.mode);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return;
    throw err;
  }
  await fsp.lchown(at(dirFd, name), c.uid, c.gid);
}

/** A container path split the way Docker does: the directory (resolved in scope) and the last name. */
export interface Located {
  /** The directory holding `name` (owned by the caller). */
  dirFd: number;
  /** The last component, not followed; '' when the path names the directory itself ("/", "/a/."). */
  name: string;
}

/** Cleans a container path to an absolute one, keeping a trailing "/." or "/" (they mean something to docker cp). */
export function containerAbsPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  let abs = '/' + parts.join('/');
  if (abs !== '/') {
    if (p.endsWith('/.') || p === '.') abs += '/.';
    else if (p.endsWith('/')) abs += '/';
  }
  return abs;
}

/**
 * Resolves the directory part of `absPath` in scope and leaves its last name unresolved
 * (Docker's ResolvePath): `/a/link` is the link itself, `/a/link/` and `/a/link/.` what it points to.
 */
export async function locate(rootFd: number, absPath: string): Promise<Located> {
  if (absPath.endsWith('/') || absPath.endsWith('/.')) return { dirFd: await openDirIn(rootFd, absPath), name: '' };
  const i = absPath.lastIndexOf('/');
  return { dirFd: await openDirIn(rootFd, absPath.slice(0, i + 1)), name: absPath.slice(i + 1) };
}

/** The container path of an open directory, from the kernel's view of it. */
export async function containerPathOf(rootfs: string, dirFd: number): Promise<string> {
  const real = await fsp.readlink(at(dirFd));
  if (real === rootfs) return '/';
  return real.startsWith(rootfs + '/') ? real.slice(rootfs.length) : real;
}

/** Removes `name` in `dirFd` and everything below it, never following a symlink. */
export async function removeAt(dirFd: number, name: string): Promise<void> {
  const st = await lstatAt(dirFd, name);
  if (st === undefined) return;
  if (!st.isDirectory()) {
    await fsp.unlink(at(dirFd, name));
    return;
  }
  const sub = await openDirAt(dirFd, name);
  try {
    for (const child of await fsp.readdir(at(sub))) await removeAt(sub, child);
  } finally {
    await closeFd(sub);
  }
  await fsp.rmdir(at(dirFd, name));
}
