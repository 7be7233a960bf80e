/**
 * Web mode (`berth desktop --web`): the same renderer and the same bridge host as the Electron
 * app, served to a browser on 127.0.0.1. The renderer's files are public; the bridge is not.
 *
 * The URL printed for the user carries a random token that is good for one thing, once: the first
 * GET with it is answered with an HttpOnly, SameSite=Strict cookie holding a secret of this server
 * instance, and a redirect to the same page without the token. From then on only the cookie opens
 * the bridge (the WebSocket at /bridge), so a URL leaked from shell history or a screen share is
 * worthless, and a restarted server does not honour the old cookie. The WebSocket must also come
 * from a page of this very server (Origin), and every request must name this server in Host, so
 * another site open in the browser can neither call the bridge nor reach it by DNS rebinding.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { BridgeHost } from '../bridge/index.js';
import { contentSecurityPolicy, resolveStatic } from './static.js';
import { createWireSession } from './wire.js';

export interface WebServerOptions {
  /** Only loopback makes sense: the token travels in the URL. Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The built renderer (dist/renderer). */
  rendererDir: string;
  bridge: BridgeHost;
  /** The token (default: 32 random bytes, hex); tests may fix it. */
  token?: string;
}

export interface WebServer {
  /** http://127.0.0.1:PORT/?token=TOKEN — what the user opens. */
  url: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

/** Largest WebSocket message accepted from the renderer (a file written into a container, as base64). */
const MAX_MESSAGE_BYTES = 96 * 1024 * 1024;

function secretMatches(given: string | null | undefined, secret: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of cookie `name` in a Cookie header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `url` without its token parameter, as a path for Location. */
function withoutToken(url: URL): string {
  const rest = new URLSearchParams(url.searchParams);
  rest.delete('token');
  const q = rest.toString();
  return `${url.pathname}${q ? `?${q}` : ''}`;
}

const USED_LINK = `<!doctype html>
<html><head><meta charset="utf-8"><title>Berth Desktop</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>This link no longer opens Berth Desktop</h1>
<p>Each link <code>berth desktop --web</code> prints opens the app once, in the browser it is first opened in; after that the browser holds the
session. This one was already used, or belongs to another run of the server.</p>
<p>Go back to the browser you opened it in, or stop <code>berth desktop --web</code> and start it again for a new link.</p>
</body></html>
`;

function refuse(socket: Duplex, status: number, message: string): void {
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
}

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const bindHost = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(32).toString('hex');
  // The cookie's value: known to this server instance only, never printed.
  const sessionSecret = randomBytes(32).toString('hex');
  let tokenUsed = false;
  let cookieName = '';
  let origin = '';
  let allowedHosts = new Set<string>();
  let csp = '';
  const sockets = new Set<WebSocket>();

  const hasSession = (req: http.IncomingMessage): boolean => secretMatches(cookieValue(req.headers.cookie, cookieName), sessionSecret);
  const parseUrl = (req: http.IncomingMessage): URL | undefined => {
    try {
      return new URL(req.url ?? '/', origin);
    } catch {
      return undefined;
    }
  };

  const server = http.createServer((req, res) => {
    if (!allowedHosts.has(req.headers.host ?? '')) {
      res.writeHead(421, { 'Content-Type': 'text/plain' }).end('wrong host\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const url = parseUrl(req);
    if (!url) {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('malformed request target\n');
      return;
    }
    const given = url.searchParams.get('token');
    if (given !== null && req.method === 'GET') {
      const headers = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' };
      if (hasSession(req)) {
        res.writeHead(303, { ...headers, Location: withoutToken(url) }).end();
      } else if (!tokenUsed && secretMatches(given, token)) {
        tokenUsed = true;
        res.writeHead(303, { ...headers, Location: withoutToken(url), 'Set-Cookie': `${cookieName}=${sessionSecret}; HttpOnly; SameSite=Strict; Path=/` }).end();
      } else {
        res.writeHead(401, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': csp }).end(USED_LINK);
      }
      return;
    }
    void resolveStatic(opts.rendererDir, req.url ?? '/').then(
      (file) => {
        res.writeHead(file.status, {
          'Content-Type': file.contentType,
          'Content-Length': file.body.length,
          'Content-Security-Policy': csp,
          'X-Content-Type-Options': 'nosniff',
          'Referrer-Policy': 'no-referrer',
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cache-Control': file.contentType.startsWith('text/html') ? 'no-store' : 'no-cache',
        });
        res.end(req.method === 'HEAD' ? undefined : file.body);
      },
      () => res.writeHead(500, { 'Content-Type': 'text/plain' }).end('internal error\n'),
    );
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = parseUrl(req);
    if (!url) return refuse(socket, 400, 'malformed request target\n');
    if (url.pathname !== '/bridge') return refuse(socket, 404, 'not found\n');
    if (!allowedHosts.has(req.headers.host ?? '')) return refuse(socket, 421, 'wrong host\n');
    if (!hasSession(req)) return refuse(socket, 401, 'no session: open the link berth desktop --web printed\n');
    if (req.headers.origin !== origin && req.headers.origin !== origin.replace('127.0.0.1', 'localhost')) {
      return refuse(socket, 403, 'cross-origin connections are refused\n');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      const session = createWireSession(opts.bridge, (frame) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
      });
      ws.on('message', (data, isBinary) => {
        if (!isBinary) session.receive(data.toString());
      });
      ws.on('close', () => {
        sockets.delete(ws);
        session.close();
      });
      ws.on('error', () => ws.terminate());
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, bindHost, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  // Cookies ignore ports: the name keeps two servers on one host from overwriting each other's.
  cookieName = `berth-session-${port}`;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  csp = contentSecurityPolicy([`ws://127.0.0.1:${port}`, `ws://localhost:${port}`]);

  return {
    url: `${origin}/?token=${token}`,
    origin,
    port,
    token,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
