// A three-service stack through Debian's docker-compose 1.29 (docker-py underneath): up -d, ps,
// logs, exec, restart, down -v. The services find each other by service name through the
// network's embedded DNS, keep data in a named volume, publish a port to the host, and carry
// compose's labels, which `docker ps --filter label=...` finds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeDir, run } from './harness/util.js';
import { containerSkip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

const COMPOSE = '/usr/bin/docker-compose';
const skip = containerSkip || (existsSync(COMPOSE) ? false : 'needs docker-compose (Debian package)');

let env: ContainerEnv;
let dir: string;
const PROJECT = 'berthstack';

const composeFile = (image: string): string => `
version: "3.7"
services:
  api:
    image: ${image}
    command: ["sh", "-c", "mkdir -p /www && echo api-ok > /www/index.html && echo api starting && exec httpd -f -p 8080 -h /www"]
  worker:
    image: ${image}
    depends_on: [api]
    volumes: ["data:/data"]
    command: ["sh", "-c", "while :; do timeout 5 wget -qO- http://api:8080/ >> /data/seen && echo fetched; sleep 1; done"]
  web:
    image: ${image}
    depends_on: [api, worker]
    ports: ["18300:8080"]
    volumes: ["data:/data:ro"]
    command: ["sh", "-c", "mkdir -p /www; (while :; do cp /data/seen /www/index.html 2>/dev/null; sleep 1; done) & exec httpd -f -p 8080 -h /www"]
volumes:
  data: {}
`;

async function compose(args: string[]): Promise<string> {
  const r = await run(COMPOSE, ['-p', PROJECT, '-f', path.join(dir, 'docker-compose.yml'), ...args], {
    env: { ...process.env, DOCKER_HOST: env.daemon.dockerHost, COMPOSE_INTERACTIVE_NO_CLI: '1' },
    timeoutMs: 120_000,
  });
  const out = r.stdout.toString() + r.stderr.toString();
  assert.equal(r.code, 0, `docker-compose ${args.join(' ')} failed (${r.code}): ${out}`);
  return out;
}

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ dynamic: true, pull: true });
  dir = await makeTempDir('berth-compose-');
  await fsp.writeFile(path.join(dir, 'docker-compose.yml'), composeFile(env.ref));
});

after(async () => {
  if (skip) return;
  await removeDir(dir);
  await stopContainerEnv(env);
});

test('docker-compose brings a stack up, the services talk by name, and down -v removes everything', { skip }, async () => {
  await compose(['up', '-d']);
  try {
    const ps = await compose(['ps']);
    for (const svc of ['api', 'worker', 'web']) assert.match(ps, new RegExp(`${PROJECT}_${svc}_1\\s.*Up`), `${svc} is up`);
    // worker reaches api by service name and writes into the named volume; web serves what it wrote on a published port.
    const served = await eventually(async () => {
      const body = await (await fetch('http://127.0.0.1:18300/', { signal: AbortSignal.timeout(3000) })).text();
      assert.match(body, /api-ok/);
      return body;
    }, 30_000);
    assert.match(served, /api-ok/);
    assert.match(await compose(['logs', '--no-color', 'api']), /api starting/);
    assert.equal((await compose(['exec', '-T', 'worker', 'sh', '-c', 'head -1 /data/seen'])).trim(), 'api-ok');

    const labelled = (await env.ok(['ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}}'])).trim().split('\n').sort();
    assert.deepEqual(labelled, [`${PROJECT}_api_1`, `${PROJECT}_web_1`, `${PROJECT}_worker_1`]);
    const svc = (await env.ok(['ps', '--filter', 'label=com.docker.compose.service=api', '--format', '{{.Names}}'])).trim();
    assert.equal(svc, `${PROJECT}_api_1`);
    const vols = await env.ok(['volume', 'ls', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Name}}']);
    assert.equal(vols.trim(), `${PROJECT}_data`);

    const before = JSON.parse(await env.ok(['inspect', `${PROJECT}_api_1`]))[0].State.StartedAt;
    await compose(['restart', 'api']);
    const afterRestart = JSON.parse(await env.ok(['inspect', `${PROJECT}_api_1`]))[0];
    assert.equal(afterRestart.State.Running, true);
    assert.notEqual(afterRestart.State.StartedAt, before, 'api was restarted');
    await eventually(async () => assert.match(await compose(['exec', '-T', 'worker', 'sh', '-c', 'timeout 5 wget -qO- http://api:8080/']), /api-ok/), 20_000);
  } finally {
    await compose(['down', '-v']);
  }
  assert.equal((await env.ok(['ps', '-aq'])).trim(), '', 'containers removed');
  assert.doesNotMatch(await env.ok(['network', 'ls', '--format', '{{.Name}}']), new RegExp(`${PROJECT}_default`), 'network removed');
  assert.doesNotMatch(await env.ok(['volume', 'ls', '--format', '{{.Name}}']), new RegExp(`${PROJECT}_data`), 'volume removed');
});
