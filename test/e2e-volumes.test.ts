// Volumes and container mounts through the real docker CLI against berthd: volume create/ls/
// inspect/rm/prune, named and anonymous volumes, -v binds, --mount, --tmpfs, --volumes-from,
// copy-up of an image's VOLUME content, tmpfs-typed local volumes mounted only while used (also
// across a daemon restart), and bad creates that must leave nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import type { TestDaemon } from './harness/daemon.js';
import { busyboxLayer, pushImage } from './harness/images.js';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeDir, run } from './harness/util.js';

const BERTH = fileURLToPath(new URL('../../bin/berth', import.meta.url));

let env: ContainerEnv;
let daemon: TestDaemon;
let ref: string;
let ok: ContainerEnv['ok'];
/** An image with `VOLUME /data` whose layer holds data/x, data/link -> x, and `hostile -> ../../../../../../../../etc` as a second VOLUME. */
let volImage: string;
let hostDir: string;

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ pull: true });
  ({ daemon, ref, ok } = env);
  const bb = await busyboxLayer();
  await pushImage(env.registry, 'library/voltest:1', {
    layers: [
      bb,
      {
        files: [
          { type: 'dir', path: 'data', mode: 0o750, uid: 1000, gid: 1000 },
          { type: 'file', path: 'data/x', content: 'from image\n', mode: 0o640, uid: 1000, gid: 1000 },
          { type: 'symlink', path: 'data/link', target: 'x' },
          { type: 'symlink', path: 'hostile', target: '../../../../../../../../etc' },
        ],
      },
    ],
    config: { Cmd: ['sh'], Volumes: { '/data': {}, '/hostile': {} } },
  });
  volImage = `${env.registry.host}/library/voltest:1`;
  await ok(['pull', volImage]);
  hostDir = await makeTempDir('berth-vol-host-');
});

after(async () => {
  if (skip) return;
  try {
    const left = (await ok(['volume', 'ls', '-q'])).trim();
    if (left) await ok(['volume', 'rm', '-f', ...left.split('\n')]);
    assert.deepEqual(await fsp.readdir(path.join(daemon.dataRoot, 'volumes')), [], 'no volume directories left');
  } finally {
    await stopContainerEnv(env);
    await removeDir(hostDir);
  }
});

const volumeNames = async (): Promise<string[]> => (await ok(['volume', 'ls', '-q'])).split('\n').filter((l) => l !== '').sort();
const inspect = async (what: string): Promise<any> => JSON.parse(await ok(['inspect', what]))[0];
const hostMounts = async (): Promise<string> => fsp.readFile('/proc/self/mountinfo', 'utf8');

test('volume create, ls with filters, inspect, idempotent create, rm, and hostile names', { skip }, async () => {
  assert.equal((await ok(['volume', 'create', '--label', 'team=a', 'v1'])).trim(), 'v1');
  assert.equal((await ok(['volume', 'create', '--label', 'team=a', 'v1'])).trim(), 'v1', 'the same name again is the same volume');
  assert.equal((await ok(['volume', 'create', 'v2'])).trim(), 'v2');
  const v = JSON.parse(await ok(['volume', 'inspect', 'v1']))[0];
  assert.equal(v.Name, 'v1');
  assert.equal(v.Driver, 'local');
  assert.equal(v.Scope, 'local');
  assert.deepEqual(v.Labels, { team: 'a' });
  assert.equal(v.Mountpoint, path.join(daemon.dataRoot, 'volumes', 'v1', '_data'));
  assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok((await fsp.stat(v.Mountpoint)).isDirectory());

  assert.deepEqual(await volumeNames(), ['v1', 'v2']);
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'label=team=a'])).trim(), 'v1');
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'label=team'])).trim(), 'v1');
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'name=v2'])).trim(), 'v2');
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'driver=local'])).trim().split('\n').length, 2);
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'dangling=true'])).trim().split('\n').length, 2);
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'dangling=false'])).trim(), '');
  const badFilter = await docker(daemon, ['volume', 'ls', '--filter', 'color=red']);
  assert.notEqual(badFilter.code, 0);
  assert.match(badFilter.stderr, /invalid filter 'color'/);

  const hostile = await docker(daemon, ['volume', 'create', '../x']);
  assert.notEqual(hostile.code, 0);
  assert.match(hostile.stderr, /includes invalid characters for a local volume name/);
  const slash = await daemon.request('POST', '/v1.47/volumes/create', { Name: 'a/../../b' });
  assert.equal(slash.status, 400);
  const dotted = await daemon.request('GET', '/v1.47/volumes/..%2Fx');
  assert.equal(dotted.status, 404);
  const plugin = await daemon.request('POST', '/v1.47/volumes/create', { Name: 'v3', Driver: 'nope' });
  assert.equal(plugin.status, 404);
  assert.match(plugin.json<{ message: string }>().message, /plugin "nope" not found/);
  const badOpt = await docker(daemon, ['volume', 'create', '-o', 'color=red', 'v3']);
  assert.notEqual(badOpt.code, 0);
  assert.match(badOpt.stderr, /invalid option: "color"/);
  const missing = await docker(daemon, ['volume', 'inspect', 'nosuch']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no such volume/);

  await ok(['volume', 'rm', 'v1', 'v2']);
  assert.deepEqual(await volumeNames(), []);
  assert.equal((await daemon.request('DELETE', '/v1.47/volumes/v1')).status, 404);
  assert.equal((await daemon.request('DELETE', '/v1.47/volumes/v1?force=1')).status, 204);
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const events = await ok(['events', '--since', '0', '--until', until, '--filter', 'type=volume', '--format', '{{.Action}} {{.Actor.ID}}']);
  assert.deepEqual(events.trim().split('\n'), ['create v1', 'create v2', 'destroy v1', 'destroy v2']);
});

test('a named volume keeps data between containers and cannot be removed while a container uses it', { skip }, async () => {
  await ok(['run', '--rm', '-v', 'shared:/data', ref, 'sh', '-c', 'echo kept > /data/f']);
  assert.deepEqual(await volumeNames(), ['shared'], '-v with a name creates the volume');
  assert.equal(await ok(['run', '--rm', '-v', 'shared:/data', ref, 'cat', '/data/f']), 'kept\n', '--rm keeps named volumes');
  const id = (await ok(['create', '--name', 'user', '-v', 'shared:/data', ref, 'true'])).trim();
  try {
    const m = (await inspect('user')).Mounts;
    assert.deepEqual(m, [
      { Type: 'volume', Name: 'shared', Source: path.join(daemon.dataRoot, 'volumes', 'shared', '_data'), Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
    ]);
    const refused = await daemon.request('DELETE', '/v1.47/volumes/shared');
    assert.equal(refused.status, 409);
    assert.match(refused.json<{ message: string }>().message, new RegExp(`volume is in use - \\[${id}\\]`));
    assert.match(refused.json<{ message: string }>().message, /\(used by container user\)$/, 'the refusal names the container');
    const cli = await docker(daemon, ['volume', 'rm', 'shared']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /volume is in use/);
    assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'dangling=false'])).trim(), 'shared');
    assert.equal((await ok(['ps', '-aq', '--filter', 'volume=shared'])).trim(), id.slice(0, 12));
    const prune = await ok(['volume', 'prune', '-af']);
    assert.doesNotMatch(prune, /shared/, 'prune skips volumes in use');
  } finally {
    await ok(['rm', '-v', 'user']);
  }
  assert.deepEqual(await volumeNames(), ['shared'], 'rm -v keeps named volumes');
  await ok(['volume', 'rm', 'shared']);
});

test('-v host binds: rw and ro, a missing host directory is created, a relative path is refused', { skip }, async () => {
  await fsp.writeFile(path.join(hostDir, 'in'), 'from host\n');
  assert.equal(await ok(['run', '--rm', '-v', `${hostDir}:/mnt`, ref, 'sh', '-c', 'cat /mnt/in; echo back > /mnt/out']), 'from host\n');
  assert.equal(await fsp.readFile(path.join(hostDir, 'out'), 'utf8'), 'back\n');
  const ro = await docker(daemon, ['run', '--rm', '-v', `${hostDir}:/mnt:ro`, ref, 'sh', '-c', 'cat /mnt/in && echo x > /mnt/denied']);
  assert.notEqual(ro.code, 0);
  assert.equal(ro.stdout, 'from host\n');
  assert.match(ro.stderr, /Read-only file system/);
  await assert.rejects(fsp.stat(path.join(hostDir, 'denied')));

  const fresh = path.join(hostDir, 'made', 'by', 'berth');
  await ok(['run', '--rm', '-v', `${fresh}:/m`, ref, 'sh', '-c', 'echo hi > /m/f']);
  assert.equal(await fsp.readFile(path.join(fresh, 'f'), 'utf8'), 'hi\n');

  const rel = await daemon.request('POST', '/v1.47/containers/create', { Image: ref, HostConfig: { Binds: ['../x:/y'] } });
  assert.equal(rel.status, 400);
  assert.match(rel.json<{ message: string }>().message, /includes invalid characters for a local volume name/);
  const badMode = await daemon.request('POST', '/v1.47/containers/create', { Image: ref, HostConfig: { Binds: [`${hostDir}:/y:bogus`] } });
  assert.equal(badMode.status, 400);
  assert.match(badMode.json<{ message: string }>().message, /invalid mode: bogus/);
});

test('--mount bind (readonly), volume (nocopy, labels), tmpfs (size, mode); --tmpfs', { skip }, async () => {
  const out = await ok([
    'run', '--rm', '--name', 'mounter',
    '--mount', `type=bind,src=${hostDir},dst=/b,readonly`,
    '--mount', 'type=volume,src=mv,dst=/v,volume-label=made=by-mount',
    '--mount', 'type=tmpfs,dst=/t,tmpfs-size=1048576,tmpfs-mode=1770',
    '--tmpfs', '/u:size=2m,exec',
    ref, 'sh', '-c', 'cat /b/in; touch /b/no 2>/dev/null || echo ro; grep -E " /(t|u) " /proc/mounts; stat -c %a /t',
  ]);
  const lines = out.trim().split('\n');
  assert.equal(lines[0], 'from host');
  assert.equal(lines[1], 'ro');
  const t = lines.find((l) => l.includes(' /t '));
  const u = lines.find((l) => l.includes(' /u '));
  assert.match(t ?? '', /^tmpfs \/t tmpfs rw,nosuid,nodev,noexec,.*size=1024k,mode=1770/);
  assert.match(u ?? '', /^tmpfs \/u tmpfs rw,nosuid,nodev,.*size=2048k/);
  assert.doesNotMatch(u ?? '', /noexec/, 'exec overrides the default noexec');
  assert.equal(lines[lines.length - 1], '1770');
  const mv = JSON.parse(await ok(['volume', 'inspect', 'mv']))[0];
  assert.deepEqual(mv.Labels, { made: 'by-mount' });
  await ok(['volume', 'rm', 'mv']);

  // nocopy: the image's /data content is not copied into the volume.
  assert.equal(await ok(['run', '--rm', '--mount', 'type=volume,src=empty,dst=/data,volume-nocopy', volImage, 'ls', '-A', '/data']), '');
  await ok(['volume', 'rm', 'empty']);

  const id = (await ok(['create', '--mount', `type=bind,src=${hostDir},dst=/b,readonly`, '--mount', 'type=tmpfs,dst=/t', '--tmpfs', '/u', ref])).trim();
  try {
    const c = await inspect(id);
    assert.deepEqual(c.Mounts, [
      { Type: 'bind', Source: hostDir, Destination: '/b', Mode: '', RW: false, Propagation: 'rprivate' },
      { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' },
    ]);
    assert.equal(c.HostConfig.Mounts.length, 2, 'HostConfig keeps Mounts as given');
    assert.deepEqual(c.HostConfig.Tmpfs, { '/u': '' });
  } finally {
    await ok(['rm', id]);
  }
});

test('--volumes-from shares another container\'s volumes and binds (ro when asked)', { skip }, async () => {
  await ok(['create', '--name', 'source', '-v', '/anon', '-v', `${hostDir}:/h`, ref, 'true']);
  try {
    await ok(['run', '--rm', '--volumes-from', 'source', ref, 'sh', '-c', 'echo shared > /anon/f']);
    assert.equal(await ok(['run', '--rm', '--volumes-from', 'source:ro', ref, 'sh', '-c', 'cat /anon/f /h/in; touch /anon/g 2>/dev/null || echo ro']), 'shared\nfrom host\nro\n');
    const missing = await daemon.request('POST', '/v1.47/containers/create', { Image: ref, HostConfig: { VolumesFrom: ['nosuch'] } });
    assert.equal(missing.status, 404);
    assert.equal((await volumeNames()).length, 1, 'the consumers made no volumes of their own');
  } finally {
    await ok(['rm', '-v', 'source']);
  }
  assert.deepEqual(await volumeNames(), [], 'rm -v removed the anonymous volume');
});

test('image VOLUME: anonymous volume with the image content copied up, scoped to the rootfs; rm -v and --rm remove it', { skip }, async () => {
  await ok(['run', '--name', 'imgvol', volImage, 'sh', '-c', 'cat /data/x; readlink /data/link; stat -c "%u:%g %a" /data /data/x; echo more > /data/y']);
  const c = await inspect('imgvol');
  const data = c.Mounts.find((m: any) => m.Destination === '/data');
  assert.match(data.Name, /^[0-9a-f]{64}$/);
  assert.equal(data.Type, 'volume');
  assert.equal(data.Mode, '');
  assert.deepEqual(Object.keys(c.Config.Volumes).sort(), ['/data', '/hostile']);
  assert.equal(await ok(['logs', 'imgvol']), 'from image\nx\n1000:1000 750\n1000:1000 640\n');
  const v = JSON.parse(await ok(['volume', 'inspect', data.Name]))[0];
  assert.deepEqual(v.Labels, { 'com.docker.volume.anonymous': '' });
  assert.deepEqual((await fsp.readdir(v.Mountpoint)).sort(), ['link', 'x', 'y']);
  // /hostile is a symlink climbing out of the rootfs: resolved inside it (the image's /etc), never the host's.
  const hostile = c.Mounts.find((m: any) => m.Destination === '/hostile');
  const copied = await fsp.readdir(hostile.Source);
  assert.ok(copied.includes('passwd'), `the container's /etc was copied (${copied.join(' ')})`);
  assert.ok((await fsp.readdir('/etc')).includes('os-release') && !copied.includes('os-release'), 'nothing of the host /etc was copied');
  assert.notEqual(await fsp.readFile(path.join(hostile.Source, 'passwd'), 'utf8'), await fsp.readFile('/etc/passwd', 'utf8'));

  // A second start does not copy again (the volume is not empty anyway) and keeps the data.
  await ok(['start', '-a', 'imgvol']);
  assert.deepEqual((await fsp.readdir(v.Mountpoint)).sort(), ['link', 'x', 'y']);
  await ok(['rm', 'imgvol']);
  assert.equal((await volumeNames()).length, 2, 'rm without -v keeps anonymous volumes');
  const pruned = await ok(['volume', 'prune', '-f']);
  assert.match(pruned, new RegExp(data.Name));
  assert.deepEqual(await volumeNames(), []);

  await ok(['volume', 'create', 'named-survivor']);
  await ok(['run', '--rm', volImage, 'true']);
  await ok(['run', '--name', 'withv', volImage, 'true']);
  await ok(['rm', '-v', 'withv']);
  assert.deepEqual(await volumeNames(), ['named-survivor'], '--rm and rm -v removed the anonymous volumes; prune without -a keeps named ones');
  await ok(['volume', 'prune', '-f']);
  assert.deepEqual(await volumeNames(), ['named-survivor']);
  await ok(['volume', 'prune', '-af']);
  assert.deepEqual(await volumeNames(), []);
});

test('a tmpfs-typed local volume is mounted while a container uses it, also across a daemon restart', { skip }, async () => {
  await ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'tv']);
  const data = path.join(daemon.dataRoot, 'volumes', 'tv', '_data');
  assert.doesNotMatch(await hostMounts(), new RegExp(` ${data} `), 'not mounted before use');
  assert.deepEqual(JSON.parse(await ok(['volume', 'inspect', 'tv']))[0].Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
  const id = (await ok(['run', '-d', '-v', 'tv:/t', ref, 'sh', '-c', 'echo in-tmpfs > /t/f; exec sleep 60'])).trim();
  try {
    assert.match(await hostMounts(), new RegExp(` ${data} `), 'mounted while the container runs');
    const df = await ok(['run', '--rm', '-v', 'tv:/t', ref, 'df', '-k', '/t']);
    assert.match(df, /tmpfs\s+1024\s/);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const events = await ok(['events', '--since', '0', '--until', until, '--filter', 'type=volume', '--filter', 'volume=tv', '--format', '{{.Action}} {{.Actor.Attributes.destination}}']);
    assert.deepEqual(events.trim().split('\n').map((l) => l.replace(' <no value>', '')), ['create', 'mount /t', 'mount /t', 'unmount'], 'events (the ring is in memory: before the restart)');
    await daemon.restart();
    assert.match(await hostMounts(), new RegExp(` ${data} `), 'still mounted: the running container re-claimed it');
    assert.equal(await ok(['exec', id, 'cat', '/t/f']), 'in-tmpfs\n');
    await ok(['rm', '-f', id]);
    assert.doesNotMatch(await hostMounts(), new RegExp(` ${data} `), 'unmounted after the last user');
  } finally {
    await docker(daemon, ['rm', '-f', id]);
  }
  await ok(['volume', 'rm', 'tv']);
});

test('bad creates leave no container and no volume behind', { skip }, async () => {
  const before = await volumeNames();
  const missing = await docker(daemon, ['create', '-v', '/anon1', '-v', 'wouldbe:/w', '--mount', 'type=bind,src=/no/such/dir,dst=/x', ref]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /invalid mount config for type "bind": bind source path does not exist: \/no\/such\/dir/);
  const dup = await docker(daemon, ['create', '-v', '/anon2', '-v', 'wouldbe:/d', '-v', `${hostDir}:/d`, ref]);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /Duplicate mount point: \/d/);
  const badVol = await docker(daemon, ['create', '-v', '/anon3', '--mount', 'type=volume,src=ok-name,dst=/a', '--mount', 'type=volume,src=bad/name,dst=/b', ref]);
  assert.notEqual(badVol.code, 0);
  const badTmpfs = await daemon.request('POST', '/v1.47/containers/create', { Image: ref, HostConfig: { Tmpfs: { '/t': 'size=1m,evil' } } });
  assert.equal(badTmpfs.status, 400);
  const badType = await daemon.request('POST', '/v1.47/containers/create', { Image: ref, HostConfig: { Mounts: [{ Type: 'weird', Target: '/x' }] } });
  assert.equal(badType.status, 400);
  assert.match(badType.json<{ message: string }>().message, /mount type unknown/);
  assert.equal((await ok(['ps', '-aq'])).trim(), '');
  assert.deepEqual(await volumeNames(), before);
});

test('volume prune: a volume created without a name is anonymous (pruned by default); label and label! filters; bad filters refused', { skip }, async () => {
  const noName = (await daemon.request('POST', '/volumes/create', {})).json<{ Name: string; Labels: Record<string, string> }>();
  assert.deepEqual(noName.Labels, { 'com.docker.volume.anonymous': '' }, 'as dockerd labels it');
  await ok(['volume', 'create', '--label', 'tier=cache', 'vp-cache']);
  await ok(['volume', 'create', '--label', 'tier=cache', '--label', 'pin=1', 'vp-pinned']);
  await ok(['volume', 'create', 'vp-plain']);
  try {
    for (const filters of [{ until: ['1h'] }, { all: ['maybe'] }, { all: ['1', '0'] }, { dangling: ['true'] }]) {
      const r = await daemon.request('POST', `/volumes/prune?filters=${encodeURIComponent(JSON.stringify(filters))}`);
      assert.equal(r.status, 400, `${JSON.stringify(filters)}: ${r.body.toString()}`);
    }
    assert.equal((await volumeNames()).length, 4, 'refused prunes removed nothing');
    const plain = (await daemon.request('POST', '/volumes/prune')).json<{ VolumesDeleted: string[] }>();
    assert.deepEqual(plain.VolumesDeleted, [noName.Name], 'without all: only the anonymous one');
    const f = { all: ['true'], label: ['tier=cache'], 'label!': ['pin'] };
    const labelled = (await daemon.request('POST', `/volumes/prune?filters=${encodeURIComponent(JSON.stringify(f))}`)).json<{ VolumesDeleted: string[] }>();
    assert.deepEqual(labelled.VolumesDeleted, ['vp-cache']);
    assert.deepEqual((await volumeNames()).sort(), ['vp-pinned', 'vp-plain']);
  } finally {
    await docker(daemon, ['volume', 'rm', '-f', noName.Name, 'vp-cache', 'vp-pinned', 'vp-plain']);
  }
});

test('the berth CLI: volume create/ls/inspect/rm/prune, run with --mount and --volumes-from', { skip }, async () => {
  const berth = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const r = await run(BERTH, ['-H', daemon.dockerHost, ...args]);
    return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  };
  const bok = async (args: string[]): Promise<string> => {
    const r = await berth(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  assert.equal(await bok(['volume', 'create', '--label', 'k=v', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'cv']), 'cv\n');
  assert.equal(await bok(['volume', 'ls']), 'DRIVER    VOLUME NAME\nlocal     cv\n');
  assert.equal(await bok(['volume', 'ls', '-q', '--filter', 'label=k=v']), 'cv\n');
  const v = JSON.parse(await bok(['volume', 'inspect', 'cv']))[0];
  assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs' });
  assert.equal(await bok(['volume', 'inspect', '-f', '{{.Driver}} {{.Labels}}', 'cv']), 'local map[k:v]\n');

  await bok(['create', '--name', 'cli-src', '--mount', 'type=volume,src=cv,dst=/v', '--mount', `type=bind,src=${hostDir},dst=/h,ro`, ref, 'true']);
  assert.equal(await bok(['run', '--rm', '--volumes-from', 'cli-src', ref, 'sh', '-c', 'echo x > /v/f; cat /v/f /h/in']), 'x\nfrom host\n');
  const inUse = await berth(['volume', 'rm', 'cv']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.stderr, /^Error response from daemon: remove cv: volume is in use/);
  await bok(['rm', 'cli-src']);
  const bad = await berth(['run', '--rm', '--mount', 'type=bogus,dst=/x', ref, 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /invalid mount type: bogus/);

  assert.match(await bok(['volume', 'prune', '-f']), /Total reclaimed space: 0B/);
  assert.equal(await bok(['volume', 'ls', '-q']), 'cv\n', 'prune without -a keeps named volumes');
  assert.match(await bok(['volume', 'prune', '-af']), /Deleted Volumes:\ncv\n/);
  assert.equal(await bok(['volume', 'rm', '-f', 'cv']), 'cv\n', '-f forgives a missing volume');
});
