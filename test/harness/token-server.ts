// A real bearer-token server for the registry's `auth: token` mode
// (the Docker registry token protocol, as Docker Hub's auth.docker.io speaks it).
//
// GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]  with optional Basic auth
// POST /token  (OAuth2 form: grant_type=password|refresh_token, as docker login uses)
//
// The JWT is ES256-signed; its header carries x5c = [base64 DER of the self-signed
// signing cert], and that same cert is the registry's rootcertbundle.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { makeTempDir, removeDir, requireTool, runOk, trackDir, untrackDir } from './util.js';

export interface TokenRequest {
  /** Every scope asked for (each `scope` parameter, space-separated scopes split). */
  scope: string[];
  /** The Basic-auth username (or form username), if any was sent. */
  account?: string;
  /** True when valid credentials were presented (anonymous and wrong-password requests are false). */
  authorized: boolean;
  /** 'GET' or 'POST'. */
  method: string;
}

export interface TokenServer {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the signing cert, for the registry's rootcertbundle. */
  rootCertBundle: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  username: string;
  password: string;
  service?: string;
  issuer?: string;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
  /**
   * Decides which actions a request gets on one scope. Default: an authenticated user gets every
   * action it asked for, anonymous gets none.
   */
  grant?: (account: string | undefined, scope: { type: string; name: string; actions: string[] }) => string[];
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** Splits "repository:some/name:pull,push" (the name itself may contain ':' e.g. a port). */
function parseScope(s: string): Access | null {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first < 0 || last <= first) return null;
  const actions = s
    .slice(last + 1)
    .split(',')
    .filter((a) => a !== '');
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions };
}

function parseBasic(header: string | undefined): { user: string; pass: string } | null {
  if (!header || !/^basic /i.test(header)) return null;
  const raw = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const i = raw.indexOf(':');
  if (i < 0) return null;
  return { user: raw.slice(0, i), pass: raw.slice(i + 1) };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(data.length), ...headers });
  res.end(data);
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const service = opts.service ?? 'berth-test-registry';
  const issuer = opts.issuer ?? 'berth-test-token-issuer';
  const expiresIn = opts.expiresIn ?? 300;
  const grant =
    opts.grant ??
    ((account: string | undefined, scope: { actions: string[] }): string[] => (account === undefined ? [] : scope.actions));

  const dir = await makeTempDir('berth-token-');
  trackDir(dir);
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  // No extendedKeyUsage in the cert: Go's x509 Verify (which the registry uses on x5c chains)
  // defaults to requiring serverAuth only when an EKU extension is present.
  await runOk(requireTool('openssl'), [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '3650',
    '-subj',
    '/CN=berth-test-token-signer',
  ]);
  const keyPem = await readFile(keyFile, 'utf8');
  const certDer = new X509Certificate(await readFile(certFile)).raw.toString('base64');

  const refreshTokens = new Map<string, string>(); // refresh token -> account
  const requests: TokenRequest[] = [];

  const makeToken = (account: string | undefined, scopes: string[]): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    const access: Access[] = [];
    for (const s of scopes) {
      const parsed = parseScope(s);
      if (!parsed) continue;
      const actions = grant(account, parsed);
      if (actions.length > 0) access.push({ type: parsed.type, name: parsed.name, actions });
    }
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: account ?? '',
      aud: service,
      exp: now + expiresIn,
      nbf: now - 30,
      iat: now,
      jti: randomBytes(16).toString('hex'),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    // JWS ES256 wants the raw r||s signature, not DER.
    const sig = sign('sha256', Buffer.from(signingInput), { key: keyPem, dsaEncoding: 'ieee-p1363' });
    const token = `${signingInput}.${b64url(sig)}`;
    return { token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() };
  };

  const collectScopes = (values: string[]): string[] => values.flatMap((v) => v.split(' ')).filter((s) => s !== '');

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname !== '/token') {
      sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
      return;
    }
    if (req.method === 'GET') {
      const scopes = collectScopes(url.searchParams.getAll('scope'));
      const basic = parseBasic(req.headers.authorization);
      if (basic) {
        const ok = basic.user === opts.username && basic.pass === opts.password;
        requests.push({ scope: scopes, account: basic.user, authorized: ok, method: 'GET' });
        if (!ok) {
          sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }, {
            'WWW-Authenticate': 'Basic realm="berth-test-token"',
          });
          return;
        }
        const body = makeToken(basic.user, scopes);
        if (url.searchParams.get('offline_token') === 'true') {
          const rt = randomBytes(24).toString('hex');
          refreshTokens.set(rt, basic.user);
          body.refresh_token = rt;
        }
        sendJson(res, 200, body);
        return;
      }
      requests.push({ scope: scopes, authorized: false, method: 'GET' });
      sendJson(res, 200, makeToken(undefined, scopes));
      return;
    }
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const scopes = collectScopes(form.getAll('scope'));
      const grantType = form.get('grant_type');
      let account: string | undefined;
      let ok = false;
      if (grantType === 'password') {
        account = form.get('username') ?? undefined;
        ok = account === opts.username && form.get('password') === opts.password;
      } else if (grantType === 'refresh_token') {
        account = refreshTokens.get(form.get('refresh_token') ?? '');
        ok = account !== undefined;
      }
      requests.push({ scope: scopes, account, authorized: ok, method: 'POST' });
      if (!ok) {
        sendJson(res, 401, { error: 'invalid_grant', errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }] });
        return;
      }
      const body = makeToken(account, scopes);
      if (grantType === 'password' && form.get('access_type') === 'offline') {
        const rt = randomBytes(24).toString('hex');
        refreshTokens.set(rt, account as string);
        body.refresh_token = rt;
      } else if (grantType === 'refresh_token') {
        body.refresh_token = form.get('refresh_token');
      }
      body.scope = scopes.join(' ');
      sendJson(res, 200, body);
      return;
    }
    sendJson(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'method not allowed' }] });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: String(e) }] });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let stopped = false;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: certFile,
    requests,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      untrackDir(dir);
      await removeDir(dir);
    },
  };
}
