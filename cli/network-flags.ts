/**
 * The networking flags of `run`/`create` turned into the create body's pieces, as the docker
 * CLI (API >= 1.44) builds them: `--network` (repeatable, plain `NAME` or the advanced
 * `name=NAME,alias=A,ip=IP,...` form), and the container-wide `--network-alias`, `--ip`,
 * `--ip6`, `--link`, `--mac-address` that apply to the first network. Without `--network` the
 * container gets a "default" endpoint (always sent); with one network and nothing to say about
 * it, no endpoint is sent (the daemon makes it). `--link` is container-wide (HostConfig.Links)
 * and, on a named network, also an endpoint alias. Also the checks docker makes before sending:
 * --dns, --add-host and --mac-address values.
 */
import { isIP } from 'node:net';
import type { EndpointSettings } from '../types/engine-api.js';
import type { ParsedArgs } from './args.js';
import { UsageError } from './args.js';

interface Attachment {
  target: string;
  aliases: string[];
  links: string[];
  ipv4?: string;
  ipv6?: string;
  linkLocalIPs: string[];
  mac?: string;
  driverOpts: Record<string, string>;
}

export interface Networking {
  /** HostConfig.NetworkMode: the first network, or "default". */
  networkMode: string;
  /** NetworkingConfig.EndpointsConfig. */
  endpoints: Record<string, EndpointSettings>;
  /** HostConfig.Links. */
  links: string[];
}

/** Modes that are not user-defined networks (docker's NetworkMode.IsUserDefined). */
export function isUserDefinedNetwork(mode: string): boolean {
  return !['default', 'bridge', 'host', 'none'].includes(mode) && !mode.startsWith('container:');
}

/** `--network NAME` or `--network name=NAME,alias=A,ip=IP,ip6=IP,mac-address=M,link-local-ip=IP,driver-opt=K=V`. */
export function parseNetworkFlag(value: string): Attachment {
  const a: Attachment = { target: value, aliases: [], links: [], linkLocalIPs: [], driverOpts: {} };
  if (!value.includes('=')) return a;
  a.target = '';
  const bad = (msg: string): UsageError => new UsageError(`invalid argument "${value}" for "--network" flag: ${msg}`);
  for (const field of value.split(',')) {
    const eq = field.indexOf('=');
    if (eq <= 0) throw bad(`invalid field ${field}`);
    const key = field.slice(0, eq).toLowerCase();
    const v = field.slice(eq + 1);
    switch (key) {
      case 'name':
        a.target = v;
        break;
      case 'alias':
        a.aliases.push(v);
        break;
      case 'ip':
        a.ipv4 = v;
        break;
      case 'ip6':
        a.ipv6 = v;
        break;
      case 'mac-address':
        a.mac = v;
        break;
      case 'link-local-ip':
        a.linkLocalIPs.push(v);
        break;
      case 'driver-opt': {
        const kv = v.indexOf('=');
        if (kv <= 0) throw bad(`invalid key value pair format in driver options`);
        a.driverOpts[v.slice(0, kv)] = v.slice(kv + 1);
        break;
      }
      default:
        throw bad(`invalid field key ${key}`);
    }
  }
  if (a.target === '') throw bad('network name not specified');
  return a;
}

function endpointOf(a: Attachment): EndpointSettings {
  const ep: EndpointSettings = {};
  if (a.ipv4 || a.ipv6 || a.linkLocalIPs.length > 0) {
    ep.IPAMConfig = {
      ...(a.ipv4 ? { IPv4Address: a.ipv4 } : {}),
      ...(a.ipv6 ? { IPv6Address: a.ipv6 } : {}),
      ...(a.linkLocalIPs.length > 0 ? { LinkLocalIPs: a.linkLocalIPs } : {}),
    };
  }
  if (a.links.length > 0) ep.Links = a.links;
  if (a.aliases.length > 0) ep.Aliases = a.aliases;
  if (a.mac) ep.MacAddress = a.mac;
  if (Object.keys(a.driverOpts).length > 0) ep.DriverOpts = a.driverOpts;
  return ep;
}

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;

/** The container-wide flags, applied to the first network (conflicts with per-network values refused). */
function applyContainerWide(n: Attachment, f: { aliases: string[]; links: string[]; ipv4?: string; ipv6?: string; mac?: string }): void {
  const conflict = (what: string, per: string): UsageError => new UsageError(`conflicting options: cannot specify both ${what} and per-network ${per}`);
  if (f.aliases.length > 0) {
    if (n.aliases.length > 0) throw conflict('--network-alias', 'alias');
    n.aliases = [...f.aliases];
  }
  if (f.links.length > 0 && n.target !== 'default') {
    if (n.links.length > 0) throw conflict('--link', 'links');
    n.links = [...f.links];
  }
  if (f.ipv4) {
    if (n.ipv4) throw conflict('--ip', 'IPv4 address');
    n.ipv4 = f.ipv4;
  }
  if (f.ipv6) {
    if (n.ipv6) throw conflict('--ip6', 'IPv6 address');
    n.ipv6 = f.ipv6;
  }
  if (f.mac) {
    if (n.mac) throw conflict('--mac-address', 'MAC address');
    n.mac = f.mac;
  }
}

/** `--link name[:alias]`. */
function checkLink(link: string): string {
  if (link === '' || link.split(':').length > 2) throw new UsageError(`invalid argument "${link}" for "--link" flag: bad format for links: ${link}`);
  return link;
}

export function buildNetworking(a: ParsedArgs): Networking {
  const attachments = [...a.list('network'), ...a.list('net')].map(parseNetworkFlag);
  const mac = a.string('mac-address');
  if (mac !== undefined && !MAC.test(mac)) throw new UsageError(`${mac} is not a valid mac address`);
  const wide = {
    aliases: [...a.list('network-alias'), ...a.list('net-alias')],
    links: a.list('link').map(checkLink),
    ...(a.string('ip') ? { ipv4: a.string('ip') } : {}),
    ...(a.string('ip6') ? { ipv6: a.string('ip6') } : {}),
    ...(mac ? { mac } : {}),
  };
  const networkMode = attachments[0]?.target ?? 'default';
  if (wide.aliases.length > 0 && !isUserDefinedNetwork(networkMode)) {
    throw new UsageError('network-scoped aliases are only supported for user-defined networks');
  }

  const endpoints: Record<string, EndpointSettings> = {};
  if (attachments.length === 0) {
    const n = parseNetworkFlag('default');
    applyContainerWide(n, wide);
    endpoints['default'] = endpointOf(n);
  }
  let userDefined = false;
  let builtin = false;
  attachments.forEach((n, i) => {
    if (isUserDefinedNetwork(n.target)) userDefined = true;
    else builtin = true;
    if (i === 0) applyContainerWide(n, wide);
    const ep = endpointOf(n);
    if (n.target in endpoints) throw new UsageError(`network "${n.target}" is specified multiple times`);
    if (i === 0 && attachments.length === 1 && Object.keys(ep).length === 0) return;
    endpoints[n.target] = ep;
  });
  if (userDefined && builtin) throw new UsageError('conflicting options: cannot attach both user-defined and non-user-defined network-modes');
  return { networkMode, endpoints, links: wide.links };
}

/** `--dns IP`: docker refuses anything that is not an address. */
export function checkDns(values: readonly string[]): string[] {
  for (const v of values) {
    if (!isIP(v)) throw new UsageError(`invalid argument "${v}" for "--dns" flag: IP address is not correctly formatted: ${v}`);
  }
  return [...values];
}

/** `--add-host host:ip` or `host=ip` (ip may be "host-gateway") → "host:ip". */
export function parseExtraHost(value: string): string {
  const eq = value.indexOf('=');
  const sep = eq >= 0 ? eq : value.indexOf(':');
  const flag = `invalid argument "${value}" for "--add-host" flag`;
  if (sep <= 0) throw new UsageError(`${flag}: bad format for add-host: "${value}"`);
  const host = value.slice(0, sep);
  const ip = value.slice(sep + 1);
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (ip !== 'host-gateway' && !isIP(bare)) throw new UsageError(`${flag}: invalid IP address in add-host: "${ip}"`);
  return `${host}:${ip}`;
}
