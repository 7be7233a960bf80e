import http from 'node:http';
import https from 'node:https';
import type { TlsOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { invalid, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { API_VERSION, parseVersionedPath, sendError, type Router } from './router.js';
import { DEFAULT_API_TIMEOUTS, endStalledRequest, hasBody, watchBody, type ApiTimeouts } from './timeouts.js';
import { fastTarget } from './target.js';

const PING_RE = /^\/v\d+\.\d+\/_ping$/;

export interface ServerInfo {
  /** e.g. "0.1.0" — shown in the Server header as Docker does. */
  version: string;
  /** How long a client may stall its request (default DEFAULT_API_TIMEOUTS). */
  timeouts?: ApiTimeouts;
}

/**
 * The HTTP front of the engine: version prefix handling, routing, Docker's error
 * shape for every failure. One server instance can listen on several sockets.
 */
export type ApiServer = http.Server | https.Server;

/**
 * @param tls when given, the server speaks HTTPS (tcp:// hosts with --tls/--tlsverify); the API on
 * top is the same, hijacked streams included.
 */
export function createApiServer(router: Router, log: Logger, info: ServerInfo, tls?: TlsOptions): ApiServer {
  const timeouts = info.timeouts ?? DEFAULT_API_TIMEOUTS;
  const options: http.ServerOptions = {
    // No limit on a whole request: pulls, loads and event streams can run for a long time. A
    // stalled head is cut by headersTimeout, a stalled body by watchBody (timeouts.ts).
    requestTimeout: 0,
    // As dockerd's Go server: 1 MiB of headers. X-Registry-Config and X-Berth-Build-Secrets can be large.
    maxHeaderSize: 1 << 20,
    headersTimeout: timeouts.headerMs,
    connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(timeouts.headerMs / 4))),
    keepAliveTimeout: 60_000,
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const stopWatching = hasBody(req) ? watchBody(req, timeouts.bodyIdleMs, () => endStalledRequest(res)) : undefined;
    void handle(req, res).finally(() => {
      // A handler that answered without reading the body leaves it to node, which drains it
      // for the next request on the connection: keep watching until it is complete.
      if (req.complete) stopWatching?.();
    });
  };
  // allowHalfOpen: node's TLS servers end a socket when the client ends its side, which would cut
  // an attach's output as soon as the client closes stdin (docker's CloseWrite sends close_notify).
  const server: ApiServer = tls ? https.createServer({ ...tls, ...options, allowHalfOpen: true }, onRequest) : http.createServer(options, onRequest);
  if (tls) {
    // A client without an acceptable certificate, or speaking plain HTTP to a TLS port: its problem.
    server.on('tlsClientError', (err: Error) => log.debug('TLS handshake refused', { err: err.message }));
  }
  // A client that sent nothing parsable, or went away mid-request: answer what node can, never log it as ours.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ message: status === 431 ? 'request header fields too large' : status === 408 ? 'timed out waiting for the request' : 'malformed HTTP request' });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });

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
    let rest = head;
    const hijack = (headers: Record<string, string>): Duplex => {
      if (taken) throw new Error('connection already hijacked');
      taken = true;
      res.detachSocket(socket as Socket);
      const lines = ['HTTP/1.1 101 UPGRADED', `Server: ${serverHeader}`, 'Api-Version: ' + API_VERSION, 'Connection: Upgrade', 'Upgrade: tcp'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      if (rest.length > 0) socket.unshift(rest);
      return socket;
    };
    // An upgrade request's body (exec start's JSON) is not parsed into req: it follows the
    // headers on the socket. Read it first and hand the route a request that carries it.
    void readUpgradeBody(req, socket, head, timeouts.bodyIdleMs).then(
      ({ body, after }) => {
        rest = after;
        void handle(withBody(req, socket as Socket, body), res, hijack);
      },
      (err: unknown) => (err === STALLED ? endStalledRequest(res) : sendError(res, err, log)),
    );
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
    let pathname = raw;
    if (!pingPath) {
      res.setHeader('Api-Version', API_VERSION);
      res.setHeader('Docker-Experimental', 'false');
      res.setHeader('Ostype', 'linux');
    }
    try {
      // Typical targets skip the WHATWG parser (target.ts); anything unusual is parsed, and refused when malformed.
      const url = pingPath ? undefined : (fastTarget(raw) ?? parseRequestTarget(raw));
      if (url) pathname = url.pathname;
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

/**
 * The request target as a URL. Only the origin form (`/path?query`) is Docker's API; the absolute
 * form (`http://host/path`, which HTTP/1.1 servers must accept) is taken for its path. Anything that
 * does not parse is the client's mistake: 400, never an exception.
 */
export function parseRequestTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw, 'http://localhost');
  } catch {
    throw invalid(`malformed request target ${JSON.stringify(raw.length > 100 ? `${raw.slice(0, 100)}...` : raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`unsupported request target ${JSON.stringify(raw.slice(0, 100))}`);
  return url;
}

const MAX_UPGRADE_BODY = 1 << 20;

const STALLED = Symbol('stalled');

/**
 * Reads the Content-Length bytes that follow an upgrade request's headers; `after` is what came
 * next. Rejects with STALLED when the client sends nothing for `idleMs`.
 */
function readUpgradeBody(req: http.IncomingMessage, socket: Duplex, head: Buffer, idleMs: number): Promise<{ body: Buffer; after: Buffer }> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (!Number.isSafeInteger(len) || len < 0) return Promise.reject(invalid('invalid Content-Length'));
  if (len > MAX_UPGRADE_BODY) return Promise.reject(invalid(`request body larger than ${MAX_UPGRADE_BODY} bytes`));
  if (head.length >= len) return Promise.resolve({ body: head.subarray(0, len), after: head.subarray(len) });
  return new Promise((resolve, reject) => {
    let buf = head;
    // 'readable' + read(), not 'data': once the listener is gone the socket is back to its
    // initial, non-flowing state, so the route's own 'data' listener starts the flow.
    let idle: NodeJS.Timeout;
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        done();
        reject(STALLED);
      }, idleMs);
      idle.unref();
    };
    armIdle();
    const onReadable = (): void => {
      armIdle();
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= len) {
          done();
          resolve({ body: buf.subarray(0, len), after: buf.subarray(len) });
          return;
        }
      }
    };
    const onEnd = (): void => {
      done();
      reject(invalid('connection closed before the request body was complete'));
    };
    const done = (): void => {
      clearTimeout(idle);
      socket.off('readable', onReadable).off('end', onEnd).off('close', onEnd);
    };
    socket.on('readable', onReadable).on('end', onEnd).on('close', onEnd);
  });
}

/** A request stream that yields `body` (with the original's method, url and headers). */
function withBody(req: http.IncomingMessage, socket: Socket, body: Buffer): http.IncomingMessage {
  if (body.length === 0) return req;
  const r = new http.IncomingMessage(socket);
  r.method = req.method ?? 'POST';
  r.url = req.url ?? '/';
  r.headers = req.headers;
  r.httpVersion = req.httpVersion;
  // Complete, or destroying it at its end would destroy the socket too.
  r.complete = true;
  r.push(body);
  r.push(null);
  return r;
}
