import type { EngineEvent, EventBus } from '../events/bus.js';
import { invalid } from '../common/errors.js';
import type { ServerResponse } from 'node:http';
import { API_VERSION, parseFilters, sendJson, type Ctx, type Router } from './router.js';
import { authConfig, decodeBody } from './decode/index.js';
import type { AuthConfig } from '../registry/types.js';

/** What the system routes need from the engine. */
export interface SystemBackend {
  readonly events: EventBus;
  version(): Record<string, unknown>;
  info(): Promise<Record<string, unknown>>;
  diskUsage(types: string[]): Promise<Record<string, unknown>>;
  login(auth: AuthConfig): Promise<{ identityToken?: string }>;
}

/** Built once: clients poll /_ping, and its latency is what they feel first. */
const PING_HEADERS: Record<string, string> = {
  'Api-Version': API_VERSION,
  'Builder-Version': '1',
  'Docker-Experimental': 'false',
  'OSType': 'linux',
  'Swarm': 'inactive',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  'Pragma': 'no-cache',
  'Content-Type': 'text/plain; charset=utf-8',
  'Content-Length': '2',
};

const EVENT_FILTERS = ['type', 'event', 'image', 'container', 'label', 'network', 'volume', 'daemon', 'scope', 'plugin', 'node', 'service', 'secret', 'config'] as const;

export function systemRoutes(router: Router, backend: SystemBackend): void {
  const ping = (res: ServerResponse, head: boolean): void => {
    res.writeHead(200, PING_HEADERS);
    res.end(head ? undefined : 'OK');
  };
  router.add('GET', '/_ping', ({ req, res }) => ping(res, req.method === 'HEAD'));
  router.add('HEAD', '/_ping', ({ res }) => ping(res, true));
  router.add('GET', '/version', ({ res }) => sendJson(res, 200, backend.version()));
  router.add('GET', '/info', async ({ res }) => sendJson(res, 200, await backend.info()));
  router.add('GET', '/system/df', async ({ res, query }) => sendJson(res, 200, await backend.diskUsage(query.getAll('type'))));
  router.add('POST', '/auth', async ({ req, res }) => {
    const auth: AuthConfig = await decodeBody(req, authConfig, { empty: () => ({}) });
    const { identityToken } = await backend.login(auth);
    sendJson(res, 200, { Status: 'Login Succeeded', IdentityToken: identityToken ?? '' });
  });
  router.add('GET', '/events', (ctx) => streamEvents(ctx, backend.events));
}

function parseEventTime(v: string | null, name: string): number | undefined {
  if (v === null || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid value for ${name}: ${v}`);
  return t / 1000;
}

function eventMatches(e: EngineEvent, f: Record<string, string[]>): boolean {
  const any = (key: string, pred: (v: string) => boolean): boolean => {
    const vals = f[key];
    return !vals || vals.length === 0 || vals.some(pred);
  };
  const attrs = e.Actor.Attributes;
  return (
    any('type', (v) => v === e.Type) &&
    any('event', (v) => v === e.Action || e.Action.startsWith(`${v}:`)) &&
    any('scope', (v) => v === e.scope) &&
    any('image', (v) => e.Type === 'image' ? e.Actor.ID === v || attrs['name'] === v || e.Actor.ID.startsWith(v) : attrs['image'] === v) &&
    any('container', (v) => e.Type === 'container' && (e.Actor.ID.startsWith(v) || attrs['name'] === v)) &&
    any('network', (v) => e.Type === 'network' && (e.Actor.ID.startsWith(v) || attrs['name'] === v)) &&
    any('volume', (v) => e.Type === 'volume' && e.Actor.ID === v) &&
    any('label', (v) => {
      const eq = v.indexOf('=');
      return eq < 0 ? v in attrs : attrs[v.slice(0, eq)] === v.slice(eq + 1);
    })
  );
}

/** Old clients read these top-level fields too. */
function wireEvent(e: EngineEvent): Record<string, unknown> {
  const legacy: Record<string, unknown> = {};
  if (e.Type === 'container' || e.Type === 'image') {
    legacy['status'] = e.Action;
    legacy['id'] = e.Actor.ID;
    if (e.Actor.Attributes['image']) legacy['from'] = e.Actor.Attributes['image'];
  }
  return { ...legacy, ...e };
}

function streamEvents(ctx: Ctx, bus: EventBus): void {
  const { res, query, req } = ctx;
  const filters = parseFilters(query, EVENT_FILTERS);
  const now = Date.now() / 1000;
  const since = parseEventTime(query.get('since'), 'since');
  const until = parseEventTime(query.get('until'), 'until');
  if (since !== undefined && until !== undefined && since > until) throw invalid('since must be before until');
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  const inWindow = (e: EngineEvent): boolean => {
    const t = e.timeNano / 1e9;
    return (since === undefined || t >= since) && (until === undefined || t <= until);
  };
  const send = (e: EngineEvent): void => {
    if (inWindow(e) && eventMatches(e, filters)) res.write(JSON.stringify(wireEvent(e)) + '\n');
  };
  if (since !== undefined) for (const e of bus.history()) send(e);
  if (until !== undefined && until <= now) {
    res.end();
    return;
  }
  const unsubscribe = bus.subscribe(send);
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    unsubscribe();
    if (timer) clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  if (until !== undefined) timer = setTimeout(stop, (until - now) * 1000);
  req.socket.once('close', stop);
  res.once('close', stop);
}
