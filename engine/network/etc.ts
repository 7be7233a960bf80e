/**
 * The /etc/hosts and /etc/resolv.conf a container gets, as Docker writes them: localhost
 * entries, the container's own address and name, --add-host and --link entries; nameservers
 * from --dns, else the embedded DNS on user networks, else the host's (loopback resolvers such as
 * systemd-resolved's stub cannot be reached from a container's namespace, so they are left out).
 */
import { invalid } from '../common/errors.js';
import { isIPv4 } from './ipam.js';

export { parseResolvConf } from './dns.js';

export interface HostsInput {
  hostname: string;
  domainname?: string;
  /** The container's address on its first network; absent for none/host. */
  ip?: string;
  /** HostConfig.ExtraHosts: "name:ip" or "name=ip"; "host-gateway" means `hostGateway`. */
  extraHosts?: string[] | null;
  hostGateway?: string;
  /** --link entries: address, alias and the linked container's name. */
  links?: { ip: string; alias: string; name: string }[];
}

/** Validates --add-host entries (create time). */
export function parseExtraHost(entry: string): { name: string; ip: string } {
  const sep = entry.search(/[:=]/);
  const name = sep > 0 ? entry.slice(0, sep) : '';
  const ip = sep > 0 ? entry.slice(sep + 1).replace(/^\[(.*)\]$/, '$1') : '';
  if (!name || !ip || /\s/.test(name) || (ip !== 'host-gateway' && !isIPv4(ip) && !/^[0-9a-fA-F:]+$/.test(ip))) {
    throw invalid(`invalid IP address in add-host: "${entry}"`);
  }
  return { name, ip };
}

export function hostsFile(h: HostsInput): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];
  for (const e of h.extraHosts ?? []) {
    const { name, ip } = parseExtraHost(e);
    lines.push(`${ip === 'host-gateway' ? (h.hostGateway ?? '') : ip}\t${name}`);
  }
  for (const l of h.links ?? []) lines.push(`${l.ip}\t${l.alias === l.name ? l.alias : `${l.alias} ${l.name}`}`);
  const names = h.domainname ? `${h.hostname}.${h.domainname} ${h.hostname}` : h.hostname;
  lines.push(`${h.ip ?? '127.0.1.1'}\t${names}`);
  return lines.join('\n') + '\n';
}

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

export function isLoopbackResolver(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

export interface ResolvInput {
  host: ResolvConf;
  /** HostConfig.Dns / DnsSearch / DnsOptions. */
  dns?: string[] | null;
  dnsSearch?: string[] | null;
  dnsOptions?: string[] | null;
  /** The embedded DNS server's address (user networks). */
  embedded?: string;
}

export function resolvConf(r: ResolvInput): string {
  let servers: string[];
  if (r.embedded) servers = [r.embedded];
  else if (r.dns && r.dns.length > 0) servers = r.dns;
  else servers = r.host.nameservers.filter((s) => !isLoopbackResolver(s));
  const search = r.dnsSearch && r.dnsSearch.length > 0 ? r.dnsSearch.filter((s) => s !== '.') : r.host.search;
  const options = r.dnsOptions && r.dnsOptions.length > 0 ? r.dnsOptions : r.host.options;
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  return lines.length > 0 ? lines.join('\n') + '\n' : '';
}
