/**
 * Reading a container's files: the path stat behind `docker cp` (HEAD /containers/{id}/archive,
 * sent base64-encoded in X-Docker-Container-Path-Stat), the tar of one path (GET, the tar's top
 * entry named like the path's last element, "." for `dir/.`), and the whole root filesystem
 * (`docker export`). Everything is read through scoped-fs.ts, so a running container that swaps
 * a directory for a symlink mid-copy cannot make the daemon read a host file.
 *
 * /etc/hostname, /etc/hosts and /etc/resolv.conf are bind-mounted from the container's data
 * directory at run time; like dockerd (which mounts them for cp), they are served from there.
 * Uploads (PUT) live in extract.ts.
 */
import fs, { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { isErrno, notFound } from '../common/errors.js';
import { TarWriter, type TarEntryHeader } from '../common/tar-writer.js';
import { readFd } from '../common/fd.js';
import { resolveInRoot } from '../runtime/user.js';
import { at, closeFd, containerAbsPath, containerPathOf, locate, lstatAt, openDirAt, openTrustedDir } from './scoped-fs.js';

/** What X-Docker-Container-Path-Stat carries (Docker's ContainerPathStat; mode is a Go os.FileMode). */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** The container, as the archive code needs it: its mounted rootfs and its data directory. */
export interface ArchiveScope {
  rootfs: string;
  dataDir: string;
  /** The name or ID the client used (for messages). */
  ref: string;
}

const fdOpen = promisify(fs.open);
const fdFstat = promisify(fs.fstat);
const ETC_FILES = ['hostname', 'hosts', 'resolv.conf'];

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
  return isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP') ? fileNotFound(s, p) : err;
}

/** The last element of the path as Docker names it (filepath.Base of the absolute path). */
function baseName(abs: string): string {
  if (abs === '/') return '/';
  if (abs.endsWith('/.')) return '.';
  return path.posix.basename(abs);
}

/** A located path: the directory fd holding it, its name there, its stat and its real container path. */
interface Source {
  dirFd: number;
  name: string;
  st: Stats;
  containerPath: string;
  /** A host file served instead (the container's own /etc/hosts and friends). */
  hostFile?: string;
}

async function openSource(s: ArchiveScope, rootFd: number, abs: string): Promise<Source> {
  let loc;
  try {
    loc = await locate(rootFd, abs);
  } catch (err) {
    throw mapLookupError(err, s, abs);
  }
  try {
    const dirPath = await containerPathOf(s.rootfs, loc.dirFd);
    const containerPath = loc.name === '' ? dirPath : path.posix.join(dirPath, loc.name);
    const hostFile = etcOverride(s, containerPath);
    if (hostFile !== undefined) return { dirFd: loc.dirFd, name: loc.name, st: await fsp.lstat(hostFile), containerPath, hostFile };
    const st = loc.name === '' ? await fsp.stat(at(loc.dirFd)) : await lstatAt(loc.dirFd, loc.name);
    if (st === undefined) throw fileNotFound(s, abs);
    return { dirFd: loc.dirFd, name: loc.name, st, containerPath };
  } catch (err) {
    await closeFd(loc.dirFd);
    throw err;
  }
}

function etcOverride(s: ArchiveScope, containerPath: string): string | undefined {
  const m = /^\/etc\/([^/]+)$/.exec(containerPath);
  return m && ETC_FILES.includes(m[1] as string) ? path.join(s.dataDir, m[1] as string) : undefined;
}

async function withRoot<T>(rootfs: string, fn: (rootFd: number) => Promise<T>): Promise<T> {
  const rootFd = await openTrustedDir(rootfs);
  try {
    return await fn(rootFd);
  } finally {
    await closeFd(rootFd);
  }
}

async function pathStat(s: ArchiveScope, abs: string, src: Source): Promise<PathStat> {
  let linkTarget = '';
  if (src.st.isSymbolicLink()) {
    // Fully evaluated in the container's scope, as an absolute container path.
    const host = await resolveInRoot(s.rootfs, abs);
    linkTarget = host === s.rootfs ? '/' : host.slice(s.rootfs.length);
  }
  return { name: baseName(abs), size: src.st.size, mode: goFileMode(src.st), mtime: src.st.mtime.toISOString(), linkTarget };
}

/** HEAD /containers/{id}/archive. */
export async function statPath(s: ArchiveScope, p: string): Promise<PathStat> {
  const abs = containerAbsPath(p);
  return withRoot(s.rootfs, async (rootFd) => {
    const src = await openSource(s, rootFd, abs);
    try {
      return await pathStat(s, abs, src);
    } finally {
      await closeFd(src.dirFd);
    }
  });
}

/**
 * GET /containers/{id}/archive: stats the path, lets the caller answer with the stat (`start`
 * returns where the tar goes), then streams the tar's entries. Errors before `start` are plain
 * errors. The end-of-archive marker is left to the caller (TarWriter.finish), so that it can
 * let go of the rootfs first: a client that has the whole archive never races the unmount.
 */
export async function archivePath(s: ArchiveScope, p: string, start: (stat: PathStat) => Writable, signal?: AbortSignal): Promise<TarWriter> {
  const abs = containerAbsPath(p);
  return withRoot(s.rootfs, async (rootFd) => {
    const src = await openSource(s, rootFd, abs);
    try {
      const stat = await pathStat(s, abs, src);
      const w = new TarWriter(start(stat), signal);
      const walker = new TreeWriter(w, s);
      await walker.emit(src.dirFd, src.name, src.st, baseName(abs), src.containerPath, src.hostFile);
      return w;
    } finally {
      await closeFd(src.dirFd);
    }
  });
}

/** GET /containers/{id}/export: the whole root filesystem, entries relative to "/" (finish() left to the caller, as above). */
export async function exportRootfs(s: ArchiveScope, out: Writable, signal?: AbortSignal): Promise<TarWriter> {
  return withRoot(s.rootfs, async (rootFd) => {
    const w = new TarWriter(out, signal);
    // The container's own /etc files are not mounted for export (Docker exports the layer's).
    const walker = new TreeWriter(w, undefined);
    for (const name of (await fsp.readdir(at(rootFd))).sort()) {
      const st = await lstatAt(rootFd, name);
      if (st) await walker.emit(rootFd, name, st, name, `/${name}`);
    }
    return w;
  });
}

/** Writes a file tree into a tar, reading everything through directory fds. */
class TreeWriter {
  /** First name written for each multiply-linked inode: later ones become hard links. */
  private readonly inodes = new Map<string, string>();

  constructor(
    private readonly w: TarWriter,
    private readonly scope: ArchiveScope | undefined,
  ) {}

  private child(prefix: string, name: string): string {
    return prefix === '/' ? `/${name}` : `${prefix}/${name}`;
  }

  async emit(dirFd: number, name: string, st: Stats, entryName: string, containerPath: string, hostFile?: string): Promise<void> {
    const base = {
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: 0,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (hostFile !== undefined) {
      await this.w.add({ ...base, name: entryName, type: 'file', size: st.size }, readHostFile(hostFile));
      return;
    }
    if (st.isDirectory()) {
      await this.w.add({ ...base, name: entryName === '/' ? '/' : `${entryName}/`, type: 'dir' });
      const sub = await openDirAt(dirFd, name);
      try {
        for (const child of (await fsp.readdir(at(sub))).sort()) {
          const childPath = containerPath === '/' ? `/${child}` : `${containerPath}/${child}`;
          const override = this.scope && etcOverride(this.scope, childPath);
          const cst = override ? await fsp.lstat(override).catch(() => undefined) : await lstatAt(sub, child);
          if (cst) await this.emit(sub, child, cst, this.child(entryName, child), childPath, override);
        }
      } finally {
        await closeFd(sub);
      }
      return;
    }
    if (st.isFile()) {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.inodes.get(key);
        if (first !== undefined) {
          await this.w.add({ ...base, name: entryName, type: 'link', linkname: first });
          return;
        }
        this.inodes.set(key, entryName);
      }
      await this.emitFile(dirFd, name, base, entryName);
      return;
    }
    const h: TarEntryHeader | undefined = st.isSymbolicLink()
      ? { ...base, name: entryName, type: 'symlink', linkname: await fsp.readlink(at(dirFd, name)) }
      : st.isFIFO()
        ? { ...base, name: entryName, type: 'fifo' }
        : st.isCharacterDevice() || st.isBlockDevice()
          ? { ...base, name: entryName, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major(st.rdev), devminor: minor(st.rdev) }
          : undefined; // sockets are not archived (neither does Docker)
    if (h) await this.w.add(h);
  }

  private async emitFile(dirFd: number, name: string, base: Omit<TarEntryHeader, 'name' | 'type'>, entryName: string): Promise<void> {
    let fd: number;
    try {
      // O_NONBLOCK: a file swapped for a fifo must not hang the open.
      fd = await fdOpen(at(dirFd, name), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ELOOP')) return; // gone or replaced meanwhile
      throw err;
    }
    try {
      const fst = await fdFstat(fd);
      if (!fst.isFile()) return;
      await this.w.add({ ...base, name: entryName, type: 'file', size: fst.size }, readFd(fd));
    } finally {
      await closeFd(fd);
    }
  }
}


async function* readHostFile(file: string): AsyncGenerator<Buffer> {
  const fh = await fsp.open(file, 'r');
  try {
    yield* readFd(fh.fd);
  } finally {
    await fh.close();
  }
}

// Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor).
const major = (rdev: number): number => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
const minor = (rdev: number): number => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
