/**
 * Streaming, hostile-input-safe extraction of one image layer (an uncompressed
 * tar stream) into its own empty directory, converting OCI/Docker whiteouts to
 * the overlayfs form so the directory can be used directly as a lowerdir.
 *
 * The tar stream itself is read by Berth's one tar codec (common/tar/); this file is
 * the extraction policy applied to each entry.
 *
 * Safety model (dest is trusted, the tar stream is not):
 *  - names are normalised lexically; ".." that climbs out of dest is refused,
 *    a leading "/" is dropped (as Docker does);
 *  - nothing is ever created through a symlink: every ancestor of an entry must
 *    be a real directory (lstat, cached per layer, invalidated on replacement);
 *  - files are opened O_CREAT|O_EXCL|O_NOFOLLOW after removing what was there;
 *    ownership and times use the l*-calls; chmod only touches objects just
 *    verified (or created) as directories, or open file descriptors;
 *  - hard-link targets must already exist inside dest, reached through real
 *    directories only;
 *  - device nodes, fifos, whiteouts and xattrs (which Node cannot create) are
 *    collected and applied at the end by ONE child process that receives every
 *    path through argv / stdin (never through shell text) and uses the
 *    no-dereference forms; their parents are re-verified just before.
 * Refusals are BerthError('invalid', code HOSTILE_LAYER); malformed archives
 * are BerthError('invalid', code INVALID_LAYER).
 *
 * Depth: paths longer than the kernel takes (trees deeper than PATH_MAX) go through
 * directory fds opened a few components at a time (hostfs/deep.ts); only those entries
 * pay for it.
 *
 * Speed: large file bodies stream to disk with a few positioned writes in
 * flight; small files and symlinks are created as concurrent tasks (see Tasks)
 * so thread-pool round trips overlap; directory times are set at the very end.
 */
import fs, { promises as fsp, constants as fsc } from 'node:fs';
import type { Stats } from 'node:fs';
import { promisify } from 'node:util';
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { BerthError, errorMessage, isBerthError, isErrno, system } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import { isTarFormatError, TarReader, type TarEntry } from '../../common/tar/index.js';
import { isShortPath, openDeepDir } from '../../hostfs/deep.js';
import { at, atFromChild, closeFd } from '../../hostfs/fd.js';
import { removeAt, removeTree } from '../../hostfs/rooted.js';

type Entry = TarEntry;

export const INVALID_LAYER = 'INVALID_LAYER';
/** A malformed archive (not a refusal of hostile content: that is HOSTILE_LAYER). */
export const malformed = (msg: string): BerthError => new BerthError('invalid', msg, { code: INVALID_LAYER });
/** A name quoted for an error message. */
const q = (s: string): string => JSON.stringify(s);
/** Long-path parent directories kept open (entries of one deep directory come together). */
const DEEP_DIRS_CACHED = 32;
/** Deep device nodes, whiteouts and xattrs handed to one batch child (each holds a directory fd). */
const DEEP_BATCH = 256;

export interface UnpackOptions {
  log?: Logger;
  signal?: AbortSignal;
}

export interface UnpackResult {
  /** Tar entries processed (PAX / GNU long-name meta headers not counted). */
  entries: number;
  /** Bytes of the uncompressed tar stream consumed, end-of-archive padding included. */
  bytes: number;
  /** Sum of regular-file content sizes (Docker's notion of a layer's "Size"). */
  contentBytes: number;
}

/** Bytes gathered before one writev() while streaming a file body. */
const WRITE_BATCH = 1024 * 1024;
/** Positioned writes of one large file kept in flight at once. */
const WRITES_IN_FLIGHT = 3;
/** Files up to this size are read into memory and written concurrently with later entries. */
const SMALL_FILE = 256 * 1024;
/** Concurrent small-file/symlink creations (they overlap thread-pool round trips). */
const TASKS_IN_FLIGHT = 16;
/** Upper bound on small-file bodies held in memory by those tasks. */
const TASK_BUFFER_BYTES = 8 * 1024 * 1024;
const S_ISGID = 0o2000;
const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';

export const HOSTILE_LAYER = 'HOSTILE_LAYER';

// Raw descriptors through the callback API: for the many small files of a layer
// this costs well under half of what fs.promises FileHandle objects do.
const fdOpen = promisify(fs.open);
const fdWritev = promisify(fs.writev);
const fdChown = promisify(fs.fchown);
const fdChmod = promisify(fs.fchmod);
const fdUtimes = promisify(fs.futimes);
const fdClose = promisify(fs.close);

const hostile = (msg: string): BerthError => new BerthError('invalid', msg, { code: HOSTILE_LAYER });

// ---------------------------------------------------------------------------
// Entry names to paths relative to dest.

/**
 * Lexical normalisation of an archive path to a path relative to dest:
 * "" for dest itself, otherwise segments joined by "/" with no "", "." or "..".
 */
function normalise(raw: string, what: string): string {
  if (raw.includes('\0')) throw malformed(`layer entry ${q(raw)} has a NUL byte in its ${what}`);
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) {
        throw hostile(
          what === 'name'
            ? `layer entry ${q(raw)} escapes the layer directory`
            : `layer hardlink target ${q(raw)} escapes the layer directory`,
        );
      }
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return out.join('/');
}

const parentOf = (rel: string): string => {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
};
const baseOf = (rel: string): string => rel.slice(rel.lastIndexOf('/') + 1);
const joinRel = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

// ---------------------------------------------------------------------------
// The batched child process for what Node cannot do (mknod, setxattr).

interface NodeSpec {
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  /** Times to set afterwards; absent for whiteouts. */
  times: [number, number] | undefined;
}

/**
 * Ops arrive as argv words (no path is ever part of the script text):
 *   n MODE TYPE MAJOR MINOR PATH   mknod
 *   p MODE PATH                    mkfifo
 *   o UID:GID PATH                 chown, not following symlinks
 *   x PATH                         mark an overlayfs opaque directory
 * then, when BERTH_XATTRS=1, `setfattr -h --restore=-` reads a getfattr-style
 * dump (paths and names octal-escaped, values hex) from stdin. Exit 42 means
 * only that last step failed.
 */
const BATCH_SCRIPT = `set -eu
while [ "$#" -gt 0 ]; do
  case "$1" in
    n) mknod -m "$2" "$6" "$3" "$4" "$5"; shift 6 ;;
    p) mkfifo -m "$2" "$3"; shift 3 ;;
    o) chown -h "$2" "$3"; shift 3 ;;
    x) setfattr -h -n trusted.overlay.opaque -v y "$2"; shift 2 ;;
    *) echo "berth unpack: unknown op $1" >&2; exit 2 ;;
  esac
done
if [ "\${BERTH_XATTRS:-0}" = 1 ]; then setfattr -h --restore=- || exit 42; fi
`;
/** Keep each child's argv well under ARG_MAX. */
const MAX_ARGV_BYTES = 512 * 1024;

/** getfattr --dump quoting: anything but printable ASCII (and "\", "=") as \ooo. */
function dumpQuote(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    if (byte > 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x3d) out += String.fromCharCode(byte);
    else out += '\\' + byte.toString(8).padStart(3, '0');
  }
  return out;
}

async function runBatch(
  args: string[],
  stdin: string | undefined,
  signal: AbortSignal | undefined,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      LC_ALL: 'C',
    };
    if (stdin !== undefined) env['BERTH_XATTRS'] = '1';
    const child = spawn('/bin/sh', ['-c', BATCH_SCRIPT, 'berth-unpack', ...args], {
      env,
      stdio: ['pipe', 'ignore', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.stdin.on('error', () => undefined); // EPIPE if the script failed early; the exit code tells
    child.on('error', reject);
    child.on('close', (code, sig) => resolve({ code: code ?? (sig ? 128 : 1), stderr: stderr.trim() }));
    child.stdin.end(stdin ?? '');
  });
}

async function mapLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (let r = it.next(); !r.done; r = it.next()) await fn(r.value);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

// ---------------------------------------------------------------------------
// The unpacker.

const IS_ROOT = process.getuid?.() === 0 && process.getgid?.() === 0;

/** The process umask from /proc (reading it via process.umask() is deprecated); undefined if unknown. */
async function currentUmask(): Promise<number | undefined> {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(await fsp.readFile('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1]!, 8) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creation of small files and symlinks overlaps with reading later entries.
 * Only entries whose parent is an already verified directory and whose own path
 * is not a directory are run this way; everything else first waits for all of
 * them (barrier), so no task can ever race with a change to directory structure.
 * Two tasks for the same path run in order.
 */
class Tasks {
  private readonly inflight = new Set<Promise<void>>();
  private readonly byPath = new Map<string, Promise<void>>();
  private buffered = 0;
  private failure: { err: unknown } | undefined;

  private check(): void {
    if (this.failure) throw this.failure.err;
  }

  async run(name: string, rel: string, bytes: number, fn: () => Promise<void>): Promise<void> {
    while (
      this.inflight.size > 0 &&
      (this.inflight.size >= TASKS_IN_FLIGHT || this.buffered + bytes > TASK_BUFFER_BYTES)
    ) {
      await Promise.race(this.inflight);
    }
    const prev = this.byPath.get(rel);
    if (prev) await prev;
    this.check();
    this.buffered += bytes;
    const task: Promise<void> = fn()
      .catch((err: unknown) => {
        this.failure ??= { err: isBerthError(err) ? err : system(`unpacking layer entry ${q(name)}: ${errorMessage(err)}`, err) };
      })
      .finally(() => {
        this.inflight.delete(task);
        this.buffered -= bytes;
        if (this.byPath.get(rel) === task) this.byPath.delete(rel);
      });
    this.inflight.add(task);
    this.byPath.set(rel, task);
  }

  /** Wait for every task; rethrow the first failure. */
  async barrier(): Promise<void> {
    if (this.inflight.size > 0) await Promise.all(this.inflight);
    this.check();
  }

  /** Wait for every task, ignoring failures (before giving dest back on error). */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled(this.inflight);
  }
}

class Unpacker {
  /** Verified real directories (relative path) -> whether they carry the setgid bit. */
  private readonly dirs = new Map<string, boolean>();
  private readonly dirTimes = new Map<string, [number, number]>();
  private readonly nodes = new Map<string, NodeSpec>();
  private readonly xattrs = new Map<string, Map<string, Uint8Array>>();
  private readonly opaque = new Set<string>();
  readonly tasks = new Tasks();
  entries = 0;
  contentBytes = 0;

  constructor(
    private readonly root: string,
    private readonly log: Logger,
    private readonly umask: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Whether e can be created concurrently with later entries (see Tasks). */
  canRunAsTask(e: Entry, rel: string): boolean {
    if (!((e.type === 'file' && e.size <= SMALL_FILE) || e.type === 'symlink')) return false;
    if (rel === '' || baseOf(rel).startsWith(WHITEOUT_PREFIX) || !this.isShort(rel)) return false;
    return this.dirs.has(parentOf(rel)) && !this.dirs.has(rel);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /** Whether rel's path is short enough for the kernel as it is. */
  isShort(rel: string): boolean {
    return this.root.length + rel.length < 1000 || isShortPath(this.abs(rel));
  }

  /** Open parent directories of deep entries, by relative path (least recently used first). */
  private readonly deepDirs = new Map<string, number>();

  /** A directory below a deep path, opened a few components at a time and cached. */
  private async deepDir(rel: string): Promise<number> {
    const cached = this.deepDirs.get(rel);
    if (cached !== undefined) {
      this.deepDirs.delete(rel);
      this.deepDirs.set(rel, cached);
      return cached;
    }
    // Entries of a deep tree come parent first: open from a cached ancestor when there is one near.
    let fd: number | undefined;
    let up = rel;
    for (let i = 0; i < 8 && up !== ''; i++) {
      up = parentOf(up);
      const base = this.deepDirs.get(up);
      if (base === undefined) continue;
      const rest = rel.slice(up === '' ? 0 : up.length + 1);
      if (isShortPath(rest)) fd = await fdOpen(at(base, rest), fsc.O_RDONLY | fsc.O_DIRECTORY);
      break;
    }
    fd ??= await openDeepDir(this.root, rel);
    this.deepDirs.set(rel, fd);
    if (this.deepDirs.size > DEEP_DIRS_CACHED) {
      const [oldRel, oldFd] = this.deepDirs.entries().next().value as [string, number];
      this.deepDirs.delete(oldRel);
      await closeFd(oldFd);
    }
    return fd;
  }

  /** A kernel-usable path for rel: the plain one, or through its parent's cached fd (valid until the next deepDir call but one). */
  private async p(rel: string): Promise<string> {
    if (this.isShort(rel)) return this.abs(rel);
    return at(await this.deepDir(parentOf(rel)), baseOf(rel));
  }

  /** Removes a directory tree of any depth. */
  private async removeDir(rel: string): Promise<void> {
    if (this.isShort(rel)) await removeTree(this.abs(rel));
    else await removeAt(await this.deepDir(parentOf(rel)), baseOf(rel));
  }

  async closeDeepDirs(): Promise<void> {
    for (const fd of this.deepDirs.values()) await closeFd(fd);
    this.deepDirs.clear();
  }

  async init(): Promise<void> {
    const st = await fsp.lstat(this.root);
    if (!st.isDirectory()) throw system(`layer directory ${this.root} is not a directory`);
    this.dirs.set('', (st.mode & S_ISGID) !== 0);
  }

  /** Drop everything recorded for rel (and, for a removed directory, beneath it). */
  private forget(rel: string, subtree: boolean): void {
    this.nodes.delete(rel);
    this.xattrs.delete(rel);
    this.opaque.delete(rel);
    this.dirs.delete(rel);
    this.dirTimes.delete(rel);
    if (!subtree) return;
    const prefix = rel + '/';
    for (const [d, fd] of [...this.deepDirs]) {
      if (d === rel || d.startsWith(prefix)) {
        this.deepDirs.delete(d);
        void closeFd(fd);
      }
    }
    const prune = (m: { keys(): IterableIterator<string>; delete(k: string): boolean; size: number }): void => {
      if (m.size === 0) return;
      for (const k of [...m.keys()]) if (k.startsWith(prefix)) m.delete(k);
    };
    prune(this.nodes);
    prune(this.xattrs);
    prune(this.opaque);
    prune(this.dirs);
    prune(this.dirTimes);
  }

  private async lstatOrUndefined(rel: string): Promise<Stats | undefined> {
    try {
      return await fsp.lstat(await this.p(rel));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * Make way for a new entry at rel (tar semantics: the later entry wins).
   * Returns true when rel is an existing directory that is kept (dir over dir).
   */
  private async clear(rel: string, forDir: boolean): Promise<boolean> {
    const st = await this.lstatOrUndefined(rel);
    if (st?.isDirectory()) {
      if (forDir) return true;
      await this.removeDir(rel);
      this.forget(rel, true);
      return false;
    }
    if (st) await fsp.unlink(await this.p(rel));
    this.forget(rel, false);
    return false;
  }

  /**
   * Every ancestor of rel must be a real directory inside dest: missing ones are
   * created (0755, like Docker), a symlink is refused.
   */
  private async ensureParents(rel: string, name: string): Promise<void> {
    const parent = parentOf(rel);
    if (this.dirs.has(parent)) return;
    const segs = parent.split('/');
    let p = '';
    for (const seg of segs) {
      const up = p;
      p = joinRel(p, seg);
      if (this.dirs.has(p)) continue;
      const st = await this.lstatOrUndefined(p);
      if (st === undefined) {
        await fsp.mkdir(await this.p(p), 0o755);
        // Just created, so a real directory: make its mode independent of the umask.
        if (this.umask === undefined || (this.umask & 0o755) !== 0) await fsp.chmod(await this.p(p), 0o755);
        this.forget(p, false);
        this.dirs.set(p, this.dirs.get(up) === true);
      } else if (st.isDirectory()) {
        this.dirs.set(p, (st.mode & S_ISGID) !== 0);
      } else if (st.isSymbolicLink()) {
        throw hostile(`layer entry ${q(name)} would be written through the symlink ${q(p)}`);
      } else {
        throw malformed(`layer entry ${q(name)}: parent ${q(p)} is not a directory`);
      }
    }
  }

  /** rel must exist, reached only through real directories (for hard-link targets). */
  private async verifyReachable(rel: string, name: string): Promise<void> {
    const parent = parentOf(rel);
    if (this.dirs.has(parent)) return;
    let p = '';
    for (const seg of parent.split('/')) {
      p = joinRel(p, seg);
      if (this.dirs.has(p)) continue;
      const st = await this.lstatOrUndefined(p);
      if (st?.isDirectory()) this.dirs.set(p, (st.mode & S_ISGID) !== 0);
      else if (st?.isSymbolicLink()) {
        throw hostile(`layer hardlink ${q(name)} reaches its target through the symlink ${q(p)}`);
      } else {
        throw hostile(`layer hardlink ${q(name)} points to a target that does not exist in the layer`);
      }
    }
  }

  /** Whether a freshly created object in rel's parent needs an explicit chown. */
  private needsChown(rel: string, uid: number, gid: number): boolean {
    return !IS_ROOT || uid !== 0 || gid !== 0 || this.dirs.get(parentOf(rel)) === true;
  }

  private addXattrs(rel: string, xattrs: Map<string, Uint8Array> | undefined): void {
    if (!xattrs) return;
    let cur = this.xattrs.get(rel);
    for (const [name, value] of xattrs) {
      if (name.startsWith('trusted.overlay.')) {
        // Overlay metadata (redirect, metacopy, opaque...) is ours to set, never the image's.
        this.log.warn('ignoring overlayfs xattr in layer', { path: rel, xattr: name });
        continue;
      }
      if (name === '' || name.includes('\0') || !name.includes('.')) {
        throw malformed(`layer entry ${q(rel)} has an invalid xattr name ${q(name)}`);
      }
      if (!cur) this.xattrs.set(rel, (cur = new Map()));
      cur.set(name, value);
    }
  }

  /** Apply one entry; returns whether its data was consumed from src. */
  async apply(e: Entry, rel: string, src: TarReader): Promise<void> {
    const base = baseOf(rel);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await this.whiteout(e, rel, base);
      return;
    }
    if (rel === '') {
      if (e.type !== 'dir') throw malformed(`layer entry ${q(e.name)} would replace the layer root with a non-directory`);
      await this.directory(e, rel);
      return;
    }
    await this.ensureParents(rel, e.name);
    switch (e.type) {
      case 'file':
        await this.file(e, rel, src);
        return;
      case 'dir':
        await this.directory(e, rel);
        return;
      case 'symlink':
        await this.symlink(e, rel);
        return;
      case 'link':
        await this.hardlink(e, rel);
        return;
      case 'char':
      case 'block':
      case 'fifo':
        await this.clear(rel, false);
        this.nodes.set(rel, {
          type: e.type === 'char' ? 'c' : e.type === 'block' ? 'b' : 'p',
          major: e.devmajor,
          minor: e.devminor,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          times: [e.atime, e.mtime],
        });
        this.addXattrs(rel, e.xattrs);
        return;
      case 'other':
        throw malformed(`layer entry ${q(e.name)} has unsupported tar type ${q(e.typeflag)}`);
    }
  }

  private async whiteout(e: Entry, rel: string, base: string): Promise<void> {
    const dir = parentOf(rel);
    await this.ensureParents(rel, e.name);
    if (base === WHITEOUT_OPAQUE) {
      this.opaque.add(dir);
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return; // aufs metadata (.wh..wh.plnk etc.)
    const victim = base.slice(WHITEOUT_PREFIX.length);
    if (victim === '' || victim === '.' || victim === '..') {
      throw malformed(`layer entry ${q(e.name)} is not a valid whiteout`);
    }
    const target = joinRel(dir, victim);
    await this.clear(target, false);
    this.nodes.set(target, { type: 'c', major: 0, minor: 0, mode: 0, uid: 0, gid: 0, times: undefined });
  }

  private async openExclusive(rel: string, mode: number): Promise<number> {
    const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
    try {
      const fd = await fdOpen(await this.p(rel), flags, mode);
      this.forget(rel, false);
      return fd;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    await this.clear(rel, false);
    return fdOpen(await this.p(rel), flags, mode);
  }

  /** Ownership, mode (after chown, which clears setuid/setgid) and times of a new file. */
  private async fileMetadata(fd: number, e: Entry, rel: string): Promise<void> {
    if (this.needsChown(rel, e.uid, e.gid)) await fdChown(fd, e.uid, e.gid);
    // open() already applied mode & ~umask; chmod only when that differs from the wanted mode.
    if (this.umask === undefined || (e.mode & ~0o777) !== 0 || (e.mode & this.umask) !== 0) await fdChmod(fd, e.mode);
    await fdUtimes(fd, e.atime, e.mtime);
  }

  /** A regular file streamed from the archive (large files). */
  private async file(e: Entry, rel: string, src: TarReader): Promise<void> {
    const fd = await this.openExclusive(rel, e.mode & 0o777);
    try {
      await copyBody(src, fd, e.size);
      this.contentBytes += e.size;
      await this.fileMetadata(fd, e, rel);
    } finally {
      await fdClose(fd);
    }
    this.addXattrs(rel, e.xattrs);
  }

  /** A small regular file whose body was already read (runs as a task). */
  async smallFile(e: Entry, rel: string, body: Uint8Array): Promise<void> {
    const fd = await this.openExclusive(rel, e.mode & 0o777);
    try {
      if (body.length > 0) await writeAll(fd, [body], 0);
      this.contentBytes += body.length;
      await this.fileMetadata(fd, e, rel);
    } finally {
      await fdClose(fd);
    }
    this.addXattrs(rel, e.xattrs);
  }

  private async directory(e: Entry, rel: string): Promise<void> {
    const abs = await this.p(rel);
    let created = false;
    if (rel !== '') {
      try {
        await fsp.mkdir(abs, 0o700);
        created = true;
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
      if (created) this.forget(rel, false);
      else if (!(await this.clear(rel, true))) {
        await fsp.mkdir(abs, 0o700);
        created = true;
      }
    }
    // abs is now a real directory (just created, or lstat'ed as one by clear()/init()).
    if (!created || this.needsChown(rel, e.uid, e.gid)) await fsp.lchown(abs, e.uid, e.gid);
    await fsp.chmod(abs, e.mode);
    this.dirs.set(rel, (e.mode & S_ISGID) !== 0);
    this.dirTimes.set(rel, [e.atime, e.mtime]);
    this.addXattrs(rel, e.xattrs);
  }

  async symlink(e: Entry, rel: string): Promise<void> {
    if (e.linkname === '') throw malformed(`layer symlink ${q(e.name)} has an empty target`);
    const abs = await this.p(rel);
    try {
      await fsp.symlink(e.linkname, abs);
      this.forget(rel, false);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      await this.clear(rel, false);
      await fsp.symlink(e.linkname, abs);
    }
    if (this.needsChown(rel, e.uid, e.gid)) await fsp.lchown(abs, e.uid, e.gid);
    await fsp.lutimes(abs, e.atime, e.mtime);
    this.addXattrs(rel, e.xattrs);
  }

  private async hardlink(e: Entry, rel: string): Promise<void> {
    if (e.linkname.startsWith('/')) {
      throw hostile(`layer hardlink ${q(e.name)} has an absolute target ${q(e.linkname)}`);
    }
    const target = normalise(e.linkname, 'linkname');
    if (target === '') throw hostile(`layer hardlink ${q(e.name)} points at the layer root`);
    if (target === rel) return; // a link to itself: nothing to do
    await this.verifyReachable(target, e.name);
    const pending = this.nodes.get(target);
    if (pending) {
      if (pending.times === undefined) {
        throw hostile(`layer hardlink ${q(e.name)} points to a target that does not exist in the layer`);
      }
      // The target is a device node or fifo created only at the end of the layer:
      // make an identical node (a separate inode) rather than a deferred link.
      await this.clear(rel, false);
      this.nodes.set(rel, { ...pending });
      return;
    }
    const st = await this.lstatOrUndefined(target);
    if (!st) throw hostile(`layer hardlink ${q(e.name)} points to a target that does not exist in the layer`);
    if (st.isDirectory()) throw hostile(`layer hardlink ${q(e.name)} points to a directory`);
    // link(2) does not follow a final symlink: a link to a symlink links the symlink itself.
    try {
      await fsp.link(await this.p(target), await this.p(rel));
      this.forget(rel, false);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      await this.clear(rel, false);
      if (!(await this.lstatOrUndefined(target))) {
        throw malformed(`layer hardlink ${q(e.name)}: its target was removed by the entry it replaces`);
      }
      await fsp.link(await this.p(target), await this.p(rel));
    }
  }

  /** Re-check, right before the batch, that rel's parents are real directories. */
  private async verifyParentsFresh(rel: string, fresh: Set<string>): Promise<void> {
    // Up to the nearest directory already checked (usually the parent), then back down.
    const missing: string[] = [];
    for (let p = parentOf(rel); p !== '' && !fresh.has(p); p = parentOf(p)) missing.push(p);
    for (const p of missing.reverse()) {
      const st = await this.lstatOrUndefined(p);
      if (!st?.isDirectory()) throw system(`layer unpack: ${q(p)} changed under the unpacker`);
      fresh.add(p);
    }
  }

  /** The batch's ops and xattr dump for the given nodes, opaque markers and xattrs, with paths from `pathOf`. */
  private async batchFor(
    rels: { nodes: string[]; opaque: string[]; xattrs: string[] },
    pathOf: (rel: string) => Promise<string>,
    fresh: Set<string>,
  ): Promise<{ ops: string[][]; dump: string | undefined }> {
    const ops: string[][] = [];
    for (const rel of rels.nodes) {
      const n = this.nodes.get(rel)!;
      await this.verifyParentsFresh(rel, fresh);
      const mode = n.mode.toString(8).padStart(4, '0');
      const abs = await pathOf(rel);
      if (n.type === 'p') ops.push(['p', mode, abs]);
      else ops.push(['n', mode, n.type, String(n.major), String(n.minor), abs]);
      if (this.needsChown(rel, n.uid, n.gid)) ops.push(['o', `${n.uid}:${n.gid}`, abs]);
    }
    for (const rel of rels.opaque) {
      await this.verifyParentsFresh(rel, fresh);
      ops.push(['x', await pathOf(rel)]);
    }
    let dump: string | undefined;
    if (rels.xattrs.length > 0) {
      const parts: string[] = [];
      for (const rel of rels.xattrs) {
        await this.verifyParentsFresh(rel, fresh);
        parts.push(`# file: ${dumpQuote(await pathOf(rel))}\n`);
        for (const [name, value] of this.xattrs.get(rel)!) {
          parts.push(`${dumpQuote(name)}=${value.length > 0 ? '0x' + Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex') : '""'}\n`);
        }
        parts.push('\n');
      }
      dump = parts.join('');
    }
    return { ops, dump };
  }

  /** Device nodes, fifos, whiteouts, opaque markers and xattrs; then times. */
  async finish(): Promise<void> {
    if (this.nodes.size > 0 || this.opaque.size > 0 || this.xattrs.size > 0) {
      const fresh = new Set<string>();
      const short = (rels: Iterable<string>): string[] => [...rels].filter((r) => this.isShort(r));
      const deep = (rels: Iterable<string>): string[] => [...rels].filter((r) => !this.isShort(r));
      const all = await this.batchFor(
        { nodes: short(this.nodes.keys()), opaque: short(this.opaque), xattrs: short(this.xattrs.keys()) },
        (rel) => Promise.resolve(this.abs(rel)),
        fresh,
      );
      if (all.ops.length > 0 || all.dump !== undefined) await this.runOps(all.ops, all.dump);
      // Deep paths in groups: the child reaches each through a directory fd held open for it.
      const deepItems = [
        ...deep(this.nodes.keys()).map((rel) => ['nodes', rel] as const),
        ...deep(this.opaque).map((rel) => ['opaque', rel] as const),
        ...deep(this.xattrs.keys()).map((rel) => ['xattrs', rel] as const),
      ];
      for (let i = 0; i < deepItems.length; i += DEEP_BATCH) {
        const group = deepItems.slice(i, i + DEEP_BATCH);
        const held = new Map<string, string>();
        const fds: number[] = [];
        try {
          for (const [, rel] of group) {
            // Its own fd (the cache may close its copy before the child runs).
            const fd = await fdOpen(at(await this.deepDir(parentOf(rel)), ''), fsc.O_RDONLY | fsc.O_DIRECTORY);
            fds.push(fd);
            held.set(rel, atFromChild(fd, baseOf(rel)));
          }
          const pick = (kind: 'nodes' | 'opaque' | 'xattrs'): string[] => group.filter(([k]) => k === kind).map(([, r]) => r);
          const b = await this.batchFor({ nodes: pick('nodes'), opaque: pick('opaque'), xattrs: pick('xattrs') }, (r) => Promise.resolve(held.get(r)!), fresh);
          await this.runOps(b.ops, b.dump);
        } finally {
          for (const fd of fds) await closeFd(fd);
        }
      }
    }
    const setTimes = async (rel: string, [atime, mtime]: [number, number]): Promise<void> => {
      await fsp.lutimes(this.isShort(rel) ? this.abs(rel) : await this.p(rel), atime, mtime);
    };
    const shortFirst = <T>(m: Map<string, T>): [[string, T][], [string, T][]] => {
      const all = [...m];
      return [all.filter(([r]) => this.isShort(r)), all.filter(([r]) => !this.isShort(r))];
    };
    const [shortNodes, deepNodes] = shortFirst(this.nodes);
    await mapLimit(shortNodes, 16, async ([rel, n]) => {
      if (n.times) await setTimes(rel, n.times);
    });
    for (const [rel, n] of deepNodes) if (n.times) await setTimes(rel, n.times);
    // Last: nothing writes into a directory after its times are set.
    const [shortDirs, deepDirs] = shortFirst(this.dirTimes);
    await mapLimit(shortDirs, 16, ([rel, t]) => setTimes(rel, t));
    for (const [rel, t] of deepDirs) await setTimes(rel, t);
  }

  private async runOps(ops: string[][], dump: string | undefined): Promise<void> {
    // Split into children only when argv would get too large (thousands of whiteouts).
    const batches: string[][] = [];
    let cur: string[] = [];
    let size = 0;
    for (const op of ops) {
      const opSize = op.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
      if (cur.length > 0 && size + opSize > MAX_ARGV_BYTES) {
        batches.push(cur);
        cur = [];
        size = 0;
      }
      cur.push(...op);
      size += opSize;
    }
    batches.push(cur);
    for (let i = 0; i < batches.length; i++) {
      const last = i === batches.length - 1;
      const { code, stderr } = await runBatch(batches[i]!, last ? dump : undefined, this.signal);
      if (code === 0) continue;
      if (code === 42) {
        // Like Docker: a filesystem without xattr support (or refusing a namespace)
        // is a warning, not a failed pull. Anything else is an error.
        const lines = stderr.split('\n').filter((l) => l.trim() !== '');
        if (lines.length > 0 && lines.every((l) => /Operation not supported|Operation not permitted/.test(l))) {
          this.log.warn('some layer xattrs could not be set', { detail: stderr });
          continue;
        }
        throw system(`setting layer xattrs failed: ${stderr || `exit ${code}`}`);
      }
      throw system(`creating layer device nodes/whiteouts failed: ${stderr || `exit ${code}`}`);
    }
  }
}

/** Stream size bytes of an entry body into fd, with a few positioned writes in flight. */
async function copyBody(src: TarReader, fd: number, size: number): Promise<void> {
  let remaining = size;
  let position = 0;
  let batch: Uint8Array[] = [];
  let batchLen = 0;
  const inflight = new Set<Promise<void>>();
  let writeError: { err: unknown } | undefined;
  try {
    while (remaining > 0) {
      const chunk = await src.read(Math.min(remaining, WRITE_BATCH));
      if (chunk === null) break;
      remaining -= chunk.length;
      batch.push(chunk);
      batchLen += chunk.length;
      if (batchLen < WRITE_BATCH && remaining > 0) continue;
      while (inflight.size >= WRITES_IN_FLIGHT) await Promise.race(inflight);
      if (writeError) throw writeError.err;
      const w: Promise<void> = writeAll(fd, batch, position)
        .catch((err: unknown) => {
          writeError ??= { err };
        })
        .finally(() => inflight.delete(w));
      inflight.add(w);
      position += batchLen;
      batch = [];
      batchLen = 0;
    }
  } finally {
    await Promise.all(inflight);
  }
  if (writeError) throw writeError.err;
}

async function writeAll(fd: number, bufs: Uint8Array[], position: number): Promise<void> {
  let pending = bufs;
  while (pending.length > 0) {
    const { bytesWritten } = await fdWritev(fd, pending, position);
    position += bytesWritten;
    let n = bytesWritten;
    let i = 0;
    while (i < pending.length && n >= pending[i]!.length) n -= pending[i++]!.length;
    pending = pending.slice(i);
    if (n > 0 && pending.length > 0) pending[0] = pending[0]!.subarray(n);
  }
}

/**
 * Unpack one uncompressed layer tar stream into dest (an existing, empty
 * directory). Whiteouts become overlayfs whiteouts / opaque markers. On any
 * error the stream is destroyed and the error thrown; dest is left for the
 * caller to delete.
 */
export async function unpackLayer(tarStream: Readable, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const log = opts.log ?? silentLogger;
  const signal = opts.signal;
  const onAbort = (): void => {
    tarStream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  // The iterator below only listens once reading starts; until then (and after an
  // early failure) a stream error must not become an uncaught 'error' event. The
  // iterator still sees the error, from the stream's errored state.
  const swallow = (): void => undefined;
  tarStream.on('error', swallow);
  const reader = new TarReader(tarStream, signal ? { signal } : {});
  let current = '';
  let u: Unpacker | undefined;
  const started = Date.now();
  try {
    signal?.throwIfAborted();
    u = new Unpacker(await fsp.realpath(dest), log, await currentUmask(), signal);
    await u.init();
    for (;;) {
      current = '';
      const e = await reader.next();
      if (e === null) break;
      current = e.name;
      u.entries++;
      const rel = normalise(e.name, 'name');
      if (u.canRunAsTask(e, rel)) {
        const body = e.type === 'file' ? await reader.readAll() : null;
        const unpacker = u;
        await u.tasks.run(e.name, rel, e.size, () => (body ? unpacker.smallFile(e, rel, body) : unpacker.symlink(e, rel)));
        continue;
      }
      await u.tasks.barrier();
      await u.apply(e, rel, reader);
    }
    current = '';
    await u.tasks.barrier();
    await u.finish();
    await u.closeDeepDirs();
    const result = { entries: u.entries, bytes: reader.bytes, contentBytes: u.contentBytes };
    log.debug('layer unpacked', { dest, ...result, ms: Date.now() - started });
    return result;
  } catch (err) {
    if (!tarStream.destroyed) tarStream.destroy();
    // Nothing may still be writing into dest once the caller gets the error.
    await u?.tasks.settle();
    await u?.closeDeepDirs();
    if (signal?.aborted) throw signal.reason ?? err;
    if (isBerthError(err) || (reader.source.failure !== undefined && err === reader.source.failure)) throw err;
    if (isTarFormatError(err)) throw malformed(err.message);
    const where = current === '' ? 'unpacking layer' : `unpacking layer entry ${q(current)}`;
    throw system(`${where}: ${errorMessage(err)}`, err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // `swallow` stays attached: a destroyed stream may still report a late error.
  }
}
