// How the bridge host folds engine messages into jobs: build output arrives in chunks that can end
// mid-line, an image ID becomes the message, an error fails the job; push progress folds per layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyBuildMessage, applyPullMessage, JobManager } from '../desktop/bridge/jobs.js';
import { classifyPullError, registryOf } from '../desktop/bridge/pull-problems.js';
import type { Job, JobProblem } from '../types/desktop-api.js';

const job = (kind: Job['kind']): Job => ({ id: 'j', kind, title: 't', state: 'running', startedAt: '', layers: [] });

test('build output: chunks joined into whole lines, the ID as the message, errors kept', () => {
  const j = job('build');
  for (const stream of ['Step 1/2 : FROM x\n', ' ---> ab', 'c\nRUN out\nmore', '\n']) applyBuildMessage(j, { stream });
  assert.deepEqual(j.output, ['Step 1/2 : FROM x\n', ' ---> abc\n', 'RUN out\n', 'more\n']);
  applyBuildMessage(j, { aux: { ID: 'sha256:abc' } } as never);
  assert.equal(j.message, 'Built sha256:abc');
  applyBuildMessage(j, { error: 'x', errorDetail: { message: "The command '/bin/sh -c false' returned a non-zero code: 1" } });
  assert.match(j.error ?? '', /returned a non-zero code: 1/);
  const big = job('build');
  for (let i = 0; i < 2500; i++) applyBuildMessage(big, { stream: `line ${i}\n` });
  assert.equal(big.output?.length, 2000, 'only the latest lines are kept');
  assert.equal(big.output?.[1999], 'line 2499\n');
});

test('push progress folds per layer like a pull', () => {
  const j = job('push');
  applyPullMessage(j, { id: '0123456789ab', status: 'Pushing', progressDetail: { current: 5, total: 10 } });
  applyPullMessage(j, { id: '0123456789ab', status: 'Pushed' });
  applyPullMessage(j, { status: '1: digest: sha256:ff size: 527' });
  assert.deepEqual(j.layers, [{ id: '0123456789ab', status: 'Pushed', total: 10, current: 10 }]);
  assert.equal(j.message, '1: digest: sha256:ff size: 527');
});

test('pull failures are sorted into causes a person can act on, from dockerd\'s and berthd\'s wordings', () => {
  const cases: [string, string, JobProblem['kind']][] = [
    ['Get "http://localhost:5000/v2/library/busybox/manifests/latest": connect ECONNREFUSED 127.0.0.1:5000', 'localhost:5000/library/busybox', 'refused'],
    ['Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 127.0.0.53:53: server misbehaving', 'nginx', 'dns'],
    ['Get "https://registry-1.docker.io/v2/": getaddrinfo EAI_AGAIN registry-1.docker.io', 'nginx', 'dns'],
    ['Get "https://registry-1.docker.io/v2/": dial tcp 44.205.64.79:443: connect: network is unreachable', 'nginx', 'offline'],
    ['Get "https://registry-1.docker.io/v2/": proxyconnect tcp: dial tcp 10.0.0.1:3128: connect: connection refused', 'nginx', 'proxy'],
    ['Get "https://registry-1.docker.io/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)', 'nginx', 'timeout'],
    ['pull access denied for nosuch/thing, repository does not exist or may require \'docker login\': denied: requested access to the resource is denied', 'nosuch/thing', 'not-found'],
    ['manifest for nginx:nope not found: manifest unknown: manifest unknown', 'nginx:nope', 'not-found'],
    ['Head "https://ghcr.io/v2/me/private/manifests/1": unauthorized', 'ghcr.io/me/private:1', 'auth'],
    ['toomanyrequests: You have reached your pull rate limit.', 'nginx', 'rate-limit'],
    ['Get "https://reg.local:5000/v2/": http: server gave HTTP response to HTTPS client', 'reg.local:5000/app', 'tls'],
    ['Get "https://reg.example.com/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority', 'reg.example.com/app', 'tls'],
    ['failed to register layer: write /var/lib/berth/x: no space left on device', 'nginx', 'disk'],
    ['something else entirely', 'nginx', 'other'],
  ];
  for (const [message, ref, kind] of cases) {
    const p = classifyPullError(message, ref);
    assert.equal(p.kind, kind, message);
    assert.ok(p.summary.length > 10 && p.hint.length > 10, `${kind}: a summary and a hint`);
  }
  assert.equal(registryOf('nginx:alpine'), 'docker.io');
  assert.equal(registryOf('library/busybox'), 'docker.io');
  assert.equal(registryOf('localhost:5000/app'), 'localhost:5000');
  assert.equal(registryOf('ghcr.io/me/app'), 'ghcr.io');
  assert.match(classifyPullError('connect ECONNREFUSED 127.0.0.1:5000', 'localhost:5000/x').summary, /localhost:5000/);
  assert.match(classifyPullError('unauthorized', 'nginx').hint, /docker login\)/, 'Docker Hub needs no registry name');
});

test('jobs: dismiss forgets one (cancelling it when it runs), clear finished forgets the ended ones', async () => {
  const jobs = new JobManager();
  const seen: Job[] = [];
  jobs.subscribe((j) => seen.push(j));
  const never = { async *pullImage(_ref: string, o: { signal: AbortSignal }) {
    yield { status: 'Pulling' };
    await new Promise((_r, reject) => o.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
  } };
  const failing = { async *pullImage() {
    yield { error: 'x', errorDetail: { message: 'connect ECONNREFUSED 127.0.0.1:5000' } };
  } };
  const running = jobs.pull(never as never, 'a');
  const failed = jobs.pull(failing as never, 'localhost:5000/b');
  await new Promise((r) => setTimeout(r, 50));
  const f = jobs.list().find((j) => j.id === failed)!;
  assert.equal(f.state, 'failed');
  assert.equal(f.problem?.kind, 'refused');
  assert.equal(jobs.clearFinished(), 1);
  assert.deepEqual(jobs.list().map((j) => j.id), [running]);
  assert.ok(seen.some((j) => j.id === failed && j.dismissed), 'listeners hear the dismissal');
  jobs.dismiss(running);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(jobs.list(), []);
  assert.ok(!seen.some((j) => j.id === running && j.state === 'cancelled' && !j.dismissed), 'a dismissed job is not brought back by its end');
  jobs.close();
});
