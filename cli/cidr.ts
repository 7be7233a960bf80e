/**
 * IPv4/IPv6 addresses and CIDR prefixes as numbers, for the checks `network create` makes
 * before it asks the engine: which subnet a gateway or an IP range belongs to, and whether
 * two subnets overlap.
 */
import { isIP } from 'node:net';

export interface Cidr {
  /** The address as written (host bits may be set). */
  addr: bigint;
  prefix: number;
  /** 32 or 128. */
  width: number;
}

/** An address as a number with its width, or undefined. */
export function parseIp(text: string): { value: bigint; width: number } | undefined {
  const family = isIP(text);
  if (family === 4) {
    return { value: text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n), width: 32 };
  }
  if (family !== 6 || text.includes('%')) return undefined;
  let s = text;
  // A trailing dotted IPv4 part ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = parseIp(v4[1] as string)?.value ?? 0n;
    s = `${s.slice(0, -(v4[1] as string).length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n), width: 128 };
}

/** "10.1.0.0/16" → address, prefix, width; undefined if it is not a CIDR. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const p = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p) || Number(p) > ip.width) return undefined;
  return { addr: ip.value, prefix: Number(p), width: ip.width };
}

/** Whether `ip` (an address of the same family) is inside `net`. */
export function cidrContains(net: Cidr, ip: { value: bigint; width: number }): boolean {
  if (net.width !== ip.width) return false;
  const shift = BigInt(net.width - net.prefix);
  return net.addr >> shift === ip.value >> shift;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, { value: b.addr, width: b.width }) || cidrContains(b, { value: a.addr, width: a.width });
}
