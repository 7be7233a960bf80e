/**
 * Request plumbing for the Engine API client: host parsing, query encoding,
 * one keep-alive node:http (or, for TLS, node:https) Agent per client, error mapping, and a streaming
 * JSON parser for the NDJSON / concatenated-JSON responses Docker sends
 * (pull, load, events, build). No dependencies.
 *
 * Container endpoints that hijack the connection (attach, exec start) can build
 * their request with `HttpTransport.requestOptions()` and upgrade it themselves.
 */
import http from 'node:http';
import https from 'node:https';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { AuthConfig, Filters } from '../types/engine-api.js';
import { EngineError, codeForStatus } from './errors.js';

export const DEFAULT_HOST = 'unix:///run/berth/docker.sock';
export const DEFAULT_API_VERSION = '1.47';
const USER_AGENT = 'Berth-Client/0.1.0 (node)';

export type Endpoint = { protocol: 'unix'; socketPath: string } | { protocol: 'tcp'; hostname: string; port: number; https?: boolean };

/**
 * TLS for a tcp:// engine, as the docker CLI does it: `verify` checks the engine's certificate
 * against `ca` (or the system's roots); without it the connection is encrypted but the engine is
 * not authenticated. `cert`/`key` are the client certificate an engine run with --tlsverify wants.
 */
export interface TlsOptions {
  verify: boolean;
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
}

/** The engine address from the environment: BERTH_HOST, then DOCKER_HOST, then the default socket. */
export function defaultHost(env: NodeJS.ProcessEnv = process.env): string {
  return env['BERTH_HOST'] || env['DOCKER_HOST'] || DEFAULT_HOST;
}

/** Parse `unix:///path.sock`, `npipe:////./pipe/name`, `tcp://host:port`, `http://host:port`, `https://host:port` (TLS) (or a bare absolute socket path). */
export function parseHost(host: string): Endpoint {
  const bad = (why: string): EngineError =>
    new EngineError(
      `invalid engine host "${host}": ${why} (use unix:///path/to/socket, tcp://host:port or http://host:port)`,
      0,
      'INVALID',
    );
  if (host.startsWith('/')) return { protocol: 'unix', socketPath: host };
  // docker's Windows form: npipe:////./pipe/docker_engine is the pipe \\.\pipe\docker_engine.
  if (host.startsWith('npipe://')) {
    const name = /^npipe:\/\/(?:\/\/\.|\/\/)?\/pipe\/([^/]+)$/.exec(host)?.[1];
    if (!name) throw bad('a named pipe address is npipe:////./pipe/<name>');
    return { protocol: 'unix', socketPath: `\\\\.\\pipe\\${name}` };
  }
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (!socketPath) throw bad('empty socket path');
    return { protocol: 'unix', socketPath };
  }
  const m = /^(tcp|http|https):\/\/(.*)$/.exec(host);
  if (!m) throw bad('unsupported scheme');
  let url: URL;
  try {
    url = new URL(`http://${m[2] ?? ''}`);
  } catch {
    throw bad('malformed address');
  }
  if (!url.hostname) throw bad('missing host name');
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : m[1] === 'tcp' ? 2375 : m[1] === 'https' ? 443 : 80;
  return { protocol: 'tcp', hostname, port, ...(m[1] === 'https' ? { https: true } : {}) };
}

export type QueryValue = string | number | boolean | string[] | Filters | undefined | null;

/**
 * Encode query parameters the way Docker's Go client does: `true` → "1", false
 * and undefined are left out, arrays repeat the key, filter maps become JSON
 * (left out when empty).
 */
export function encodeQuery(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === false) continue;
    if (value === true) params.append(key, '1');
    else if (typeof value === 'number') params.append(key, String(value));
    else if (typeof value === 'string') params.append(key, value);
    else if (Array.isArray(value)) for (const v of value) params.append(key, v);
    else if (Object.keys(value).length > 0) params.append(key, JSON.stringify(value));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Escape a name for use in a URL path, keeping `/`, `:` and `@` (image references contain all three). */
export function encodePathName(name: string): string {
  return encodeURIComponent(name).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

/** X-Registry-Auth value: URL-safe base64 of the JSON, padded like Go's base64.URLEncoding. */
export function encodeRegistryAuth(auth: AuthConfig): string {
  return Buffer.from(JSON.stringify(auth), 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export interface RequestSpec {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** API path starting with '/', without the version prefix. */
  path: string;
  query?: Record<string, QueryValue>;
  headers?: Record<string, string>;
  /** A JSON body (sent with Content-Type: application/json). */
  json?: unknown;
  /** A raw body; a Readable is streamed with chunked encoding. */
  body?: Buffer | string | Readable;
  /** Prefix the path with /v<apiVersion> (default true). */
  versioned?: boolean;
  signal?: AbortSignal;
  /**
   * The response is a long-lived stream: the timeout only covers the wait for
   * the response headers, not the body.
   */
  stream?: boolean;
}

export interface TransportOptions {
  host: string;
  apiVersion: string;
  /** TLS for tcp:// hosts (ignored for sockets, as the docker CLI ignores it). https:// implies verified TLS. */
  tls?: TlsOptions;
  /** Idle timeout in ms (0 or undefined: none). For streams, only until the headers arrive. */
  timeoutMs?: number;
}

const UNREACHABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ENOTSOCK',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
]);

/** Turn a failure to reach the engine into an EngineError('UNREACHABLE') with advice. */
export function connectionError(err: unknown, host: string): unknown {
  if (err instanceof EngineError) return err;
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (errno === 'EACCES' || errno === 'EPERM') {
    return new EngineError(
      `permission denied while trying to connect to the Berth engine at ${host}: check the socket's permissions or run as a user that may use it`,
      0,
      'UNREACHABLE',
      { cause: err },
    );
  }
  if (errno && (errno.startsWith('ERR_SSL_') || /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS_/.test(errno))) {
    return new EngineError(
      `TLS with the Berth engine at ${host} failed: ${(err as Error).message}. Check the CA (--tlscacert), the client certificate and key (--tlscert, --tlskey), and that the engine serves TLS`,
      0,
      'UNREACHABLE',
      { cause: err },
    );
  }
  if (errno && UNREACHABLE_ERRNOS.has(errno)) {
    return new EngineError(
      `Cannot connect to the Berth engine at ${host} (${errno}): the engine isn't running there. ` +
        'Start it with `berthd` (or `bash build/start.sh` from a source checkout), or point -H / BERTH_HOST at a running engine.',
      0,
      'UNREACHABLE',
      { cause: err },
    );
  }
  return err;
}

/** Read a whole response body. */
export async function readBody(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** Build the EngineError for an HTTP error status, taking the message from `{"message": ...}`. */
export function errorFromResponse(status: number, body: Buffer, statusText?: string): EngineError {
  const text = body.toString('utf8').trim();
  let message = '';
  if (text) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
        message = (parsed as { message: string }).message;
      }
    } catch {
      // not JSON: use the text itself
    }
    if (!message) message = text;
  }
  if (!message) message = `${status} ${statusText || http.STATUS_CODES[status] || 'error'}`;
  return new EngineError(message, status, codeForStatus(status));
}

export class HttpTransport {
  readonly host: string;
  readonly apiVersion: string;
  readonly endpoint: Endpoint;
  readonly timeoutMs: number;
  /** The TLS settings in force (tcp:// hosts only). */
  readonly tls?: TlsOptions;
  private readonly agent: http.Agent;

  constructor(opts: TransportOptions) {
    this.host = opts.host;
    this.apiVersion = opts.apiVersion;
    this.endpoint = parseHost(opts.host);
    this.timeoutMs = opts.timeoutMs ?? 0;
    if (this.endpoint.protocol === 'tcp' && (opts.tls || this.endpoint.https)) this.tls = opts.tls ?? { verify: true };
    this.agent = this.tls ? new https.Agent({ keepAlive: true, ...tlsConnectOptions(this.tls) }) : new http.Agent({ keepAlive: true });
  }

  /** The request path: `/v1.47/images/json?all=1`. */
  urlPath(path: string, query?: Record<string, QueryValue>, versioned = true): string {
    const prefix = versioned ? `/v${this.apiVersion}` : '';
    return `${prefix}${path}${encodeQuery(query)}`;
  }

  /** node:http options for a request to the engine (also for callers that hijack the connection). */
  requestOptions(spec: Pick<RequestSpec, 'method' | 'path' | 'query' | 'headers' | 'versioned' | 'signal'>): RequestOptions {
    const base: RequestOptions =
      this.endpoint.protocol === 'unix'
        ? { socketPath: this.endpoint.socketPath }
        : { hostname: this.endpoint.hostname, port: this.endpoint.port };
    return {
      ...base,
      agent: this.agent,
      method: spec.method,
      path: this.urlPath(spec.path, spec.query, spec.versioned ?? true),
      headers: { 'User-Agent': USER_AGENT, ...(spec.headers ?? {}) },
      ...(spec.signal ? { signal: spec.signal } : {}),
    };
  }

  /**
   * Send a request. Resolves with the response once its headers arrive and the
   * status is below 400; otherwise reads the body and rejects with an EngineError.
   */
  send(spec: RequestSpec): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (spec.signal?.aborted) {
        reject(abortReason(spec.signal));
        return;
      }
      const opts = this.requestOptions(spec);
      const headers = opts.headers as Record<string, string | number>;
      let payload: Buffer | undefined;
      let bodyStream: Readable | undefined;
      if (spec.json !== undefined) {
        payload = Buffer.from(JSON.stringify(spec.json), 'utf8');
        headers['Content-Type'] = 'application/json';
      } else if (typeof spec.body === 'string' || Buffer.isBuffer(spec.body)) {
        payload = Buffer.from(spec.body);
      } else if (spec.body instanceof Readable) {
        bodyStream = spec.body;
      }
      if (payload) headers['Content-Length'] = payload.length;
      else if (!bodyStream && (spec.method === 'POST' || spec.method === 'PUT')) headers['Content-Length'] = 0;

      let settled = false;
      let req: ClientRequest;
      try {
        req = this.tls ? https.request(opts) : http.request(opts);
      } catch (err) {
        reject(connectionError(err, this.host));
        return;
      }
      if (this.timeoutMs > 0) {
        req.setTimeout(this.timeoutMs, () => {
          req.destroy(
            new EngineError(
              `timed out after ${this.timeoutMs} ms waiting for the Berth engine at ${this.host}`,
              0,
              'UNREACHABLE',
            ),
          );
        });
      }
      req.on('error', (err) => {
        if (settled) return; // reported through the response stream
        settled = true;
        reject(connectionError(err, this.host));
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          if (bodyStream) {
            // The engine refused the request before reading the whole body.
            bodyStream.unpipe(req);
            bodyStream.destroy();
          }
          readBody(res).then(
            (body) => {
              settled = true;
              reject(errorFromResponse(status, body, res.statusMessage));
            },
            (err: unknown) => {
              settled = true;
              reject(err);
            },
          );
          return;
        }
        settled = true;
        if (spec.stream) req.setTimeout(0);
        resolve(res);
      });
      if (bodyStream) {
        bodyStream.on('error', (err) => req.destroy(err));
        bodyStream.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  /** Send and parse a JSON answer (undefined for an empty body). */
  async json<T>(spec: RequestSpec): Promise<T> {
    const res = await this.send(spec);
    const body = await readBody(res);
    const text = body.toString('utf8').trim();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new EngineError(`malformed JSON from the engine for ${spec.method} ${spec.path}`, res.statusCode ?? 0, 'SERVER', {
        cause: err,
      });
    }
  }

  /** Send and return the body as text. */
  async text(spec: RequestSpec): Promise<{ res: IncomingMessage; text: string }> {
    const res = await this.send(spec);
    const body = await readBody(res);
    return { res, text: body.toString('utf8') };
  }

  /**
   * Send a request whose answer is a stream of JSON objects and yield them as
   * they arrive. Breaking out of the loop closes the connection.
   */
  async *jsonStream<T>(spec: RequestSpec): AsyncGenerator<T, void, undefined> {
    const res = await this.send({ ...spec, stream: true });
    yield* iterateJson<T>(res, spec.signal);
  }

  /** Close idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** node:tls connect options for `tls`. */
export function tlsConnectOptions(tls: TlsOptions): { rejectUnauthorized: boolean; ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string } {
  return {
    rejectUnauthorized: tls.verify,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
  };
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}

/**
 * Yield the JSON values of a response body. Wraps a connection that drops
 * mid-stream in an EngineError('SERVER'); honours `signal` by destroying the
 * response and throwing the abort reason.
 */
export async function* iterateJson<T>(res: IncomingMessage, signal?: AbortSignal): AsyncGenerator<T, void, undefined> {
  const onAbort = (): void => {
    res.destroy(signal ? abortReason(signal) : undefined);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const value of parseJsonStream(res)) {
      yield value as T;
    }
    if (signal?.aborted) throw abortReason(signal);
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    if (err instanceof EngineError) throw err;
    throw new EngineError(
      `the connection to the engine was lost mid-stream: ${err instanceof Error ? err.message : String(err)}`,
      0,
      'SERVER',
      { cause: err },
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!res.complete) res.destroy();
  }
}

/** Parse a stream of bytes or text holding JSON values into those values. */
export async function* parseJsonStream(source: AsyncIterable<Buffer | string>): AsyncGenerator<unknown, void, undefined> {
  const decoder = new StringDecoder('utf8');
  const parser = new JsonStreamParser();
  for await (const chunk of source) {
    const values = parser.push(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    for (const v of values) yield v;
  }
  for (const v of parser.push(decoder.end())) yield v;
  for (const v of parser.end()) yield v;
}

/**
 * Incremental splitter for a sequence of JSON values: newline-delimited JSON,
 * or objects simply concatenated (Go's json.Encoder / json.Decoder). Values may
 * be split across chunks at any character. Objects and arrays are delimited by
 * bracket depth (string-aware); other top-level values end at a newline.
 */
export class JsonStreamParser {
  private buf = '';
  private pos = 0;
  private start = -1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private bare = false;

  push(text: string): unknown[] {
    const out: unknown[] = [];
    if (!text) return out;
    this.buf += text;
    const b = this.buf;
    for (let i = this.pos; i < b.length; i++) {
      const c = b.charCodeAt(i);
      if (this.start < 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        this.start = i;
        if (c === 0x7b || c === 0x5b) {
          this.depth = 1;
        } else {
          this.bare = true;
        }
        continue;
      }
      if (this.bare) {
        if (c === 0x0a) {
          out.push(parseValue(b.slice(this.start, i)));
          this.reset();
        }
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          out.push(parseValue(b.slice(this.start, i + 1)));
          this.reset();
        }
      }
    }
    if (this.start < 0) {
      this.buf = '';
      this.pos = 0;
    } else {
      this.buf = b.slice(this.start);
      this.pos = this.buf.length;
      this.start = 0;
    }
    return out;
  }

  /** Call at the end of input: returns a trailing bare value, throws on a truncated object. */
  end(): unknown[] {
    if (this.start < 0) return [];
    const rest = this.buf.slice(this.start).trim();
    const wasBare = this.bare;
    this.buf = '';
    this.pos = 0;
    this.reset();
    if (!rest) return [];
    if (wasBare) return [parseValue(rest)];
    throw new EngineError(`truncated JSON at the end of the engine's stream: ${preview(rest)}`, 0, 'SERVER');
  }

  private reset(): void {
    this.start = -1;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.bare = false;
  }
}

function preview(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new EngineError(`malformed JSON in the engine's stream: ${preview(text.trim())}`, 0, 'SERVER');
  }
}
