/**
 * The per-container monitor (engine/runtime/monitor.ts) with the real conmon and runc: log file,
 * exit file, surviving the process that started it, attach (stdin/stdout/stderr, tty), resize,
 * and create errors. Needs root; each container gets its own bundle and state dir under one temp
 * dir, and every container and conmon is removed in finally blocks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  ConmonMonitor,
  MONITOR_FILES,
  formatLogTime,
  parseLogTime,
  readLog,
  type LogEntry,
  type MonitorStartOptions,
} from '../engine/runtime/monitor.js';
import { isRunning, procStat, runTool } from '../engine/runtime/monitor/proc.js';
import { isBerthError } from '../engine/common/errors.js';
import { busyboxStaticBinary } from './harness/images.js';

const CONMON = '/usr/bin/conmon';
const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].find((p) => existsSync(p));
const IS_ROOT = process.getuid?.() === 0;
const skip = !IS_ROOT
  ? 'needs root'
  : !existsSync(CONMON)
    ? `needs conmon at ${CONMON}`
    : RUNC === undefined
      ? 'needs runc'
      : false;

/** Per test: a hung conmon or socket must fail the test, not stall the run. */
const T = { timeout: 20_000 };

const APPLETS = ['sh', 'cat', 'echo', 'printf', 'sleep', 'stty', 'true'];

let work = '';
let rootfs = '';
let template: any;
const monitor = new ConmonMonitor({ conmonPath: CONMON });
let seq = 0;

interface Ctr {
  opts: MonitorStartOptions;
  stateDir: string;
}

/** A bundle (config.json from `runc spec`, patched) and a state dir for one container. */
async function makeContainer(
  args: string[],
  o: { terminal?: boolean; stdin?: boolean; root?: string; logMaxSize?: number; longBundle?: boolean } = {},
): Promise<Ctr> {
  const id = `berth-mon-${process.pid}-${++seq}`;
  const dir = path.join(work, `c${seq}`);
  // A long bundle path puts the attach socket beyond sun_path's 108 bytes.
  const bundle = path.join(dir, o.longBundle ? `bundle-${'x'.repeat(120)}` : 'bundle');
  const stateDir = path.join(dir, 'state');
  await fsp.mkdir(bundle, { recursive: true });
  const cfg = structuredClone(template);
  cfg.process.args = args;
  cfg.process.terminal = o.terminal ?? false;
  cfg.root = { path: o.root ?? rootfs, readonly: true };
  cfg.hostname = `c${seq}`;
  await fsp.writeFile(path.join(bundle, 'config.json'), JSON.stringify(cfg, null, 1));
  const opts: MonitorStartOptions = {
    id,
    bundle,
    runtime: RUNC as string,
    runtimeRoot: path.join(work, 'runc'),
    stateDir,
    logPath: path.join(dir, 'ctr.log'),
    terminal: o.terminal ?? false,
    stdin: o.stdin ?? false,
    ...(o.logMaxSize !== undefined ? { logMaxSize: o.logMaxSize } : {}),
  };
  return { opts, stateDir };
}

/** Removes the container and its conmon whatever state they are in. */
async function cleanup(c: Ctr): Promise<void> {
  try {
    await monitor.remove(c.stateDir, { force: true, graceMs: 2000 });
  } catch {
    await runTool(RUNC as string, ['--root', c.opts.runtimeRoot, 'delete', '--force', c.opts.id]).catch(() => undefined);
  }
  for (const f of [MONITOR_FILES.conmonPid, MONITOR_FILES.containerPid]) {
    const pid = Number.parseInt(await fsp.readFile(path.join(c.stateDir, f), 'utf8').catch(() => ''), 10);
    if (pid > 0 && (await isRunning(pid))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function collect(r: Readable): { text: () => string; ended: Promise<void> } {
  const bufs: Buffer[] = [];
  r.on('data', (b: Buffer) => bufs.push(b));
  const ended = new Promise<void>((res) => r.on('end', res));
  return { text: () => Buffer.concat(bufs).toString('utf8'), ended };
}

async function logEntries(logPath: string): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of readLog(logPath)) out.push(e);
  return out;
}

const K8S_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d) (?:stdout|stderr) [FP] /;

describe('k8s-file log reader', () => {
  test('joins partial records per stream, keeps bytes, drops a half-written tail', async (t) => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-klog-'));
    t.after(() => fsp.rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'ctr.log');
    const lines = [
      '2024-05-06T07:08:09.000000001+00:00 stdout P hel',
      '2024-05-06T07:08:09.000000002+00:00 stderr F an error',
      '2024-05-06T07:08:09.000000003+00:00 stdout P lo ',
      '2024-05-06T07:08:09.000000004+00:00 stdout F world',
      'garbage that is not a record',
      '2024-05-06T09:08:09.5+02:00 stdout F tty line\r',
      '2024-05-06T07:08:10.000000000Z stdout F',
      '2024-05-06T07:08:11.000000000+00:00 stdout F with  two  spaces',
      '2024-05-06T07:08:12.000000000+00:00 stderr P no newline at exit',
    ];
    await fsp.writeFile(file, `${lines.join('\n')}\n2024-05-06T07:08:13.000000000+00:00 stdout F half-writ`);
    const got = await logEntries(file);
    assert.deepEqual(
      got.map((e) => [e.stream, e.line.toString('utf8'), e.partial]),
      [
        ['stderr', 'an error', false],
        ['stdout', 'hello world', false],
        ['stdout', 'tty line\r', false],
        ['stdout', '', false],
        ['stdout', 'with  two  spaces', false],
        ['stderr', 'no newline at exit', true],
      ],
    );
    // A joined line carries the time of its first record.
    assert.equal(got[1]?.time, '2024-05-06T07:08:09.000000001+00:00');
    assert.equal(got[1]?.timeNs, 1714979289000000001n);
    // Offsets are honoured: 09:08:09.5+02:00 is 07:08:09.5Z.
    assert.equal(got[2] && formatLogTime(got[2].timeNs), '2024-05-06T07:08:09.500000000Z');
    assert.equal(parseLogTime('2024-05-06T07:08:09-01:30'), parseLogTime('2024-05-06T08:38:09Z'));
    assert.equal(parseLogTime('yesterday'), undefined);
    assert.deepEqual(await logEntries(path.join(dir, 'missing.log')), []);
    // A line longer than maxLineBytes comes in pieces.
    const big = path.join(dir, 'big.log');
    await fsp.writeFile(big, ['P aaaa', 'P bbbb', 'F cc'].map((s) => `2024-05-06T07:08:09.1Z stdout ${s}`).join('\n') + '\n');
    const pieces: string[] = [];
    for await (const e of readLog(big, { maxLineBytes: 6 })) pieces.push(`${e.line}|${e.partial}`);
    assert.deepEqual(pieces, ['aaaabbbb|true', 'cc|false']);
  });
});

describe('conmon monitor (real conmon + runc)', { skip }, () => {
  before(async () => {
    work = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-mon-'));
    rootfs = path.join(work, 'rootfs');
    for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'etc']) await fsp.mkdir(path.join(rootfs, d), { recursive: true });
    await fsp.copyFile(await busyboxStaticBinary(), path.join(rootfs, 'bin', 'busybox'));
    await fsp.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of APPLETS) await fsp.symlink('busybox', path.join(rootfs, 'bin', a));
    // runc's own template (namespaces incl. a new, empty network namespace; default mounts),
    // patched per container.
    const tmpl = path.join(work, 'template');
    await fsp.mkdir(tmpl);
    const r = await runTool(RUNC as string, ['spec', '--bundle', tmpl]);
    assert.equal(r.code, 0, r.stderr);
    template = JSON.parse(await fsp.readFile(path.join(tmpl, 'config.json'), 'utf8'));
  });

  after(async () => {
    if (!work) return;
    // Anything a failed test left behind.
    const left = await runTool(RUNC as string, ['--root', path.join(work, 'runc'), 'list', '-q']).catch(() => undefined);
    for (const id of left?.stdout.split('\n').filter(Boolean) ?? []) {
      await runTool(RUNC as string, ['--root', path.join(work, 'runc'), 'delete', '--force', id]);
    }
    await fsp.rm(work, { recursive: true, force: true, maxRetries: 3 });
  });

  test('stdout and stderr land in the k8s-file log; the exit file says 7', T, async () => {
    const c = await makeContainer([
      'sh',
      '-c',
      'echo out-line; echo err-line >&2; printf abc; sleep 0.2; printf "def\\n"; printf tail; exit 7',
    ]);
    try {
      const { pid, conmonPid } = await monitor.start(c.opts);
      assert.ok(pid > 0 && conmonPid > 0 && pid !== conmonPid);
      assert.equal(await monitor.waitExit(c.stateDir), 7);
      assert.equal(await monitor.exitCode(c.stateDir), 7);

      const raw = (await fsp.readFile(c.opts.logPath, 'utf8')).split('\n').filter(Boolean);
      for (const l of raw) assert.match(l, K8S_LINE);
      assert.ok(raw.some((l) => / stdout F out-line$/.test(l)), raw.join('\n'));
      assert.ok(raw.some((l) => / stderr F err-line$/.test(l)), raw.join('\n'));

      const got = (await logEntries(c.opts.logPath)).map((e) => [e.stream, e.line.toString(), e.partial]);
      assert.deepEqual(got, [
        ['stdout', 'out-line', false],
        ['stderr', 'err-line', false],
        ['stdout', 'abcdef', false],
        ['stdout', 'tail', true],
      ]);

      // conmon exits after recording the exit; the daemon-facing state says so.
      await waitFor('conmon to exit', async () => !(await isRunning(conmonPid)));
      const st = await monitor.state(c.stateDir);
      assert.equal(st.status, 'exited');
      assert.equal(st.exitCode, 7);
      assert.equal(st.containerRunning, false);
      assert.equal(st.oomKilled, false);
      // Control operations on an exited container fail cleanly instead of hanging.
      await assert.rejects(monitor.resize(c.stateDir, 10, 10), (e) => isBerthError(e) && e.kind === 'conflict');
      await assert.rejects(monitor.attach(c.stateDir), (e) => isBerthError(e) && e.kind === 'conflict');
    } finally {
      await cleanup(c);
    }
  });

  test('conmon and the container outlive the node process that started them', T, async () => {
    const c = await makeContainer(['sleep', '60']);
    const script = path.join(work, 'starter.mjs');
    const moduleUrl = new URL('../engine/runtime/monitor.js', import.meta.url).href;
    await fsp.writeFile(
      script,
      [
        `import { ConmonMonitor } from ${JSON.stringify(moduleUrl)};`,
        `const r = await new ConmonMonitor({ conmonPath: ${JSON.stringify(CONMON)} }).start(JSON.parse(process.argv[2]));`,
        `process.stdout.write(JSON.stringify(r) + '\\n');`,
        `setInterval(() => {}, 1000);`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, [script, JSON.stringify(c.opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const exited = new Promise<void>((r) => child.on('exit', () => r()));
      const started = await waitFor('the starter to report', () => (out.includes('\n') ? out : child.exitCode !== null ? `EXITED ${err}` : undefined), 30_000);
      assert.doesNotMatch(started, /^EXITED/, started);
      const { pid, conmonPid } = JSON.parse(started) as { pid: number; conmonPid: number };
      // kill -9 the "daemon".
      child.kill('SIGKILL');
      await exited;

      const st = await monitor.state(c.stateDir);
      assert.equal(st.status, 'running');
      assert.equal(st.conmonRunning, true);
      assert.equal(st.containerRunning, true);
      assert.equal(st.pid, pid);
      assert.equal(st.conmonPid, conmonPid);
      const cs = await procStat(conmonPid);
      const me = await procStat(process.pid);
      assert.ok(cs && me);
      assert.notEqual(cs.ppid, child.pid, 'conmon is not a child of the dead starter');
      assert.notEqual(cs.session, me.session, 'conmon runs in its own session');
      assert.equal((await procStat(pid))?.ppid, conmonPid, 'the container init is conmon’s child');

      // A new monitor object (as after a daemon restart) kills it and collects the exit code.
      await new ConmonMonitor({ conmonPath: CONMON }).kill(c.stateDir, 'SIGKILL');
      assert.equal(await monitor.waitExit(c.stateDir), 137);
      await waitFor('conmon to exit', async () => !(await isRunning(conmonPid)));
    } finally {
      child.kill('SIGKILL');
      await cleanup(c);
    }
  });

  test('stdin reaches the container and stdout/stderr come back through the attach socket', T, async () => {
    const c = await makeContainer(['sh', '-c', 'cat; echo stderr-done >&2'], { stdin: true, longBundle: true });
    assert.ok(Buffer.byteLength(path.join(c.opts.bundle, 'attach')) > 108);
    try {
      await monitor.create(c.opts);
      const s = await monitor.attach(c.stateDir);
      const out = collect(s.stdout);
      const err = collect(s.stderr);
      await monitor.startCreated(c.stateDir);
      s.stdin.write('hello\n');
      await waitFor('the echo', () => out.text() === 'hello\n');
      // Bigger than conmon's 32 KiB packet buffer: must arrive whole.
      const big = `${'0123456789abcdef'.repeat(6250)}\n`;
      s.stdin.write(big);
      await waitFor('the big echo', () => out.text().length >= 6 + big.length);
      s.stdin.end(); // conmon closes cat's stdin
      await Promise.all([out.ended, err.ended]);
      assert.equal(out.text(), `hello\n${big}`);
      assert.equal(err.text(), 'stderr-done\n');
      assert.deepEqual(await s.closed, {});
      assert.equal(await monitor.waitExit(c.stateDir), 0);
      // The log has it too.
      const lines = await logEntries(c.opts.logPath);
      assert.ok(lines.some((e) => e.stream === 'stderr' && e.line.toString() === 'stderr-done'));
    } finally {
      await cleanup(c);
    }
  });

  test('detach keeps stdin open only with leaveStdinOpen; re-attach works', T, async () => {
    const keep = await makeContainer(['cat'], { stdin: true });
    const drop = await makeContainer(['cat'], { stdin: true });
    try {
      await monitor.start({ ...keep.opts, leaveStdinOpen: true });
      await monitor.start(drop.opts);
      for (const c of [keep, drop]) {
        const s = await monitor.attach(c.stateDir);
        const out = collect(s.stdout);
        s.stdin.write('one\n');
        await waitFor('the first echo', () => out.text() === 'one\n');
        s.detach();
        await out.ended;
        assert.deepEqual(await s.closed, {});
      }
      // Without --leave-stdin-open the detach closed cat's stdin: it is done.
      assert.equal(await monitor.waitExit(drop.stateDir), 0);
      // With it, cat still reads what a second client sends.
      const s2 = await monitor.attach(keep.stateDir);
      const out2 = collect(s2.stdout);
      s2.stdin.write('two\n');
      await waitFor('the second echo', () => out2.text() === 'two\n');
      assert.equal(await monitor.exitCode(keep.stateDir), undefined);
      // A half-close does not close cat's stdin either (leave-stdin-open), and conmon keeps the
      // connection until the container exits.
      s2.stdin.end();
      await monitor.kill(keep.stateDir, 'SIGKILL');
      assert.equal(await monitor.waitExit(keep.stateDir), 137);
      await out2.ended;
      assert.deepEqual(await s2.closed, {});
    } finally {
      await cleanup(keep);
      await cleanup(drop);
    }
  });

  test('logMaxSize: conmon starts the log over instead of growing past it', T, async () => {
    const c = await makeContainer(
      ['sh', '-c', 'i=0; while [ $i -lt 60 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done'],
      { logMaxSize: 1000 },
    );
    try {
      await monitor.start(c.opts);
      assert.equal(await monitor.waitExit(c.stateDir), 0);
      const { size } = await fsp.stat(c.opts.logPath);
      assert.ok(size <= 1100, `log is ${size} bytes`);
      const lines = await logEntries(c.opts.logPath);
      assert.equal(lines.at(-1)?.line.toString(), 'line-59-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');
      assert.ok(lines.length < 60);
    } finally {
      await cleanup(c);
    }
  });

  test('a terminal container: output through attach, resize via the ctl FIFO', T, async () => {
    const c = await makeContainer(
      ['sh', '-c', 'echo tty-ready; while read x; do [ "$x" = q ] && exit 3; stty size; done'],
      { terminal: true, stdin: true },
    );
    try {
      await monitor.create(c.opts);
      const s = await monitor.attach(c.stateDir);
      const out = collect(s.stdout);
      const err = collect(s.stderr);
      await monitor.resize(c.stateDir, 33, 77);
      await monitor.startCreated(c.stateDir);
      await waitFor('tty-ready', () => out.text().includes('tty-ready\r\n'));
      // conmon applies the resize from its event loop; ask until the tty reports it.
      await waitFor(
        'stty to report 33 77',
        async () => {
          if (out.text().includes('33 77\r\n')) return true;
          s.stdin.write('s\n');
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        },
        15_000,
      );
      await monitor.resize(c.stateDir, 40, 100);
      s.stdin.write('s\n');
      await waitFor('stty to report 40 100', () => out.text().includes('40 100\r\n'));
      s.stdin.write('q\n');
      assert.equal(await monitor.waitExit(c.stateDir), 3);
      await out.ended;
      assert.equal(err.text(), '', 'a tty has no separate stderr');
      const lines = await logEntries(c.opts.logPath);
      assert.ok(lines.some((e) => e.stream === 'stdout' && e.line.toString() === 'tty-ready\r'), JSON.stringify(lines.map((e) => e.line.toString())));
    } finally {
      await cleanup(c);
    }
  });

  test('create errors carry runc’s message and leave nothing running', T, async () => {
    const cases: Array<{ args: string[]; root?: string; want: RegExp }> = [
      { args: ['true'], root: path.join(work, 'no-such-rootfs'), want: /rootfs.*no such file or directory/ },
      { args: ['/bin/no-such-program'], want: /no-such-program.*(no such file or directory|not found)/ },
    ];
    for (const k of cases) {
      const c = await makeContainer(k.args, { root: k.root });
      try {
        await assert.rejects(monitor.start(c.opts), (e: unknown) => {
          assert.ok(isBerthError(e), String(e));
          assert.equal(e.code, 'RUNTIME_CREATE_FAILED');
          assert.match(e.message, /^OCI runtime create failed: /);
          assert.match(e.message, k.want);
          assert.doesNotMatch(e.message, /level=error/, 'the logrus wrapping is stripped');
          return true;
        });
        const conmonPid = Number.parseInt(await fsp.readFile(path.join(c.stateDir, MONITOR_FILES.conmonPid), 'utf8').catch(() => '0'), 10);
        if (conmonPid > 0) assert.equal(await isRunning(conmonPid), false, 'conmon is gone');
        const st = await runTool(RUNC as string, ['--root', c.opts.runtimeRoot, 'state', c.opts.id]);
        assert.notEqual(st.code, 0, 'runc has no such container');
        assert.match(st.stderr, /does not exist/);
        for (const f of ['attach', 'ctl', 'winsz']) assert.equal(existsSync(path.join(c.opts.bundle, f)), false, f);
        assert.equal(await monitor.exitCode(c.stateDir), undefined);
      } finally {
        await cleanup(c);
      }
    }
  });

  test('waitExit rejects when conmon dies without recording an exit', T, async () => {
    const c = await makeContainer(['sleep', '60']);
    try {
      const { conmonPid } = await monitor.start(c.opts);
      const waiting = monitor.waitExit(c.stateDir, { pollMs: 100 });
      process.kill(conmonPid, 'SIGKILL');
      await assert.rejects(waiting, (e: unknown) => isBerthError(e) && e.code === 'MONITOR_LOST');
      const st = await monitor.state(c.stateDir);
      assert.equal(st.status, 'lost');
      assert.equal(st.containerRunning, true, 'the container itself keeps running');
    } finally {
      await cleanup(c);
    }
  });
});
