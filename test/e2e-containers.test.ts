// Containers through the real docker CLI against berthd: run, logs, ps, stop, rm, inspect,
// and containers outliving a daemon restart. Real registry, busybox, runc and conmon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import type { TestDaemon } from './harness/daemon.js';

let env: ContainerEnv;
let daemon: TestDaemon;
let ref: string;
let imageId: string;
let ok: ContainerEnv['ok'];

before(async () => {
  if (skip) return;
  env = await startContainerEnv();
  ({ daemon, ref, imageId, ok } = env);
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

test('docker run --rm prints output and passes the exit code on (pulling the image first)', { skip }, async () => {
  const r = await docker(daemon, ['run', '--rm', ref, 'echo', 'hi']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hi\n');
  const three = await docker(daemon, ['run', '--rm', ref, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(three.code, 3, three.stderr);
  assert.equal(three.stdout, 'out\n');
  assert.match(three.stderr, /err/);
  assert.equal((await ok(['ps', '-aq'])).trim(), '', '--rm removed them');
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const events = await ok(['events', '--since', '0', '--until', until, '--filter', 'type=container', '--format', '{{.Action}} {{.Actor.Attributes.exitCode}}']);
  assert.deepEqual(
    events.trim().split('\n').map((l) => l.replace('<no value>', '').trim()),
    ['create', 'attach', 'start', 'die 0', 'destroy', 'create', 'attach', 'start', 'die 3', 'destroy'],
  );
  const stdin = await docker(daemon, ['run', '-i', '--rm', ref, 'cat'], { input: 'from stdin\n' });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal(stdin.stdout, 'from stdin\n');
  const tty = await docker(daemon, ['run', '-t', '--rm', ref, 'sh', '-c', 'tty']);
  assert.equal(tty.code, 0, tty.stderr);
  assert.equal(tty.stdout, '/dev/pts/0\r\n');
  const missing = await docker(daemon, ['run', '--rm', ref, 'no-such-command']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /executable file not found/);
});

test('detached container: ps, logs, inspect, rmi conflict, stop, ps -a, rm', { skip }, async () => {
  const id = (await ok(['run', '-d', '--name', 'sleeper', ref, 'sh', '-c', 'echo one; echo two; echo three >&2; exec sleep 30'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  try {
    const ps = await ok(['ps', '--format', '{{.ID}} {{.Names}} {{.Status}}']);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)} sleeper Up `, 'm'));

    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('two'); i++) {
      logs = await ok(['logs', 'sleeper']);
      if (!logs.includes('two')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(logs, 'one\ntwo\n');
    const both = await docker(daemon, ['logs', '--tail', '1', 'sleeper']);
    assert.equal(both.stdout, '');
    assert.equal(both.stderr, 'three\n');
    const stamped = await ok(['logs', '-t', '--tail', '2', id.slice(0, 8)]);
    assert.match(stamped, /^\d{4}-\d\d-\d\dT[\d:.]+Z two\n$/);

    const inspect = JSON.parse(await ok(['inspect', 'sleeper']))[0];
    assert.equal(inspect.Id, id);
    assert.equal(inspect.Name, '/sleeper');
    assert.equal(inspect.Image, imageId);
    assert.equal(inspect.Path, 'sh');
    assert.deepEqual(inspect.Args.slice(0, 1), ['-c']);
    assert.equal(inspect.State.Status, 'running');
    assert.equal(inspect.State.Running, true);
    assert.ok(inspect.State.Pid > 0);
    assert.equal(inspect.Config.Image, ref);
    assert.equal(inspect.Config.Hostname, id.slice(0, 12));
    assert.deepEqual(inspect.Mounts, []);

    const dupe = await docker(daemon, ['create', '--name', 'sleeper', ref]);
    assert.equal(dupe.code, 1);
    assert.match(dupe.stderr, /already in use/);

    const rmi = await docker(daemon, ['rmi', imageId]);
    assert.notEqual(rmi.code, 0);
    assert.match(rmi.stderr, /conflict/i);

    await ok(['stop', '-t', '2', 'sleeper']);
    const psa = await ok(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    assert.match(psa, /^sleeper Exited \(\d+\) /m);
    const st = JSON.parse(await ok(['inspect', 'sleeper']))[0].State;
    assert.equal(st.Status, 'exited');
    assert.equal(st.Running, false);
    assert.equal(st.Pid, 0);
  } finally {
    await ok(['rm', '-f', id]);
  }
  const gone = await docker(daemon, ['inspect', 'sleeper']);
  assert.notEqual(gone.code, 0);
});

test('a running container survives a daemon restart and can be stopped afterwards', { skip }, async () => {
  const id = (await ok(['run', '-d', ref, 'sleep', '30'])).trim();
  try {
    const pid = JSON.parse(await ok(['inspect', id]))[0].State.Pid;
    assert.ok(pid > 0);
    await daemon.restart();
    const after = JSON.parse(await ok(['inspect', id]))[0].State;
    assert.equal(after.Status, 'running');
    assert.equal(after.Pid, pid);
    // sleep ignores SIGTERM as PID 1: stop falls back to SIGKILL after the timeout.
    await ok(['stop', '-t', '1', id]);
    const st = JSON.parse(await ok(['inspect', id]))[0].State;
    assert.equal(st.Status, 'exited');
    assert.equal(st.ExitCode, 137);
  } finally {
    await ok(['rm', '-f', id]);
  }
});
