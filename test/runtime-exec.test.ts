/**
 * Exec sessions at the monitor level (engine/runtime/monitor/exec.ts, exec-process.ts): a real
 * runc container under conmon, and processes exec'd into it by a conmon of their own: output
 * and exit codes, stdin with half-close, a TTY and its resize, detached execs, runc's errors.
 * buildExecProcess (the exec's OCI process) is checked without a container.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ConmonMonitor, MONITOR_FILES, type AttachSession } from '../engine/runtime/monitor.js';
import { buildExecProcess, replaceOrAppendEnv } from '../engine/runtime/exec-process.js';
import { isRunning, runTool } from '../engine/runtime/monitor/proc.js';
import { capabilityMask, DEFAULT_CAPABILITIES, RLIM_INFINITY } from '../engine/runtime/spec.js';
import type { OciProcess } from '../engine/runtime/types.js';
import { isBerthError } from '../engine/common/errors.js';
import { busyboxStaticBinary } from './harness/images.js';

const CONMON = '/usr/bin/conmon';
const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].find((p) => existsSync(p));
const skip = process.getuid?.() !== 0 ? 'needs root' : !existsSync(CONMON) ? 'needs conmon' : RUNC === undefined ? 'needs runc' : false;
const T = { timeout: 20_000 };

const CONTAINER_PROCESS: OciProcess = {
  terminal: false,
  user: { uid: 0, gid: 0, umask: 0o022 },
  args: ['sleep', '1000'],
  env: ['PATH=/bin', 'HOSTNAME=box', 'HOME=/root'],
  cwd: '/',
  capabilities: {
    bounding: ['CAP_CHOWN', 'CAP_KILL'],
    effective: ['CAP_CHOWN', 'CAP_KILL'],
    permitted: ['CAP_CHOWN', 'CAP_KILL'],
    inheritable: [],
    ambient: [],
  },
  rlimits: [{ type: 'RLIMIT_NOFILE', hard: 18446744073709552000, soft: 1024 }],
  noNewPrivileges: true,
  oomScoreAdj: 5,
};

const base = {
  container: CONTAINER_PROCESS,
  hostname: 'box',
  containerEnv: ['PATH=/usr/bin:/bin', 'A=1'],
  args: ['sh', '-c', 'true'],
  env: [] as string[],
  tty: false,
  workingDir: '',
  privileged: false,
  boundingSet: capabilityMask(DEFAULT_CAPABILITIES),
};

describe('the exec process spec', () => {
  test('environment: defaults, then the container Env, then the exec Env', () => {
    const p = buildExecProcess({ ...base, env: ['A=2', 'B=3', 'PATH'], tty: true });
    assert.deepEqual(p.env, ['HOSTNAME=box', 'TERM=xterm', 'A=2', 'B=3']);
    assert.deepEqual(buildExecProcess(base).env, ['PATH=/usr/bin:/bin', 'HOSTNAME=box', 'A=1']);
    assert.deepEqual(replaceOrAppendEnv(['X=1', 'Y=2'], ['Y=3', 'Z=4', 'X']), ['Y=3', 'Z=4']);
    assert.throws(() => buildExecProcess({ ...base, env: ['=x'] }), /invalid environment variable/);
  });

  test('user, capabilities, cwd, console size and the container settings it keeps', () => {
    const plain = buildExecProcess(base);
    assert.deepEqual(plain.user, CONTAINER_PROCESS.user);
    assert.deepEqual(plain.capabilities, CONTAINER_PROCESS.capabilities);
    assert.equal(plain.cwd, '/');
    assert.equal(plain.noNewPrivileges, true);
    assert.equal(plain.oomScoreAdj, 5);
    // JSON.parse rounded the uint64: it is RLIM_INFINITY again.
    assert.deepEqual(plain.rlimits, [{ type: 'RLIMIT_NOFILE', hard: RLIM_INFINITY, soft: 1024 }]);
    assert.equal(plain.consoleSize, undefined);

    const user = buildExecProcess({ ...base, user: { uid: 1000, gid: 100, additionalGids: [5], home: '/home/u' }, workingDir: '/tmp' });
    assert.deepEqual(user.user, { uid: 1000, gid: 100, umask: 0o022, additionalGids: [5] });
    assert.deepEqual(user.capabilities, { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: [], permitted: [], inheritable: [], ambient: [] });
    assert.equal(user.cwd, '/tmp');

    const priv = buildExecProcess({ ...base, privileged: true, user: { uid: 1000, gid: 1000, additionalGids: [], home: '/' } });
    assert.equal(priv.capabilities.bounding.length, DEFAULT_CAPABILITIES.length);
    assert.deepEqual(priv.capabilities.effective, priv.capabilities.bounding);
    assert.deepEqual(priv.capabilities.permitted, priv.capabilities.bounding);

    assert.deepEqual(buildExecProcess({ ...base, tty: true, consoleSize: { height: 24, width: 80 } }).consoleSize, { height: 24, width: 80 });
    assert.equal(buildExecProcess({ ...base, tty: false, consoleSize: { height: 24, width: 80 } }).consoleSize, undefined);
    assert.throws(() => buildExecProcess({ ...base, args: [] }), /No exec command specified/);
  });
});

describe('exec sessions (real conmon + runc)', { skip }, () => {
  const monitor = new ConmonMonitor({ conmonPath: CONMON });
  let work = '';
  let ctrDir = '';
  let seq = 0;
  let ctrProcess: OciProcess;

  before(async () => {
    work = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-exec-'));
    const rootfs = path.join(work, 'rootfs');
    for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'etc']) await fsp.mkdir(path.join(rootfs, d), { recursive: true });
    await fsp.copyFile(await busyboxStaticBinary(), path.join(rootfs, 'bin', 'busybox'));
    await fsp.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of ['sh', 'cat', 'echo', 'sleep', 'stty', 'tty', 'true']) await fsp.symlink('busybox', path.join(rootfs, 'bin', a));
    ctrDir = path.join(work, 'ctr');
    await fsp.mkdir(ctrDir);
    const r = await runTool(RUNC as string, ['spec', '--bundle', ctrDir]);
    assert.equal(r.code, 0, r.stderr);
    const spec = JSON.parse(await fsp.readFile(path.join(ctrDir, 'config.json'), 'utf8'));
    spec.process.args = ['sleep', '1000'];
    spec.process.terminal = false;
    spec.root = { path: rootfs, readonly: true };
    ctrProcess = spec.process;
    await fsp.writeFile(path.join(ctrDir, 'config.json'), JSON.stringify(spec));
    await monitor.start({
      id: `berth-exec-${process.pid}`,
      bundle: ctrDir,
      stateDir: ctrDir,
      runtime: RUNC as string,
      runtimeRoot: path.join(work, 'runc'),
      logPath: path.join(work, 'ctr.log'),
      terminal: false,
      stdin: false,
    });
  });

  after(async () => {
    if (!work) return;
    await monitor.remove(ctrDir, { force: true }).catch(() => undefined);
    // Every exec's conmon went with the container.
    for (const d of await fsp.readdir(path.join(ctrDir, 'exec')).catch(() => [])) {
      const pid = Number.parseInt(await fsp.readFile(path.join(ctrDir, 'exec', d, MONITOR_FILES.conmonPid), 'utf8').catch(() => '0'), 10);
      assert.equal(await isRunning(pid), false, `conmon of exec ${d} is gone`);
    }
    await fsp.rm(work, { recursive: true, force: true });
  });

  const exec = (args: string[], o: { terminal?: boolean; stdin?: boolean; attach?: boolean } = {}) => {
    const stateDir = path.join(ctrDir, 'exec', `e${++seq}`);
    const terminal = o.terminal ?? false;
    const started = monitor.exec(ctrDir, {
      sessionId: `e${seq}`,
      stateDir,
      process: buildExecProcess({ ...base, container: ctrProcess, containerEnv: [], args, tty: terminal }),
      terminal,
      stdin: o.stdin ?? false,
      attach: o.attach ?? true,
    });
    return { stateDir, started };
  };

  /** Everything the stream gives until it ends (the session closes when the process is gone). */
  const collect = (r: Readable): Promise<string> => {
    const bufs: Buffer[] = [];
    r.on('data', (b: Buffer) => bufs.push(b));
    return new Promise((resolve) => r.on('end', () => resolve(Buffer.concat(bufs).toString('utf8'))));
  };

  const output = async (s: AttachSession): Promise<{ out: string; err: string }> => {
    const [out, err] = await Promise.all([collect(s.stdout), collect(s.stderr)]);
    return { out, err };
  };

  test('attached: stdout and stderr apart, the exit code recorded', T, async () => {
    const { stateDir, started } = exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    const s = await started;
    assert.ok(s.pid > 0 && s.conmonPid > 0);
    assert.ok(s.session);
    const { out, err } = await output(s.session);
    assert.equal(out, 'out\n');
    assert.equal(err, 'err\n');
    assert.equal(await monitor.waitExit(stateDir), 3);
    assert.equal((await monitor.state(stateDir)).status, 'exited');
  });

  test('stdin reaches the process; its end is EOF', T, async () => {
    const { stateDir, started } = exec(['cat'], { stdin: true });
    const s = (await started).session as AttachSession;
    const out = collect(s.stdout);
    s.stdin.write('one\n');
    s.stdin.end('two\n');
    assert.equal(await out, 'one\ntwo\n');
    assert.equal(await monitor.waitExit(stateDir), 0);
  });

  test('a TTY: the process sees a pty, and resize reaches it', T, async () => {
    const { stateDir, started } = exec(['sh', '-c', 'tty; read x; stty size'], { terminal: true, stdin: true });
    const s = (await started).session as AttachSession;
    let seen = '';
    const out = collect(s.stdout.on('data', (b: Buffer) => (seen += b.toString())));
    await monitor.resize(stateDir, 20, 70);
    // Typed once tty has answered: the pty echoes input, which would otherwise come first.
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (!seen.includes('\r\n')) return;
        s.stdout.off('data', check);
        resolve();
      };
      s.stdout.on('data', check);
      check();
    });
    s.stdin.write('\n');
    assert.match(await out, /^\/dev\/pts\/\d+\r\n\r\n20 70\r\n$/);
    assert.equal(await monitor.waitExit(stateDir), 0);
  });

  test('detached: no session, the exit code still recorded', T, async () => {
    const { stateDir, started } = exec(['sh', '-c', 'exit 5'], { attach: false });
    const s = await started;
    assert.equal(s.session, undefined);
    assert.equal(await monitor.waitExit(stateDir), 5);
  });

  test("runc's error for a missing command, and nothing left running", T, async () => {
    const { stateDir, started } = exec(['nope']);
    await assert.rejects(started, (err: unknown) => {
      assert.ok(isBerthError(err));
      assert.equal(err.code, 'RUNTIME_EXEC_FAILED');
      assert.match(err.message, /^OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in \$PATH: unknown$/);
      return true;
    });
    const pid = Number.parseInt(await fsp.readFile(path.join(stateDir, MONITOR_FILES.conmonPid), 'utf8'), 10);
    assert.equal(await isRunning(pid), false);
  });

  test('exec processes die with their container', T, async () => {
    const { stateDir, started } = exec(['sleep', '1000'], { attach: false });
    await started;
    const code = monitor.waitExit(stateDir);
    await monitor.kill(ctrDir, 'SIGKILL');
    assert.equal(await code, 137);
  });
});
