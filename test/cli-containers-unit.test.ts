// The pure parts of the berth container verbs, without an engine: flags → create body,
// detach keys, stdcopy demux, the tar codec, safe local extraction, ps rows, cp argument
// splitting, and the hijack helper against a small in-process server.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readlink, rm, symlink, writeFile, lstat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { EngineClient, EngineError, StdcopyDemuxer, encodeFrame, tarBytes } from '../client/index.js';
import type { TarHeader } from '../client/index.js';
import { demuxStream } from '../client/stdcopy.js';
import { UsageError, parseArgs } from '../cli/args.js';
import { extractTar, packPath } from '../cli/archive.js';
import { CONTAINER_FLAGS, buildCreateRequest, parseEnvFile, parseMemory, parsePublish, parseUlimit } from '../cli/create-flags.js';
import { splitCpArg } from '../cli/cp.js';
import { containerRows } from '../cli/ps.js';
import { startFailureStatus } from '../cli/run.js';
import { DetachScanner, parseDetachKeys } from '../cli/session.js';
import { Writable } from 'node:stream';
import type { ContainerSummary } from '../types/engine-api.js';

const tmpDirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'berth-cli-unit-'));
  tmpDirs.push(d);
  return d;
}
after(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

function createBody(argv: string[], env: NodeJS.ProcessEnv = {}, detach = false) {
  return buildCreateRequest(parseArgs(argv, CONTAINER_FLAGS, { interspersed: false }), { env, detach, consoleSize: [40, 120] });
}

describe('run/create flags → create body', () => {
  test('defaults match what the docker CLI sends for `run IMAGE`', () => {
    const { body, pull, name } = createBody(['busybox']);
    assert.equal(pull, 'missing');
    assert.equal(name, undefined);
    assert.deepEqual(
      { ...body, HostConfig: undefined },
      {
        Hostname: '',
        Domainname: '',
        User: '',
        AttachStdin: false,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        OpenStdin: false,
        StdinOnce: false,
        Env: [],
        Cmd: null,
        Image: 'busybox',
        Volumes: null,
        WorkingDir: '',
        Labels: {},
        HostConfig: undefined,
        NetworkingConfig: { EndpointsConfig: { default: {} } },
      },
    );
    assert.equal(body.HostConfig.NetworkMode, 'default');
    assert.deepEqual(body.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
    assert.equal(body.HostConfig.AutoRemove, false);
    assert.equal('Init' in body.HostConfig, false, '--init not given: left to the daemon');
    assert.equal('ConsoleSize' in body.HostConfig, false, 'no TTY, no console size');
  });

  test('every flag lands where docker puts it', () => {
    const { body, name, platform, pull } = createBody(
      [
        '-it', '--rm', '--name', 'web', '-e', 'A=1', '-e', 'FROM_ENV', '-e', 'UNSET', '-w', '/srv', '-u', '1000:1000',
        '-h', 'box', '--entrypoint', '/bin/sh', '-l', 'k=v', '-l', 'flag', '--stop-signal', 'SIGINT', '--stop-timeout', '7',
        '--privileged', '--cap-add', 'NET_ADMIN', '--cap-drop', 'MKNOD', '--read-only', '--tmpfs', '/run:rw,size=1m',
        '--tmpfs', '/tmp', '--ulimit', 'nofile=100:200', '--init', '-p', '127.0.0.1:8080:80', '-p', '53/udp', '-P',
        '-v', '/host:/data:ro', '-v', '/anon', '--network', 'net1', '--dns', '1.1.1.1', '--add-host', 'h:1.2.3.4',
        '-m', '64m', '--cpus', '1.5', '--pull', 'never', '--platform', 'linux/amd64', '--restart', 'no',
        'img', '-c', 'echo hi',
      ],
      { FROM_ENV: 'x' },
    );
    assert.equal(name, 'web');
    assert.equal(platform, 'linux/amd64');
    assert.equal(pull, 'never');
    assert.deepEqual(body.Cmd, ['-c', 'echo hi'], 'flags end at the image');
    assert.deepEqual(body.Entrypoint, ['/bin/sh']);
    assert.deepEqual(body.Env, ['A=1', 'FROM_ENV=x']);
    assert.equal(body.WorkingDir, '/srv');
    assert.equal(body.User, '1000:1000');
    assert.equal(body.Hostname, 'box');
    assert.deepEqual(body.Labels, { k: 'v', flag: '' });
    assert.equal(body.StopSignal, 'SIGINT');
    assert.equal(body.StopTimeout, 7);
    assert.equal(body.Tty, true);
    assert.equal(body.OpenStdin, true);
    assert.equal(body.AttachStdin, true);
    assert.equal(body.StdinOnce, true);
    assert.deepEqual(body.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(body.Volumes, { '/anon': {} });
    const hc = body.HostConfig;
    assert.deepEqual(hc.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostIp: '', HostPort: '' }] });
    assert.equal(hc.PublishAllPorts, true);
    assert.deepEqual(hc.Binds, ['/host:/data:ro']);
    assert.equal(hc.AutoRemove, true);
    assert.equal(hc.Privileged, true);
    assert.deepEqual(hc.CapAdd, ['NET_ADMIN']);
    assert.deepEqual(hc.CapDrop, ['MKNOD']);
    assert.equal(hc.ReadonlyRootfs, true);
    assert.deepEqual(hc.Tmpfs, { '/run': 'rw,size=1m', '/tmp': '' });
    assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 100, Hard: 200 }]);
    assert.equal(hc.Init, true);
    assert.equal(hc.NetworkMode, 'net1');
    assert.deepEqual(body.NetworkingConfig, { EndpointsConfig: {} }, 'one network with nothing to say: no endpoint (the docker CLI does the same)');
    assert.deepEqual(hc.Dns, ['1.1.1.1']);
    assert.deepEqual(hc.ExtraHosts, ['h:1.2.3.4']);
    assert.equal(hc.Memory, 64 * 1024 * 1024);
    assert.equal(hc.NanoCpus, 1_500_000_000);
    assert.deepEqual(hc.ConsoleSize, [40, 120]);
  });

  test('-d attaches nothing; -a picks streams; --entrypoint "" resets', () => {
    const d = createBody(['-i', 'img'], {}, true).body;
    assert.deepEqual([d.AttachStdin, d.AttachStdout, d.AttachStderr, d.OpenStdin, d.StdinOnce], [false, false, false, true, false]);
    const a = createBody(['-a', 'stderr', 'img']).body;
    assert.deepEqual([a.AttachStdin, a.AttachStdout, a.AttachStderr], [false, false, true]);
    assert.deepEqual(createBody(['--entrypoint', '', 'img']).body.Entrypoint, ['']);
  });

  test('bad values are usage errors (exit 125)', () => {
    assert.throws(() => createBody(['--rm', '--restart', 'always', 'img']), /Conflicting options: --restart and --rm/);
    assert.throws(() => createBody(['--pull', 'sometimes', 'img']), UsageError);
    assert.throws(() => createBody(['-p', '70000:80', 'img']), UsageError);
    assert.throws(() => createBody(['-m', 'lots', 'img']), UsageError);
    assert.throws(() => createBody(['--ulimit', 'nofile=10:5', 'img']), /soft limit/);
    assert.throws(() => createBody(['-a', 'stdout', 'img'], {}, true), /Conflicting options/);
    assert.deepEqual(createBody(['--restart', 'on-failure:3', 'img']).body.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  });

  test('ports, memory, ulimits and env files parse like docker', () => {
    const exposed = {};
    const bindings: Record<string, unknown> = {};
    parsePublish('8000-8001:80-81/tcp', exposed, bindings as never);
    parsePublish('[::1]:9000:90', exposed, bindings as never);
    parsePublish('7000-7005:70', exposed, bindings as never);
    assert.deepEqual(bindings, {
      '80/tcp': [{ HostIp: '', HostPort: '8000' }],
      '81/tcp': [{ HostIp: '', HostPort: '8001' }],
      '90/tcp': [{ HostIp: '::1', HostPort: '9000' }],
      '70/tcp': [{ HostIp: '', HostPort: '7000-7005' }],
    });
    assert.throws(() => parsePublish('8000-8002:80-81', {}, {}), /invalid ranges/);
    assert.equal(parseMemory('1g'), 1024 ** 3);
    assert.equal(parseMemory('512MB'), 512 * 1024 ** 2);
    assert.equal(parseMemory('1024'), 1024);
    assert.deepEqual(parseUlimit('nproc=5'), { Name: 'nproc', Soft: 5, Hard: 5 });
    assert.deepEqual(parseEnvFile('# comment\n\nA=1\n  B=two words\nHOME_X\nMISSING\n', { HOME_X: '/h' }), ['A=1', 'B=two words', 'HOME_X=/h']);
  });

  test('start failures map to docker exit statuses', () => {
    assert.equal(startFailureStatus('exec: "nosuch": executable file not found in $PATH'), 127);
    assert.equal(startFailureStatus('exec /etc: permission denied'), 126);
    assert.equal(startFailureStatus('cgroup trouble'), 125);
  });
});

describe('detach keys', () => {
  test('parse docker key specs', () => {
    assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
    assert.deepEqual([...parseDetachKeys('a,ctrl-@,ctrl-[')], [97, 0, 27]);
    assert.throws(() => parseDetachKeys('ctrl-1'), UsageError);
    assert.throws(() => parseDetachKeys('abc'), UsageError);
  });

  test('the scanner holds back a partial sequence and never forwards a complete one', () => {
    const s = new DetachScanner(parseDetachKeys('ctrl-p,ctrl-q'));
    assert.deepEqual(s.push(Buffer.from('ab\x10')), { forward: Buffer.from('ab'), detach: false });
    assert.deepEqual(s.push(Buffer.from('x')), { forward: Buffer.from('\x10x'), detach: false }, 'a lone ctrl-p is released');
    assert.deepEqual(s.push(Buffer.from('\x10\x10')), { forward: Buffer.from('\x10'), detach: false });
    assert.deepEqual(s.push(Buffer.from('\x11rest')), { forward: Buffer.alloc(0), detach: true });
  });
});

describe('stdcopy', () => {
  test('frames split at every byte boundary come out whole and in order', async () => {
    const wire = Buffer.concat([encodeFrame(1, 'out one\n'), encodeFrame(2, 'err\n'), encodeFrame(1, ''), encodeFrame(1, 'two')]);
    for (let cut = 1; cut < wire.length; cut++) {
      const d = new StdcopyDemuxer();
      const frames = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      assert.deepEqual(frames.map((f) => [f.stream, f.payload.toString()]), [[1, 'out one\n'], [2, 'err\n'], [1, ''], [1, 'two']]);
      assert.equal(d.leftover, 0);
    }
  });

  test('demuxStream splits stdout from stderr and turns systemerr into an error', async () => {
    const collect = (): Writable & { text: string } => {
      const w = new Writable({
        write(chunk: Buffer, _e, cb) {
          w.text += chunk.toString();
          cb();
        },
      }) as Writable & { text: string };
      w.text = '';
      return w;
    };
    const out = collect();
    const err = collect();
    await demuxStream([encodeFrame(1, 'a'), encodeFrame(2, 'b'), encodeFrame(1, 'c')], out, err);
    assert.equal(out.text, 'ac');
    assert.equal(err.text, 'b');
    await assert.rejects(demuxStream([encodeFrame(3, 'boom')], out, err), (e: unknown) => e instanceof EngineError && e.message === 'boom');
    assert.throws(() => new StdcopyDemuxer().push(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])), /unrecognized stream/);
  });
});

describe('local packing and extraction', () => {
  const file = (name: string, data = ''): { header: TarHeader; data: string } => ({
    header: { name, type: 'file', mode: 0o644, size: 0, mtime: 1_700_000_000, uid: 0, gid: 0 },
    data,
  });
  const other = (h: Partial<TarHeader> & { name: string; type: TarHeader['type'] }): { header: TarHeader } => ({
    header: { mode: 0o755, size: 0, mtime: 1_700_000_000, uid: 0, gid: 0, ...h },
  });

  test('packPath then extractTar reproduces a tree, renaming the root', async () => {
    const src = await tmp();
    await mkdir(path.join(src, 'tree/sub'), { recursive: true });
    await writeFile(path.join(src, 'tree/a.txt'), 'A');
    await writeFile(path.join(src, 'tree/sub/b.bin'), Buffer.alloc(300_000, 7), { mode: 0o755 });
    await symlink('../a.txt', path.join(src, 'tree/sub/ln'));
    const dest = await tmp();
    await extractTar(packPath(path.join(src, 'tree'), { rootName: 'tree' }), dest, { rename: { from: 'tree', to: 'copy' } });
    assert.equal(await readFile(path.join(dest, 'copy/a.txt'), 'utf8'), 'A');
    assert.deepEqual(await readFile(path.join(dest, 'copy/sub/b.bin')), Buffer.alloc(300_000, 7));
    assert.equal((await lstat(path.join(dest, 'copy/sub/b.bin'))).mode & 0o777, 0o755);
    assert.equal(await readlink(path.join(dest, 'copy/sub/ln')), '../a.txt');
    const contents = await tmp();
    await extractTar(packPath(path.join(src, 'tree'), { rootName: 'tree', contentsOnly: true }), contents);
    assert.equal(await readFile(path.join(contents, 'a.txt'), 'utf8'), 'A');
  });

  test('extraction never writes outside the destination', async () => {
    const outside = await tmp();
    const dest = await tmp();
    await assert.rejects(extractTar([tarBytes([file('../escape', 'x')])], dest), /outside/);
    await assert.rejects(extractTar([tarBytes([other({ name: 'hl', type: 'link', linkname: '../../etc/passwd' })])], dest), /invalid hardlink/);
    await assert.rejects(extractTar([tarBytes([other({ name: 'hl2', type: 'link', linkname: 'missing' })])], dest), /invalid hardlink.*no such file/);
    // A planted symlink is followed inside the destination only, as if it were the root.
    await extractTar([tarBytes([other({ name: 'ln', type: 'symlink', linkname: outside }), file('ln/owned', 'x')])], dest);
    assert.deepEqual(await import('node:fs/promises').then((f) => f.readdir(outside)), []);
    assert.equal(await readFile(path.join(dest, outside, 'owned'), 'utf8'), 'x');
    // Absolute names are made relative, as Docker does.
    await extractTar([tarBytes([file('/abs/file', 'ok')])], dest);
    assert.equal(await readFile(path.join(dest, 'abs/file'), 'utf8'), 'ok');
    // A directory is not replaced by a file (docker cp's NoOverwriteDirNonDir).
    await assert.rejects(extractTar([tarBytes([file('abs', 'x')])], dest), /cannot overwrite directory/);
  });
});

describe('ps rows and cp arguments', () => {
  const summary: ContainerSummary = {
    Id: 'a'.repeat(64),
    Names: ['/web', '/other/alias'],
    Image: `sha256:${'b'.repeat(64)}`,
    ImageID: `sha256:${'b'.repeat(64)}`,
    Command: "sh -c 'echo one; echo two'",
    Created: 1_700_000_000,
    Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { PrivatePort: 53, Type: 'udp' }],
    Labels: { z: '1', a: '2' },
    State: 'running',
    Status: 'Up 2 minutes',
    SizeRw: 1000,
    SizeRootFs: 5_000_000,
    Mounts: [],
  };

  test('docker column rules', () => {
    const [row] = containerRows([summary], { now: 1_700_000_120_000 });
    assert.equal(row?.['ID'], 'a'.repeat(12));
    assert.equal(row?.['Image'], 'b'.repeat(12));
    assert.equal(row?.['Command'], `"sh -c 'echo one; ec…"`);
    assert.equal(row?.['RunningFor'], '2 minutes ago');
    assert.equal(row?.['Ports'], '0.0.0.0:8080->80/tcp, 53/udp');
    assert.equal(row?.['Names'], 'web');
    assert.equal(row?.['Labels'], 'a=2,z=1');
    assert.equal(row?.['Size'], '1kB (virtual 5MB)');
    const [full] = containerRows([summary], { noTrunc: true });
    assert.equal(full?.['Names'], 'web,other/alias');
    assert.equal(full?.['Command'], `"sh -c 'echo one; echo two'"`);
  });

  test('cp arguments: local paths starting with / or . never name a container', () => {
    assert.deepEqual(splitCpArg('web:/etc/hosts'), { container: 'web', path: '/etc/hosts' });
    assert.deepEqual(splitCpArg('./a:b'), { path: './a:b' });
    assert.deepEqual(splitCpArg('/x:y'), { path: '/x:y' });
    assert.deepEqual(splitCpArg('-'), { path: '-' });
  });
});

describe('hijack', () => {
  test('101 upgrade gives a two-way raw socket with half-close; errors keep their status and message', async () => {
    const dir = await tmp();
    const sock = path.join(dir, 'engine.sock');
    const server = http.createServer((req, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: 'No such container: nope' }));
    });
    server.on('upgrade', (req, socket, head) => {
      assert.equal(req.headers['upgrade'], 'tcp');
      socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      socket.write('hello ');
      const got: Buffer[] = [head];
      socket.on('data', (b: Buffer) => got.push(b));
      // Answer after the client half-closed: the output side must still be open.
      socket.on('end', () => socket.end(`echo:${Buffer.concat(got).toString()}`));
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const client = new EngineClient({ host: `unix://${sock}` });
    try {
      const conn = await client.containers.attach('abc', { stdin: true, stdout: true });
      assert.equal(conn.status, 101);
      assert.equal(conn.contentType, 'application/vnd.docker.raw-stream');
      conn.socket.end('input');
      const chunks: Buffer[] = [];
      for await (const c of conn.socket) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'hello echo:input');

      await assert.rejects(client.containers.start('nope'), (e: unknown) => e instanceof EngineError && e.statusCode === 404 && e.message === 'No such container: nope');
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('an error status on the hijack request is an EngineError with the engine message', async () => {
    const dir = await tmp();
    const sock = path.join(dir, 'engine.sock');
    const server = http.createServer();
    server.on('upgrade', (_req, socket) => {
      const body = JSON.stringify({ message: 'No such exec instance: nope' });
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const client = new EngineClient({ host: `unix://${sock}` });
    try {
      await assert.rejects(
        client.containers.execStart('nope'),
        (e: unknown) => e instanceof EngineError && e.statusCode === 404 && e.code === 'NOT_FOUND' && e.message === 'No such exec instance: nope',
      );
    } finally {
      client.close();
      await new Promise((r) => server.close(r));
    }
  });
});
