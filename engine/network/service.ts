/**
 * Networks: the built-in bridge/host/none networks and user-defined bridge networks, container
 * sandboxes (a named network namespace with one veth per network), published ports, the
 * firewall table and the embedded DNS server of each bridge.
 *
 * State lives in <data-root>/network/state.json (networks, and the sandboxes of running
 * containers, which outlive the daemon). At start-up the bridges and the firewall table are
 * re-created from it, sandboxes whose namespace is gone are dropped, and published ports are
 * held again. At shutdown, if no container is left running, every interface, namespace and rule
 * the daemon made is removed; running containers keep theirs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { conflict, errorMessage, BerthError, invalid, notFound } from '../common/errors.js';
import { atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import { parsePruneFilters, prunable } from '../common/prune-filters.js';
import { applyFirewall, removeFirewall, type FirewallState } from './firewall.js';
import { AddressPool, contains, formatCidr, intToIp, ipToInt, isIPv4, macForIp, overlaps, parseCidr, pickSubnet, validMac, type Cidr } from './ipam.js';
import { AddressPool6, bigToIp6, contains6, formatCidr6, ip6ToBig, isIp6, overlaps6, parseCidr6, pickUla64, type Cidr6 } from './ipam6.js';
import {
  addVeth,
  withHostLock,
  deleteLink,
  deleteNetns,
  enableForwarding,
  enableIpv6Forwarding,
  ensureBridge,
  hostSubnets,
  interfaceCounters,
  listNetns,
  netnsExists,
  NETNS_DIR,
  setDefaultRoute,
} from './links.js';
import { holdPorts, portRequests, portsView, type PortHold, type PortMapping } from './ports.js';
import type { EndpointRecord, EndpointSettings, IpamConfig, NetworkRecord, SandboxInfo, SandboxRecord, SandboxRequest } from './types.js';

/** The embedded DNS server of one network, started by whatever the daemon wires in. */
export interface DnsHandle {
  close(): Promise<void>;
}
export interface DnsStartOptions {
  address: string;
  /** IPv4 addresses for a name asked by the container at `client`. */
  lookupA(name: string, client: string): string[];
  lookupPtr(ip: string, client: string): string | undefined;
  /** Where to forward other names for the container at `client`. */
  upstreams(client: string): string[];
}
export type DnsStarter = (o: DnsStartOptions) => Promise<DnsHandle>;

export interface NetworkServiceOptions {
  dataRoot: string;
  log: Logger;
  /** --bip: the default bridge's gateway address and prefix ("172.30.0.1/16"). */
  bip?: string;
  /** --bridge none: no default bridge; containers default to "none". */
  noDefaultBridge?: boolean;
  dns?: DnsStarter;
  /** Host nameservers (for forwarding and for resolv.conf of default-bridge containers). */
  hostNameservers: () => string[];
  /** Network events (create, destroy, connect, disconnect). */
  publish(action: string, network: NetworkRecord, attrs?: Record<string, string>): void;
}

interface State {
  version: 1;
  networks: NetworkRecord[];
  sandboxes: SandboxRecord[];
}

interface LiveNetwork {
  rec: NetworkRecord;
  pool?: AddressPool;
  /** The v6 subnet's pool (EnableIPv6 networks). */
  pool6?: AddressPool6;
  dns?: DnsHandle;
}

interface LiveSandbox {
  rec: SandboxRecord;
  holds: PortHold[];
}

const SUBNET_LOCK = 'berth-subnets';
const PREDEFINED = new Set(['bridge', 'host', 'none', 'default']);

const newId = (): string => randomBytes(32).toString('hex');

export class NetworkService {
  private readonly networks = new Map<string, LiveNetwork>();
  private readonly sandboxes = new Map<string, LiveSandbox>();
  private readonly tag: string;
  private readonly file: string;
  private saving: Promise<void> = Promise.resolve();
  private fwRunning?: Promise<void>;
  private fwAgain = false;
  /** Sandboxes found at start-up, until retain() has checked them against the containers. */
  private restored = new Map<string, LiveSandbox>();

  constructor(private readonly o: NetworkServiceOptions) {
    this.tag = createHash('sha256').update(path.resolve(o.dataRoot)).digest('hex').slice(0, 6);
    this.file = path.join(o.dataRoot, 'network', 'state.json');
  }

  /** Names unique to this daemon: firewall table, default bridge, namespace prefix. */
  get table(): string {
    return `berth_${this.tag}`;
  }
  get defaultBridge(): string {
    return `berth-${this.tag}`;
  }
  get netnsPrefix(): string {
    return `berth-${this.tag}-`;
  }

  // ---------------------------------------------------------------- start-up and shutdown

  async init(): Promise<void> {
    await fsp.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const state = await readJsonIfExists<State>(this.file);
    for (const rec of state?.networks ?? []) this.networks.set(rec.Id, { rec });
    await enableForwarding();
    // Subnets are chosen and their bridges made under a host-wide lock (daemons starting together).
    await withHostLock(SUBNET_LOCK, async () => {
      await this.ensureBuiltins();
      for (const n of this.networks.values()) if (n.rec.Driver === 'bridge' && n.rec.builtin) await this.bringUp(n);
    });
    for (const n of this.networks.values()) if (n.rec.Driver === 'bridge') this.loadPool(n);
    for (const s of state?.sandboxes ?? []) {
      if (!(await netnsExists(s.netns))) continue;
      const live: LiveSandbox = { rec: s, holds: [] };
      for (const e of s.endpoints) {
        const n = this.networks.get(e.networkId);
        n?.pool?.reserve(e.ip);
        if (e.ip6) n?.pool6?.reserve(e.ip6);
      }
      this.sandboxes.set(s.containerId, live);
      this.restored.set(s.containerId, live);
    }
    // Namespaces of ours that no sandbox owns (a crash between create and record).
    const owned = new Set([...this.sandboxes.values()].map((s) => s.rec.netns));
    for (const ns of await listNetns(this.netnsPrefix)) if (!owned.has(ns)) await deleteNetns(ns).catch(() => undefined);
    for (const n of this.networks.values()) if (n.rec.Driver === 'bridge' && !n.rec.builtin) await this.bringUp(n);
    for (const s of this.sandboxes.values()) {
      try {
        s.holds = await holdPorts(s.rec.ports.map((p) => ({ proto: p.proto, containerPort: p.containerPort, hostIp: p.hostIp, hostRange: [p.hostPort, p.hostPort] })));
      } catch (err) {
        this.o.log.warn('a published port of a running container is taken now', { id: s.rec.containerId, err: errorMessage(err) });
      }
    }
    await this.updateFirewall();
    await this.save();
  }

  private async ensureBuiltins(): Promise<void> {
    const byName = (name: string): LiveNetwork | undefined => [...this.networks.values()].find((n) => n.rec.Name === name);
    const base = (name: string, driver: NetworkRecord['Driver']): NetworkRecord => ({
      Id: newId(),
      Name: name,
      Created: new Date().toISOString(),
      Driver: driver,
      EnableIPv6: false,
      Internal: false,
      Attachable: false,
      IPAM: { Driver: 'default', Options: {}, Config: [] },
      Options: {},
      Labels: {},
      builtin: true,
    });
    if (!byName('host')) this.networks.set(...entry(base('host', 'host')));
    if (!byName('none')) this.networks.set(...entry(base('none', 'null')));
    const bridge = byName('bridge');
    if (this.o.noDefaultBridge) {
      if (bridge) {
        // Started before without --bridge none: its bridge goes too.
        this.networks.delete(bridge.rec.Id);
        if (bridge.rec.bridge) await deleteLink(bridge.rec.bridge).catch(() => undefined);
      }
      return;
    }
    let config: IpamConfig;
    if (this.o.bip) {
      const gw = this.o.bip.split('/')[0] as string;
      const subnet = parseCidr(this.o.bip);
      config = { Subnet: formatCidr(subnet), Gateway: gw };
    } else if (bridge && v4Config(bridge.rec)) {
      config = v4Config(bridge.rec) as IpamConfig;
    } else {
      const subnet = await this.freeSubnet();
      config = { Subnet: formatCidr(subnet), Gateway: intToIp(subnet.base + 1) };
    }
    const rec = bridge?.rec ?? base('bridge', 'bridge');
    rec.IPAM.Config = [config];
    rec.bridge = this.defaultBridge;
    rec.Options = {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
      'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
      'com.docker.network.bridge.name': this.defaultBridge,
      'com.docker.network.driver.mtu': '1500',
    };
    this.networks.set(rec.Id, bridge ?? { rec });
  }

  private loadPool(n: LiveNetwork): void {
    const c = v4Config(n.rec);
    if (c) {
      n.pool = new AddressPool(parseCidr(c.Subnet), ipToInt(c.Gateway), c.IPRange ? parseCidr(c.IPRange) : undefined);
      for (const aux of Object.values(c.AuxiliaryAddresses ?? {})) n.pool.reserve(aux);
    }
    const c6 = n.rec.EnableIPv6 ? v6Config(n.rec) : undefined;
    if (c6) {
      n.pool6 = new AddressPool6(parseCidr6(c6.Subnet), ip6ToBig(c6.Gateway), c6.IPRange ? parseCidr6(c6.IPRange) : undefined);
      for (const aux of Object.values(c6.AuxiliaryAddresses ?? {})) n.pool6.reserve(aux);
    }
  }

  private async bringUp(n: LiveNetwork): Promise<void> {
    const c = v4Config(n.rec);
    if (!n.rec.bridge || !c) return;
    const mtu = Number(n.rec.Options['com.docker.network.driver.mtu']) || undefined;
    const c6 = n.rec.EnableIPv6 ? v6Config(n.rec) : undefined;
    if (c6) await enableIpv6Forwarding();
    await ensureBridge(
      n.rec.bridge,
      `${c.Gateway}/${parseCidr(c.Subnet).prefix}`,
      macForIp(c.Gateway),
      mtu && mtu !== 1500 ? mtu : undefined,
      c6 ? `${c6.Gateway}/${parseCidr6(c6.Subnet).prefix}` : undefined,
    );
    if (this.o.dns && !n.dns) {
      try {
        n.dns = await this.o.dns({
          address: c.Gateway,
          lookupA: (name, client) => this.lookupA(n, name, client),
          lookupPtr: (ip) => this.lookupPtr(n, ip),
          upstreams: (client) => this.upstreamsFor(client),
        });
      } catch (err) {
        this.o.log.warn('the embedded DNS server could not start; containers on this network cannot resolve each other by name', {
          network: n.rec.Name,
          err: errorMessage(err),
        });
      }
    }
  }

  /** At shutdown: the DNS servers and port holds go; with no container running, every interface and rule too. */
  async close(): Promise<void> {
    for (const n of this.networks.values()) {
      await n.dns?.close().catch(() => undefined);
      n.dns = undefined;
    }
    for (const s of this.sandboxes.values()) for (const h of s.holds) h.close();
    await this.saving;
    if (this.sandboxes.size > 0) return;
    await removeFirewall(this.table).catch((err: unknown) => this.o.log.warn('could not remove the firewall table', { err: errorMessage(err) }));
    for (const n of this.networks.values()) {
      if (n.rec.bridge) await deleteLink(n.rec.bridge).catch((err: unknown) => this.o.log.warn('could not remove a bridge', { bridge: n.rec.bridge, err: errorMessage(err) }));
    }
  }

  // ---------------------------------------------------------------- persistence and rules

  private save(): Promise<void> {
    const state: State = {
      version: 1,
      networks: [...this.networks.values()].map((n) => n.rec),
      sandboxes: [...this.sandboxes.values()].map((s) => s.rec),
    };
    this.saving = this.saving.then(() => atomicWriteJson(this.file, state)).catch((err: unknown) => {
      this.o.log.error('could not save the network state', { err: errorMessage(err) });
    });
    return this.saving;
  }

  private firewallState(): FirewallState {
    const fw: FirewallState = { networks: [], ports: [] };
    for (const n of this.networks.values()) {
      const c = v4Config(n.rec);
      if (!n.rec.bridge || !c) continue;
      const c6 = n.rec.EnableIPv6 ? v6Config(n.rec) : undefined;
      fw.networks.push({
        bridge: n.rec.bridge,
        subnet: formatCidr(parseCidr(c.Subnet)),
        ...(c6 ? { subnet6: formatCidr6(parseCidr6(c6.Subnet)) } : {}),
        internal: n.rec.Internal,
        masquerade: n.rec.Options['com.docker.network.bridge.enable_ip_masquerade'] !== 'false',
      });
    }
    for (const s of this.sandboxes.values()) {
      const primary = s.rec.endpoints[0];
      if (!primary) continue;
      for (const p of s.rec.ports) fw.ports.push({ ...p, containerIp: primary.ip });
    }
    return fw;
  }

  /** Rewrites the firewall table; concurrent callers share a run and one more follows if state changed meanwhile. */
  private updateFirewall(): Promise<void> {
    if (this.fwRunning) {
      this.fwAgain = true;
      return this.fwRunning;
    }
    const run = async (): Promise<void> => {
      do {
        this.fwAgain = false;
        await applyFirewall(this.table, this.firewallState());
      } while (this.fwAgain);
    };
    this.fwRunning = run().finally(() => (this.fwRunning = undefined));
    return this.fwRunning;
  }

  // ---------------------------------------------------------------- lookup

  private used(): Cidr[] {
    return [...this.networks.values()].flatMap((n) => n.rec.IPAM.Config.filter((c) => !c.Subnet.includes(':')).map((c) => parseCidr(c.Subnet)));
  }

  private used6(): Cidr6[] {
    return [...this.networks.values()].flatMap((n) => n.rec.IPAM.Config.filter((c) => c.Subnet.includes(':')).map((c) => parseCidr6(c.Subnet)));
  }

  private async freeSubnet(): Promise<Cidr> {
    const host = (await hostSubnets()).map((s) => parseCidr(s));
    return pickSubnet([...host, ...this.used()]);
  }

  /** A network by full ID, exact name, or unique ID prefix (Docker's order). */
  find(ref: string): NetworkRecord {
    return this.findLive(ref).rec;
  }

  private findLive(ref: string): LiveNetwork {
    const byId = this.networks.get(ref);
    if (byId) return byId;
    const all = [...this.networks.values()];
    const byName = all.find((n) => n.rec.Name === ref);
    if (byName) return byName;
    const prefix = all.filter((n) => ref.length > 0 && n.rec.Id.startsWith(ref));
    if (prefix.length === 1) return prefix[0] as LiveNetwork;
    if (prefix.length > 1) throw invalid(`network ${ref} is ambiguous (${prefix.length} matches found based on ID prefix)`);
    throw notFound(`network ${ref} not found`);
  }

  has(ref: string): boolean {
    try {
      this.findLive(ref);
      return true;
    } catch {
      return false;
    }
  }

  list(): NetworkRecord[] {
    return [...this.networks.values()].map((n) => n.rec);
  }

  /** Containers attached to a network now: id → Docker's inspect entry. */
  attached(netId: string): Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }> {
    const out: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }> = {};
    for (const s of this.sandboxes.values()) {
      for (const e of s.rec.endpoints) {
        if (e.networkId !== netId) continue;
        out[s.rec.containerId] = {
          Name: s.rec.containerName,
          EndpointID: e.endpointId,
          MacAddress: e.mac,
          IPv4Address: `${e.ip}/${e.prefixLen}`,
          IPv6Address: e.ip6 ? `${e.ip6}/${e.prefixLen6 ?? 64}` : '',
        };
      }
    }
    return out;
  }

  sandbox(containerId: string): SandboxRecord | undefined {
    return this.sandboxes.get(containerId)?.rec;
  }

  /** The address of a running container on a network (for --link), or undefined. */
  addressOn(containerId: string, netId: string): string | undefined {
    return this.sandboxes.get(containerId)?.rec.endpoints.find((e) => e.networkId === netId)?.ip;
  }

  /**
   * Names a container can resolve: those of every container sharing one of its user networks
   * (the client is known by its address on the network whose server it asked).
   */
  private lookupA(n: LiveNetwork, name: string, client: string): string[] {
    const asker = [...this.sandboxes.values()].find((s) => s.rec.endpoints.some((e) => e.networkId === n.rec.Id && e.ip === client));
    // Endpoint links (connect --link on a user network): the alias names the linked container
    // for this container only, and only on the network the link was made on.
    for (const l of asker?.rec.endpoints.find((e) => e.networkId === n.rec.Id)?.links ?? []) {
      const { target, alias } = splitLink(l);
      if (alias.toLowerCase() !== name && target.toLowerCase() !== name) continue;
      const linked = [...this.sandboxes.values()].find((s) => s.rec.containerName === target);
      const ip = linked?.rec.endpoints.find((e) => e.networkId === n.rec.Id)?.ip;
      if (ip) return [ip];
    }
    const nets = new Set((asker?.rec.endpoints ?? []).map((e) => e.networkId));
    nets.add(n.rec.Id);
    for (const id of nets) if (this.networks.get(id)?.rec.Name === 'bridge') nets.delete(id); // as in Docker: no names on the default bridge
    const out: string[] = [];
    for (const s of this.sandboxes.values()) {
      for (const e of s.rec.endpoints) {
        if (!nets.has(e.networkId)) continue;
        const net = this.networks.get(e.networkId) as LiveNetwork;
        const names = [s.rec.containerName, ...e.aliases, s.rec.containerId.slice(0, 12)].map((x) => x.toLowerCase());
        if (names.includes(name) || names.includes(name.replace(new RegExp(`\\.${escapeRe(net.rec.Name.toLowerCase())}$`), ''))) out.push(e.ip);
      }
    }
    return out;
  }

  private lookupPtr(n: LiveNetwork, ip: string): string | undefined {
    if (n.rec.Name === 'bridge') return undefined;
    for (const s of this.sandboxes.values()) {
      if (s.rec.endpoints.some((e) => e.networkId === n.rec.Id && e.ip === ip)) return `${s.rec.containerName}.${n.rec.Name}`;
    }
    return undefined;
  }

  private upstreamsFor(client: string): string[] {
    for (const s of this.sandboxes.values()) {
      if (s.rec.dns.length > 0 && s.rec.endpoints.some((e) => e.ip === client)) return s.rec.dns;
    }
    return this.o.hostNameservers();
  }

  // ---------------------------------------------------------------- networks

  async create(body: unknown): Promise<{ Id: string; Warning: string }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('network config must be a JSON object');
    const b = body as Record<string, unknown>;
    const name = b['Name'];
    // Docker takes any non-empty name (spaces included); only the predefined ones are reserved.
    if (typeof name !== 'string' || name.trim() === '') throw invalid('network name must be given');
    if (PREDEFINED.has(name)) throw new BerthError('forbidden', `${name} is a pre-defined network and cannot be created`);
    if ([...this.networks.values()].some((n) => n.rec.Name === name)) throw conflict(`network with name ${name} already exists`);
    const driver = (b['Driver'] as string | undefined) || 'bridge';
    if (driver === 'host' || driver === 'null') throw new BerthError('forbidden', `only one instance of "${driver}" network is allowed`);
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    const options = stringMap(b['Options'], 'Options');
    const labels = stringMap(b['Labels'], 'Labels');
    const enableIPv6 = b['EnableIPv6'] === true || (b['EnableIPv6'] === undefined && options['com.docker.network.enable_ipv6'] === 'true');
    const ipam = (b['IPAM'] ?? {}) as { Driver?: string; Config?: AskedIpam[] | null; Options?: unknown };
    if (ipam.Driver && ipam.Driver !== 'default') throw notFound(`plugin "${ipam.Driver}" not found`);
    const ipamOptions = stringMap(ipam.Options, 'IPAM.Options');
    const all = ipam.Config ?? [];
    const configs = all.filter((c) => !(c.Subnet ?? '').includes(':'));
    // As in Docker, v6 subnets of a network without EnableIPv6 are ignored.
    const configs6 = enableIPv6 ? all.filter((c) => (c.Subnet ?? '').includes(':')) : [];
    if (configs.length > 1) throw invalid('only one IPv4 subnet per network is supported');
    if (configs6.length > 1) throw invalid('only one IPv6 subnet per network is supported');
    const asked = configs[0] ?? {};
    const asked6 = configs6[0];
    checkIpamConfig(asked, 4);
    if (asked6) checkIpamConfig(asked6, 6);
    return withHostLock(SUBNET_LOCK, async () => {
      // Checked again: another create may have taken the name while this one waited for the lock.
      if ([...this.networks.values()].some((n) => n.rec.Name === name)) throw conflict(`network with name ${name} already exists`);
      let subnet: Cidr;
      if (asked.Subnet) {
        subnet = parseCidr(asked.Subnet);
        const clash = [...this.networks.values()].find((n) => v4Config(n.rec) && overlaps(parseCidr((v4Config(n.rec) as IpamConfig).Subnet), subnet));
        if (clash) throw new BerthError('forbidden', `Pool overlaps with other one on this address space (network ${clash.rec.Name})`);
      } else {
        if (asked.Gateway || asked.IPRange) throw invalid('a gateway or ip-range needs a subnet');
        subnet = await this.freeSubnet();
      }
      const gateway = asked.Gateway ?? intToIp(subnet.base + 1);
      if (!contains(subnet, ipToInt(gateway))) {
        throw invalid(`gateway ${gateway} is not in the subnet ${formatCidr(subnet)}`);
      }
      const config: IpamConfig = {
        Subnet: formatCidr(subnet),
        Gateway: gateway,
        ...(asked.IPRange ? { IPRange: formatCidr(parseCidr(asked.IPRange)) } : {}),
        ...(asked.AuxiliaryAddresses ? { AuxiliaryAddresses: { ...asked.AuxiliaryAddresses } } : {}),
      };
      const ipamConfigs = [config];
      if (enableIPv6) {
        let subnet6: Cidr6;
        if (asked6?.Subnet) {
          subnet6 = parseCidr6(asked6.Subnet);
          const clash = [...this.networks.values()].find((n) => n.rec.IPAM.Config.some((c) => c.Subnet.includes(':') && overlaps6(parseCidr6(c.Subnet), subnet6)));
          if (clash) throw new BerthError('forbidden', `Pool overlaps with other one on this address space (network ${clash.rec.Name})`);
        } else {
          if (asked6?.Gateway || asked6?.IPRange) throw invalid('a gateway or ip-range needs a subnet');
          subnet6 = pickUla64(this.used6());
        }
        ipamConfigs.push({
          Subnet: formatCidr6(subnet6),
          Gateway: bigToIp6(asked6?.Gateway ? ip6ToBig(asked6.Gateway) : subnet6.base + 1n),
          ...(asked6?.IPRange ? { IPRange: formatCidr6(parseCidr6(asked6.IPRange)) } : {}),
          ...(asked6?.AuxiliaryAddresses ? { AuxiliaryAddresses: { ...asked6.AuxiliaryAddresses } } : {}),
        });
      }
      const id = newId();
      const mtu = options['com.docker.network.driver.mtu'];
      if (mtu !== undefined && !(Number.isInteger(Number(mtu)) && Number(mtu) >= 68 && Number(mtu) <= 65535)) throw invalid(`invalid MTU: ${mtu}`);
      const bridge = options['com.docker.network.bridge.name'] ?? `br-${id.slice(0, 12)}`;
      if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw invalid(`invalid bridge name: ${bridge}`);
      if ([...this.networks.values()].some((n) => n.rec.bridge === bridge)) throw conflict(`bridge ${bridge} is already used by another network`);
      const rec: NetworkRecord = {
        Id: id,
        Name: name,
        Created: new Date().toISOString(),
        Driver: 'bridge',
        EnableIPv6: enableIPv6,
        Internal: b['Internal'] === true,
        Attachable: b['Attachable'] === true,
        IPAM: { Driver: 'default', Options: ipamOptions, Config: ipamConfigs },
        Options: options,
        Labels: labels,
        bridge,
      };
      const live: LiveNetwork = { rec };
      this.loadPool(live); // validates ip-ranges against their subnets before anything is made
      this.networks.set(id, live);
      try {
        await this.bringUp(live);
        await this.updateFirewall();
        await this.save();
      } catch (err) {
        this.networks.delete(id);
        await live.dns?.close().catch(() => undefined);
        await deleteLink(bridge).catch(() => undefined);
        await this.updateFirewall().catch(() => undefined);
        throw err;
      }
      this.o.publish('create', rec, { type: 'bridge' });
      return { Id: id, Warning: '' };
    });
  }

  async remove(ref: string): Promise<void> {
    const n = this.findLive(ref);
    if (n.rec.builtin) throw new BerthError('forbidden', `${n.rec.Name} is a pre-defined network and cannot be removed`);
    if (Object.keys(this.attached(n.rec.Id)).length > 0) {
      throw new BerthError('forbidden', `error while removing network: network ${n.rec.Name} id ${n.rec.Id} has active endpoints`);
    }
    this.networks.delete(n.rec.Id);
    await n.dns?.close().catch(() => undefined);
    if (n.rec.bridge) await deleteLink(n.rec.bridge);
    await this.updateFirewall();
    await this.save();
    this.o.publish('destroy', n.rec, { type: n.rec.Driver });
  }

  /**
   * POST /networks/prune: the user networks no container is attached to that pass the filters
   * (label, label!, until; all checked before anything goes).
   */
  async prune(filters: Record<string, string[]>): Promise<{ NetworksDeleted: string[] }> {
    const f = parsePruneFilters(filters);
    const deleted: string[] = [];
    for (const n of [...this.networks.values()]) {
      if (n.rec.builtin || Object.keys(this.attached(n.rec.Id)).length > 0) continue;
      if (!prunable(f, Date.parse(n.rec.Created), n.rec.Labels)) continue;
      try {
        await this.remove(n.rec.Id);
      } catch (err) {
        this.o.log.warn('prune could not remove a network', { network: n.rec.Name, err: errorMessage(err) });
        continue;
      }
      deleted.push(n.rec.Name);
    }
    return { NetworksDeleted: deleted };
  }

  // ---------------------------------------------------------------- sandboxes

  /** Checks a container's network settings at create: the networks exist, addresses and MACs are well-formed. */
  validate(mode: string, endpoints: Record<string, EndpointSettings>, macAddress?: string): void {
    if (mode !== 'none' && mode !== 'host' && !mode.startsWith('container:')) {
      const n = this.findLive(mode === 'default' ? 'bridge' : mode);
      if (n.rec.Driver !== 'bridge') throw invalid(`container cannot be connected to network ${n.rec.Name} this way`);
    }
    for (const [ref, e] of Object.entries(endpoints)) {
      const n = this.findLive(ref);
      const ip = e.IPAMConfig?.IPv4Address;
      if (ip) {
        if (!isIPv4(ip)) throw invalid(`invalid IPv4 address: ${ip}`);
        if (n.rec.Name === 'bridge') throw invalid('user specified IP address is supported on user defined networks only');
        const pool = n.pool;
        if (pool && !contains(pool.subnet, ipToInt(ip))) throw invalid(`Address ${ip} does not belong to the subnet ${formatCidr(pool.subnet)}`);
      }
      const ip6 = e.IPAMConfig?.IPv6Address;
      if (ip6) {
        if (!isIp6(ip6)) throw invalid(`invalid IPv6 address: ${ip6}`);
        if (n.rec.Name === 'bridge') throw invalid('user specified IP address is supported on user defined networks only');
        if (!n.pool6) throw invalid(`network ${n.rec.Name} has no IPv6 subnet (create it with EnableIPv6) for the address ${ip6}`);
        if (!contains6(n.pool6.subnet, ip6ToBig(ip6))) throw invalid(`Address ${ip6} does not belong to the subnet ${formatCidr6(n.pool6.subnet)}`);
      }
      const lls = e.IPAMConfig?.LinkLocalIPs ?? [];
      if (!Array.isArray(lls)) throw invalid('IPAMConfig.LinkLocalIPs must be a list of addresses');
      for (const ll of lls) if (typeof ll !== 'string' || !isLinkLocal(ll)) throw invalid(`invalid link-local IP address: ${String(ll)}`);
      if ((e.Aliases ?? []).length > 0 && n.rec.Name === 'bridge') throw invalid('network-scoped alias is supported only for containers in user defined networks');
      if (e.MacAddress && !validMac(e.MacAddress)) throw invalid(`invalid MAC address: ${e.MacAddress}`);
    }
    if (macAddress && !validMac(macAddress)) throw invalid(`invalid MAC address: ${macAddress}`);
  }

  /**
   * Gives a starting container its namespace, an interface and address on each of its networks,
   * and its published ports. All or nothing: on failure everything made here is undone.
   */
  async setup(req: SandboxRequest): Promise<SandboxInfo> {
    if (this.sandboxes.has(req.containerId)) await this.teardown(req.containerId);
    const primary = this.findLive(req.mode === 'default' ? 'bridge' : req.mode);
    const order: [LiveNetwork, EndpointSettings][] = [[primary, endpointFor(req.endpoints, primary.rec)]];
    for (const [ref, e] of Object.entries(req.endpoints)) {
      const n = this.findLive(ref);
      if (n !== primary && !order.some(([x]) => x === n)) order.push([n, e]);
    }
    const reqs = portRequests(req.portBindings, req.exposed, req.publishAll);
    const netns = `${this.netnsPrefix}${req.containerId.slice(0, 12)}`;
    const live: LiveSandbox = { rec: { containerId: req.containerId, containerName: req.containerName, netns, endpoints: [], ports: [], dns: req.dns }, holds: [] };
    this.sandboxes.set(req.containerId, live);
    try {
      for (const [n, e] of order) await this.addEndpoint(live, n, e, { newNetns: order[0]?.[0] === n, ...(order[0]?.[0] === n && req.macAddress ? { mac: req.macAddress } : {}) });
      if (reqs.length > 0) {
        live.holds = await holdPorts(reqs);
        live.rec.ports = live.holds.map((h) => h.mapping);
        await this.updateFirewall();
      }
      await this.save();
    } catch (err) {
      await this.teardown(req.containerId).catch(() => undefined);
      throw err;
    }
    const first = live.rec.endpoints[0] as EndpointRecord;
    const bridgeNet = [...this.networks.values()].find((n) => n.rec.Name === 'bridge');
    return {
      netnsPath: `${NETNS_DIR}/${netns}`,
      ip: first.ip,
      gateway: first.gateway,
      // Internal networks have no route out, but their gateway address (the DNS server) is on the link.
      ...(primary.rec.Name !== 'bridge' && primary.dns && primary.pool ? { embeddedDns: intToIp(primary.pool.gateway) } : {}),
      hostGateway: bridgeNet?.rec.IPAM.Config[0]?.Gateway ?? first.gateway,
    };
  }

  /**
   * One interface on network `n`, named after the lowest free ethN. The namespace's default route
   * goes through the first endpoint with a gateway (none on internal networks); a container that
   * was taken off every network gets it back from the network it joins next.
   */
  private async addEndpoint(s: LiveSandbox, n: LiveNetwork, e: EndpointSettings, o: { newNetns: boolean; mac?: string }): Promise<EndpointRecord> {
    if (n.rec.Driver !== 'bridge' || !n.pool || !n.rec.bridge) throw invalid(`container cannot be connected to network ${n.rec.Name}`);
    if (s.rec.endpoints.some((x) => x.networkId === n.rec.Id)) throw new BerthError('forbidden', `endpoint with name ${s.rec.containerName} already exists in network ${n.rec.Name}`);
    const mac = o.mac || e.MacAddress || undefined;
    if (mac && !validMac(mac)) throw invalid(`invalid MAC address: ${mac}`);
    const requested = e.IPAMConfig?.IPv4Address || undefined;
    const requested6 = e.IPAMConfig?.IPv6Address || undefined;
    if (requested6 && !n.pool6) throw invalid(`network ${n.rec.Name} has no IPv6 subnet (create it with EnableIPv6) for the address ${requested6}`);
    const ip = n.pool.allocate(requested);
    let ip6: string | undefined;
    try {
      ip6 = n.pool6?.allocate(requested6);
    } catch (err) {
      n.pool.release(ip);
      throw err;
    }
    let index = 0;
    while (s.rec.endpoints.some((x) => x.ifname === `eth${index}`)) index++;
    const endpointId = newId();
    const routed = !n.rec.Internal && !s.rec.endpoints.some((x) => x.defaultRoute);
    const gateway6 = n.pool6 && !n.rec.Internal ? bigToIp6(n.pool6.gateway) : undefined;
    const links = (e.Links ?? []).filter((l) => typeof l === 'string' && l !== '');
    const linkLocal = e.IPAMConfig?.LinkLocalIPs ?? [];
    const ep: EndpointRecord = {
      networkId: n.rec.Id,
      endpointId,
      ip,
      prefixLen: n.pool.subnet.prefix,
      gateway: n.rec.Internal ? '' : intToIp(n.pool.gateway),
      mac: mac || macForIp(ip),
      aliases: [...new Set(e.Aliases ?? [])],
      ...(requested ? { requestedIp: requested } : {}),
      ...(ip6 && n.pool6 ? { ip6, prefixLen6: n.pool6.subnet.prefix, gateway6: gateway6 ?? '' } : {}),
      ...(linkLocal.length > 0 ? { linkLocalIps: [...linkLocal] } : {}),
      ...(links.length > 0 ? { links } : {}),
      ...(routed ? { defaultRoute: true } : {}),
      ifname: `eth${index}`,
      // Unique per endpoint: a late removal of an old host end never meets a new one.
      hostIf: `bv${createHash('sha256').update(`${this.tag}/${endpointId}`).digest('hex').slice(0, 12)}`,
    };
    try {
      const mtu = Number(n.rec.Options['com.docker.network.driver.mtu']) || undefined;
      await addVeth({
        netns: s.rec.netns,
        newNetns: o.newNetns,
        hostIf: ep.hostIf,
        bridge: n.rec.bridge,
        ifname: ep.ifname,
        address: ip,
        prefixLen: ep.prefixLen,
        mac: ep.mac,
        ...(ip6 && n.pool6 ? { address6: ip6, prefixLen6: n.pool6.subnet.prefix } : {}),
        ...(linkLocal.length > 0 ? { linkLocal } : {}),
        ...(routed ? { gateway: intToIp(n.pool.gateway), ...(gateway6 ? { gateway6 } : {}) } : {}),
        ...(mtu && mtu !== 1500 ? { mtu } : {}),
      });
    } catch (err) {
      n.pool.release(ip);
      if (ip6) n.pool6?.release(ip6);
      throw err;
    }
    s.rec.endpoints.push(ep);
    this.o.publish('connect', n.rec, { container: s.rec.containerId, type: 'bridge' });
    return ep;
  }

  /** Releases a container's namespace, addresses and ports (idempotent). */
  async teardown(containerId: string): Promise<void> {
    const s = this.sandboxes.get(containerId);
    if (!s) return;
    this.sandboxes.delete(containerId);
    for (const h of s.holds) h.close();
    for (const e of s.rec.endpoints) {
      const n = this.networks.get(e.networkId);
      n?.pool?.release(e.ip);
      if (e.ip6) n?.pool6?.release(e.ip6);
      if (n) this.o.publish('disconnect', n.rec, { container: containerId, type: n.rec.Driver });
    }
    // Deleting the namespace makes the kernel destroy the veth pairs in it (asynchronously: an
    // explicit `ip link del` waits for that, which would sit on every container exit). The host
    // ends are removed in the background too, for a namespace something else still holds.
    await deleteNetns(s.rec.netns);
    for (const e of s.rec.endpoints) void deleteLink(e.hostIf).catch(() => undefined);
    if (s.rec.ports.length > 0) await this.updateFirewall();
    void this.save();
  }

  /** Joins a running container to another network. */
  async connect(containerId: string, ref: string, e: EndpointSettings): Promise<void> {
    const s = this.sandboxes.get(containerId);
    if (!s) throw conflict(`container ${containerId} has no network sandbox`);
    const n = this.findLive(ref);
    await this.addEndpoint(s, n, e, { newNetns: false });
    await this.save();
  }

  /** Takes a running container off a network. */
  async disconnect(containerId: string, ref: string): Promise<void> {
    const s = this.sandboxes.get(containerId);
    const n = this.findLive(ref);
    const ep = s?.rec.endpoints.find((x) => x.networkId === n.rec.Id);
    if (!s || !ep) throw new BerthError('forbidden', `container ${containerId} is not connected to network ${n.rec.Name}`);
    s.rec.endpoints = s.rec.endpoints.filter((x) => x !== ep);
    await deleteLink(ep.hostIf);
    n.pool?.release(ep.ip);
    if (ep.ip6) n.pool6?.release(ep.ip6);
    // The default route went with the interface: the next network with a gateway takes it over.
    const heir = ep.defaultRoute ? s.rec.endpoints.find((x) => x.gateway !== '') : undefined;
    if (heir) {
      await setDefaultRoute(s.rec.netns, heir.ifname, heir.gateway, heir.gateway6 || undefined).catch((err: unknown) =>
        this.o.log.warn('could not move the default route', { container: containerId, err: errorMessage(err) }),
      );
      heir.defaultRoute = true;
    }
    await this.save();
    this.o.publish('disconnect', n.rec, { container: containerId, type: 'bridge' });
  }

  /**
   * After the containers were reconciled: drops the sandboxes restored at start-up whose
   * container is neither running nor starting (their namespaces outlived them). A sandbox made
   * since (a restart policy's start) is never touched.
   */
  async retain(isLive: (containerId: string) => boolean): Promise<void> {
    const restored = this.restored;
    this.restored = new Map();
    for (const [id, s] of restored) if (this.sandboxes.get(id) === s && !isLive(id)) await this.teardown(id);
  }

  rename(containerId: string, name: string): void {
    const s = this.sandboxes.get(containerId);
    if (s) {
      s.rec.containerName = name;
      void this.save();
    }
  }

  /** Interface counters for docker stats (empty when the container has no sandbox). */
  async counters(containerId: string): Promise<Record<string, Record<string, number>>> {
    const s = this.sandboxes.get(containerId);
    return s ? interfaceCounters(s.rec.netns) : {};
  }

  /** Ports as NetworkSettings.Ports shows them. */
  portsView(containerId: string, exposed: string[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
    return portsView(exposed, this.sandboxes.get(containerId)?.rec.ports ?? []);
  }

  publishedPorts(containerId: string): PortMapping[] {
    return this.sandboxes.get(containerId)?.rec.ports ?? [];
  }
}

function entry(rec: NetworkRecord): [string, LiveNetwork] {
  return [rec.Id, { rec }];
}

function endpointFor(endpoints: Record<string, EndpointSettings>, n: NetworkRecord): EndpointSettings {
  for (const [ref, e] of Object.entries(endpoints)) if (ref === n.Name || ref === n.Id || (ref.length >= 12 && n.Id.startsWith(ref))) return e;
  return {};
}

/** One entry of IPAM.Config in a create body. */
interface AskedIpam {
  Subnet?: string;
  Gateway?: string;
  IPRange?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** The network's IPv4 subnet (bridge networks have one) and, with EnableIPv6, its IPv6 one. */
export function v4Config(n: NetworkRecord): IpamConfig | undefined {
  return n.IPAM.Config.find((c) => !c.Subnet.includes(':'));
}
export function v6Config(n: NetworkRecord): IpamConfig | undefined {
  return n.IPAM.Config.find((c) => c.Subnet.includes(':'));
}

/** Docker's checks of one IPAM entry: addresses of the subnet's family, inside it. All problems at once. */
function checkIpamConfig(c: AskedIpam, family: 4 | 6): void {
  if (c.AuxiliaryAddresses !== undefined && c.AuxiliaryAddresses !== null) stringMap(c.AuxiliaryAddresses, 'IPAM.Config.AuxiliaryAddresses');
  if (!c.Subnet) return;
  const isFamily = family === 4 ? isIPv4 : isIp6;
  const within = (ip: string): boolean =>
    family === 4 ? contains(parseCidr(c.Subnet as string), ipToInt(ip)) : contains6(parseCidr6(c.Subnet as string), ip6ToBig(ip));
  // A malformed subnet is refused here, with the other checks' wording.
  if (family === 4) parseCidr(c.Subnet);
  else parseCidr6(c.Subnet);
  const errs: string[] = [];
  const address = (ip: string): string | undefined =>
    !isFamily(ip) ? `parent subnet is an IPv${family} block` : !within(ip) ? `parent subnet ${c.Subnet} doesn't contain this address` : undefined;
  if (c.IPRange) {
    const rangeFamily = c.IPRange.includes(':') ? 6 : 4;
    if (rangeFamily !== family) errs.push(`invalid ip-range ${c.IPRange}: parent subnet is an IPv${family} block`);
    else {
      const [base = ''] = c.IPRange.split('/');
      if (rangeFamily === 4) parseCidr(c.IPRange);
      else parseCidr6(c.IPRange);
      if (!within(base)) errs.push(`invalid ip-range ${c.IPRange}: parent subnet ${c.Subnet} doesn't contain ip-range`);
    }
  }
  if (c.Gateway) {
    const e = address(c.Gateway);
    if (e) errs.push(`invalid gateway ${c.Gateway}: ${e}`);
  }
  for (const [auxName, aux] of Object.entries(c.AuxiliaryAddresses ?? {})) {
    const e = address(aux);
    if (e) errs.push(`invalid auxiliary address ${auxName}: ${e}`);
  }
  if (errs.length > 0) throw invalid(`invalid network config:\n${errs.join('\n')}`);
}

/** An endpoint link "name:alias" (a bare name is its own alias). */
function splitLink(l: string): { target: string; alias: string } {
  const [target = '', alias] = l.replace(/^\//, '').split(':');
  return { target, alias: (alias || target).replace(/^.*\//, '') };
}

function isLinkLocal(ip: string): boolean {
  if (isIPv4(ip)) return ip.startsWith('169.254.');
  return isIp6(ip) && (ip6ToBig(ip) >> 118n) === 0x3fan; // fe80::/10
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw invalid(`${what} must map strings to strings`);
  return { ...(v as Record<string, string>) };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
