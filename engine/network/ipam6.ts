/**
 * IPv6 address management for bridge networks with EnableIPv6: 128-bit arithmetic on bigints,
 * the canonical text form (RFC 5952, as Go's netip prints it, so inspect output matches Docker's),
 * a unique-local /64 for a v6 network created without a subnet, and the address pool of one
 * network's v6 subnet or --ip-range.
 *
 * Pure code, like ipam.ts (the IPv4 side).
 */
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { conflict, invalid } from '../common/errors.js';

export interface Cidr6 {
  base: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

function mask6(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
}

export function isIp6(text: string): boolean {
  return isIPv6(text);
}

export function ip6ToBig(text: string): bigint {
  if (!isIPv6(text) || text.includes('%')) throw invalid(`invalid IPv6 address: ${text}`);
  let s = text;
  // A trailing dotted quad (::ffff:1.2.3.4) is two 16-bit groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, quad.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head = '', tail] = s.split('::') as [string, string | undefined];
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16));
  return n;
}

/** RFC 5952: lower case, no leading zeros, the longest run (two or more) of zero groups as "::". */
export function bigToIp6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** "2001:db8::/64" → Cidr6 (host bits cleared). */
export function parseCidr6(text: string): Cidr6 {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(text.trim());
  const prefix = Number(m?.[2]);
  if (!m || !isIPv6(m[1] as string) || prefix > 128) throw invalid(`invalid CIDR address: ${text}`);
  return { base: ip6ToBig(m[1] as string) & mask6(prefix), prefix };
}

export function formatCidr6(c: Cidr6): string {
  return `${bigToIp6(c.base)}/${c.prefix}`;
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & mask6(c.prefix)) === c.base;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const m = mask6(Math.min(a.prefix, b.prefix));
  return (a.base & m) === (b.base & m);
}

/** A random unique-local /64 (fd00::/8, RFC 4193) that overlaps nothing in `used`. */
export function pickUla64(used: readonly Cidr6[]): Cidr6 {
  for (let i = 0; i < 64; i++) {
    const bits = randomBytes(7);
    let n = 0xfdn;
    for (const b of bits) n = (n << 8n) | BigInt(b);
    const c = { base: n << 64n, prefix: 64 };
    if (!used.some((u) => overlaps6(u, c))) return c;
  }
  throw conflict('could not find an available, non-overlapping IPv6 address pool');
}

/**
 * The v6 addresses of one network: the gateway and every container address are reserved here.
 * Like the IPv4 pool, allocation walks forward so a freed address is not reused at once; the
 * subnet-router anycast address (the subnet's first) is never handed out.
 */
export class AddressPool6 {
  private readonly taken = new Set<bigint>();
  private readonly first: bigint;
  private readonly last: bigint;
  private next: bigint;

  constructor(
    readonly subnet: Cidr6,
    readonly gateway: bigint,
    range?: Cidr6,
  ) {
    const r = range ?? subnet;
    if (range && !(contains6(subnet, range.base) && range.prefix >= subnet.prefix)) {
      throw invalid(`ip-range ${formatCidr6(range)} is not within the subnet ${formatCidr6(subnet)}`);
    }
    const size = (c: Cidr6): bigint => 1n << BigInt(128 - c.prefix);
    this.first = r.base > subnet.base ? r.base : subnet.base + 1n;
    this.last = r.base + size(r) - 1n;
    if (this.last < this.first) throw invalid(`subnet ${formatCidr6(subnet)} has no room for containers`);
    this.next = this.first;
    this.taken.add(gateway);
  }

  allocate(ip?: string): string {
    if (ip !== undefined) {
      const n = ip6ToBig(ip);
      if (!contains6(this.subnet, n)) throw invalid(`Address ${ip} does not belong to the subnet ${formatCidr6(this.subnet)}`);
      if (n === this.subnet.base || n === this.gateway) throw invalid(`Address ${ip} cannot be assigned: it is the subnet's or the gateway's address`);
      if (this.taken.has(n)) throw conflict(`Address already in use: ${ip}`);
      this.taken.add(n);
      return bigToIp6(n);
    }
    // Bounded: the pool holds at most the containers of one daemon, so a free address is near.
    for (let n = this.next, tries = 0; tries < 1 << 20; tries++) {
      if (!this.taken.has(n)) {
        this.taken.add(n);
        this.next = n >= this.last ? this.first : n + 1n;
        return bigToIp6(n);
      }
      n = n >= this.last ? this.first : n + 1n;
    }
    throw conflict(`no available IPv6 addresses on the network's subnet ${formatCidr6(this.subnet)}`);
  }

  reserve(ip: string): void {
    this.taken.add(ip6ToBig(ip));
  }

  release(ip: string): void {
    const n = ip6ToBig(ip);
    if (n !== this.gateway) this.taken.delete(n);
  }
}
