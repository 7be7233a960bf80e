// The arm64 Berth VM, booted on this x86_64 machine under TCG with the same launcher: the engine
// through the SSH-forwarded socket, an arm64 image pulled from the host's registry and run
// (attach goes through the perl SOCK_SEQPACKET bridge: npm has no arm64 node-unix-socket), stdin
// into a container, a host folder shared both ways, a clean stop.
//
// Opt-in (BERTH_VM_ARM64=1): building the arm64 image from scratch takes over ten minutes here
// (mmdebstrap runs every arm64 maintainer script under qemu-user), so CI runs this through
// build/vm-arm64.sh when vm/ changed since the recipe last verified (vm/aarch64.verified).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { berthHome } from '../client/home.js';
import type { VmStatus } from '../types/desktop-api.js';
import { stopVm } from '../vm/host/control.js';
import { vmPaths } from '../vm/host/supervisor.js';
import { runBerth, type BerthResult } from './harness/cli.js';
import { docker } from './harness/docker.js';
import { busyboxLayer, platformFor, pushImage } from './harness/images.js';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { makeTempDir, removeDir, repoRoot } from './harness/util.js';

const IMAGE = process.env['BERTH_VM_ARM64_IMAGE'] || path.join(repoRoot(), 'vm', 'out', 'aarch64');
const wanted = process.env['BERTH_VM_ARM64'] === '1';
// Asked for and the image missing: the test fails and says so.
const skip = wanted ? false : 'opt-in: BERTH_VM_ARM64=1 (build/vm-arm64.sh runs it when vm/ changed)';

let dir: string;
let share: string;
let registry: TestRegistry;
let testEnv: NodeJS.ProcessEnv;
let ref: string;
let target: { dockerHost: string };

before(async () => {
  if (skip) return;
  dir = await makeTempDir('berth-vm-arm64-');
  share = path.join(dir, 'project');
  await fsp.mkdir(share);
  registry = await startRegistry();
  await pushImage(registry, 'library/busybox:arm64', { layers: [await busyboxLayer({ arch: 'arm64' })], platform: platformFor('arm64'), config: { Cmd: ['sh'] } });
  ref = `10.0.2.2:${registry.host.split(':')[1]}/library/busybox:arm64`;
  testEnv = { PATH: process.env['PATH'] ?? '', HOME: dir, BERTH_HOME: path.join(dir, '.berth'), BERTH_VM_ARCH: 'aarch64', BERTH_VM_IMAGE: IMAGE, BERTH_DESKTOP_CONFIG: path.join(dir, 'desktop.json') };
  target = { dockerHost: `unix://${berthHome(testEnv).vmSocket}` };
});

after(async () => {
  if (skip) return;
  if (testEnv) await stopVm(berthHome(testEnv), undefined, testEnv).catch(() => undefined);
  await registry?.stop();
  if (dir) await removeDir(dir);
});

const berth = (args: string[]): Promise<BerthResult> => runBerth(args, testEnv);

test('the arm64 VM boots under TCG and runs an arm64 image from the host registry', { skip, timeout: 1_800_000 }, async () => {
  assert.ok(existsSync(path.join(IMAGE, 'manifest.json')), `no arm64 image at ${IMAGE}: sudo bash vm/build.sh --arch aarch64`);
  const start = await berth(['vm', 'start', '--share', share, '--insecure-registry', ref.split('/')[0] as string, '--memory', '1024', '--cpus', '2', '--accel', 'tcg']);
  const supervisorLog = (): Promise<string> => fsp.readFile(vmPaths(berthHome(testEnv)).supervisorLog, 'utf8').catch(() => '');
  assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}\n${await supervisorLog()}`);
  assert.match(start.stdout, /The Berth VM is running \(tcg, ready in [\d.]+ s\)/);
  const status = JSON.parse((await berth(['vm', 'status', '--format', 'json'])).stdout) as VmStatus;
  assert.equal(status.image?.arch, 'aarch64');
  assert.equal(status.shareType, process.getuid?.() === 0 ? 'virtiofs' : '9p');

  const info = await docker(target, ['info', '--format', '{{.Architecture}} {{.CgroupVersion}}']);
  assert.equal(info.code, 0, info.stderr);
  assert.equal(info.stdout.trim(), 'aarch64 2');
  const pull = await docker(target, ['pull', ref], { timeoutMs: 600_000 });
  assert.equal(pull.code, 0, pull.stderr);
  const arch = await docker(target, ['image', 'inspect', '--format', '{{.Architecture}}', ref]);
  assert.equal(arch.stdout.trim(), 'arm64');

  // Output through attach (the perl bridge), stdin into the container, and the shared folder both ways.
  await fsp.writeFile(path.join(share, 'in.txt'), 'from the host\n');
  const runIt = await docker(target, ['run', '--rm', '-v', `${share}:/src`, ref, 'sh', '-c', 'uname -m; cat /src/in.txt; echo from the arm64 container > /src/out.txt'], { timeoutMs: 600_000 });
  assert.equal(runIt.code, 0, runIt.stderr);
  assert.equal(runIt.stdout, 'aarch64\nfrom the host\n');
  assert.equal(await fsp.readFile(path.join(share, 'out.txt'), 'utf8'), 'from the arm64 container\n');
  const stdin = await docker(target, ['run', '--rm', '-i', ref, 'tr', 'a-z', 'A-Z'], { input: 'through the bridge\n', timeoutMs: 600_000 });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal(stdin.stdout, 'THROUGH THE BRIDGE\n');
  const bridge = await berth(['vm', 'ssh', 'sh', '-c', 'test -e /opt/berth/node_modules/node-unix-socket-linux-arm64-gnu && echo addon || echo no-addon']);
  assert.equal(bridge.stdout.trim(), 'no-addon', 'attach ran without the native addon');

  const stop = await berth(['vm', 'stop']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(await supervisorLog(), /asking the guest to power off/);
  assert.equal((await berth(['vm', 'rm', '--force'])).code, 0);
});
