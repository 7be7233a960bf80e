import http from 'node:http';
import { notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { API_VERSION, parseVersionedPath, sendError, type Router } from './router.js';

const PING_RE = /^\/v\d+\.\d+\/_ping$/;

export interface ServerInfo {
  /** e.g. "0.1.0" — shown in the Server header as Docker does. */
  version: string;
}

/**
 * The HTTP front of the engine: version prefix handling, routing, Docker's error
 * shape for every failure. One server instance can listen on several sockets.
 */
export function createApiServer(router: Router, log: Logger, info: ServerInfo): http.Server {
  const server = http.createServer(
    {
      // Pulls, loads and event streams can run for a long time.
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 60_000,
    },
    (req, res) => {
      void handle(req, res);
    },
  );

  const serverHeader = `Berth/${info.version} (linux)`;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    res.setHeader('Server', serverHeader);
    // Health checks poll /_ping constantly: skip URL parsing and logging for it.
    const raw = req.url ?? '/';
    const pingPath = raw === '/_ping' || PING_RE.test(raw);
    const url = pingPath ? undefined : new URL(raw, 'http://localhost');
    const pathname = url ? url.pathname : raw;
    if (!pingPath) {
      res.setHeader('Api-Version', API_VERSION);
      res.setHeader('Docker-Experimental', 'false');
      res.setHeader('Ostype', 'linux');
    }
    try {
      const { version, path } = parseVersionedPath(pathname);
      const method = req.method ?? 'GET';
      const m = router.match(method, path);
      if (m === undefined) throw notFound('page not found');
      if (m === 'method') {
        res.writeHead(405, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: `method ${method} not allowed on ${path}` }));
        return;
      }
      await m.handler({ req, res, params: m.params, query: url ? url.searchParams : new URLSearchParams(), version, log });
    } catch (err) {
      sendError(res, err, log);
    } finally {
      if (!pingPath) {
        log.debug('request', {
          method: req.method,
          path: pathname,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        });
      }
    }
  };
  return server;
}
