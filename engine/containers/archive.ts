/**
 * Reading a container's files: the path stat behind `docker cp` (HEAD /containers/{id}/archive,
 * sent base64-encoded in X-Docker-Container-Path-Stat), the tar of one path (GET, the tar's top
 * entry named like the path's last element, "." for `dir/.`), and the whole root filesystem
 * (`docker export`). Everything is read through the rooted filesystem (hostfs/rooted.ts), so a
 * running container that swaps a directory for a symlink mid-copy cannot make the daemon read a
 * host file, and trees of any depth work.
 *
 * For cp, the container's mounts are seen through as in Docker's view of the container: volumes,
 * binds, tmpfs (of a running container) and the /etc/hostname, /etc/hosts and /etc/resolv.conf
 * the runtime bind-mounts from the container's data directory. `docker export` is the rootfs
 * alone, as in Docker. Uploads (PUT) live in extract.ts.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { TarHeader } from '../../common/tar/index.js';
import { closeFd, fdFstat, fdOpen, isErrno, readFd } from '../../hostfs/fd.js';
import { cleanAbsPath, RootedFs, type RootedDir, type RootMount } from '../../hostfs/rooted.js';
import { TarSink } from '../../hostfs/tar-sink.js';
import { walkTree } from '../../hostfs/walk.js';
import { notFound } from '../common/errors.js';

/** What X-Docker-Container-Path-Stat carries (Docker's ContainerPathStat; mode is a Go os.FileMode). */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** The container, as the archive code needs it: its mounted rootfs and what is mounted in it. */
export interface ArchiveScope {
  rootfs: string;
  mounts: readonly RootMount[];
  /** The name or ID the client used (for messages). */
  ref: string;
}

// Go's os.FileMode type bits.
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

export function goFileMode(st: Stats): number {
  let m = st.mode & 0o777;
  if (st.mode & 0o4000) m += GO_SETUID;
  if (st.mode & 0o2000) m += GO_SETGID;
  if (st.mode & 0o1000) m += GO_STICKY;
  if (st.isDirectory()) m += GO_DIR;
  else if (st.isSymbolicLink()) m += GO_SYMLINK;
  else if (st.isFIFO()) m += GO_PIPE;
  else if (st.isSocket()) m += GO_SOCKET;
  else if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHARDEV;
  else if (st.isBlockDevice()) m += GO_DEVICE;
  return m;
}

const fileNotFound = (s: ArchiveScope, p: string): Error => notFound(`Could not find the file ${p} in container ${s.ref}`);

/** Lookup failures inside the container are "not found"; anything else is a real error. */
function mapLookupError(err: unknown, s: ArchiveScope, p: string): unknown {
  return isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP') ? fileNotFound(s, p) : err;
}

/** The last element of the path as Docker names it (filepath.Base of the absolute path). */
function baseName(abs: string): string {
  if (abs === '/') return '/';
  if (abs.endsWith('/.')) return '.';
  return path.posix.basename(abs);
}

/** A located path: the directory holding it, its name there ('' for the directory itself) and its stat. */
interface Source {
  dir: RootedDir;
  name: string;
  st: Stats;
}

async function openSource(s: ArchiveScope, fs: RootedFs, abs: string): Promise<Source> {
  let loc;
  try {
    loc = await fs.locate(abs);
  } catch (err) {
    throw mapLookupError(err, s, abs);
  }
  try {
    const st = loc.name === '' ? await fdFstat(loc.dir.fd) : await fs.lstat(loc.dir, loc.name);
    if (st === undefined) throw fileNotFound(s, abs);
    return { dir: loc.dir, name: loc.name, st };
  } catch (err) {
    await fs.closeDir(loc.dir);
    throw err;
  }
}

async function pathStat(fs: RootedFs, abs: string, src: Source): Promise<PathStat> {
  // Fully evaluated in the container's scope, as an absolute container path.
  const linkTarget = src.st.isSymbolicLink() ? await fs.resolve(abs) : '';
  return { name: baseName(abs), size: src.st.size, mode: goFileMode(src.st), mtime: src.st.mtime.toISOString(), linkTarget };
}

const view = (s: ArchiveScope): { mounts: readonly RootMount[] } => ({ mounts: s.mounts });

/** HEAD /containers/{id}/archive. */
export async function statPath(s: ArchiveScope, p: string): Promise<PathStat> {
  const abs = cleanAbsPath(p);
  return RootedFs.with(s.rootfs, view(s), async (fs) => {
    const src = await openSource(s, fs, abs);
    try {
      return await pathStat(fs, abs, src);
    } finally {
      await fs.closeDir(src.dir);
    }
  });
}

/**
 * GET /containers/{id}/archive: stats the path, lets the caller answer with the stat (`start`
 * returns where the tar goes), then streams the tar's entries. Errors before `start` are plain
 * errors. The end-of-archive marker is left to the caller (TarSink.finish), so that it can let go
 * of the rootfs first: a client that has the whole archive never races the unmount.
 */
export async function archivePath(s: ArchiveScope, p: string, start: (stat: PathStat) => Writable, signal?: AbortSignal): Promise<TarSink> {
  const abs = cleanAbsPath(p);
  return RootedFs.with(s.rootfs, view(s), async (fs) => {
    const src = await openSource(s, fs, abs);
    try {
      const stat = await pathStat(fs, abs, src);
      const sink = new TarSink(start(stat), signal);
      await new TreeWriter(fs, sink).write(src, baseName(abs));
      return sink;
    } finally {
      await fs.closeDir(src.dir);
    }
  });
}

/** GET /containers/{id}/export: the whole root filesystem, entries relative to "/" (finish() left to the caller, as above). */
export async function exportRootfs(s: ArchiveScope, out: Writable, signal?: AbortSignal): Promise<TarSink> {
  return RootedFs.with(s.rootfs, {}, async (fs) => {
    const sink = new TarSink(out, signal);
    await new TreeWriter(fs, sink).writeChildren(fs.root, '');
    return sink;
  });
}

/** Writes a file tree into a tar, reading everything through directory fds. */
class TreeWriter {
  /** First name written for each multiply-linked inode: later ones become hard links. */
  private readonly inodes = new Map<string, string>();

  constructor(
    private readonly fs: RootedFs,
    private readonly sink: TarSink,
  ) {}

  /** The source itself (named `entryName`), then, for a directory, everything below it. */
  async write(src: Source, entryName: string): Promise<void> {
    if (!src.st.isDirectory()) {
      await this.entry(src.dir, src.name, src.st, entryName);
      return;
    }
    await this.entry(src.dir, src.name, src.st, entryName);
    if (src.name === '') {
      await this.writeChildren(src.dir, entryName);
      return;
    }
    const sub = await this.fs.openChild(src.dir, src.name);
    try {
      await this.writeChildren(sub, entryName);
    } finally {
      await this.fs.closeDir(sub);
    }
  }

  /** Everything below `dir`, named below `prefix` ('' for none). */
  async writeChildren(dir: RootedDir, prefix: string): Promise<void> {
    const base = prefix === '' ? '' : prefix === '/' ? '/' : `${prefix}/`;
    await walkTree(this.fs, dir, async (e) => {
      await this.entry(e.dir, e.name, e.st, base + e.rel);
    });
  }

  private async entry(dir: RootedDir, name: string, st: Stats, entryName: string): Promise<void> {
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) {
      await this.sink.add({ ...base, name: entryName === '/' || entryName.endsWith('/') ? entryName : `${entryName}/`, type: 'dir' });
      return;
    }
    if (st.isFile()) {
      const where = name === '' ? undefined : this.fs.filePath(dir, name);
      if (where && !where.mounted && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.inodes.get(key);
        if (first !== undefined) {
          await this.sink.add({ ...base, name: entryName, type: 'link', linkname: first });
          return;
        }
        this.inodes.set(key, entryName);
      }
      if (where) await this.file(where, { ...base, name: entryName, type: 'file' });
      return;
    }
    const h: TarHeader | undefined = st.isSymbolicLink()
      ? { ...base, name: entryName, type: 'symlink', linkname: await fsp.readlink(this.fs.filePath(dir, name).path) }
      : st.isFIFO()
        ? { ...base, name: entryName, type: 'fifo' }
        : st.isCharacterDevice() || st.isBlockDevice()
          ? { ...base, name: entryName, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major(st.rdev), devminor: minor(st.rdev) }
          : undefined; // sockets are not archived (neither does Docker)
    if (h) await this.sink.add(h);
  }

  private async file(where: { path: string; mounted: boolean }, h: TarHeader): Promise<void> {
    let fd: number;
    try {
      // O_NONBLOCK: a file swapped for a fifo must not hang the open. A file mount's source is the
      // caller's own host path, followed like the mount followed it.
      fd = await fdOpen(where.path, fsc.O_RDONLY | fsc.O_NONBLOCK | (where.mounted ? 0 : fsc.O_NOFOLLOW));
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ELOOP')) return; // gone or replaced meanwhile
      throw err;
    }
    try {
      const fst = await fdFstat(fd);
      if (!fst.isFile()) return;
      await this.sink.add({ ...h, size: fst.size }, readFd(fd));
    } finally {
      await closeFd(fd);
    }
  }
}

// Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor).
export const major = (rdev: number): number => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
export const minor = (rdev: number): number => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
