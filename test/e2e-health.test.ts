// HEALTHCHECK through the real docker CLI against berthd: --health-* flags and the image's
// Healthcheck (overridden field by field, or off with --no-healthcheck), starting / healthy /
// unhealthy in inspect, ps and events, retries, the start period, probe timeouts, the 4 KiB output
// limit, the health filter of ps, and the monitor across a container exit and a daemon restart.
//
// No test waits for time to pass: each polls for a state the probes must reach, and the states
// that must last (starting within a start period) are held by the probe command, not by a clock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../cli/args.js';
import { buildCreateRequest, CONTAINER_FLAGS } from '../cli/create-flags.js';
import { goDuration, mergeHealthConfig, parseHealthConfig, probeCommand } from '../engine/containers/health.js';
import type { TestDaemon } from './harness/daemon.js';
import { docker } from './harness/docker.js';
import { busyboxLayer, DEFAULT_PATH, pushImage } from './harness/images.js';
import { containerSkip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

const skip = containerSkip;
const MS = 1_000_000;

let env: ContainerEnv;
let daemon: TestDaemon;
let ref: string;
let ok: (args: string[]) => Promise<string>;

interface Health {
  Status: string;
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ imageConfig: { Env: [DEFAULT_PATH], Cmd: ['sh'] }, pull: true });
  ({ daemon, ref } = env);
  ok = (args) => env.ok(args);
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

async function health(name: string): Promise<Health | null> {
  return JSON.parse(await ok(['inspect', '--format', '{{json .State.Health}}', name])) as Health | null;
}

/** Polls until the container's health has `status`; returns that health. */
function healthBecomes(name: string, status: string): Promise<Health> {
  return eventually(async () => {
    const h = await health(name);
    assert.equal(h?.Status, status, `health of ${name}: ${JSON.stringify(h)}`);
    return h as Health;
  }, 60_000);
}

/** The container's events so far, as "Action attr=value..." lines (oldest first). */
async function eventsOf(id: string): Promise<string[]> {
  const out = await ok(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${id}`, '--format', '{{.Action}} exitCode={{index .Actor.Attributes "exitCode"}}']);
  return out.trim().split('\n');
}

async function psNames(filter: string): Promise<string[]> {
  return (await ok(['ps', '--filter', filter, '--format', '{{.Names}}'])).trim().split('\n').filter((l) => l !== '').sort();
}

async function psStatus(name: string): Promise<string> {
  return (await ok(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}'])).trim();
}

function healthFlags(...argv: string[]): unknown {
  return buildCreateRequest(parseArgs([...argv, 'img'], CONTAINER_FLAGS, { interspersed: false }), { env: {}, detach: true }).body.Healthcheck;
}

test('--health-* flags make the create body Healthcheck as the docker CLI does', () => {
  assert.equal(healthFlags(), undefined);
  assert.deepEqual(healthFlags('--health-cmd', 'curl -f http://x/'), { Test: ['CMD-SHELL', 'curl -f http://x/'] });
  assert.deepEqual(
    healthFlags('--health-interval', '1m30s', '--health-timeout', '500ms', '--health-start-period', '0', '--health-start-interval', '2s', '--health-retries', '4'),
    { Interval: 90e9, Timeout: 500e6, StartPeriod: 0, StartInterval: 2e9, Retries: 4 },
  );
  assert.deepEqual(healthFlags('--no-healthcheck'), { Test: ['NONE'] });
  assert.throws(() => healthFlags('--no-healthcheck', '--health-cmd', 'true'), (e: unknown) => e instanceof UsageError && /conflicts with --health-\* options/.test(e.message));
  assert.throws(() => healthFlags('--health-interval', '-1s'), (e: unknown) => e instanceof UsageError && e.message === '--health-interval cannot be negative');
  assert.throws(() => healthFlags('--health-retries', '-1'), (e: unknown) => e instanceof UsageError && e.message === '--health-retries cannot be negative');
  assert.throws(() => healthFlags('--health-timeout', '5'), (e: unknown) => e instanceof UsageError && /invalid duration/.test(e.message));
});

test('the health check config: validation, the merge over the image, the probe command, Go durations', () => {
  assert.throws(() => parseHealthConfig({ Interval: 1000 }), /Interval in Healthcheck cannot be less than 1ms/);
  assert.throws(() => parseHealthConfig({ Retries: -1 }), /Retries in Healthcheck cannot be negative/);
  assert.throws(() => parseHealthConfig({ Test: 'true' }), /Test must be an array of strings/);
  assert.equal(parseHealthConfig(null), undefined);
  const image = { Test: ['CMD', 'true'], Interval: 5e9, Timeout: 2e9, Retries: 7 };
  assert.deepEqual(mergeHealthConfig(undefined, image), image);
  assert.deepEqual(mergeHealthConfig({ Interval: 1e9 }, image), { Test: ['CMD', 'true'], Interval: 1e9, Timeout: 2e9, Retries: 7 });
  assert.deepEqual(mergeHealthConfig({ Test: ['CMD-SHELL', 'x'] }, undefined), { Test: ['CMD-SHELL', 'x'] });
  assert.equal(mergeHealthConfig(undefined, undefined), undefined);
  assert.deepEqual(probeCommand({ Healthcheck: { Test: ['CMD', 'a', 'b c'] } }), ['a', 'b c']);
  assert.deepEqual(probeCommand({ Healthcheck: { Test: ['CMD-SHELL', 'a b'] } }), ['/bin/sh', '-c', 'a b']);
  assert.deepEqual(probeCommand({ Healthcheck: { Test: ['CMD-SHELL', 'a b'] }, Shell: ['/bin/bash', '-ec'] }), ['/bin/bash', '-ec', 'a b']);
  for (const none of [{}, { Healthcheck: { Test: ['NONE'] } }, { Healthcheck: { Test: [] } }, { Healthcheck: { Test: ['HTTP', '/'] } }]) {
    assert.equal(probeCommand(none), undefined);
  }
  assert.deepEqual([goDuration(0), goDuration(300e6), goDuration(1.5e9), goDuration(90e9), goDuration(3600e9), goDuration(1500)], ['0s', '300ms', '1.5s', '1m30s', '1h0m0s', '1.5µs']);
});

test('a bad Healthcheck in the create body is a 400 and creates nothing', { skip }, async () => {
  for (const [hc, msg] of [
    [{ Test: ['CMD', 'true'], Interval: 10 }, 'Interval in Healthcheck cannot be less than 1ms'],
    [{ Test: ['CMD', 'true'], Retries: -2 }, 'Retries in Healthcheck cannot be negative'],
    [{ Test: 'true' }, 'invalid JSON: json: cannot unmarshal string into Go struct field HealthConfig.Healthcheck.Test of type []string'],
  ] as const) {
    const r = await daemon.request('POST', '/containers/create?name=hc-bad', { Image: ref, Healthcheck: hc });
    assert.equal(r.status, 400, r.body.toString());
    assert.equal(r.json<{ message: string }>().message, msg);
  }
  assert.equal((await docker(daemon, ['inspect', 'hc-bad'])).code, 1);
});

test('a start period holds "starting"; a passing probe makes it healthy, failing ones after it unhealthy; probes are execs', { skip }, async () => {
  const id = (
    await ok(['run', '-d', '--name', 'hc-period', '--health-cmd', 'echo probed; test -f /tmp/ready',
      '--health-start-period', '1h', '--health-start-interval', '200ms', '--health-interval', '200ms', '--health-retries', '2', ref, 'sleep', '300'])
  ).trim();
  try {
    const cfg = JSON.parse(await ok(['inspect', '--format', '{{json .Config.Healthcheck}}', id])) as Record<string, unknown>;
    assert.deepEqual(cfg, { Test: ['CMD-SHELL', 'echo probed; test -f /tmp/ready'], StartPeriod: 3600_000 * MS, StartInterval: 200 * MS, Interval: 200 * MS, Retries: 2 });

    // Failures within the start period do not count: still starting after more than `retries` of them.
    const starting = await eventually(async () => {
      const h = await health(id);
      assert.ok(h && h.Log.length >= 3, JSON.stringify(h));
      return h;
    }, 60_000);
    assert.equal(starting.Status, 'starting');
    assert.equal(starting.FailingStreak, 0);
    for (const e of starting.Log) {
      assert.equal(e.ExitCode, 1);
      assert.equal(e.Output, 'probed\n');
      assert.ok(Date.parse(e.End) >= Date.parse(e.Start));
    }
    assert.match(await psStatus('hc-period'), /^Up .* \(health: starting\)$/);
    assert.deepEqual(await psNames('health=starting'), ['hc-period']);

    await ok(['exec', id, 'touch', '/tmp/ready']);
    const healthy = await healthBecomes(id, 'healthy');
    assert.equal(healthy.FailingStreak, 0);
    assert.equal(healthy.Log.at(-1)?.ExitCode, 0);
    assert.ok(healthy.Log.length <= 5, 'the log keeps the last 5 probes');
    assert.match(await psStatus('hc-period'), /^Up .* \(healthy\)$/);
    assert.deepEqual(await psNames('health=healthy'), ['hc-period']);

    // Once started (a probe passed), failures count even within the start period.
    await ok(['exec', id, 'rm', '/tmp/ready']);
    const unhealthy = await healthBecomes(id, 'unhealthy');
    assert.ok(unhealthy.FailingStreak >= 2, JSON.stringify(unhealthy));
    assert.match(await psStatus('hc-period'), /^Up .* \(unhealthy\)$/);

    const events = await eventsOf(id);
    assert.ok(events.includes('exec_create: /bin/sh -c echo probed; test -f /tmp/ready exitCode='), events.join('\n'));
    assert.ok(events.includes('exec_start: /bin/sh -c echo probed; test -f /tmp/ready exitCode='), events.join('\n'));
    assert.ok(events.includes('exec_die exitCode=1') && events.includes('exec_die exitCode=0'), events.join('\n'));
    const transitions = events.filter((e) => e.startsWith('health_status'));
    assert.deepEqual(transitions, ['health_status: healthy exitCode=', 'health_status: unhealthy exitCode=']);
    // Probe execs are forgotten once done (inspect lists none between probes... or the one running).
    const execIds = JSON.parse(await ok(['inspect', '--format', '{{json .ExecIDs}}', id])) as string[] | null;
    assert.ok(execIds === null || execIds.length <= 1, JSON.stringify(execIds));
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('a failing probe makes the container unhealthy after exactly `retries` consecutive failures', { skip }, async () => {
  const id = (await ok(['run', '-d', '--health-cmd', 'echo bad >&2; exit 3', '--health-interval', '200ms', '--health-retries', '3', ref, 'sleep', '300'])).trim();
  try {
    const h = await healthBecomes(id, 'unhealthy');
    assert.ok(h.FailingStreak >= 3);
    for (const e of h.Log) assert.deepEqual([e.ExitCode, e.Output], [3, 'bad\n']);
    const events = await eventsOf(id);
    const firstStatus = events.findIndex((e) => e.startsWith('health_status'));
    assert.equal(events[firstStatus], 'health_status: unhealthy exitCode=', events.join('\n'));
    assert.equal(events.slice(0, firstStatus).filter((e) => e === 'exec_die exitCode=3').length, 3, events.join('\n'));
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('a probe that runs past its timeout is killed and counts as a failure (-1)', { skip }, async () => {
  const id = (await ok(['run', '-d', '--health-cmd', 'echo started; sleep 30', '--health-timeout', '300ms', '--health-interval', '200ms', '--health-retries', '1', ref, 'sleep', '300'])).trim();
  try {
    const h = await healthBecomes(id, 'unhealthy');
    const e = h.Log[0];
    assert.equal(e?.ExitCode, -1);
    assert.match(e?.Output ?? '', /^Health check exceeded timeout \(300ms\)(: started\n)?$/);
    // The probe process was killed (SIGKILL: 128+9), not left to run its 30 seconds.
    await eventually(async () => assert.ok((await eventsOf(id)).includes('exec_die exitCode=137')), 60_000);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test("the image's HEALTHCHECK applies, --health-* flags override it field by field, --no-healthcheck turns it off; ps filters by health", { skip }, async () => {
  const imageCheck = { Test: ['CMD', 'true'], Interval: 200 * MS, Retries: 1 };
  const img = await pushImage(env.registry, 'library/hc:1', { layers: [await busyboxLayer()], config: { Env: [DEFAULT_PATH], Cmd: ['sleep', '300'], Healthcheck: imageCheck } });
  const names = ['hc-image', 'hc-none', 'hc-override'];
  try {
    await ok(['run', '-d', '--name', 'hc-image', img.ref]);
    await ok(['run', '-d', '--name', 'hc-none', '--no-healthcheck', img.ref]);
    // 5000 bytes of output: the log keeps 4096 of them and "...".
    await ok(['run', '-d', '--name', 'hc-override', '--health-cmd', 'head -c 5000 /dev/zero | tr "\\0" x; exit 1', img.ref]);

    assert.deepEqual(JSON.parse(await ok(['inspect', '--format', '{{json .Config.Healthcheck}}', 'hc-image'])), imageCheck);
    // As dockerd merges: NONE replaces the test, the image's other fields stay (and mean nothing).
    assert.deepEqual(JSON.parse(await ok(['inspect', '--format', '{{json .Config.Healthcheck}}', 'hc-none'])), { ...imageCheck, Test: ['NONE'] });
    assert.deepEqual(JSON.parse(await ok(['inspect', '--format', '{{json .Config.Healthcheck}}', 'hc-override'])), {
      Test: ['CMD-SHELL', 'head -c 5000 /dev/zero | tr "\\0" x; exit 1'],
      Interval: 200 * MS,
      Retries: 1,
    });

    await healthBecomes('hc-image', 'healthy');
    const bad = await healthBecomes('hc-override', 'unhealthy');
    assert.equal(bad.Log[0]?.ExitCode, 1);
    assert.equal(bad.Log[0]?.Output, `${'x'.repeat(4096)}...`);
    assert.equal(await health('hc-none'), null);
    assert.match(await psStatus('hc-none'), /^Up [^()]*$/);

    assert.deepEqual(await psNames('health=healthy'), ['hc-image']);
    assert.deepEqual(await psNames('health=unhealthy'), ['hc-override']);
    assert.deepEqual(await psNames('health=none'), ['hc-none']);
    const wrong = await docker(daemon, ['ps', '--filter', 'health=bogus']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Unrecognised filter value for health: bogus/);

    const conflicting = await docker(daemon, ['run', '-d', '--no-healthcheck', '--health-interval', '1s', img.ref]);
    assert.notEqual(conflicting.code, 0);
    assert.match(conflicting.stderr, /--no-healthcheck conflicts with --health-\* options/);
  } finally {
    await ok(['rm', '-f', ...names]);
    await ok(['rmi', img.ref]);
  }
});

test('the health check goes on across a daemon restart and stops (unhealthy) when the container exits; a start resets it', { skip }, async () => {
  const id = (await ok(['run', '-d', '--health-cmd', 'exit 0', '--health-interval', '200ms', ref, 'sleep', '300'])).trim();
  try {
    await healthBecomes(id, 'healthy');
    await daemon.restart();
    const recorded = await health(id);
    assert.equal(recorded?.Status, 'healthy', 'the recorded health survives the restart');
    // Probing resumes: a probe that started after every one recorded so far.
    const lastEnd = Math.max(...(recorded?.Log ?? []).map((e) => Date.parse(e.End)));
    await eventually(async () => {
      const h = await health(id);
      assert.ok(h?.Log.some((e) => Date.parse(e.Start) > lastEnd && e.ExitCode === 0), JSON.stringify(h));
    }, 60_000);

    await ok(['kill', id]);
    await eventually(async () => assert.equal((await ok(['inspect', '--format', '{{.State.Status}}', id])).trim(), 'exited'), 60_000);
    const stopped = await health(id);
    assert.equal(stopped?.Status, 'unhealthy');
    assert.deepEqual(await psNames('health=unhealthy'), [], 'ps without -a lists running containers only');
    const logLength = stopped?.Log.length ?? 0;

    await ok(['start', id]);
    const again = await health(id);
    assert.ok(again?.Status === 'starting' || again?.Status === 'healthy', JSON.stringify(again));
    assert.ok((again?.Log.length ?? 0) >= logLength, 'the log is kept across starts');
    await healthBecomes(id, 'healthy');
  } finally {
    await ok(['rm', '-f', id]);
  }
});
