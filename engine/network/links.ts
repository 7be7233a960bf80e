/**
 * Host interfaces and network namespaces, through iproute2's `ip` (Node has no netlink).
 * Several changes go in one `ip -batch` run to keep a container start to a few process spawns.
 *
 * Namespaces are named ones (`ip netns add`, bind-mounted under /run/netns) so `ip -n` can reach
 * them and runc can join them by path; the names carry the daemon's hash, so daemons never meet.
 */
import { promises as fsp } from 'node:fs';
import { system } from '../common/errors.js';
import { runCommand } from '../common/command.js';

export const NETNS_DIR = '/run/netns';

async function ip(args: string[], input?: string): Promise<void> {
  const r = await runCommand('ip', args, input === undefined ? {} : { input });
  if (r.code !== 0) throw system(`ip ${args.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}

export async function linkExists(name: string): Promise<boolean> {
  try {
    await fsp.access(`/sys/class/net/${name}`);
    return true;
  } catch {
    return false;
  }
}

async function writeSysctl(key: string, value: string): Promise<void> {
  await fsp.writeFile(`/proc/sys/${key.replaceAll('.', '/')}`, value).catch((err: unknown) => {
    throw system(`cannot set ${key}=${value}: ${(err as Error).message}`);
  });
}

/** The host must forward IPv4 between interfaces for containers to reach anything beyond their bridge. */
export async function enableForwarding(): Promise<void> {
  const cur = await fsp.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '');
  if (cur.trim() !== '1') await writeSysctl('net.ipv4.ip_forward', '1');
}

/** Forwarding for IPv6 too, once a network with EnableIPv6 exists (as Docker does; never turned back off). */
export async function enableIpv6Forwarding(): Promise<void> {
  const cur = await fsp.readFile('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8').catch(() => '');
  if (cur.trim() !== '1') await writeSysctl('net.ipv6.conf.all.forwarding', '1');
}

/**
 * Creates (or takes over) a bridge with the gateway address and a fixed MAC, and brings it up. route_localnet
 * lets connections from 127.0.0.1 be DNATed to containers behind it (published ports on loopback).
 */
export async function ensureBridge(name: string, gatewayCidr: string, mac: string, mtu?: number, gateway6Cidr?: string): Promise<void> {
  const cmds: string[] = [];
  if (!(await linkExists(name))) cmds.push(`link add name ${name} type bridge${mtu ? ` mtu ${mtu}` : ''}`);
  // A fixed MAC: a bridge otherwise takes the lowest MAC of its ports, which changes as containers
  // come and go, and containers' ARP entries for the gateway would point at the old one.
  cmds.push(`link set ${name} address ${mac}`, `addr replace ${gatewayCidr} dev ${name}`);
  // nodad: the gateway address is ours by construction; duplicate detection would only delay it.
  if (gateway6Cidr) cmds.push(`addr replace ${gateway6Cidr} dev ${name} nodad`);
  cmds.push(`link set ${name} up`);
  await ip(['-batch', '-'], cmds.join('\n') + '\n');
  await writeSysctl(`net.ipv4.conf.${name}.route_localnet`, '1');
}

export async function deleteLink(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  const r = await runCommand('ip', ['link', 'del', name]);
  if (r.code !== 0 && (await linkExists(name))) throw system(`cannot delete interface ${name}: ${r.stderr.trim()}`);
}

export async function deleteNetns(name: string): Promise<void> {
  const r = await runCommand('ip', ['netns', 'del', name]);
  if (r.code !== 0 && (await netnsExists(name))) throw system(`cannot delete network namespace ${name}: ${r.stderr.trim()}`);
}

export async function netnsExists(name: string): Promise<boolean> {
  try {
    await fsp.access(`${NETNS_DIR}/${name}`);
    return true;
  } catch {
    return false;
  }
}

/** Names of the namespaces in /run/netns that start with `prefix`. */
export async function listNetns(prefix: string): Promise<string[]> {
  const names = await fsp.readdir(NETNS_DIR).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(prefix));
}

export interface VethSpec {
  /** Named namespace the container end goes into. */
  netns: string;
  /** Create the namespace in the same `ip` run (the container's first network). */
  newNetns?: boolean;
  /** Host end, attached to the bridge. */
  hostIf: string;
  bridge: string;
  /** Container end's name (eth0, eth1, ...). */
  ifname: string;
  address: string;
  prefixLen: number;
  mac: string;
  /** The v6 address and prefix (networks with EnableIPv6). */
  address6?: string;
  prefixLen6?: number;
  /** Extra link-local addresses (169.254.0.0/16 or fe80::/64). */
  linkLocal?: string[];
  /** Default route through this gateway (and the v6 one): the endpoint that carries the namespace's default route. */
  gateway?: string;
  gateway6?: string;
  mtu?: number;
}

/** A veth pair: one end on the bridge, the other configured inside the namespace. */
export async function addVeth(v: VethSpec): Promise<void> {
  const mtu = v.mtu ? ` mtu ${v.mtu}` : '';
  const outside = `link add ${v.hostIf}${mtu} type veth peer name ${v.ifname}${mtu} netns ${v.netns}\nlink set ${v.hostIf} master ${v.bridge} up\n`;
  if (v.newNetns) {
    try {
      await ip(['-batch', '-'], `netns add ${v.netns}\n${outside}`);
    } catch (err) {
      // A namespace left by a crash under the same name: start over with a fresh one.
      if (!(await netnsExists(v.netns))) throw err;
      await deleteNetns(v.netns);
      await ip(['-batch', '-'], `netns add ${v.netns}\n${outside}`);
    }
  } else {
    await ip(['-batch', '-'], outside);
  }
  const inside = [
    'link set lo up',
    `link set ${v.ifname} address ${v.mac}`,
    `addr add ${v.address}/${v.prefixLen} dev ${v.ifname}`,
    ...(v.address6 ? [`addr add ${v.address6}/${v.prefixLen6 ?? 64} dev ${v.ifname} nodad`] : []),
    ...(v.linkLocal ?? []).map((a) => `addr add ${a}/${a.includes(':') ? 64 : 16} dev ${v.ifname}${a.includes(':') ? ' nodad' : ''}`),
    `link set ${v.ifname} up`,
    ...(v.gateway ? [`route replace default via ${v.gateway} dev ${v.ifname}`] : []),
    ...(v.gateway6 ? [`route replace default via ${v.gateway6} dev ${v.ifname}`] : []),
  ];
  try {
    await ip(['-n', v.netns, '-batch', '-'], inside.join('\n') + '\n');
  } catch (err) {
    await deleteLink(v.hostIf).catch(() => undefined);
    throw err;
  }
}

/** Points the namespace's default route(s) at another interface (its first one was disconnected). */
export async function setDefaultRoute(netns: string, ifname: string, gateway: string, gateway6?: string): Promise<void> {
  const cmds = [`route replace default via ${gateway} dev ${ifname}`, ...(gateway6 ? [`route replace default via ${gateway6} dev ${ifname}`] : [])];
  await ip(['-n', netns, '-batch', '-'], cmds.join('\n') + '\n');
}

/** Byte and packet counters of the interfaces in a namespace (docker stats' "networks"). */
export async function interfaceCounters(netns: string): Promise<Record<string, Record<string, number>>> {
  const r = await runCommand('ip', ['-n', netns, '-s', '-j', 'link', 'show']);
  if (r.code !== 0) return {};
  const out: Record<string, Record<string, number>> = {};
  for (const l of JSON.parse(r.stdout) as { ifname: string; stats64?: { rx: Record<string, number>; tx: Record<string, number> } }[]) {
    if (l.ifname === 'lo' || !l.stats64) continue;
    const { rx, tx } = l.stats64;
    out[l.ifname] = {
      rx_bytes: rx['bytes'] ?? 0,
      rx_packets: rx['packets'] ?? 0,
      rx_errors: rx['errors'] ?? 0,
      rx_dropped: rx['dropped'] ?? 0,
      tx_bytes: tx['bytes'] ?? 0,
      tx_packets: tx['packets'] ?? 0,
      tx_errors: tx['errors'] ?? 0,
      tx_dropped: tx['dropped'] ?? 0,
    };
  }
  return out;
}

/** IPv4 subnets the host already routes or has addresses in (subnet choice must avoid them). */
export async function hostSubnets(): Promise<string[]> {
  const out: string[] = [];
  const routes = await runCommand('ip', ['-j', '-4', 'route', 'show', 'table', 'all']);
  if (routes.code === 0) {
    for (const r of JSON.parse(routes.stdout) as { dst?: string; type?: string }[]) {
      if (!r.dst || r.dst === 'default' || r.type === 'broadcast' || r.type === 'local') continue;
      out.push(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    }
  }
  const addrs = await runCommand('ip', ['-j', '-4', 'addr', 'show']);
  if (addrs.code === 0) {
    for (const l of JSON.parse(addrs.stdout) as { addr_info?: { local?: string; prefixlen?: number }[] }[]) {
      for (const a of l.addr_info ?? []) if (a.local && a.prefixlen !== undefined && !a.local.startsWith('127.')) out.push(`${a.local}/${a.prefixlen}`);
    }
  }
  return out;
}

/**
 * Runs `fn` holding a host-wide lock (a directory under /run, which mkdir creates atomically):
 * daemons starting side by side pick their subnets one after the other, each seeing the
 * bridges the others made. A lock older than `staleMs` was left by a crash and is broken.
 */
export async function withHostLock<T>(name: string, fn: () => Promise<T>, staleMs = 15_000): Promise<T> {
  const dir = `/run/${name}.lock`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await fsp.mkdir(dir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await fsp.stat(dir).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > staleMs) {
        await fsp.rmdir(dir).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw system(`timed out waiting for the host lock ${dir}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rmdir(dir).catch(() => undefined);
  }
}
