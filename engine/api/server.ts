import http from 'node:http';
import { notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { API_VERSION, parseVersionedPath, sendError, type Router } from './router.js';

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

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://localhost');
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', `Berth/${info.version} (linux)`);
    try {
      const { version, path } = parseVersionedPath(url.pathname);
      const method = req.method ?? 'GET';
      const m = router.match(method, path);
      if (m === undefined) throw notFound('page not found');
      if (m === 'method') {
        res.writeHead(405, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: `method ${method} not allowed on ${path}` }));
        return;
      }
      await m.handler({ req, res, params: m.params, query: url.searchParams, version, log });
    } catch (err) {
      sendError(res, err, log);
    } finally {
      if (url.pathname !== '/_ping') {
        log.debug('request', {
          method: req.method,
          path: url.pathname,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        });
      }
    }
  };
  return server;
}
