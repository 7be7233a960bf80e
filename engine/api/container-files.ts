/**
 * Routes for a container's files: `docker cp` (HEAD/GET/PUT /containers/{id}/archive),
 * `docker export`, `docker diff` (/changes) and `docker top`. The backend is declared here;
 * the daemon wires engine/containers/files.ts in.
 */
import type { ServerResponse } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { boolParam, sendJson, type Router } from './router.js';
import { queryContainerPath } from './decode/query.js';

export interface PathStatView {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface ContainerFilesBackend {
  statPath(ref: string, path: string): Promise<PathStatView>;
  /** Calls `start` with the stat once the path is known to exist, then streams the tar into what it returns. */
  getArchive(ref: string, path: string, start: (stat: PathStatView) => Writable, signal?: AbortSignal): Promise<void>;
  putArchive(ref: string, path: string, body: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean; signal?: AbortSignal }): Promise<void>;
  export(ref: string, start: () => Writable, signal?: AbortSignal): Promise<void>;
  changes(ref: string): Promise<{ Path: string; Kind: number }[]>;
  top(ref: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }>;
}

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

function pathParam(query: URLSearchParams): string {
  return queryContainerPath(query);
}

const statHeader = (s: PathStatView): string =>
  Buffer.from(JSON.stringify({ name: s.name, size: s.size, mode: s.mode, mtime: s.mtime, linkTarget: s.linkTarget })).toString('base64');

/** An AbortSignal that fires when the client goes away. */
function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}

export function containerFileRoutes(router: Router, backend: ContainerFilesBackend): void {
  // HEAD is routed here too (the router maps HEAD to GET routes).
  router.add('GET', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    const id = params['id'] ?? '';
    const p = pathParam(query);
    if (req.method === 'HEAD') {
      const stat = await backend.statPath(id, p);
      res.writeHead(200, { [STAT_HEADER]: statHeader(stat), 'Content-Type': 'application/json' });
      res.end();
      return;
    }
    await backend.getArchive(
      id,
      p,
      (stat) => {
        res.writeHead(200, { [STAT_HEADER]: statHeader(stat), 'Content-Type': 'application/x-tar' });
        return res;
      },
      clientGone(res),
    );
    res.end();
  });

  router.add('PUT', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    await backend.putArchive(params['id'] ?? '', pathParam(query), req, {
      noOverwriteDirNonDir: boolParam(query, 'noOverwriteDirNonDir'),
      copyUIDGID: boolParam(query, 'copyUIDGID'),
      signal: clientGone(res),
    });
    res.writeHead(200);
    res.end();
  });

  router.add('GET', '/containers/{id}/export', async ({ res, params }) => {
    await backend.export(
      params['id'] ?? '',
      () => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        return res;
      },
      clientGone(res),
    );
    res.end();
  });

  router.add('GET', '/containers/{id}/changes', async ({ res, params }) => {
    sendJson(res, 200, await backend.changes(params['id'] ?? ''));
  });

  router.add('GET', '/containers/{id}/top', async ({ res, params, query }) => {
    sendJson(res, 200, await backend.top(params['id'] ?? '', query.get('ps_args') ?? ''));
  });
}
