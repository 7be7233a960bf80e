/**
 * Streaming, hostile-input-safe extraction of one image layer (an uncompressed
 * tar stream) into its own empty directory, converting OCI/Docker whiteouts to
 * the overlayfs form so the directory can be used directly as a lowerdir.
 *
 * Why a tar reader of our own rather than tar-stream's extract(): tar-stream
 * decodes PAX records as UTF-8 text, which corrupts binary xattr values such as
 * security.capability, and it ignores PAX uid/gid/mtime/atime records. The
 * reader below is a small, strict POSIX/ustar/GNU reader that keeps PAX values
 * as bytes and follows Go's archive/tar (what Docker and BuildKit use) where
 * readers disagree, e.g. header-only entry types never carry a body.
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

const BLOCK = 512;
const MAX_PAX_SIZE = 4 * 1024 * 1024;
const MAX_LONGNAME_SIZE = 1024 * 1024;
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
export const INVALID_LAYER = 'INVALID_LAYER';

// Raw descriptors through the callback API: for the many small files of a layer
// this costs well under half of what fs.promises FileHandle objects do.
const fdOpen = promisify(fs.open);
const fdWritev = promisify(fs.writev);
const fdChown = promisify(fs.fchown);
const fdChmod = promisify(fs.fchmod);
const fdUtimes = promisify(fs.futimes);
const fdClose = promisify(fs.close);

const hostile = (msg: string): BerthError => new BerthError('invalid', msg, { code: HOSTILE_LAYER });
const malformed = (msg: string): BerthError => new BerthError('invalid', msg, { code: INVALID_LAYER });
const q = (s: string): string => JSON.stringify(s);

// ---------------------------------------------------------------------------
// Byte source: exact-size reads over a Readable, counting what it consumed.

class ByteSource {
  private readonly it: AsyncIterator<unknown>;
  private cur: Buffer = Buffer.alloc(0);
  private eof = false;
  consumed = 0;
  /** The error the underlying stream failed with, if it did. */
  failure: unknown;

  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.cur.length === 0) {
      if (this.eof) return false;
      let r: IteratorResult<unknown>;
      try {
        r = await this.it.next();
      } catch (err) {
        this.failure = err;
        throw err;
      }
      if (r.done) {
        this.eof = true;
        return false;
      }
      const v = r.value;
      this.cur = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
    }
    return true;
  }

  /** Up to max bytes (at least one), or null at end of stream. */
  async next(max: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    const n = Math.min(max, this.cur.length);
    const out = n === this.cur.length ? this.cur : this.cur.subarray(0, n);
    this.cur = n === this.cur.length ? Buffer.alloc(0) : this.cur.subarray(n);
    this.consumed += n;
    return out;
  }

  /** Exactly n bytes; null if the stream ends before the first byte; throws if it ends inside. */
  async readExact(n: number, what: string): Promise<Buffer | null> {
    const first = await this.next(n);
    if (first === null) return null;
    if (first.length === n) return first;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const more = await this.next(n - got);
      if (more === null) throw malformed(`layer tar is truncated inside ${what}`);
      parts.push(more);
      got += more.length;
    }
    return Buffer.concat(parts, n);
  }

  async skip(n: number, what: string): Promise<void> {
    while (n > 0) {
      const b = await this.next(n);
      if (b === null) throw malformed(`layer tar is truncated inside ${what}`);
      n -= b.length;
    }
  }

  async drain(): Promise<void> {
    while ((await this.next(Number.MAX_SAFE_INTEGER)) !== null) {
      /* discard trailing padding */
    }
  }
}

// ---------------------------------------------------------------------------
// Tar header decoding.

interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** GNU-format atime, when present and non-zero. */
  atime: number | undefined;
}

type EntryType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

interface Entry {
  /** Name as in the archive (for messages). */
  name: string;
  type: EntryType;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  atime: number;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer> | undefined;
}

function cstring(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** A numeric header field: octal text, or GNU base-256 when the high bit is set. */
function numeric(buf: Buffer, off: number, len: number, field: string): number {
  const first = buf[off]!;
  if (first & 0x80) {
    if (first === 0xff) throw malformed(`layer tar header has a negative ${field}`);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + buf[off + i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw malformed(`layer tar header ${field} is out of range`);
    }
    return v;
  }
  let i = off;
  const end = off + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw malformed(`layer tar header has an invalid ${field}`);
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    if (buf[i] !== 0x20 && buf[i] !== 0) throw malformed(`layer tar header has an invalid ${field}`);
  }
  return digits === 0 ? 0 : v;
}

function checksumOk(b: Buffer): boolean {
  const stored = numeric(b, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function parseHeader(b: Buffer): RawHeader {
  if (!checksumOk(b)) throw malformed('layer tar header checksum mismatch (corrupt or not a tar stream)');
  const magic = b.toString('latin1', 257, 263);
  const isUstar = magic === 'ustar\0';
  const isGnu = magic === 'ustar ';
  let name = cstring(b, 0, 100);
  if (isUstar && b[345] !== 0) name = cstring(b, 345, 155) + '/' + name;
  let atime: number | undefined;
  if (isGnu) {
    const a = numeric(b, 345, 12, 'atime');
    if (a > 0) atime = a;
  }
  return {
    name,
    mode: numeric(b, 100, 8, 'mode') & 0o7777,
    uid: numeric(b, 108, 8, 'uid'),
    gid: numeric(b, 116, 8, 'gid'),
    size: numeric(b, 124, 12, 'size'),
    mtime: numeric(b, 136, 12, 'mtime'),
    typeflag: String.fromCharCode(b[156]!),
    linkname: cstring(b, 157, 100),
    devmajor: isUstar || isGnu ? numeric(b, 329, 8, 'devmajor') : 0,
    devminor: isUstar || isGnu ? numeric(b, 337, 8, 'devminor') : 0,
    atime,
  };
}

/** PAX extended header records, values kept as raw bytes ("%d %s=%s\n"). */
function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // NUL padding after the last record
    const sp = buf.indexOf(0x20, pos);
    if (sp === -1) throw malformed('layer tar has a malformed PAX record');
    const lenText = buf.toString('latin1', pos, sp);
    if (!/^[0-9]+$/.test(lenText)) throw malformed('layer tar has a malformed PAX record length');
    const len = Number(lenText);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw malformed('layer tar has a malformed PAX record');
    }
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= end - 1) throw malformed('layer tar has a PAX record without "="');
    const key = buf.toString('utf8', sp + 1, eq);
    const value = buf.subarray(eq + 1, end - 1);
    // An empty value deletes the keyword (POSIX); later records override earlier ones.
    if (value.length === 0) out.delete(key);
    else out.set(key, Buffer.from(value));
    pos = end;
  }
  return out;
}

function paxNumber(v: Buffer, key: string, allowFraction: boolean): number {
  const s = v.toString('latin1');
  const re = allowFraction ? /^-?[0-9]+(\.[0-9]+)?$/ : /^[0-9]+$/;
  const n = Number(s);
  if (!re.test(s) || !Number.isFinite(n) || (!allowFraction && !Number.isSafeInteger(n))) {
    throw malformed(`layer tar has an invalid PAX ${key} record: ${q(s)}`);
  }
  return n;
}

function percentDecode(s: string): string {
  return Buffer.from(
    s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

function paxXattrs(pax: Map<string, Buffer>): Map<string, Buffer> | undefined {
  let out: Map<string, Buffer> | undefined;
  // libarchive form first, so that the SCHILY form (which bsdtar also writes) wins.
  for (const [k, v] of pax) {
    if (!k.startsWith('LIBARCHIVE.xattr.')) continue;
    (out ??= new Map()).set(percentDecode(k.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(v.toString('latin1'), 'base64'));
  }
  for (const [k, v] of pax) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    (out ??= new Map()).set(k.slice('SCHILY.xattr.'.length), v);
  }
  return out;
}

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
  private readonly xattrs = new Map<string, Map<string, Buffer>>();
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
    if (rel === '' || baseOf(rel).startsWith(WHITEOUT_PREFIX)) return false;
    return this.dirs.has(parentOf(rel)) && !this.dirs.has(rel);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
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
      return await fsp.lstat(this.abs(rel));
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
      await fsp.rm(this.abs(rel), { recursive: true, force: true });
      this.forget(rel, true);
      return false;
    }
    if (st) await fsp.unlink(this.abs(rel));
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
        await fsp.mkdir(this.abs(p), 0o755);
        // Just created, so a real directory: make its mode independent of the umask.
        if (this.umask === undefined || (this.umask & 0o755) !== 0) await fsp.chmod(this.abs(p), 0o755);
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

  private addXattrs(rel: string, xattrs: Map<string, Buffer> | undefined): void {
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
  async apply(e: Entry, rel: string, src: ByteSource): Promise<boolean> {
    const base = baseOf(rel);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await this.whiteout(e, rel, base);
      return false;
    }
    if (rel === '') {
      if (e.type !== 'dir') throw malformed(`layer entry ${q(e.name)} would replace the layer root with a non-directory`);
      await this.directory(e, rel);
      return false;
    }
    await this.ensureParents(rel, e.name);
    switch (e.type) {
      case 'file':
        await this.file(e, rel, src);
        return true;
      case 'dir':
        await this.directory(e, rel);
        return false;
      case 'symlink':
        await this.symlink(e, rel);
        return false;
      case 'link':
        await this.hardlink(e, rel);
        return false;
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
        return false;
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
      const fd = await fdOpen(this.abs(rel), flags, mode);
      this.forget(rel, false);
      return fd;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    await this.clear(rel, false);
    return fdOpen(this.abs(rel), flags, mode);
  }

  /** Ownership, mode (after chown, which clears setuid/setgid) and times of a new file. */
  private async fileMetadata(fd: number, e: Entry, rel: string): Promise<void> {
    if (this.needsChown(rel, e.uid, e.gid)) await fdChown(fd, e.uid, e.gid);
    // open() already applied mode & ~umask; chmod only when that differs from the wanted mode.
    if (this.umask === undefined || (e.mode & ~0o777) !== 0 || (e.mode & this.umask) !== 0) await fdChmod(fd, e.mode);
    await fdUtimes(fd, e.atime, e.mtime);
  }

  /** A regular file streamed from the archive (large files). */
  private async file(e: Entry, rel: string, src: ByteSource): Promise<void> {
    const fd = await this.openExclusive(rel, e.mode & 0o777);
    try {
      await copyBody(src, fd, e.size, e.name);
      this.contentBytes += e.size;
      await this.fileMetadata(fd, e, rel);
    } finally {
      await fdClose(fd);
    }
    this.addXattrs(rel, e.xattrs);
  }

  /** A small regular file whose body was already read (runs as a task). */
  async smallFile(e: Entry, rel: string, body: Buffer): Promise<void> {
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
    const abs = this.abs(rel);
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
    const abs = this.abs(rel);
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
      await fsp.link(this.abs(target), this.abs(rel));
      this.forget(rel, false);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      await this.clear(rel, false);
      if (!(await this.lstatOrUndefined(target))) {
        throw malformed(`layer hardlink ${q(e.name)}: its target was removed by the entry it replaces`);
      }
      await fsp.link(this.abs(target), this.abs(rel));
    }
  }

  /** Re-check, right before the batch, that rel's parents are real directories. */
  private async verifyParentsFresh(rel: string, fresh: Set<string>): Promise<void> {
    let p = '';
    const parent = parentOf(rel);
    if (parent === '') return;
    for (const seg of parent.split('/')) {
      p = joinRel(p, seg);
      if (fresh.has(p)) continue;
      const st = await this.lstatOrUndefined(p);
      if (!st?.isDirectory()) throw system(`layer unpack: ${q(p)} changed under the unpacker`);
      fresh.add(p);
    }
  }

  /** Device nodes, fifos, whiteouts, opaque markers and xattrs; then times. */
  async finish(): Promise<void> {
    if (this.nodes.size > 0 || this.opaque.size > 0 || this.xattrs.size > 0) {
      const fresh = new Set<string>();
      const ops: string[][] = [];
      for (const [rel, n] of this.nodes) {
        await this.verifyParentsFresh(rel, fresh);
        const mode = n.mode.toString(8).padStart(4, '0');
        const abs = this.abs(rel);
        if (n.type === 'p') ops.push(['p', mode, abs]);
        else ops.push(['n', mode, n.type, String(n.major), String(n.minor), abs]);
        if (this.needsChown(rel, n.uid, n.gid)) ops.push(['o', `${n.uid}:${n.gid}`, abs]);
      }
      for (const rel of this.opaque) {
        await this.verifyParentsFresh(rel, fresh);
        ops.push(['x', this.abs(rel)]);
      }
      let dump: string | undefined;
      if (this.xattrs.size > 0) {
        const parts: string[] = [];
        for (const [rel, attrs] of this.xattrs) {
          await this.verifyParentsFresh(rel, fresh);
          parts.push(`# file: ${dumpQuote(this.abs(rel))}\n`);
          for (const [name, value] of attrs) {
            parts.push(`${dumpQuote(name)}=${value.length > 0 ? '0x' + value.toString('hex') : '""'}\n`);
          }
          parts.push('\n');
        }
        dump = parts.join('');
      }
      await this.runOps(ops, dump);
    }
    await mapLimit(this.nodes, 16, async ([rel, n]) => {
      if (n.times) await fsp.lutimes(this.abs(rel), n.times[0], n.times[1]);
    });
    // Last: nothing writes into a directory after its times are set.
    await mapLimit(this.dirTimes, 16, async ([rel, [atime, mtime]]) => {
      await fsp.lutimes(this.abs(rel), atime, mtime);
    });
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
async function copyBody(src: ByteSource, fd: number, size: number, name: string): Promise<void> {
  let remaining = size;
  let position = 0;
  let batch: Buffer[] = [];
  let batchLen = 0;
  const inflight = new Set<Promise<void>>();
  let writeError: { err: unknown } | undefined;
  try {
    while (remaining > 0) {
      const chunk = await src.next(Math.min(remaining, WRITE_BATCH));
      if (chunk === null) throw malformed(`layer tar is truncated inside the data of ${q(name)}`);
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

async function writeAll(fd: number, bufs: Buffer[], position: number): Promise<void> {
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

// ---------------------------------------------------------------------------

interface Meta {
  pax: Map<string, Buffer> | undefined;
  longName: string | undefined;
  longLink: string | undefined;
}

function toEntry(h: RawHeader, meta: Meta): Entry {
  let type: EntryType;
  switch (h.typeflag) {
    case '0':
    case '7':
      type = 'file';
      break;
    case '\0':
      type = h.name.endsWith('/') ? 'dir' : 'file';
      break;
    case '1':
      type = 'link';
      break;
    case '2':
      type = 'symlink';
      break;
    case '3':
      type = 'char';
      break;
    case '4':
      type = 'block';
      break;
    case '5':
      type = 'dir';
      break;
    case '6':
      type = 'fifo';
      break;
    case 'S':
      throw malformed(`layer entry ${q(meta.longName ?? h.name)} is a GNU sparse file, which is not supported`);
    default:
      throw malformed(`layer entry ${q(meta.longName ?? h.name)} has unsupported tar type ${q(h.typeflag)}`);
  }
  const e: Entry = {
    name: meta.longName ?? h.name,
    type,
    linkname: meta.longLink ?? h.linkname,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: h.mtime,
    atime: h.atime ?? h.mtime,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs: undefined,
  };
  const pax = meta.pax;
  if (pax) {
    for (const k of pax.keys()) {
      if (k.startsWith('GNU.sparse.')) throw malformed(`layer entry ${q(e.name)} is a sparse file, which is not supported`);
    }
    const str = (k: string): string | undefined => pax.get(k)?.toString('utf8');
    e.name = str('path') ?? e.name;
    e.linkname = str('linkpath') ?? e.linkname;
    const num = (k: string, frac: boolean): number | undefined => {
      const v = pax.get(k);
      return v === undefined ? undefined : paxNumber(v, k, frac);
    };
    e.size = num('size', false) ?? e.size;
    e.uid = num('uid', false) ?? e.uid;
    e.gid = num('gid', false) ?? e.gid;
    const mtime = num('mtime', true);
    if (mtime !== undefined) e.mtime = mtime;
    e.atime = num('atime', true) ?? (h.atime === undefined ? e.mtime : h.atime);
    e.xattrs = paxXattrs(pax);
  }
  if (e.uid > 0xfffffffe || e.gid > 0xfffffffe) throw malformed(`layer entry ${q(e.name)} has an out-of-range uid/gid`);
  // Like Go's archive/tar: entries of these types never carry data, whatever "size" says.
  if (type !== 'file') e.size = 0;
  return e;
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
  const src = new ByteSource(tarStream);
  let current = '';
  let u: Unpacker | undefined;
  const started = Date.now();
  try {
    signal?.throwIfAborted();
    u = new Unpacker(await fsp.realpath(dest), log, await currentUmask(), signal);
    await u.init();
    const meta: Meta = { pax: undefined, longName: undefined, longLink: undefined };
    for (;;) {
      signal?.throwIfAborted();
      current = '';
      const block = await src.readExact(BLOCK, 'a header');
      if (block === null) break; // no end-of-archive marker: accepted, like Go
      if (isZeroBlock(block)) {
        const second = await src.readExact(BLOCK, 'the end-of-archive marker');
        if (second !== null && !isZeroBlock(second)) throw malformed('layer tar has data after an end-of-archive block');
        await src.drain();
        break;
      }
      const h = parseHeader(block);
      const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;
      switch (h.typeflag) {
        case 'x':
        case 'L':
        case 'K': {
          const limit = h.typeflag === 'x' ? MAX_PAX_SIZE : MAX_LONGNAME_SIZE;
          if (h.size > limit) throw malformed(`layer tar has an oversized extended header (${h.size} bytes)`);
          const body = (await src.readExact(h.size, 'an extended header')) ?? Buffer.alloc(0);
          if (body.length < h.size) throw malformed('layer tar is truncated inside an extended header');
          await src.skip(pad(h.size), 'an extended header');
          if (h.typeflag === 'x') meta.pax = new Map([...(meta.pax ?? []), ...parsePax(body)]);
          else if (h.typeflag === 'L') meta.longName = cstring(body, 0, body.length);
          else meta.longLink = cstring(body, 0, body.length);
          continue;
        }
        case 'g':
          // Global PAX headers are ignored, as Docker does.
          await src.skip(h.size + pad(h.size), 'a global header');
          continue;
      }
      const e = toEntry(h, meta);
      meta.pax = meta.longName = meta.longLink = undefined;
      current = e.name;
      u.entries++;
      const rel = normalise(e.name, 'name');
      if (u.canRunAsTask(e, rel)) {
        const body =
          e.type !== 'file' ? null : e.size === 0 ? Buffer.alloc(0) : await src.readExact(e.size, 'file data');
        if (e.type === 'file' && (body === null || body.length !== e.size)) {
          throw malformed(`layer tar is truncated inside the data of ${q(e.name)}`);
        }
        await src.skip(pad(e.size), 'entry padding');
        const unpacker = u;
        await u.tasks.run(e.name, rel, e.size, () => (body ? unpacker.smallFile(e, rel, body) : unpacker.symlink(e, rel)));
        continue;
      }
      await u.tasks.barrier();
      if (!(await u.apply(e, rel, src))) await src.skip(e.size, 'an entry');
      await src.skip(pad(e.size), 'entry padding');
    }
    current = '';
    await u.tasks.barrier();
    await u.finish();
    const result = { entries: u.entries, bytes: src.consumed, contentBytes: u.contentBytes };
    log.debug('layer unpacked', { dest, ...result, ms: Date.now() - started });
    return result;
  } catch (err) {
    if (!tarStream.destroyed) tarStream.destroy();
    // Nothing may still be writing into dest once the caller gets the error.
    await u?.tasks.settle();
    if (signal?.aborted) throw signal.reason ?? err;
    if (isBerthError(err) || (src.failure !== undefined && err === src.failure)) throw err;
    const where = current === '' ? 'unpacking layer' : `unpacking layer entry ${q(current)}`;
    throw system(`${where}: ${errorMessage(err)}`, err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // `swallow` stays attached: a destroyed stream may still report a late error.
  }
}
