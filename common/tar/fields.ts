/**
 * Header fields and PAX records, both ways: octal and GNU base-256 numbers, NUL-terminated
 * strings, the checksum, `"<len> <key>=<value>\n"` records. Bytes are Uint8Array.
 */
import { TarFormatError } from './entry.js';

export const BLOCK = 512;
export const ZERO_BLOCK = new Uint8Array(BLOCK);

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

export const encodeUtf8 = (s: string): Uint8Array => encoder.encode(s);
export const decodeUtf8 = (b: Uint8Array): string => utf8.decode(b);

/** A string quoted for an error message. */
export const quote = (s: string): string => JSON.stringify(s);

export function concatBytes(parts: readonly Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === total) return parts[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Bytes of padding after a body of n bytes, up to the next block boundary. */
export const blockPadding = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

export function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

const isAscii = (b: Uint8Array, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return false;
  return true;
};

/** A NUL-terminated string field (UTF-8; most names are ASCII, which skips the decoder). */
export function cstring(b: Uint8Array, off: number, len: number): string {
  let end = off;
  const limit = off + len;
  while (end < limit && b[end] !== 0) end++;
  if (end - off < 128 && isAscii(b, off, end)) return String.fromCharCode(...b.subarray(off, end));
  return utf8.decode(b.subarray(off, end));
}

export const latin1 = (b: Uint8Array, off: number, len: number): string => String.fromCharCode(...b.subarray(off, off + len));

/** A numeric field: octal text, or GNU base-256 when the high bit of its first byte is set. */
export function parseNumeric(b: Uint8Array, off: number, len: number, field: string): number {
  const first = b[off]!;
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`tar header has a negative ${field}`);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + b[off + i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`tar header ${field} is out of range`);
    }
    return v;
  }
  // Like Go: leading and trailing spaces and NULs are ignored, what is between must be octal.
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`tar header has an invalid ${field}`);
    v = v * 8 + (c - 0x30);
  }
  for (; i < end; i++) {
    if (b[i] !== 0x20 && b[i] !== 0) throw new TarFormatError(`tar header has an invalid ${field}`);
  }
  return v;
}

/** The stored checksum matches the header's bytes (unsigned, or signed as some old tars wrote it). */
export function checksumOk(b: Uint8Array): boolean {
  const stored = parseNumeric(b, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/** Whether v fits an octal field of `width` bytes (width - 1 digits and a NUL). */
export const fitsOctal = (v: number, width: number): boolean => Number.isSafeInteger(v) && v >= 0 && v < 8 ** (width - 1);

export function writeOctal(b: Uint8Array, off: number, width: number, v: number): void {
  const text = Math.max(0, Math.floor(v)).toString(8).padStart(width - 1, '0');
  for (let i = 0; i < width - 1; i++) b[off + i] = text.charCodeAt(i);
  b[off + width - 1] = 0;
}

/** GNU base-256: big-endian, the first byte's high bit marks it (for values octal cannot hold). */
export function writeBase256(b: Uint8Array, off: number, width: number, v: number): void {
  let rest = Math.floor(v);
  for (let i = width - 1; i > 0; i--) {
    b[off + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  b[off] = 0x80;
}

/** Writes s (UTF-8) into a field, cut to whole characters that fit. */
export function writeString(b: Uint8Array, off: number, len: number, s: string): void {
  const bytes = encoder.encode(s);
  let n = Math.min(bytes.length, len);
  // Never leave half a multi-byte character at the end.
  while (n > 0 && n < bytes.length && (bytes[n]! & 0xc0) === 0x80) n--;
  b.set(bytes.subarray(0, n), off);
}

export function writeChecksum(b: Uint8Array): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  const text = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) b[148 + i] = text.charCodeAt(i);
  b[154] = 0;
  b[155] = 0x20;
}

// ---------------------------------------------------------------------------
// PAX records: "<len> <key>=<value>\n", where len counts the whole record.

/** Parses an extended header; values stay bytes (xattrs are binary). An empty value deletes the key (POSIX). */
export function parsePax(buf: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  // GNU sparse 0.0 repeats offset/numbytes pairs: kept in order as a 0.1-style map, as Go does.
  const sparse: string[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // NUL padding after the last record
    const sp = buf.indexOf(0x20, pos);
    if (sp === -1 || sp - pos > 20) throw new TarFormatError('tar archive has a malformed PAX record');
    const lenText = latin1(buf, pos, sp - pos);
    if (!/^[0-9]+$/.test(lenText)) throw new TarFormatError('tar archive has a malformed PAX record length');
    const len = Number(lenText);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw new TarFormatError('tar archive has a malformed PAX record');
    }
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= end - 1) throw new TarFormatError('tar archive has a PAX record without "="');
    const key = utf8.decode(buf.subarray(sp + 1, eq));
    const value = buf.slice(eq + 1, end - 1);
    pos = end;
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      const text = utf8.decode(value);
      if ((key === 'GNU.sparse.offset') !== (sparse.length % 2 === 0) || text.includes(',')) {
        throw new TarFormatError('tar archive has a malformed GNU sparse record');
      }
      sparse.push(text);
    } else if (value.length === 0) out.delete(key);
    else out.set(key, value);
  }
  if (sparse.length > 0) out.set('GNU.sparse.map', encoder.encode(sparse.join(',')));
  return out;
}

export function paxRecord(key: string, value: string | Uint8Array): Uint8Array {
  const k = encoder.encode(` ${key}=`);
  const v = typeof value === 'string' ? encoder.encode(value) : value;
  const n = k.length + v.length + 1;
  let len = n + String(n).length;
  if (String(len).length !== String(n).length) len = n + String(len).length;
  const prefix = encoder.encode(String(len));
  return concatBytes([prefix, k, v, encoder.encode('\n')], len);
}

/** A PAX numeric value: a non-negative integer, or (times) a decimal with a fraction. */
export function paxNumber(v: Uint8Array, key: string, allowFraction: boolean): number {
  if (v.length > 64) throw new TarFormatError(`tar archive has an invalid PAX ${key} record`);
  const s = latin1(v, 0, v.length);
  const re = allowFraction ? /^-?[0-9]+(\.[0-9]+)?$/ : /^[0-9]+$/;
  const n = Number(s);
  if (!re.test(s) || !Number.isFinite(n) || (!allowFraction && !Number.isSafeInteger(n))) {
    throw new TarFormatError(`tar archive has an invalid PAX ${key} record: ${quote(s)}`);
  }
  return n;
}
