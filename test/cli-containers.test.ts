// The berth CLI's container verbs as a process against a real berthd: run (pull on first
// use, exit codes, stdin, a TTY under a pty), config flags, -d with logs, ps formats and
// filters, the lifecycle verbs, inspect, prune, exec, cp, top, rename, pause.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { busyboxLayer, pushImage } from './harness/images.js';

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].some((p) => existsSync(p));
const skip = !RUNC || !existsSync('/usr/bin/conmon') || process.getuid?.() !== 0 ? 'needs root, runc and conmon' : false;
const HAVE_SCRIPT = spawnSync('script', ['--version']).status === 0;
const BIN = fileURLToPath(new URL('../../bin/berth', import.meta.url));

let registry: TestRegistry;
let daemon: TestDaemon;
let ref: string;
let imageId: string;
let scratch: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** bin/berth against the test daemon; stdin is `input` (or empty). */
function berth(args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env['PATH'] ?? '', TZ: 'UTC', BERTH_HOST: daemon.dockerHost, ...(opts.env ?? {}) },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

const ok = async (args: string[], input?: string): Promise<string> => {
  const r = await berth(args, input !== undefined ? { input } : {});
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};

before(async () => {
  if (skip) return;
  registry = await startRegistry();
  daemon = await startDaemon();
  const bb = await busyboxLayer();
  const img = await pushImage(registry, 'library/busybox:1.36', {
    layers: [bb],
    config: { Cmd: ['sh'], Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/' },
  });
  imageId = img.configDigest;
  ref = `${registry.host}/library/busybox:1.36`;
  scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-cli-containers-'));
});

after(async () => {
  if (skip) return;
  try {
    if (daemon) {
      const left = await berth(['ps', '-aq']);
      assert.equal(left.stdout.trim(), '', 'every test container was removed');
    }
  } finally {
    await daemon?.cleanup();
    await registry?.stop();
    if (scratch) await fsp.rm(scratch, { recursive: true, force: true });
  }
});

test('run --rm: pulls on first use, passes output and exit codes on, pipes stdin, 127 for a missing command', { skip }, async () => {
  const first = await berth(['run', '--rm', ref, 'echo', 'hi']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'hi\n');
  assert.match(first.stderr, new RegExp(`^Unable to find image '${ref.replace(/[.]/g, '\\.')}' locally\n`));
  assert.match(first.stderr, /Status: Downloaded newer image/);

  const three = await berth(['run', '--rm', ref, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(three.code, 3, three.stderr);
  assert.equal(three.stdout, 'out\n');
  assert.equal(three.stderr, 'err\n', 'stderr demultiplexed to our stderr, no pull this time');

  const piped = await berth(['run', '-i', '--rm', ref, 'cat'], { input: 'hi\nthere\n' });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout, 'hi\nthere\n');

  const big = Buffer.alloc(1 << 20, 'x');
  const wc = await berth(['run', '-i', '--rm', ref, 'wc', '-c'], { input: big });
  assert.equal(wc.stdout.trim(), String(big.length), 'all of stdin arrived before the half-close');

  const missing = await berth(['run', '--rm', ref, 'no-such-command']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /executable file not found/);

  const never = await berth(['run', '--rm', '--pull', 'never', `${registry.host}/library/absent:1`, 'true']);
  assert.equal(never.code, 125);
  assert.match(never.stderr, /Error response from daemon: .*No such image/i);

  assert.equal((await ok(['ps', '-aq'])).trim(), '', '--rm removed every one');
});

test('run -it under a pty: the container gets a terminal; the input device check without one', { skip: skip || (!HAVE_SCRIPT && 'needs script(1)') }, async () => {
  const cmd = `${process.execPath} ${BIN} run -it --rm ${ref} sh -c 'tty; exit 4'`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    env: { PATH: process.env['PATH'] ?? '', BERTH_HOST: daemon.dockerHost, TERM: 'dumb' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 4, r.stderr);
  // Node's raw mode keeps the local terminal's ONLCR, so the pty's \r\n may gain a \r.
  assert.match(r.stdout, /\/dev\/pts\/0\r+\n/);

  const noTty = await berth(['run', '-it', '--rm', ref, 'true']);
  assert.equal(noTty.code, 1);
  assert.match(noTty.stderr, /the input device is not a TTY/);

  const t = await berth(['run', '-t', '--rm', ref, 'sh', '-c', 'tty']);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout, '/dev/pts/0\r\n', 'a TTY stream is copied raw');
});

test('run -it: ctrl-p ctrl-q detaches and leaves the container running', { skip: skip || (!HAVE_SCRIPT && 'needs script(1)') }, async () => {
  // The shell prints a marker once it runs; the detach keys follow only after that (no timing).
  const child = spawn('script', ['-qec', `${process.execPath} ${BIN} run -it --name detachable ${ref} sh -c 'echo READY; exec cat'`, '/dev/null'], {
    env: { PATH: process.env['PATH'] ?? '', BERTH_HOST: daemon.dockerHost, TERM: 'dumb' },
  });
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('READY')) resolve();
    });
  });
  child.stdin.write('\x10\x11');
  assert.equal(await exited, 0, out);
  try {
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'detachable'])).trim(), 'running');
  } finally {
    await ok(['rm', '-f', 'detachable']);
  }
});

test('env, env-file, workdir, user, hostname, entrypoint and labels reach the container', { skip }, async () => {
  const envFile = path.join(scratch, 'env');
  await fsp.writeFile(envFile, '# comment\nFROM_FILE=f\nPASSED\n');
  const out = await berth(
    ['run', '--rm', '-e', 'A=1', '-e', 'PASSED', '--env-file', envFile, '-w', '/tmp', '-u', '1234:5678', '-h', 'boxname',
      '--entrypoint', 'sh', ref, '-c', 'echo $A $FROM_FILE $PASSED; pwd; id -u; id -g; hostname'],
    { env: { PASSED: 'p' } },
  );
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, '1 f p\n/tmp\n1234\n5678\nboxname\n');

  const id = (await ok(['create', '--name', 'labelled', '-l', 'team=core', '--stop-signal', 'SIGUSR1', ref, 'true'])).trim();
  try {
    assert.match(id, /^[0-9a-f]{64}$/);
    const c = JSON.parse(await ok(['container', 'inspect', 'labelled']))[0];
    assert.equal(c.Config.Labels.team, 'core');
    assert.equal(c.Config.StopSignal, 'SIGUSR1');
    assert.equal(c.State.Status, 'created');
  } finally {
    await ok(['rm', 'labelled']);
  }
});

test('run -d, logs (--tail, -t, -f, stderr apart), ps formats and filters', { skip }, async () => {
  const id = (await ok(['run', '-d', '--name', 'talker', ref, 'sh', '-c', 'echo one; echo two; echo three >&2; exec sleep 300'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  try {
    // logs -f ends once the container exits: started before the exit, it must see all of it.
    const follow = berth(['logs', '-f', 'talker']);
    const running = await ok(['ps', '--format', '{{.ID}} {{.Names}} {{.Status}}']);
    assert.match(running, new RegExp(`^${id.slice(0, 12)} talker Up `, 'm'));
    await ok(['ps', '-q', '--no-trunc']).then((q) => assert.match(q, new RegExp(`^${id}$`, 'm')));

    const table = await ok(['ps']);
    const [header, row] = table.split('\n');
    assert.match(header ?? '', /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.match(row ?? '', new RegExp(`^${id.slice(0, 12)}\\s+${ref.replace(/[.]/g, '\\.')}\\s+"sh -c 'echo one; ec…"\\s+.* ago\\s+Up .*talker$`));

    await ok(['kill', '-s', 'SIGKILL', 'talker']);
    const f = await follow;
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /^one\ntwo\n/);
    assert.equal(f.stderr, 'three\n');

    const tail = await berth(['logs', '--tail', '1', 'talker']);
    assert.equal(tail.stdout, '');
    assert.equal(tail.stderr, 'three\n');
    const stamped = await ok(['logs', '-t', '-n', '2', id.slice(0, 10)]);
    assert.match(stamped, /^\d{4}-\d\d-\d\dT[\d:.]+Z two\n$/);
    assert.equal((await ok(['logs', '--since', '10m', 'talker'])).length > 0, true);
    assert.equal(await ok(['logs', '--until', '2000-01-01T00:00:00Z', 'talker']), '');

    assert.equal((await ok(['ps', '-q'])).trim(), '', 'not running any more');
    assert.match(await ok(['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}} {{.State}}']), /^talker exited$/m);
    assert.equal((await ok(['ps', '-a', '--filter', 'name=nobody', '-q'])).trim(), '');
    assert.equal((await ok(['container', 'ls', '-l', '--format', '{{.Names}}'])).trim(), 'talker');
    const json = JSON.parse((await ok(['ps', '-a', '-n', '1', '--format', 'json'])).trim());
    assert.equal(json.Names, 'talker');
    assert.equal(json.ID, id.slice(0, 12));
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('stop, start, restart, kill, wait, rm and inspect for containers and images', { skip }, async () => {
  await ok(['run', '-d', '--name', 'cycler', ref, 'sh', '-c', 'trap "exit 7" TERM; while true; do sleep 1; done']);
  try {
    assert.equal(await ok(['stop', '-t', '10', 'cycler']), 'cycler\n');
    assert.equal((await ok(['wait', 'cycler'])).trim(), '7');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'cycler'])).trim(), 'exited 7');

    assert.equal(await ok(['start', 'cycler']), 'cycler\n');
    assert.equal((await ok(['inspect', '--type', 'container', '-f', '{{.State.Running}}', 'cycler'])).trim(), 'true');
    const pid1 = (await ok(['inspect', '-f', '{{.State.Pid}}', 'cycler'])).trim();
    assert.equal(await ok(['restart', '-t', '10', 'cycler']), 'cycler\n');
    const pid2 = (await ok(['inspect', '-f', '{{.State.Pid}}', 'cycler'])).trim();
    assert.notEqual(pid1, pid2, 'restart made a new process');

    const busy = await berth(['rm', 'cycler']);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /^Error response from daemon: .*(running|stop)/im);

    assert.equal(await ok(['kill', 'cycler']), 'cycler\n');
    assert.equal((await ok(['wait', 'cycler'])).trim(), '137');

    const image = JSON.parse(await ok(['inspect', '--type', 'image', ref]))[0];
    assert.equal(image.Id, imageId);
    const both = await berth(['inspect', '-f', '{{.Id}}', 'cycler', ref, 'no-such-thing']);
    assert.equal(both.code, 1);
    assert.equal(both.stdout.split('\n')[1], imageId, 'untyped inspect finds images too');
    assert.match(both.stderr, /^Error: No such object: no-such-thing$/m);
  } finally {
    await ok(['rm', '-f', 'cycler']);
  }
  const gone = await berth(['stop', 'cycler']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /No such container: cycler/);
});

test('container prune asks first, then removes stopped containers', { skip }, async () => {
  const id = (await ok(['create', ref, 'true'])).trim();
  const declined = await berth(['container', 'prune'], { input: 'n\n' });
  assert.equal(declined.code, 0);
  assert.match(declined.stdout, /WARNING! This will remove all stopped containers\.\nAre you sure you want to continue\? \[y\/N\] $/);
  assert.match(await ok(['ps', '-aq', '--no-trunc']), new RegExp(id));
  const pruned = await ok(['container', 'prune', '-f']);
  assert.match(pruned, new RegExp(`^Deleted Containers:\n${id}\n\nTotal reclaimed space: `));
  assert.equal((await ok(['ps', '-aq'])).trim(), '');
});

/** A running container for the probed verbs; removed by the caller. */
async function sleeper(name: string): Promise<string> {
  return (await ok(['run', '-d', '--name', name, ref, 'sleep', '300'])).trim();
}

test('exec: output, stdin, env/workdir/user, exit codes, -d, -t', { skip }, async () => {
  const id = await sleeper('execer');
  try {
    const r = await berth(['exec', '-e', 'V=1', '-w', '/tmp', '-u', '42', 'execer', 'sh', '-c', 'echo $V; pwd; id -u; echo e >&2; exit 5']);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, '1\n/tmp\n42\n');
    assert.equal(r.stderr, 'e\n');
    assert.equal(await ok(['exec', '-i', 'execer', 'cat'], 'via stdin\n'), 'via stdin\n');
    assert.match(await ok(['exec', '-t', 'execer', 'tty']), /^\/dev\/pts\/\d+\r\n$/);
    assert.equal(await ok(['exec', '-d', 'execer', 'sh', '-c', 'echo detached > /tmp/d']), '');
    const missing = await berth(['exec', 'execer', 'no-such-command']);
    assert.ok(missing.code === 126 || missing.code === 127, `exit ${missing.code}: ${missing.stderr}`);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('cp: files and directories both ways, renames, SRC/., tar streams on stdin/stdout', { skip }, async () => {
  const id = await sleeper('copier');
  try {
    // Read files back with cp itself, so this test needs no other endpoint.
    let n = 0;
    const catIn = async (...paths: string[]): Promise<string> => {
      let text = '';
      for (const p of paths) {
        const local = path.join(scratch, `cat-${n++}`);
        await ok(['cp', `copier:${p}`, local]);
        text += await fsp.readFile(local, 'utf8');
      }
      return text;
    };
    const src = path.join(scratch, 'cp-src');
    await fsp.mkdir(path.join(src, 'sub'), { recursive: true });
    await fsp.writeFile(path.join(src, 'a.txt'), 'A\n');
    await fsp.writeFile(path.join(src, 'sub', 'b.txt'), 'B\n');
    await fsp.symlink('a.txt', path.join(src, 'ln'));

    await ok(['cp', src, 'copier:/tmp']);
    assert.equal(await catIn('/tmp/cp-src/a.txt', '/tmp/cp-src/sub/b.txt'), 'A\nB\n');
    await ok(['cp', path.join(src, 'a.txt'), 'copier:/tmp/renamed.txt']);
    assert.equal(await catIn('/tmp/renamed.txt'), 'A\n');
    await ok(['cp', `${src}/.`, 'copier:/tmp/contents']);
    assert.equal(await catIn('/tmp/contents/sub/b.txt'), 'B\n');

    const back = path.join(scratch, 'cp-back');
    await fsp.mkdir(back);
    await ok(['cp', 'copier:/tmp/cp-src', back]);
    assert.equal(await fsp.readFile(path.join(back, 'cp-src', 'sub', 'b.txt'), 'utf8'), 'B\n');
    assert.equal(await fsp.readlink(path.join(back, 'cp-src', 'ln')), 'a.txt');
    await ok(['cp', 'copier:/etc/hostname', path.join(back, 'host.txt')]);
    assert.equal((await fsp.readFile(path.join(back, 'host.txt'), 'utf8')).trim(), id.slice(0, 12));

    const tar = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'cp', 'copier:/tmp/renamed.txt', '-'], { env: { PATH: process.env['PATH'] ?? '', BERTH_HOST: daemon.dockerHost } });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      child.on('error', reject);
      child.on('close', () => resolve(Buffer.concat(chunks)));
    });
    assert.equal(tar.subarray(0, 12).toString().replace(/\0+$/, ''), 'renamed.txt');
    const up = await berth(['cp', '-', 'copier:/'], { input: tar });
    assert.equal(up.code, 0, up.stderr);
    assert.equal(await catIn('/renamed.txt'), 'A\n');

    const missing = await berth(['cp', 'copier:/no/such', back]);
    assert.equal(missing.code, 1);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('top lists the processes', { skip }, async () => {
  const id = await sleeper('topper');
  try {
    const top = await ok(['top', 'topper']);
    assert.match(top.split('\n')[0] ?? '', /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.match(top, /sleep 300/);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('rename', { skip }, async () => {
  const id = await sleeper('namer');
  try {
    await ok(['rename', 'namer', 'renamed']);
    assert.equal((await ok(['inspect', '-f', '{{.Name}}', id])).trim(), '/renamed');
    const taken = await sleeper('taken');
    try {
      const clash = await berth(['rename', 'renamed', 'taken']);
      assert.equal(clash.code, 1);
      assert.match(clash.stderr, /^Error response from daemon: /);
    } finally {
      await ok(['rm', '-f', taken]);
    }
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('pause and unpause', { skip }, async () => {
  const id = await sleeper('pauser');
  try {
    assert.equal(await ok(['pause', 'pauser']), 'pauser\n');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', id])).trim(), 'paused');
    assert.equal(await ok(['unpause', 'pauser']), 'pauser\n');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', id])).trim(), 'running');
  } finally {
    await ok(['rm', '-f', id]);
  }
});
