// Pulls through berthd's API from a real Debian docker-registry: progress stream,
// stored layout, platforms, digests, faults, hostile layers and concurrency.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, existsSync } from 'node:fs';
import path from 'node:path';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { busyboxLayer, buildTar, pushImage, pushIndex, pushRawLayers, type PushedImage } from './harness/images.js';
import { startFaultProxy } from './harness/proxy.js';
import { parseNdjson, pull } from './harness/api.js';

let registry: TestRegistry;
let daemon: TestDaemon;
let busybox: PushedImage;
let multi: PushedImage;

before(async () => {
  registry = await startRegistry();
  daemon = await startDaemon({ extraArgs: ['--max-download-attempts', '2'] });
  const bb = await busyboxLayer();
  busybox = await pushImage(registry, 'library/busybox:latest', {
    layers: [bb],
    config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Labels: { tier: 'base' } },
  });
  multi = await pushImage(registry, 'team/multi:v1', {
    layers: [
      bb,
      {
        files: [
          { type: 'dir', path: 'data' },
          { type: 'file', path: 'data/keep.txt', content: 'keep\n' },
          { type: 'file', path: 'data/gone.txt', content: 'gone\n' },
          { type: 'dir', path: 'opaque' },
          { type: 'file', path: 'opaque/old.txt', content: 'old\n' },
        ],
      },
      {
        compression: 'zstd',
        files: [
          { type: 'file', path: 'data/.wh.gone.txt', content: '' },
          { type: 'dir', path: 'opaque' },
          { type: 'file', path: 'opaque/.wh..wh..opq', content: '' },
          { type: 'file', path: 'opaque/new.txt', content: 'new\n' },
        ],
      },
      { compression: 'none', files: [{ type: 'file', path: 'etc/motd', content: 'hello from layer 4\n', mode: 0o644 }] },
    ],
    config: { Cmd: ['cat', '/etc/motd'], Labels: { tier: 'app' } },
  });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
});

const statuses = (msgs: Array<Record<string, unknown>>): string[] => msgs.map((m) => String(m['status'] ?? ''));

test('pull streams Docker progress messages and stores the image', async () => {
  const res = await pull(daemon, `${registry.host}/library/busybox`, 'latest');
  assert.equal(res.status, 200);
  const msgs = res.messages;
  const st = statuses(msgs);
  assert.equal(msgs.find((m) => m['error']), undefined, JSON.stringify(msgs));
  assert.equal(st[0], 'Pulling from library/busybox');
  for (const s of ['Pulling fs layer', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete']) {
    assert.ok(st.includes(s), `missing "${s}" in ${st.join(' | ')}`);
  }
  const dl = msgs.find((m) => m['status'] === 'Downloading') as { progressDetail: { current: number; total: number } };
  assert.ok(dl.progressDetail.total > 0 && dl.progressDetail.current <= dl.progressDetail.total);
  assert.ok(st.includes(`Digest: ${busybox.manifestDigest}`));
  assert.equal(st.at(-1), `Status: Downloaded newer image for ${registry.host}/library/busybox:latest`);

  const again = await pull(daemon, `${registry.host}/library/busybox`, 'latest');
  assert.ok(statuses(again.messages).includes('Already exists'));
  assert.equal(statuses(again.messages).at(-1), `Status: Image is up to date for ${registry.host}/library/busybox:latest`);

  const list = (await daemon.request('GET', '/v1.47/images/json')).json<Array<Record<string, unknown>>>();
  const img = list.find((i) => i['Id'] === busybox.configDigest);
  assert.ok(img, JSON.stringify(list));
  assert.deepEqual(img['RepoTags'], [`${registry.host}/library/busybox:latest`]);
  assert.deepEqual(img['RepoDigests'], [`${registry.host}/library/busybox@${busybox.manifestDigest}`]);
  assert.ok((img['Size'] as number) > 500_000);

  const inspect = (await daemon.request('GET', `/images/${registry.host}/library/busybox:latest/json`)).json<
    Record<string, any>
  >();
  assert.equal(inspect['Id'], busybox.configDigest);
  assert.deepEqual(inspect['Config']['Cmd'], ['sh']);
  assert.deepEqual(inspect['RootFS']['Layers'], busybox.diffIds);
  // The unpacked layer is a usable overlay lower dir with the busybox binary in it.
  const upper = inspect['GraphDriver']['Data']['UpperDir'] as string;
  assert.ok(upper.startsWith(daemon.dataRoot));
  const st2 = await fsp.stat(path.join(upper, 'bin/busybox'));
  assert.ok(st2.isFile() && (st2.mode & 0o111) !== 0);
});

test('multi-layer image: gzip, zstd and uncompressed layers, whiteouts in overlay form', async () => {
  const res = await pull(daemon, `${registry.host}/team/multi`, 'v1');
  assert.equal(res.messages.find((m) => m['error']), undefined, JSON.stringify(res.messages));
  const inspect = (await daemon.request('GET', `/images/${registry.host}/team/multi:v1/json`)).json<Record<string, any>>();
  assert.equal(inspect['Id'], multi.configDigest);
  const dirs = [inspect['GraphDriver']['Data']['UpperDir'], ...String(inspect['GraphDriver']['Data']['LowerDir']).split(':')];
  assert.equal(dirs.length, 4);
  const whiteoutLayer = dirs[1] as string;
  const wh = await fsp.stat(path.join(whiteoutLayer, 'data/gone.txt'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 character device');
  assert.equal(existsSync(path.join(whiteoutLayer, 'data/.wh.gone.txt')), false);
  assert.equal(await fsp.readFile(path.join(dirs[0] as string, 'etc/motd'), 'utf8'), 'hello from layer 4\n');
  // The busybox layer is shared with the busybox image: stored once.
  const busyboxInspect = (await daemon.request('GET', `/images/${registry.host}/library/busybox:latest/json`)).json<
    Record<string, any>
  >();
  assert.equal(dirs[3], busyboxInspect['GraphDriver']['Data']['UpperDir']);
  assert.ok(statuses(res.messages).includes('Already exists'));
});

test('a multi-platform index resolves to this host platform; pulls by digest work', async () => {
  const bb = await busyboxLayer();
  const idx = await pushIndex(registry, 'multiarch/app:1', [
    { layers: [bb], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, config: { Labels: { arch: 'arm64' } } },
    { layers: [bb], platform: { os: 'linux', architecture: hostArch() }, config: { Labels: { arch: 'host' } } },
  ]);
  const res = await pull(daemon, `${registry.host}/multiarch/app`, '1');
  assert.equal(res.messages.find((m) => m['error']), undefined, JSON.stringify(res.messages));
  assert.ok(statuses(res.messages).includes(`Digest: ${idx.indexDigest}`));
  const inspect = (await daemon.request('GET', `/images/${registry.host}/multiarch/app:1/json`)).json<Record<string, any>>();
  assert.equal(inspect['Config']['Labels']['arch'], 'host');
  assert.deepEqual(inspect['RepoDigests'], [`${registry.host}/multiarch/app@${idx.indexDigest}`]);

  // Explicit platform selects the other manifest.
  const arm = await pull(daemon, `${registry.host}/multiarch/app`, '1', { platform: 'linux/arm64/v8' });
  assert.equal(arm.messages.find((m) => m['error']), undefined, JSON.stringify(arm.messages));
  const armInspect = (await daemon.request('GET', `/images/${registry.host}/multiarch/app:1/json`)).json<Record<string, any>>();
  assert.equal(armInspect['Config']['Labels']['arch'], 'arm64');

  // By digest: no tag is created, the repo digest names it.
  const byDigest = await pull(daemon, `${registry.host}/team/multi@${multi.manifestDigest}`, undefined);
  assert.equal(byDigest.messages.find((m) => m['error']), undefined);
  const r = await daemon.request('GET', `/images/${registry.host}/team/multi@${multi.manifestDigest}/json`);
  assert.equal(r.status, 200);
  assert.equal(r.json<Record<string, string>>()['Id'], multi.configDigest);

  const missing = await pull(daemon, `${registry.host}/multiarch/app`, '1', { platform: 'linux/s390x' });
  assert.equal(missing.status, 404);
  assert.match(String(missing.error), /no matching manifest for linux\/s390x/);
});

test('errors before progress are plain HTTP errors with Docker statuses', async () => {
  const notThere = await pull(daemon, `${registry.host}/nope/nothing`, 'latest');
  assert.equal(notThere.status, 404);
  assert.match(String(notThere.error), /not found|does not exist/);
  const bad = await pull(daemon, 'UPPER/Case', 'latest');
  assert.equal(bad.status, 400);
  assert.match(String(bad.error), /invalid reference format/);
  const noImage = await daemon.request('GET', '/images/definitely-not-here:1/json');
  assert.equal(noImage.status, 404);
  assert.deepEqual(noImage.json(), { message: 'No such image: definitely-not-here:1' });
  const badFilter = await daemon.request('GET', `/images/json?filters=${encodeURIComponent('{"colour":["red"]}')}`);
  assert.equal(badFilter.status, 400);
  const notJson = await daemon.request('GET', '/images/json?filters=%7Bnope');
  assert.equal(notJson.status, 400);
});

test('a corrupted blob fails verification, stores nothing and the daemon keeps serving', async () => {
  const bad = await pushImage(registry, 'team/corrupt:1', {
    layers: [{ files: [{ type: 'file', path: 'payload.bin', content: Buffer.alloc(300_000, 7) }] }],
  });
  const layerDigest = bad.layerDigests[0] as string;
  const proxy = await startFaultProxy(registry.host, { corruptBlob: layerDigest });
  try {
    const res = await pull(daemon, `${proxy.host}/team/corrupt`, '1');
    const err = res.messages.find((m) => m['error']) as { error: string; errorDetail: { message: string } } | undefined;
    assert.ok(err, 'pull reports an error in the stream');
    assert.match(err.error, /verification failed|digest mismatch/);
    assert.equal(err.errorDetail.message, err.error);
    const list = (await daemon.request('GET', '/images/json')).json<Array<{ Id: string }>>();
    assert.equal(list.some((i) => i.Id === bad.configDigest), false);
    assert.equal(existsSync(path.join(daemon.dataRoot, 'content/blobs/sha256', layerDigest.slice(7))), false);
    assert.deepEqual(await fsp.readdir(path.join(daemon.dataRoot, 'content/ingest')), []);
    assert.deepEqual(await fsp.readdir(path.join(daemon.dataRoot, 'layers/tmp')), []);
  } finally {
    await proxy.stop();
  }
  assert.equal((await daemon.request('GET', '/_ping')).status, 200);
});

test('a connection cut mid-layer is retried, then reported clearly', async () => {
  const img = await pushImage(registry, 'team/truncated:1', {
    layers: [{ files: [{ type: 'file', path: 'big.bin', content: Buffer.alloc(2_000_000, 3) }], compression: 'none' }],
  });
  const proxy = await startFaultProxy(registry.host, { truncateBlob: img.layerDigests[0] as string });
  try {
    const res = await pull(daemon, `${proxy.host}/team/truncated`, '1');
    const st = statuses(res.messages);
    assert.ok(st.some((s) => s.startsWith('Retrying in')), st.join(' | '));
    assert.ok(res.messages.some((m) => m['error']));
    assert.deepEqual(await fsp.readdir(path.join(daemon.dataRoot, 'layers/tmp')), []);
  } finally {
    await proxy.stop();
  }
});

test('blob redirects to another host are followed', async () => {
  const img = await pushImage(registry, 'team/redirected:1', {
    layers: [{ files: [{ type: 'file', path: 'r.txt', content: 'redirected\n' }] }],
  });
  const proxy = await startFaultProxy(registry.host, { redirectBlobs: true });
  try {
    const res = await pull(daemon, `${proxy.host}/team/redirected`, '1');
    assert.equal(res.messages.find((m) => m['error']), undefined, JSON.stringify(res.messages));
    const inspect = (await daemon.request('GET', `/images/${proxy.host}/team/redirected:1/json`)).json<Record<string, string>>();
    assert.equal(inspect['Id'], img.configDigest);
  } finally {
    await proxy.stop();
  }
});

test('concurrent pulls of one image share the layer download', async () => {
  const img = await pushImage(registry, 'team/shared:1', {
    layers: [{ files: [{ type: 'file', path: 'blob.bin', content: Buffer.alloc(1_500_000, 9) }] }],
  });
  const proxy = await startFaultProxy(registry.host, { slowBlob: { digest: img.layerDigests[0] as string, bytesPerSec: 3_000_000 } });
  try {
    const results = await Promise.all([1, 2, 3].map(() => pull(daemon, `${proxy.host}/team/shared`, '1')));
    for (const r of results) assert.equal(r.messages.find((m) => m['error']), undefined, JSON.stringify(r.messages));
    const blobPath = `/v2/team/shared/blobs/${img.layerDigests[0]}`;
    assert.equal(proxy.hits.get(blobPath), 1, JSON.stringify([...proxy.hits]));
  } finally {
    await proxy.stop();
  }
});

test('hostile layers are refused and never write outside the store', async () => {
  const sentinelDir = path.join(path.dirname(daemon.dataRoot), `sentinel-${process.pid}`);
  await fsp.mkdir(sentinelDir, { recursive: true });
  const cases: Array<{ name: string; layers: Buffer[] }> = [
    { name: 'dotdot', layers: [await buildTar([{ type: 'file', path: '../../../../../../../tmp/berth-escape-dotdot', content: 'x' }])] },
    {
      name: 'symlink-then-write',
      layers: [
        await buildTar([
          { type: 'symlink', path: 'evil', target: sentinelDir },
          { type: 'file', path: 'evil/pwned', content: 'x' },
        ]),
      ],
    },
    {
      name: 'hardlink-out',
      layers: [await buildTar([{ type: 'hardlink', path: 'passwd', target: '../../../../../../../etc/passwd' }])],
    },
    {
      name: 'symlink-dir-then-hardlink',
      layers: [
        await buildTar([
          { type: 'symlink', path: 'etcdir', target: '/etc' },
          { type: 'hardlink', path: 'shadow', target: 'etcdir/hostname' },
        ]),
      ],
    },
    {
      // A symlink made by a lower layer does not reach into the next layer: each unpacks alone.
      name: 'cross-layer-symlink',
      layers: [
        await buildTar([{ type: 'symlink', path: 'escape', target: sentinelDir }]),
        await buildTar([
          { type: 'dir', path: 'escape' },
          { type: 'file', path: 'escape/pwned-cross', content: 'x' },
        ]),
      ],
    },
  ];
  for (const c of cases) {
    await pushRawLayers(registry, `hostile/${c.name}:1`, c.layers);
    const res = await pull(daemon, `${registry.host}/hostile/${c.name}`, '1');
    const err = res.messages.find((m) => m['error']) ?? (res.error ? { error: res.error } : undefined);
    if (c.name === 'cross-layer-symlink') {
      // Allowed: the second layer gets a real directory of its own.
      assert.equal(err, undefined, JSON.stringify(res.messages));
    } else {
      assert.ok(err, `${c.name} must be refused`);
      assert.match(String((err as { error: string }).error), /escape|outside|hostile|refus/i, c.name);
    }
  }
  assert.deepEqual(await fsp.readdir(sentinelDir), []);
  assert.equal(existsSync('/tmp/berth-escape-dotdot'), false);
  assert.deepEqual(await fsp.readdir(path.join(daemon.dataRoot, 'layers/tmp')), []);
  assert.equal((await daemon.request('GET', '/_ping')).status, 200);
  await fsp.rm(sentinelDir, { recursive: true, force: true });
});

test('NDJSON framing: every line of a pull stream is one JSON object', async () => {
  const res = await daemon.request('POST', `/images/create?fromImage=${encodeURIComponent(`${registry.host}/team/multi`)}&tag=v1`);
  assert.equal(res.headers['content-type'], 'application/json');
  const msgs = parseNdjson(res.body);
  assert.ok(msgs.length > 2);
});

function hostArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}
