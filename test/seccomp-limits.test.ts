/**
 * Unit tests: the seccomp profile builder (default profile, custom Docker profiles), the resource
 * checks and their OCI form, `docker update` merging, devices and their place in the spec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProfile, defaultSeccompProfile, parseDockerProfile, seccompProvider } from '../engine/runtime/seccomp.js';
import { checkResources, defaultSwap, ociResources, parseCpuList } from '../engine/runtime/resources.js';
import { parseDeviceCgroupRule, resolveDevices } from '../engine/runtime/devices.js';
import { buildSpec, DEFAULT_CAPABILITIES } from '../engine/runtime/spec.js';
import { mergeUpdate } from '../engine/containers/limits.js';
import { isBerthError } from '../engine/common/errors.js';
import type { HostFacts, OciSeccomp, ResourceSupport, SpecInput } from '../engine/runtime/types.js';

const SUPPORT: ResourceSupport = {
  cpus: 2,
  cpusetCpus: '0-1',
  cpusetMems: '0',
  memoryLimit: true,
  swapLimit: true,
  memoryReservation: true,
  memorySwappiness: true,
  oomKillDisable: true,
  cpuShares: true,
  cpuCfs: true,
  cpuset: true,
  pidsLimit: true,
  blkioWeight: false,
};

const HOST: HostFacts = { boundingSet: (1n << 41n) - 1n, hardRlimits: {}, cgroupParent: '/berth', cgroupVersion: 1, arch: 'amd64', resources: SUPPORT };

function expectInvalid(fn: () => unknown, message: string | RegExp, kind = 'invalid'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), String(err));
    assert.equal(err.kind, kind);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** The action a compiled profile takes for a syscall called with no arguments of interest. */
function ruleFor(p: OciSeccomp, name: string): { action: string; args?: unknown; errnoRet?: number }[] {
  return (p.syscalls ?? []).filter((s) => s.names.includes(name)).map((s) => ({ action: s.action, ...(s.args ? { args: s.args } : {}), ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}) }));
}

const compileDefault = (caps: readonly string[], arch = 'amd64', kernel = '6.1.0'): OciSeccomp =>
  compileProfile(defaultSeccompProfile(), { capabilities: caps, arch, kernel });

test('default profile: EPERM by default, x86 architectures, the ordinary syscalls allowed', () => {
  const p = compileDefault(DEFAULT_CAPABILITIES);
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  for (const name of ['read', 'openat', 'execve', 'mmap', 'futex', 'epoll_wait', 'accept4', 'chroot', 'arch_prctl', 'ptrace']) {
    assert.deepEqual(ruleFor(p, name), [{ action: 'SCMP_ACT_ALLOW' }], name);
  }
  for (const name of ['mount', 'umount2', 'unshare', 'setns', 'init_module', 'reboot', 'kexec_load', 'add_key', 'keyctl', 'bpf', 'open_by_handle_at', 'syslog']) {
    assert.deepEqual(ruleFor(p, name), [], `${name} is left to the default action`);
  }
  assert.deepEqual(compileDefault(DEFAULT_CAPABILITIES, 'arm64').architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.deepEqual(ruleFor(compileDefault(DEFAULT_CAPABILITIES, 'arm64'), 'arch_prctl'), []);
  assert.deepEqual(ruleFor(compileDefault(DEFAULT_CAPABILITIES, 'arm64'), 'set_tls'), [{ action: 'SCMP_ACT_ALLOW' }]);
  assert.deepEqual(ruleFor(compileDefault(DEFAULT_CAPABILITIES, 'amd64', '4.4.0'), 'ptrace'), [], 'ptrace needs 4.8 without CAP_SYS_PTRACE');
});

test('default profile: clone without namespaces, clone3 ENOSYS, personality and socket argument rules', () => {
  const p = compileDefault(DEFAULT_CAPABILITIES);
  assert.deepEqual(ruleFor(p, 'clone'), [{ action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] }]);
  assert.deepEqual(ruleFor(p, 'clone3'), [{ action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
  assert.deepEqual(
    ruleFor(p, 'personality').map((r) => (r.args as { value: number }[])[0]?.value),
    [0, 8, 0x20000, 0x20008, 0xffffffff],
  );
  assert.deepEqual(ruleFor(p, 'socket'), [{ action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
  assert.equal(ruleFor(compileDefault(DEFAULT_CAPABILITIES, 's390x'), 'clone')[0]?.args !== undefined, true);
  assert.equal((ruleFor(compileDefault(DEFAULT_CAPABILITIES, 's390x'), 'clone')[0]?.args as { index: number }[])[0]?.index, 1);
});

test('default profile: capabilities open their syscalls', () => {
  const admin = compileDefault([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
  for (const name of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'sethostname']) assert.deepEqual(ruleFor(admin, name), [{ action: 'SCMP_ACT_ALLOW' }], name);
  const mod = compileDefault([...DEFAULT_CAPABILITIES, 'CAP_SYS_MODULE']);
  assert.deepEqual(ruleFor(mod, 'finit_module'), [{ action: 'SCMP_ACT_ALLOW' }]);
  const ptrace = compileDefault([...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE']);
  assert.deepEqual(ruleFor(ptrace, 'pidfd_getfd'), [{ action: 'SCMP_ACT_ALLOW' }]);
  assert.deepEqual(ruleFor(compileDefault(DEFAULT_CAPABILITIES), 'pidfd_getfd'), []);
  assert.deepEqual(ruleFor(compileDefault(['CAP_CHOWN']), 'chroot'), [], 'chroot needs CAP_SYS_CHROOT');
});

test('custom profiles in Docker format: includes/excludes, archMap, name, errors are 400s', () => {
  const text = JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW',
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    ],
    syscalls: [
      { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      { name: 'chown', action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_CHOWN'] } },
      { names: ['ioperm'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_RAWIO'], arches: ['amd64'] } },
      { names: ['kcmp'], action: 'SCMP_ACT_LOG', includes: { minKernel: '7.0' } },
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }] },
    ],
  });
  const provider = seccompProvider({ kernel: '6.1.0' });
  const p = provider({ customProfile: text, capabilities: ['CAP_CHOWN'], arch: 'amd64' }) as OciSeccomp;
  assert.equal(p.defaultAction, 'SCMP_ACT_ALLOW');
  assert.equal(p.defaultErrnoRet, undefined);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assert.deepEqual(p.syscalls?.map((s) => s.names[0]), ['mkdir', 'socket']);
  assert.equal(p.syscalls?.[0]?.errnoRet, 13);
  const raw = provider({ customProfile: text, capabilities: ['CAP_SYS_RAWIO'], arch: 'arm64' }) as OciSeccomp;
  assert.deepEqual(raw.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.deepEqual(raw.syscalls?.map((s) => s.names[0]), ['mkdir', 'chown', 'socket'], 'ioperm is for amd64 only');

  expectInvalid(() => parseDockerProfile('{"defaultAction":'), /^Decoding seccomp profile failed: /);
  expectInvalid(() => parseDockerProfile('{"defaultAction":"SCMP_ACT_NOPE"}'), 'Decoding seccomp profile failed: defaultAction: unknown action "SCMP_ACT_NOPE"');
  expectInvalid(() => parseDockerProfile('{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}'), /use either 'architectures' or 'archMap'/);
  expectInvalid(() => parseDockerProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_BOGUS"}]}]}'), /unknown operator/);
});

test('buildSpec: the provider gets the container capabilities; privileged and unconfined get no filter', () => {
  const input = (hc: SpecInput['create']['HostConfig']): SpecInput => ({
    id: 'a'.repeat(64),
    rootfs: '/r',
    image: { Cmd: ['sh'] },
    create: { HostConfig: hc ?? {} },
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    host: HOST,
    seccomp: seccompProvider({ kernel: '6.1.0' }),
  });
  assert.deepEqual(ruleFor(buildSpec(input({})).linux.seccomp as OciSeccomp, 'mount'), []);
  assert.deepEqual(ruleFor(buildSpec(input({ CapAdd: ['SYS_ADMIN'] })).linux.seccomp as OciSeccomp, 'mount'), [{ action: 'SCMP_ACT_ALLOW' }]);
  assert.equal(buildSpec(input({ Privileged: true })).linux.seccomp, undefined);
  assert.equal(buildSpec(input({ SecurityOpt: ['seccomp=unconfined'] })).linux.seccomp, undefined);
  expectInvalid(() => buildSpec(input({ SecurityOpt: ['seccomp={not json'] })), /^Decoding seccomp profile failed/);
});

test("resource checks: Docker's messages and warnings", () => {
  expectInvalid(() => checkResources({ Memory: 4 << 20 }, SUPPORT), 'Minimum memory limit allowed is 6MB');
  expectInvalid(() => checkResources({ Memory: 64 << 20, MemorySwap: 32 << 20 }, SUPPORT), 'Minimum memoryswap limit should be larger than memory limit, see usage');
  expectInvalid(() => checkResources({ MemorySwap: 32 << 20 }, SUPPORT), 'You should always set the Memory limit when using Memoryswap limit, see usage');
  expectInvalid(() => checkResources({ NanoCpus: 3e9 }, SUPPORT), 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  expectInvalid(() => checkResources({ NanoCpus: 1e9, CpuQuota: 50000 }, SUPPORT), 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  expectInvalid(() => checkResources({ NanoCpus: 1e9, CpuPeriod: 50000 }, SUPPORT), 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  expectInvalid(() => checkResources({ CpuQuota: 500 }, SUPPORT), 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  expectInvalid(() => checkResources({ CpusetCpus: '0-3' }, SUPPORT), 'Requested CPUs are not available - requested 0-3, available: 0-1');
  expectInvalid(() => checkResources({ CpusetMems: 'x' }, SUPPORT), 'Invalid value x for cpuset mems');
  expectInvalid(() => checkResources({ MemorySwappiness: 101 }, SUPPORT), 'Invalid value: 101, valid memory swappiness range is 0-100');
  expectInvalid(() => checkResources({ Memory: 1.5 }, SUPPORT), 'invalid value for Memory: 1.5');

  const noSwap = checkResources({ Memory: 64 << 20 }, { ...SUPPORT, swapLimit: false });
  assert.equal(noSwap.resources.MemorySwap, -1);
  assert.deepEqual(noSwap.warnings, ['Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.']);
  const weight = checkResources({ BlkioWeight: 500 }, SUPPORT);
  assert.equal(weight.resources.BlkioWeight, 0);
  assert.match(weight.warnings[0] ?? '', /Block I\/O weight/);
  assert.equal(checkResources({ PidsLimit: -1 }, SUPPORT).resources.PidsLimit, null);
  assert.deepEqual(defaultSwap({ Memory: 10 }), { Memory: 10, MemorySwap: 20 });
  assert.deepEqual(defaultSwap({ Memory: 10, MemorySwap: -1 }), { Memory: 10, MemorySwap: -1 });
  assert.deepEqual([...(parseCpuList('0-2,5') ?? [])], [0, 1, 2, 5]);
  assert.equal(parseCpuList('2-1'), undefined);
});

test('OCI resources: memory, cpus as quota over a 100 ms period, pids, block I/O; nothing when unset', () => {
  assert.deepEqual(ociResources({}), {});
  assert.deepEqual(
    ociResources({ Memory: 64 << 20, MemorySwap: 128 << 20, MemoryReservation: 32 << 20, OomKillDisable: true, NanoCpus: 1.5e9, CpuShares: 512, CpusetCpus: '1', PidsLimit: 20, BlkioWeight: 300 }),
    {
      memory: { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20, disableOOMKiller: true },
      cpu: { shares: 512, quota: 150000, period: 100000, cpus: '1' },
      pids: { limit: 20 },
      blockIO: { weight: 300 },
    },
  );
  assert.deepEqual(ociResources({ CpuQuota: 20000, CpuPeriod: 50000 }), { cpu: { quota: 20000, period: 50000 } });
  assert.deepEqual(ociResources({ Memory: 64 << 20, MemorySwap: -1 }, { forUpdate: true }), { memory: { limit: 64 << 20, swap: -1 }, pids: { limit: -1 } });
  const spec = buildSpec({
    id: 'b'.repeat(64),
    rootfs: '/r',
    image: { Cmd: ['sh'] },
    create: { HostConfig: { Memory: 64 << 20, MemorySwap: 128 << 20, PidsLimit: 7 } },
    user: { uid: 0, gid: 0, additionalGids: [], home: '/' },
    host: HOST,
  });
  assert.deepEqual(spec.linux.resources.memory, { limit: 64 << 20, swap: 128 << 20 });
  assert.deepEqual(spec.linux.resources.pids, { limit: 7 });
});

test('docker update merges like dockerd: zero leaves a value, cpus and quota exclude each other, swap bounds memory', () => {
  const current = { Memory: 64 << 20, MemorySwap: 128 << 20, NanoCpus: 5e8, PidsLimit: 20 };
  const m = mergeUpdate(current, { Memory: 32 << 20, CpuShares: 256, CpuQuota: 0, RestartPolicy: undefined }, HOST);
  assert.deepEqual([m.hostConfig.Memory, m.hostConfig.MemorySwap, m.hostConfig.NanoCpus, m.hostConfig.CpuShares, m.hostConfig.PidsLimit], [32 << 20, 128 << 20, 5e8, 256, 20]);
  assert.deepEqual(m.resources.memory, { limit: 32 << 20, swap: 128 << 20 });
  assert.equal(m.changed, true);
  assert.equal(mergeUpdate(current, { Memory: 0, Devices: [] }, HOST).changed, false);
  assert.equal(mergeUpdate(current, { PidsLimit: 0 }, HOST).hostConfig.PidsLimit, null);
  assert.deepEqual(mergeUpdate(current, { PidsLimit: 0 }, HOST).resources.pids, { limit: -1 });
  expectInvalid(() => mergeUpdate(current, { CpuQuota: 20000 }, HOST), 'Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set', 'conflict');
  expectInvalid(() => mergeUpdate(current, { Memory: 256 << 20 }, HOST), 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time', 'conflict');
  assert.equal(mergeUpdate(current, { Memory: 256 << 20, MemorySwap: 512 << 20 }, HOST).hostConfig.Memory, 256 << 20);
  assert.equal(mergeUpdate({}, { Memory: 16 << 20 }, HOST).hostConfig.MemorySwap, 32 << 20, 'no swap limit yet: twice the memory, as at create');
  expectInvalid(() => mergeUpdate(current, { Memory: 4 << 20 }, HOST), 'Minimum memory limit allowed is 6MB');
  expectInvalid(() => mergeUpdate(current, { Ulimits: [{ Name: 'nofile', Soft: 1, Hard: 1 }] }, HOST), 'updating Ulimits is not supported');
});

test('devices: cgroup rules parse, host devices resolve to a node and an allow rule, missing ones are 400s', async () => {
  assert.deepEqual(parseDeviceCgroupRule('c 1:3 mr'), { allow: true, type: 'c', major: 1, minor: 3, access: 'mr' });
  assert.deepEqual(parseDeviceCgroupRule('a *:* rwm'), { allow: true, type: 'a', access: 'rwm' });
  expectInvalid(() => parseDeviceCgroupRule('c 1:3'), "invalid device cgroup rule format: 'c 1:3'");
  const [d] = await resolveDevices([{ PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rw' }]);
  assert.deepEqual(d?.device && { path: d.device.path, type: d.device.type, major: d.device.major, minor: d.device.minor }, { path: '/dev/mynull', type: 'c', major: 1, minor: 3 });
  assert.deepEqual(d?.rule, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  await assert.rejects(resolveDevices([{ PathOnHost: '/dev/nope' }]), /error gathering device information while adding custom device "\/dev\/nope": no such file or directory/);
  await assert.rejects(resolveDevices([{ PathOnHost: '/etc/hostname' }]), /not a device node/);
  const spec = buildSpec({
    id: 'c'.repeat(64),
    rootfs: '/r',
    image: { Cmd: ['sh'] },
    create: { HostConfig: { Devices: [{ PathOnHost: '/dev/null' }], DeviceCgroupRules: ['c 10:237 r'] } },
    user: { uid: 0, gid: 0, additionalGids: [], home: '/' },
    host: HOST,
    devices: d ? [d] : [],
  });
  assert.deepEqual(spec.linux.devices?.map((x) => x.path), ['/dev/mynull']);
  assert.deepEqual(spec.linux.resources.devices.slice(-2), [d?.rule, { allow: true, type: 'c', major: 10, minor: 237, access: 'r' }]);
});
