// A small HTTP reverse proxy in front of a registry, for fault injection.
// Everything is forwarded unchanged (Host header included, so upload Locations the registry
// builds point back at the proxy) except blob GETs, which the options can corrupt, truncate,
// delay, throttle, redirect or fail.
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface FaultProxyOptions {
  /** Digest: flip one byte (the middle one) in that blob's body; length is unchanged. */
  corruptBlob?: string;
  /** Digest: send the headers and half the body of that blob, then destroy the socket. */
  truncateBlob?: string;
  /** Delay every blob GET by this long before answering. */
  delayBlobMs?: number;
  /** Throttle one blob's body to about bytesPerSec. */
  slowBlob?: { digest: string; bytesPerSec: number };
  /**
   * Answer blob GETs with 307 to a second local listener ("blob storage", no auth needed, like a
   * pre-signed URL) that serves the bytes. The faults above apply to whoever serves the body.
   */
  redirectBlobs?: boolean;
  /** The first `times` requests whose path (with query) includes `pathIncludes` get `status`. */
  failFirst?: { pathIncludes: string; times: number; status: number };
}

export interface FaultProxy {
  /** "127.0.0.1:PORT" */
  host: string;
  /** Request counts by URL path (no query). Blob-storage hits are recorded as "/_storage/<digest>". */
  hits: Map<string, number>;
  /** "127.0.0.1:PORT" of the blob-storage listener when redirectBlobs is set. */
  storageHost?: string;
  stop(): Promise<void>;
}

const BLOB_RE = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);

function cleanHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startFaultProxy(target: string, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const [targetHost, targetPortStr] = [target.slice(0, target.lastIndexOf(':')), target.slice(target.lastIndexOf(':') + 1)];
  const targetPort = Number(targetPortStr);
  if (!targetHost || !Number.isInteger(targetPort)) throw new Error(`target must be host:port, got ${target}`);
  const agent = new Agent({ keepAlive: true });
  const hits = new Map<string, number>();
  let failed = 0;
  const hit = (p: string): void => {
    hits.set(p, (hits.get(p) ?? 0) + 1);
  };

  // Redirect tickets: the storage listener serves /_storage/<id> by fetching the blob upstream
  // with the credentials of the request that was redirected.
  const tickets = new Map<string, { path: string; digest: string; authorization?: string }>();

  const upstream = (method: string, path: string, headers: OutgoingHttpHeaders): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: targetHost, port: targetPort, method, path, headers, agent }, resolve);
      req.on('error', reject);
      req.end();
    });

  /** Sends an upstream blob response to the client, applying the blob faults for `digest`. */
  const sendBlob = async (res: ServerResponse, up: IncomingMessage, digest: string): Promise<void> => {
    if (opts.delayBlobMs) await sleep(opts.delayBlobMs);
    const status = up.statusCode ?? 502;
    res.writeHead(status, cleanHeaders(up.headers));
    const ok = status >= 200 && status < 300;
    const length = Number(up.headers['content-length'] ?? NaN);
    const corrupt = ok && opts.corruptBlob === digest;
    const truncate = ok && opts.truncateBlob === digest;
    const rate = ok && opts.slowBlob?.digest === digest ? opts.slowBlob.bytesPerSec : 0;
    if (!corrupt && !truncate && !rate) {
      up.pipe(res);
      return;
    }
    const flipAt = Number.isFinite(length) ? Math.floor(length / 2) : 0;
    const cutAt = Number.isFinite(length) ? Math.floor(length / 2) : 1;
    let offset = 0;
    const started = Date.now();
    for await (const c of up) {
      const chunk = Buffer.from(c as Buffer);
      if (corrupt && flipAt >= offset && flipAt < offset + chunk.length) {
        const i = flipAt - offset;
        chunk[i] = (chunk[i] as number) ^ 0xff;
      }
      if (truncate && offset + chunk.length >= cutAt) {
        const part = chunk.subarray(0, cutAt - offset);
        if (part.length > 0) await new Promise<void>((r) => res.write(part, () => r()));
        up.destroy();
        res.socket?.destroy();
        res.destroy();
        return;
      }
      offset += chunk.length;
      if (rate) {
        // Write in small slices so the pace is smooth even for large upstream chunks.
        const slice = Math.max(1, Math.floor(rate / 20));
        for (let i = 0; i < chunk.length; i += slice) {
          const part = chunk.subarray(i, i + slice);
          if (!res.write(part)) await new Promise<void>((r) => res.once('drain', () => r()));
          const sent = offset - chunk.length + i + part.length;
          const due = started + (sent / rate) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
          if (res.destroyed) {
            up.destroy();
            return;
          }
        }
        continue;
      }
      if (!res.write(chunk)) await new Promise<void>((r) => res.once('drain', () => r()));
    }
    res.end();
  };

  const storage = opts.redirectBlobs ? createServer() : undefined;
  const storageHost = storage ? await listen(storage) : undefined;

  const handleStorage = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const id = url.pathname.split('/')[2] ?? '';
    const t = tickets.get(id);
    hit(`/_storage/${t?.digest ?? id}`);
    if (!t || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no such object\n');
      return;
    }
    const headers: OutgoingHttpHeaders = { host: target };
    if (t.authorization) headers.authorization = t.authorization;
    if (req.headers.range) headers.range = req.headers.range;
    const ifRange = req.headers['if-range'];
    if (ifRange !== undefined) headers['if-range'] = String(ifRange);
    const up = await upstream(req.method, t.path, headers);
    if (req.method === 'HEAD') {
      res.writeHead(up.statusCode ?? 502, cleanHeaders(up.headers));
      up.resume();
      res.end();
      return;
    }
    await sendBlob(res, up, t.digest);
  };

  const forward = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
    new Promise((resolve, reject) => {
      const up = httpRequest(
        { host: targetHost, port: targetPort, method: req.method, path: req.url, headers: cleanHeaders(req.headers), agent },
        (r) => {
          res.writeHead(r.statusCode ?? 502, cleanHeaders(r.headers));
          r.pipe(res);
          r.on('end', () => resolve());
          r.on('error', reject);
        },
      );
      up.on('error', reject);
      req.pipe(up);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rawUrl = req.url ?? '/';
    const path = rawUrl.split('?')[0] as string;
    hit(path);
    if (opts.failFirst && rawUrl.includes(opts.failFirst.pathIncludes) && failed < opts.failFirst.times) {
      failed++;
      req.resume();
      const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected failure' }] });
      res.writeHead(opts.failFirst.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const m = BLOB_RE.exec(path);
    if (m && req.method === 'GET') {
      const digest = m[2] as string;
      if (storageHost) {
        const id = randomBytes(12).toString('hex');
        const auth = req.headers.authorization;
        tickets.set(id, { path: rawUrl, digest, ...(auth !== undefined ? { authorization: auth } : {}) });
        req.resume();
        res.writeHead(307, { Location: `http://${storageHost}/_storage/${id}/${digest}`, 'Content-Length': '0' });
        res.end();
        return;
      }
      const up = await upstream('GET', rawUrl, cleanHeaders(req.headers));
      await sendBlob(res, up, digest);
      return;
    }
    await forward(req, res);
  };

  const onError = (res: ServerResponse) => (e: unknown) => {
    if (!res.headersSent) {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`fault proxy: ${String(e)}\n`);
    } else {
      res.destroy();
    }
  };

  storage?.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handleStorage(req, res).catch(onError(res));
  });
  const server = createServer((req, res) => {
    handle(req, res).catch(onError(res));
  });
  const host = await listen(server);

  let stopped = false;
  return {
    host,
    hits,
    ...(storageHost ? { storageHost } : {}),
    async stop() {
      if (stopped) return;
      stopped = true;
      await close(server);
      if (storage) await close(storage);
      agent.destroy();
    },
  };
}
