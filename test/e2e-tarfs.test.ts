// The tar codec and the rooted filesystem through the real docker CLI against berthd: a container
// that makes a tree deeper than PATH_MAX (diff, export, cp both ways, commit, rm), start-up
// removing a container directory without a record, docker cp through volumes, binds and tmpfs
// (running and stopped, read-only refusals), a hard link to nothing, and the build contexts the
// docker CLI rewrites for `build -f <outside>` and `-f -`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TarReader, tarBytes, type TarEntry, type TarHeader } from '../common/tar/index.js';
import type { TestDaemon } from './harness/daemon.js';
import { dockerCliPath, dockerConfigDir } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { run } from './harness/util.js';

const LEVEL = 'nested-directory';
const DEPTH = 1500; // 1500 × 17 bytes of path: far beyond PATH_MAX (4096)

let env: ContainerEnv;
let daemon: TestDaemon;
let ref: string;
let host: string;
let ok: (args: string[], opts?: { input?: string }) => Promise<string>;

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ pull: true });
  ({ daemon, ref } = env);
  ok = (args, opts) => env.ok(args, opts);
  host = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-tarfs-host-'));
});

after(async () => {
  if (skip) return;
  try {
    await stopContainerEnv(env);
  } finally {
    if (host) await run('rm', ['-rf', host]);
  }
});

/** The docker CLI with binary stdin/stdout; asserts exit 0. */
async function dockerBytes(args: string[], input?: Buffer): Promise<Buffer> {
  const r = await run(dockerCliPath(), args, {
    env: { ...process.env, DOCKER_HOST: daemon.dockerHost, DOCKER_CONFIG: dockerConfigDir(daemon) },
    ...(input ? { input } : {}),
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}

async function entries(tar: Uint8Array): Promise<Map<string, TarEntry & { body: string }>> {
  const reader = new TarReader([tar]);
  const out = new Map<string, TarEntry & { body: string }>();
  for await (const e of reader) out.set(e.name, { ...e, body: Buffer.from(await reader.readAll()).toString('utf8') });
  return out;
}

/** A small archive as the Buffer the harness sends as a request body. */
const tarBuffer = (e: Parameters<typeof tarBytes>[0]): Buffer => Buffer.from(tarBytes(e));
const chain = (n: number): string => Array.from({ length: n }, () => LEVEL).join('/');
const containerDirs = async (): Promise<string[]> => fsp.readdir(path.join(daemon.dataRoot, 'containers'));

test('a container tree deeper than PATH_MAX: diff, export, cp both ways, commit and rm', { skip, timeout: 900_000 }, async () => {
  // The container makes it the only way a shell can: wrapping the tree in a new directory 1500
  // times, so that no path it uses is long.
  const script = `mkdir d && echo bottom > d/leaf && for i in $(seq ${DEPTH}); do mkdir t && mv d t/${LEVEL} && mv t d || exit 1; done`;
  await ok(['run', '--name', 'deep', ref, 'sh', '-c', script]);
  const id = (await ok(['inspect', '-f', '{{.Id}}', 'deep'])).trim();
  const leaf = `d/${chain(DEPTH)}/leaf`;
  assert.ok(Buffer.byteLength(leaf) > 4096 * 6);
  try {
    const diff = (await ok(['diff', 'deep'])).trim().split('\n');
    assert.equal(diff.filter((l) => l.startsWith('A /d')).length, DEPTH + 2);
    assert.ok(diff.includes(`A /${leaf}`));

    const exported = path.join(host, 'export.tar');
    await ok(['export', '-o', exported, 'deep']);
    const ex = await entries(await fsp.readFile(exported));
    assert.equal(ex.get(leaf)?.body, 'bottom\n');

    const out = await entries(await dockerBytes(['cp', 'deep:/d', '-']));
    assert.equal(out.get(leaf)?.body, 'bottom\n');
    assert.equal([...out.keys()].filter((n) => n.endsWith('/')).length, DEPTH + 1);

    // In: a deep archive through `docker cp -` (stdin), then read back through the API.
    const h = (x: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>): TarHeader => ({ mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000, ...x });
    const upload = tarBytes([{ header: h({ name: `up/${chain(DEPTH)}/file`, type: 'file', mode: 0o644 }), data: 'uploaded' }]);
    await dockerBytes(['cp', '-', 'deep:/'], Buffer.from(upload));
    const back = await daemon.request('GET', '/v1.47/containers/deep/archive?path=/up');
    assert.equal(back.status, 200, back.body.toString());
    assert.equal((await entries(back.body)).get(`up/${chain(DEPTH)}/file`)?.body, 'uploaded');

    await ok(['commit', 'deep', 'deepimg']);
    const depth = await ok(['run', '--rm', 'deepimg', 'sh', '-c', `cd d; n=0; while cd -P ${LEVEL} 2>/dev/null; do n=$((n+1)); done; echo $n; cat leaf`]);
    assert.equal(depth, `${DEPTH}\nbottom\n`);
  } finally {
    await ok(['rm', '-f', 'deep']);
  }
  assert.ok(!(await containerDirs()).includes(id), 'the container directory is gone');
  await ok(['rmi', 'deepimg']);
});

test('start-up removes a container directory without a record, and nothing else', { skip, timeout: 300_000 }, async () => {
  const orphan = path.join(daemon.dataRoot, 'containers', 'c'.repeat(64));
  const other = path.join(daemon.dataRoot, 'containers', 'not-a-container');
  await fsp.mkdir(path.join(orphan, 'upper'), { recursive: true });
  await fsp.mkdir(other);
  // Deeper than PATH_MAX inside, as a removal that failed on one would have left it.
  let fd = fs.openSync(path.join(orphan, 'upper'), 'r');
  for (let i = 0; i < 400; i++) {
    fs.mkdirSync(`/proc/self/fd/${fd}/${LEVEL}`);
    const next = fs.openSync(`/proc/self/fd/${fd}/${LEVEL}`, 'r');
    fs.closeSync(fd);
    fd = next;
  }
  fs.closeSync(fd);
  try {
    await daemon.restart();
    assert.equal(existsSync(orphan), false, 'the directory without a record is gone');
    assert.equal(existsSync(other), true, 'a directory that is not a container is left alone');
    assert.match(await fsp.readFile(daemon.logFile, 'utf8'), /removed a container directory without a valid record/);
    assert.equal(existsSync(path.join(daemon.dataRoot, 'containers', 'not-a-container')), true);
  } finally {
    await fsp.rm(other, { recursive: true, force: true });
  }
});

test('docker cp into and out of a volume, a bind and a tmpfs; read-only ones refused', { skip, timeout: 300_000 }, async () => {
  const bind = path.join(host, 'bind');
  const roBind = path.join(host, 'ro');
  await fsp.mkdir(bind);
  await fsp.mkdir(roBind);
  await fsp.writeFile(path.join(bind, 'from-host'), 'host file\n');
  await fsp.writeFile(path.join(roBind, 'r'), 'read only\n');
  await fsp.writeFile(path.join(host, 'in.txt'), 'copied in\n');
  const args = ['-v', 'tarfs-vol:/vol', '-v', `${bind}:/bind`, '-v', `${roBind}:/ro:ro`, '--tmpfs', '/scratch'];
  await ok(['run', '-d', '--name', 'mnt', ...args, ref, 'sleep', '300']);
  try {
    for (const dir of ['/vol', '/bind', '/scratch']) {
      await ok(['cp', path.join(host, 'in.txt'), `mnt:${dir}/in.txt`]);
      assert.equal(await ok(['exec', 'mnt', 'cat', `${dir}/in.txt`]), 'copied in\n', `the container sees what cp put in ${dir}`);
      await ok(['exec', 'mnt', 'sh', '-c', `echo made inside > ${dir}/made`]);
      const got = await entries(await dockerBytes(['cp', `mnt:${dir}/made`, '-']));
      assert.equal(got.get('made')?.body, 'made inside\n', `cp sees what the container wrote in ${dir}`);
    }
    assert.equal(await fsp.readFile(path.join(bind, 'in.txt'), 'utf8'), 'copied in\n', 'a bind is the host directory');
    const whole = await entries(await dockerBytes(['cp', 'mnt:/', '-']));
    for (const p of ['/vol/in.txt', '/bind/from-host', '/scratch/made', '/ro/r']) assert.ok(whole.has(p), `${p} in the archive of /`);

    const refused = await run(dockerCliPath(), ['cp', path.join(host, 'in.txt'), 'mnt:/ro/'], { env: { ...process.env, DOCKER_HOST: daemon.dockerHost } });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr.toString(), /mounted volume is marked read-only/);
    const put = await daemon.request('PUT', '/v1.47/containers/mnt/archive?path=/ro', tarBuffer([{ header: { name: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }, data: 'x' }]));
    assert.equal(put.status, 400);

    // Stopped: volumes and binds are still seen through (and held while copying); the tmpfs is gone.
    await ok(['stop', '-t', '1', 'mnt']);
    await ok(['cp', path.join(host, 'in.txt'), 'mnt:/vol/while-stopped']);
    assert.equal((await entries(await dockerBytes(['cp', 'mnt:/vol/while-stopped', '-']))).get('while-stopped')?.body, 'copied in\n');
    assert.equal((await entries(await dockerBytes(['cp', 'mnt:/bind/from-host', '-']))).get('from-host')?.body, 'host file\n');
    assert.deepEqual([...(await entries(await dockerBytes(['cp', 'mnt:/scratch', '-']))).keys()], ['scratch/']);
  } finally {
    await ok(['rm', '-f', '-v', 'mnt']);
    await ok(['volume', 'rm', 'tarfs-vol']);
  }

  // A read-only rootfs refuses cp, except into a writable volume.
  await ok(['create', '--name', 'rorootfs', '--read-only', '-v', 'tarfs-vol2:/data', ref, 'true']);
  try {
    const tar = tarBuffer([{ header: { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 }, data: 'f' }]);
    const root = await daemon.request('PUT', '/v1.47/containers/rorootfs/archive?path=/tmp', tar);
    assert.equal(root.status, 400);
    assert.match(root.body.toString(), /container rootfs is marked read-only/);
    assert.equal((await daemon.request('PUT', '/v1.47/containers/rorootfs/archive?path=/data', tar)).status, 200);
  } finally {
    await ok(['rm', '-v', 'rorootfs']);
    await ok(['volume', 'rm', 'tarfs-vol2']);
  }
});

test('PUT archive with a hard link to a missing target is a 400 and stops there', { skip }, async () => {
  await ok(['create', '--name', 'hl', ref, 'true']);
  try {
    const h = (x: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>): TarHeader => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, ...x });
    const tar = tarBuffer([
      { header: h({ name: 'before', type: 'file' }), data: '1' },
      { header: h({ name: 'link', type: 'link', linkname: 'missing' }) },
      { header: h({ name: 'after', type: 'file' }), data: '2' },
    ]);
    const r = await daemon.request('PUT', '/v1.47/containers/hl/archive?path=/tmp', tar);
    assert.equal(r.status, 400, r.body.toString());
    assert.match(r.json<{ message: string }>().message, /^invalid hardlink "link" -> "missing": \/tmp\/missing: no such file or directory$/);
    const listing = await entries((await daemon.request('GET', '/v1.47/containers/hl/archive?path=/tmp')).body);
    assert.deepEqual([...listing.keys()].sort(), ['tmp/', 'tmp/before']);
  } finally {
    await ok(['rm', 'hl']);
  }
});

test('docker build -f with a Dockerfile outside the context, and -f -', { skip, timeout: 600_000 }, async () => {
  const ctx = path.join(host, 'ctx');
  const elsewhere = path.join(host, 'elsewhere');
  await fsp.mkdir(ctx);
  await fsp.mkdir(elsewhere);
  await fsp.writeFile(path.join(ctx, 'a.txt'), 'from the context\n');
  const dockerfile = `FROM ${ref}\nCOPY a.txt /a.txt\nRUN cat /a.txt\n`;
  await fsp.writeFile(path.join(elsewhere, 'Dockerfile'), dockerfile);
  const build = (args: string[], input?: string): Promise<Buffer> =>
    run(dockerCliPath(), ['build', ...args], {
      env: { ...process.env, DOCKER_HOST: daemon.dockerHost, DOCKER_CONFIG: dockerConfigDir(daemon), DOCKER_BUILDKIT: '0' },
      ...(input !== undefined ? { input: Buffer.from(input) } : {}),
      timeoutMs: 300_000,
    }).then((r) => {
      assert.equal(r.code, 0, `docker build ${args.join(' ')}: ${r.stdout.toString()}${r.stderr.toString()}`);
      return r.stdout;
    });
  const outside = await build(['-t', 'tarfs-outside', '-f', path.join(elsewhere, 'Dockerfile'), ctx]);
  assert.match(outside.toString(), /from the context/);
  const stdin = await build(['-t', 'tarfs-stdin', '--no-cache', '-f', '-', ctx], dockerfile);
  assert.match(stdin.toString(), /from the context/);
  assert.equal(await ok(['run', '--rm', 'tarfs-stdin', 'cat', '/a.txt']), 'from the context\n');
  await ok(['rmi', 'tarfs-outside', 'tarfs-stdin']);
});
