/**
 * A directory as a layer tar, the way Docker's overlay2 driver writes a container's diff:
 *  - a character device 0/0 (an overlay whiteout) becomes an empty regular file `.wh.<name>`
 *    (mode 0600, the whiteout's owner);
 *  - a directory with `trusted.overlay.opaque=y` is written, then an empty `.wh..wh..opq` file
 *    inside it (the directory's permissions and owner), so it hides the lower layers' content;
 *  - regular files (the second and later names of an inode as hard links to the first),
 *    directories, symlinks, device nodes and fifos with uid/gid/mode/mtime, and their xattrs
 *    as PAX `SCHILY.xattr.*` records, except overlayfs' own `trusted.overlay.*`; sockets are
 *    left out, as Docker does.
 * Entries are relative ("etc/", "etc/passwd") in lexical order, the layer root itself is not an
 * entry. The directory may belong to a running container (its overlay upper dir), so it is read
 * through directory fds and nothing in it is ever followed.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import type { Writable } from 'node:stream';
import type { TarHeader } from '../../common/tar/index.js';
import { closeFd, fdFstat, fdOpen, isErrno, readFd } from '../../hostfs/fd.js';
import { RootedFs, type RootedDir } from '../../hostfs/rooted.js';
import { TarSink } from '../../hostfs/tar-sink.js';
import { walkTree } from '../../hostfs/walk.js';
import { TreeXattrs } from '../../hostfs/xattrs.js';

export { parseGetfattr } from '../../hostfs/xattrs.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export interface LayerTarOptions {
  /**
   * Leave an entry (and, for a directory, everything under it) out of the layer. `rel` is the
   * entry's path without a leading slash; `hostPath` names it for reading (never follow it).
   */
  skip?: (rel: string, st: Stats, hostPath: string) => Promise<boolean>;
  signal?: AbortSignal;
}

/** Writes the layer tar of `dir` to `out` (end-of-archive marker included); returns how many entries it holds. */
export async function writeLayerTar(dir: string, out: Writable, opts: LayerTarOptions = {}): Promise<{ entries: number }> {
  const sink = new TarSink(out, opts.signal);
  const inodes = new Map<string, string>();
  let entries = 0;
  const add = async (h: TarHeader, body?: AsyncIterable<Buffer>): Promise<void> => {
    entries++;
    await sink.add(h, body);
  };
  await RootedFs.with(dir, {}, async (fs) => {
    const xattrs = await TreeXattrs.scan(fs.root.fd);
    await walkTree(fs, fs.root, async ({ dir: parent, name, rel, st }) => {
      if (opts.skip && (await opts.skip(rel, st, fs.filePath(parent, name).path))) return false;
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
      const own = xattrs.get(rel);
      const kept = own ? new Map([...own].filter(([k]) => !k.startsWith('trusted.overlay.'))) : undefined;
      const withX = kept && kept.size > 0 ? { xattrs: kept } : {};
      const prefix = rel.slice(0, rel.length - name.length);
      if (st.isCharacterDevice() && st.rdev === 0) {
        await add({ ...base, mode: 0o600, name: `${prefix}${WHITEOUT_PREFIX}${name}`, type: 'file' });
      } else if (st.isDirectory()) {
        await add({ ...base, name: `${rel}/`, type: 'dir', ...withX });
        if (own?.get(OPAQUE_XATTR)?.toString() === 'y') {
          await add({ ...base, mode: st.mode & 0o777, name: `${rel}/${OPAQUE_MARKER}`, type: 'file' });
        }
        await xattrs.enterDir(rel, parent.fd, name);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          await add({ ...base, name: rel, type: 'link', linkname: first, ...withX });
          return;
        }
        if (await addFile(parent, name, { ...base, name: rel, type: 'file', ...withX }, add)) {
          if (st.nlink > 1) inodes.set(key, rel);
        }
      } else if (st.isSymbolicLink()) {
        await add({ ...base, name: rel, type: 'symlink', linkname: await fsp.readlink(fs.filePath(parent, name).path), ...withX });
      } else if (st.isFIFO()) {
        await add({ ...base, name: rel, type: 'fifo', ...withX });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const type = st.isCharacterDevice() ? 'char' : 'block';
        await add({ ...base, name: rel, type, devmajor: major(st.rdev), devminor: minor(st.rdev), ...withX });
      }
    });
  });
  await sink.finish();
  return { entries };
}

/** A regular file's entry with its content; false when it vanished or stopped being a file meanwhile. */
async function addFile(
  dir: RootedDir,
  name: string,
  h: TarHeader,
  add: (h: TarHeader, body?: AsyncIterable<Buffer>) => Promise<void>,
): Promise<boolean> {
  let fd: number;
  try {
    // O_NONBLOCK: a file swapped for a fifo must not hang the open.
    fd = await fdOpen(`/proc/self/fd/${dir.fd}/${name}`, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ELOOP')) return false;
    throw err;
  }
  try {
    const st = await fdFstat(fd);
    if (!st.isFile()) return false;
    await add({ ...h, size: st.size }, readFd(fd));
    return true;
  } finally {
    await closeFd(fd);
  }
}

// Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor).
const major = (rdev: number): number => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
const minor = (rdev: number): number => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
