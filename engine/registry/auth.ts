/**
 * Registry authentication: WWW-Authenticate challenges, Basic credentials and
 * the Docker registry token protocol (GET with Basic credentials, or the OAuth2
 * POST form with a refresh token), plus a cache of bearer tokens.
 *
 * Network access is injected (TokenHttp) so the client keeps one agent, one
 * retry policy and one log format for every request it makes.
 */
import { createHash } from 'node:crypto';
import { BerthError, upstream } from '../common/errors.js';
import type { AuthConfig } from './types.js';

export interface Challenge {
  /** Lowercase scheme: "basic", "bearer". */
  scheme: string;
  /** Lowercase parameter names. */
  params: Record<string, string>;
}

/**
 * Parse one or more WWW-Authenticate header values (RFC 7235):
 *   Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"
 * Several challenges may share one header, separated by commas.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) {
    let i = 0;
    const n = value.length;
    let current: Challenge | undefined;
    const skipWs = (): void => {
      while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
    };
    const token = (): string => {
      const start = i;
      while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(value[i]!)) i++;
      return value.slice(start, i);
    };
    while (i < n) {
      skipWs();
      if (value[i] === ',') {
        i++;
        continue;
      }
      const word = token();
      if (word === '') {
        i++; // unexpected character: skip it
        continue;
      }
      skipWs();
      if (value[i] === '=' && current !== undefined) {
        i++;
        skipWs();
        let v: string;
        if (value[i] === '"') {
          i++;
          v = '';
          while (i < n && value[i] !== '"') {
            if (value[i] === '\\' && i + 1 < n) i++;
            v += value[i];
            i++;
          }
          i++; // closing quote
        } else {
          const start = i;
          while (i < n && value[i] !== ',' && value[i] !== ' ') i++;
          v = value.slice(start, i);
        }
        current.params[word.toLowerCase()] = v;
      } else if (value[i] === '=' && current === undefined) {
        // token68 or garbage before any scheme: skip to the next comma
        while (i < n && value[i] !== ',') i++;
      } else {
        current = { scheme: word.toLowerCase(), params: {} };
        out.push(current);
        // token68 form (e.g. "Negotiate abc=="): not used by registries; ignored.
      }
    }
  }
  return out;
}

/** Bearer beats Basic when a registry offers both. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

export interface Credentials {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

/** Credentials from a Docker AuthConfig; `auth` (base64 "user:pass") fills in a missing username/password. */
export function credentialsOf(auth: AuthConfig | undefined): Credentials {
  const c: Credentials = {};
  if (!auth) return c;
  if (auth.username) c.username = auth.username;
  if (auth.password) c.password = auth.password;
  if ((c.username === undefined || c.password === undefined) && auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      c.username ??= decoded.slice(0, colon);
      c.password ??= decoded.slice(colon + 1);
    }
  }
  if (auth.identitytoken) c.identityToken = auth.identitytoken;
  if (auth.registrytoken) c.registryToken = auth.registrytoken;
  return c;
}

export function hasBasic(c: Credentials): c is Credentials & { username: string; password: string } {
  return c.username !== undefined && c.password !== undefined;
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** A stable, non-reversible key for a set of credentials (tokens are cached per credentials). */
export function credentialsKey(c: Credentials): string {
  if (!hasBasic(c) && c.identityToken === undefined) return 'anonymous';
  return createHash('sha256')
    .update(`${c.username ?? ''}\0${c.password ?? ''}\0${c.identityToken ?? ''}`)
    .digest('hex')
    .slice(0, 32);
}

/** "repository:library/busybox:pull,push" */
export function repositoryScope(path: string, actions: readonly string[]): string {
  return `repository:${path}:${[...new Set(actions)].join(',')}`;
}

// ---------------------------------------------------------------------------
// Token protocol

export interface TokenHttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Performs one HTTP request (the client supplies retries, agent and logging). */
export type TokenHttp = (req: {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}) => Promise<TokenHttpResponse>;

export interface TokenRequest {
  realm: string;
  service?: string;
  scopes: readonly string[];
  creds: Credentials;
  /** Ask for a refresh token (docker login): GET offline_token=true / POST access_type=offline. */
  offline?: boolean;
  clientId: string;
  signal?: AbortSignal;
}

export interface Token {
  token: string;
  /** Lifetime in seconds as granted (60 when the server does not say). */
  expiresIn: number;
  refreshToken?: string;
}

/** A server-side failure worth retrying (5xx, 429). */
export class TransientHttpError extends Error {
  readonly status: number;
  readonly retryAfterMs?: number;
  constructor(message: string, status: number, retryAfterMs?: number) {
    super(message);
    this.name = 'TransientHttpError';
    this.status = status;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

export const DEFAULT_TOKEN_LIFETIME_S = 60;

/** Registry / token-server error text: distribution's {"errors":[...]} or the Hub's {"details": "..."}. */
export function errorText(body: Buffer): { code?: string; message?: string; text: string } | undefined {
  const raw = body.toString('utf8').trim();
  if (raw === '') return undefined;
  try {
    const j = JSON.parse(raw) as {
      errors?: { code?: unknown; message?: unknown; detail?: unknown }[];
      details?: unknown;
      detail?: unknown;
      error?: unknown;
      error_description?: unknown;
      message?: unknown;
    };
    const e = Array.isArray(j.errors) ? j.errors[0] : undefined;
    if (e && typeof e.code === 'string') {
      const code = e.code;
      const message = typeof e.message === 'string' ? e.message : '';
      return { code, message, text: `${code.toLowerCase().replace(/_/g, ' ')}: ${message}` };
    }
    for (const v of [j.details, j.detail, j.error_description, j.message, j.error]) {
      if (typeof v === 'string' && v !== '') return { message: v, text: v };
    }
  } catch {
    /* not JSON */
  }
  const firstLine = raw.split('\n')[0]!.slice(0, 200);
  return { message: firstLine, text: firstLine };
}

export function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s === '') return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function realmUrl(realm: string): URL {
  let u: URL;
  try {
    u = new URL(realm);
  } catch {
    throw upstream(`registry sent an invalid token realm: ${JSON.stringify(realm)}`, 'BAD_CHALLENGE');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw upstream(`registry sent an unsupported token realm: ${realm}`, 'BAD_CHALLENGE');
  }
  return u;
}

/** Fetch a bearer token per the Docker registry token spec (GET) or its OAuth2 variant (POST). */
export async function fetchToken(http: TokenHttp, req: TokenRequest): Promise<Token> {
  const url = realmUrl(req.realm);
  let res: TokenHttpResponse;
  if (req.creds.identityToken !== undefined) {
    const form = new URLSearchParams();
    form.set('grant_type', 'refresh_token');
    form.set('refresh_token', req.creds.identityToken);
    if (req.service !== undefined) form.set('service', req.service);
    form.set('client_id', req.clientId);
    if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
    if (req.offline) form.set('access_type', 'offline');
    res = await http({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      ...(req.signal ? { signal: req.signal } : {}),
    });
  } else {
    if (req.service !== undefined) url.searchParams.set('service', req.service);
    for (const s of req.scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (hasBasic(req.creds)) {
      headers.authorization = basicAuthorization(req.creds.username, req.creds.password);
      url.searchParams.set('account', req.creds.username);
    }
    if (req.offline) {
      url.searchParams.set('offline_token', 'true');
      url.searchParams.set('client_id', req.clientId);
    }
    res = await http({ method: 'GET', url, headers, ...(req.signal ? { signal: req.signal } : {}) });
  }

  if (res.status === 401 || res.status === 403) {
    const detail = errorText(res.body);
    const anon = !hasBasic(req.creds) && req.creds.identityToken === undefined;
    const msg = detail?.code
      ? detail.text
      : `unauthorized: ${detail?.message ?? (anon ? 'authentication required' : 'incorrect username or password')}`;
    throw new BerthError('unauthorized', msg, { code: 'UNAUTHORIZED' });
  }
  if (res.status === 429 || res.status >= 500) {
    throw new TransientHttpError(
      `token server ${url.origin} answered ${res.status}`,
      res.status,
      parseRetryAfter(res.headers['retry-after']),
    );
  }
  if (res.status !== 200) {
    const detail = errorText(res.body);
    throw upstream(
      `token server ${url.origin} answered ${res.status}${detail ? `: ${detail.text}` : ''}`,
      'TOKEN_ERROR',
    );
  }
  let j: { token?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
  try {
    j = JSON.parse(res.body.toString('utf8')) as typeof j;
  } catch {
    throw upstream(`token server ${url.origin} sent a response that is not JSON`, 'TOKEN_ERROR');
  }
  const token =
    typeof j.access_token === 'string' && j.access_token !== ''
      ? j.access_token
      : typeof j.token === 'string' && j.token !== ''
        ? j.token
        : undefined;
  if (token === undefined) throw upstream(`token server ${url.origin} sent no token`, 'TOKEN_ERROR');
  const expiresIn =
    typeof j.expires_in === 'number' && Number.isFinite(j.expires_in) && j.expires_in > 0
      ? j.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
  const out: Token = { token, expiresIn };
  if (typeof j.refresh_token === 'string' && j.refresh_token !== '') out.refreshToken = j.refresh_token;
  return out;
}

/**
 * Bearer tokens by (realm, service, scopes, credentials), kept until shortly
 * before they expire; concurrent requests for the same key share one fetch.
 */
export class TokenCache {
  private readonly entries = new Map<string, { token: string; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<string>>();
  constructor(private readonly now: () => number = Date.now) {}

  static key(req: Pick<TokenRequest, 'realm' | 'service' | 'scopes' | 'creds'>): string {
    return [req.realm, req.service ?? '', [...req.scopes].sort().join(' '), credentialsKey(req.creds)].join('|');
  }

  /** Time a token is used for: its lifetime less a margin (a sixth, at most 30 s). */
  static usableMs(expiresIn: number): number {
    const margin = Math.min(30, expiresIn / 6);
    return Math.max(0, (expiresIn - margin) * 1000);
  }

  peek(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.token;
  }

  invalidate(key: string, token?: string): void {
    const e = this.entries.get(key);
    if (e && (token === undefined || e.token === token)) this.entries.delete(key);
  }

  async get(key: string, fetch: () => Promise<Token>): Promise<string> {
    const cached = this.peek(key);
    if (cached !== undefined) return cached;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = (async () => {
      try {
        const t = await fetch();
        this.entries.set(key, { token: t.token, expiresAt: this.now() + TokenCache.usableMs(t.expiresIn) });
        return t.token;
      } finally {
        this.inflight.delete(key);
      }
    })();
    this.inflight.set(key, p);
    return p;
  }

  clear(): void {
    this.entries.clear();
  }
}
