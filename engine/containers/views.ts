/**
 * What `docker ps` and `docker inspect` show of a container: the list and inspect shapes, the
 * human Status strings ("Up 5 minutes", "Exited (0) 2 hours ago") and the list filters.
 *
 * Kept apart from the lifecycle (service.ts): these are pure functions of a record (and, for
 * inspect, of where its files are) that change with the API, not with how containers run.
 */
import path from 'node:path';
import type { ContainerRecords } from './records.js';
import { ZERO_TIME, type ContainerRecord } from './types.js';

export interface ListOptions {
  all: boolean;
  limit?: number;
  filters: Record<string, string[]>;
}

/** `GET /containers/json`: the records that pass the filters, newest first. */
export function listView(records: Iterable<ContainerRecord>, opts: ListOptions): unknown[] {
  let cs = [...records];
  if (!opts.all) cs = cs.filter((r) => r.State.Status === 'running');
  const f = opts.filters;
  if (f['id']) cs = cs.filter((r) => f['id']?.some((v) => r.Id.startsWith(v)));
  if (f['name']) cs = cs.filter((r) => f['name']?.some((v) => r.Name.includes(v.replace(/^\//, ''))));
  if (f['status']) cs = cs.filter((r) => f['status']?.includes(r.State.Status));
  if (f['label']) {
    cs = cs.filter((r) => {
      const labels = (r.Config['Labels'] ?? {}) as Record<string, string>;
      return f['label']?.every((l) => {
        const i = l.indexOf('=');
        return i < 0 ? l in labels : labels[l.slice(0, i)] === l.slice(i + 1);
      });
    });
  }
  cs.sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
  if (opts.limit !== undefined && opts.limit > 0) cs = cs.slice(0, opts.limit);
  return cs.map((r) => ({
    Id: r.Id,
    Names: [`/${r.Name}`],
    Image: r.Image,
    ImageID: r.ImageID,
    Command: [r.Path, ...r.Args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' '),
    Created: Math.floor(Date.parse(r.Created) / 1000),
    Ports: [],
    Labels: r.Config['Labels'] ?? {},
    State: r.State.Status,
    Status: statusText(r),
    HostConfig: { NetworkMode: (r.Create.HostConfig?.['NetworkMode'] as string | undefined) || 'none' },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  }));
}

/** `GET /containers/{id}/json`. */
export function inspectView(paths: Pick<ContainerRecords, 'dataDir' | 'merged'>, r: ContainerRecord): Record<string, unknown> {
  const st = r.State;
  const dataDir = paths.dataDir(r.Id);
  return {
    Id: r.Id,
    Created: r.Created,
    Path: r.Path,
    Args: r.Args,
    State: {
      Status: st.Status,
      Running: st.Status === 'running',
      Paused: false,
      Restarting: false,
      OOMKilled: st.OOMKilled,
      Dead: st.Status === 'dead',
      Pid: st.Pid,
      ExitCode: st.ExitCode,
      Error: st.Error,
      StartedAt: st.StartedAt,
      FinishedAt: st.FinishedAt,
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
    ExecIDs: null,
    HostConfig: hostConfigView(r),
    GraphDriver: {
      Name: 'overlay2',
      Data: {
        MergedDir: paths.merged(r.Id),
        UpperDir: path.join(dataDir, 'upper'),
        WorkDir: path.join(dataDir, 'work'),
      },
    },
    Mounts: [],
    Config: r.Config,
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      SandboxKey: '',
      Ports: {},
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: '',
      Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      MacAddress: '',
      Networks: {},
    },
  };
}

function hostConfigView(r: ContainerRecord): Record<string, unknown> {
  const hc = r.Create.HostConfig ?? {};
  return {
    Binds: null,
    NetworkMode: 'none',
    PortBindings: {},
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
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
    Runtime: 'runc',
    LogConfig: { Type: 'k8s-file', Config: {} },
    ...hc,
    AutoRemove: hc.AutoRemove === true,
  };
}

function statusText(r: ContainerRecord): string {
  const st = r.State;
  switch (st.Status) {
    case 'running':
      return `Up ${humanDuration(Date.now() - Date.parse(st.StartedAt))}`;
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
