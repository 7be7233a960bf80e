/**
 * Writing tar: header blocks for an entry (ustar, with a PAX record before it when a name, link
 * target, size, id or time does not fit, or is not ASCII, as Go's archive/tar does), and entries
 * as a stream of chunks whose bodies are cut or zero-padded to the size the header announced, so
 * an archive stays well-formed even when a file changes while it is read.
 */
import type { TarHeader } from './entry.js';
import { TarFormatError } from './entry.js';
import {
  BLOCK,
  ZERO_BLOCK,
  blockPadding,
  concatBytes,
  encodeUtf8,
  fitsOctal,
  paxRecord,
  quote,
  writeBase256,
  writeChecksum,
  writeOctal,
  writeString,
} from './fields.js';

const TYPEFLAG: Record<TarHeader['type'], string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const ZEROS = new Uint8Array(BLOCK * 128);

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(BLOCK * 2);

/** Zero bytes that pad a body of `size` bytes to a whole block. */
export const tarPadding = (size: number): Uint8Array => ZERO_BLOCK.subarray(0, blockPadding(size));

const isPlainAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

/** ustar's prefix/name split of a long ASCII path, or undefined when it does not fit. */
function splitUstar(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  if (name.length > 256) return undefined;
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, name: rest };
    if (prefix.length > 155) break;
  }
  return undefined;
}

interface Block {
  name: string;
  prefix: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function headerBlock(f: Block): Uint8Array {
  const b = new Uint8Array(BLOCK);
  writeString(b, 0, 100, f.name);
  writeOctal(b, 100, 8, f.mode & 0o7777);
  writeOctal(b, 108, 8, fitsOctal(f.uid, 8) ? f.uid : 0);
  writeOctal(b, 116, 8, fitsOctal(f.gid, 8) ? f.gid : 0);
  writeOctal(b, 124, 12, fitsOctal(f.size, 12) ? f.size : 0);
  writeOctal(b, 136, 12, fitsOctal(Math.floor(f.mtime), 12) ? f.mtime : 0);
  b[156] = f.typeflag.charCodeAt(0);
  writeString(b, 157, 100, f.linkname);
  writeString(b, 257, 8, 'ustar\x0000');
  // Device numbers have no PAX record: GNU base-256 holds the large ones, as Go writes them.
  if (fitsOctal(f.devmajor, 8)) writeOctal(b, 329, 8, f.devmajor);
  else writeBase256(b, 329, 8, f.devmajor);
  if (fitsOctal(f.devminor, 8)) writeOctal(b, 337, 8, f.devminor);
  else writeBase256(b, 337, 8, f.devminor);
  writeString(b, 345, 155, f.prefix);
  writeChecksum(b);
  return b;
}

/** The header block(s) of one entry; its body and tarPadding(size) follow. */
export function encodeHeader(h: TarHeader): Uint8Array {
  if (!(h.type in TYPEFLAG)) throw new TarFormatError(`cannot write tar entry ${quote(h.name)}: unsupported type ${quote(String(h.type))}`);
  const name = h.type === 'dir' && h.name !== '' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const linkname = h.linkname ?? '';
  const size = h.type === 'file' ? h.size : 0;
  const split = isPlainAscii(name) ? splitUstar(name) : undefined;
  const records: Uint8Array[] = [];
  if (!split) records.push(paxRecord('path', name));
  if (linkname.length > 100 || !isPlainAscii(linkname)) records.push(paxRecord('linkpath', linkname));
  if (!fitsOctal(size, 12)) records.push(paxRecord('size', String(size)));
  if (!fitsOctal(h.uid, 8)) records.push(paxRecord('uid', String(h.uid)));
  if (!fitsOctal(h.gid, 8)) records.push(paxRecord('gid', String(h.gid)));
  if (!fitsOctal(Math.floor(h.mtime), 12)) records.push(paxRecord('mtime', String(Math.floor(h.mtime))));
  for (const [key, value] of h.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${key}`, value));
  const main = headerBlock({
    // Readers take the PAX path; the field keeps what fits, for those that do not.
    name: split ? split.name : name.slice(0, 100),
    prefix: split ? split.prefix : '',
    typeflag: TYPEFLAG[h.type],
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size,
    mtime: h.mtime,
    linkname: linkname.length > 100 ? '' : linkname,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (records.length === 0) return main;
  const pax = concatBytes(records);
  const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
  const paxHeader = headerBlock({
    name: `PaxHeaders.0/${base.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100),
    prefix: '',
    typeflag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: pax.length,
    mtime: fitsOctal(Math.floor(h.mtime), 12) ? h.mtime : 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return concatBytes([paxHeader, pax, tarPadding(pax.length), main]);
}

export type BodySource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * One entry as chunks: its header, exactly `size` bytes of body (a longer body is cut, a
 * shorter one padded with zeros) and the padding to the next block.
 */
export async function* entryChunks(h: TarHeader, body?: BodySource): AsyncGenerator<Uint8Array> {
  yield encodeHeader(h);
  if (h.type !== 'file' || h.size === 0) return;
  let written = 0;
  if (body) {
    for await (const chunk of body) {
      const room = h.size - written;
      if (room <= 0) break;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      if (part.length > 0) yield part;
      written += part.length;
    }
  }
  while (written < h.size) {
    const n = Math.min(ZEROS.length, h.size - written);
    yield ZEROS.subarray(0, n);
    written += n;
  }
  const pad = tarPadding(h.size);
  if (pad.length > 0) yield pad;
}

/** A whole archive from entries, end-of-archive marker included. */
export async function* packEntries(entries: AsyncIterable<{ header: TarHeader; body?: BodySource }> | Iterable<{ header: TarHeader; body?: BodySource }>): AsyncGenerator<Uint8Array> {
  for await (const e of entries) yield* entryChunks(e.header, e.body);
  yield END_OF_ARCHIVE;
}

/** A small archive in one piece (tests, one-file uploads). */
export function tarBytes(entries: { header: TarHeader; data?: Uint8Array | string }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { header, data } of entries) {
    const body = typeof data === 'string' ? encodeUtf8(data) : (data ?? new Uint8Array(0));
    const h = header.type === 'file' ? { ...header, size: body.length } : header;
    parts.push(encodeHeader(h));
    if (h.type === 'file' && body.length > 0) parts.push(body, tarPadding(body.length));
  }
  parts.push(END_OF_ARCHIVE);
  return concatBytes(parts);
}
