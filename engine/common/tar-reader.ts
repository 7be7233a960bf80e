/**
 * A small, strict reader for uncompressed POSIX/ustar/GNU tar streams, as the
 * layer unpacker (store/unpack.ts) and `docker cp` uploads (containers/extract.ts)
 * consume them: header parsing, PAX and GNU long-name records, and the streaming
 * entry iterator (TarReader). Entry bodies are not buffered here: the caller
 * reads them from the ByteSource. Pure code, so it lives in engine/common.
 *
 * Why a tar reader of our own rather than tar-stream's extract(): tar-stream
 * decodes PAX records as UTF-8 text, which corrupts binary xattr values such as
 * security.capability, and it ignores PAX uid/gid/mtime/atime records. This
 * reader keeps PAX values as bytes and follows Go's archive/tar (what Docker
 * and BuildKit use) where readers disagree, e.g. header-only entry types never
 * carry a body.
 *
 * Malformed archives are BerthError('invalid', code INVALID_LAYER).
 */
import type { Readable } from 'node:stream';
import { BerthError } from './errors.js';

const BLOCK = 512;
const MAX_PAX_SIZE = 4 * 1024 * 1024;
const MAX_LONGNAME_SIZE = 1024 * 1024;

export const INVALID_LAYER = 'INVALID_LAYER';
/** A malformed archive (not a refusal of hostile content: that is unpack.ts's HOSTILE_LAYER). */
export const malformed = (msg: string): BerthError => new BerthError('invalid', msg, { code: INVALID_LAYER });
/** A name quoted for an error message. */
export const q = (s: string): string => JSON.stringify(s);

// ---------------------------------------------------------------------------
// Byte source: exact-size reads over a Readable, counting what it consumed.

export class ByteSource {
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

export type EntryType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface Entry {
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

/** Bytes of padding after a body of n bytes, up to the next block boundary. */
export const blockPadding = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

// ---------------------------------------------------------------------------
// Entries: a header plus the PAX / GNU long-name records before it.

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
 * The entries of a tar stream, one at a time. PAX and GNU long-name records are
 * folded into the entry they precede; global PAX headers are skipped. After
 * next() returns an entry, the caller consumes its body from the ByteSource
 * (entry.size bytes, then blockPadding(entry.size)) before asking for another.
 */
export class TarReader {
  private readonly meta: Meta = { pax: undefined, longName: undefined, longLink: undefined };

  constructor(
    private readonly src: ByteSource,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The next entry, or null at the end of the archive (any trailing padding drained). */
  async next(): Promise<Entry | null> {
    const { src, meta } = this;
    for (;;) {
      this.signal?.throwIfAborted();
      const block = await src.readExact(BLOCK, 'a header');
      if (block === null) return null; // no end-of-archive marker: accepted, like Go
      if (isZeroBlock(block)) {
        const second = await src.readExact(BLOCK, 'the end-of-archive marker');
        if (second !== null && !isZeroBlock(second)) throw malformed('layer tar has data after an end-of-archive block');
        await src.drain();
        return null;
      }
      const h = parseHeader(block);
      switch (h.typeflag) {
        case 'x':
        case 'L':
        case 'K': {
          const limit = h.typeflag === 'x' ? MAX_PAX_SIZE : MAX_LONGNAME_SIZE;
          if (h.size > limit) throw malformed(`layer tar has an oversized extended header (${h.size} bytes)`);
          const body = (await src.readExact(h.size, 'an extended header')) ?? Buffer.alloc(0);
          if (body.length < h.size) throw malformed('layer tar is truncated inside an extended header');
          await src.skip(blockPadding(h.size), 'an extended header');
          if (h.typeflag === 'x') meta.pax = new Map([...(meta.pax ?? []), ...parsePax(body)]);
          else if (h.typeflag === 'L') meta.longName = cstring(body, 0, body.length);
          else meta.longLink = cstring(body, 0, body.length);
          continue;
        }
        case 'g':
          // Global PAX headers are ignored, as Docker does.
          await src.skip(h.size + blockPadding(h.size), 'a global header');
          continue;
      }
      const e = toEntry(h, meta);
      meta.pax = meta.longName = meta.longLink = undefined;
      return e;
    }
  }
}
