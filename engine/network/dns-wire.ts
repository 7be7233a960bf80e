/**
 * The DNS wire format (RFC 1035), as much of it as the embedded resolver needs:
 * reading a query's header, its one question (names with compression pointers,
 * loops refused) and its EDNS OPT record (RFC 6891, for the client's UDP size),
 * and writing answers (A, PTR) and empty or error replies. Every packet comes
 * from a container and is treated as hostile: parsing never throws, it returns
 * undefined, and the caller drops the packet.
 */

export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NOTIMP = 4;

const HEADER_LEN = 12;
const MAX_NAME_LEN = 255;
const MAX_LABEL_LEN = 63;
/** More pointers than a 255-byte name can legitimately need: a loop. */
const MAX_POINTERS = 64;
/** The UDP payload every client accepts (RFC 1035 4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** Our cap on an EDNS client's advertised size (DNS flag day 2020 recommends 1232; 4096 is common). */
const MAX_UDP_SIZE = 4096;

export interface DnsHeader {
  id: number;
  /** QR bit: true for a response. */
  response: boolean;
  opcode: number;
  /** RD: the client wants recursion. */
  recursionDesired: boolean;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface DnsQuestion {
  /** Lower-cased (ASCII only), without the trailing dot; "" for the root. Bytes that are not
   *  plain hostname characters are escaped as \DDD and dots inside a label as "\.", so they can
   *  never match a record name. */
  name: string;
  type: number;
  class: number;
}

export interface DnsQuery {
  header: DnsHeader;
  question: DnsQuestion;
  /** The largest UDP reply the client accepts: 512, or its EDNS size (capped). */
  udpSize: number;
}

export function readHeader(msg: Buffer): DnsHeader | undefined {
  if (msg.length < HEADER_LEN) return undefined;
  const flags = msg.readUInt16BE(2);
  return {
    id: msg.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    recursionDesired: (flags & 0x0100) !== 0,
    qdcount: msg.readUInt16BE(4),
    ancount: msg.readUInt16BE(6),
    nscount: msg.readUInt16BE(8),
    arcount: msg.readUInt16BE(10),
  };
}

/** A label's bytes as text: ASCII letters lower-cased, anything unusual escaped. */
function labelText(msg: Buffer, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    const b = msg[i] as number;
    if (b >= 0x41 && b <= 0x5a) s += String.fromCharCode(b + 0x20);
    else if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f) s += String.fromCharCode(b);
    else if (b === 0x2e) s += '\\.';
    else s += `\\${String(b).padStart(3, '0')}`;
  }
  return s;
}

/**
 * Read a (possibly compressed) name at `offset`. Returns the name and the offset just after it
 * in the original position (after the first pointer, if any). Pointers may point anywhere in the
 * message; a chain longer than MAX_POINTERS (a loop) or a name over 255 bytes is refused.
 */
export function readName(msg: Buffer, offset: number): { name: string; next: number } | undefined {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let wireLen = 1;
  let pointers = 0;
  for (;;) {
    if (pos >= msg.length) return undefined;
    const len = msg[pos] as number;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) return undefined;
      if (++pointers > MAX_POINTERS) return undefined;
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | (msg[pos + 1] as number);
      continue;
    }
    if (kind !== 0) return undefined; // 0x40 / 0x80: extended and reserved label types
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { name: labels.join('.'), next };
    }
    if (len > MAX_LABEL_LEN || pos + 1 + len > msg.length) return undefined;
    wireLen += len + 1;
    if (wireLen > MAX_NAME_LEN) return undefined;
    labels.push(labelText(msg, pos + 1, len));
    pos += 1 + len;
  }
}

/** Skip one resource record; returns its type, class and TTL field and the offset after it. */
function readRecordHead(msg: Buffer, offset: number): { type: number; klass: number; next: number } | undefined {
  const name = readName(msg, offset);
  if (!name || name.next + 10 > msg.length) return undefined;
  const p = name.next;
  const rdlen = msg.readUInt16BE(p + 8);
  if (p + 10 + rdlen > msg.length) return undefined;
  return { type: msg.readUInt16BE(p), klass: msg.readUInt16BE(p + 2), next: p + 10 + rdlen };
}

/**
 * Parse a query: a header that is not a response and exactly one question. The other sections
 * are only read to find an EDNS OPT record; one that does not parse leaves the client at 512.
 * Returns undefined for anything malformed, and for qdcount != 1 (the server answers those
 * with FORMERR from the header alone).
 */
export function parseQuery(msg: Buffer): DnsQuery | undefined {
  const header = readHeader(msg);
  if (!header || header.response || header.qdcount !== 1) return undefined;
  const q = readName(msg, HEADER_LEN);
  if (!q || q.next + 4 > msg.length) return undefined;
  const question: DnsQuestion = { name: q.name, type: msg.readUInt16BE(q.next), class: msg.readUInt16BE(q.next + 2) };
  let udpSize = CLASSIC_UDP_SIZE;
  let pos = q.next + 4;
  const records = header.ancount + header.nscount + header.arcount;
  for (let i = 0; i < records; i++) {
    const rr = readRecordHead(msg, pos);
    if (!rr) break;
    if (rr.type === TYPE_OPT && i >= header.ancount + header.nscount) {
      udpSize = Math.min(MAX_UDP_SIZE, Math.max(CLASSIC_UDP_SIZE, rr.klass));
    }
    pos = rr.next;
  }
  return { header, question, udpSize };
}

/** A name in wire form (no compression). Undefined if a label is empty or too long, or the name is. */
export function encodeName(name: string): Buffer | undefined {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of trimmed.split('.')) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0 || bytes.length > MAX_LABEL_LEN) return undefined;
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  return out.length > MAX_NAME_LEN ? undefined : out;
}

export interface ReplyOptions {
  rcode: number;
  /** AA: we are the authority for this name (container names). */
  authoritative: boolean;
  /** Answers' RDATA, all of the question's type, with `ttl`; the owner is the question's name. */
  answers?: Buffer[];
  ttl?: number;
  /** Largest message size (UDP); answers that do not fit are left out and TC is set. */
  maxSize?: number;
}

/**
 * A reply to `query` echoing its ID, RD and question (re-encoded from the raw bytes of the
 * question section so the client sees the exact case it asked with), with RA set: the server
 * recurses for clients by forwarding.
 */
export function buildReply(raw: Buffer, query: DnsQuery, o: ReplyOptions): Buffer {
  const qEnd = questionEnd(raw);
  // The question as the client sent it, pointers resolved: copy the name as labels.
  const qname = questionWire(raw) ?? Buffer.from([0]);
  const question = Buffer.concat([qname, raw.subarray(qEnd - 4, qEnd)]);
  const answers = o.answers ?? [];
  const maxSize = o.maxSize ?? Number.MAX_SAFE_INTEGER;
  const parts: Buffer[] = [];
  let size = HEADER_LEN + question.length;
  let truncated = false;
  for (const rdata of answers) {
    // Owner is a pointer to the question name at offset 12.
    const rr = Buffer.alloc(12 + rdata.length);
    rr.writeUInt16BE(0xc000 | HEADER_LEN, 0);
    rr.writeUInt16BE(query.question.type, 2);
    rr.writeUInt16BE(query.question.class, 4);
    rr.writeUInt32BE(o.ttl ?? 0, 6);
    rr.writeUInt16BE(rdata.length, 10);
    rdata.copy(rr, 12);
    if (size + rr.length > maxSize) {
      truncated = true;
      break;
    }
    parts.push(rr);
    size += rr.length;
  }
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16BE(query.header.id, 0);
  let flags = 0x8000 | (query.header.opcode << 11) | 0x0080 | (o.rcode & 0xf);
  if (o.authoritative) flags |= 0x0400;
  if (truncated) flags |= 0x0200;
  if (query.header.recursionDesired) flags |= 0x0100;
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(parts.length, 6);
  return Buffer.concat([header, question, ...parts]);
}

/**
 * A bare error reply (FORMERR, NOTIMP, SERVFAIL) to a message whose question could not be used:
 * the header with QR, the client's ID and opcode, no sections.
 */
export function buildHeaderOnlyReply(header: DnsHeader, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_LEN);
  out.writeUInt16BE(header.id, 0);
  let flags = 0x8000 | ((header.opcode & 0xf) << 11) | 0x0080 | (rcode & 0xf);
  if (header.recursionDesired) flags |= 0x0100;
  out.writeUInt16BE(flags, 2);
  return out;
}

/** Offset just after the first question (the message was already validated by parseQuery). */
function questionEnd(raw: Buffer): number {
  const q = readName(raw, HEADER_LEN);
  return q ? q.next + 4 : raw.length;
}

/** The first question's name in uncompressed wire form, original case kept. */
function questionWire(raw: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = HEADER_LEN;
  for (let hops = 0; hops <= MAX_POINTERS && pos < raw.length; ) {
    const len = raw[pos] as number;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= raw.length) return undefined;
      pos = ((len & 0x3f) << 8) | (raw[pos + 1] as number);
      hops++;
      continue;
    }
    if (len === 0) {
      parts.push(Buffer.from([0]));
      return Buffer.concat(parts);
    }
    parts.push(raw.subarray(pos, pos + 1 + len));
    pos += 1 + len;
  }
  return undefined;
}

/** RDATA of an A record. */
export function aRecord(ip: string): Buffer | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4"; undefined for anything else (partial, IPv6, junk). */
export function ptrNameToIPv4(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m) return undefined;
  const octets = [m[4], m[3], m[2], m[1]] as string[];
  if (octets.some((o) => (o.length > 1 && o.startsWith('0')) || Number(o) > 255)) return undefined;
  return octets.join('.');
}

/** Replace a message's ID (forwarding uses its own IDs upstream and restores the client's). */
export function withId(msg: Buffer, id: number): Buffer {
  const out = Buffer.from(msg);
  out.writeUInt16BE(id, 0);
  return out;
}
