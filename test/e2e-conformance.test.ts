// Docker behaviours that SDK clients (docker-py, testcontainers) depend on and that have no better
// home: the swarm endpoints of a node outside any swarm, through the API and the real docker CLI;
// attach output reaching a client that reads the 101 answer with a buffered HTTP parser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { docker } from './harness/docker.js';
import { run } from './harness/util.js';
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

// Python's http.client reads the 101 answer through a buffered reader and docker-py then reads
// the raw socket, as here: bytes that arrive together with the answer are lost to it.
const BUFFERED_CLIENT = `
import http.client, socket, struct, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
c = Conn('localhost')
c.request('POST', '/v1.47/containers/%s/attach?logs=1&stdout=1&stderr=1&stream=0' % sys.argv[2], headers={'Connection': 'Upgrade', 'Upgrade': 'tcp'})
r = c.getresponse()
raw = r.fp.raw
out = b''
while True:
    h = raw.read(8)
    if not h or len(h) < 8:
        break
    n = struct.unpack('>I', h[4:])[0]
    while n > 0:
        d = raw.read(n)
        if not d:
            break
        out += d
        n -= len(d)
sys.stdout.write(out.decode())
`;

test('attach logs=1 stream=0: the replay reaches a client that reads the 101 answer through a buffered parser (docker-py)', { skip: skip || (!existsSync('/usr/bin/python3') && 'needs python3') }, async () => {
  const id = (await env.ok(['run', '-d', env.ref, 'echo', 'hello'])).trim();
  try {
    await env.ok(['wait', id]);
    for (let i = 0; i < 15; i++) {
      const r = await run('/usr/bin/python3', ['-c', BUFFERED_CLIENT, env.daemon.socket, id]);
      assert.equal(r.stdout.toString(), 'hello\n', `attempt ${i}: ${r.stderr.toString()}`);
    }
  } finally {
    await env.ok(['rm', '-f', id]);
  }
});
