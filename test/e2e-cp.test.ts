// A container's files through the real docker CLI against berthd: docker cp both ways (running,
// stopped and never-started containers, -a), the archive endpoints' errors, hostile uploads that
// try to write outside the container, docker export, docker diff and docker top.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import type { TestDaemon } from './harness/daemon.js';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
const run = promisify(execFile);

let env: ContainerEnv;
let daemon: TestDaemon;
let ref: string;
let host: string;
let ok: (args: string[]) => Promise<string>;

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ pull: true });
  ({ daemon, ref } = env);
  ok = (args) => env.ok(args);
  host = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-cp-host-'));
});

after(async () => {
  if (skip) return;
  try {
    await stopContainerEnv(env);
  } finally {
    if (host) await fsp.rm(host, { recursive: true, force: true });
  }
});

const mountedUnderDataRoot = async (): Promise<boolean> => (await fsp.readFile('/proc/self/mountinfo', 'utf8')).includes(daemon.dataRoot);

/** A tar built entry by entry (tar-stream, independent of the daemon's own writer). */
type TarSpec = Partial<tar.Header> & { name: string; content?: string };
async function makeTar(entries: TarSpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const { content, ...h } of entries) {
    await new Promise<void>((resolve, reject) => {
      if (content !== undefined) pack.entry({ ...h, mode: h.mode ?? 0o644 }, content, (err) => (err ? reject(err) : resolve()));
      else pack.entry({ ...h, mode: h.mode ?? 0o755 }, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Names and contents of a tar. */
async function readTar(buf: Buffer): Promise<Map<string, { header: tar.Header; content: string }>> {
  const out = new Map<string, { header: tar.Header; content: string }>();
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(c as Buffer));
      stream.on('end', () => {
        out.set(header.name, { header, content: Buffer.concat(parts).toString('utf8') });
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(buf);
  await done;
  return out;
}

const statHeader = (h: string | string[] | undefined): any => JSON.parse(Buffer.from(String(h), 'base64').toString('utf8'));

test('docker cp to and from a running container: files, directories, dir/.', { skip }, async () => {
  const id = (await ok(['run', '-d', '--name', 'cp-run', ref, 'sleep', '60'])).trim();
  try {
    await fsp.writeFile(path.join(host, 'hello.txt'), 'hello\n');
    await fsp.mkdir(path.join(host, 'tree/sub'), { recursive: true });
    await fsp.writeFile(path.join(host, 'tree/a.txt'), 'a\n');
    await fsp.writeFile(path.join(host, 'tree/sub/b.txt'), 'b\n');

    await ok(['cp', path.join(host, 'hello.txt'), 'cp-run:/tmp/']);
    await ok(['cp', path.join(host, 'hello.txt'), 'cp-run:/tmp/renamed.txt']);
    await ok(['cp', path.join(host, 'tree'), 'cp-run:/tmp/tree']);
    await ok(['cp', path.join(host, 'tree') + '/.', 'cp-run:/root']);

    const out = path.join(host, 'out');
    await fsp.mkdir(out);
    await ok(['cp', 'cp-run:/tmp/hello.txt', out]);
    await ok(['cp', 'cp-run:/tmp/renamed.txt', path.join(out, 'again.txt')]);
    await ok(['cp', 'cp-run:/tmp/tree', path.join(out, 'tree')]);
    await ok(['cp', 'cp-run:/root/.', path.join(out, 'rootdir')]);
    assert.equal(await fsp.readFile(path.join(out, 'hello.txt'), 'utf8'), 'hello\n');
    assert.equal(await fsp.readFile(path.join(out, 'again.txt'), 'utf8'), 'hello\n');
    assert.equal(await fsp.readFile(path.join(out, 'tree/sub/b.txt'), 'utf8'), 'b\n');
    assert.equal(await fsp.readFile(path.join(out, 'rootdir/a.txt'), 'utf8'), 'a\n', 'dir/. copied the contents');
    assert.equal(await fsp.readFile(path.join(out, 'rootdir/sub/b.txt'), 'utf8'), 'b\n');

    // The container's own /etc/hostname (bind-mounted at run time), not the image's.
    await ok(['cp', 'cp-run:/etc/hostname', path.join(out, 'hostname')]);
    assert.equal((await fsp.readFile(path.join(out, 'hostname'), 'utf8')).trim(), id.slice(0, 12));

    // The archive endpoint as the API shows it: stat header, top entry named by the basename.
    const get = await daemon.request('GET', `/v1.47/containers/cp-run/archive?path=${encodeURIComponent('/tmp/tree')}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers['content-type'], 'application/x-tar');
    const st = statHeader(get.headers['x-docker-container-path-stat']);
    assert.equal(st.name, 'tree');
    assert.ok(st.mode >= 2 ** 31, 'a Go os.FileMode with ModeDir');
    const entries = await readTar(get.body);
    assert.deepEqual([...entries.keys()].sort(), ['tree/', 'tree/a.txt', 'tree/sub/', 'tree/sub/b.txt']);
    const dot = await readTar((await daemon.request('GET', `/v1.47/containers/cp-run/archive?path=/tmp/tree/.`)).body);
    assert.ok(dot.has('./') && dot.has('./a.txt'), [...dot.keys()].join(' '));
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('docker cp with a stopped and a never-started container mounts the rootfs only while copying', { skip }, async () => {
  await fsp.writeFile(path.join(host, 'msg'), 'from the host\n');
  const created = (await ok(['create', '--name', 'cp-created', ref, 'cat', '/msg'])).trim();
  await ok(['run', '--name', 'cp-exited', ref, 'sh', '-c', 'echo inside > /made-inside']);
  const exited = 'cp-exited';
  try {
    assert.equal(await mountedUnderDataRoot(), false);
    await ok(['cp', path.join(host, 'msg'), 'cp-created:/msg']);
    assert.equal(await mountedUnderDataRoot(), false, 'the temporary mount is gone');
    assert.equal(await ok(['start', '-a', 'cp-created']), 'from the host\n');
    await ok(['wait', 'cp-created']); // its exit (and unmount) has been processed

    await ok(['cp', 'cp-exited:/made-inside', path.join(host, 'made-inside')]);
    assert.equal(await fsp.readFile(path.join(host, 'made-inside'), 'utf8'), 'inside\n');
    assert.equal(await mountedUnderDataRoot(), false, (await fsp.readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(daemon.dataRoot)).join('\n'));
  } finally {
    await ok(['rm', '-f', created, exited]);
  }
});

test('docker cp keeps the archive owner, and -a gives files to the container user', { skip }, async () => {
  const id = (await ok(['create', '--name', 'cp-owner', '--user', '1234:5678', ref, 'true'])).trim();
  try {
    const file = path.join(host, 'owned');
    await fsp.writeFile(file, 'x');
    await fsp.chown(file, 4321, 4322);
    await ok(['cp', file, 'cp-owner:/tmp/plain']);
    await ok(['cp', '-a', file, 'cp-owner:/tmp/archived']);
    const upper = path.join(daemon.dataRoot, 'containers', id, 'upper', 'tmp');
    const plain = await fsp.stat(path.join(upper, 'plain'));
    const archived = await fsp.stat(path.join(upper, 'archived'));
    assert.deepEqual([plain.uid, plain.gid], [4321, 4322]);
    assert.deepEqual([archived.uid, archived.gid], [1234, 5678]);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('archive endpoint errors: missing path, no path, not a directory, no such container', { skip }, async () => {
  const id = (await ok(['create', '--name', 'cp-errors', ref, 'true'])).trim();
  try {
    const head = await daemon.request('HEAD', '/v1.47/containers/cp-errors/archive?path=/nope');
    assert.equal(head.status, 404);
    const get = await daemon.request('GET', '/v1.47/containers/cp-errors/archive?path=/nope');
    assert.equal(get.status, 404);
    assert.equal(get.json<any>().message, 'Could not find the file /nope in container cp-errors');
    const ok200 = await daemon.request('HEAD', '/v1.47/containers/cp-errors/archive?path=/etc/passwd');
    assert.equal(ok200.status, 200);
    assert.equal(statHeader(ok200.headers['x-docker-container-path-stat']).name, 'passwd');
    const link = statHeader((await daemon.request('HEAD', '/v1.47/containers/cp-errors/archive?path=/usr/bin/env')).headers['x-docker-container-path-stat']);
    assert.equal(link.linkTarget, '/bin/busybox');
    assert.equal((await daemon.request('GET', '/v1.47/containers/cp-errors/archive')).status, 400);
    const body = await makeTar([{ name: 'f', content: 'x' }]);
    const onFile = await daemon.request('PUT', '/v1.47/containers/cp-errors/archive?path=/etc/passwd', body);
    assert.equal(onFile.status, 400);
    assert.match(onFile.json<any>().message, /not a directory/);
    assert.equal((await daemon.request('PUT', '/v1.47/containers/cp-errors/archive?path=/no/such/dir', body)).status, 404);
    assert.equal((await daemon.request('HEAD', '/v1.47/containers/no-such-container/archive?path=/')).status, 404);
    const cli = await docker(daemon, ['cp', 'cp-errors:/nope', host]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /Could not find the file \/nope in container cp-errors/);
    assert.equal(await mountedUnderDataRoot(), false);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('hostile uploads and container symlinks never write outside the container', { skip }, async () => {
  const outside = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-cp-outside-'));
  // The container plants symlinks pointing at the host's view: /evil -> /, /hostdir -> <outside>.
  await ok(['run', '--name', 'cp-hostile', ref, 'sh', '-c', `ln -s / /evil && ln -s ${outside} /hostdir && mkdir /drop`]);
  const id = (await ok(['inspect', '-f', '{{.Id}}', 'cp-hostile'])).trim();
  const dataDir = path.join(daemon.dataRoot, 'containers', id);
  const put = (p: string, body: Buffer) => daemon.request('PUT', `/v1.47/containers/cp-hostile/archive?path=${encodeURIComponent(p)}`, body);
  try {
    const escape = await put('/drop', await makeTar([{ name: '../../escape', content: 'x' }]));
    assert.equal(escape.status, 400);
    assert.match(escape.json<any>().message, /outside of/);

    // A container symlink to a host path means that path inside the container (missing there): 404,
    // for writing and for reading.
    assert.equal((await put('/hostdir', await makeTar([{ name: 'pwned-dest', content: 'h' }]))).status, 404);
    assert.equal((await daemon.request('HEAD', `/v1.47/containers/cp-hostile/archive?path=${encodeURIComponent('/hostdir/')}`)).status, 404);

    // An absolute symlink in the archive, then a file "through" it: lands in the container's copy of that path.
    const viaLink = await put('/drop', await makeTar([
      { name: 'abs', type: 'symlink', linkname: outside },
      { name: 'rel', type: 'symlink', linkname: '../../../../../../../..' },
      { name: 'abs/pwned', content: 'abs' },
      { name: 'rel/pwned-rel', content: 'rel' },
    ]));
    assert.equal(viaLink.status, 200, viaLink.body.toString());

    // Container symlinks as the destination: /evil is the container's root, /hostdir does not exist inside.
    assert.equal((await put('/evil', await makeTar([{ name: 'via-evil', content: 'e' }]))).status, 200);
    const hard = await put('/drop', await makeTar([{ name: 'hl', type: 'link', linkname: '../../../etc/shadow' }]));
    assert.equal(hard.status, 400);

    assert.deepEqual(await fsp.readdir(outside), [], 'nothing was written to the host directory');
    for (const p of [path.join(dataDir, 'escape'), path.join(daemon.dataRoot, 'escape'), '/pwned-rel', '/via-evil', '/escape']) {
      assert.equal(existsSync(p), false, `${p} must not exist`);
    }
    // Inside the container, they are where a chroot would have put them.
    const upper = path.join(dataDir, 'upper');
    assert.equal(await fsp.readFile(path.join(upper, outside, 'pwned'), 'utf8'), 'abs');
    assert.equal(await fsp.readFile(path.join(upper, 'pwned-rel'), 'utf8'), 'rel');
    assert.equal(await fsp.readFile(path.join(upper, 'via-evil'), 'utf8'), 'e');

    assert.equal(await mountedUnderDataRoot(), false);
  } finally {
    await ok(['rm', '-f', id]);
    await fsp.rm(outside, { recursive: true, force: true });
  }
});

test('docker export streams the root filesystem', { skip }, async () => {
  await ok(['run', '--name', 'cp-export', ref, 'sh', '-c', 'echo exported > /marker']);
  const id = 'cp-export';
  try {
    const file = path.join(host, 'export.tar');
    await ok(['export', '-o', file, 'cp-export']);
    const { stdout } = await run('tar', ['tf', file], { maxBuffer: 64 << 20 });
    const names = stdout.split('\n');
    assert.ok(names.includes('bin/busybox'), 'has bin/busybox');
    assert.ok(names.includes('marker'), 'has the container change');
    assert.ok(names.includes('etc/passwd'));
    const { stdout: marker } = await run('tar', ['xOf', file, 'marker']);
    assert.equal(marker, 'exported\n');
    assert.equal(await mountedUnderDataRoot(), false);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('docker diff lists added, changed and deleted paths', { skip }, async () => {
  await ok(['run', '--name', 'cp-diff', ref, 'sh', '-c', 'touch /newfile && rm /etc/group && mkdir /tmp/d && echo x >> /etc/passwd']);
  const id = 'cp-diff';
  try {
    const diff = await ok(['diff', 'cp-diff']);
    assert.deepEqual(diff.trim().split('\n'), ['C /etc', 'D /etc/group', 'C /etc/passwd', 'A /newfile', 'C /tmp', 'A /tmp/d']);
    const fresh = (await ok(['create', ref, 'true'])).trim();
    assert.equal((await ok(['diff', fresh])).trim(), '');
    await ok(['rm', fresh]);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('docker top shows the container processes; 409 when it is not running', { skip }, async () => {
  const id = (await ok(['run', '-d', '--name', 'cp-top', ref, 'sleep', '61'])).trim();
  try {
    const top = await ok(['top', 'cp-top']);
    const lines = top.trim().split('\n');
    assert.match(lines[0] ?? '', /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.equal(lines.length, 2, top);
    assert.match(lines[1] ?? '', /sleep 61$/);
    const custom = (await daemon.request('GET', '/v1.47/containers/cp-top/top?ps_args=-o%20pid,comm')).json<any>();
    assert.deepEqual(custom.Titles, ['PID', 'COMMAND']);
    assert.deepEqual(custom.Processes.map((p: string[]) => p[1]), ['sleep']);
    await ok(['stop', '-t', '0', 'cp-top']);
    const stopped = await daemon.request('GET', '/v1.47/containers/cp-top/top');
    assert.equal(stopped.status, 409);
    assert.match(stopped.json<any>().message, /is not running/);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('cp and export publish container events', { skip }, async () => {
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const events = await ok(['events', '--since', '0', '--until', until, '--filter', 'type=container', '--format', '{{.Action}}']);
  const actions = new Set(events.trim().split('\n'));
  for (const a of ['extract-to-dir', 'archive-path', 'export']) assert.ok(actions.has(a), `${a} event in ${[...actions].join(',')}`);
});
