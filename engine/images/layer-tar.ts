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
import { spawn } from 'node:child_process';
import fs, { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { BerthError, isErrno } from '../common/errors.js';
import { TarWriter, type TarEntryHeader } from '../common/tar-writer.js';
import { at, readFd } from '../common/fd.js';

const fdOpen = promisify(fs.open);
const fdClose = promisify(fs.close);
const fdFstat = promisify(fs.fstat);

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
  const xattrs = await readXattrs(dir);
  const w = new TarWriter(out, opts.signal);
  const inodes = new Map<string, string>();
  let entries = 0;
  const add = async (h: TarEntryHeader, body?: AsyncIterable<Buffer>): Promise<void> => {
    entries++;
    await w.add(h, body);
  };

  const walk = async (dirFd: number, prefix: string): Promise<void> => {
    for (const name of (await fsp.readdir(at(dirFd))).sort()) {
      const rel = `${prefix}${name}`;
      const st = await fsp.lstat(at(dirFd, name)).catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined; // removed by a running container meanwhile
        throw err;
      });
      if (st === undefined || (opts.skip && (await opts.skip(rel, st, at(dirFd, name))))) continue;
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
      const own = xattrs.get(rel);
      const kept = own ? new Map([...own].filter(([k]) => !k.startsWith('trusted.overlay.'))) : undefined;
      const withX = kept && kept.size > 0 ? { xattrs: kept } : {};
      if (st.isCharacterDevice() && st.rdev === 0) {
        await add({ ...base, mode: 0o600, name: `${prefix}${WHITEOUT_PREFIX}${name}`, type: 'file' });
      } else if (st.isDirectory()) {
        await add({ ...base, name: `${rel}/`, type: 'dir', ...withX });
        if (own?.get(OPAQUE_XATTR)?.toString() === 'y') {
          await add({ ...base, mode: st.mode & 0o777, name: `${rel}/${OPAQUE_MARKER}`, type: 'file' });
        }
        const sub = await fdOpen(at(dirFd, name), fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
        try {
          await walk(sub, `${rel}/`);
        } finally {
          await fdClose(sub).catch(() => undefined);
        }
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          await add({ ...base, name: rel, type: 'link', linkname: first, ...withX });
          continue;
        }
        if (await addFile(dirFd, name, { ...base, name: rel, type: 'file', ...withX }, add)) {
          if (st.nlink > 1) inodes.set(key, rel);
        }
      } else if (st.isSymbolicLink()) {
        await add({ ...base, name: rel, type: 'symlink', linkname: await fsp.readlink(at(dirFd, name)), ...withX });
      } else if (st.isFIFO()) {
        await add({ ...base, name: rel, type: 'fifo', ...withX });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const type = st.isCharacterDevice() ? 'char' : 'block';
        await add({ ...base, name: rel, type, devmajor: major(st.rdev), devminor: minor(st.rdev), ...withX });
      }
    }
  };

  const rootFd = await fdOpen(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await walk(rootFd, '');
  } finally {
    await fdClose(rootFd).catch(() => undefined);
  }
  await w.finish();
  return { entries };
}

/** A regular file's entry with its content; false when it vanished or stopped being a file meanwhile. */
async function addFile(
  dirFd: number,
  name: string,
  h: TarEntryHeader,
  add: (h: TarEntryHeader, body?: AsyncIterable<Buffer>) => Promise<void>,
): Promise<boolean> {
  let fd: number;
  try {
    // O_NONBLOCK: a file swapped for a fifo must not hang the open.
    fd = await fdOpen(at(dirFd, name), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ELOOP')) return false;
    throw err;
  }
  try {
    const st = await fdFstat(fd);
    if (!st.isFile()) return false;
    await add({ ...h, size: st.size }, readFd(fd));
    return true;
  } finally {
    await fdClose(fd).catch(() => undefined);
  }
}


/**
 * Every xattr under `dir` (trusted.* included: the daemon runs as root), by relative path, from
 * one `getfattr` run: a physical walk that follows no symlink.
 */
export function readXattrs(dir: string): Promise<Map<string, Map<string, Buffer>>> {
  return new Promise((resolve, reject) => {
    const child = spawn('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new BerthError('system', `reading extended attributes failed: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new BerthError('system', `reading extended attributes of ${dir} failed: ${err.trim() || `exit ${code}`}`));
        return;
      }
      resolve(parseGetfattr(Buffer.concat(out).toString('latin1'), dir));
    });
  });
}

/** Parses `getfattr -d -e base64` output ("# file: <escaped path>" then "name=0s<base64>" lines). */
export function parseGetfattr(text: string, dir: string): Map<string, Map<string, Buffer>> {
  const root = dir.replace(/\/+$/, '');
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const file = Buffer.from(unescapeOctal(line.slice(8)), 'latin1').toString('utf8');
      const rel = file === root ? '' : file.startsWith(`${root}/`) ? file.slice(root.length + 1) : undefined;
      current = rel === undefined ? undefined : new Map();
      if (current && rel !== undefined) result.set(rel, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const name = Buffer.from(unescapeOctal(line.slice(0, eq)), 'latin1').toString('utf8');
    const raw = line.slice(eq + 1);
    current.set(name, decodeValue(raw));
  }
  return result;
}

/** getfattr escapes control characters, '=' and '\' in names as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function decodeValue(raw: string): Buffer {
  if (raw.startsWith('0s')) return Buffer.from(raw.slice(2), 'base64');
  if (raw.startsWith('0x')) return Buffer.from(raw.slice(2), 'hex');
  if (raw.startsWith('"') && raw.endsWith('"')) return Buffer.from(unescapeOctal(raw.slice(1, -1)), 'latin1');
  return Buffer.from(raw, 'latin1');
}

// Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor).
const major = (rdev: number): number => Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
const minor = (rdev: number): number => Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
