/**
 * OCI distribution client: manifests and blobs over HTTP(S) with Docker's auth
 * flows, scheme rules, redirects and retries; the upload protocol (push.ts) sends its
 * requests through the same sessions.
 *
 * - HTTPS by default. Registries listed as insecure (host, host:port or CIDR) and
 *   loopback registries are tried over HTTPS without certificate verification,
 *   then over plain HTTP if the TLS connection cannot be made; the choice is
 *   remembered per registry for the life of the client.
 * - Auth: requests go out anonymously until a registry answers 401; its
 *   WWW-Authenticate challenge is remembered per registry, so later requests
 *   carry Basic credentials or a (cached) bearer token up front.
 * - Transient failures (connection errors, 429, 5xx) are retried with
 *   exponential backoff before any body byte is handed to the caller.
 */
import { STATUS_CODES } from 'node:http';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { Transform, type Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import { BerthError, errorMessage, invalid, isBerthError, notFound, unauthorized, upstream } from '../common/errors.js';
import { isDigest, parseDigest, sha256, type Digest } from '../common/digest.js';
import { silentLogger, type Logger } from '../common/log.js';
import {
  TokenCache,
  TransientHttpError,
  basicAuthorization,
  credentialsOf,
  errorText,
  fetchToken,
  hasBasic,
  parseChallenges,
  parseRetryAfter,
  pickChallenge,
  repositoryScope,
  type Challenge,
  type Credentials,
  type TokenHttp,
  type TokenHttpResponse,
} from './auth.js';
import { ACCEPT_MANIFESTS, SCHEMA1_MESSAGE, detectMediaType, isSchema1 } from './manifest.js';
import {
  DEFAULT_DOMAIN,
  familiarName,
  familiarString,
  isLoopbackHost,
  isValidTag,
  normalizeServerAddress,
  splitHostPort,
} from './reference.js';
import type { AuthConfig, BlobStream, FetchedManifest, PushSession, Reference, Registry, RepositorySession } from './types.js';
import { RegistryPushSession, type SessionResponse } from './push.js';

export interface RegistryClientOptions {
  /** dockerd's --insecure-registry values: "host", "host:port" or a CIDR ("10.0.0.0/8"). */
  insecureRegistries?: string[];
  log?: Logger;
  userAgent?: string;
  /** Retries of a request after a transient failure (default 3). */
  maxRetries?: number;
  /** First backoff delay in ms; doubles per retry, ±50 % jitter (default 200). */
  retryBaseMs?: number;
  /**
   * Name resolution override: the IP addresses (v4 and/or v6 literals) to use for a
   * hostname, in order of preference. When set it replaces DNS everywhere the client
   * resolves a name: for the TCP connections themselves (registry, token server and
   * redirect targets; TLS SNI and certificate checks still use the original hostname)
   * and for matching --insecure-registry CIDR entries. IP-literal hosts are never
   * passed to it. It exists so tests (and, later, the VM's host mapping) can map
   * names to addresses without touching /etc/hosts. Without it the system resolver
   * is used, as before.
   */
  resolve?: (hostname: string) => Promise<string[]>;
}

/** Manifests larger than this are refused (the OCI distribution spec suggests 4 MiB). */
export const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024;
const ERROR_BODY_LIMIT = 64 * 1024;
const TOKEN_BODY_LIMIT = 1024 * 1024;
const MAX_REDIRECTS = 10;
const RETRY_AFTER_CAP_MS = 30_000;
const CLIENT_ID = 'berth';
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

type Scheme = 'https' | 'http';
/** A request body; uploads pass a factory so the body can be sent again after an auth challenge. */
export type RequestBody = string | Buffer | Readable;
export type BodySource = () => RequestBody;
type Response = Dispatcher.ResponseData;
type Headers = Record<string, string>;

/** What a request carried, so a final 401/403 can be explained properly. */
interface SentAuth {
  kind: 'basic' | 'bearer' | 'registrytoken';
  header: string;
  /** Bearer: the cache key and whether the token came from the cache. */
  key?: string;
  token?: string;
  cached?: boolean;
}

interface AuthContext {
  creds: Credentials;
  /** Token scopes for this session ("repository:<path>:pull"). Empty for login. */
  scopes: readonly string[];
  /** Repository path, to tell whether a challenge's scope is already covered. */
  path?: string;
}

interface RegistryResponse {
  res: Response;
  /** Where `res` came from (after redirects). */
  url: URL;
  /** The registry's own origin (before redirects). */
  origin?: string;
  sent?: SentAuth;
  challenge?: Challenge;
}

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

function errCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const c = (err as { code?: unknown }).code;
  if (typeof c === 'string') return c;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err ? errCode(cause) : undefined;
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const e = err instanceof RequestFailed ? err.cause : err;
  return e instanceof Error && (e.name === 'AbortError' || errCode(e) === 'UND_ERR_ABORTED');
}

/** A request that got no response: the cause plus what was being fetched, for messages. */
class RequestFailed extends Error {
  constructor(
    readonly method: string,
    readonly url: URL,
    override readonly cause: unknown,
  ) {
    super(errorMessage(cause));
    this.name = 'RequestFailed';
  }
}

/** Worth retrying: the connection failed or broke before a response arrived. */
function isTransientNetworkError(err: unknown): boolean {
  if (err instanceof TransientHttpError) return true;
  const code = errCode(err);
  return code !== undefined && NETWORK_ERROR_CODES.has(code);
}

/** Could not make a connection (or a TLS session) at all: the HTTPS->HTTP fallback trigger. */
function isConnectionFailure(err: unknown): boolean {
  if (isBerthError(err) || err instanceof TransientHttpError) return false;
  const code = errCode(err) ?? '';
  if (NETWORK_ERROR_CODES.has(code)) return true;
  return code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO' || /SSL|TLS/i.test(errorMessage(err));
}

function isRetriableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}

function header(res: Response, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Log-safe URL: query values that look like credentials (presigned URLs) are elided. */
function redact(url: URL): string {
  if (url.search === '') return url.href;
  const u = new URL(url.href);
  for (const k of [...u.searchParams.keys()]) {
    if (/sig|credential|security|policy|secret|password|^(token|access_token|refresh_token|key|code)$/i.test(k)) u.searchParams.set(k, '…');
  }
  u.username = '';
  u.password = '';
  return u.href;
}

async function readLimited(body: Readable, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body.dump({ limit: 256 * 1024 });
  } catch {
    /* the connection is dropped instead of reused: fine */
  }
}

async function errorBody(res: Response): Promise<Buffer> {
  try {
    return (await readLimited(res.body, ERROR_BODY_LIMIT)) ?? Buffer.alloc(0);
  } catch {
    return Buffer.alloc(0);
  }
}

/** Drop the first `n` bytes of a stream (a registry that ignored our Range header). */
function skipBytes(src: Readable, n: number): Readable {
  let left = n;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left >= chunk.length) {
        left -= chunk.length;
        cb();
        return;
      }
      const out = left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
      cb(null, out);
    },
    flush(cb) {
      cb(left > 0 ? upstream(`blob ended before the resume offset ${n}`, 'SHORT_READ') : null);
    },
  });
  src.on('error', (err) => t.destroy(err));
  t.on('close', () => {
    if (!src.destroyed) src.destroy();
  });
  src.pipe(t);
  return t;
}

function notFoundError(hostname: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  err.code = 'ENOTFOUND';
  err.syscall = 'getaddrinfo';
  return err;
}

/** The addresses a `resolve` hook gives for `hostname` (non-IP answers dropped), as dns.lookup would. */
async function resolveWith(resolve: (hostname: string) => Promise<string[]>, hostname: string): Promise<LookupAddress[]> {
  const out: LookupAddress[] = [];
  for (const address of await resolve(hostname)) {
    const family = isIP(address);
    if (family !== 0) out.push({ address, family });
  }
  if (out.length === 0) throw notFoundError(hostname);
  return out;
}

/** A net.connect `lookup` backed by a `resolve` hook (handles both `all` and single-address calls). */
function lookupVia(resolve: (hostname: string) => Promise<string[]>): LookupFunction {
  return (hostname, options, callback) => {
    resolveWith(resolve, hostname).then(
      (all) => {
        const wanted = options.family === 4 || options.family === 6 ? all.filter((a) => a.family === options.family) : all;
        if (wanted.length === 0) {
          callback(notFoundError(hostname), options.all === true ? [] : '', undefined);
        } else if (options.all === true) {
          callback(null, wanted);
        } else {
          callback(null, wanted[0]!.address, wanted[0]!.family);
        }
      },
      (err: unknown) => {
        const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(String(err));
        callback(e, options.all === true ? [] : '', undefined);
      },
    );
  };
}

/** Parse one --insecure-registry entry into a name ("host[:port]") or a CIDR. */
function parseInsecureEntry(raw: string): { name: string } | { net: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  let s = raw.trim().replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, '').replace(/\/+$/, '');
  const cidr = /^\[?([0-9a-fA-F.:]+)\]?\/(\d{1,3})$/.exec(s);
  if (cidr) {
    const v = isIP(cidr[1]!);
    if (v !== 0) return { net: cidr[1]!, prefix: Number(cidr[2]), family: v === 4 ? 'ipv4' : 'ipv6' };
  }
  const slash = s.indexOf('/');
  if (slash !== -1) s = s.slice(0, slash);
  return { name: s.toLowerCase() };
}

export class RegistryClient implements Registry {
  private readonly agent: Agent;
  /** @internal */
  readonly log: Logger;
  private readonly userAgent: string;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly insecureNames = new Set<string>();
  private readonly insecureNets = new BlockList();
  private insecureNetCount = 0;
  private readonly insecureByDomain = new Map<string, Promise<boolean>>();
  /** "host:port" of origins whose TLS certificates are not verified (insecure registries). */
  private readonly skipVerify = new Set<string>();
  private readonly schemes = new Map<string, Scheme>();
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new TokenCache();
  private readonly resolve: ((hostname: string) => Promise<string[]>) | undefined;

  constructor(opts: RegistryClientOptions = {}) {
    this.log = opts.log ?? silentLogger;
    this.userAgent = opts.userAgent ?? 'berth';
    this.maxRetries = Math.max(0, opts.maxRetries ?? 3);
    this.retryBaseMs = Math.max(0, opts.retryBaseMs ?? 200);
    this.resolve = opts.resolve;
    for (const raw of opts.insecureRegistries ?? []) {
      const e = parseInsecureEntry(raw);
      if ('name' in e) {
        if (e.name !== '') this.insecureNames.add(e.name);
      } else {
        this.insecureNets.addSubnet(e.net, e.prefix, e.family);
        this.insecureNetCount++;
      }
    }
    // undici hands these options to net/tls.connect; servername (SNI and the certificate
    // check) still comes from the URL's hostname, only the address lookup is replaced.
    const base = { timeout: 10_000, ...(opts.resolve ? { lookup: lookupVia(opts.resolve) } : {}) };
    const verifying = buildConnector(base);
    const lenient = buildConnector({ ...base, rejectUnauthorized: false });
    const connect: buildConnector.connector = (o, cb) => {
      const port = o.port !== '' ? o.port : o.protocol === 'https:' ? '443' : '80';
      const host = o.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      (o.protocol === 'https:' && this.skipVerify.has(`${host}:${port}`) ? lenient : verifying)(o, cb);
    };
    this.agent = new Agent({
      connections: 8,
      connect,
      headersTimeout: 30_000,
      bodyTimeout: 60_000,
      keepAliveTimeout: 10_000,
    });
  }

  /** A pull (or push) session for one repository. */
  session(ref: Reference, auth?: AuthConfig, actions: readonly ('pull' | 'push')[] = ['pull']): RepositorySession {
    return new Session(this, ref, credentialsOf(auth), actions.length > 0 ? actions : ['pull']);
  }

  /**
   * A push session: pull and push on `ref`'s repository, plus pull on each repository
   * of `mountFrom` (paths on the same registry) so blobs can be mounted from them
   * with the same token.
   */
  pushSession(ref: Reference, auth?: AuthConfig, mountFrom: readonly string[] = []): PushSession {
    const extra = mountFrom.filter((p) => p !== ref.path).map((p) => repositoryScope(p, ['pull']));
    return new RegistryPushSession(new Session(this, ref, credentialsOf(auth), ['pull', 'push'], extra));
  }

  /**
   * Check credentials like `docker login`: GET /v2/, answer its challenge with the
   * credentials (for a token server: an offline token without scope). Resolves with
   * the refresh token as identityToken when the token server issued one.
   */
  async login(auth: AuthConfig): Promise<{ identityToken?: string }> {
    const domain = normalizeServerAddress(auth.serveraddress);
    const creds = credentialsOf(auth);
    const first = await this.withRetries(undefined, () => this.toRegistry(domain, '/v2/', this.baseHeaders(creds)));
    const fail = (status: number, url: URL): BerthError =>
      unauthorized(`login attempt to ${url.href} failed with status: ${statusLine(status)}`, 'UNAUTHORIZED');
    if (first.res.statusCode === 200) {
      await discard(first.res);
      return {};
    }
    if (first.res.statusCode !== 401 || creds.registryToken !== undefined) {
      const body = await errorBody(first.res);
      if (first.res.statusCode === 401 || first.res.statusCode === 403) throw fail(first.res.statusCode, first.url);
      throw this.unexpected(first.res.statusCode, first.url, body);
    }
    const challenge = pickChallenge(parseChallenges(first.res.headers['www-authenticate']));
    await discard(first.res);
    if (challenge === undefined) throw fail(401, first.url);
    this.rememberChallenge(domain, challenge);

    let authorization: string;
    let identityToken: string | undefined;
    if (challenge.scheme === 'basic') {
      if (!hasBasic(creds)) throw fail(401, first.url);
      authorization = basicAuthorization(creds.username, creds.password);
    } else {
      const realm = challenge.params.realm;
      if (realm === undefined) throw upstream(`registry ${domain} sent a bearer challenge without a realm`, 'BAD_CHALLENGE');
      if (!hasBasic(creds) && creds.identityToken === undefined) throw fail(401, first.url);
      try {
        const t = await this.withRetries(undefined, () =>
          fetchToken(this.tokenHttp, {
            realm,
            ...(challenge.params.service !== undefined ? { service: challenge.params.service } : {}),
            scopes: [],
            creds,
            offline: true,
            clientId: CLIENT_ID,
          }),
        );
        authorization = `Bearer ${t.token}`;
        identityToken = t.refreshToken;
      } catch (err) {
        if (isBerthError(err) && err.kind === 'unauthorized') throw fail(401, first.url);
        throw err;
      }
    }
    const second = await this.withRetries(undefined, () =>
      this.toRegistry(domain, '/v2/', { ...this.baseHeaders(creds), authorization }),
    );
    await discard(second.res);
    if (second.res.statusCode !== 200) {
      if (second.res.statusCode === 401 || second.res.statusCode === 403) throw fail(second.res.statusCode, second.url);
      throw this.unexpected(second.res.statusCode, second.url, Buffer.alloc(0));
    }
    return identityToken !== undefined ? { identityToken } : {};
  }

  /** Close the connection pool. Sessions must not be used afterwards. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  // -------------------------------------------------------------------------
  // Internals used by Session

  /** The host that serves the API for a registry domain (Docker Hub's differs). */
  apiHost(domain: string): string {
    return domain === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : domain;
  }

  private baseHeaders(creds: Credentials): Headers {
    const h: Headers = { 'user-agent': this.userAgent };
    if (creds.registryToken !== undefined) h.authorization = `Bearer ${creds.registryToken}`;
    return h;
  }

  /** Insecure (per --insecure-registry) or loopback: HTTP allowed, TLS not verified. */
  private isInsecure(domain: string): Promise<boolean> {
    let p = this.insecureByDomain.get(domain);
    if (p === undefined) {
      p = this.decideInsecure(domain);
      this.insecureByDomain.set(domain, p);
    }
    return p;
  }

  private async decideInsecure(domain: string): Promise<boolean> {
    const apiHost = this.apiHost(domain);
    const { host, port } = splitHostPort(apiHost);
    const h = host.toLowerCase();
    let insecure =
      isLoopbackHost(apiHost) ||
      this.insecureNames.has(domain.toLowerCase()) ||
      this.insecureNames.has(apiHost.toLowerCase()) ||
      this.insecureNames.has(h) ||
      this.insecureNames.has(h.includes(':') ? `[${h}]` : h);
    if (!insecure && this.insecureNetCount > 0) {
      const family = isIP(h);
      if (family !== 0) {
        insecure = this.insecureNets.check(h, family === 4 ? 'ipv4' : 'ipv6');
      } else {
        try {
          const addrs = this.resolve ? await resolveWith(this.resolve, h) : await lookup(h, { all: true });
          insecure = addrs.some((a) => this.insecureNets.check(a.address, a.family === 4 ? 'ipv4' : 'ipv6'));
        } catch {
          insecure = false;
        }
      }
    }
    if (insecure) this.skipVerify.add(`${h}:${port ?? '443'}`);
    return insecure;
  }

  /** One HTTP exchange, logged at debug level. */
  async send(method: string, url: URL, headers: Headers, signal?: AbortSignal, body?: RequestBody): Promise<Response> {
    const t0 = performance.now();
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        method: method as Dispatcher.HttpMethod,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(signal ? { signal } : {}),
      });
      this.log.debug('registry request', {
        method,
        url: redact(url),
        status: res.statusCode,
        ms: Math.round(performance.now() - t0),
      });
      return res;
    } catch (err) {
      this.log.debug('registry request failed', {
        method,
        url: redact(url),
        error: errorMessage(err),
        code: errCode(err),
        ms: Math.round(performance.now() - t0),
      });
      throw new RequestFailed(method, url, err);
    }
  }

  /**
   * Send to a registry path, choosing HTTPS or (for insecure/loopback registries) HTTP.
   * An absolute URL (an upload Location) is used as it is.
   */
  private async toRegistry(
    domain: string,
    pathAndQuery: string,
    headers: Headers,
    signal?: AbortSignal,
    method = 'GET',
    body?: BodySource,
  ): Promise<{ res: Response; url: URL }> {
    if (/^https?:\/\//i.test(pathAndQuery)) {
      const url = new URL(pathAndQuery);
      return { res: await this.send(method, url, headers, signal, body?.()), url };
    }
    const host = this.apiHost(domain);
    const known = this.schemes.get(domain);
    const insecure = await this.isInsecure(domain);
    const scheme: Scheme = known ?? 'https';
    const url = new URL(`${scheme}://${host}${pathAndQuery}`);
    try {
      const res = await this.send(method, url, headers, signal, body?.());
      if (known === undefined) this.schemes.set(domain, scheme);
      return { res, url };
    } catch (err) {
      if (known !== undefined || !insecure || isAbort(err, signal) || !isConnectionFailure(err)) throw err;
      const httpUrl = new URL(`http://${host}${pathAndQuery}`);
      this.log.debug('registry not reachable over HTTPS, trying HTTP', { registry: domain, error: errorMessage(err) });
      const res = await this.send(method, httpUrl, headers, signal, body?.());
      this.schemes.set(domain, 'http');
      return { res, url: httpUrl };
    }
  }

  private rememberChallenge(domain: string, c: Challenge): void {
    // The scope belongs to the request that was refused, not to the registry.
    const params = { ...c.params };
    delete params.scope;
    delete params.error;
    this.challenges.set(domain, { scheme: c.scheme, params });
  }

  /** Credentials to send to `domain` up front, given what we know of its challenge. */
  private async authorizationFor(
    domain: string,
    ctx: AuthContext,
    extraScopes: readonly string[],
  ): Promise<SentAuth | undefined> {
    if (ctx.creds.registryToken !== undefined) {
      return { kind: 'registrytoken', header: `Bearer ${ctx.creds.registryToken}` };
    }
    const c = this.challenges.get(domain);
    if (c === undefined) return undefined;
    if (c.scheme === 'basic') {
      return hasBasic(ctx.creds)
        ? { kind: 'basic', header: basicAuthorization(ctx.creds.username, ctx.creds.password) }
        : undefined;
    }
    if (c.scheme !== 'bearer' || c.params.realm === undefined) return undefined;
    const realm = c.params.realm;
    const service = c.params.service;
    const scopes = [...new Set([...ctx.scopes, ...extraScopes])];
    const req = { realm, ...(service !== undefined ? { service } : {}), scopes, creds: ctx.creds };
    const key = TokenCache.key(req);
    const cached = this.tokens.peek(key) !== undefined;
    // Not tied to one caller's signal: concurrent requests may share this fetch.
    const token = await this.tokens.get(key, () =>
      fetchToken(this.tokenHttp, { ...req, clientId: CLIENT_ID }),
    );
    return { kind: 'bearer', header: `Bearer ${token}`, key, token, cached };
  }

  /** HTTP for the token protocol: one exchange, body read whole. */
  private readonly tokenHttp: TokenHttp = async (req) => {
    const res = await this.send(
      req.method,
      req.url,
      { 'user-agent': this.userAgent, accept: 'application/json', ...req.headers },
      req.signal,
      req.body,
    );
    const body = await readLimited(res.body, TOKEN_BODY_LIMIT);
    if (body === undefined) throw upstream(`token server ${req.url.origin} sent an oversized response`, 'TOKEN_ERROR');
    const out: TokenHttpResponse = { status: res.statusCode, headers: res.headers, body };
    return out;
  };

  /**
   * Send to a repository path with auth: send with what we know, and on a 401 with a
   * usable challenge fetch credentials and send once more (re-opening the body). A
   * final 401/403 is returned (body unread) for the caller to explain.
   */
  private async authorized(
    domain: string,
    pathAndQuery: string,
    headers: Headers,
    ctx: AuthContext,
    signal?: AbortSignal,
    method = 'GET',
    body?: BodySource,
  ): Promise<RegistryResponse> {
    let sent = await this.authorizationFor(domain, ctx, []);
    const withAuth = (s: SentAuth | undefined): Headers => ({
      ...headers,
      'user-agent': this.userAgent,
      ...(s ? { authorization: s.header } : {}),
    });
    let { res, url } = await this.toRegistry(domain, pathAndQuery, withAuth(sent), signal, method, body);
    if (res.statusCode !== 401 || sent?.kind === 'registrytoken') return { res, url, ...(sent ? { sent } : {}) };

    const challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']));
    const final = (): RegistryResponse => ({ res, url, ...(sent ? { sent } : {}), ...(challenge ? { challenge } : {}) });
    if (challenge === undefined) return final();
    if (challenge.scheme === 'basic') {
      if (!hasBasic(ctx.creds) || sent?.kind === 'basic') return final();
    } else if (challenge.scheme === 'bearer') {
      if (challenge.params.realm === undefined) return final();
      if (sent?.kind === 'bearer') {
        // A fresh token that is refused will be refused again; a cached one may have expired early.
        if (!sent.cached) return final();
        this.tokens.invalidate(sent.key!, sent.token);
      }
    } else {
      return final();
    }
    this.rememberChallenge(domain, challenge);
    // A scope the registry asks for that our own does not cover (e.g. another repository).
    const extra =
      challenge.params.scope !== undefined
        ? challenge.params.scope
            .split(' ')
            .filter((s) => s !== '' && !(ctx.path !== undefined && s.startsWith(`repository:${ctx.path}:`)))
        : [];
    await discard(res);
    sent = await this.authorizationFor(domain, ctx, extra);
    ({ res, url } = await this.toRegistry(domain, pathAndQuery, withAuth(sent), signal, method, body));
    return { res, url, ...(sent ? { sent } : {}), challenge };
  }

  /** Follow 301/302/303/307/308; Authorization goes only to the registry's own origin. */
  private async followRedirects(
    first: RegistryResponse,
    headers: Headers,
    signal?: AbortSignal,
    method: 'GET' | 'HEAD' = 'GET',
  ): Promise<RegistryResponse> {
    let { res, url } = first;
    const registryOrigin = first.url.origin;
    for (let hop = 0; hop < MAX_REDIRECTS; hop++) {
      if (![301, 302, 303, 307, 308].includes(res.statusCode)) return { ...first, res, url, origin: registryOrigin };
      const location = header(res, 'location');
      if (location === undefined) return { ...first, res, url, origin: registryOrigin };
      await discard(res);
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw upstream(`registry redirected to an unsupported URL: ${redact(next)}`, 'BAD_REDIRECT');
      }
      const h: Headers = { ...headers, 'user-agent': this.userAgent };
      if (next.origin === registryOrigin && first.sent) h.authorization = first.sent.header;
      url = next;
      res = await this.send(method, next, h, signal);
    }
    await discard(res);
    throw upstream(`too many redirects fetching ${redact(first.url)}`, 'TOO_MANY_REDIRECTS');
  }

  /** authorized GET (or HEAD) + redirects, retried on connection errors, 429 and 5xx. */
  async get(
    domain: string,
    pathAndQuery: string,
    headers: Headers,
    ctx: AuthContext,
    signal?: AbortSignal,
    method: 'GET' | 'HEAD' = 'GET',
  ): Promise<RegistryResponse> {
    return this.withRetries(signal, async () => {
      const r = await this.authorized(domain, pathAndQuery, headers, ctx, signal, method);
      return this.followRedirects(r, headers, signal, method);
    });
  }

  /**
   * An authorized request that changes the registry (POST, PATCH, PUT, DELETE), not
   * redirected. Bodiless ones are retried like GETs; one with a body is sent once
   * (plus the re-send after an auth challenge): a half-received upload cannot simply
   * be repeated, its caller starts the upload over instead.
   */
  async write(
    domain: string,
    method: string,
    target: string,
    headers: Headers,
    ctx: AuthContext,
    body?: BodySource,
    signal?: AbortSignal,
  ): Promise<RegistryResponse> {
    const once = (): Promise<RegistryResponse> => this.authorized(domain, target, headers, ctx, signal, method, body);
    if (body === undefined) return this.withRetries(signal, once);
    try {
      return await once();
    } catch (err) {
      if (isAbort(err, signal)) throw signal?.reason ?? (err instanceof RequestFailed ? err.cause : err);
      throw this.networkError(err);
    }
  }

  /** Run `fn`, retrying transient failures with exponential backoff and jitter. */
  private async withRetries<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let waitMs: number | undefined;
      try {
        const out = await fn();
        const res = (out as { res?: Response }).res;
        if (res !== undefined && isRetriableStatus(res.statusCode) && attempt < this.maxRetries) {
          waitMs = parseRetryAfter(res.headers['retry-after']);
          this.log.debug('registry answered with a transient error; retrying', {
            status: res.statusCode,
            attempt: attempt + 1,
          });
          await discard(res);
        } else {
          return out;
        }
      } catch (err) {
        if (isAbort(err, signal)) throw signal?.reason ?? (err instanceof RequestFailed ? err.cause : err);
        if (!isTransientNetworkError(err) || attempt >= this.maxRetries) throw this.networkError(err);
        if (err instanceof TransientHttpError) waitMs = err.retryAfterMs;
        this.log.debug('registry request failed; retrying', { error: errorMessage(err), attempt: attempt + 1 });
      }
      const backoff = this.retryBaseMs * 2 ** attempt * (0.5 + Math.random());
      const ms = Math.min(RETRY_AFTER_CAP_MS, Math.max(backoff, waitMs ?? 0));
      await delay(ms, undefined, signal ? { signal } : undefined);
    }
  }

  /** Turn an exhausted/unretriable low-level failure into a BerthError. */
  private networkError(err: unknown): unknown {
    if (isBerthError(err)) return err;
    if (err instanceof TransientHttpError) {
      return upstream(`${err.message} (gave up after ${this.maxRetries + 1} attempts)`, 'REGISTRY_UNAVAILABLE', err);
    }
    const cause = err instanceof RequestFailed ? err.cause : err;
    const where = err instanceof RequestFailed ? `${err.method === 'GET' ? 'Get' : err.method} "${redact(err.url)}": ` : '';
    const code = errCode(cause);
    const msg = errorMessage(cause).split('\n')[0]!.trim();
    if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|HOSTNAME|ALTNAME/.test(code)) {
      return upstream(`${where}tls: failed to verify certificate: ${msg}`, 'TLS_ERROR', cause);
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(msg)) {
      return upstream(
        `${where}http: server gave HTTP response to HTTPS client (add the registry to insecure registries to use plain HTTP)`,
        'TLS_ERROR',
        cause,
      );
    }
    const detail = code && !msg.includes(code) ? `${msg} (${code})` : msg;
    return upstream(`${where}${detail}`, 'REGISTRY_UNREACHABLE', cause);
  }

  unexpected(status: number, url: URL, body: Buffer): BerthError {
    const detail = errorText(body);
    const base = `received unexpected HTTP status: ${statusLine(status)}`;
    if (isRetriableStatus(status)) {
      return upstream(`${base} from ${redact(url)}${detail ? ` (${detail.text})` : ''}`, 'REGISTRY_UNAVAILABLE');
    }
    return upstream(detail ? `${detail.text} (${statusLine(status)})` : base, 'REGISTRY_ERROR');
  }
}

class Session implements RepositorySession {
  private readonly ctx: AuthContext;

  constructor(
    private readonly client: RegistryClient,
    readonly ref: Reference,
    creds: Credentials,
    actions: readonly ('pull' | 'push')[],
    extraScopes: readonly string[] = [],
  ) {
    this.ctx = { creds, scopes: [repositoryScope(ref.path, actions), ...extraScopes], path: ref.path };
  }

  /** One authorized request for the push protocol (push.ts); `target` is a path or an upload Location. */
  async request(
    method: string,
    target: string,
    headers: Headers,
    body?: BodySource,
    signal?: AbortSignal,
  ): Promise<SessionResponse> {
    const r =
      method === 'HEAD'
        ? await this.client.get(this.ref.domain, target, headers, this.ctx, signal, 'HEAD')
        : await this.client.write(this.ref.domain, method, target, headers, this.ctx, body, signal);
    return {
      status: r.res.statusCode,
      header: (name) => header(r.res, name),
      url: r.url,
      discard: () => discard(r.res),
      refusal: async (what) => this.refusal(r, what),
    };
  }

  /** A push answered with an error status, explained the way dockerd does. */
  private async refusal(r: RegistryResponse, what: string): Promise<BerthError> {
    const status = r.res.statusCode;
    const body = await errorBody(r.res);
    const detail = errorText(body);
    if (status === 401 || status === 403) {
      if (status === 401 && r.challenge?.scheme === 'basic' && !hasBasic(this.ctx.creds)) {
        return unauthorized(`${detail?.code ? `${detail.text}: ` : ''}no basic auth credentials`, 'UNAUTHORIZED');
      }
      const text = detail?.code && detail.code !== 'DENIED' && detail.code !== 'UNAUTHORIZED' ? detail.text : 'denied: requested access to the resource is denied';
      return unauthorized(text, 'PUSH_ACCESS_DENIED');
    }
    if (status === 404 && detail?.code === 'NAME_UNKNOWN') {
      return notFound(`repository ${familiarName(this.ref)} not found: ${detail.text}`, 'REPO_NOT_FOUND');
    }
    if (detail?.code) return upstream(`${what}: ${detail.text}`, 'REGISTRY_ERROR');
    const e = this.client.unexpected(status, r.url, body);
    return new BerthError(e.kind, `${what}: ${e.message}`, { code: e.code });
  }

  async getManifest(tagOrDigest: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const byDigest = isDigest(tagOrDigest);
    if (!byDigest && !isValidTag(tagOrDigest)) {
      if (tagOrDigest.includes(':')) parseDigest(tagOrDigest);
      throw invalid(`invalid tag or digest: ${JSON.stringify(tagOrDigest)}`, 'INVALID_REFERENCE');
    }
    const at: Reference = byDigest
      ? { domain: this.ref.domain, path: this.ref.path, digest: tagOrDigest }
      : { domain: this.ref.domain, path: this.ref.path, tag: tagOrDigest };
    const headers = { accept: ACCEPT_MANIFESTS };
    const r = await this.client.get(this.ref.domain, `/v2/${this.ref.path}/manifests/${tagOrDigest}`, headers, this.ctx, signal);
    const { res } = r;
    if (res.statusCode !== 200) throw await this.failure(r, 'manifest', at);

    const declared = Number(header(res, 'content-length'));
    if (Number.isFinite(declared) && declared > MANIFEST_SIZE_LIMIT) {
      res.body.destroy();
      throw upstream(`manifest for ${familiarString(at)} is too large (${declared} bytes)`, 'MANIFEST_TOO_LARGE');
    }
    const body = await readLimited(res.body, MANIFEST_SIZE_LIMIT);
    if (body === undefined) {
      throw upstream(`manifest for ${familiarString(at)} exceeds ${MANIFEST_SIZE_LIMIT} bytes`, 'MANIFEST_TOO_LARGE');
    }
    const mediaType = detectMediaType(header(res, 'content-type'), body);
    if (isSchema1(mediaType)) throw invalid(SCHEMA1_MESSAGE, 'SCHEMA1_UNSUPPORTED');
    const digest = sha256(body);
    if (byDigest && digest !== tagOrDigest) {
      throw upstream(
        `manifest verification failed for digest ${tagOrDigest}: the registry sent content with digest ${digest}`,
        'DIGEST_MISMATCH',
      );
    }
    const claimed = header(res, 'docker-content-digest');
    if (!byDigest && claimed !== undefined && isDigest(claimed) && claimed !== digest) {
      // Not fatal (we address content by what we received), but worth knowing.
      this.client.log.warn('registry Docker-Content-Digest does not match the manifest received', {
        ref: familiarString(at),
        claimed,
        computed: digest,
      });
    }
    return { mediaType, digest, body };
  }

  async fetchBlob(digest: Digest, opts: { signal?: AbortSignal; offset?: number } = {}): Promise<BlobStream> {
    parseDigest(digest);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalid(`invalid blob offset ${offset}`);
    const headers: Headers = { accept: '*/*' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const r = await this.client.get(this.ref.domain, `/v2/${this.ref.path}/blobs/${digest}`, headers, this.ctx, opts.signal);
    const { res } = r;
    const length = Number(header(res, 'content-length'));
    const hasLength = header(res, 'content-length') !== undefined && Number.isSafeInteger(length) && length >= 0;

    if (res.statusCode === 206 && offset > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
      if (range === null || Number(range[1]) !== offset) {
        res.body.destroy();
        throw upstream(`registry answered a range request for ${digest} with the wrong range`, 'BAD_RANGE');
      }
      return hasLength ? { stream: res.body, size: length } : { stream: res.body };
    }
    if (res.statusCode === 200) {
      if (offset === 0) return hasLength ? { stream: res.body, size: length } : { stream: res.body };
      // The registry ignored Range: drop what the caller already has.
      const stream = skipBytes(res.body, offset);
      return hasLength ? { stream, size: Math.max(0, length - offset) } : { stream };
    }
    throw await this.failure(r, 'blob', { domain: this.ref.domain, path: this.ref.path, digest });
  }

  /** Explain a non-success answer the way dockerd does. */
  private async failure(r: RegistryResponse, what: 'manifest' | 'blob', at: Reference): Promise<BerthError> {
    const { res } = r;
    const status = res.statusCode;
    const body = await errorBody(res);
    const detail = errorText(body);
    const name = familiarName(this.ref);
    if (status === 404) {
      if (what === 'blob') {
        return notFound(`blob ${at.digest} not found: ${detail?.text ?? 'blob unknown: blob unknown to registry'}`, 'BLOB_UNKNOWN');
      }
      if (detail?.code === 'NAME_UNKNOWN') return notFound(`repository ${name} not found: ${detail.text}`, 'REPO_NOT_FOUND');
      return notFound(
        `manifest for ${familiarString(at)} not found: ${detail?.text ?? 'manifest unknown: manifest unknown'}`,
        'REPO_NOT_FOUND',
      );
    }
    if ((status === 401 || status === 403) && r.origin !== undefined && r.url.origin !== r.origin) {
      // Blob storage behind a redirect (an expired pre-signed URL...), not the registry's auth.
      return upstream(
        `${what} ${at.digest ?? familiarString(at)}: redirect target ${r.url.host} answered ${statusLine(status)}${detail ? `: ${detail.text}` : ''}`,
        'REGISTRY_ERROR',
      );
    }
    if (status === 401 || status === 403) {
      const kind = r.sent?.kind;
      if (status === 401 && r.challenge?.scheme === 'basic' && !hasBasic(this.ctx.creds)) {
        return unauthorized(`${detail?.code ? `${detail.text}: ` : ''}no basic auth credentials`, 'UNAUTHORIZED');
      }
      if (status === 401 && (kind === 'basic' || kind === 'registrytoken')) {
        return unauthorized(detail?.text ?? 'unauthorized: authentication required', 'UNAUTHORIZED');
      }
      return unauthorized(
        `pull access denied for ${name}, repository does not exist or may require 'docker login': ${
          detail?.code === 'DENIED' || !detail ? 'denied: requested access to the resource is denied' : detail.text
        }`,
        'PULL_ACCESS_DENIED',
      );
    }
    if (status === 416) {
      return upstream(`registry refused the byte range for ${at.digest ?? familiarString(at)}`, 'RANGE_NOT_SATISFIABLE');
    }
    return this.client.unexpected(status, r.url, body);
  }
}
