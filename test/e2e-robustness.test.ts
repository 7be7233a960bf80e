// A bounded robustness run against one berthd: clients that hang up abruptly on every streaming
// endpoint (attach, logs --follow, events, stats, pull, build, exec start, export, save), before
// and after the first byte; slow readers; pipelined requests; oversized heads and bodies. It must
// end with the same daemon process serving, nothing in its log that only the last-resort handlers
// caught, and as many open file descriptors as before (counted in /proc/PID/fd once the daemon has
// settled). Nothing here is timed: every wait is for an outcome.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import { containerSkip as skip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { strayErrorsIn, type TestDaemon } from './harness/daemon.js';
import { buildTar, pushImage, randomLayer } from './harness/images.js';

let env: ContainerEnv;
let daemon: TestDaemon;
let container: string;
let bigRef: string;

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ pull: true });
  daemon = env.daemon;
  // An image big enough that a pull, a save or an export is still streaming when the client leaves.
  bigRef = `${env.registry.host}/robust/big:1`;
  await pushImage(env.registry, 'robust/big:1', { layers: [randomLayer('data', 4 << 20)] });
  container = (await env.ok(['run', '-d', env.ref, 'sh', '-c', 'while true; do echo tick; sleep 0.2; done'])).trim();
});

after(async () => {
  if (skip) return;
  await env.ok(['rm', '-f', container]).catch(() => undefined);
  await stopContainerEnv(env);
});

async function openFds(pid: number): Promise<number> {
  return (await fsp.readdir(`/proc/${pid}/fd`)).length;
}

/**
 * Sends a raw request; `leave` says when to hang up: right after sending, at the first byte of the
 * answer, or never (read to the end). Resolves with what was received.
 */
function hangUp(request: string | Buffer, leave: 'at-once' | 'first-byte' | 'end', body?: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = net.connect(daemon.socket);
    const chunks: Buffer[] = [];
    const done = (): void => resolve(Buffer.concat(chunks));
    s.on('error', done);
    s.on('close', done);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (leave === 'first-byte') s.destroy();
    });
    s.write(request);
    if (body) s.write(body);
    if (leave === 'at-once') s.destroy();
  });
}

/** Requests ask the daemon to close after answering, so reading "to the end" ends with the answer. */
const CLOSE = 'Connection: close\r\n';
const get = (path: string, extra = CLOSE): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const post = (path: string, body: Buffer | string = '', headers = 'Content-Type: application/json\r\n', extra = CLOSE): string =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body.toString()}`;

/** Every streaming endpoint, as raw requests (exec gets a fresh exec each time). */
async function streamingRequests(): Promise<{ name: string; request: string | Buffer }[]> {
  const exec = await daemon.request('POST', `/v1.47/containers/${container}/exec`, { Cmd: ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do echo x; sleep 0.1; done'], AttachStdout: true, AttachStderr: true });
  assert.equal(exec.status, 201, exec.body.toString());
  const execId = exec.json<{ Id: string }>().Id;
  const context = await buildTar([{ type: 'file', path: 'Dockerfile', content: `FROM ${env.ref}\nRUN echo building; sleep 1\n` }]);
  const buildHead = `POST /v1.47/build?t=robust-built HTTP/1.1\r\nHost: x\r\n${CLOSE}Content-Type: application/x-tar\r\nContent-Length: ${context.length}\r\n\r\n`;
  return [
    { name: 'attach', request: post(`/v1.47/containers/${container}/attach?stream=1&stdout=1&stderr=1`, '', '', 'Connection: Upgrade\r\nUpgrade: tcp\r\n') },
    { name: 'logs --follow', request: get(`/v1.47/containers/${container}/logs?follow=1&stdout=1&stderr=1`) },
    { name: 'events', request: get('/v1.47/events') },
    { name: 'stats', request: get(`/v1.47/containers/${container}/stats?stream=1`) },
    { name: 'pull', request: post(`/v1.47/images/create?fromImage=${encodeURIComponent(bigRef)}`) },
    { name: 'build', request: Buffer.concat([Buffer.from(buildHead), context]) },
    { name: 'exec start', request: post(`/v1.47/exec/${execId}/start`, JSON.stringify({ Detach: false, Tty: false }), 'Content-Type: application/json\r\n', 'Connection: Upgrade\r\nUpgrade: tcp\r\n') },
    { name: 'export', request: get(`/v1.47/containers/${container}/export`) },
    { name: 'save', request: get(`/v1.47/images/get?names=${encodeURIComponent(bigRef)}`) },
  ];
}

test('hang-ups on every streaming endpoint, slow readers, pipelining and oversized input: no crash, no stray error, no leaked fd', { skip, timeout: 600_000 }, async () => {
  const pid = daemon.pid;
  // One complete round first, so what the daemon opens once and keeps (databases, the container's
  // log, image blobs in its caches) is counted in the baseline.
  await env.ok(['pull', bigRef]);
  for (const { name, request } of await streamingRequests()) {
    if (name === 'logs --follow' || name === 'events' || name === 'stats' || name === 'attach') await hangUp(request, 'first-byte');
    else await hangUp(request, 'end');
  }
  await env.ok(['rmi', '-f', 'robust-built']).catch(() => undefined);
  // The baseline is taken once the count stops changing (idle keep-alives and finished execs close on their own).
  const settled = async (): Promise<number> => {
    let last = await openFds(pid);
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const n = await openFds(pid);
      if (n === last) return n;
      last = n;
    }
    return last;
  };
  const baseline = await settled();

  // Abrupt hang-ups: before the answer, and at its first byte, three times each.
  for (let round = 0; round < 2; round++) {
    for (const leave of ['at-once', 'first-byte'] as const) {
      for (const { request } of await streamingRequests()) await hangUp(request, leave);
    }
  }

  // Slow readers: a save read a little at a time arrives whole, identical to a fast one.
  const fast = await daemon.request('GET', `/v1.47/images/get?names=${encodeURIComponent(bigRef)}`);
  assert.equal(fast.status, 200);
  const slow = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect(daemon.socket);
    const chunks: Buffer[] = [];
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      s.pause();
      setImmediate(() => s.resume());
    });
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.write(get(`/v1.47/images/get?names=${encodeURIComponent(bigRef)}`));
  });
  const bodyStart = slow.indexOf('\r\n\r\n') + 4;
  assert.ok(/^HTTP\/1\.1 200/.test(slow.toString('latin1', 0, 12)));
  // Chunked encoding: compare the de-chunked bytes.
  const dechunked: Buffer[] = [];
  for (let pos = bodyStart; pos < slow.length; ) {
    const eol = slow.indexOf('\r\n', pos);
    const size = parseInt(slow.toString('latin1', pos, eol), 16);
    if (!size) break;
    dechunked.push(slow.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  assert.ok(Buffer.concat(dechunked).equals(fast.body), 'a slow reader gets the same archive');
  // A reader that stops reading (its socket buffers full) and then leaves.
  await new Promise<void>((resolve) => {
    const s = net.connect(daemon.socket);
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    let got = 0;
    s.on('data', (c: Buffer) => {
      got += c.length;
      if (got > 1 << 20) {
        s.pause();
        setTimeout(() => s.destroy(), 500);
      }
    });
    s.write(get(`/v1.47/containers/${container}/export`));
  });

  // Pipelining: twenty requests in one write, twenty answers in order.
  const pipelined = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? get('/_ping', '') : get(`/v1.47/containers/${container}/json`, ''))).join('');
  const answers = (await hangUp(`${pipelined}${get('/_ping')}`, 'end')).toString('latin1');
  const statuses = [...answers.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, Array.from({ length: 21 }, () => '200'));
  const bodies = [...answers.matchAll(/\r\n\r\n(OK|\{"Id")/g)].map((m) => m[1]);
  assert.deepEqual(bodies, Array.from({ length: 21 }, (_, i) => (i % 2 === 0 ? 'OK' : '{"Id"')), 'answers come back in request order');
  // A pipelined POST with a body between two GETs.
  const mixed = (await hangUp(`${get('/_ping', '')}${post('/v1.47/volumes/create', JSON.stringify({ Name: 'robust-vol' }), 'Content-Type: application/json\r\n', '')}${get('/_ping')}`, 'end')).toString('latin1');
  assert.deepEqual([...mixed.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]), ['200', '201', '200']);

  // Oversized input: headers over dockerd's 1 MiB, a JSON body over the limit, an upgrade body over its limit.
  const bigHeader = (await hangUp(get('/_ping', `X-Big: ${'a'.repeat(1100 << 10)}\r\n`), 'end')).toString('latin1');
  assert.match(bigHeader, /^HTTP\/1\.1 431 /);
  const bigBody = Buffer.alloc(9 << 20, 0x20);
  const tooBig = (await hangUp(post('/v1.47/containers/create', '', 'Content-Type: application/json\r\n').replace('Content-Length: 0', `Content-Length: ${bigBody.length}`), 'end', bigBody)).toString('latin1');
  assert.match(tooBig, /^HTTP\/1\.1 400 [\s\S]*request body larger than/);
  const tooBigUpgrade = (await hangUp(`POST /v1.47/exec/x/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${4 << 20}\r\n\r\n`, 'end')).toString('latin1');
  assert.match(tooBigUpgrade, /^HTTP\/1\.1 400 /);
  const badLength = (await hangUp(`POST /v1.47/volumes/create HTTP/1.1\r\nHost: x\r\n${CLOSE}Content-Length: -5\r\n\r\n`, 'end')).toString('latin1');
  assert.match(badLength, /^HTTP\/1\.1 400 /);

  // The same daemon, serving, with nothing caught by its last-resort handlers.
  assert.equal(daemon.pid, pid, 'no crash, no restart');
  assert.equal((await daemon.request('GET', '/_ping')).status, 200);
  assert.equal((await daemon.request('GET', `/v1.47/containers/${container}/json`)).json<{ State: { Running: boolean } }>().State.Running, true);
  assert.deepEqual(await strayErrorsIn(daemon.logFile), [], 'no uncaught exception or unhandled rejection');
  const log = await fsp.readFile(daemon.logFile, 'utf8');
  const errors = log.split('\n').filter((l) => l.includes('"level":"error"'));
  assert.deepEqual(errors, [], 'client hang-ups are not errors of the daemon');

  await env.ok(['rmi', '-f', 'robust-built']).catch(() => undefined);
  await daemon.request('DELETE', '/v1.47/volumes/robust-vol');
  // Every descriptor the abuse opened is closed again once the streams wound down.
  const end = await eventually(async () => {
    const n = await openFds(pid);
    assert.ok(n <= baseline, `${n} open descriptors, ${baseline} before`);
    return n;
  }, 60_000, 500);
  assert.ok(end <= baseline);
});
