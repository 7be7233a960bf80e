/**
 * What `docker ps` and `docker inspect` show of a container: the list and inspect shapes, the
 * human Status strings ("Up 5 minutes (healthy)", "Exited (0) 2 hours ago") and the list filters.
 *
 * Kept apart from the lifecycle (service.ts): these are pure functions of a record (and, for
 * inspect, of where its files are) that change with the API, not with how containers run.
 */
import path from 'node:path';
import { invalid, notFound } from '../common/errors.js';
import type { ContainerInspect, ContainerState, HostConfig } from '../../types/engine-api.js';
import type { ContainerRecords } from './records.js';
import { legacyLinks } from './networking.js';
import { ZERO_TIME, type ContainerRecord } from './types.js';

export interface ListOptions {
  all: boolean;
  limit?: number;
  filters: Record<string, string[]>;
}

/** What the ancestor filter needs from the image store: the image id a reference names. */
export type ImageIdOf = (ref: string) => string | undefined;

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** The Status Docker reports: a paused container is "paused", not "running". */
export function dockerStatus(r: ContainerRecord): ContainerState {
  return r.State.Status === 'running' && r.State.Paused ? 'paused' : r.State.Status;
}

/** The health the `health` filter matches: the check's status, or "none" without one. */
function healthStatus(r: ContainerRecord): string {
  return r.State.Health?.Status ?? 'none';
}

/** Running in Docker's sense: the process exists, or a restart policy is about to bring it back. */
function isUp(r: ContainerRecord): boolean {
  return r.State.Status === 'running' || r.State.Status === 'restarting';
}

/** Docker matches id and name filters as regular expressions (an invalid one matches as text). */
function matches(pattern: string, value: string): boolean {
  try {
    return new RegExp(pattern).test(value);
  } catch {
    return value.includes(pattern);
  }
}

/** Validates the filters and returns the predicate they make (400 for bad values). */
/** The network side of a container's views (networking.ts over the network service). */
export interface NetView {
  settings(r: ContainerRecord): Record<string, unknown>;
  ports(r: ContainerRecord): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
}

export function listFilter(all: ContainerRecord[], filters: Record<string, string[]>, imageIdOf: ImageIdOf, net?: NetView): (r: ContainerRecord) => boolean {
  const tests: ((r: ContainerRecord) => boolean)[] = [];
  const f = filters;
  if (f['id']) tests.push((r) => f['id']!.some((v) => matches(v, r.Id)));
  if (f['name']) tests.push((r) => f['name']!.some((v) => matches(v, `/${r.Name}`) || matches(v, r.Name)));
  if (f['status']) {
    for (const v of f['status']) if (!STATUSES.includes(v)) throw invalid(`Invalid filter 'status=${v}'`);
    tests.push((r) => f['status']!.includes(dockerStatus(r)));
  }
  if (f['exited']) {
    const codes = f['exited'].map((v) => {
      if (!/^-?\d+$/.test(v)) throw invalid(`invalid filter 'exited=${v}'`);
      return Number(v);
    });
    tests.push((r) => r.State.Status === 'exited' && r.State.FinishedAt !== ZERO_TIME && codes.includes(r.State.ExitCode));
  }
  if (f['label']) {
    tests.push((r) => {
      const labels = (r.Config['Labels'] ?? {}) as Record<string, string>;
      return f['label']!.every((l) => {
        const i = l.indexOf('=');
        return i < 0 ? l in labels : labels[l.slice(0, i)] === l.slice(i + 1);
      });
    });
  }
  if (f['ancestor']) {
    const ids = new Set<string>();
    for (const v of f['ancestor']) {
      const id = imageIdOf(v);
      if (id) ids.add(id);
    }
    tests.push((r) => ids.has(r.ImageID) || f['ancestor']!.includes(r.Image));
  }
  for (const key of ['before', 'since'] as const) {
    const v = f[key];
    if (!v) continue;
    if (v.length > 1) throw invalid(`filter '${key}' takes one value`);
    const ref = v[0] ?? '';
    const other =
      all.find((r) => r.Id === ref || r.Name === ref.replace(/^\//, '')) ??
      (/^[0-9a-f]+$/.test(ref) ? all.find((r) => r.Id.startsWith(ref)) : undefined);
    if (!other) throw notFound(`No such container: ${ref}`);
    tests.push(key === 'before' ? (r) => r.Created < other.Created : (r) => r.Created > other.Created);
  }
  if (f['health']) {
    for (const v of f['health']) if (!['starting', 'healthy', 'unhealthy', 'none'].includes(v)) throw invalid(`Unrecognised filter value for health: ${v}`);
    tests.push((r) => f['health']!.includes(healthStatus(r)));
  }
  if (f['is-task']) tests.push(() => f['is-task']!.includes('false'));
  if (f['isolation']) tests.push(() => f['isolation']!.some((v) => v === 'default' || v === ''));
  if (f['network']) {
    tests.push((r) => {
      const nets = (net?.settings(r)['Networks'] ?? {}) as Record<string, { NetworkID?: string }>;
      const names = [networkMode(r), ...Object.keys(nets), ...Object.values(nets).map((n) => n.NetworkID ?? '')].filter((x) => x !== '');
      return f['network']!.some((v) => names.includes(v) || (v.length >= 12 && names.some((n) => n.startsWith(v))));
    });
  }
  // publish=8080[/tcp] matches a host port, expose=80[/tcp] a container port (ranges "8000-8080" too).
  for (const key of ['publish', 'expose'] as const) {
    if (!f[key]) continue;
    const wanted = f[key]!.map(portFilter);
    tests.push((r) =>
      (net?.ports(r) ?? []).some((p) => wanted.some((w) => {
        const port = key === 'publish' ? p.PublicPort : p.PrivatePort;
        return port !== undefined && port >= w.lo && port <= w.hi && (w.proto === undefined || w.proto === p.Type);
      })),
    );
  }
  // A volume filter names a volume or a mount destination.
  if (f['volume']) tests.push((r) => (r.MountPoints ?? []).some((m) => f['volume']!.some((v) => v === m.Name || v === m.Destination)));
  return (r) => tests.every((t) => t(r));
}

function networkMode(r: ContainerRecord): string {
  return r.HostConfig.NetworkMode || 'none';
}

function portFilter(v: string): { lo: number; hi: number; proto?: string } {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/.exec(v);
  if (!m) throw invalid(`invalid port filter: ${v}`);
  return { lo: Number(m[1]), hi: Number(m[2] ?? m[1]), ...(m[3] ? { proto: m[3] } : {}) };
}

/** Container ID → the link names other containers gave it ("/web/db" for `web --link db`). */
function linkNamesOf(all: ContainerRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of all) {
    for (const l of legacyLinks(p.HostConfig)) {
      const t = all.find((r) => r.Name === l.name || r.Id === l.name || (l.name.length >= 12 && r.Id.startsWith(l.name)));
      if (t) out.set(t.Id, [...(out.get(t.Id) ?? []), `/${p.Name}/${l.alias}`]);
    }
  }
  return out;
}

/** `GET /containers/json`: the records that pass the filters, newest first. */
export function listView(records: Iterable<ContainerRecord>, opts: ListOptions, imageIdOf: ImageIdOf, net?: NetView): unknown[] {
  const every = [...records];
  const keep = listFilter(every, opts.filters, imageIdOf, net);
  // `exited` and `status` reach beyond running containers by themselves, as in Docker.
  const all = opts.all || opts.filters['exited'] !== undefined || opts.filters['status'] !== undefined;
  let cs = every.filter((r) => (all || isUp(r)) && keep(r));
  cs.sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
  if (opts.limit !== undefined && opts.limit > 0) cs = cs.slice(0, opts.limit);
  const linkNames = linkNamesOf(every);
  return cs.map((r) => ({
      Id: r.Id,
      // As dockerd: a container's legacy links add "/<linker>/<alias>" to its names.
      Names: [`/${r.Name}`, ...(linkNames.get(r.Id) ?? [])],
      Image: r.Image,
      ImageID: r.ImageID,
      Command: [r.Path, ...r.Args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' '),
      Created: Math.floor(Date.parse(r.Created) / 1000),
      Ports: net?.ports(r) ?? [],
      Labels: r.Config['Labels'] ?? {},
      State: dockerStatus(r),
      Status: statusText(r),
      HostConfig: { NetworkMode: networkMode(r) },
      NetworkSettings: { Networks: net?.settings(r)['Networks'] ?? {} },
      Mounts: mountsView(r),
  }));
}

/** `GET /containers/{id}/json`. */
export function inspectView(paths: Pick<ContainerRecords, 'dataDir' | 'merged'>, r: ContainerRecord, execIds: string[] = [], net?: NetView): ContainerInspect {
  const st = r.State;
  const dataDir = paths.dataDir(r.Id);
  return {
    Id: r.Id,
    Created: r.Created,
    Path: r.Path,
    Args: r.Args,
    State: {
      Status: dockerStatus(r),
      Running: isUp(r),
      Paused: st.Paused === true,
      Restarting: st.Status === 'restarting',
      OOMKilled: st.OOMKilled,
      Dead: st.Status === 'dead',
      Pid: st.Pid,
      ExitCode: st.ExitCode,
      Error: st.Error,
      StartedAt: st.StartedAt,
      FinishedAt: st.FinishedAt,
      ...(st.Health ? { Health: st.Health } : {}),
    },
    Image: r.ImageID,
    ResolvConfPath: path.join(dataDir, 'resolv.conf'),
    HostnamePath: path.join(dataDir, 'hostname'),
    HostsPath: path.join(dataDir, 'hosts'),
    LogPath: path.join(dataDir, 'container.log'),
    Name: `/${r.Name}`,
    RestartCount: r.RestartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: execIds.length > 0 ? execIds : null,
    HostConfig: hostConfigView(r),
    GraphDriver: {
      Name: 'overlay2',
      Data: {
        MergedDir: paths.merged(r.Id),
        UpperDir: path.join(dataDir, 'upper'),
        WorkDir: path.join(dataDir, 'work'),
      },
    },
    Mounts: mountsView(r),
    Config: { ...r.Config, Tty: r.Config.Tty === true, OpenStdin: r.Config.OpenStdin === true, Image: r.Config.Image ?? r.Image },
    NetworkSettings: net?.settings(r) ?? { Networks: {} },
  };
}

/** inspect's and ps's `Mounts`: Docker's MountPoint shape (HostConfig.Tmpfs entries are not listed). */
function mountsView(r: ContainerRecord): Record<string, unknown>[] {
  return (r.MountPoints ?? [])
    .filter((m) => !m.Hidden)
    .map((m) => ({
      Type: m.Type,
      ...(m.Name !== undefined ? { Name: m.Name } : {}),
      Source: m.Source,
      Destination: m.Destination,
      ...(m.Driver !== undefined ? { Driver: m.Driver } : {}),
      Mode: m.Mode,
      RW: m.RW,
      Propagation: m.Propagation,
    }));
}

/** inspect's HostConfig: the planned one over the defaults dockerd shows for fields never set. */
function hostConfigView(r: ContainerRecord): HostConfig {
  return {
    Binds: null,
    PortBindings: {},
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    IpcMode: 'private',
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    ShmSize: 64 * 1024 * 1024,
    ...r.HostConfig,
    AutoRemove: r.HostConfig.AutoRemove === true,
  };
}

function statusText(r: ContainerRecord): string {
  const st = r.State;
  switch (st.Status) {
    case 'running': {
      const up = `Up ${humanDuration(Date.now() - Date.parse(st.StartedAt))}`;
      if (st.Paused) return `${up} (Paused)`;
      if (st.Health) return `${up} (${st.Health.Status === 'starting' ? 'health: starting' : st.Health.Status})`;
      return up;
    }
    case 'restarting':
      return `Restarting (${st.ExitCode}) ${humanDuration(Date.now() - Date.parse(st.FinishedAt))} ago`;
    case 'exited':
      if (st.FinishedAt === ZERO_TIME) return 'Created';
      return `Exited (${st.ExitCode}) ${humanDuration(Date.now() - Date.parse(st.FinishedAt))} ago`;
    case 'created':
      return 'Created';
    case 'removing':
      return 'Removal In Progress';
    default:
      return 'Dead';
  }
}

/** Docker's units.HumanDuration. */
function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}
