// The Berth VM end to end, on this machine's real qemu (KVM is tried first; where it fails or
// hangs, as nested KVM does here, the supervisor falls back to TCG): boot with progress, the
// docker CLI through the SSH-forwarded socket, a pull from the host's registry, a published port
// reachable on the host's 127.0.0.1 and gone after the container, a host folder bind-mounted
// (virtio-fs here, through virtiofsd) written from each side and read on the other,
// pure cgroup v2, clean shutdown, a second boot on the same data disk (host key pin holds, images
// persist), and removal. Needs the image from `bash vm/build.sh` (CI builds it first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { berthHome } from '../client/home.js';
import type { VmStatus } from '../types/desktop-api.js';
import { ORPHANED_VM, stopVm } from '../vm/host/control.js';
import { vmPaths } from '../vm/host/supervisor.js';
import { runBerth, type BerthResult } from './harness/cli.js';
import { eventually } from './harness/containers.js';
import { docker } from './harness/docker.js';
import { busyboxLayer, pushImage } from './harness/images.js';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { freePort, makeTempDir, removeDir, repoRoot } from './harness/util.js';

const IMAGE = process.env['BERTH_VM_IMAGE'] || path.join(repoRoot(), 'vm', 'out', 'x86_64');
const hasImage = existsSync(path.join(IMAGE, 'manifest.json'));
const hasQemu = existsSync('/usr/bin/qemu-system-x86_64');
// In CI the image is built before the tests: a missing one is a failure there, not a skip.
const skip = process.env['CI'] ? false : !hasImage ? `no VM image at ${IMAGE} (build it: bash vm/build.sh)` : !hasQemu ? 'needs qemu-system-x86' : false;

let dir: string;
let share: string;
let registry: TestRegistry;
let testEnv: NodeJS.ProcessEnv;
let ref: string;
let target: { dockerHost: string };

before(async () => {
  if (skip) return;
  dir = await makeTempDir('berth-vm-');
  share = path.join(dir, 'project');
  await fsp.mkdir(share);
  registry = await startRegistry();
  await pushImage(registry, 'library/busybox:vm', { layers: [await busyboxLayer()], config: { Cmd: ['sh'] } });
  // The guest reaches the host's loopback as 10.0.2.2 (user-mode networking).
  ref = `10.0.2.2:${registry.host.split(':')[1]}/library/busybox:vm`;
  testEnv = { PATH: process.env['PATH'] ?? '', HOME: dir, BERTH_HOME: path.join(dir, '.berth'), BERTH_VM_IMAGE: IMAGE, BERTH_DESKTOP_CONFIG: path.join(dir, 'desktop.json') };
  target = { dockerHost: `unix://${berthHome(testEnv).vmSocket}` };
});

after(async () => {
  if (skip) return;
  if (testEnv) await stopVm(berthHome(testEnv), undefined, testEnv).catch(() => undefined);
  await registry?.stop();
  if (dir) await removeDir(dir);
});

const berth = (args: string[]): Promise<BerthResult> => runBerth(args, testEnv);

async function status(): Promise<VmStatus> {
  const r = await berth(['vm', 'status', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as VmStatus;
}

async function fetchText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setTimeout(10_000, () => sock.destroy(new Error('timeout')));
    sock.on('connect', () => sock.write(`GET / HTTP/1.0\r\nHost: x\r\n\r\n`));
    sock.on('data', (d: Buffer) => (data += d.toString()));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

test('the VM boots with progress and serves the docker CLI over the SSH-forwarded socket', { skip, timeout: 900_000 }, async () => {
  const start = await berth(['vm', 'start', '--share', share, '--insecure-registry', ref.split('/')[0] as string, '--memory', '1024', '--cpus', '2']);
  assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}\n${await fsp.readFile(vmPaths(berthHome(testEnv)).supervisorLog, 'utf8').catch(() => '')}`);
  const stages = [...start.stdout.matchAll(/Starting the Berth VM: (\S+) \(/g)].map((m) => m[1]);
  const expected = ['initramfs', 'rootfs', 'data-disk', 'network', 'berthd', 'hostkey', 'sshd', 'ready', 'ssh', 'engine'];
  assert.deepEqual(stages.filter((s) => s !== 'qemu').slice(-expected.length), expected, start.stdout);
  assert.match(start.stdout, /The Berth VM is running \((kvm|tcg), ready in [\d.]+ s\)/);

  const s = await status();
  assert.equal(s.state, 'running');
  assert.equal(s.healthy, true);
  assert.ok(s.bootMs && s.bootMs > 0);
  const home = berthHome(testEnv);
  assert.equal((await fsp.stat(home.vmSocket)).mode & 0o777, 0o600, 'the engine socket is for its owner only');
  assert.equal((await fsp.stat(path.join(home.sshDir, 'id_ed25519'))).mode & 0o777, 0o600);
  const console = await fsp.readFile(vmPaths(home).consoleLog, 'utf8');
  const hostKey = /BERTH-BOOT hostkey (\S+ \S+)/.exec(console)?.[1];
  assert.ok(hostKey, 'the guest printed its host key');
  assert.equal((await fsp.readFile(home.knownHosts, 'utf8')).trim(), `berth-vm ${hostKey}`, 'pinned from the console');

  const version = await docker(target, ['version', '--format', '{{.Server.Os}} {{.Server.Version}}']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^linux /);
  const info = await docker(target, ['info', '--format', '{{.CgroupVersion}}']);
  assert.equal(info.stdout.trim(), '2', 'pure cgroup v2 in the guest');
  const mounts = await berth(['vm', 'ssh', 'sh', '-c', 'grep cgroup /proc/mounts']);
  assert.equal(mounts.code, 0, mounts.stderr);
  const lines = mounts.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one cgroup mount, no v1 hierarchies: ${mounts.stdout}`);
  assert.match(lines[0] as string, /^cgroup2 \/sys\/fs\/cgroup cgroup2 /);
});

test('pull from the host registry, published port on the host loopback, host folder bind mount', { skip, timeout: 900_000 }, async () => {
  const pull = await docker(target, ['pull', ref], { timeoutMs: 300_000 });
  assert.equal(pull.code, 0, pull.stderr);

  // The shared folder, both ways: virtio-fs where virtiofsd runs (Linux as root: here), else 9p.
  const sharing = process.getuid?.() === 0 ? 'virtiofs' : '9p';
  assert.equal((await status()).shareType, sharing);
  const mounts = await berth(['vm', 'ssh', 'sh', '-c', `grep ' ${share} ' /proc/mounts`]);
  assert.match(mounts.stdout, new RegExp(`^share0 ${share} ${sharing === 'virtiofs' ? 'virtiofs' : '9p'} `), mounts.stdout);
  await fsp.writeFile(path.join(share, 'in.txt'), 'from the host\n');
  const bind = await docker(target, ['run', '--rm', '-v', `${share}:/src`, ref, 'sh', '-c', 'cat /src/in.txt; echo from the container > /src/out.txt; mkdir -p /src/made/in/vm'], { timeoutMs: 300_000 });
  assert.equal(bind.code, 0, bind.stderr);
  assert.equal(bind.stdout, 'from the host\n');
  assert.equal(await fsp.readFile(path.join(share, 'out.txt'), 'utf8'), 'from the container\n');
  assert.ok((await fsp.stat(path.join(share, 'made', 'in', 'vm'))).isDirectory(), 'a directory made in the container is on the host');
  // A file the container has read, then changed on the host: opened again after virtio-fs's
  // one-second attribute window (vm/README.md), it reads the new content in full.
  const daemonRun = await docker(target, ['run', '-d', '--name', 'reader', '-v', `${share}:/src`, ref, 'sh', '-c', 'cat /src/in.txt > /src/first.txt; while [ ! -e /src/go ]; do sleep 0.2; done; sleep 1.5; cat /src/in.txt > /src/second.txt'], { timeoutMs: 300_000 });
  assert.equal(daemonRun.code, 0, daemonRun.stderr);
  await eventually(async () => assert.equal(await fsp.readFile(path.join(share, 'first.txt'), 'utf8'), 'from the host\n'), 120_000, 250);
  await fsp.writeFile(path.join(share, 'in.txt'), 'changed on the host\n');
  await fsp.writeFile(path.join(share, 'go'), '');
  await eventually(async () => assert.equal(await fsp.readFile(path.join(share, 'second.txt'), 'utf8'), 'changed on the host\n'), 120_000, 250);
  assert.equal((await docker(target, ['rm', '-f', 'reader'], { timeoutMs: 120_000 })).code, 0);

  const port = await freePort();
  const run = await docker(target, ['run', '-d', '--name', 'web', '-p', `${port}:8080`, ref, 'sh', '-c', 'mkdir -p /www && echo hello-from-the-vm > /www/index.html && exec httpd -f -p 8080 -h /www'], { timeoutMs: 300_000 });
  assert.equal(run.code, 0, run.stderr);
  const page = await eventually(async () => {
    const text = await fetchText(port);
    assert.match(text, /hello-from-the-vm/, `GET 127.0.0.1:${port}`);
    return text;
  }, 60_000, 250);
  assert.match(page, /^HTTP\/1\.[01] 200/);
  const s = await status();
  assert.deepEqual(s.ports.map((p) => [p.proto, p.port, p.containers]), [['tcp', port, ['web']]]);

  const rm = await docker(target, ['rm', '-f', 'web'], { timeoutMs: 120_000 });
  assert.equal(rm.code, 0, rm.stderr);
  await eventually(() => assert.rejects(fetchText(port), `port ${port} closed after rm`), 60_000, 250);
  assert.deepEqual((await status()).ports, []);
});

test('clean stop; a second boot keeps the host key pin and the images; rm deletes the VM', { skip, timeout: 900_000 }, async () => {
  const home = berthHome(testEnv);
  const stop = await berth(['vm', 'stop']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, 'The Berth VM is stopped.\n', await fsp.readFile(vmPaths(home).supervisorLog, 'utf8'));
  assert.equal((await status()).state, 'stopped');
  assert.equal(existsSync(home.vmSocket), false, `the socket goes with the VM: ${await fsp.readFile(vmPaths(home).supervisorLog, 'utf8')}`);
  assert.equal(existsSync(vmPaths(home).qemuPid), false, 'qemu is gone');
  const supervisorLog = await fsp.readFile(vmPaths(home).supervisorLog, 'utf8');
  assert.match(supervisorLog, /asking the guest to power off/);
  assert.doesNotMatch(supervisorLog, /quitting qemu/, 'the guest powered off by itself');

  const pinned = await fsp.readFile(home.knownHosts, 'utf8');
  const again = await berth(['vm', 'start']);
  assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
  assert.equal(await fsp.readFile(home.knownHosts, 'utf8'), pinned, 'the same host key on the same data disk');
  const images = await docker(target, ['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(images.stdout.trim(), ref, 'the data disk kept the pulled image');
  const ssh = await berth(['vm', 'ssh', 'cat', '/etc/hostname']);
  assert.equal(ssh.stdout.trim(), 'berth-vm');

  const refused = await berth(['vm', 'rm']);
  assert.equal(refused.code, 125, 'rm refuses a running VM without --force');

  // The supervisor dies (kill -9): the status says qemu is orphaned, and stop still ends it.
  const qemuPid = Number(await fsp.readFile(vmPaths(home).qemuPid, 'utf8'));
  process.kill(Number(await fsp.readFile(vmPaths(home).supervisorPid, 'utf8')), 'SIGKILL');
  await eventually(async () => assert.equal((await status()).state, 'stopped', 'status without the supervisor'), 10_000, 250);
  assert.equal((await status()).error, ORPHANED_VM);
  assert.equal((await berth(['vm', 'stop'])).code, 0);
  const ps = spawnSync('ps', ['-o', 'stat=', '-p', String(qemuPid)], { encoding: 'utf8' }).stdout.trim();
  assert.ok(ps === '' || ps.startsWith('Z'), `the orphaned qemu is gone (ps: ${ps})`);
  assert.equal(existsSync(home.vmSocket), false, 'and its stale socket');
  assert.equal((await status()).error, undefined);

  const rm = await berth(['vm', 'rm', '--force']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal((await status()).state, 'absent');
  assert.equal(existsSync(vmPaths(home).dataDisk), false);
  assert.doesNotMatch(await fsp.readFile(home.knownHosts, 'utf8'), /berth-vm/);
});
