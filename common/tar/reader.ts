/**
 * The streaming tar reader for every tar Berth reads: image layers, `docker cp` uploads and
 * downloads, build contexts, `docker load` archives. It understands V7, ustar, PAX (`x`, and `g`
 * which it skips, as Docker does) and GNU (`L`/`K` long names, base-256 numbers, sparse files in
 * the old GNU and the PAX 0.0/0.1/1.0 forms), and keeps PAX values as bytes, so binary xattrs such
 * as security.capability survive.
 *
 * It accepts what Go's archive/tar (Docker, BuildKit, the docker CLI) accepts, including how a
 * stream may end: at an entry boundary without the two zero blocks, or inside the padding of the
 * last entry (the docker CLI sends build contexts that way when it adds a Dockerfile from
 * outside the context). It refuses the rest: a stream that ends inside a header or a body, bad
 * checksums and numbers, oversized extended headers, a non-zero block after a zero block.
 *
 * Bodies are not buffered: after next() returns an entry, read() hands out its bytes as they
 * arrive; next() skips whatever the caller left unread.
 */
import { ByteReader, type ByteChunks } from './bytes.js';
import { TarFormatError, type TarEntry, type TarEntryType } from './entry.js';
import {
  BLOCK,
  blockPadding,
  checksumOk,
  concatBytes,
  cstring,
  decodeUtf8,
  isZeroBlock,
  latin1,
  paxNumber,
  parseNumeric,
  parsePax,
  quote,
} from './fields.js';

export interface TarReaderOptions {
  signal?: AbortSignal;
}

/** Go refuses extended headers above 1 MiB; a little more room here costs nothing. */
const MAX_PAX_SIZE = 4 * 1024 * 1024;
const MAX_LONGNAME_SIZE = 1024 * 1024;
/** Sparse maps are read into memory: keep a hostile one from taking it all. */
const MAX_SPARSE_ENTRIES = 1 << 20;
const ZEROS = new Uint8Array(64 * 1024);

const TYPES: Record<string, TarEntryType> = { '0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

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
  /** GNU atime, when present and non-zero. */
  atime: number | undefined;
}

/** Records that apply to the next entry (PAX `x`, GNU `L` and `K`). */
interface Pending {
  pax: Map<string, Uint8Array> | undefined;
  longName: string | undefined;
  longLink: string | undefined;
}

/** Where a sparse file's data lies: [offset, length] fragments in order, and its logical size. */
interface SparseMap {
  fragments: [number, number][];
  size: number;
}

function parseHeader(b: Uint8Array): RawHeader {
  if (!checksumOk(b)) throw new TarFormatError('tar header checksum mismatch (corrupt or not a tar stream)');
  const magic = latin1(b, 257, 6);
  const ustar = magic === 'ustar\0';
  const gnu = magic === 'ustar ';
  let name = cstring(b, 0, 100);
  if (ustar && b[345] !== 0) name = cstring(b, 345, 155) + '/' + name;
  let atime: number | undefined;
  if (gnu && b[345] !== 0) {
    const a = parseNumeric(b, 345, 12, 'atime');
    if (a > 0) atime = a;
  }
  return {
    name,
    mode: parseNumeric(b, 100, 8, 'mode') & 0o7777,
    uid: parseNumeric(b, 108, 8, 'uid'),
    gid: parseNumeric(b, 116, 8, 'gid'),
    size: parseNumeric(b, 124, 12, 'size'),
    mtime: parseNumeric(b, 136, 12, 'mtime'),
    typeflag: String.fromCharCode(b[156]!),
    linkname: cstring(b, 157, 100),
    devmajor: ustar || gnu ? parseNumeric(b, 329, 8, 'devmajor') : 0,
    devminor: ustar || gnu ? parseNumeric(b, 337, 8, 'devminor') : 0,
    atime,
  };
}

function percentDecode(s: string): string {
  const bytes = s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return decodeUtf8(Uint8Array.from(bytes, (c) => c.charCodeAt(0)));
}

function base64Decode(s: string): Uint8Array {
  const bin = atob(s.replace(/[^A-Za-z0-9+/]/g, ''));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function paxXattrs(pax: Map<string, Uint8Array>): Map<string, Uint8Array> | undefined {
  let out: Map<string, Uint8Array> | undefined;
  // libarchive's form first, so that the SCHILY form (which bsdtar also writes) wins.
  for (const [k, v] of pax) {
    if (!k.startsWith('LIBARCHIVE.xattr.')) continue;
    (out ??= new Map()).set(percentDecode(k.slice('LIBARCHIVE.xattr.'.length)), base64Decode(latin1(v, 0, v.length)));
  }
  for (const [k, v] of pax) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    (out ??= new Map()).set(k.slice('SCHILY.xattr.'.length), v);
  }
  return out;
}

const paxText = (pax: Map<string, Uint8Array>, key: string): string | undefined => {
  const v = pax.get(key);
  if (v === undefined) return undefined;
  if (v.includes(0)) throw new TarFormatError(`tar archive has a NUL byte in its PAX ${key} record`);
  return decodeUtf8(v);
};

/** Old GNU sparse: up to 4 [offset, length] pairs in the header, more in extension blocks. */
function gnuSparsePairs(b: Uint8Array, off: number, count: number, out: [number, number][]): void {
  for (let i = 0; i < count; i++) {
    const o = off + i * 24;
    if (b[o] === 0 && b[o + 12] === 0) continue;
    out.push([parseNumeric(b, o, 12, 'sparse offset'), parseNumeric(b, o + 12, 12, 'sparse length')]);
  }
}

function checkSparse(map: SparseMap, name: string): SparseMap {
  let end = 0;
  for (const [off, len] of map.fragments) {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < end || off + len > map.size) {
      throw new TarFormatError(`tar entry ${quote(name)} has an invalid sparse map`);
    }
    end = off + len;
  }
  return map;
}

export class TarReader implements AsyncIterable<TarEntry> {
  readonly source: ByteReader;
  private readonly signal: AbortSignal | undefined;
  private readonly pending: Pending = { pax: undefined, longName: undefined, longLink: undefined };
  private current: TarEntry | undefined;
  /** Physical body bytes of the current entry not yet consumed, and its padding. */
  private remaining = 0;
  private padding = 0;
  /** A sparse body: the fragments still to hand out and where the logical position is. */
  private sparse: { fragments: [number, number][]; pos: number; size: number } | undefined;
  private ended = false;

  constructor(source: ByteReader | ByteChunks, opts: TarReaderOptions = {}) {
    this.source = source instanceof ByteReader ? source : new ByteReader(source);
    this.signal = opts.signal;
  }

  /** Bytes of the stream consumed so far. */
  get bytes(): number {
    return this.source.consumed;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TarEntry> {
    for (let e = await this.next(); e !== null; e = await this.next()) yield e;
  }

  /** The next entry, or null at the end of the archive (what follows the end marker is drained). */
  async next(): Promise<TarEntry | null> {
    await this.finishEntry();
    const { source, pending } = this;
    while (!this.ended) {
      this.signal?.throwIfAborted();
      const block = await source.read(BLOCK);
      if (block.length === 0) return this.end(); // no end-of-archive marker: accepted, like Go
      if (block.length < BLOCK) throw new TarFormatError('tar archive is truncated inside a header');
      if (isZeroBlock(block)) {
        const second = await source.read(BLOCK);
        if (second.length > 0 && second.length < BLOCK) throw new TarFormatError('tar archive is truncated inside its end-of-archive marker');
        if (second.length > 0 && !isZeroBlock(second)) throw new TarFormatError('tar archive has data after an end-of-archive block');
        await source.drain();
        return this.end();
      }
      const h = parseHeader(block);
      switch (h.typeflag) {
        case 'x':
        case 'L':
        case 'K': {
          const limit = h.typeflag === 'x' ? MAX_PAX_SIZE : MAX_LONGNAME_SIZE;
          if (h.size > limit) throw new TarFormatError(`tar archive has an oversized extended header (${h.size} bytes)`);
          const body = await source.read(h.size);
          if (body.length < h.size) throw new TarFormatError('tar archive is truncated inside an extended header');
          if (!(await this.skipPadding(h.size))) return this.end();
          if (h.typeflag === 'x') pending.pax = new Map([...(pending.pax ?? []), ...parsePax(body)]);
          else if (h.typeflag === 'L') pending.longName = cstring(body, 0, body.length);
          else pending.longLink = cstring(body, 0, body.length);
          continue;
        }
        case 'g':
          // Global PAX headers are ignored, as Docker does.
          if ((await source.skip(h.size)) < h.size) throw new TarFormatError('tar archive is truncated inside a global header');
          if (!(await this.skipPadding(h.size))) return this.end();
          continue;
      }
      return this.begin(h, block);
    }
    return null;
  }

  /** Up to max bytes of the current entry's body, or null once it has all been read. */
  async read(max = 1024 * 1024): Promise<Uint8Array | null> {
    if (this.sparse) return this.readSparse(max);
    if (this.remaining === 0) return null;
    const chunk = await this.source.next(Math.min(max, this.remaining));
    if (chunk === null) throw this.truncatedBody();
    this.remaining -= chunk.length;
    return chunk;
  }

  /** The rest of the current entry's body in one piece (for small entries). */
  async readAll(): Promise<Uint8Array> {
    if (!this.sparse) {
      const n = this.remaining;
      const body = await this.source.read(n);
      this.remaining -= body.length;
      if (body.length < n) throw this.truncatedBody();
      return body;
    }
    const parts: Uint8Array[] = [];
    for (let c = await this.read(); c !== null; c = await this.read()) parts.push(c.slice());
    return concatBytes(parts);
  }

  /** The rest of the current entry's body, chunk by chunk. */
  async *body(max?: number): AsyncGenerator<Uint8Array> {
    for (let c = await this.read(max); c !== null; c = await this.read(max)) yield c;
  }

  private end(): null {
    this.ended = true;
    this.current = undefined;
    return null;
  }

  private truncatedBody(): TarFormatError {
    return new TarFormatError(`tar archive is truncated inside the data of ${quote(this.current?.name ?? '')}`);
  }

  /** Skips what is left of the current body and its padding. */
  private async finishEntry(): Promise<void> {
    if (this.ended) return;
    this.sparse = undefined;
    if (this.remaining > 0) {
      const n = await this.source.skip(this.remaining);
      if (n < this.remaining) throw this.truncatedBody();
      this.remaining = 0;
    }
    if (this.padding > 0) {
      const pad = this.padding;
      this.padding = 0;
      if ((await this.source.skip(pad)) < pad) this.end();
    }
    this.current = undefined;
  }

  /** Padding after a body; false when the stream ended inside it (an end Go accepts). */
  private async skipPadding(size: number): Promise<boolean> {
    const pad = blockPadding(size);
    return pad === 0 || (await this.source.skip(pad)) === pad;
  }

  private async begin(h: RawHeader, block: Uint8Array): Promise<TarEntry> {
    const { pending } = this;
    let type: TarEntryType | 'other' = TYPES[h.typeflag] ?? 'other';
    if (h.typeflag === '\0') type = h.name.endsWith('/') ? 'dir' : 'file';
    else if (h.typeflag === 'S') type = 'file';
    const e: TarEntry = {
      name: pending.longName ?? h.name,
      type,
      typeflag: h.typeflag,
      linkname: pending.longLink ?? h.linkname,
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
    const pax = pending.pax;
    if (pax) {
      e.name = paxText(pax, 'path') ?? e.name;
      e.linkname = paxText(pax, 'linkpath') ?? e.linkname;
      const num = (k: string, frac: boolean): number | undefined => {
        const v = pax.get(k);
        return v === undefined ? undefined : paxNumber(v, k, frac);
      };
      e.size = num('size', false) ?? e.size;
      e.uid = num('uid', false) ?? e.uid;
      e.gid = num('gid', false) ?? e.gid;
      e.mtime = num('mtime', true) ?? e.mtime;
      e.atime = num('atime', true) ?? (h.atime === undefined ? e.mtime : h.atime);
      e.xattrs = paxXattrs(pax);
    }
    pending.pax = pending.longName = pending.longLink = undefined;
    if (e.uid > 0xfffffffe || e.gid > 0xfffffffe) throw new TarFormatError(`tar entry ${quote(e.name)} has an out-of-range uid/gid`);
    // Like Go's archive/tar: entries of these types never carry a body, whatever "size" says.
    const headerOnly = type !== 'file' && type !== 'other';
    const physical = headerOnly ? 0 : e.size;
    this.remaining = physical;
    this.padding = blockPadding(physical);
    if (headerOnly) e.size = 0;
    this.current = e;
    if (h.typeflag === 'S') await this.beginGnuSparse(e, block);
    else if (pax && type === 'file') {
      const layout = TarReader.paxSparseLayout(pax);
      if (layout) await this.beginPaxSparse(e, pax, layout);
    }
    return e;
  }

  private async beginGnuSparse(e: TarEntry, block: Uint8Array): Promise<void> {
    const fragments: [number, number][] = [];
    gnuSparsePairs(block, 386, 4, fragments);
    let extended = block[482] !== 0;
    while (extended) {
      const ext = await this.source.read(BLOCK);
      if (ext.length < BLOCK) throw new TarFormatError(`tar archive is truncated inside the sparse map of ${quote(e.name)}`);
      gnuSparsePairs(ext, 0, 21, fragments);
      if (fragments.length > MAX_SPARSE_ENTRIES) throw new TarFormatError(`tar entry ${quote(e.name)} has too large a sparse map`);
      extended = ext[504] !== 0;
    }
    this.startSparse(e, checkSparse({ fragments, size: parseNumeric(block, 483, 12, 'sparse size') }, e.name));
  }

  /** Whether PAX records make this a GNU sparse file, and in which layout (Go's readGNUSparsePAXHeaders). */
  private static paxSparseLayout(pax: Map<string, Uint8Array>): '0.x' | '1.0' | undefined {
    const major = paxText(pax, 'GNU.sparse.major');
    const minor = paxText(pax, 'GNU.sparse.minor');
    if (major === '0' && (minor === '0' || minor === '1')) return '0.x';
    if (major === '1' && minor === '0') return '1.0';
    if (major !== undefined || minor !== undefined) return undefined; // a version nobody knows: a plain file
    return pax.has('GNU.sparse.map') ? '0.x' : undefined;
  }

  private async beginPaxSparse(e: TarEntry, pax: Map<string, Uint8Array>, layout: '0.x' | '1.0'): Promise<void> {
    e.name = paxText(pax, 'GNU.sparse.name') ?? e.name;
    const sizeRecord = pax.get('GNU.sparse.size') ?? pax.get('GNU.sparse.realsize');
    const size = sizeRecord === undefined ? e.size : paxNumber(sizeRecord, 'GNU.sparse.size', false);
    const numbers: string[] = [];
    if (layout === '1.0') {
      // The map leads the data: decimal numbers one per line (a count, then offset/length pairs), block padded.
      const invalidMap = (): TarFormatError => new TarFormatError(`tar entry ${quote(e.name)} has an invalid sparse map`);
      const lines: string[] = [];
      let partial = '';
      let wanted = Infinity;
      while (lines.length < wanted) {
        const blk = await this.source.read(BLOCK);
        if (blk.length < BLOCK || this.remaining < BLOCK) throw new TarFormatError(`tar archive is truncated inside the sparse map of ${quote(e.name)}`);
        this.remaining -= BLOCK;
        const parts = (partial + latin1(blk, 0, BLOCK)).split('\n');
        partial = parts.pop() ?? '';
        lines.push(...parts);
        if (wanted === Infinity && lines.length > 0) {
          if (!/^[0-9]{1,8}$/.test(lines[0]!) || Number(lines[0]) > MAX_SPARSE_ENTRIES) throw invalidMap();
          wanted = 1 + 2 * Number(lines[0]);
        }
        // What follows the last number is the block's NUL padding; a number is never this long.
        if (lines.length < wanted && partial.length > 32) throw invalidMap();
      }
      numbers.push(...lines.slice(1, wanted));
    } else {
      const map = paxText(pax, 'GNU.sparse.map') ?? '';
      if (map !== '') numbers.push(...map.split(','));
    }
    if (numbers.length % 2 !== 0 || numbers.length / 2 > MAX_SPARSE_ENTRIES) throw new TarFormatError(`tar entry ${quote(e.name)} has an invalid sparse map`);
    const fragments: [number, number][] = [];
    const num = (s: string): number => {
      if (!/^[0-9]{1,16}$/.test(s)) throw new TarFormatError(`tar entry ${quote(e.name)} has an invalid sparse map`);
      return Number(s);
    };
    for (let i = 0; i < numbers.length; i += 2) fragments.push([num(numbers[i]!), num(numbers[i + 1]!)]);
    this.startSparse(e, checkSparse({ fragments, size }, e.name));
  }

  private startSparse(e: TarEntry, map: SparseMap): void {
    const data = map.fragments.reduce((n, [, len]) => n + len, 0);
    if (data !== this.remaining) throw new TarFormatError(`tar entry ${quote(e.name)}: its sparse map does not match its data`);
    e.size = map.size;
    this.sparse = { fragments: map.fragments.slice(), pos: 0, size: map.size };
  }

  /** The logical content of a sparse file: zeros in the holes, the stored fragments between them. */
  private async readSparse(max: number): Promise<Uint8Array | null> {
    const s = this.sparse!;
    while (s.fragments[0]?.[1] === 0) s.fragments.shift();
    if (s.pos >= s.size) return null;
    const next = s.fragments[0];
    if (next === undefined || s.pos < next[0]) {
      const holeEnd = next === undefined ? s.size : next[0];
      const n = Math.min(max, holeEnd - s.pos, ZEROS.length);
      s.pos += n;
      return ZEROS.subarray(0, n);
    }
    const chunk = await this.source.next(Math.min(max, next[0] + next[1] - s.pos));
    if (chunk === null) throw this.truncatedBody();
    this.remaining -= chunk.length;
    s.pos += chunk.length;
    if (s.pos === next[0] + next[1]) s.fragments.shift();
    return chunk;
  }
}
