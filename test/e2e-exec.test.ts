// docker exec through the real docker CLI against berthd: output and exit codes, stdin with
// half-close, TTY under a real pty (script), -d with inspect, -e/-w/-u, --privileged, events,
// exec in a container started before a daemon kill -9, and the API's 400/404/409 answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, promises as fsp } from 'node:fs';
import type { TestDaemon } from './harness/daemon.js';
import { docker, dockerCliPath, dockerConfigDir } from './harness/docker.js';
import { containerSkip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { capabilitiesFromMask, capabilityMask, DEFAULT_CAPABILITIES, parseBoundingSet } from '../engine/runtime/spec.js';

const skip = containerSkip || (!existsSync('/usr/bin/script') && 'needs script(1)');

let env: ContainerEnv;
let daemon: TestDaemon;
let ref: string;
let ok: (args: string[], input?: string) => Promise<string>;

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ imageConfig: { Env: ['FROM_IMAGE=1', 'PATH=/usr/bin:/bin'], Cmd: ['sh'] }, pull: true });
  ({ daemon, ref } = env);
  ok = (args, input) => env.ok(args, input === undefined ? {} : { input });
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Runs the docker CLI under a pty (`script`), with `input` typed into it. */
function underPty(args: string[], input: string): Promise<{ code: number | null; out: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TERM: 'xterm', DOCKER_HOST: daemon.dockerHost, DOCKER_CONFIG: dockerConfigDir(daemon) };
  // script's pty starts at 0x0 (its stdin is a pipe): give it a size for the CLI to pass on.
  const cmd = `stty rows 30 cols 100; ${[dockerCliPath(), ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out: Buffer.concat(out).toString('utf8') });
    });
    // Typed only once the shell is up: a pty in raw mode would otherwise see it before sh reads.
    child.stdout.once('data', () => child.stdin.write(input));
  });
}

test('docker exec: output, exit codes, stdin, env/workdir/user, tty, missing command', { skip }, async () => {
  const id = (await ok(['run', '-d', '--name', 'ex1', '-e', 'FROM_RUN=2', ref, 'sleep', '300'])).trim();
  try {
    assert.equal(await ok(['exec', 'ex1', 'echo', 'hi']), 'hi\n');

    const three = await docker(daemon, ['exec', 'ex1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(three.code, 3, three.stderr);
    assert.equal(three.stdout, 'out\n');
    assert.equal(three.stderr, 'err\n');

    // Stdin is piped; its end (half-close) ends cat.
    assert.equal(await ok(['exec', '-i', 'ex1', 'cat'], 'from stdin\nline two\n'), 'from stdin\nline two\n');
    // Without -i the process gets no stdin at all.
    assert.equal(await ok(['exec', 'ex1', 'cat'], 'ignored\n'), '');

    const custom = await ok(['exec', '-e', 'K=V', '-e', 'FROM_RUN=exec', '-w', '/tmp', '-u', '1000:1000', 'ex1', 'sh', '-c', 'echo $K $FROM_RUN $FROM_IMAGE; pwd; id -u; id -g; echo $HOME']);
    assert.equal(custom, 'V exec 1\n/tmp\n1000\n1000\n/\n');
    const env = (await ok(['exec', 'ex1', 'env'])).trim().split('\n').sort();
    assert.deepEqual(env, ['FROM_IMAGE=1', 'FROM_RUN=2', 'HOME=/root', `HOSTNAME=${id.slice(0, 12)}`, 'PATH=/usr/bin:/bin']);
    assert.equal(await ok(['exec', '-u', 'nobody', 'ex1', 'id', '-un']), 'nobody\n');

    const tty = await docker(daemon, ['exec', '-t', 'ex1', 'sh', '-c', 'tty; echo $TERM']);
    assert.equal(tty.code, 0, tty.stderr);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\nxterm\r\n$/);

    const missing = await docker(daemon, ['exec', 'ex1', 'nope']);
    assert.equal(missing.code, 127);
    assert.match(missing.stdout + missing.stderr, /OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in \$PATH: unknown/);
    const denied = await docker(daemon, ['exec', 'ex1', '/etc/passwd']);
    assert.equal(denied.code, 126);
    assert.match(denied.stdout + denied.stderr, /permission denied/);
    const noUser = await docker(daemon, ['exec', '-u', 'nosuchuser', 'ex1', 'true']);
    assert.equal(noUser.code, 126);
    assert.match(noUser.stdout + noUser.stderr, /unable to find user nosuchuser/);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('docker exec --privileged gets every capability the daemon has; a plain exec the container set', { skip }, async () => {
  const id = (await ok(['run', '-d', ref, 'sleep', '300'])).trim();
  try {
    const capEff = async (args: string[]): Promise<bigint> => {
      const out = await ok(['exec', ...args, id, 'grep', 'CapEff', '/proc/self/status']);
      return BigInt(`0x${out.split(/\s+/)[1]}`);
    };
    const bounding = parseBoundingSet(await fsp.readFile('/proc/self/status', 'utf8'));
    assert.deepEqual(capabilitiesFromMask(await capEff([])), capabilitiesFromMask(capabilityMask(DEFAULT_CAPABILITIES) & bounding));
    assert.equal(await capEff(['--privileged']), bounding);
    assert.equal(await capEff(['-u', '1000']), 0n);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('docker exec -it under a pty: interactive shell, exit code', { skip }, async () => {
  const id = (await ok(['run', '-d', ref, 'sleep', '300'])).trim();
  try {
    const r = await underPty(['exec', '-it', id, 'sh'], 'echo $((6*7)); stty size; exit 4\n');
    assert.equal(r.code, 4, r.out);
    assert.match(r.out, /\b42\r\n/);
    // The CLI passes the terminal's size on.
    assert.match(r.out, /\r\n30 100\r\n/);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('exec -d, exec inspect, events, and the API errors', { skip }, async () => {
  const since = String(Date.now() / 1000);
  const id = (await ok(['run', '-d', '--name', 'ex2', ref, 'sleep', '300'])).trim();
  try {
    await ok(['exec', '-d', 'ex2', 'sh', '-c', 'echo detached > /tmp/d']);
    assert.equal(await until('the detached exec', async () => (await docker(daemon, ['exec', 'ex2', 'cat', '/tmp/d'])).stdout || undefined), 'detached\n');

    // Through the API: a detached exec that runs until told to stop.
    const created = await daemon.request('POST', '/v1.47/containers/ex2/exec', {
      Cmd: ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7'],
      User: 'nobody',
    });
    assert.equal(created.status, 201, created.body.toString());
    const execId = created.json<{ Id: string }>().Id;
    assert.match(execId, /^[0-9a-f]{64}$/);
    let info = (await daemon.request('GET', `/v1.47/exec/${execId}/json`)).json<any>();
    assert.equal(info.Running, false);
    assert.equal(info.ExitCode, null);
    assert.equal(info.Pid, 0);
    const started = await daemon.request('POST', `/v1.47/exec/${execId}/start`, { Detach: true });
    assert.equal(started.status, 200, started.body.toString());
    info = (await daemon.request('GET', `/v1.47/exec/${execId}/json`)).json<any>();
    assert.equal(info.ID, execId);
    assert.equal(info.ContainerID, id);
    assert.equal(info.Running, true);
    assert.equal(info.ExitCode, null);
    assert.ok(info.Pid > 0);
    assert.deepEqual(info.ProcessConfig, { arguments: ['-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7'], entrypoint: 'sh', privileged: false, tty: false, user: 'nobody' });
    const again = await daemon.request('POST', `/v1.47/exec/${execId}/start`, { Detach: true });
    assert.equal(again.status, 409);
    assert.match(again.json<{ message: string }>().message, /is already running/);

    await ok(['exec', 'ex2', 'touch', '/tmp/go']);
    info = await until('the exec to exit', async () => {
      const j = (await daemon.request('GET', `/v1.47/exec/${execId}/json`)).json<any>();
      return j.Running ? undefined : j;
    });
    assert.equal(info.ExitCode, 7);
    assert.equal(info.Pid, 0);

    const until_ = String(Date.now() / 1000 + 1);
    const events = await ok(['events', '--since', since, '--until', until_, '--filter', `container=${id}`, '--format', '{{.Action}}|{{.Actor.Attributes.execID}}|{{.Actor.Attributes.exitCode}}|{{.Actor.Attributes.name}}']);
    const mine = events.trim().split('\n').filter((l) => l.includes(execId));
    assert.deepEqual(mine, [
      `exec_create: sh -c while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7|${execId}|<no value>|ex2`,
      `exec_start: sh -c while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7|${execId}|<no value>|ex2`,
      `exec_die|${execId}|7|ex2`,
    ]);

    // 400, 404, 409.
    const empty = await daemon.request('POST', '/v1.47/containers/ex2/exec', { Cmd: [] });
    assert.equal(empty.status, 400);
    assert.equal(empty.json<{ message: string }>().message, 'No exec command specified');
    const noCtr = await daemon.request('POST', '/v1.47/containers/nosuch/exec', { Cmd: ['true'] });
    assert.equal(noCtr.status, 404);
    assert.equal(noCtr.json<{ message: string }>().message, 'No such container: nosuch');
    for (const [method, p] of [
      ['POST', '/v1.47/exec/deadbeef/start'],
      ['GET', '/v1.47/exec/deadbeef/json'],
      ['POST', '/v1.47/exec/deadbeef/resize?h=10&w=10'],
    ] as const) {
      const r = await daemon.request(method, p, method === 'POST' ? {} : undefined);
      assert.equal(r.status, 404, `${method} ${p}`);
      assert.equal(r.json<{ message: string }>().message, 'No such exec instance: deadbeef');
    }
    const done = await daemon.request('POST', `/v1.47/exec/${execId}/start`, { Detach: true });
    assert.equal(done.status, 409);
    assert.match(done.json<{ message: string }>().message, /has already run/);

    // A container that stops takes its execs with it: the attached CLI sees the kill.
    const pending = docker(daemon, ['exec', 'ex2', 'sleep', '301']);
    await until('the exec to run', async () => ((await ok(['exec', 'ex2', 'ps'])).includes('sleep 301\n') ? true : undefined));
    await ok(['kill', 'ex2']);
    const killed = await pending;
    assert.equal(killed.code, 137, killed.stderr);
    assert.equal(await ok(['wait', 'ex2']), '137\n');
    const stopped = await daemon.request('POST', '/v1.47/containers/ex2/exec', { Cmd: ['true'] });
    assert.equal(stopped.status, 409);
    assert.equal(stopped.json<{ message: string }>().message, `container ${id} is not running`);
    const cli = await docker(daemon, ['exec', 'ex2', 'true']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /is not running/);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

/** POST /exec/{id}/start as docker-py does: a hijacked connection; returns the socket and everything it reads until the daemon closes it. */
function startHijacked(id: string, body: unknown): Promise<{ sock: net.Socket; output: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(daemon.socket);
    const data = JSON.stringify(body);
    sock.on('error', reject);
    sock.once('connect', () =>
      sock.write(
        `POST /v1.47/exec/${id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`,
      ),
    );
    let head = Buffer.alloc(0);
    const onHead = (b: Buffer): void => {
      head = Buffer.concat([head, b]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onHead);
      assert.match(head.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
      const chunks: Buffer[] = [head.subarray(end + 4)];
      sock.on('data', (c: Buffer) => chunks.push(c));
      const output = new Promise<Buffer>((r) => sock.once('end', () => r(Buffer.concat(chunks))));
      resolve({ sock, output });
    };
    sock.on('data', onHead);
  });
}

test('exec detach keys: a TTY exec detaches on the keys of its create body (docker-py sends "detachKeys"), the process goes on; no TTY, they are input', { skip }, async () => {
  const id = (await ok(['run', '-d', ref, 'sleep', '300'])).trim();
  try {
    const create = await daemon.request('POST', `/containers/${id}/exec`, { Cmd: ['sh', '-c', 'cat > /tmp/got'], AttachStdin: true, AttachStdout: true, Tty: true, detachKeys: 'ctrl-x' });
    assert.equal(create.status, 201, create.body.toString());
    const execId = create.json<{ Id: string }>().Id;
    const { sock, output } = await startHijacked(execId, { Tty: true });
    sock.write('typed\n');
    sock.write(Buffer.from([0x18]));
    await output; // the daemon ends the stream
    sock.destroy();
    assert.equal(await until('the typed line', async () => (await docker(daemon, ['exec', id, 'cat', '/tmp/got'])).stdout || undefined), 'typed\n', 'input before the keys reached the process');
    const info = (await daemon.request('GET', `/exec/${execId}/json`)).json<{ Running: boolean; DetachKeys?: string }>();
    assert.equal(info.Running, true, 'the exec keeps running after its client detached');

    // Without a TTY, ctrl-p ctrl-q are data: cat gets them and the stream only ends with stdin.
    const plain = (await daemon.request('POST', `/containers/${id}/exec`, { Cmd: ['od', '-An', '-tx1'], AttachStdin: true, AttachStdout: true })).json<{ Id: string }>().Id;
    const p = await startHijacked(plain, {});
    p.sock.end(Buffer.from([0x10, 0x11, 0x0a]));
    assert.match((await p.output).toString('latin1'), /10 11 0a/);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('exec into a container started before the daemon was killed with -9', { skip }, async () => {
  const id = (await ok(['run', '-d', ref, 'sleep', '300'])).trim();
  try {
    await daemon.kill9();
    await daemon.restart();
    assert.equal(await ok(['exec', id, 'echo', 'after']), 'after\n');
    assert.equal(await ok(['exec', '-i', id, 'cat'], 'piped\n'), 'piped\n');
    const r = await underPty(['exec', '-it', id, 'sh'], 'echo pty-$((1+1)); exit 0\n');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /pty-2\r\n/);
  } finally {
    await ok(['rm', '-f', id]);
  }
});
