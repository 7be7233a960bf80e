// Container lifecycle beyond run/stop through the real docker CLI: restart policies (with
// backoff, manual stops, and daemon restarts standing in for a reboot), pause/unpause, rename,
// update, stats and the ps filters; 100 containers leave nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker } from './harness/docker.js';
import { run } from './harness/util.js';
import { assertNoContainerLeaks, containerSkip as skip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

let env: ContainerEnv;

before(async () => {
  if (!skip) env = await startContainerEnv();
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

const inspect = async (ref: string): Promise<any> => JSON.parse(await env.ok(['inspect', ref]))[0];

const eventsOf = async (id: string, since: string): Promise<string[]> => {
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const out = await env.ok(['events', '--since', since, '--until', until, '--filter', `container=${id}`, '--format', '{{.Action}}']);
  return out.trim().split('\n').filter(Boolean);
};

test('on-failure:2 restarts a failing container twice with backoff, then leaves it exited', { skip }, async () => {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const id = (await env.ok(['run', '-d', '--restart', 'on-failure:2', env.ref, 'sh', '-c', 'echo run; exit 3'])).trim();
  try {
    const st = await eventually(async () => {
      const i = await inspect(id);
      assert.equal(i.State.Status, 'exited');
      assert.equal(i.RestartCount, 2);
      return i;
    });
    assert.equal(st.State.ExitCode, 3);
    assert.deepEqual(st.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
    const actions = await eventsOf(id, since);
    assert.deepEqual(actions.filter((a) => a === 'start' || a.startsWith('die')), ['start', 'die', 'start', 'die', 'start', 'die']);
    assert.equal(await env.ok(['logs', id]), 'run\nrun\nrun\n', 'one log across the restarts');
  } finally {
    await env.ok(['rm', '-f', id]);
  }
  const success = (await env.ok(['run', '-d', '--restart', 'on-failure', env.ref, 'true'])).trim();
  await eventually(async () => assert.equal((await inspect(success)).State.Status, 'exited'));
  assert.equal((await inspect(success)).RestartCount, 0, 'exit 0 is not a failure');
  await env.ok(['rm', success]);
});

test('always: restarts after exits, not after docker stop; restarting shows in ps', { skip }, async () => {
  const id = (await env.ok(['run', '-d', '--restart', 'always', '--name', 'flappy', env.ref, 'sh', '-c', 'sleep 0.3; exit 1'])).trim();
  try {
    await eventually(async () => assert.ok((await inspect(id)).RestartCount >= 2));
    // The default ps lists restarting containers as docker does (they count as running).
    await eventually(async () => {
      const ps = await env.ok(['ps', '--filter', 'name=flappy', '--format', '{{.Status}}']);
      assert.match(ps, /^(Up|Restarting \(1\))/);
    });
    await env.ok(['stop', '-t', '1', id]);
    const stopped = await inspect(id);
    assert.equal(stopped.State.Status, 'exited');
    const count = stopped.RestartCount;
    await new Promise((r) => setTimeout(r, 1500));
    const later = await inspect(id);
    assert.equal(later.State.Status, 'exited', 'a stopped always container stays down');
    assert.equal(later.RestartCount, count);
  } finally {
    await env.ok(['rm', '-f', id]);
  }
  const both = await docker(env.daemon, ['run', '--rm', '--restart', 'always', env.ref, 'true']);
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /conflicting options|--restart and --rm/i);
  const bad = await docker(env.daemon, ['create', '--restart', 'sometimes', env.ref]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /restart policy/i);
});

test('after a daemon restart with dead containers, always and unless-stopped come back as their policies say', { skip }, async () => {
  const always = (await env.ok(['run', '-d', '--restart', 'always', env.ref, 'sleep', '300'])).trim();
  const unless = (await env.ok(['run', '-d', '--restart', 'unless-stopped', env.ref, 'sleep', '300'])).trim();
  const unlessStopped = (await env.ok(['run', '-d', '--restart', 'unless-stopped', env.ref, 'sleep', '300'])).trim();
  const alwaysStopped = (await env.ok(['run', '-d', '--restart', 'always', env.ref, 'sleep', '300'])).trim();
  const none = (await env.ok(['run', '-d', env.ref, 'sleep', '300'])).trim();
  const all = [always, unless, unlessStopped, alwaysStopped, none];
  try {
    await env.ok(['stop', '-t', '0', unlessStopped, alwaysStopped]);
    const pids = new Map<string, number>();
    for (const id of [always, unless, none]) pids.set(id, (await inspect(id)).State.Pid);
    // A reboot, as far as the containers know: berthd dies, then every container process and its monitor.
    await env.daemon.kill9();
    for (const pid of pids.values()) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    await env.daemon.restart();
    for (const id of [always, unless, alwaysStopped]) {
      await eventually(async () => {
        const st = (await inspect(id)).State;
        assert.equal(st.Status, 'running', `${id.slice(0, 12)} is back`);
        assert.notEqual(st.Pid, pids.get(id));
      });
    }
    assert.equal((await inspect(unlessStopped)).State.Status, 'exited', 'unless-stopped stays stopped');
    const gone = (await inspect(none)).State;
    assert.equal(gone.Status, 'exited', 'no policy: not restarted');
    assert.equal(gone.ExitCode, 137, 'the real exit code while the daemon was away');
  } finally {
    await env.ok(['rm', '-f', ...all]);
  }
});

test('kill with SIGKILL answers once the container is gone: inspect right after shows exited, 137; other signals answer at once', { skip }, async () => {
  const id = (await env.ok(['run', '-d', env.ref, 'sleep', '9999'])).trim();
  const viaApi = (await env.ok(['run', '-d', env.ref, 'sleep', '9999'])).trim();
  try {
    await env.ok(['kill', id]);
    const st = (await inspect(id)).State;
    assert.equal(st.Status, 'exited');
    assert.equal(st.Running, false);
    assert.equal(st.ExitCode, 137, 'killed by signal 9: 128 + 9');

    // PID 1 without a handler ignores SIGUSR1: the answer does not wait for an exit that never comes.
    const usr = await env.daemon.request('POST', `/containers/${viaApi}/kill?signal=SIGUSR1`);
    assert.equal(usr.status, 204);
    assert.equal((await inspect(viaApi)).State.Status, 'running');
    const nine = await env.daemon.request('POST', `/containers/${viaApi}/kill?signal=9`);
    assert.equal(nine.status, 204);
    const after = (await inspect(viaApi)).State;
    assert.equal(after.Status, 'exited');
    assert.equal(after.ExitCode, 137);
  } finally {
    await env.ok(['rm', '-f', id, viaApi]);
  }
});

test('container prune honours label, label! and until, refuses bad filters before removing anything, and reports the space', { skip }, async () => {
  const make = async (labels: string[], script = 'true'): Promise<string> => {
    const id = (await env.ok(['run', '-d', ...labels.flatMap((l) => ['--label', l]), env.ref, 'sh', '-c', script])).trim();
    await env.ok(['wait', id]);
    return id;
  };
  const temp = await make(['prunetest=1', 'temp=1'], 'head -c 65536 /dev/zero > /data');
  const other = await make(['prunetest=1', 'temp=2']);
  const keep = await make(['prunetest=1', 'temp=1', 'keep=yes']);
  const running = (await env.ok(['run', '-d', '--label', 'prunetest=1', '--label', 'temp=1', env.ref, 'sleep', '60'])).trim();
  const exists = async (id: string): Promise<boolean> => (await docker(env.daemon, ['inspect', id])).code === 0;
  try {
    for (const filters of [{ until: ['abc'] }, { color: ['red'] }, { until: ['1h', '2h'] }, { until: ['2024-13-01'] }, { 'label!': 'x' }]) {
      const r = await env.daemon.request('POST', `/containers/prune?filters=${encodeURIComponent(JSON.stringify(filters))}`);
      assert.equal(r.status, 400, `${JSON.stringify(filters)}: ${r.body.toString()}`);
    }
    const cli = await docker(env.daemon, ['container', 'prune', '-f', '--filter', 'until=abc']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /failed to parse value as time or duration/);
    for (const id of [temp, other, keep]) assert.ok(await exists(id), 'a refused prune removes nothing');

    // Created just now: not older than 9999 hours ago, so kept.
    const none = JSON.parse((await env.daemon.request('POST', `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ until: ['9999h'], label: ['prunetest=1'] }))}`)).body.toString());
    assert.deepEqual(none.ContainersDeleted, []);

    const r = await env.daemon.request('POST', `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ label: ['temp=1'], 'label!': ['keep'] }))}`);
    assert.equal(r.status, 200);
    const rep = r.json<{ ContainersDeleted: string[]; SpaceReclaimed: number }>();
    assert.deepEqual(rep.ContainersDeleted, [temp], 'only the stopped temp=1 container without keep');
    assert.ok(rep.SpaceReclaimed >= 65536, `SpaceReclaimed ${rep.SpaceReclaimed} counts its writable layer`);
    for (const id of [other, keep, running]) assert.ok(await exists(id), 'the others stay');

    const out = await env.ok(['container', 'prune', '-f', '--filter', 'label=prunetest=1', '--filter', 'until=2000-01-01T00:00:00Z']);
    assert.doesNotMatch(out, /[0-9a-f]{64}/, 'nothing created before 2000');
    const all = await env.ok(['container', 'prune', '-f', '--filter', 'label=prunetest=1']);
    assert.match(all, new RegExp(other));
    assert.match(all, new RegExp(keep));
    assert.ok(await exists(running), 'a running container is never pruned');
  } finally {
    await docker(env.daemon, ['rm', '-f', temp, other, keep, running]);
  }
});

test('pause and unpause freeze the container; stop works on a paused container', { skip }, async () => {
  const id = (await env.ok(['run', '-d', '--name', 'freezer', env.ref, 'sh', '-c', 'while true; do date +%s%N; sleep 0.05; done'])).trim();
  try {
    await env.ok(['pause', 'freezer']);
    const st = (await inspect(id)).State;
    assert.equal(st.Status, 'paused');
    assert.equal(st.Paused, true);
    assert.equal(st.Running, true);
    assert.match(await env.ok(['ps', '--filter', 'status=paused', '--format', '{{.Names}} {{.Status}}']), /^freezer Up .* \(Paused\)$/m);
    const again = await docker(env.daemon, ['pause', 'freezer']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already paused/);
    const before = (await env.ok(['logs', id])).split('\n').length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await env.ok(['logs', id])).split('\n').length, before, 'no output while frozen');
    await env.ok(['unpause', 'freezer']);
    await eventually(async () => assert.ok((await env.ok(['logs', id])).split('\n').length > before));
    const notPaused = await docker(env.daemon, ['unpause', 'freezer']);
    assert.match(notPaused.stderr, /not paused/);
    await env.ok(['pause', 'freezer']);
    await env.ok(['stop', '-t', '1', 'freezer']);
    const stopped = (await inspect(id)).State;
    assert.equal(stopped.Status, 'exited');
    assert.equal(stopped.Paused, false);
  } finally {
    await env.ok(['rm', '-f', id]);
  }
});

test('rename, update --restart, stats --no-stream', { skip }, async () => {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const id = (await env.ok(['run', '-d', '--name', 'before-name', env.ref, 'sleep', '300'])).trim();
  const other = (await env.ok(['create', '--name', 'taken', env.ref])).trim();
  try {
    await env.ok(['rename', 'before-name', 'after-name']);
    assert.equal((await inspect(id)).Name, '/after-name');
    assert.notEqual((await docker(env.daemon, ['inspect', 'before-name'])).code, 0);
    const clash = await docker(env.daemon, ['rename', 'after-name', 'taken']);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /already in use/);
    const badName = await docker(env.daemon, ['rename', 'after-name', 'bad name!']);
    assert.notEqual(badName.code, 0);
    assert.ok((await eventsOf(id, since)).includes('rename'));

    await env.ok(['update', '--restart', 'unless-stopped', 'after-name']);
    assert.deepEqual((await inspect(id)).HostConfig.RestartPolicy, { Name: 'unless-stopped', MaximumRetryCount: 0 });

    const stats = await env.ok(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', 'after-name']);
    assert.match(stats, /^after-name \d+(\.\d+)?[KMG]i?B \/ \d+(\.\d+)?[KMG]i?B 1$/m);
  } finally {
    await env.ok(['rm', '-f', id, other]);
  }
});

test('ps filters: status, exited, name, label, ancestor, before/since, id; bad filters are 400', { skip }, async () => {
  const a = (await env.ok(['run', '-d', '--name', 'f-a', '--label', 'tier=web', env.ref, 'sh', '-c', 'exit 4'])).trim();
  const b = (await env.ok(['run', '-d', '--name', 'f-b', '--label', 'tier=db', env.ref, 'sleep', '300'])).trim();
  const c = (await env.ok(['create', '--name', 'f-c', env.ref])).trim();
  const ids = async (args: string[]): Promise<string[]> => (await env.ok(['ps', '-q', '--no-trunc', ...args])).trim().split('\n').filter(Boolean).sort();
  try {
    await eventually(async () => assert.equal((await inspect(a)).State.Status, 'exited'));
    assert.deepEqual(await ids([]), [b]);
    assert.deepEqual(await ids(['-a', '--filter', 'status=exited']), [a]);
    assert.deepEqual(await ids(['-a', '--filter', 'status=created']), [c]);
    assert.deepEqual(await ids(['-a', '--filter', 'exited=4']), [a]);
    assert.deepEqual(await ids(['-a', '--filter', 'exited=0']), []);
    assert.deepEqual(await ids(['-a', '--filter', 'name=^f-[ab]$']), [a, b].sort());
    assert.deepEqual(await ids(['-a', '--filter', 'label=tier=db']), [b]);
    assert.deepEqual(await ids(['-a', '--filter', 'label=tier']), [a, b].sort());
    assert.deepEqual(await ids(['-a', '--filter', `ancestor=${env.ref}`]), [a, b, c].sort());
    assert.deepEqual(await ids(['-a', '--filter', `ancestor=${env.imageId.slice(7, 19)}`]), [a, b, c].sort());
    assert.deepEqual(await ids(['-a', '--filter', 'before=f-b']), [a]);
    assert.deepEqual(await ids(['-a', '--filter', 'since=f-b']), [c]);
    assert.deepEqual(await ids(['-a', '--filter', `id=${b.slice(0, 10)}`]), [b]);
    const sized = await env.ok(['ps', '-a', '-s', '--filter', 'name=f-c', '--format', '{{.Size}}']);
    assert.match(sized, /B \(virtual \d/);
    const bad = await docker(env.daemon, ['ps', '--filter', 'status=sleepy']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid filter/);
  } finally {
    await env.ok(['rm', '-f', a, b, c]);
  }
});

test('100 containers started and removed leave no mounts, monitors, cgroups, files or descriptors behind', { skip }, async () => {
  const fds = async (): Promise<number> => (await fsp.readdir(`/proc/${env.daemon.pid}/fd`)).length;
  const conmons = async (): Promise<number> => {
    const r = await run('pgrep', ['-f', `conmon.*${env.daemon.execRoot}`]);
    return r.stdout.toString().trim().split('\n').filter(Boolean).length;
  };
  const fdsBefore = await fds();
  const ids: string[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      const started = await Promise.all(
        Array.from({ length: 10 }, (_, i) => env.ok(['run', '-d', '--name', `many-${batch * 10 + i}`, env.ref, 'sleep', '300'])),
      );
      ids.push(...started.map((s) => s.trim()));
    }
    assert.equal((await env.ok(['ps', '-q'])).trim().split('\n').length, 100);
    assert.equal(await conmons(), 100, 'one monitor per container');
    const mounts = (await fsp.readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(env.daemon.dataRoot));
    assert.equal(mounts.length, 100, 'one rootfs mount per container');
  } finally {
    for (let i = 0; i < ids.length; i += 25) await env.ok(['rm', '-f', ...ids.slice(i, i + 25)]);
  }
  assert.equal((await env.ok(['ps', '-aq'])).trim(), '');
  await eventually(async () => assert.equal(await conmons(), 0, 'every monitor exited'));
  assert.deepEqual(await fsp.readdir(path.join(env.daemon.dataRoot, 'containers')), []);
  assert.deepEqual(await fsp.readdir(path.join(env.daemon.execRoot, 'containers')), []);
  // Attach sessions and log readers all closed (a few descriptors of slack for the HTTP server).
  await eventually(async () => assert.ok((await fds()) <= fdsBefore + 3, `daemon fds ${fdsBefore} → ${await fds()}`));
  await assertNoContainerLeaks(env.daemon);
});

test('a --rm container that exits while berthd is down is removed when berthd is back', { skip }, async () => {
  // Its record on disk still says running (a --rm exit is not written before the removal that
  // follows it), as after a crash between exit and removal: start-up reconciles and removes it.
  const id = (await env.ok(['run', '-d', '--rm', env.ref, 'sleep', '1'])).trim();
  const pid = (await inspect(id)).State.Pid as number;
  await env.daemon.kill9();
  await eventually(async () => assert.throws(() => process.kill(pid, 0), 'the container process is gone'));
  await env.daemon.restart();
  await eventually(async () => {
    const r = await env.daemon.request('GET', `/containers/${id}/json`);
    assert.equal(r.status, 404, `${id.slice(0, 12)} removed after the restart`);
  });
  await assertNoContainerLeaks(env.daemon);
});
