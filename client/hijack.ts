/**
 * Hijacked connections for attach and exec start, done the way Docker's Go
 * client does them: one fresh connection, an HTTP/1.1 request with
 * `Connection: Upgrade` and `Upgrade: tcp`, the response head read by hand,
 * and then — on `101 UPGRADED` or a plain `200 OK` — the socket itself is the
 * two-way stream (output in, stdin out). node:http is not used because it
 * keeps a 200 response's socket to itself.
 *
 * The socket is opened with allowHalfOpen, so `socket.end()` half-closes: the
 * engine sees the end of stdin while the output keeps flowing.
 */
import net from 'node:net';
import tls from 'node:tls';
import { EngineError } from './errors.js';
import { connectionError, errorFromResponse, tlsConnectOptions } from './http.js';
import type { HttpTransport, QueryValue } from './http.js';

export interface HijackRequest {
  method: 'POST';
  path: string;
  query?: Record<string, QueryValue>;
  /** JSON body (exec start). */
  json?: unknown;
}

export interface HijackedConnection {
  /** The raw two-way stream after the response head. */
  socket: net.Socket;
  /** 101 or 200. */
  status: number;
  /** `application/vnd.docker.raw-stream` (TTY) or `application/vnd.docker.multiplexed-stream`. */
  contentType: string;
}

interface ResponseHead {
  status: number;
  statusText: string;
  headers: Map<string, string>;
}

function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new EngineError(`malformed response from the engine: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`, 0, 'SERVER');
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers };
}

/** Decode a chunked body held entirely in `buf` (error bodies are small). */
function dechunk(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) break;
    const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Read the rest of an error response's body, as far as its framing says. */
function readErrorBody(socket: net.Socket, head: ResponseHead, already: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks = [already];
    let total = already.length;
    const length = Number(head.headers.get('content-length') ?? NaN);
    const chunked = /chunked/i.test(head.headers.get('transfer-encoding') ?? '');
    const complete = (): boolean => {
      if (Number.isFinite(length)) return total >= length;
      if (chunked) return Buffer.concat(chunks).includes('\r\n0\r\n');
      return false;
    };
    const finish = (): void => {
      socket.destroy();
      const body = Buffer.concat(chunks);
      resolve(chunked ? dechunk(body) : Number.isFinite(length) ? body.subarray(0, length) : body);
    };
    if (complete()) {
      finish();
      return;
    }
    socket.on('data', (b: Buffer) => {
      chunks.push(b);
      total += b.length;
      if (complete()) finish();
    });
    socket.once('end', finish);
    socket.once('error', finish);
  });
}

/**
 * Open a hijacked stream. Resolves once the engine answered 101 or 200 with the
 * socket positioned at the first byte of the stream; rejects with the engine's
 * error (EngineError with its status) otherwise.
 */
export function hijack(transport: HttpTransport, req: HijackRequest): Promise<HijackedConnection> {
  return new Promise((resolve, reject) => {
    const ep = transport.endpoint;
    // Over TLS, socket.end() sends close_notify: the engine sees the end of stdin as on a plain socket.
    const socket =
      ep.protocol === 'unix'
        ? net.connect({ path: ep.socketPath, allowHalfOpen: true })
        : transport.tls
          ? tls.connect({
              socket: net.connect({ host: ep.hostname, port: ep.port, allowHalfOpen: true }),
              ...(net.isIP(ep.hostname) ? {} : { servername: ep.hostname }),
              ...tlsConnectOptions(transport.tls),
            })
          : net.connect({ host: ep.hostname, port: ep.port, allowHalfOpen: true });
    const body = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json), 'utf8');
    const head = [
      `${req.method} ${transport.urlPath(req.path, req.query)} HTTP/1.1`,
      `Host: ${ep.protocol === 'unix' ? 'api.moby.localhost' : `${ep.hostname}:${ep.port}`}`,
      'User-Agent: Berth-Client/0.1.0 (node)',
      'Connection: Upgrade',
      'Upgrade: tcp',
      ...(body ? ['Content-Type: application/json'] : []),
      `Content-Length: ${body?.length ?? 0}`,
      '',
      '',
    ].join('\r\n');

    let received = Buffer.alloc(0);
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error): void => fail(connectionError(err, transport.host));
    const onEnd = (): void => fail(new EngineError('the engine closed the connection before answering', 0, 'SERVER'));
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > 64 * 1024) fail(new EngineError('response head from the engine is too large', 0, 'SERVER'));
        return;
      }
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      let parsed: ResponseHead;
      try {
        parsed = parseHead(received.subarray(0, end).toString('latin1'));
      } catch (err) {
        fail(err);
        return;
      }
      const rest = received.subarray(end + 4);
      if (parsed.status !== 101 && parsed.status !== 200) {
        settled = true;
        void readErrorBody(socket, parsed, rest).then((b) => reject(errorFromResponse(parsed.status, b, parsed.statusText)));
        return;
      }
      settled = true;
      socket.pause();
      if (rest.length > 0) socket.unshift(rest);
      resolve({ socket, status: parsed.status, contentType: parsed.headers.get('content-type') ?? '' });
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.write(head);
    if (body) socket.write(body);
  });
}
