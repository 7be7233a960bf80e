/**
 * A container's side of networking: the network mode and endpoint settings checked and settled
 * at create, what a start asks of the network service (a sandbox, or the host's or another
 * container's namespace), the /etc files and --link environment that follow from it, and the
 * NetworkSettings that inspect and list show.
 *
 * Modes, as in Docker: "bridge" (the default), a user network by name or ID, "none" (a namespace
 * with loopback only), "host" (the host's namespace) and "container:<id>" (another running
 * container's namespace, /etc files and all).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { conflict, invalid } from '../common/errors.js';
import { hostsFile, parseExtraHost, parseResolvConf, resolvConf, type ResolvConf } from '../network/etc.js';
import { isIPv4 } from '../network/ipam.js';
import { exposedPortKeys, portRequests } from '../network/ports.js';
import type { NetworkService } from '../network/service.js';
import type { SandboxInfo } from '../network/types.js';
import type { EndpointSettings } from '../../types/engine-api.js';
import type { ContainerRecord, PlannedHostConfig } from './types.js';

/** What the container service lets this module see of other containers. */
export interface ContainerLookup {
  /** A container by name, ID or ID prefix (throws 404). */
  find(ref: string): ContainerRecord;
  dataDir(id: string): string;
}

export type NetworkMode = { kind: 'none' } | { kind: 'host' } | { kind: 'container'; id: string } | { kind: 'network'; name: string };

export function parseMode(mode: string | undefined): NetworkMode {
  if (mode === 'none') return { kind: 'none' };
  if (mode === 'host') return { kind: 'host' };
  if (mode?.startsWith('container:')) return { kind: 'container', id: mode.slice('container:'.length) };
  return { kind: 'network', name: !mode || mode === 'default' ? 'bridge' : mode };
}

export function modeOf(r: ContainerRecord): NetworkMode {
  return parseMode(r.HostConfig.NetworkMode);
}

/** Exposed ports: Config.ExposedPorts is the image's and the create body's together. */
function exposedOf(r: ContainerRecord): string[] {
  return exposedPortKeys(r.Config.ExposedPorts);
}

/** --link "name[:alias]". */
function parseLink(l: string): { name: string; alias: string } {
  const [name, alias] = l.split(':');
  if (!name) throw invalid(`invalid link: "${l}"`);
  return { name: name.replace(/^\//, ''), alias: (alias || name).replace(/^.*\//, '') };
}

/** The legacy links of a container (HostConfig.Links), parsed; malformed entries are skipped. */
export function legacyLinks(hc: PlannedHostConfig): { name: string; alias: string }[] {
  const out: { name: string; alias: string }[] = [];
  for (const l of hc.Links ?? []) {
    try {
      out.push(parseLink(l));
    } catch {
      // not a link: nothing to show or remove
    }
  }
  return out;
}

/** Drops the link with this alias from HostConfig.Links; false when there is none. */
export function dropLegacyLink(hc: PlannedHostConfig, alias: string): boolean {
  const links = hc.Links ?? [];
  const kept = links.filter((l) => {
    try {
      return parseLink(l).alias !== alias;
    } catch {
      return true;
    }
  });
  if (kept.length === links.length) return false;
  hc.Links = kept.length > 0 ? kept : null;
  return true;
}

/** The network part of a create, settled against the networks and containers that exist. */
export interface SettledNetwork {
  NetworkMode: string;
  Endpoints: Record<string, EndpointSettings>;
}

/**
 * Settles a create's network mode and endpoints (planned by create-plan.ts) against the live
 * state: "default" becomes "bridge", container: names become IDs, and every network, address,
 * port, link and extra host is checked now, so a bad create leaves nothing behind. Returns new
 * values; the plan is not changed.
 */
export function settleNetwork(
  hc: PlannedHostConfig,
  planned: Record<string, EndpointSettings>,
  exposed: Record<string, unknown> | null | undefined,
  net: NetworkService,
  lookup: ContainerLookup,
): SettledNetwork {
  const mode = parseMode(hc.NetworkMode);
  const endpoints: Record<string, EndpointSettings> = { ...planned };
  // The docker CLI keys the endpoint of the default network "default".
  if (endpoints['default'] !== undefined) {
    const e = endpoints['default'];
    delete endpoints['default'];
    const key = mode.kind === 'network' ? mode.name : mode.kind === 'container' ? '' : mode.kind;
    if (key) endpoints[key] = { ...e, ...(endpoints[key] ?? {}) };
  }
  let networkMode: string;
  if (mode.kind === 'container') {
    networkMode = `container:${lookup.find(mode.id).Id}`;
  } else if (mode.kind === 'network') {
    net.validate(mode.name, endpoints);
    networkMode = mode.name;
    // The container's networks are its endpoints, the mode's own included (connect and disconnect edit this list).
    endpoints[mode.name] = endpoints[mode.name] ?? {};
  } else {
    networkMode = mode.kind;
    if (Object.keys(endpoints).some((n) => n !== mode.kind)) throw invalid(`container cannot be connected to multiple networks with one of the networks in ${mode.kind} mode`);
  }
  for (const d of hc.Dns ?? []) if (!isIPv4(d) && !d.includes(':')) throw invalid(`${d} is not an ip address`);
  for (const h of hc.ExtraHosts ?? []) parseExtraHost(h);
  for (const l of hc.Links ?? []) lookup.find(parseLink(l).name);
  portRequests(hc.PortBindings, exposedPortKeys(exposed), hc.PublishAllPorts === true);
  return { NetworkMode: networkMode, Endpoints: endpoints };
}

export interface StartNetwork {
  netnsPath?: string;
  hostNetwork?: boolean;
  /** --link variables, added before the container's own environment. */
  env: string[];
  /** Paths of the /etc files to bind (another container's with container: mode). */
  files: { hostname: string; hosts: string; resolvConf: string };
  /** A sandbox was made and must be torn down if the start fails. */
  sandbox: boolean;
}

function writeFile(file: string, text: string, mode: number): Promise<void> {
  return fsp.writeFile(file, text, { mode });
}

async function hostResolv(): Promise<ResolvConf> {
  return parseResolvConf(await fsp.readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
}

/**
 * Everything networking a start needs: the namespace (made here for bridge modes), the /etc
 * files written into the container's data dir, and the --link environment.
 */
export async function prepareStart(
  rec: ContainerRecord,
  net: NetworkService,
  lookup: ContainerLookup & { runningPid(id: string): number | undefined },
): Promise<StartNetwork> {
  const dir = lookup.dataDir(rec.Id);
  const own = { hostname: path.join(dir, 'hostname'), hosts: path.join(dir, 'hosts'), resolvConf: path.join(dir, 'resolv.conf') };
  const hc = rec.HostConfig;
  const mode = modeOf(rec);
  const hostname = rec.Config.Hostname || rec.Id.slice(0, 12);
  const domainname = rec.Config.Domainname || undefined;
  const extraHosts = hc.ExtraHosts ?? [];
  const dns = hc.Dns ?? [];
  const resolvOpts = { dns, dnsSearch: hc.DnsSearch ?? [], dnsOptions: hc.DnsOptions ?? [] };

  if (mode.kind === 'container') {
    const target = lookup.find(mode.id);
    const pid = lookup.runningPid(target.Id);
    if (pid === undefined) throw conflict(`cannot join network namespace of a non running container: container ${target.Id} is not running`);
    const tdir = lookup.dataDir(target.Id);
    return {
      netnsPath: `/proc/${pid}/ns/net`,
      env: [],
      files: { hostname: path.join(tdir, 'hostname'), hosts: path.join(tdir, 'hosts'), resolvConf: path.join(tdir, 'resolv.conf') },
      sandbox: false,
    };
  }

  let info: SandboxInfo | undefined;
  const links: { ip: string; alias: string; name: string }[] = [];
  const env: string[] = [];
  const endpoints = rec.Endpoints;
  const names = Object.keys(endpoints);
  // Disconnected from every network: a namespace with loopback only, as with "none".
  if (mode.kind === 'network' && names.length > 0) {
    info = await net.setup({
      containerId: rec.Id,
      containerName: rec.Name,
      mode: names.includes(mode.name) ? mode.name : (names[0] as string),
      endpoints,
      portBindings: hc.PortBindings,
      publishAll: hc.PublishAllPorts === true,
      exposed: exposedOf(rec),
      dns,
    });
    try {
      for (const l of hc.Links ?? []) {
        const { name, alias } = parseLink(l);
        const target = lookup.find(name);
        const ip = names.map((n) => net.addressOn(target.Id, net.find(n).Id)).find((x) => x !== undefined);
        if (ip === undefined) throw conflict(`cannot link to ${target.Name}: it is not running on a network of this container`);
        links.push({ ip, alias, name: target.Name });
        env.push(...linkEnv(rec.Name, alias, ip, target));
      }
    } catch (err) {
      await net.teardown(rec.Id);
      throw err;
    }
  }
  try {
    const host = await hostResolv();
    // Plain writes: these files are made again at every start, so a crash mid-write costs nothing.
    await writeFile(own.hostname, `${hostname}\n`, 0o644);
    await writeFile(
      own.hosts,
      mode.kind === 'host'
        ? (await fsp.readFile('/etc/hosts', 'utf8').catch(() => '')) + extraHosts.map((e) => `${parseExtraHost(e).ip}\t${parseExtraHost(e).name}\n`).join('')
        : hostsFile({ hostname, ...(domainname ? { domainname } : {}), ...(info ? { ip: info.ip, hostGateway: info.hostGateway } : {}), extraHosts, links }),
      0o644,
    );
    // Without a usable host resolver, default-bridge containers ask the gateway, which forwards to the host's.
    const usable = host.nameservers.some((s) => !s.startsWith('127.') && s !== '::1');
    const embedded = info?.embeddedDns ?? (info && !usable && dns.length === 0 ? info.gateway : undefined);
    await writeFile(own.resolvConf, resolvConf({ host, ...resolvOpts, ...(embedded ? { embedded } : {}) }), 0o644);
  } catch (err) {
    if (info) await net.teardown(rec.Id);
    throw err;
  }
  if (mode.kind === 'host') return { hostNetwork: true, env, files: own, sandbox: false };
  return { ...(info ? { netnsPath: info.netnsPath } : {}), env, files: own, sandbox: info !== undefined };
}

/** Docker's legacy link variables: ALIAS_NAME, ALIAS_PORT..., ALIAS_ENV_x. */
function linkEnv(self: string, alias: string, ip: string, target: ContainerRecord): string[] {
  const p = alias.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  const out = [`${p}_NAME=/${self}/${alias}`];
  const ports = Object.keys(target.Config.ExposedPorts ?? {}).sort((a, b) => parseInt(a) - parseInt(b));
  ports.forEach((key, i) => {
    const [port, proto = 'tcp'] = key.split('/');
    const base = `${p}_PORT_${port}_${proto.toUpperCase()}`;
    if (i === 0) out.push(`${p}_PORT=${proto}://${ip}:${port}`);
    out.push(`${base}=${proto}://${ip}:${port}`, `${base}_ADDR=${ip}`, `${base}_PORT=${port}`, `${base}_PROTO=${proto}`);
  });
  for (const e of target.Config.Env ?? []) {
    const k = e.split('=')[0] as string;
    if (k && k !== 'HOME' && k !== 'PATH' && k !== 'HOSTNAME') out.push(`${p}_ENV_${e}`);
  }
  return out;
}

/** Inspect's NetworkSettings: live addresses while running, the configured networks otherwise. */
export function networkSettingsView(r: ContainerRecord, net: NetworkService | undefined): Record<string, unknown> {
  const sb = net?.sandbox(r.Id);
  const mode = modeOf(r);
  const networks: Record<string, unknown> = {};
  const empty = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', DriverOpts: null, NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null };
  const configured: [string, EndpointSettings][] = mode.kind === 'network' ? Object.entries(r.Endpoints) : [];
  if (mode.kind === 'host' || mode.kind === 'none') configured.push([mode.kind, {}]);
  let primary: Record<string, unknown> | undefined;
  for (const [name, e] of configured) {
    let rec: { Id: string; Name: string } | undefined;
    try {
      rec = net?.find(name);
    } catch {
      rec = undefined;
    }
    const ep = rec ? sb?.endpoints.find((x) => x.networkId === rec.Id) : undefined;
    const ipam = endpointIpamView(e);
    const aliases = e.Aliases && e.Aliases.length > 0 ? e.Aliases : null;
    const entry = {
      ...empty,
      IPAMConfig: ipam,
      Aliases: aliases,
      Links: e.Links ?? null,
      // What the container asked for until it runs; the live endpoint's values after.
      MacAddress: e.MacAddress ?? '',
      DriverOpts: e.DriverOpts && Object.keys(e.DriverOpts).length > 0 ? e.DriverOpts : null,
      NetworkID: rec?.Id ?? '',
      ...(ep
        ? {
            EndpointID: ep.endpointId,
            Gateway: ep.gateway,
            IPAddress: ep.ip,
            IPPrefixLen: ep.prefixLen,
            IPv6Gateway: ep.gateway6 ?? '',
            GlobalIPv6Address: ep.ip6 ?? '',
            GlobalIPv6PrefixLen: ep.prefixLen6 ?? 0,
            MacAddress: ep.mac,
            DNSNames: [r.Name, ...ep.aliases, r.Id.slice(0, 12)],
          }
        : {}),
    };
    networks[rec?.Name ?? name] = entry;
    if (ep && rec?.Name === 'bridge') primary = entry;
  }
  const exposed = exposedOf(r);
  return {
    Bridge: '',
    SandboxID: sb ? sb.netns : '',
    SandboxKey: sb ? `/run/netns/${sb.netns}` : '',
    Ports: net && sb ? net.portsView(r.Id, exposed) : Object.fromEntries(exposed.map((k) => [k, null])),
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: (primary?.['EndpointID'] as string | undefined) ?? '',
    Gateway: (primary?.['Gateway'] as string | undefined) ?? '',
    GlobalIPv6Address: (primary?.['GlobalIPv6Address'] as string | undefined) ?? '',
    GlobalIPv6PrefixLen: (primary?.['GlobalIPv6PrefixLen'] as number | undefined) ?? 0,
    IPAddress: (primary?.['IPAddress'] as string | undefined) ?? '',
    IPPrefixLen: (primary?.['IPPrefixLen'] as number | undefined) ?? 0,
    IPv6Gateway: (primary?.['IPv6Gateway'] as string | undefined) ?? '',
    MacAddress: (primary?.['MacAddress'] as string | undefined) ?? '',
    Networks: networks,
  };
}

/** An endpoint's IPAMConfig as inspect shows it: the addresses asked for, or null when none were. */
function endpointIpamView(e: EndpointSettings): Record<string, unknown> | null {
  const c = e.IPAMConfig;
  const out = {
    ...(c?.IPv4Address ? { IPv4Address: c.IPv4Address } : {}),
    ...(c?.IPv6Address ? { IPv6Address: c.IPv6Address } : {}),
    ...(c?.LinkLocalIPs && c.LinkLocalIPs.length > 0 ? { LinkLocalIPs: [...c.LinkLocalIPs] } : {}),
  };
  return Object.keys(out).length > 0 ? out : null;
}

/** `docker ps`'s Ports: published ports with their host side, exposed ones without. */
export function listPorts(r: ContainerRecord, net: NetworkService | undefined): unknown[] {
  const published = net?.publishedPorts(r.Id) ?? [];
  const out: unknown[] = published.map((p) => ({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto }));
  for (const key of exposedOf(r)) {
    const [port, proto = 'tcp'] = key.split('/');
    if (!published.some((p) => String(p.containerPort) === port && p.proto === proto)) out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

/** Adds (connect) or drops (disconnect) a network in a container's settings for its next start. */
export function recordConnect(rec: ContainerRecord, netName: string, e: EndpointSettings): void {
  rec.Endpoints = { ...rec.Endpoints, [netName]: e };
}

/** The networks a container is on, by the names its endpoints are recorded under. */
export function connectedNetworks(rec: ContainerRecord): string[] {
  return Object.keys(rec.Endpoints);
}

export function recordDisconnect(rec: ContainerRecord, netName: string): void {
  const { [netName]: _gone, ...rest } = rec.Endpoints;
  rec.Endpoints = rest;
}
