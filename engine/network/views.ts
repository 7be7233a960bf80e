/**
 * Networks as the API shows them (`docker network ls/inspect`) and the filters of list and
 * prune (driver, id, label, name, scope, type, dangling, until).
 */
import { invalid } from '../common/errors.js';
import { matchKVList, parseDockerTime } from '../common/prune-filters.js';
import type { NetworkRecord } from './types.js';

export type Attached = Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;

export function networkView(n: NetworkRecord, containers: Attached): Record<string, unknown> {
  return {
    Name: n.Name,
    Id: n.Id,
    Created: n.Created,
    Scope: 'local',
    Driver: n.Driver,
    EnableIPv6: n.EnableIPv6,
    // As in Docker: Options is null unless the create asked for some.
    IPAM: { Driver: n.IPAM.Driver, Options: Object.keys(n.IPAM.Options).length > 0 ? n.IPAM.Options : null, Config: n.IPAM.Config.map((c) => ({ ...c })) },
    Internal: n.Internal,
    Attachable: n.Attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.Options,
    Labels: n.Labels,
  };
}


/** A predicate for GET /networks and POST /networks/prune filters. `inUse` answers "has containers". */
export function networkFilter(f: Record<string, string[]>, inUse: (n: NetworkRecord) => boolean): (n: NetworkRecord) => boolean {
  const tests: ((n: NetworkRecord) => boolean)[] = [];
  if (f['driver']) tests.push((n) => f['driver']!.includes(n.Driver));
  if (f['id']) tests.push((n) => f['id']!.some((v) => n.Id.startsWith(v)));
  if (f['name']) tests.push((n) => f['name']!.some((v) => n.Name.includes(v)));
  if (f['label']) tests.push((n) => matchKVList(f['label']!, n.Labels));
  if (f['label!']) tests.push((n) => !matchKVList(f['label!']!, n.Labels));
  if (f['scope']) tests.push(() => f['scope']!.includes('local'));
  if (f['type']) {
    for (const v of f['type']) if (v !== 'custom' && v !== 'builtin') throw invalid(`invalid filter: 'type'='${v}'`);
    tests.push((n) => f['type']!.includes(n.builtin ? 'builtin' : 'custom'));
  }
  if (f['dangling']) {
    const v = f['dangling'][0];
    if (!['true', 'false', '1', '0'].includes(v ?? '')) throw invalid(`invalid filter 'dangling=${v}'`);
    const want = v === 'true' || v === '1';
    tests.push((n) => (!n.builtin && !inUse(n)) === want);
  }
  if (f['until']) {
    if (f['until'].length > 1) throw invalid('more than one until filter specified');
    const t = parseDockerTime(f['until'][0] ?? '');
    tests.push((n) => Date.parse(n.Created) <= t);
  }
  return (n) => tests.every((t) => t(n));
}
