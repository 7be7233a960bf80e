// The real docker CLI (/usr/local/bin/docker) against berthd: the same scenarios
// a developer runs, unchanged client, real registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { busyboxLayer, pushImage, pushIndex, type PushedImage } from './harness/images.js';
import { docker } from './harness/docker.js';

let registry: TestRegistry;
let daemon: TestDaemon;
let second: TestDaemon;
let img: PushedImage;
let tmp: string;

before(async () => {
  registry = await startRegistry();
  daemon = await startDaemon();
  second = await startDaemon();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-cli-'));
  const bb = await busyboxLayer();
  img = await pushImage(registry, 'library/busybox:1.36', {
    layers: [bb, { files: [{ type: 'file', path: 'etc/berth-release', content: 'test\n' }] }],
    config: { Cmd: ['sh'] },
  });
  await pushIndex(registry, 'library/multi:latest', [
    { layers: [bb], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { layers: [bb], platform: { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch } },
  ]);
});

after(async () => {
  await daemon?.cleanup();
  await second?.cleanup();
  await registry?.stop();
  await fsp.rm(tmp, { recursive: true, force: true });
});

const ok = async (d: TestDaemon, args: string[], input?: string): Promise<string> => {
  const r = await docker(d, args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};

test('docker version and info talk to berthd', async () => {
  const v = await ok(daemon, ['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}']);
  assert.equal(v.trim(), '1.47 linux');
  const info = await ok(daemon, ['info', '--format', '{{.Driver}} {{.DockerRootDir}}']);
  assert.equal(info.trim(), `overlay2 ${daemon.dataRoot}`);
});

test('docker pull, images, inspect, tag, rmi', async () => {
  const ref = `${registry.host}/library/busybox:1.36`;
  const out = await ok(daemon, ['pull', ref]);
  assert.match(out, /1\.36: Pulling from library\/busybox/);
  assert.match(out, new RegExp(`Digest: ${img.manifestDigest}`));
  assert.match(out, /Status: Downloaded newer image for/);

  const images = await ok(daemon, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  assert.match(images, new RegExp(`${registry.host}/library/busybox:1.36 ${img.configDigest.slice(7, 19)}`));
  const quiet = await ok(daemon, ['images', '-q', '--no-trunc']);
  assert.equal(quiet.trim(), img.configDigest);
  const digests = await ok(daemon, ['images', '--digests', '--format', '{{.Digest}}']);
  assert.equal(digests.trim(), img.manifestDigest);

  const id = await ok(daemon, ['image', 'inspect', '--format', '{{.Id}} {{index .Config.Cmd 0}}', ref]);
  assert.equal(id.trim(), `${img.configDigest} sh`);
  // Generic inspect falls through "no such container" to the image.
  const generic = await ok(daemon, ['inspect', '--format', '{{.Id}}', ref]);
  assert.equal(generic.trim(), img.configDigest);

  await ok(daemon, ['tag', ref, 'myorg/tools:stable']);
  assert.match(await ok(daemon, ['images', 'myorg/tools']), /myorg\/tools\s+stable/);
  const rmi = await ok(daemon, ['rmi', 'myorg/tools:stable']);
  assert.equal(rmi.trim(), 'Untagged: myorg/tools:stable');

  const missing = await docker(daemon, ['image', 'inspect', 'nope:none']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such image: nope:none/);

  const multi = await ok(daemon, ['pull', '-q', `${registry.host}/library/multi`]);
  assert.equal(multi.trim(), `${registry.host}/library/multi:latest`);
  const arch = await ok(daemon, ['image', 'inspect', '--format', '{{.Architecture}}', `${registry.host}/library/multi`]);
  assert.equal(arch.trim(), process.arch === 'x64' ? 'amd64' : process.arch);
});

test('docker save | docker load round-trips between two daemons', async () => {
  const ref = `${registry.host}/library/busybox:1.36`;
  await ok(daemon, ['pull', '-q', ref]);
  const archive = path.join(tmp, 'busybox.tar');
  await ok(daemon, ['save', '-o', archive, ref]);
  assert.ok((await fsp.stat(archive)).size > 500_000);
  const loaded = await ok(second, ['load', '-i', archive]);
  assert.match(loaded, new RegExp(`Loaded image: ${ref.replace(/[.]/g, '\\.')}`));
  const id = await ok(second, ['image', 'inspect', '--format', '{{.Id}}', ref]);
  assert.equal(id.trim(), img.configDigest);
  // Loading again is harmless.
  await ok(second, ['load', '-q', '-i', archive]);
  const rmi = await ok(second, ['rmi', ref]);
  assert.match(rmi, /Untagged:/);
  assert.match(rmi, new RegExp(`Deleted: ${img.configDigest}`));
});

test('docker pull errors read like Docker', async () => {
  const r = await docker(daemon, ['pull', `${registry.host}/library/doesnotexist:1`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Error response from daemon: .*(not found|does not exist)/);
  const bad = await docker(daemon, ['pull', 'Not_Valid::x']);
  assert.notEqual(bad.code, 0);
  const rmiMissing = await docker(daemon, ['rmi', 'ghost:1']);
  assert.equal(rmiMissing.code, 1);
  assert.match(rmiMissing.stderr, /No such image: ghost:1/);
});
