// Bad input at the HTTP layer of berthd: request targets that do not parse, escapes that do not
// decode, over-long volume names, a docker save the client abandons, and clients that stall their
// request head or body. Each must get Docker's status (400, 408) and leave the daemon serving, with
// nothing in its log that the harness counts as an uncaught error (checked at cleanup).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { buildTar } from './harness/images.js';
import { randomBytes } from 'node:crypto';

let daemon: TestDaemon;

before(async () => {
  // Short stall limits so the tests below do not wait a minute; what they check is the outcome.
  daemon = await startDaemon({ extraArgs: ['--api-header-timeout', '1s', '--api-body-idle-timeout', '1s'] });
});

after(async () => {
  await daemon?.cleanup();
});

/** Sends raw bytes on a fresh connection and collects everything until the daemon closes it. */
function raw(bytes: string | Buffer, opts: { keepOpen?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(daemon.socket);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.write(bytes);
    if (!opts.keepOpen) s.end();
  });
}

/** The status line's code of a raw HTTP answer. */
function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
}

async function assertServing(): Promise<void> {
  const ping = await daemon.request('GET', '/_ping');
  assert.equal(ping.status, 200, 'the daemon still answers');
}

test('a malformed %-escape in the path is a 400, not a 500', async () => {
  for (const p of ['/containers/%/json', '/v1.47/containers/%zz/json', '/images/%E0%A4%A/json', '/volumes/%']) {
    const r = await daemon.request('GET', p);
    assert.equal(r.status, 400, `${p}: ${r.body.toString()}`);
    assert.match(r.json<{ message: string }>().message, /malformed/);
  }
  await assertServing();
});

test('a request target that is not a URL is answered 400, with or without Connection: Upgrade', { timeout: 30_000 }, async () => {
  const plain = await raw('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(plain), 400, plain);
  assert.match(plain, /malformed request target/);
  const upgrade = await raw('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
  assert.equal(statusOf(upgrade), 400, upgrade);
  const scheme = await raw('GET file:///etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(scheme), 400, scheme);
  // The absolute form of a good target is still served (HTTP/1.1 servers must accept it).
  const absolute = await raw('GET http://localhost/v1.47/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(absolute), 200, absolute);
  await assertServing();
});

test('a volume name of 300 characters is a 400 with Docker\'s wording, through the API and container create', async () => {
  const name = 'v'.repeat(300);
  const r = await daemon.request('POST', '/v1.47/volumes/create', { Name: name });
  assert.equal(r.status, 400, r.body.toString());
  assert.match(r.json<{ message: string }>().message, /^create v+\.\.\.: volume name is too long/);
  const one = await daemon.request('POST', '/v1.47/volumes/create', { Name: 'x' });
  assert.equal(one.status, 400);
  assert.equal(one.json<{ message: string }>().message, 'create x: volume name is too short, names should be at least two alphanumeric characters');
  const c = await daemon.request('POST', '/v1.47/containers/create', { Image: 'sha256:' + '0'.repeat(64), HostConfig: { Binds: [`${name}:/data`] } });
  assert.ok(c.status === 400 || c.status === 404, `container create with the long volume: ${c.status} ${c.body.toString()}`);
  const ls = await daemon.request('GET', '/v1.47/volumes');
  assert.deepEqual(ls.json<{ Volumes: unknown[] }>().Volumes, [], 'nothing was created');
  assert.equal((await daemon.request('GET', `/v1.47/volumes/${name}`)).status, 404);
});

test('a docker save abandoned partway is neither an uncaught exception nor a logged error', async () => {
  // An image of ~6 MiB incompressible bytes, made with import so no registry is needed.
  const rootfs = await buildTar([{ type: 'file', path: 'blob', content: randomBytes(6 << 20) }]);
  const imported = await daemon.request('POST', '/v1.47/images/create?fromSrc=-&repo=savetest&tag=1', rootfs, { 'Content-Type': 'application/x-tar' });
  assert.equal(imported.status, 200, imported.body.toString());
  for (let i = 0; i < 5; i++) {
    // Read the first chunk of the archive, then hang up, as `timeout 0.2 curl ...` does.
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(daemon.socket);
      s.on('error', reject);
      s.once('data', () => {
        s.destroy();
        resolve();
      });
      s.write('GET /v1.47/images/get?names=savetest%3A1 HTTP/1.1\r\nHost: x\r\n\r\n');
    });
  }
  await assertServing();
  const whole = await daemon.request('GET', '/v1.47/images/get?names=savetest%3A1');
  assert.equal(whole.status, 200);
  assert.ok(whole.body.length > 6 << 20, 'a complete save still works');
  const { readFile } = await import('node:fs/promises');
  const log = await readFile(daemon.logFile, 'utf8');
  assert.doesNotMatch(log, /"level":"error".*save/, 'an abandoned save is not an error of the daemon');
});

test('a stalled request head is answered 408 and closed', { timeout: 30_000 }, async () => {
  const answer = await raw('GET /v1.47/version HTTP/1.1\r\nHost: x\r\n', { keepOpen: true });
  assert.equal(statusOf(answer), 408, answer);
  await assertServing();
});

test('a stalled request body is answered 408 and closed; a slow but steady one is served', { timeout: 60_000 }, async () => {
  const stalled = await raw('POST /v1.47/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Na', {
    keepOpen: true,
  });
  assert.equal(statusOf(stalled), 408, stalled);
  assert.match(stalled, /timed out waiting for the request body/);

  // The same body, a byte at a time with pauses shorter than the idle limit, is fine.
  const body = JSON.stringify({ Name: 'steady' });
  const answer = await new Promise<string>((resolve, reject) => {
    const s = net.connect(daemon.socket);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.write(`POST /v1.47/volumes/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    let i = 0;
    const next = (): void => {
      if (i >= body.length) return;
      s.write(body[i++] as string);
      setTimeout(next, 100);
    };
    next();
  });
  assert.equal(statusOf(answer), 201, answer);

  // An upgrade request (exec start) whose JSON body stalls is cut as well.
  const upgrade = await raw('POST /v1.47/exec/nope/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{', {
    keepOpen: true,
  });
  assert.equal(statusOf(upgrade), 408, upgrade);
  await assertServing();
});

test('an event stream that stays quiet longer than the limits is not cut', async () => {
  const since = Math.floor(Date.now() / 1000);
  const got = await new Promise<string>((resolve, reject) => {
    const s = net.connect(daemon.socket);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.write(`GET /v1.47/events?since=${since} HTTP/1.1\r\nHost: x\r\n\r\n`);
    // Quiet for three times the limits, then an event arrives and the client leaves.
    setTimeout(() => {
      void daemon.request('POST', '/v1.47/volumes/create', { Name: 'quiet-then-event' }).then(() => setTimeout(() => s.destroy(), 300));
    }, 3000);
  });
  assert.equal(statusOf(got), 200, got);
  assert.match(got, /quiet-then-event/, 'the stream was still open when the event came');
});
