import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorMessage, invalid, statusForError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { queryBool, queryFilters } from './decode/query.js';

export const MIN_API_VERSION = '1.24';
export const API_VERSION = '1.47';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** API version the client asked for (or the current one for unversioned paths). */
  version: string;
  log: Logger;
  /**
   * Present when the client asked for `Upgrade: tcp` (docker attach/exec): answers
   * `101 UPGRADED` with these headers and hands over the raw connection.
   */
  hijack?: (headers: Record<string, string>) => Duplex;
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

interface Route {
  method: string;
  re: RegExp;
  handler: Handler;
}

/**
 * A small path router. Patterns use `{name}` for one path segment and `{name*}`
 * for the rest of the path, because image names contain slashes
 * (`/images/localhost:5000/team/app:1/json`).
 */
export class Router {
  private readonly routes: Route[] = [];
  /**
   * Routes without parameters (`/containers/json`, `/info`) by path, then method: found without
   * trying every pattern, which matters for clients that poll. Only paths no earlier pattern
   * matches are here, so the answer is the one the scan in match() would give.
   */
  private readonly exact = new Map<string, Map<string, Handler>>();

  add(method: string, pattern: string, handler: Handler): this {
    if (!pattern.includes('{') && !this.routes.some((r) => r.re.test(pattern))) {
      const byMethod = this.exact.get(pattern) ?? new Map<string, Handler>();
      if (!byMethod.has(method)) byMethod.set(method, handler);
      this.exact.set(pattern, byMethod);
    }
    const re = new RegExp(
      '^' +
        pattern
          .replace(/[.+?^$()|[\]\\]/g, '\\$&')
          .replace(/\{(\w+)\*\}/g, '(?<$1>.+)')
          .replace(/\{(\w+)\}/g, '(?<$1>[^/]+)') +
        '$',
    );
    this.routes.push({ method, re, handler });
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method' | undefined {
    const exact = this.exact.get(path)?.get(method);
    if (exact !== undefined) return { handler: exact, params: {} };
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.groups ?? {})) params[k] = decodePathParam(v);
      return { handler: r.handler, params };
    }
    return pathMatched ? 'method' : undefined;
  }
}

/** A path segment's %-escapes decoded; a malformed escape (`/containers/%/json`) is a 400. */
function decodePathParam(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw invalid(`malformed escape in the request path: ${JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}...` : v)}`);
  }
}

function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Split `/v1.45/images/json` into a version and a path, enforcing the supported range. */
export function parseVersionedPath(rawPath: string): { version: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(rawPath);
  if (!m) return { version: API_VERSION, path: rawPath };
  const version = m[1] as string;
  if (!supportedVersions.has(version)) checkVersion(version);
  return { version, path: m[2] as string };
}

/** Versions already found in range: clients send the same one on every request. */
const supportedVersions = new Set<string>();

function checkVersion(version: string): void {
  if (compareVersions(version, API_VERSION) > 0) {
    throw invalid(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw invalid(
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  if (supportedVersions.size < 64) supportedVersions.add(version);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

export function sendNoContent(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

/** Errors that only say the client went away (closed or reset the connection mid-request). */
function isClientGone(res: ServerResponse, err: unknown): boolean {
  if (res.destroyed || res.socket?.destroyed) return true;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/** Docker's error shape. 5xx are logged: they are our bugs or host failures (a client that left is neither). */
export function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  const status = statusForError(err);
  if (status >= 500 && isClientGone(res, err)) {
    log.debug('client went away', { err: errorMessage(err) });
    res.destroy();
    return;
  }
  if (status >= 500) log.error('request failed', { err: errorMessage(err), stack: (err as Error)?.stack });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { message: errorMessage(err) });
}

const MAX_JSON_BODY = 8 << 20;

export async function readBody(req: IncomingMessage, limit = MAX_JSON_BODY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw invalid(`request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function readJson<T>(req: IncomingMessage, { optional = false } = {}): Promise<T | undefined> {
  const body = await readBody(req);
  if (body.length === 0) {
    if (optional) return undefined;
    throw invalid('request body is empty; a JSON body is required');
  }
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (err) {
    throw invalid(`invalid JSON body: ${errorMessage(err)}`);
  }
}

/** Docker's BoolValue (decode/query.ts): "", "0", "no", "false", "none" are false, anything else true. */
export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  return queryBool(q, name, dflt);
}

/** Docker's `filters` parameter (decode/query.ts), keys limited to `allowed`. */
export function parseFilters(q: URLSearchParams, allowed: readonly string[]): Record<string, string[]> {
  return queryFilters(q, allowed);
}

/**
 * Newline-delimited JSON progress stream with dockerd's rule: nothing is written
 * until the first message, so an error before any progress (no such image,
 * unauthorized) is still a plain HTTP error with the right status.
 */
export class JsonStream {
  private started = false;
  constructor(private readonly res: ServerResponse) {}

  get flushed(): boolean {
    return this.started;
  }

  write(msg: unknown): void {
    if (this.res.destroyed || this.res.writableEnded) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    this.res.write(JSON.stringify(msg) + '\r\n');
  }

  /** Finish with an error: as a stream message once output started, else as a status. */
  fail(err: unknown, log: Logger): void {
    if (!this.started) {
      sendError(this.res, err, log);
      return;
    }
    const message = errorMessage(err);
    this.write({ errorDetail: { message }, error: message });
    this.res.end();
  }

  end(): void {
    if (!this.started) this.res.writeHead(200, { 'Content-Type': 'application/json' });
    this.started = true;
    this.res.end();
  }
}
