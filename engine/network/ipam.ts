/**
 * IPv4 address management for bridge networks: CIDR arithmetic, choosing a subnet nobody on the
 * host uses (Docker's default pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s), and handing
 * out container addresses inside a subnet or an --ip-range.
 *
 * Pure code: the host's routes and the other networks' subnets come in as arguments.
 */
import { conflict, invalid } from '../common/errors.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw invalid(`invalid IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw invalid(`invalid IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function isIPv4(ip: string): boolean {
  try {
    ipToInt(ip);
    return true;
  } catch {
    return false;
  }
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "172.18.0.0/16" → Cidr; host bits are cleared ("172.18.0.5/16" is the same network). IPv6 is refused. */
export function parseCidr(text: string): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) {
    if (text.includes(':')) throw invalid(`IPv6 subnets are not supported: ${text}`);
    throw invalid(`invalid CIDR address: ${text}`);
  }
  const prefix = Number(m[2]);
  if (prefix > 32) throw invalid(`invalid CIDR address: ${text}`);
  return { base: (ipToInt(m[1] as string) & mask(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** Docker's default address pools, in the order it tries them. */
export function defaultPoolSubnets(): Cidr[] {
  const out: Cidr[] = [];
  for (let i = 17; i <= 31; i++) out.push({ base: ipToInt(`172.${i}.0.0`), prefix: 16 });
  for (let i = 0; i < 256; i += 16) out.push({ base: ipToInt(`192.168.${i}.0`), prefix: 20 });
  return out;
}

/** The first default-pool subnet that overlaps nothing in `used`; 409-style error when all are taken. */
export function pickSubnet(used: readonly Cidr[]): Cidr {
  for (const c of defaultPoolSubnets()) {
    if (!used.some((u) => overlaps(u, c))) return c;
  }
  throw conflict('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}

/**
 * The addresses of one network: the gateway and every container address are reserved here.
 * Allocation walks forward from the last address handed out (as Docker does) so a freed address
 * is not reused at once.
 */
export class AddressPool {
  private readonly taken = new Set<number>();
  private readonly first: number;
  private readonly last: number;
  private next: number;

  constructor(
    readonly subnet: Cidr,
    readonly gateway: number,
    range?: Cidr,
  ) {
    const r = range ?? subnet;
    if (range && !(contains(subnet, range.base) && range.prefix >= subnet.prefix)) {
      throw invalid(`ip-range ${formatCidr(range)} is not within the subnet ${formatCidr(subnet)}`);
    }
    // Network and broadcast addresses are never handed out (a /31 or /32 has none to spare).
    const lo = Math.max(r.base, subnet.base + 1);
    const hi = Math.min(r.base + cidrSize(r) - 1, subnet.base + cidrSize(subnet) - 2);
    if (hi < lo) throw invalid(`subnet ${formatCidr(subnet)} has no room for containers`);
    this.first = lo;
    this.last = hi;
    this.next = lo;
    this.taken.add(gateway);
  }

  /** Reserves `ip` (a static --ip) or the next free address. */
  allocate(ip?: string): string {
    if (ip !== undefined) {
      const n = ipToInt(ip);
      if (!contains(this.subnet, n)) throw invalid(`Address ${ip} does not belong to the subnet ${formatCidr(this.subnet)}`);
      if (n === this.subnet.base || n === this.subnet.base + cidrSize(this.subnet) - 1 || n === this.gateway) {
        throw invalid(`Address ${ip} cannot be assigned: it is the network, broadcast or gateway address`);
      }
      if (this.taken.has(n)) throw conflict(`Address already in use: ${ip}`);
      this.taken.add(n);
      return ip;
    }
    const span = this.last - this.first + 1;
    for (let i = 0; i < span; i++) {
      const n = this.first + ((this.next - this.first + i) % span);
      if (!this.taken.has(n)) {
        this.taken.add(n);
        this.next = n + 1 > this.last ? this.first : n + 1;
        return intToIp(n);
      }
    }
    throw conflict(`no available IPv4 addresses on the network's subnet ${formatCidr(this.subnet)}`);
  }

  /** Marks an address as used without the checks (restoring state after a restart). */
  reserve(ip: string): void {
    this.taken.add(ipToInt(ip));
  }

  release(ip: string): void {
    const n = ipToInt(ip);
    if (n !== this.gateway) this.taken.delete(n);
  }

  inUse(): number {
    return this.taken.size - 1;
  }
}

/** Docker's MAC for a container address: 02:42 followed by the four address bytes. */
export function macForIp(ip: string): string {
  const n = ipToInt(ip);
  return ['02', '42', ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function validMac(mac: string): boolean {
  return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0;
}
