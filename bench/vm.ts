// The Berth VM's figures: image size, boot to engine-ready under TCG for x86_64 and arm64 side by
// side (medians of first boots, each on a fresh data disk), idle guest memory, a `docker run --rm`
// through the VM, and file sharing (virtio-fs, 9p and native) through a bind mount in a container.
//
// KVM/HVF cannot run here (nested KVM hangs), so their boot is an estimate: the guest's CPU-bound
// stages scaled by the measured emulation slowdown (the same node loop timed on the host and in
// the guest), with berthd's own start measured on this host.
//
// The sharing figures are taken under TCG too, where every guest instruction is emulated: besides
// the host itself ("native") each workload also runs on the container's own disk in the VM
// ("VM disk"); virtio-fs and 9p against that isolate the cost of sharing from the cost of emulation.
//
// Usage: npm run build && node dist/bench/vm.js
// Environment: BENCH_VM_BOOTS (x86_64 boots, default 3), BENCH_VM_ARM64_BOOTS (default 2; 0 skips),
//   BENCH_VM_FILES (find tree, default 50000), BENCH_VM_GIT_FILES (default 10000),
//   BENCH_VM_MIB (sequential read/write, default 1024), BENCH_VM_SHARING=0 skips the sharing part,
//   BENCH_VM_GUEST=0 the memory / docker run / estimate part.
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { EngineClient } from '../client/index.js';
import { berthHome, hostFor } from '../client/home.js';
import type { VmStage, VmStatus } from '../types/desktop-api.js';
import { findImage } from '../vm/host/image.js';
import type { GuestArch } from '../vm/host/image.js';
import { configureVm, openGuestSession, removeVm, startVm, stopVm } from '../vm/host/control.js';
import { openFileLimit } from '../vm/host/virtiofsd.js';
import { dockerCliPath } from '../test/harness/docker.js';
import { buildTar, busyboxLayer, debToolLayer } from '../test/harness/images.js';
import { repoRoot } from '../test/harness/util.js';

const run = promisify(execFile);
const log = (s: string): void => void process.stderr.write(`bench-vm: ${s}\n`);
const LOOP = 'let x=0;for(let i=0;i<3e7;i++)x+=i%7;const t=process.hrtime.bigint();for(let i=0;i<3e7;i++)x+=i%7;console.log(Number(process.hrtime.bigint()-t)/1e6)';
const envInt = (name: string, def: number): number => (process.env[name] ? Number(process.env[name]) : def);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

interface Vm {
  root: string;
  env: NodeJS.ProcessEnv;
  status: VmStatus;
  stagesMs: Partial<Record<VmStage, number>>;
  stop(): Promise<void>;
}

/** Boots a fresh VM (new data disk) sharing `share`; the caller stops it. */
async function bootVm(arch: GuestArch, share: string | undefined, extraEnv: NodeJS.ProcessEnv = {}): Promise<Vm> {
  const root = await fsp.mkdtemp('/tmp/berth-bench-vm-');
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, BERTH_HOME: path.join(root, '.berth'), HOME: root, BERTH_VM_ARCH: arch };
  if (!env['BERTH_VM_IMAGE'] || arch !== 'x86_64') env['BERTH_VM_IMAGE'] = path.join(repoRoot(), 'vm', 'out', arch);
  const home = berthHome(env);
  await configureVm(home, { shares: share ? [share] : [], memoryMiB: 2048, cpus: 2, accel: 'tcg' }, env);
  const stagesMs: Partial<Record<VmStage, number>> = {};
  const t0 = Date.now();
  const status = await startVm(home, (s) => {
    if (s.stage && stagesMs[s.stage] === undefined) stagesMs[s.stage] = Date.now() - t0;
  }, env);
  const stop = async (): Promise<void> => {
    await stopVm(home, undefined, env).catch(() => undefined);
    await removeVm(home).catch(() => undefined);
    await fsp.rm(root, { recursive: true, force: true });
  };
  if (status.state !== 'running') {
    await stop();
    throw new Error(`the ${arch} VM did not start: ${status.error}`);
  }
  log(`${arch}: engine ready in ${status.bootMs} ms (load ${loadavg()[0]?.toFixed(1)})`);
  return { root, env, status, stagesMs, stop };
}

/** First boots of one architecture: each on a new data disk, then stopped. */
async function bootFigures(arch: GuestArch, boots: number): Promise<{ bootsMs: number[]; medianMs: number; stagesMs: Partial<Record<VmStage, number>> } | { skipped: string }> {
  const dir = path.join(repoRoot(), 'vm', 'out', arch);
  if (!existsSync(path.join(dir, 'manifest.json'))) return { skipped: `no ${arch} image (sudo bash vm/build.sh --arch ${arch})` };
  if (boots <= 0) return { skipped: 'not asked for' };
  const bootsMs: number[] = [];
  let stagesMs: Partial<Record<VmStage, number>> = {};
  for (let i = 0; i < boots; i++) {
    const vm = await bootVm(arch, undefined);
    bootsMs.push(vm.status.bootMs as number);
    if (median(bootsMs) === vm.status.bootMs) stagesMs = vm.stagesMs;
    await vm.stop();
  }
  return { bootsMs, medianMs: median(bootsMs), stagesMs };
}

// ---------------------------------------------------------------- file sharing

interface Workloads {
  findMs: number;
  writeMs: number;
  readMs: number;
  gitStatusMs: number;
}

/** A node_modules-like tree: packages of nested dirs with small files. */
async function makeTree(dir: string, files: number): Promise<void> {
  const perPackage = 50;
  for (let p = 0; p * perPackage < files; p++) {
    const pkg = path.join(dir, 'node_modules', `pkg-${p}`);
    await fsp.mkdir(path.join(pkg, 'lib', 'util'), { recursive: true });
    const writes: Promise<void>[] = [fsp.writeFile(path.join(pkg, 'package.json'), `{"name":"pkg-${p}","version":"1.0.${p}"}\n`)];
    for (let f = 1; f < perPackage && p * perPackage + f < files; f++) {
      const sub = f % 3 === 0 ? 'lib' : f % 3 === 1 ? path.join('lib', 'util') : '';
      writes.push(fsp.writeFile(path.join(pkg, sub, `file-${f}.js`), `module.exports = ${f};\n`));
    }
    await Promise.all(writes);
  }
}

async function makeRepo(dir: string, files: number): Promise<void> {
  await makeTree(dir, files);
  const git = (args: string[]): Promise<unknown> => run('git', ['-C', dir, ...args], { maxBuffer: 64 * 2 ** 20 });
  await git(['init', '-q']);
  await git(['-c', 'user.name=bench', '-c', 'user.email=bench@berth', 'add', '-A']);
  await git(['-c', 'user.name=bench', '-c', 'user.email=bench@berth', 'commit', '-qm', 'tree']);
}

/** The workloads as one shell script; each prints "<name> <ms>". Runs in the container or on the host. */
function workloadScript(base: string, mib: number): string {
  // busybox's date has no %N: the clock is /proc/uptime, in hundredths of a second.
  return [
    'set -e',
    'now() { read -r u _ < /proc/uptime; echo "${u%.*}${u#*.}"; }',
    'ms() { echo $(( ($(now) - t) * 10 )); }',
    `t=$(now); find ${base}/tree -type f | wc -l > /dev/null; echo "find $(ms)"`,
    `t=$(now); dd if=/dev/zero of=${base}/big bs=1M count=${mib} conv=fsync 2> /dev/null; echo "write $(ms)"`,
    `t=$(now); dd if=${base}/big of=/dev/null bs=1M 2> /dev/null; echo "read $(ms)"`,
    `rm -f ${base}/big`,
    `t=$(now); git -c safe.directory='*' -C ${base}/repo status --porcelain > /dev/null; echo "git $(ms)"`,
  ].join('\n');
}

function parseWorkloads(out: string): Workloads {
  const v = (k: string): number => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(out)?.[1] ?? NaN);
  return { findMs: v('find'), writeMs: v('write'), readMs: v('read'), gitStatusMs: v('git') };
}

/** An image with busybox and git (from Debian, with the host's libraries), imported into the engine. */
async function importToolImage(dockerEnv: NodeJS.ProcessEnv, work: string): Promise<string> {
  const layers = [await busyboxLayer(), await debToolLayer('git', 'usr/bin/git', '/usr/bin/git')];
  const seen = new Set<string>();
  const files = layers.flatMap((l) => l.files).filter((f) => !seen.has(f.path) && seen.add(f.path));
  const tar = path.join(work, 'tools.tar');
  await fsp.writeFile(tar, await buildTar(files));
  await run(dockerCliPath(), ['import', tar, 'berth-bench/tools:1'], { env: dockerEnv, timeout: 600_000 });
  return 'berth-bench/tools:1';
}

async function sharingFigures(shareDir: string, files: number, gitFiles: number, mib: number): Promise<Record<string, Workloads | { error: string }>> {
  await makeTree(path.join(shareDir, 'tree'), files);
  await makeRepo(path.join(shareDir, 'repo'), gitFiles);
  const out: Record<string, Workloads | { error: string }> = {};
  const script = workloadScript(shareDir, mib);
  out['native'] = parseWorkloads((await run('sh', ['-c', script], { maxBuffer: 2 ** 24 })).stdout);
  log(`native: ${JSON.stringify(out['native'])}`);
  for (const sharing of ['virtiofs', '9p'] as const) {
    let vm: Vm | undefined;
    try {
      vm = await bootVm('x86_64', shareDir, { BERTH_VM_SHARING: sharing });
      if (vm.status.shareType !== sharing) throw new Error(`the VM shared with ${vm.status.shareType ?? 'nothing'}, not ${sharing}`);
      const dockerEnv = { ...process.env, DOCKER_HOST: hostFor(berthHome(vm.env).vmSocket), DOCKER_CONFIG: path.join(vm.root, 'docker') };
      const image = await importToolImage(dockerEnv, vm.root);
      const inContainer = async (base: string, mounts: string[]): Promise<Workloads> => {
        const r = await run(dockerCliPath(), ['run', '--rm', ...mounts, image, 'sh', '-c', base], { env: dockerEnv, timeout: 3_600_000, maxBuffer: 2 ** 24 }).catch((err: Error & { stdout?: string; stderr?: string }) => {
          throw new Error(`the workloads failed: ${(err.stderr ?? '').trim().split('\n').slice(-3).join(' | ')} (output so far: ${(err.stdout ?? '').trim().replace(/\n/g, ', ')})`);
        });
        return parseWorkloads(r.stdout);
      };
      out[sharing] = await inContainer(script, ['-v', `${shareDir}:${shareDir}`]);
      log(`${sharing}: ${JSON.stringify(out[sharing])}`);
      if (sharing === 'virtiofs') {
        // The same trees copied onto the container's own disk (overlay on the VM's ext4) first.
        const local = `cp -a ${shareDir}/tree ${shareDir}/repo /work/ && ${workloadScript('/work', mib)}`;
        out['vm-disk'] = await inContainer(`mkdir -p /work && ${local}`, ['-v', `${shareDir}:${shareDir}`]);
        log(`vm disk: ${JSON.stringify(out['vm-disk'])}`);
      }
    } catch (err) {
      out[sharing] = { error: (err as Error).message.split('\n')[0] as string };
      log(`${sharing}: ${(out[sharing] as { error: string }).error}`);
    } finally {
      await vm?.stop();
    }
  }
  return out;
}

// ---------------------------------------------------------------- the rest of the figures

/** Memory, the CPU slowdown, a docker run, and the KVM/HVF estimate, on one booted x86_64 VM. */
async function guestFigures(): Promise<Record<string, unknown>> {
  const vm = await bootVm('x86_64', undefined);
  try {
    const home = berthHome(vm.env);
    const ssh = await openGuestSession(home, 'berth', vm.env);
    // Idle: give the engine a while after boot, then read the guest's own accounting.
    await new Promise((r) => setTimeout(r, 20_000));
    const meminfo = (await ssh.exec('cat /proc/meminfo')).stdout;
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? NaN);
    const berthdRss = (await ssh.exec(`ps -o rss= -C node | awk '{s+=$1} END {print s}'`)).stdout.trim();
    const guestLoop = Number((await ssh.exec(`node -e '${LOOP}'`, 300_000)).stdout.trim());
    ssh.close();
    const hostLoop = Number((await run(process.execPath, ['-e', LOOP])).stdout.trim());
    const slowdown = guestLoop / hostLoop;

    const dockerEnv = { ...process.env, DOCKER_HOST: hostFor(home.vmSocket), DOCKER_CONFIG: path.join(vm.root, 'docker') };
    await fsp.writeFile(path.join(vm.root, 'bb.tar'), await buildTar((await busyboxLayer()).files));
    await run(dockerCliPath(), ['import', path.join(vm.root, 'bb.tar'), 'bb:bench'], { env: dockerEnv });
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = Date.now();
      await run(dockerCliPath(), ['run', '--rm', 'bb:bench', '/bin/true'], { env: dockerEnv, timeout: 300_000 });
      runs.push(Date.now() - t);
    }
    // Under a hypervisor the guest runs at about host speed. The kernel, init and SSH stages scale
    // with the measured CPU slowdown; Node starting berthd does not (JIT code generation is far
    // slower still under TCG), so that stage is replaced by berthd's start measured on this host.
    const bootMs = vm.status.bootMs as number;
    const berthdStageMs = (vm.stagesMs['ready'] ?? 0) - (vm.stagesMs['berthd'] ?? 0);
    const nativeBerthdMs = await nativeBerthdStart(vm.root);
    return {
      idleGuestUsedMiB: Math.round((kb('MemTotal') - kb('MemAvailable')) / 1024),
      berthdRssKiB: Number(berthdRss),
      cpuSlowdownVsHost: Math.round(slowdown * 10) / 10,
      berthdStageTcgMs: berthdStageMs,
      berthdStartOnHostMs: nativeBerthdMs,
      estimatedHypervisorBootMs: Math.round(Math.max(0, bootMs - berthdStageMs) / slowdown + nativeBerthdMs * 1.2),
      dockerRunRmMs: runs,
    };
  } finally {
    await vm.stop();
  }
}

/** Milliseconds from spawning berthd on this host to its /_ping answering (median of 3). */
async function nativeBerthdStart(root: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = path.join(root, `native-${i}`);
    await fsp.mkdir(dir, { recursive: true });
    const sock = path.join(dir, 'd.sock');
    const t = Date.now();
    const child = spawn(path.join(repoRoot(), 'bin', 'berthd'), ['-H', `unix://${sock}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec')], { stdio: 'ignore' });
    const client = new EngineClient({ host: `unix://${sock}` });
    for (;;) {
      if (await client.ping(AbortSignal.timeout(1000)).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    times.push(Date.now() - t);
    client.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  return median(times);
}

async function main(): Promise<void> {
  const image = await findImage('x86_64');
  const sizes: Record<string, number> = {};
  for (const f of [image.kernel, image.initrd, image.rootfs]) sizes[path.basename(f)] = (await fsp.stat(f)).size;
  const loadBefore = loadavg()[0];

  const x86 = await bootFigures('x86_64', envInt('BENCH_VM_BOOTS', 3));
  const guest = process.env['BENCH_VM_GUEST'] === '0' ? {} : await guestFigures();
  let sharing: Record<string, Workloads | { error: string }> | undefined;
  let sharingNote: string | undefined;
  if (process.env['BENCH_VM_SHARING'] !== '0') {
    const shareDir = await fsp.mkdtemp('/tmp/berth-bench-share-');
    // virtiofsd holds a descriptor per file the guest knows: where the hard RLIMIT_NOFILE is low
    // (20000 on this project's machines, without CAP_SYS_RESOURCE) a 50,000-file find cannot work.
    const limit = (await openFileLimit()) ?? Infinity;
    let files = envInt('BENCH_VM_FILES', 50_000);
    if (files * 1.3 > limit) {
      files = Math.floor(limit / 1.3 / 1000) * 1000;
      sharingNote = `find tree cut to ${files} files: virtiofsd may hold only ${limit} files open here (hard RLIMIT_NOFILE)`;
      log(sharingNote);
    }
    try {
      sharing = await sharingFigures(shareDir, files, envInt('BENCH_VM_GIT_FILES', 10_000), envInt('BENCH_VM_MIB', 1024));
    } finally {
      await fsp.rm(shareDir, { recursive: true, force: true });
    }
  }
  const arm64 = await bootFigures('aarch64', envInt('BENCH_VM_ARM64_BOOTS', 2));
  const result = {
    date: new Date().toISOString(),
    load: { before: loadBefore, after: loadavg()[0], cores: (await import('node:os')).cpus().length },
    image: { version: image.version, sizes, compressedBytes: Object.values(sizes).reduce((a, b) => a + b, 0) },
    bootTcg: { x86_64: x86, aarch64: arm64 },
    ...guest,
    sharing,
    sharingNote,
  };
  await fsp.mkdir(path.join(repoRoot(), 'bench', 'results'), { recursive: true });
  await fsp.writeFile(path.join(repoRoot(), 'bench', 'results', 'vm.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  printTables(result.bootTcg, guest, sharing, result.image.compressedBytes);
  if (sharingNote) console.log(`\nNote: ${sharingNote}.`);
}

function printTables(
  boot: Record<string, Awaited<ReturnType<typeof bootFigures>>>,
  guest: Record<string, unknown>,
  sharing: Record<string, Workloads | { error: string }> | undefined,
  compressedBytes: number,
): void {
  const s = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '—' : `${(ms / 1000).toFixed(1)} s`);
  const cell = (b: Awaited<ReturnType<typeof bootFigures>>): string => ('skipped' in b ? `not run: ${b.skipped}` : `${s(b.medianMs)} (${b.bootsMs.map((x) => (x / 1000).toFixed(1)).join(', ')})`);
  const stage = (b: Awaited<ReturnType<typeof bootFigures>>, st: VmStage): string => ('skipped' in b ? '—' : s(b.stagesMs[st]));
  console.log(`\n| first boot under TCG (median; runs) | x86_64 | arm64 | target |\n|---|---|---|---|`);
  console.log(`| engine ready | ${cell(boot['x86_64'] as never)} | ${cell(boot['aarch64'] as never)} | x86_64 ≤ 12 s |`);
  for (const st of ['initramfs', 'rootfs', 'data-disk', 'network', 'berthd', 'hostkey', 'sshd', 'ready', 'ssh', 'engine'] as VmStage[]) {
    console.log(`| stage ${st} | ${stage(boot['x86_64'] as never, st)} | ${stage(boot['aarch64'] as never, st)} | |`);
  }
  console.log(`\n| measure | value | target |\n|---|---|---|`);
  console.log(`| image, compressed (kernel + initramfs + squashfs root) | ${(compressedBytes / 2 ** 20).toFixed(1)} MiB | ≤ 200 MB |`);
  if (guest['cpuSlowdownVsHost'] !== undefined) console.log(`| KVM/HVF boot, ESTIMATE (other stages / ${String(guest['cpuSlowdownVsHost'])}, berthd start ${String(guest['berthdStartOnHostMs'])} ms on this host) | ${s(guest['estimatedHypervisorBootMs'] as number)} | ≤ 3 s |`);
  if (guest['idleGuestUsedMiB'] !== undefined) {
    console.log(`| idle guest memory used | ${String(guest['idleGuestUsedMiB'])} MiB | ≤ 250 MB |`);
    console.log(`| docker run --rm through the VM (tcg) | ${(guest['dockerRunRmMs'] as number[]).join(', ')} ms | reported |`);
  }
  if (!sharing) return;
  const row = (k: keyof Workloads): string =>
    ['native', 'vm-disk', 'virtiofs', '9p'].map((m) => {
      const w = sharing[m];
      return !w ? '—' : 'error' in w ? `error: ${w.error}` : `${(w[k] / 1000).toFixed(2)} s`;
    }).join(' | ');
  const ratio = (k: keyof Workloads, m: string, base: string): string => {
    const a = sharing[m];
    const b = sharing[base];
    return a && b && !('error' in a) && !('error' in b) ? `${(a[k] / b[k]).toFixed(1)}×` : '—';
  };
  console.log(`\n| sharing, bind mount in a container (TCG guest) | native (host) | VM disk | virtio-fs | 9p | virtio-fs ÷ VM disk | 9p ÷ VM disk |\n|---|---|---|---|---|---|---|`);
  const rows: [string, keyof Workloads][] = [['find over the node_modules-like tree', 'findMs'], ['sequential write, 1 GiB', 'writeMs'], ['sequential read, 1 GiB', 'readMs'], ['git status, 10,000 files', 'gitStatusMs']];
  for (const [label, k] of rows) console.log(`| ${label} | ${row(k)} | ${ratio(k, 'virtiofs', 'vm-disk')} | ${ratio(k, '9p', 'vm-disk')} |`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
