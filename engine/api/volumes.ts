/**
 * Volume routes: list (filters dangling, driver, label, name), create (idempotent per name),
 * inspect, remove (?force), prune (label filters; `all` from API 1.42 on, before that every
 * unused volume). The daemon wires the volume service in through VolumesBackend.
 */
import type { VolumeCreateBody } from '../../types/engine-api.js';
import { invalid } from '../common/errors.js';
import { decodeBody, volumeCreateRequest } from './decode/index.js';
import { boolParam, parseFilters, readBody, sendJson, sendNoContent, type Router } from './router.js';

/** What the volume routes need; the daemon wires the volume service in. */
export interface VolumesBackend {
  list(filters: Record<string, string[]>): { Volumes: unknown[]; Warnings: string[] };
  create(body: VolumeCreateBody): Promise<unknown>;
  inspect(name: string): unknown;
  remove(name: string, opts: { force: boolean }): Promise<void>;
  prune(filters: Record<string, string[]>, opts: { all: boolean }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }>;
}

const LIST_FILTERS = ['dangling', 'driver', 'label', 'name'] as const;
const PRUNE_FILTERS = ['label', 'label!', 'all'] as const;

function atLeast(version: string, want: string): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  const [c = 0, d = 0] = want.split('.').map(Number);
  return a !== c ? a > c : b >= d;
}

export function volumeRoutes(router: Router, backend: VolumesBackend): void {
  router.add('GET', '/volumes', ({ res, query }) => {
    sendJson(res, 200, backend.list(parseFilters(query, LIST_FILTERS)));
  });

  router.add('POST', '/volumes/create', async ({ req, res }) => {
    sendJson(res, 201, await backend.create(await decodeBody(req, volumeCreateRequest, { empty: () => ({}) })));
  });

  router.add('POST', '/volumes/prune', async ({ req, res, query, version }) => {
    await readBody(req);
    const filters = parseFilters(query, PRUNE_FILTERS);
    const { all: allValues, ...rest } = filters;
    let all = !atLeast(version, '1.42');
    if (allValues && allValues.length > 1) throw invalid(`invalid filter 'all=[${allValues.join(' ')}]': only one value is expected`);
    for (const v of allValues ?? []) {
      // Go's strconv.ParseBool, as dockerd reads it.
      if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(v)) throw invalid(`invalid filter 'all': strconv.ParseBool: parsing "${v}": invalid syntax`);
      all = /^(1|t|T|TRUE|true|True)$/.test(v);
    }
    sendJson(res, 200, await backend.prune(rest, { all }));
  });

  router.add('GET', '/volumes/{name}', ({ res, params }) => {
    sendJson(res, 200, backend.inspect(params['name'] ?? ''));
  });

  router.add('DELETE', '/volumes/{name}', async ({ res, params, query }) => {
    await backend.remove(params['name'] ?? '', { force: boolParam(query, 'force') });
    sendNoContent(res);
  });
}
