// Docker behaviours that SDK clients (docker-py, testcontainers) depend on and that have no better
// home: the swarm endpoints of a node outside any swarm, through the API and the real docker CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

let env: ContainerEnv;

before(async () => {
  if (!skip) env = await startContainerEnv();
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

const NOT_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

test('swarm endpoints answer 503 as a dockerd outside a swarm does', { skip }, async () => {
  const d = env.daemon;
  const managerOnly: Array<[string, string, unknown?]> = [
    ['GET', '/v1.47/swarm'],
    ['GET', '/swarm/unlockkey'],
    ['POST', '/swarm/update?version=1', {}],
    ['POST', '/swarm/unlock', { UnlockKey: 'x' }],
    ['GET', '/services'],
    ['POST', '/services/create', { Name: 's' }],
    ['GET', '/services/abc'],
    ['DELETE', '/services/abc'],
    ['GET', '/services/abc/logs?stdout=1'],
    ['GET', '/nodes'],
    ['GET', '/nodes/abc'],
    ['GET', '/tasks'],
    ['GET', '/tasks/abc/logs'],
    ['GET', '/secrets'],
    ['POST', '/secrets/create', { Name: 's', Data: '' }],
    ['DELETE', '/secrets/abc'],
    ['GET', '/configs'],
    ['POST', '/configs/abc/update?version=1', {}],
  ];
  for (const [method, path, body] of managerOnly) {
    const r = await d.request(method, path, body);
    assert.equal(r.status, 503, `${method} ${path}: ${r.body.toString()}`);
    assert.deepEqual(r.json(), { message: NOT_MANAGER }, `${method} ${path}`);
  }
  const leave = await d.request('POST', '/swarm/leave?force=1');
  assert.equal(leave.status, 503);
  assert.deepEqual(leave.json(), { message: 'This node is not part of a swarm' });
  const init = await d.request('POST', '/swarm/init', { ListenAddr: '0.0.0.0:2377' });
  assert.equal(init.status, 503);
  assert.match(init.json<{ message: string }>().message, /not supported/);

  // The docker CLI shows the same words, and docker info agrees that there is no swarm.
  const ls = await docker(d, ['service', 'ls']);
  assert.notEqual(ls.code, 0);
  assert.match(ls.stderr, /This node is not a swarm manager/);
  const sl = await docker(d, ['swarm', 'leave', '--force']);
  assert.notEqual(sl.code, 0);
  assert.match(sl.stderr, /This node is not part of a swarm/);
  assert.equal((await env.ok(['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim(), 'inactive');
});
