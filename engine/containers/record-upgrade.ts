/**
 * Reading container records written by any version of berthd.
 *
 * Version 1 (before the typed request path) kept the create body as received (`Create`, with
 * HostConfig and NetworkingConfig inside, changed in place by create) next to the merged
 * `Config`. Nothing had checked the body's types, so a v1 record may hold what no client can
 * read back (`"Labels": {"a": true}` broke `docker ps` for every client). Version 2 keeps the
 * plan: Config, HostConfig and the endpoints as separate, typed fields.
 *
 * upgradeRecord() turns either into a version 2 record, keeping what fits the types and
 * dropping what does not (a label that is not a string becomes its JSON text, as a client
 * would have had to send it). Pure; the caller writes the result back on its next save.
 */
import type { ContainerConfig, EndpointSettings } from '../../types/engine-api.js';
import type { ContainerRecord, ContainerState, MountPoint, PlannedHostConfig, RestartPolicy } from './types.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, dflt = ''): string => (typeof v === 'string' ? v : dflt);

function strList(v: unknown): string[] | undefined {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** A map of strings; other values become their JSON text (a number label 1 becomes "1"). */
function strMap(v: unknown): Record<string, string> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || x === undefined) continue;
    Object.defineProperty(out, k, { value: typeof x === 'string' ? x : JSON.stringify(x), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const keySet = (v: unknown): Record<string, Record<string, never>> | undefined =>
  isObj(v) ? Object.fromEntries(Object.keys(v).map((k) => [k, {} as Record<string, never>])) : undefined;

/** Config as v1 merged it, with every field made to fit its type. */
function upgradeConfig(raw: unknown, create: Obj): ContainerConfig {
  const c = isObj(raw) ? raw : {};
  const out: ContainerConfig = { ...(c as ContainerConfig) };
  for (const k of ['Hostname', 'Domainname', 'User', 'Image', 'WorkingDir', 'StopSignal', 'MacAddress'] as const) {
    if (c[k] !== undefined) out[k] = str(c[k]);
  }
  for (const k of ['AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce'] as const) out[k] = c[k] === true;
  for (const k of ['Env', 'Cmd', 'Entrypoint', 'Shell', 'OnBuild'] as const) {
    if (c[k] === null || c[k] === undefined) continue;
    const list = strList(c[k]);
    if (list) out[k] = list;
    else delete out[k];
  }
  out.Labels = strMap(c['Labels']) ?? {};
  for (const k of ['ExposedPorts', 'Volumes'] as const) {
    const set = keySet(c[k]);
    if (set) out[k] = set;
    else delete out[k];
  }
  if (typeof c['StopTimeout'] !== 'number') delete out.StopTimeout;
  if (!isObj(c['Healthcheck'])) delete out.Healthcheck;
  // v1 kept the deprecated container-wide MAC in the create body only.
  if (!out.MacAddress && typeof create['MacAddress'] === 'string' && create['MacAddress']) out.MacAddress = create['MacAddress'];
  return out;
}

function upgradeRestartPolicy(v: unknown): RestartPolicy {
  const p = isObj(v) ? v : {};
  const name = str(p['Name']);
  const known = ['no', 'always', 'unless-stopped', 'on-failure'].includes(name);
  const max = typeof p['MaximumRetryCount'] === 'number' ? p['MaximumRetryCount'] : 0;
  return { Name: known ? (name as RestartPolicy['Name']) : 'no', MaximumRetryCount: max };
}

/** HostConfig as v1 recorded it (already normalised by its create), made to fit the types. */
function upgradeHostConfig(raw: unknown): PlannedHostConfig {
  const hc = isObj(raw) ? raw : {};
  const log = isObj(hc['LogConfig']) ? hc['LogConfig'] : {};
  const out = { ...hc } as unknown as PlannedHostConfig;
  out.NetworkMode = str(hc['NetworkMode'], 'bridge') || 'bridge';
  out.RestartPolicy = upgradeRestartPolicy(hc['RestartPolicy']);
  out.LogConfig = { Type: str(log['Type'], 'json-file') || 'json-file', Config: strMap(log['Config']) ?? {} };
  out.Runtime = str(hc['Runtime'], 'runc') || 'runc';
  out.AutoRemove = hc['AutoRemove'] === true;
  for (const k of ['Binds', 'VolumesFrom', 'CapAdd', 'CapDrop', 'Dns', 'DnsOptions', 'DnsSearch', 'ExtraHosts', 'GroupAdd', 'Links', 'SecurityOpt', 'DeviceCgroupRules'] as const) {
    if (hc[k] === null || hc[k] === undefined) continue;
    const list = strList(hc[k]);
    if (list) out[k] = list;
    else delete out[k];
  }
  for (const k of ['Tmpfs', 'Sysctls', 'Annotations', 'StorageOpt'] as const) {
    if (hc[k] === null || hc[k] === undefined) continue;
    const map = strMap(hc[k]);
    if (map) out[k] = map;
    else delete out[k];
  }
  return out;
}

function upgradeEndpoints(v: unknown): Record<string, EndpointSettings> {
  const nc = isObj(v) ? v : {};
  const eps = isObj(nc['EndpointsConfig']) ? nc['EndpointsConfig'] : {};
  const out: Record<string, EndpointSettings> = {};
  for (const [name, e] of Object.entries(eps)) out[name] = isObj(e) ? (e as EndpointSettings) : {};
  return out;
}

/**
 * A record as read from disk, in the current shape; undefined when it is not a record at all
 * (no ID or no state): the caller skips such a directory.
 */
export function upgradeRecord(raw: unknown): ContainerRecord | undefined {
  if (!isObj(raw) || typeof raw['Id'] !== 'string' || !isObj(raw['State'])) return undefined;
  if (raw['version'] === 2) {
    const rec = raw as unknown as ContainerRecord;
    return { ...rec, MountPoints: Array.isArray(rec.MountPoints) ? rec.MountPoints : [], Endpoints: isObj(rec.Endpoints) ? rec.Endpoints : {} };
  }
  const create = isObj(raw['Create']) ? raw['Create'] : {};
  const args = strList(raw['Args']) ?? [];
  return {
    version: 2,
    Id: raw['Id'],
    Name: str(raw['Name']),
    Created: str(raw['Created']),
    Image: str(raw['Image']),
    ImageID: str(raw['ImageID']) as ContainerRecord['ImageID'],
    Config: upgradeConfig(raw['Config'], create),
    HostConfig: upgradeHostConfig(create['HostConfig']),
    Endpoints: upgradeEndpoints(create['NetworkingConfig']),
    Path: str(raw['Path']),
    Args: args,
    State: raw['State'] as unknown as ContainerState,
    RestartCount: typeof raw['RestartCount'] === 'number' ? raw['RestartCount'] : 0,
    ...(raw['HasBeenManuallyStopped'] === true ? { HasBeenManuallyStopped: true } : {}),
    ...(raw['HasBeenStartedBefore'] === true ? { HasBeenStartedBefore: true } : {}),
    MountPoints: Array.isArray(raw['MountPoints']) ? (raw['MountPoints'] as MountPoint[]) : [],
  };
}
