// Resource limits, OOM, devices, capabilities and seccomp through the real docker CLI, checked
// in the kernel: the container's cgroup files read from the host, /proc/self/status inside it,
// syscalls that the default seccomp profile refuses. Real registry, busybox, runc and conmon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { docker } from './harness/docker.js';
import { containerSkip as skip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

let env: ContainerEnv;

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ pull: true });
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

/** A cgroup v1 file of a running container (this host is hybrid: one hierarchy per controller). */
async function cgroupFile(id: string, controller: string, file: string): Promise<string> {
  const parent = `berth-${createHash('sha256').update(path.resolve(env.daemon.dataRoot)).digest('hex').slice(0, 12)}`;
  return (await fsp.readFile(path.join('/sys/fs/cgroup', controller, parent, id, file), 'utf8')).trim();
}

async function inspect(ref: string): Promise<{ Id: string; State: { OOMKilled: boolean; ExitCode: number; Status: string }; HostConfig: Record<string, unknown> }> {
  return JSON.parse(await env.ok(['inspect', ref]))[0];
}

/**
 * docker run that must fail: exit code 125 (127 when the message says "no such file or
 * directory": the CLI's rule) and the daemon's message; nothing is left behind.
 */
async function refused(args: string[], message: string): Promise<void> {
  const r = await docker(env.daemon, ['run', '--rm', ...args, env.ref, 'true']);
  assert.equal(r.code, message.includes('no such file or directory') ? 127 : 125, `docker run ${args.join(' ')} should fail: ${r.stdout}${r.stderr}`);
  assert.ok(r.stderr.includes(`Error response from daemon: ${message}`), `${args.join(' ')}: ${r.stderr}`);
  assert.equal((await env.ok(['ps', '-aq'])).trim(), '', `docker run ${args.join(' ')} left a container behind`);
}

test('memory, swap, reservation, cpus, cpu shares, cpuset and pids limits land in the cgroup files; inspect and stats show them', { skip }, async () => {
  const id = (
    await env.ok([
      'run', '-d', '--memory', '64m', '--memory-reservation', '32m', '--cpus', '0.5', '--cpu-shares', '512',
      '--cpuset-cpus', '1', '--pids-limit', '20', env.ref, 'sleep', '300',
    ])
  ).trim();
  try {
    assert.equal(await cgroupFile(id, 'memory', 'memory.limit_in_bytes'), String(64 << 20));
    assert.equal(await cgroupFile(id, 'memory', 'memory.memsw.limit_in_bytes'), String(128 << 20), 'swap defaults to twice the memory limit');
    assert.equal(await cgroupFile(id, 'memory', 'memory.soft_limit_in_bytes'), String(32 << 20));
    assert.equal(await cgroupFile(id, 'cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(await cgroupFile(id, 'cpu', 'cpu.cfs_period_us'), '100000');
    assert.equal(await cgroupFile(id, 'cpu', 'cpu.shares'), '512');
    assert.equal(await cgroupFile(id, 'cpuset', 'cpuset.cpus'), '1');
    assert.equal(await cgroupFile(id, 'pids', 'pids.max'), '20');
    const hc = (await inspect(id)).HostConfig;
    assert.deepEqual(
      [hc['Memory'], hc['MemorySwap'], hc['MemoryReservation'], hc['NanoCpus'], hc['CpuShares'], hc['CpusetCpus'], hc['PidsLimit']],
      [64 << 20, 128 << 20, 32 << 20, 500_000_000, 512, '1', 20],
    );
    const stats = (await env.daemon.request('GET', `/v1.47/containers/${id}/stats?stream=false&one-shot=true`)).json<{
      memory_stats: { limit: number };
      pids_stats: { limit: number };
      cpu_stats: { online_cpus: number };
    }>();
    assert.equal(stats.memory_stats.limit, 64 << 20);
    assert.equal(stats.pids_stats.limit, 20);
    assert.equal(stats.cpu_stats.online_cpus, 1, 'online_cpus counts the cpuset');

    const unlimited = (await env.ok(['run', '-d', '--memory', '64m', '--memory-swap', '-1', env.ref, 'sleep', '300'])).trim();
    try {
      assert.equal(await cgroupFile(unlimited, 'memory', 'memory.memsw.limit_in_bytes'), (await fsp.readFile('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes', 'utf8')).trim());
      assert.equal((await inspect(unlimited)).HostConfig['MemorySwap'], -1);
    } finally {
      await env.ok(['rm', '-f', unlimited]);
    }
  } finally {
    await env.ok(['rm', '-f', id]);
  }
});

test('a pids limit stops forks inside the container', { skip }, async () => {
  // A failed fork ends the shell, the container's init: the kernel ends the sleeps with it. The
  // limit leaves room for runc's own init (a Go program with a few threads) in the same cgroup.
  const r = await docker(env.daemon, ['run', '--rm', '--pids-limit', '20', env.ref, 'sh', '-c', 'for i in $(seq 1 40); do sleep 300 & done; echo all forked']);
  assert.match(r.stderr, /can't fork/);
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout, '');
  const free = await docker(env.daemon, ['run', '--rm', env.ref, 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 0 & done; wait; echo forked']);
  assert.equal(free.stdout, 'forked\n', free.stderr);
});

test('over its memory limit a container is OOM-killed: exit 137, State.OOMKilled, an oom event; --oom-kill-disable sets the cgroup flag', { skip }, async () => {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  // The string doubles until it no longer fits in 8 MiB.
  const r = await docker(env.daemon, ['run', '--name', 'hog', '--memory', '8m', env.ref, 'sh', '-c', 'x=0123456789abcdef; while true; do x=$x$x; done']);
  try {
    assert.equal(r.code, 137, r.stderr);
    const st = (await inspect('hog')).State;
    assert.equal(st.OOMKilled, true);
    assert.equal(st.ExitCode, 137);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const events = await env.ok(['events', '--since', since, '--until', until, '--filter', 'container=hog', '--format', '{{.Action}}']);
    assert.deepEqual(events.trim().split('\n').filter((a) => a === 'oom' || a === 'die'), ['oom', 'die']);
  } finally {
    await env.ok(['rm', '-f', 'hog']);
  }
  const ok = await docker(env.daemon, ['run', '--rm', '--memory', '8m', env.ref, 'sh', '-c', 'echo fine']);
  assert.equal(ok.code, 0, ok.stderr);

  const id = (await env.ok(['run', '-d', '--memory', '32m', '--oom-kill-disable', env.ref, 'sleep', '300'])).trim();
  try {
    assert.match(await cgroupFile(id, 'memory', 'memory.oom_control'), /^oom_kill_disable 1$/m);
    assert.equal((await inspect(id)).HostConfig['OomKillDisable'], true);
  } finally {
    await env.ok(['rm', '-f', id]);
  }
});

test("bad limits are refused at create with Docker's messages and leave no container", { skip }, async () => {
  const cpus = os.availableParallelism();
  await refused(['--memory', '4m'], 'Minimum memory limit allowed is 6MB');
  await refused(['--memory', '64m', '--memory-swap', '32m'], 'Minimum memoryswap limit should be larger than memory limit, see usage');
  await refused(['--memory-swap', '64m'], 'You should always set the Memory limit when using Memoryswap limit, see usage');
  await refused(['--memory', '16m', '--memory-reservation', '32m'], 'Minimum memory limit can not be less than memory reservation limit, see usage');
  await refused(['--cpus', String(cpus + 1)], `Range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`);
  await refused(['--cpus', '0.5', '--cpu-quota', '50000'], 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  await refused(['--cpu-period', '100'], 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  await refused(['--cpuset-cpus', '1-x'], 'Invalid value 1-x for cpuset cpus');
  await refused(['--cpuset-cpus', String(cpus + 7)], `Requested CPUs are not available - requested ${cpus + 7}`);
  await refused(['--blkio-weight', '5'], 'Range of blkio weight is from 10 to 1000');
  await refused(['--device', '/dev/no-such-device'], 'error gathering device information while adding custom device "/dev/no-such-device": no such file or directory');
  // The CLI compacts a profile file itself; a body with a broken profile is the daemon's to refuse.
  const bad = await env.daemon.request('POST', '/v1.47/containers/create', { Image: env.ref, HostConfig: { SecurityOpt: ['seccomp={"defaultAction":'] } });
  assert.equal(bad.status, 400);
  assert.match(bad.json<{ message: string }>().message, /^Decoding seccomp profile failed: /);
  const rule = await env.daemon.request('POST', '/v1.47/containers/create', { Image: env.ref, HostConfig: { DeviceCgroupRules: ['c 1:3'] } });
  assert.equal(rule.status, 400);
  assert.equal(rule.json<{ message: string }>().message, "invalid device cgroup rule format: 'c 1:3'");
  assert.equal((await env.ok(['ps', '-aq'])).trim(), '');
});

test('docker update changes the limits of a running container in its cgroup, and of a stopped one for its next start', { skip }, async () => {
  const id = (await env.ok(['run', '-d', '--name', 'upd', '--memory', '64m', '--cpus', '0.5', env.ref, 'sh', '-c', 'x=0123456789abcdef; i=0; while [ $i -lt 20 ]; do x=$x$x; i=$((i+1)); done; echo ready; sleep 300; echo ${#x}'])).trim();
  try {
    await env.ok(['update', '--memory', '48m', '--cpus', '1.5', '--pids-limit', '50', '--cpu-shares', '256', 'upd']);
    assert.equal(await cgroupFile(id, 'memory', 'memory.limit_in_bytes'), String(48 << 20));
    assert.equal(await cgroupFile(id, 'cpu', 'cpu.cfs_quota_us'), '150000');
    assert.equal(await cgroupFile(id, 'cpu', 'cpu.shares'), '256');
    assert.equal(await cgroupFile(id, 'pids', 'pids.max'), '50');
    const hc = (await inspect(id)).HostConfig;
    assert.deepEqual([hc['Memory'], hc['MemorySwap'], hc['NanoCpus'], hc['PidsLimit'], hc['CpuShares']], [48 << 20, 128 << 20, 1_500_000_000, 50, 256]);

    const conflict = await docker(env.daemon, ['update', '--cpu-quota', '20000', 'upd']);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set/);
    const overSwap = await docker(env.daemon, ['update', '--memory', '256m', 'upd']);
    assert.match(overSwap.stderr, /Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time/);

    // The shell holds a 16 MiB string: the kernel refuses a limit below that, and nothing changes.
    await eventually(async () => assert.match(await env.ok(['logs', 'upd']), /ready/));
    const below = await docker(env.daemon, ['update', '--memory', '8m', 'upd']);
    assert.equal(below.code, 1);
    assert.match(below.stderr, new RegExp(`Cannot update container ${id}: unable to set memory limit to 8388608 \\(current usage: \\d+`));
    assert.equal(await cgroupFile(id, 'memory', 'memory.limit_in_bytes'), String(48 << 20));
    assert.equal((await inspect(id)).HostConfig['Memory'], 48 << 20);

    await env.ok(['stop', '-t', '0', 'upd']);
    await env.ok(['update', '--memory', '40m', 'upd']);
    assert.equal((await inspect(id)).HostConfig['Memory'], 40 << 20);
    await env.ok(['start', 'upd']);
    assert.equal(await cgroupFile(id, 'memory', 'memory.limit_in_bytes'), String(40 << 20));
  } finally {
    await env.ok(['rm', '-f', id]);
  }
});

test('capabilities: the default set, --cap-add, --cap-drop and --privileged', { skip }, async () => {
  const capEff = async (args: string[]): Promise<string> =>
    (await env.ok(['run', '--rm', ...args, env.ref, 'sh', '-c', 'grep CapEff /proc/self/status'])).trim().replace(/^CapEff:\s*/, '');
  assert.equal(await capEff([]), '00000000a80425fb');
  assert.equal(await capEff(['--cap-add', 'SYS_ADMIN']), '00000000a82425fb');
  assert.equal(await capEff(['--cap-drop', 'ALL', '--cap-add', 'CHOWN']), '0000000000000001');
  assert.equal(await capEff(['--cap-drop', 'NET_RAW']), '00000000a80405fb');
  const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(await fsp.readFile('/proc/self/status', 'utf8'))?.[1]}`);
  assert.equal(await capEff(['--privileged']), bounding.toString(16).padStart(16, '0'));
});

test('seccomp: on by default, off when unconfined or privileged; the default profile refuses what it should; custom profiles apply', { skip }, async () => {
  const seccompMode = async (args: string[]): Promise<string> =>
    (await env.ok(['run', '--rm', ...args, env.ref, 'sh', '-c', 'grep "^Seccomp:" /proc/self/status'])).trim().replace(/^Seccomp:\s*/, '');
  assert.equal(await seccompMode([]), '2');
  assert.equal(await seccompMode(['--security-opt', 'seccomp=unconfined']), '0');
  assert.equal(await seccompMode(['--privileged']), '0');

  // A user namespace needs no capability, so only seccomp stands in the way: the default profile
  // opens unshare for CAP_SYS_ADMIN alone.
  const userns = 'unshare -U true && echo made';
  const denied = await docker(env.daemon, ['run', '--rm', env.ref, 'sh', '-c', userns]);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /unshare\(0x10000000\): Operation not permitted/);
  assert.equal(await env.ok(['run', '--rm', '--security-opt', 'seccomp=unconfined', env.ref, 'sh', '-c', userns]), 'made\n');
  assert.equal(await env.ok(['run', '--rm', '--cap-add', 'SYS_ADMIN', env.ref, 'sh', '-c', userns]), 'made\n');

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-seccomp-'));
  try {
    const profile = path.join(dir, 'no-mkdir.json');
    await fsp.writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }));
    const r = await docker(env.daemon, ['run', '--rm', '--security-opt', `seccomp=${profile}`, env.ref, 'sh', '-c', 'touch /file && echo touched; mkdir /dir']);
    assert.equal(r.stdout, 'touched\n');
    assert.match(r.stderr, /mkdir: can't create directory '\/dir': Permission denied/);
    assert.equal(r.code, 1);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('--read-only, --device (node and cgroup access) and --device-cgroup-rule', { skip }, async () => {
  const ro = await docker(env.daemon, ['run', '--rm', '--read-only', env.ref, 'sh', '-c', 'touch /dev/shm/ok && echo shm; touch /file']);
  assert.equal(ro.stdout, 'shm\n');
  assert.match(ro.stderr, /Read-only file system/);

  const dev = await env.ok(['run', '--rm', '--device', '/dev/null:/dev/mynull', env.ref, 'sh', '-c', 'ls -l /dev/mynull; echo x > /dev/mynull && echo wrote']);
  assert.match(dev, /^crw-rw-rw- .* 1, +3 .* \/dev\/mynull\nwrote\n$/);
  // Read-only access (to a device runc does not allow by default): the device cgroup lets the
  // read through to the driver (which refuses it) and refuses the write itself.
  const r = await docker(env.daemon, ['run', '--rm', '--device', '/dev/loop-control:/dev/lc:r', env.ref, 'sh', '-c', 'cat /dev/lc; echo x > /dev/lc']);
  assert.match(r.stderr, /read error: Invalid argument\n.*can't create \/dev\/lc: Operation not permitted/s);

  // loop-control (10:237) is not among the default devices: a node made for it cannot be opened
  // until a rule allows it (then reading it fails in the driver instead).
  const mk = 'mknod /lc c 10 237 && cat /lc';
  const without = await docker(env.daemon, ['run', '--rm', env.ref, 'sh', '-c', mk]);
  assert.match(without.stderr, /can't open '\/lc': Operation not permitted/);
  const allowed = await docker(env.daemon, ['run', '--rm', '--device-cgroup-rule', 'c 10:237 rwm', env.ref, 'sh', '-c', mk]);
  assert.match(allowed.stderr, /read error: Invalid argument/, 'the open reached the driver');
});
