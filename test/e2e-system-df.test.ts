// GET /system/df against what the docker CLI makes of it (`docker system df`): images that
// share a layer count it once (LayersSize), build intermediates are not images, every container
// is listed with its writable layer (SizeRw) and paused ones are active, volumes carry their
// size and users, and `type=` asks for some sections only. Then the daemon's own log file:
// written by default beside the data, rotated by size, and named in the launch record beside
// the socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp, statSync } from 'node:fs';
import path from 'node:path';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { startDaemon } from './harness/daemon.js';
import { busyboxLayer, pushImage, randomLayer } from './harness/images.js';

let env: ContainerEnv;

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ pull: true });
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

/** docker's units.HumanSize ("2.129MB", "512B", "1.5kB") back to bytes. */
function humanBytes(s: string): number {
  const m = /^([\d.]+)\s*(B|kB|MB|GB|TB)$/.exec(s.trim());
  assert.ok(m, `not a size: ${s}`);
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[m[2] as 'B'];
  return Number(m[1]) * unit;
}

/** Equal within the 4 significant digits docker prints. */
function near(printed: string, bytes: number, what: string): void {
  const got = humanBytes(printed);
  assert.ok(Math.abs(got - bytes) <= Math.max(1, bytes * 0.0006), `${what}: docker printed ${printed}, the engine says ${bytes} bytes`);
}

interface DfRow {
  Type: string;
  TotalCount: string;
  Active: string;
  Size: string;
  Reclaimable: string;
}

interface Df {
  LayersSize: number;
  Images: { Id: string; RepoTags: string[]; Size: number; SharedSize: number; Containers: number }[] | null;
  Containers: { Id: string; State: string; SizeRw?: number; SizeRootFs?: number }[] | null;
  Volumes: { Name: string; UsageData?: { Size: number; RefCount: number } }[] | null;
  BuildCache: unknown[] | null;
}

test('system df: shared layers once, no intermediates, containers with their writable layers, paused ones active, volumes with sizes', { skip, timeout: 240_000 }, async () => {
  const { ok, daemon, registry } = env;
  // Two images on the same 1 MB base: the base is on disk once.
  const base = randomLayer('base.bin', 1_000_000);
  const bb = await busyboxLayer();
  await pushImage(registry, 'df/one:1', { layers: [bb, base, randomLayer('one.bin', 200_000)], config: { Cmd: ['sh'] } });
  await pushImage(registry, 'df/two:1', { layers: [bb, base, randomLayer('two.bin', 300_000)], config: { Cmd: ['sh'] } });
  const one = `${registry.host}/df/one:1`;
  const two = `${registry.host}/df/two:1`;
  await ok(['pull', one]);
  await ok(['pull', two]);
  // A build intermediate: an untagged image another image is made from.
  await ok(['run', '--name', 'step1', one, 'sh', '-c', 'echo a > /a']);
  const mid = (await ok(['commit', 'step1'])).trim();
  await ok(['run', '--name', 'step2', mid, 'sh', '-c', 'echo b > /b']);
  await ok(['commit', 'step2', 'df/final:1']);
  // Containers in every state, one with 100 kB in its writable layer.
  await ok(['run', '-d', '--name', 'busy', one, 'sh', '-c', 'head -c 100000 /dev/zero > /fill; sleep 600']);
  await ok(['run', '-d', '--name', 'napping', two, 'sleep', '600']);
  await ok(['pause', 'napping']);
  await ok(['create', '--name', 'fresh', two, 'true']);
  await ok(['volume', 'create', 'keep']);
  await ok(['run', '--rm', '-v', 'keep:/v', one, 'sh', '-c', 'head -c 50000 /dev/zero > /v/data']);
  await ok(['run', '-d', '--name', 'user', '-v', 'held:/v', one, 'sh', '-c', 'head -c 20000 /dev/zero > /v/data; sleep 600']);
  try {
    const df = (await daemon.request('GET', '/v1.47/system/df')).json<Df>();
    const tags = (df.Images ?? []).flatMap((i) => i.RepoTags).sort();
    assert.deepEqual(tags, [`${registry.host}/library/busybox:1.36`, 'df/final:1', one, two].sort(), 'top-level images only: no intermediate');
    assert.ok(!(df.Images ?? []).some((i) => i.Id === mid), 'the committed intermediate is not an image of its own');

    const byTag = (t: string): NonNullable<Df['Images']>[number] => (df.Images ?? []).find((i) => i.RepoTags.includes(t))!;
    const [a, b] = [byTag(one), byTag(two)];
    assert.ok(b.SharedSize >= 1_000_000 && b.SharedSize < b.Size, `two shares busybox and the base with one: ${b.SharedSize} of ${b.Size}`);
    assert.equal(a.SharedSize, a.Size, 'every layer of one is also in final');
    assert.equal(a.Containers, 3, 'busy, step1 and user are made from one');
    assert.equal(b.Containers, 2, 'napping and fresh are made from two');
    const summed = (df.Images ?? []).reduce((n, i) => n + i.Size, 0);
    assert.ok(df.LayersSize < summed - 1_000_000, `LayersSize (${df.LayersSize}) counts the shared base once (sum of sizes ${summed})`);

    const containers = df.Containers ?? [];
    assert.deepEqual(containers.map((c) => c.State).sort(), ['created', 'exited', 'exited', 'paused', 'running', 'running'], 'every container, in every state');
    const busyId = (await ok(['inspect', '-f', '{{.Id}}', 'busy'])).trim();
    const busy = containers.find((c) => c.Id === busyId)!;
    assert.ok((busy.SizeRw ?? 0) >= 100_000, `busy's writable layer holds /fill: ${busy.SizeRw}`);
    assert.ok((busy.SizeRootFs ?? 0) >= (busy.SizeRw ?? 0) + a.Size - 1, 'SizeRootFs adds the image');

    const vols = Object.fromEntries((df.Volumes ?? []).map((v) => [v.Name, v.UsageData]));
    assert.equal(vols['keep']?.RefCount, 0);
    assert.ok((vols['keep']?.Size ?? 0) >= 50_000, `keep's size: ${vols['keep']?.Size}`);
    assert.equal(vols['held']?.RefCount, 1);

    // The docker CLI's own summary agrees, line by line.
    const rows = Object.fromEntries(
      (await ok(['system', 'df', '--format', '{{json .}}']))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as DfRow)
        .map((r) => [r.Type, r]),
    );
    assert.equal(rows['Images']?.TotalCount, '4');
    assert.equal(rows['Images']?.Active, '2', 'one and two have containers');
    near(rows['Images']!.Size, df.LayersSize, 'images size');
    assert.equal(rows['Containers']?.TotalCount, '6');
    assert.equal(rows['Containers']?.Active, '3', 'running and paused containers are active');
    near(rows['Containers']!.Size, containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0), 'containers size');
    assert.equal(rows['Local Volumes']?.TotalCount, '2');
    assert.equal(rows['Local Volumes']?.Active, '1');

    // type= asks for sections; the rest are null, an unknown one is refused.
    const only = (await daemon.request('GET', '/v1.47/system/df?type=volume')).json<Df>();
    assert.equal(only.Images, null);
    assert.equal(only.Containers, null);
    assert.equal(only.Volumes?.length, 2);
    const bad = await daemon.request('GET', '/v1.47/system/df?type=disks');
    assert.equal(bad.status, 400);
    assert.match(bad.json<{ message: string }>().message, /unknown object type: disks/);
  } finally {
    await docker(daemon, ['rm', '-f', 'busy', 'napping', 'fresh', 'step1', 'step2', 'user']);
    await docker(daemon, ['volume', 'rm', 'keep', 'held']);
    await docker(daemon, ['rmi', 'df/final:1', mid, one, two]);
  }
});

test('the daemon keeps its own log beside its data, rotated by size, and names it beside the socket', { skip, timeout: 120_000 }, async () => {
  // The shared daemon: the default file, and the launch record.
  const record = JSON.parse(await fsp.readFile(`${env.daemon.socket}.berthd.json`, 'utf8')) as { pid: number; logFile: string; command: string[]; dataRoot: string; hosts: string[] };
  const logFile = path.join(env.daemon.dataRoot, 'berthd.log');
  assert.equal(record.logFile, await fsp.realpath(logFile).catch(() => logFile));
  assert.equal(record.pid, env.daemon.pid);
  assert.deepEqual(record.hosts, [env.daemon.dockerHost]);
  assert.ok(record.command.some((a) => a.endsWith('daemon/cli.js')), `the command runs the daemon: ${record.command.join(' ')}`);
  assert.equal(statSync(`${env.daemon.socket}.berthd.json`).mode & 0o777, 0o644);
  assert.match(await fsp.readFile(logFile, 'utf8'), /"msg":"berthd started"/);
  assert.equal(statSync(logFile).mode & 0o777, 0o640);

  // A small limit: the file rotates, two old ones are kept, none is much over the limit.
  const small = await startDaemon({ extraArgs: ['--log-file-max-size', '2k', '--log-file-max-files', '2'] });
  try {
    const file = path.join(small.dataRoot, 'berthd.log');
    for (let i = 0; i < 60; i++) await small.request('GET', `/v1.47/containers/nothing-${i}/json`);
    assert.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`), 'rotated twice at least');
    assert.ok(!existsSync(`${file}.3`), 'only two rotated files are kept');
    for (const f of [file, `${file}.1`, `${file}.2`]) assert.ok(statSync(f).size <= 2048 + 1024, `${f} stays near the limit: ${statSync(f).size}`);
  } finally {
    await small.cleanup();
  }

  // --log-file "" logs to stderr only.
  const quiet = await startDaemon({ extraArgs: ['--log-file', ''] });
  try {
    assert.ok(!existsSync(path.join(quiet.dataRoot, 'berthd.log')));
    const rec = JSON.parse(await fsp.readFile(`${quiet.socket}.berthd.json`, 'utf8')) as { logFile: string | null };
    assert.equal(rec.logFile, null);
  } finally {
    await quiet.cleanup();
  }
});
