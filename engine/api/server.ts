import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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
  // `Upgrade: tcp` requests (attach) arrive here with the raw socket. The handler may take the
  // socket over (ctx.hijack); until it does, a ServerResponse bound to the socket answers errors.
  // Upgraded sockets are outside the HTTP server's connection tracking: cut them with the rest
  // when the daemon stops, or server.close() would wait for every attached client.
  const upgraded = new Set<Duplex>();
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    closeAll();
    for (const s of upgraded) s.destroy();
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    const res = new http.ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.on('finish', () => socket.end());
    socket.on('error', () => socket.destroy());
    let taken = false;
    const hijack = (headers: Record<string, string>): Duplex => {
      if (taken) throw new Error('connection already hijacked');
      taken = true;
      res.detachSocket(socket as Socket);
      const lines = ['HTTP/1.1 101 UPGRADED', `Server: ${serverHeader}`, 'Api-Version: ' + API_VERSION, 'Connection: Upgrade', 'Upgrade: tcp'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length > 0) socket.unshift(head);
      return socket;
    };
    void handle(req, res, hijack);
  });

  const handle = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    hijack?: (headers: Record<string, string>) => Duplex,
  ): Promise<void> => {
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
      await m.handler({ req, res, params: m.params, query: url ? url.searchParams : new URLSearchParams(), version, log, ...(hijack ? { hijack } : {}) });
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
