/**
 * How long the API waits for a client that stopped sending. Two limits, as an HTTP server facing
 * untrusted clients needs: the request head must arrive within `headerMs` (node's headersTimeout
 * answers 408 and closes), and a request body must keep coming: once the daemon is waiting for body
 * bytes, `bodyIdleMs` without a single one is a stalled client, answered 408 and cut.
 *
 * The body limit is an idle one, never a total one: `docker load`, `import`, `build` contexts and
 * archive PUTs can take as long as they need while bytes flow. Time the daemon spends not reading
 * (unpacking a layer while the client waits on backpressure) never counts: bytes already buffered
 * in the request mean the daemon is the one behind. Responses are not limited at all: a quiet
 * `logs --follow` or event stream is not a stall, and hijacked streams (attach, exec) are raw
 * sockets the routes own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ApiTimeouts {
  /** The request line and headers must be complete within this (ms). */
  headerMs: number;
  /** A request body that the daemon waits for must not go this long without a byte (ms). */
  bodyIdleMs: number;
}

export const DEFAULT_API_TIMEOUTS: ApiTimeouts = { headerMs: 60_000, bodyIdleMs: 60_000 };

/** True when the request announces a body (a length above 0, or chunked encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Watches `req`'s body until it is complete, and calls `onStall` when the client sent nothing for
 * `idleMs` while nothing of it was waiting to be read. Returns the function that stops watching.
 */
export function watchBody(req: IncomingMessage, idleMs: number, onStall: () => void): () => void {
  const socket = req.socket;
  let lastBytes = socket.bytesRead;
  let idleSince = Date.now();
  const tick = Math.max(50, Math.min(1000, Math.floor(idleMs / 4)));
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) {
      stop();
      return;
    }
    if (socket.bytesRead !== lastBytes || req.readableLength > 0) {
      lastBytes = socket.bytesRead;
      idleSince = Date.now();
      return;
    }
    if (Date.now() - idleSince >= idleMs) {
      stop();
      onStall();
    }
  }, tick);
  timer.unref();
  const stop = (): void => {
    clearInterval(timer);
    req.off('end', stop);
    req.off('close', stop);
  };
  req.once('end', stop);
  req.once('close', stop);
  return stop;
}

/** Answers 408 when nothing was sent yet, and closes the connection either way. */
export function endStalledRequest(res: ServerResponse): void {
  const socket = res.socket;
  if (!res.headersSent && !res.destroyed) {
    const body = JSON.stringify({ message: 'timed out waiting for the request body' });
    res.shouldKeepAlive = false;
    res.writeHead(408, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body, () => socket?.destroy());
    return;
  }
  socket?.destroy();
}

/** Parses a duration flag: `90`, `90s`, `1500ms`, `2m` (Go-style suffixes; a bare number is seconds). */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Math.round(n * scale);
}
