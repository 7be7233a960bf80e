/**
 * A small tar codec for `cp` (the container archive endpoints): headers in and
 * out, no file system access. The writer emits ustar headers, preceded by a PAX
 * record when a name, link target or size does not fit ustar; the reader is
 * incremental (push chunks, get events) and understands ustar, PAX (`x`, `g`)
 * and GNU long names (`L`, `K`), which is what Go's archive/tar — used by the
 * Docker engine — writes.
 */
import { EngineError } from './errors.js';

const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarHeader {
  /** Slash-separated path as stored (directories may end with '/'). */
  name: string;
  type: TarEntryType;
  /** Permission bits (and setuid/setgid/sticky). */
  mode: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  uid: number;
  gid: number;
  /** Target of a symlink or hardlink. */
  linkname: string;
}

const TYPE_FLAG: Record<Exclude<TarEntryType, 'other'>, string> = { file: '0', hardlink: '1', symlink: '2', directory: '5' };

function writeString(buf: Buffer, offset: number, length: number, s: string): void {
  buf.write(s, offset, length, 'utf8');
}

function writeOctal(buf: Buffer, offset: number, length: number, n: number): void {
  writeString(buf, offset, length, `${n.toString(8).padStart(length - 1, '0')}\0`);
}

function headerBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeString(b, 0, 100, fields.name);
  writeOctal(b, 100, 8, fields.mode & 0o7777);
  writeOctal(b, 108, 8, Math.min(fields.uid, 0o7777777));
  writeOctal(b, 116, 8, Math.min(fields.gid, 0o7777777));
  writeOctal(b, 124, 12, Math.min(fields.size, 0o77777777777));
  writeOctal(b, 136, 12, Math.max(0, Math.min(Math.floor(fields.mtime), 0o77777777777)));
  b.write('        ', 148, 8, 'latin1');
  b.write(fields.typeflag, 156, 1, 'latin1');
  writeString(b, 157, 100, fields.linkname);
  b.write('ustar\0', 257, 6, 'latin1');
  b.write('00', 263, 2, 'latin1');
  writeString(b, 345, 155, fields.prefix);
  let sum = 0;
  for (const byte of b) sum += byte;
  writeString(b, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return b;
}

/** One PAX record: "<len> key=value\n", where <len> counts the whole record. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restLen = Buffer.byteLength(rest);
  let len = restLen + 1;
  while (String(len).length + restLen !== len) len++;
  return `${len}${rest}`;
}

/** Split a long name into ustar's prefix/name, or undefined when it cannot be. */
function splitUstar(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  if (Buffer.byteLength(name) > 256 || /[^\x20-\x7e]/.test(name)) return undefined;
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, name: rest };
  }
  return undefined;
}

/** The header block(s) for one entry; the caller writes the data and tarPadding(size) after it. */
export function encodeHeader(h: TarHeader): Buffer {
  if (h.type === 'other') throw new EngineError(`cannot write tar entry ${h.name}: unsupported type`, 0, 'INVALID');
  const name = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const split = /[^\x20-\x7e]/.test(name) ? undefined : splitUstar(name);
  const records: string[] = [];
  if (!split) records.push(paxRecord('path', name));
  if (Buffer.byteLength(h.linkname) > 100 || /[^\x20-\x7e]/.test(h.linkname)) records.push(paxRecord('linkpath', h.linkname));
  if (h.size > 0o77777777777) records.push(paxRecord('size', String(h.size)));
  if (h.uid > 0o7777777) records.push(paxRecord('uid', String(h.uid)));
  if (h.gid > 0o7777777) records.push(paxRecord('gid', String(h.gid)));
  const main = headerBlock({
    name: split ? split.name : name.slice(0, 99),
    prefix: split ? split.prefix : '',
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.type === 'file' ? h.size : 0,
    mtime: h.mtime,
    typeflag: TYPE_FLAG[h.type],
    linkname: Buffer.byteLength(h.linkname) > 100 ? '' : h.linkname,
  });
  if (records.length === 0) return main;
  const pax = Buffer.from(records.join(''), 'utf8');
  const paxHeader = headerBlock({
    name: `PaxHeaders/${name.replace(/\/$/, '').split('/').pop()?.slice(0, 80) ?? ''}`,
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: pax.length,
    mtime: h.mtime,
    typeflag: 'x',
    linkname: '',
  });
  return Buffer.concat([paxHeader, pax, tarPadding(pax.length), main]);
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): Buffer {
  const rem = size % BLOCK;
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem);
}

/** The end-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(BLOCK * 2);

// ---------------------------------------------------------------------------
// Reading

export type TarEvent = { kind: 'entry'; header: TarHeader } | { kind: 'data'; chunk: Buffer } | { kind: 'entryEnd' };

function readString(b: Buffer, offset: number, length: number): string {
  const field = b.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? length : nul).toString('utf8');
}

function readNumber(b: Buffer, offset: number, length: number): number {
  const field = b.subarray(offset, offset + length);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    // GNU base-256: big-endian, first byte's high bit is the marker.
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new EngineError(`malformed tar header: bad number ${JSON.stringify(text)}`, 0, 'INVALID');
  return parseInt(text, 8);
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(data.subarray(pos, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) {
      throw new EngineError('malformed tar PAX record', 0, 'INVALID');
    }
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

function entryType(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '5':
      return 'directory';
    default:
      return 'other';
  }
}

/**
 * Incremental tar reader. push() returns what the bytes completed: an entry's
 * header, its data in pieces, and the end of the entry. After the end marker
 * (or the end of input), `done` is true.
 */
export class TarReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Data bytes left in the current entry, then its padding. */
  private remaining = 0;
  private padding = 0;
  private inEntry = false;
  /** Metadata entry being collected (PAX or GNU long name) instead of a file's data. */
  private meta: { flag: string; size: number; parts: Buffer[] } | undefined;
  private pax = new Map<string, string>();
  private globalPax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  done = false;

  push(chunk: Buffer): TarEvent[] {
    const events: TarEvent[] = [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (!this.done) {
      if (this.remaining > 0) {
        if (this.buf.length === 0) break;
        const n = Math.min(this.remaining, this.buf.length);
        const piece = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.meta) this.meta.parts.push(piece);
        else events.push({ kind: 'data', chunk: piece });
        if (this.remaining > 0) break;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, this.buf.length);
        this.buf = this.buf.subarray(n);
        this.padding -= n;
        if (this.padding > 0) break;
      }
      if (this.meta) {
        this.finishMeta(this.meta);
        this.meta = undefined;
      } else if (this.inEntry) {
        events.push({ kind: 'entryEnd' });
        this.inEntry = false;
      }
      if (this.buf.length < BLOCK) break;
      const block = this.buf.subarray(0, BLOCK);
      this.buf = this.buf.subarray(BLOCK);
      if (block.every((b) => b === 0)) {
        this.done = true;
        break;
      }
      this.header(block, events);
    }
    return events;
  }

  /** Call at the end of input: throws if it ended inside an entry. */
  end(): void {
    if (this.remaining > 0 || this.meta || this.inEntry || (this.buf.length > 0 && !this.done)) {
      throw new EngineError('unexpected end of tar archive', 0, 'INVALID');
    }
    this.done = true;
  }

  private header(block: Buffer, events: TarEvent[]): void {
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    if (readNumber(block, 148, 8) !== sum) throw new EngineError('malformed tar archive: header checksum mismatch', 0, 'INVALID');
    const flag = String.fromCharCode(block[156] as number);
    const size = readNumber(block, 124, 12);
    this.padding = tarPadding(size).length;
    this.remaining = size;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      this.meta = { flag, size, parts: [] };
      return;
    }
    const magic = block.subarray(257, 263).toString('latin1');
    const prefix = magic === 'ustar\0' ? readString(block, 345, 155) : '';
    let name = readString(block, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    const pax = new Map([...this.globalPax, ...this.pax]);
    name = this.longName ?? pax.get('path') ?? name;
    const header: TarHeader = {
      name,
      type: entryType(flag),
      mode: readNumber(block, 100, 8) & 0o7777,
      size: pax.has('size') ? Number(pax.get('size')) : size,
      mtime: pax.has('mtime') ? Math.floor(Number(pax.get('mtime'))) : readNumber(block, 136, 12),
      uid: pax.has('uid') ? Number(pax.get('uid')) : readNumber(block, 108, 8),
      gid: pax.has('gid') ? Number(pax.get('gid')) : readNumber(block, 116, 8),
      linkname: this.longLink ?? pax.get('linkpath') ?? readString(block, 157, 100),
    };
    if (header.size !== size) {
      this.remaining = header.size;
      this.padding = tarPadding(header.size).length;
    }
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;
    this.inEntry = true;
    events.push({ kind: 'entry', header });
  }

  private finishMeta(meta: { flag: string; parts: Buffer[] }): void {
    const data = Buffer.concat(meta.parts);
    if (meta.flag === 'x') this.pax = parsePax(data);
    else if (meta.flag === 'g') this.globalPax = parsePax(data);
    else {
      const text = data.toString('utf8').replace(/\0+$/, '');
      if (meta.flag === 'L') this.longName = text;
      else this.longLink = text;
    }
  }
}
