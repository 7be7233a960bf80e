/**
 * `berth network create|ls|inspect|rm|connect|disconnect|prune` and `berth port`, with the
 * docker CLI's flags, request bodies, checks and output. The create body is built by a pure
 * function (buildNetworkCreateBody) so it can be compared with what docker sends.
 */
import { EngineError } from '../client/index.js';
import type { EndpointSettings, IpamPool, NetworkCreateBody, NetworkInspect, PortBinding } from '../types/engine-api.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { UsageError } from './args.js';
import { cidrContains, cidrsOverlap, parseCidr, parseIp } from './cidr.js';
import type { Command, Context } from './command.js';
import { parseFilters, readLine } from './command.js';
import { describeError, goTimeString, printRows, shortId } from './format.js';
import { inspectEach } from './inspect.js';

/** `k=v` list flags (--label, --opt): a key alone maps to "". */
function keyValues(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

/**
 * --subnet/--ip-range/--gateway → IPAM pools: each range and gateway goes to the subnet that
 * contains it; at most one of each per subnet; subnets may not overlap.
 */
export function ipamPools(subnets: readonly string[], ranges: readonly string[], gateways: readonly string[]): IpamPool[] {
  if (ranges.length > subnets.length || gateways.length > subnets.length) {
    throw new UsageError('every ip-range or gateway must have a corresponding subnet');
  }
  const pools: IpamPool[] = subnets.map((s) => ({ Subnet: s }));
  const parsed = subnets.map(parseCidr);
  parsed.forEach((a, i) => {
    parsed.slice(i + 1).forEach((b) => {
      if (a && b && cidrsOverlap(a, b)) throw new UsageError('multiple overlapping subnet configuration is not supported');
    });
  });
  for (const r of ranges) {
    const range = parseCidr(r);
    if (!range) throw new UsageError(`invalid CIDR address: ${r}`);
    const i = parsed.findIndex((s) => s !== undefined && s.prefix <= range.prefix && cidrContains(s, { value: range.addr, width: range.width }));
    const pool = pools[i];
    if (!pool) throw new UsageError(`no matching subnet for range ${r}`);
    if (pool.IPRange !== undefined) throw new UsageError(`cannot configure multiple ranges (${r}, ${pool.IPRange}) on the same subnet (${pool.Subnet})`);
    pool.IPRange = r;
  }
  for (const g of gateways) {
    const ip = parseIp(g);
    const i = ip ? parsed.findIndex((s) => s !== undefined && cidrContains(s, ip)) : -1;
    const pool = pools[i];
    if (!pool) throw new UsageError(`no matching subnet for gateway ${g}`);
    if (pool.Gateway !== undefined) throw new UsageError(`cannot configure multiple gateways (${g}, ${pool.Gateway}) for the same subnet (${pool.Subnet})`);
    pool.Gateway = g;
  }
  return pools;
}

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'attachable', type: 'bool', description: 'Enable manual container attachment' },
  { name: 'driver', short: 'd', type: 'string', defaultValue: 'bridge', description: 'Driver to manage the Network' },
  { name: 'gateway', type: 'list', valueName: 'strings', description: 'IPv4 or IPv6 Gateway for the master subnet' },
  { name: 'internal', type: 'bool', description: 'Restrict external access to the network' },
  { name: 'ip-range', type: 'list', valueName: 'strings', description: 'Allocate container ip from a sub-range' },
  { name: 'ipam-driver', type: 'string', defaultValue: 'default', description: 'IP Address Management Driver' },
  { name: 'ipam-opt', type: 'list', valueName: 'map', description: 'Set IPAM driver specific options' },
  { name: 'ipv6', type: 'bool', description: 'Enable or disable IPv6 networking' },
  { name: 'label', type: 'list', valueName: 'list', description: 'Set metadata on a network' },
  { name: 'opt', short: 'o', type: 'list', valueName: 'map', description: 'Set driver specific options' },
  { name: 'subnet', type: 'list', valueName: 'strings', description: 'Subnet in CIDR format that represents a network segment' },
];

/** The POST /networks/create body for `network create [flags] NAME`, as the docker CLI sends it. */
export function buildNetworkCreateBody(name: string, a: ParsedArgs): NetworkCreateBody {
  return {
    Driver: a.string('driver') ?? 'bridge',
    Scope: '',
    ...(a.has('ipv6') ? { EnableIPv6: a.bool('ipv6') } : {}),
    IPAM: {
      Driver: a.string('ipam-driver') ?? 'default',
      Options: keyValues(a.list('ipam-opt')),
      Config: ipamPools(a.list('subnet'), a.list('ip-range'), a.list('gateway')),
    },
    Internal: a.bool('internal'),
    Attachable: a.bool('attachable'),
    Ingress: false,
    ConfigOnly: false,
    ConfigFrom: null,
    Options: keyValues(a.list('opt')),
    Labels: keyValues(a.list('label')),
    Name: name,
  };
}

const createCommand: Command = {
  name: 'create',
  usage: '[OPTIONS] NETWORK',
  description: 'Create a network',
  minArgs: 1,
  maxArgs: 1,
  flags: CREATE_FLAGS,
  async run(ctx, a) {
    // docker prints only the ID, even when the engine returns a Warning.
    const r = await ctx.client.networks.create(buildNetworkCreateBody(a.args[0] as string, a));
    ctx.out(`${r.Id}\n`);
    return 0;
  },
};

// ---------------------------------------------------------------------------
// ls

/** Go's sortorder.NaturalLess: digit runs compare as numbers. */
export function naturalCompare(a: string, b: string): number {
  const chunks = (s: string): string[] => s.match(/\d+|\D+/g) ?? [];
  const x = chunks(a);
  const y = chunks(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    if (p === q) continue;
    if (/^\d/.test(p) && /^\d/.test(q)) {
      const d = Number(p) - Number(q);
      if (d !== 0) return d;
    }
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}

/** Go's time.Time.String() of an RFC 3339 timestamp, nanoseconds kept. */
function createdAt(created: string): string {
  const date = new Date(created);
  if (Number.isNaN(date.getTime())) return created;
  const frac = /T\d\d:\d\d:\d\d\.(\d+)/.exec(created)?.[1]?.replace(/0+$/, '');
  const text = goTimeString(date);
  return frac ? `${text.slice(0, 19)}.${frac}${text.slice(19)}` : text;
}

export function networkRows(networks: readonly NetworkInspect[], noTrunc: boolean): Record<string, unknown>[] {
  return [...networks]
    .sort((p, q) => naturalCompare(p.Name, q.Name))
    .map((n) => ({
      ID: noTrunc ? n.Id : shortId(n.Id),
      Name: n.Name,
      Driver: n.Driver,
      Scope: n.Scope,
      IPv6: String(n.EnableIPv6),
      Internal: String(n.Internal),
      Labels: Object.entries(n.Labels ?? {})
        .sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      CreatedAt: createdAt(n.Created),
    }));
}

const NETWORK_HEADERS = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' };

const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: '[OPTIONS]',
  description: 'List networks',
  maxArgs: 0,
  flags: [
    { name: 'filter', short: 'f', type: 'list', valueName: 'filter', description: 'Provide filter values (e.g. "driver=bridge")' },
    { name: 'format', type: 'string', description: "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)" },
    { name: 'no-trunc', type: 'bool', description: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display network IDs' },
  ],
  async run(ctx, a) {
    const networks = await ctx.client.networks.list({ filters: parseFilters(a.list('filter')) });
    const rows = networkRows(networks ?? [], a.bool('no-trunc'));
    if (a.bool('quiet')) {
      for (const r of rows) ctx.out(`${String(r['ID'])}\n`);
      return 0;
    }
    printRows(ctx, rows, a.string('format'), 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', NETWORK_HEADERS);
    return 0;
  },
};

// ---------------------------------------------------------------------------
// inspect, rm

const inspectCommand: Command = {
  name: 'inspect',
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  minArgs: 1,
  flags: [
    { name: 'format', short: 'f', type: 'string', description: "Format output using a custom template ('json' or a Go template)" },
    { name: 'verbose', short: 'v', type: 'bool', description: 'Verbose output for diagnostics' },
  ],
  async run(ctx, a) {
    return inspectEach(ctx, a, (name) => ctx.client.networks.inspect(name, { verbose: a.bool('verbose') }));
  },
};

const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  description: 'Remove one or more networks',
  minArgs: 1,
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Do not error if the network does not exist' }],
  async run(ctx, a) {
    let rc = 0;
    for (const name of a.args) {
      try {
        await ctx.client.networks.remove(name);
      } catch (err) {
        if (!(err instanceof EngineError) || err.code === 'UNREACHABLE') throw err;
        // --force: a network that does not exist is silently skipped.
        if (!(a.bool('force') && err.statusCode === 404)) {
          ctx.err(`${describeError(err)}\n`);
          rc = 1;
        }
        continue;
      }
      ctx.out(`${name}\n`);
    }
    return rc;
  },
};

// ---------------------------------------------------------------------------
// connect, disconnect, prune

/** The endpoint `network connect` asks for. */
export function connectEndpoint(a: ParsedArgs): EndpointSettings {
  const ep: EndpointSettings = {};
  const ipv4 = a.string('ip');
  const ipv6 = a.string('ip6');
  const linkLocal = a.list('link-local-ip');
  if (ipv4 || ipv6 || linkLocal.length > 0) {
    ep.IPAMConfig = {
      ...(ipv4 ? { IPv4Address: ipv4 } : {}),
      ...(ipv6 ? { IPv6Address: ipv6 } : {}),
      ...(linkLocal.length > 0 ? { LinkLocalIPs: linkLocal } : {}),
    };
  }
  if (a.list('link').length > 0) ep.Links = a.list('link');
  if (a.list('alias').length > 0) ep.Aliases = a.list('alias');
  const driverOpts = a.list('driver-opt');
  for (const o of driverOpts) if (o.indexOf('=') <= 0) throw new UsageError(`invalid key value pair format in driver options: ${o}`);
  if (driverOpts.length > 0) ep.DriverOpts = keyValues(driverOpts);
  return ep;
}

const connectCommand: Command = {
  name: 'connect',
  usage: '[OPTIONS] NETWORK CONTAINER',
  description: 'Connect a container to a network',
  minArgs: 2,
  maxArgs: 2,
  flags: [
    { name: 'alias', type: 'list', valueName: 'strings', description: 'Add network-scoped alias for the container' },
    { name: 'driver-opt', type: 'list', valueName: 'strings', description: 'driver options for the network' },
    { name: 'ip', type: 'string', description: 'IPv4 address (e.g., "172.30.100.104")' },
    { name: 'ip6', type: 'string', description: 'IPv6 address (e.g., "2001:db8::33")' },
    { name: 'link', type: 'list', valueName: 'list', description: 'Add link to another container' },
    { name: 'link-local-ip', type: 'list', valueName: 'strings', description: 'Add a link-local address for the container' },
  ],
  async run(ctx, a) {
    const [network, container] = a.args as [string, string];
    await ctx.client.networks.connect(network, container, connectEndpoint(a));
    return 0;
  },
};

const disconnectCommand: Command = {
  name: 'disconnect',
  usage: '[OPTIONS] NETWORK CONTAINER',
  description: 'Disconnect a container from a network',
  minArgs: 2,
  maxArgs: 2,
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the container to disconnect from a network' }],
  async run(ctx, a) {
    const [network, container] = a.args as [string, string];
    await ctx.client.networks.disconnect(network, container, { force: a.bool('force') });
    return 0;
  },
};

const pruneCommand: Command = {
  name: 'prune',
  usage: '[OPTIONS]',
  description: 'Remove all unused networks',
  maxArgs: 0,
  flags: [
    { name: 'filter', type: 'list', valueName: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
  async run(ctx: Context, a: ParsedArgs) {
    const filters = parseFilters(a.list('filter'));
    if (!a.bool('force')) {
      ctx.out('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ');
      const answer = await readLine(ctx.io.stdin, ctx.io.stdout);
      if (answer === undefined) ctx.out('\n');
      if (!/^y(es)?$/i.test((answer ?? '').trim())) return 0;
    }
    const report = await ctx.client.networks.prune({ filters });
    const deleted = report.NetworksDeleted ?? [];
    if (deleted.length > 0) ctx.out(`Deleted Networks:\n${deleted.map((n) => `${n}\n`).join('')}\n`);
    return 0;
  },
};

export const networkCommands: Command[] = [connectCommand, createCommand, disconnectCommand, inspectCommand, lsCommand, pruneCommand, rmCommand];

// ---------------------------------------------------------------------------
// port

function hostPort(b: PortBinding): string {
  return `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
}

/** The lines of `port CONTAINER [PRIVATE_PORT[/PROTO]]` from inspect's NetworkSettings.Ports. */
export function portLines(ports: Record<string, PortBinding[] | null>, container: string, which?: string): string[] {
  if (which === undefined) {
    const lines: string[] = [];
    for (const [key, bindings] of Object.entries(ports)) for (const b of bindings ?? []) lines.push(`${key} -> ${hostPort(b)}`);
    return lines.sort(naturalCompare);
  }
  const [port = '', proto = 'tcp'] = which.split('/');
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new Error(`invalid port (${port}): strconv.ParseUint: parsing "${port}": ${/^\d+$/.test(port) ? 'value out of range' : 'invalid syntax'}`);
  }
  const bindings = ports[`${Number(port)}/${proto.toLowerCase()}`] ?? [];
  if (bindings.length === 0) throw new Error(`No public port '${which}' published for ${container}`);
  return bindings.map(hostPort).sort(naturalCompare);
}

export const portCommand: Command = {
  name: 'port',
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  minArgs: 1,
  maxArgs: 2,
  flags: [],
  async run(ctx, a) {
    const [container, which] = a.args as [string, string | undefined];
    const info = await ctx.client.containers.inspect(container);
    for (const line of portLines(info.NetworkSettings?.Ports ?? {}, container, which)) ctx.out(`${line}\n`);
    return 0;
  },
};
