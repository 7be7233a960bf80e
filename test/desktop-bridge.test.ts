// The desktop bridge host against a real berthd and a local registry: engine status, containers
// (run with a published port, lifecycle), pull jobs with per-layer progress and cancel, the logs,
// stats and terminal streams, files through the archive API, the events stream across an engine
// restart. The host is the same object Electron's main process and web mode serve.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { containerSkip as skip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { freePort, makeTempDir, removeDir } from './harness/util.js';
import { pushImage, randomLayer } from './harness/images.js';
import { startFaultProxy } from './harness/proxy.js';
import { createBridgeHost, type BridgeHost } from '../desktop/bridge/index.js';
import type { BridgeError, StreamMessage, StreamName, StreamParams, StreamInput } from '../types/desktop-api.js';

let env: ContainerEnv;
let host: BridgeHost;
let dir: string;

before(async () => {
  dir = await makeTempDir('berth-desktop-');
  if (skip) return;
  env = await startContainerEnv({ pull: true });
  host = await createBridgeHost({
    kind: 'web',
    configPath: path.join(dir, 'desktop.json'),
    localHost: env.daemon.dockerHost,
    env: { ...process.env, BERTH_DAEMON_LOG: env.daemon.logFile },
  });
});

after(async () => {
  await host?.close();
  if (!skip) await stopContainerEnv(env);
  await removeDir(dir);
});

/** An open stream that records its messages, with waits on them. */
interface Recorder<S extends StreamName> {
  messages: StreamMessage<S>[];
  ended: Promise<BridgeError | undefined>;
  /** Resolves with the first message (from `from` on) that matches. */
  next(match: (m: StreamMessage<S>) => boolean, from?: number): Promise<StreamMessage<S>>;
  send(input: StreamInput<S>): void;
  close(): void;
}

function record<S extends StreamName>(stream: S, params: StreamParams<S>): Recorder<S> {
  const messages: StreamMessage<S>[] = [];
  const waiters = new Set<() => void>();
  let isEnded = false;
  let endResolve: (e: BridgeError | undefined) => void = () => undefined;
  const ended = new Promise<BridgeError | undefined>((r) => (endResolve = r));
  const control = host.open(stream, params, {
    data(msg) {
      messages.push(msg);
      for (const w of waiters) w();
    },
    end(error) {
      isEnded = true;
      endResolve(error);
      for (const w of waiters) w();
    },
  });
  return {
    messages,
    ended,
    next(match, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = messages.slice(from).find(match);
          if (found !== undefined) {
            waiters.delete(check);
            resolve(found);
          } else if (isEnded) {
            waiters.delete(check);
            reject(new Error(`${stream} stream ended without the message; got ${JSON.stringify(messages).slice(-2000)}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    send: (input) => control.input(input),
    close: () => control.close(),
  };
}

const run = async (command: string[], extra: Record<string, unknown> = {}): Promise<string> =>
  (await host.call('containers.run', { image: env.ref, command, ...extra })).id;

test('engine status: running with version and latency; a missing socket is unreachable with a reason and a fix', { skip, timeout: 120_000 }, async () => {
  const status = await host.call('engine.status', {});
  assert.equal(status.state, 'running');
  if (status.state !== 'running') return;
  assert.equal(status.engine.id, 'local');
  assert.equal(status.engine.host, env.daemon.dockerHost);
  assert.match(status.apiVersion, /^1\.\d+$/);
  assert.equal(status.os, 'linux');
  assert.ok(status.latencyMs >= 0);

  const bogus = await createBridgeHost({ kind: 'web', configPath: path.join(dir, 'bogus.json'), localHost: `unix://${dir}/no-such.sock` });
  try {
    const down = await bogus.call('engine.status', {});
    assert.equal(down.state, 'unreachable');
    if (down.state !== 'unreachable') return;
    assert.match(down.reason, /no engine socket at .*no-such\.sock/);
    assert.match(down.fix, /Start engine, or start it in a terminal: sudo berthd/);
    assert.doesNotMatch(down.fix, /build\/start\.sh|source checkout/, 'plain words, not a developer\'s recipe');
    await assert.rejects(bogus.call('containers.list', {}), (e: BridgeError) => e.status === 0 && /^the engine is not running/.test(e.message));
  } finally {
    await bogus.close();
  }
});

test('engines registry: add, use, list, remove, persisted in the config file; bad input is a 400', { skip, timeout: 120_000 }, async () => {
  const added = await host.call('engine.add', { name: 'same daemon again', host: env.daemon.socket });
  assert.equal(added.kind, 'socket');
  const used = await host.call('engine.use', { id: added.id });
  assert.equal(used.state, 'running');
  const saved = JSON.parse(await fsp.readFile(path.join(dir, 'desktop.json'), 'utf8'));
  assert.equal(saved.active, added.id);
  const again = await createBridgeHost({ kind: 'web', configPath: path.join(dir, 'desktop.json'), localHost: env.daemon.dockerHost });
  try {
    const list = await again.call('engine.list', {});
    assert.deepEqual(list.engines.map((e) => e.id), ['local', 'vm', added.id]);
    assert.equal(list.active, added.id, 'the active engine survives a restart of the app');
  } finally {
    await again.close();
  }
  await host.call('engine.remove', { id: added.id });
  assert.equal((await host.call('engine.list', {})).active, 'local', 'removing the active engine falls back to the local one');
  await assert.rejects(host.call('engine.add', { name: 'x', host: 'ftp://nope' }), (e: BridgeError) => e.status === 400);
  await assert.rejects(host.call('engine.remove', { id: 'local' }), (e: BridgeError) => e.status === 400);
  await assert.rejects(host.call('containers.inspect', { id: 42 } as never), (e: BridgeError) => e.status === 400 && /"id"/.test(e.message));
  const wire = await host.callWire('no.such.method', {});
  assert.deepEqual(wire, { ok: false, error: { message: 'unknown method "no.such.method"', status: 404 } });
  const settings = await host.call('settings.set', { theme: 'dark', onboardingDone: true });
  assert.equal(settings.theme, 'dark');
  assert.equal((await host.call('settings.get', {})).onboardingDone, true);
  await assert.rejects(host.call('settings.set', { theme: 'pink' } as never), (e: BridgeError) => e.status === 400);
});

test('containers.run publishes a port; list, inspect, stop and remove', { skip, timeout: 120_000 }, async () => {
  const port = await freePort();
  const id = await run(['sh', '-c', 'mkdir -p /www && echo hello-bridge > /www/index.html && exec httpd -f -p 8080 -h /www'], {
    name: 'bridge-web',
    ports: [{ host: `127.0.0.1:${port}`, container: '8080' }],
    env: ['GREETING=hi'],
    restart: 'unless-stopped',
  });
  try {
    const body = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).text());
    assert.equal(body.trim(), 'hello-bridge');
    const list = await host.call('containers.list', {});
    assert.ok(list.some((c) => c.Id === id && c.Names.includes('/bridge-web')));
    const info = await host.call('containers.inspect', { id });
    assert.equal(info.State.Running, true);
    assert.ok((info.Config as unknown as { Env: string[] }).Env.includes('GREETING=hi'));
    assert.equal((info.HostConfig as { RestartPolicy: { Name: string } }).RestartPolicy.Name, 'unless-stopped');
    await host.call('containers.stop', { id });
    assert.equal((await host.call('containers.inspect', { id })).State.Running, false);
    assert.ok(!(await host.call('containers.list', {})).some((c) => c.Id === id), 'a stopped container is only in the all list');
    assert.ok((await host.call('containers.list', { all: true })).some((c) => c.Id === id));
  } finally {
    await host.call('containers.remove', { id, force: true });
  }
  await assert.rejects(host.call('containers.inspect', { id }), (e: BridgeError) => e.status === 404);
  await assert.rejects(run(['true'], { ports: [{ host: '99999', container: '80' }] }), (e: BridgeError) => e.status === 400);
  assert.deepEqual((await host.call('containers.list', { all: true })).map((c) => c.Id), [], 'a refused run created nothing');
});

test('pull job: per-layer progress with totals, then done; a cancelled pull ends cancelled', { skip, timeout: 120_000 }, async () => {
  const big = await pushImage(env.registry, 'library/layers:1', {
    layers: [randomLayer('/data/a', 3_000_000), randomLayer('/data/b', 1_000_000)],
    config: { Cmd: ['sh'] },
  });
  const jobs = record('jobs', {});
  try {
    const { jobId } = await host.call('images.pull', { ref: big.ref });
    const done = await jobs.next((j) => j.id === jobId && j.state !== 'running');
    assert.equal(done.state, 'done', done.error);
    assert.equal(done.layers.length, 2, JSON.stringify(done.layers));
    for (const l of done.layers) {
      assert.match(l.status, /Pull complete/);
      assert.ok((l.total ?? 0) > 0, `layer ${l.id} has its total`);
      assert.equal(l.current, l.total);
    }
    assert.match(done.message ?? '', /Downloaded newer image|Image is up to date/);
    assert.ok((await host.call('jobs.list', {})).some((j) => j.id === jobId && j.state === 'done'), 'a finished job stays listed');

    const slow = await pushImage(env.registry, 'library/slow:1', { layers: [randomLayer('/data/s', 4_000_000)], config: { Cmd: ['sh'] } });
    const proxy = await startFaultProxy(env.registry.host, { slowBlob: { digest: slow.layerDigests[0] as string, bytesPerSec: 100_000 } });
    try {
      const { jobId: slowId } = await host.call('images.pull', { ref: `${proxy.host}/library/slow:1` });
      const running = await jobs.next((j) => j.id === slowId && j.layers.some((l) => (l.current ?? 0) > 0));
      const layer = running.layers.find((l) => (l.current ?? 0) > 0);
      assert.ok(running.state === 'running' && layer?.total !== undefined && (layer.current ?? 0) < layer.total, `progress pushed while it runs: ${JSON.stringify(running)}`);
      await host.call('jobs.cancel', { id: slowId });
      const cancelled = await jobs.next((j) => j.id === slowId && j.state !== 'running');
      assert.equal(cancelled.state, 'cancelled');
    } finally {
      await proxy.stop();
    }
    await assert.rejects(host.call('jobs.cancel', { id: 'nope' }), (e: BridgeError) => e.status === 404);
  } finally {
    jobs.close();
  }
  await host.call('images.remove', { id: big.ref });
});

test('logs stream: batches, stdout and stderr apart, follows new output, ends when the container exits', { skip, timeout: 120_000 }, async () => {
  // The container waits for a file the test writes through the bridge, then prints once more and exits.
  const id = await run(['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo oops >&2; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo after']);
  try {
    const all = await eventually(async () => {
      const r = record('logs', { id, follow: false });
      assert.equal(await r.ended, undefined);
      assert.ok(r.messages.flatMap((m) => m.lines).some((l) => l.text === 'oops'));
      return r;
    });
    const lines = all.messages.flatMap((m) => m.lines);
    const out = lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    assert.equal(out.length, 3000);
    assert.equal(out[2999], 'line-2999');
    assert.deepEqual(lines.filter((l) => l.stream === 'stderr').map((l) => l.text), ['oops']);
    assert.ok(all.messages.length <= 10, `3001 lines came in ${all.messages.length} messages`);
    assert.ok(all.messages.every((m) => m.lines.length <= 1000));

    const tail = record('logs', { id, follow: true, tail: 2, timestamps: true });
    // conmon reads stdout and stderr from separate pipes, so the last two lines may be in either order.
    await tail.next(() => tail.messages.flatMap((m) => m.lines).length >= 2);
    const stamped = tail.messages.flatMap((m) => m.lines);
    assert.equal(stamped.length, 2);
    assert.ok(stamped.every((l) => ['line-2998', 'line-2999', 'oops'].includes(l.text)), JSON.stringify(stamped));
    assert.match(stamped[0]?.time ?? '', /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const closed = record('logs', { id, follow: true, tail: 0 });
    closed.close();
    assert.equal(await closed.ended, undefined, 'closing ends the stream without an error');

    await host.call('containers.writeFile', { id, dir: '/tmp', name: 'go', base64: '' });
    await tail.next((m) => m.lines.some((l) => l.text === 'after'));
    assert.equal(await tail.ended, undefined, 'a followed log ends when the container exits');
  } finally {
    await host.call('containers.remove', { id, force: true });
  }
  const missing = record('logs', { id: 'no-such-container', follow: true });
  assert.equal((await missing.ended)?.status, 404);
});

test('stats stream: samples with memory and pids', { skip, timeout: 120_000 }, async () => {
  const id = await run(['sleep', '300']);
  try {
    const stats = record('stats', { id });
    await stats.next((_, ) => stats.messages.length >= 2);
    stats.close();
    const [a, b] = stats.messages;
    assert.ok(a && b);
    assert.ok(b.memoryBytes > 0, 'memory in use');
    assert.ok(b.memoryLimitBytes > 0);
    assert.equal(b.pids, 1);
    assert.ok(b.cpuPercent >= 0);
    assert.ok(Date.parse(b.time) > Date.parse(a.time), 'one sample after the other');
    assert.equal(await stats.ended, undefined);
  } finally {
    await host.call('containers.remove', { id, force: true });
  }
});

test('terminal stream: a shell with a TTY, input, resize, exit code', { skip, timeout: 120_000 }, async () => {
  const id = await run(['sleep', '300']);
  try {
    const term = record('terminal', { id, cols: 100, rows: 30 });
    term.send({ type: 'data', data: 'echo h""i\r' });
    await term.next((m) => m.type === 'data' && term.messages.map((x) => (x.type === 'data' ? x.data : '')).join('').includes('hi\r\n'));
    term.send({ type: 'resize', cols: 123, rows: 45 });
    const mark = term.messages.length;
    term.send({ type: 'data', data: 'stty size\r' });
    await eventually(async () => {
      const text = term.messages.slice(mark).map((x) => (x.type === 'data' ? x.data : '')).join('');
      assert.match(text, /45 123/);
    });
    term.send({ type: 'data', data: 'exit 7\r' });
    const exit = await term.next((m) => m.type === 'exit');
    assert.deepEqual(exit, { type: 'exit', code: 7 });
    assert.equal(await term.ended, undefined);

    const busy = record('terminal', { id, cmd: ['sh'], cols: 80, rows: 24 });
    busy.send({ type: 'data', data: 'sleep 1234\r' });
    await eventually(async () => assert.match(await env.ok(['exec', id, 'ps']), /sleep 1234/));
    busy.close();
    assert.equal(await busy.ended, undefined);
    await eventually(async () => assert.doesNotMatch(await env.ok(['exec', id, 'ps']), /sleep 1234|\bsh\b/, 'closing the terminal ended its shell'));

    const bad = record('terminal', { id, cols: 80, rows: 24 });
    bad.send({ type: 'resize', cols: -1, rows: 2 } as never);
    assert.equal((await bad.ended)?.status, 400, 'bad input ends the stream with a 400');
  } finally {
    await host.call('containers.remove', { id, force: true });
  }
});

test('files: listDir, readFile, writeFile round trip through the archive API', { skip, timeout: 120_000 }, async () => {
  const id = await run(['sh', '-c', 'mkdir -p /srv/sub && echo content > /srv/a.txt && ln -s a.txt /srv/link && exec sleep 300']);
  try {
    await eventually(async () => assert.ok((await host.call('containers.listDir', { id, path: '/srv' })).length === 3));
    const entries = await host.call('containers.listDir', { id, path: '/srv' });
    assert.deepEqual(entries.map((e) => [e.name, e.type]), [['sub', 'dir'], ['a.txt', 'file'], ['link', 'symlink']]);
    assert.equal(entries.find((e) => e.name === 'a.txt')?.size, 8);
    assert.equal(entries.find((e) => e.name === 'link')?.linkTarget, 'a.txt');
    const root = await host.call('containers.listDir', { id, path: '/' });
    assert.ok(['bin', 'etc', 'srv'].every((n) => root.some((e) => e.name === n)), JSON.stringify(root.map((e) => e.name)));

    const file = await host.call('containers.readFile', { id, path: '/srv/a.txt' });
    assert.deepEqual(file, { name: 'a.txt', base64: Buffer.from('content\n').toString('base64'), size: 8 });
    const viaLink = await host.call('containers.readFile', { id, path: '/srv/link' });
    assert.equal(Buffer.from(viaLink.base64, 'base64').toString(), 'content\n');

    const data = Buffer.from('written by the bridge\n\u00e9');
    await host.call('containers.writeFile', { id, dir: '/srv/sub', name: 'new.txt', base64: data.toString('base64') });
    const back = await host.call('containers.readFile', { id, path: '/srv/sub/new.txt' });
    assert.equal(Buffer.from(back.base64, 'base64').toString(), data.toString());
    assert.deepEqual((await host.call('containers.listDir', { id, path: '/srv/sub' })).map((e) => e.name), ['new.txt']);

    await assert.rejects(host.call('containers.readFile', { id, path: '/srv' }), (e: BridgeError) => e.status === 400);
    await assert.rejects(host.call('containers.listDir', { id, path: '/nope' }), (e: BridgeError) => e.status === 404);
    await assert.rejects(host.call('containers.writeFile', { id, dir: '/srv', name: '../x', base64: '' }), (e: BridgeError) => e.status === 400);
  } finally {
    await host.call('containers.remove', { id, force: true });
  }
});

test('events stream: container events; an engine restart is reported unreachable, then running again', { skip, timeout: 120_000 }, async () => {
  const events = record('events', {});
  try {
    await events.next((m) => m.type === 'engine' && m.status.state === 'running');
    const id = await run(['true']);
    await events.next((m) => m.type === 'event' && m.event.Type === 'container' && m.event.Action === 'start' && m.event.Actor.ID === id);
    await host.call('containers.remove', { id, force: true });

    const mark = events.messages.length;
    await env.daemon.restart();
    const down = await events.next((m) => m.type === 'engine' && m.status.state === 'unreachable', mark);
    assert.ok(down.type === 'engine' && down.status.state === 'unreachable' && down.status.fix.length > 0);
    const downAt = events.messages.indexOf(down);
    await events.next((m) => m.type === 'engine' && m.status.state === 'running', downAt);
    const id2 = await run(['true']);
    await events.next((m) => m.type === 'event' && m.event.Action === 'start' && m.event.Actor.ID === id2, downAt);
    await host.call('containers.remove', { id: id2, force: true });
  } finally {
    events.close();
  }
  assert.equal(await events.ended, undefined);
});

test('diagnostics: versions, five pings, the daemon log tail', { skip, timeout: 120_000 }, async () => {
  const d = await host.call('diagnostics.collect', {});
  assert.equal(d.bridge, 'web');
  assert.equal(d.engine.state, 'running');
  assert.equal(d.pingMs.length, 5);
  assert.ok(d.daemonLog.text && d.daemonLog.text.length > 0, 'the daemon log tail');
  assert.equal(d.daemonLog.path, env.daemon.logFile, 'BERTH_DAEMON_LOG wins');
  const info = await host.call('system.info', {});
  assert.ok(typeof info.ID === 'string' || typeof (info as { Name?: string }).Name === 'string');
});
