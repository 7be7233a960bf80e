/**
 * Volume subpaths (`--mount type=volume,src=v,dst=/d,volume-subpath=a/b`, API 1.45): a
 * directory or file inside a volume, mounted instead of the volume's root.
 *
 * The volume's content belongs to containers, and any of them may have turned `a` into a
 * symlink to `/etc` (or to `../../..`). So the subpath is never handed to the runtime as
 * `<volume>/a/b`: it is opened one component at a time, refusing every symlink (as dockerd's
 * safepath does with openat2 RESOLVE_NO_SYMLINKS), and the object that was opened is
 * bind-mounted, through its descriptor, at a mount point of its own under the exec root. The
 * runtime gets that mount point as the source. Once the runtime has made the container's
 * mounts, the temporary mount goes (releaseSubpaths): the container keeps its own copy.
 */
import { spawn } from 'node:child_process';
import fs, { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { invalid, isErrno, system } from '../common/errors.js';
import { at, closeFd, openDirAt, openTrustedDir } from '../../hostfs/rooted.js';

const fdOpen = promisify(fs.open);
/** Linux O_PATH: a handle on the object itself, without opening it for I/O (so a FIFO cannot block). */
const O_PATH = 0o10000000;

function notAccessible(full: string, why: string): Error {
  return invalid(`cannot access path ${full}: ${why}`, 'SUBPATH_NOT_ACCESSIBLE');
}

/** Opens `sub` under the directory `volumeDir` without following any symlink; returns an O_PATH fd and whether it is a directory. */
async function openBeneath(volumeDir: string, sub: string): Promise<{ fd: number; dir: boolean }> {
  const full = path.join(volumeDir, sub);
  const parts = sub.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalid('subpath must be a relative path within the volume');
  let dirFd = await openTrustedDir(volumeDir);
  try {
    for (const [i, part] of parts.entries()) {
      const st = await fsp.lstat(at(dirFd, part)).catch((err: unknown) => {
        throw notAccessible(full, isErrno(err, 'ENOENT') ? 'no such file or directory' : (err as Error).message);
      });
      if (st.isSymbolicLink()) throw notAccessible(full, 'a path component is a symbolic link');
      const last = i === parts.length - 1;
      if (!last) {
        if (!st.isDirectory()) throw notAccessible(full, 'not a directory');
        const next = await openDirAt(dirFd, part);
        await closeFd(dirFd);
        dirFd = next;
        continue;
      }
      // O_NOFOLLOW: if the name was swapped for a symlink since the lstat, this opens the link, which the fstat below refuses.
      const fd = await fdOpen(at(dirFd, part), O_PATH | fsc.O_NOFOLLOW);
      const now = await fsp.stat(at(fd));
      if (!now.isDirectory() && !now.isFile()) {
        await closeFd(fd);
        throw notAccessible(full, 'not a directory or a regular file');
      }
      return { fd, dir: now.isDirectory() };
    }
    // The subpath is the volume itself ("." or empty after cleaning).
    const fd = await fdOpen(at(dirFd), O_PATH | fsc.O_DIRECTORY);
    return { fd, dir: true };
  } finally {
    await closeFd(dirFd);
  }
}

/** Bind-mounts what `fd` holds at `target`, naming it only by its descriptor (mount(8) must not resolve the path again). */
function bindFd(fd: number, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('mount', ['--no-canonicalize', '--bind', '/proc/self/fd/3', target], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    const errs: Buffer[] = [];
    child.stderr?.on('data', (b: Buffer) => errs.push(b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(system(`mounting a volume subpath failed: ${Buffer.concat(errs).toString('utf8').trim()}`))));
  });
}

/** Mounts `<volumeDir>/<sub>` at `target` (a new directory or file, made here). */
export async function mountSubpath(volumeDir: string, sub: string, target: string): Promise<void> {
  const { fd, dir } = await openBeneath(volumeDir, sub);
  try {
    await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    if (dir) await fsp.mkdir(target, { mode: 0o700 });
    else await fsp.writeFile(target, '', { mode: 0o600, flag: 'wx' });
    await bindFd(fd, target);
  } finally {
    await closeFd(fd);
  }
}

/** Unmounts and removes the temporary subpath mounts under `dir` (never a recursive delete: a mount could still be there). */
export async function releaseSubpaths(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const name of names) {
    const p = path.join(dir, name);
    await new Promise<void>((resolve) => {
      const child = spawn('umount', ['--no-canonicalize', p], { stdio: 'ignore' });
      child.on('error', () => resolve());
      child.on('close', () => resolve());
    });
    // rmdir/unlink fail on something still mounted, which is then left alone.
    await fsp.rmdir(p).catch(() => fsp.unlink(p)).catch(() => undefined);
  }
  await fsp.rmdir(dir).catch(() => undefined);
}
