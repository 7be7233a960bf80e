// Web mode's server: the renderer's files with their CSP, the index.html fallback for client routes,
// the link's one-time token exchanged for a session cookie, the /bridge WebSocket's guards (cookie,
// Origin, Host) and frames, and request targets that are not URLs, with the real `ws` client and a
// real bridge host (its engine is a socket that does not exist, so no daemon is needed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { WebSocket } from 'ws';
import { createBridgeHost, type BridgeHost } from '../desktop/bridge/index.js';
import { startWebServer, type WebServer } from '../desktop/web/index.js';
import type { WireFrame } from '../types/desktop-api.js';
import { makeTempDir, removeDir, repoRoot } from './harness/util.js';

let dir: string;
let host: BridgeHost;
let web: WebServer;

before(async () => {
  dir = await makeTempDir('berth-web-');
  await fsp.mkdir(path.join(dir, 'renderer', 'assets'), { recursive: true });
  await fsp.writeFile(path.join(dir, 'renderer', 'index.html'), '<!doctype html><title>Berth</title><script type="module" src="/assets/app.js"></script>');
  await fsp.writeFile(path.join(dir, 'renderer', 'assets', 'app.js'), 'console.log("app")');
  await fsp.writeFile(path.join(dir, 'secret.txt'), 'outside the renderer');
  host = await createBridgeHost({ kind: 'web', configPath: path.join(dir, 'desktop.json'), localHost: `unix://${dir}/no-engine.sock` });
  web = await startWebServer({ port: 0, rendererDir: path.join(dir, 'renderer'), bridge: host });
});

after(async () => {
  await web?.close();
  await host?.close();
  await removeDir(dir);
});

/** A raw GET, so Host and other headers are exactly what the test says. */
function get(pathname: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: web.port, path: pathname, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The session cookie (`name=value`) the link's token was exchanged for, once the first test got it. */
let session = '';

/** Opens the bridge socket; resolves when open, rejects with the HTTP status of a refusal. */
function connect(url: string, origin: string | null = web.origin, cookie: string = session): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...(origin ? { origin } : {}), ...(cookie ? { headers: { Cookie: cookie } } : {}) });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`refused with ${res.statusCode}`), { status: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

const bridgeUrl = (): string => `ws://127.0.0.1:${web.port}/bridge`;

/** Raw bytes to the server; everything it answers until it closes. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.end(bytes);
  });
}

test('the URL has the shape http://127.0.0.1:PORT/?token=HEX', () => {
  assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/);
  assert.equal(web.url, `${web.origin}/?token=${web.token}`);
});

test('the link\'s token is exchanged once for an HttpOnly, SameSite=Strict cookie; then the link is worthless', async () => {
  const wrong = await get('/?token=' + '0'.repeat(64));
  assert.equal(wrong.status, 401);
  assert.match(wrong.body, /This link no longer opens Berth Desktop/);

  const first = await get(`/?token=${web.token}`);
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, '/', 'the token leaves the address bar');
  const setCookie = first.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, new RegExp(`^berth-session-${web.port}=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=/$`));
  assert.ok(!setCookie.includes(web.token), 'the cookie is not the token');
  session = setCookie.split(';')[0] as string;

  const leaked = await get(`/?token=${web.token}`);
  assert.equal(leaked.status, 401, 'the same link from another browser (shell history, a screen share) opens nothing');
  assert.equal(leaked.headers['set-cookie'], undefined);
  const again = await get(`/containers?tab=logs&token=${web.token}`, { Cookie: session });
  assert.equal(again.status, 303, 'the browser that holds the session is just sent on');
  assert.equal(again.headers.location, '/containers?tab=logs');
});

test('static files: content types, CSP and nosniff; client routes get index.html; nothing outside the renderer', async () => {
  const index = await get('/');
  assert.equal(index.status, 200);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(index.body, /<title>Berth<\/title>/);
  const csp = String(index.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/, 'no inline or remote scripts');
  assert.match(csp, /object-src 'none'/);
  assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${web.port}`));
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  assert.equal(index.headers['referrer-policy'], 'no-referrer', 'the token in the URL is not sent to other sites');

  const js = await get('/assets/app.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.body, 'console.log("app")');
  assert.equal((await get('/containers/abc/logs')).body, index.body, 'a client route is the app');
  assert.equal((await get('/assets/missing.js')).status, 404);
  for (const escape of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
    const r = await get(escape);
    assert.ok(!r.body.includes('outside the renderer'), `${escape} stays inside the renderer`);
  }
  assert.equal((await get('/', { Host: 'evil.example:80' })).status, 421, 'a foreign Host (DNS rebinding) is refused');
});

test('a missing renderer build gets a clear page, not a crash', async () => {
  const bare = await startWebServer({ port: 0, rendererDir: path.join(dir, 'no-renderer'), bridge: host });
  try {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get(`${bare.origin}/`, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
    assert.equal(r.status, 503);
    assert.match(r.body, /dist\/renderer\/index\.html<\/code> is missing/);
  } finally {
    await bare.close();
  }
});

test('the bridge socket needs this server\'s session cookie and our own Origin; the token opens nothing', async () => {
  assert.ok(session, 'the exchange test ran first');
  await assert.rejects(connect(bridgeUrl(), web.origin, ''), (e: { status?: number }) => e.status === 401);
  await assert.rejects(connect(`${bridgeUrl()}?token=${web.token}`, web.origin, ''), (e: { status?: number }) => e.status === 401);
  await assert.rejects(connect(bridgeUrl(), web.origin, `berth-session-${web.port}=${'0'.repeat(64)}`), (e: { status?: number }) => e.status === 401);
  await assert.rejects(connect(bridgeUrl(), 'http://evil.example'), (e: { status?: number }) => e.status === 403);
  await assert.rejects(connect(bridgeUrl(), `http://127.0.0.1:${web.port + 1}`), (e: { status?: number }) => e.status === 403);
  await assert.rejects(connect(bridgeUrl(), null), (e: { status?: number }) => e.status === 403);
  const ws = await connect(bridgeUrl());
  ws.close();

  // Another server instance (a restart) does not honour this one's session.
  const other = await startWebServer({ port: 0, rendererDir: path.join(dir, 'renderer'), bridge: host });
  try {
    const value = session.split('=')[1] as string;
    await assert.rejects(connect(`ws://127.0.0.1:${other.port}/bridge`, other.origin, `berth-session-${other.port}=${value}`), (e: { status?: number }) => e.status === 401);
  } finally {
    await other.close();
  }
});

test('a request target that is not a URL is a 400, with or without Connection: Upgrade, and the server keeps serving', async () => {
  const host = `Host: 127.0.0.1:${web.port}`;
  const upgrade = await raw(web.port, `GET http://[ HTTP/1.1\r\n${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
  assert.match(upgrade, /^HTTP\/1\.1 400 /);
  const plain = await raw(web.port, `GET http://[ HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`);
  assert.match(plain, /^HTTP\/1\.1 400 /);
  const withToken = await raw(web.port, `GET http://[?token=${web.token} HTTP/1.1\r\n${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
  assert.match(withToken, /^HTTP\/1\.1 400 /);
  assert.equal((await get('/')).status, 200, 'still serving');
});

test('calls and streams as WireFrames: result, error, data, end after close', async () => {
  const ws = await connect(bridgeUrl());
  const frames: WireFrame[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as WireFrame);
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = async (match: (f: WireFrame) => boolean): Promise<WireFrame> => {
    for (;;) {
      const f = frames.find(match);
      if (f) return f;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const send = (f: WireFrame | Record<string, unknown>): void => ws.send(JSON.stringify(f));
  try {
    send({ t: 'call', id: 1, method: 'settings.set', params: { theme: 'light' } });
    const set = await waitFor((f) => f.t === 'result' && f.id === 1);
    assert.deepEqual(set, { t: 'result', id: 1, ok: true, value: { theme: 'light', onboardingDone: false, sampleRegistry: 'docker.io', sampleImage: 'library/nginx:alpine', tour: { step: 0 } } });

    send({ t: 'call', id: 2, method: 'containers.list', params: {} });
    const unreachable = await waitFor((f) => f.t === 'result' && f.id === 2);
    assert.ok(unreachable.t === 'result' && !unreachable.ok && unreachable.error.status === 0, 'engine errors cross as {message, status}');

    send({ t: 'call', id: 3, method: 'nope', params: {} });
    assert.deepEqual(await waitFor((f) => f.t === 'result' && f.id === 3), { t: 'result', id: 3, ok: false, error: { message: 'unknown method "nope"', status: 404 } });
    ws.send('not json');
    send({ t: 'call', method: 'settings.get' });

    send({ t: 'open', id: 4, stream: 'events', params: {} });
    const status = await waitFor((f) => f.t === 'data' && f.id === 4);
    assert.ok(status.t === 'data');
    const msg = status.data as { type: string; status: { state: string; fix: string } };
    assert.equal(msg.type, 'engine');
    assert.equal(msg.status.state, 'unreachable');
    assert.match(msg.status.fix, /sudo berthd/);
    send({ t: 'close', id: 4 });
    assert.deepEqual(await waitFor((f) => f.t === 'end' && f.id === 4), { t: 'end', id: 4 });

    send({ t: 'open', id: 5, stream: 'bogus', params: {} });
    assert.deepEqual(await waitFor((f) => f.t === 'end' && f.id === 5), { t: 'end', id: 5, error: { message: 'unknown stream "bogus"', status: 404 } });
    send({ t: 'open', id: 6, stream: 'logs', params: { follow: true } });
    const bad = await waitFor((f) => f.t === 'end' && f.id === 6);
    assert.ok(bad.t === 'end' && bad.error?.status === 400, 'bad stream params end the stream with a 400');

    send({ t: 'call', id: 7, method: 'settings.get', params: {} });
    assert.ok(await waitFor((f) => f.t === 'result' && f.id === 7), 'the connection survived the bad frames');
  } finally {
    ws.close();
  }
});

test('berth desktop --web --no-open prints the URL, serves it, and stops on SIGTERM', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(path.join(repoRoot(), 'bin', 'berth'), ['-H', `unix://${dir}/no-engine.sock`, 'desktop', '--web', '--no-open', '--port', '0'], {
    env: { ...process.env, BERTH_DESKTOP_CONFIG: path.join(dir, 'cli.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}/.exec(out);
        if (m) resolve(m[0]);
      });
      child.once('exit', () => reject(new Error(`berth desktop exited: ${out}`)));
    });
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 303, 'the token is exchanged for a session');
    assert.match(res.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    const page = await fetch(new URL(res.headers.get('location') ?? '/', url));
    assert.ok(page.status === 200 || page.status === 503, `served the app (${page.status})`);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal((await fetch(url, { redirect: 'manual' })).status, 401, 'the printed link works once');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
});
