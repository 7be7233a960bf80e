/**
 * /networks routes: list, inspect, create, remove, connect, disconnect, prune.
 */
import type { EndpointSettings, NetworkCreateRequest } from '../../types/engine-api.js';
import { invalid } from '../common/errors.js';
import { decodeBody, networkConnectRequest, networkCreateRequest, networkDisconnectRequest } from './decode/index.js';
import { parseFilters, readBody, sendJson, sendNoContent, type Router } from './router.js';

export interface NetworksBackend {
  list(filters: Record<string, string[]>): unknown[];
  inspect(ref: string): unknown;
  create(body: NetworkCreateRequest): Promise<{ Id: string; Warning: string }>;
  remove(ref: string): Promise<void>;
  connect(network: string, container: string, endpoint: EndpointSettings | undefined): Promise<void>;
  disconnect(network: string, container: string, force: boolean): Promise<void>;
  prune(filters: Record<string, string[]>): Promise<{ NetworksDeleted: string[] }>;
}

const LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;
const PRUNE_FILTERS = ['label', 'label!', 'until'] as const;

export function networkRoutes(router: Router, backend: NetworksBackend): void {
  router.add('GET', '/networks', ({ res, query }) => sendJson(res, 200, backend.list(parseFilters(query, LIST_FILTERS))));

  router.add('GET', '/networks/{id}', ({ res, params }) => sendJson(res, 200, backend.inspect(params['id'] ?? '')));

  router.add('POST', '/networks/create', async ({ req, res }) => {
    sendJson(res, 201, await backend.create(await decodeBody(req, networkCreateRequest)));
  });

  router.add('DELETE', '/networks/{id}', async ({ req, res, params }) => {
    await readBody(req);
    await backend.remove(params['id'] ?? '');
    sendNoContent(res);
  });

  router.add('POST', '/networks/{id}/connect', async ({ req, res, params }) => {
    const body = await decodeBody(req, networkConnectRequest);
    if (body.Container === '') throw invalid('no container specified');
    await backend.connect(params['id'] ?? '', body.Container, body.EndpointConfig ?? undefined);
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  });

  router.add('POST', '/networks/{id}/disconnect', async ({ req, res, params }) => {
    const body = await decodeBody(req, networkDisconnectRequest);
    if (body.Container === '') throw invalid('no container specified');
    await backend.disconnect(params['id'] ?? '', body.Container, body.Force === true);
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  });

  router.add('POST', '/networks/prune', async ({ req, res, query }) => {
    await readBody(req);
    sendJson(res, 200, await backend.prune(parseFilters(query, PRUNE_FILTERS)));
  });
}
