/**
 * OCI runtime spec generation (engine/runtime/spec.ts) and user resolution (user.ts): unit tests
 * of Docker's semantics, then containers run with the real runc from a busybox-static rootfs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH_ENV,
  DEFAULT_READONLY_PATHS,
  RLIM_INFINITY,
  STOP_SIGNAL_ANNOTATION,
  buildSpec,
  capabilitiesFromMask,
  capabilityMask,
  effectiveUser,
  parseBoundingSet,
  parseProcLimits,
  parseSecurityOpts,
  probeHostFacts,
  serializeSpec,
} from '../engine/runtime/spec.js';
import { ensureWorkingDir, readFileInRoot, resolveInRoot, resolveUser } from '../engine/runtime/user.js';
import type { HostFacts, ImageRuntimeConfig, OciSpec, RuntimeCreateConfig, SeccompRequest, SpecInput } from '../engine/runtime/types.js';
import { isBerthError } from '../engine/common/errors.js';
import { busyboxStaticBinary } from './harness/images.js';
import { run } from './harness/util.js';

const ID = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
/** Everything up to CAP_CHECKPOINT_RESTORE but CAP_SYS_RESOURCE (this project's CI host). */
const NO_SYS_RESOURCE = 0x1fffeffffffn;
const ALL_CAPS = (1n << BigInt(CAPABILITIES.length)) - 1n;

const ROOT_USER = { uid: 0, gid: 0, additionalGids: [], home: '/root' };

function host(over: Partial<HostFacts> = {}): HostFacts {
  return {
    boundingSet: ALL_CAPS,
    hardRlimits: { RLIMIT_NOFILE: 20000n, RLIMIT_NPROC: 'unlimited' },
    cgroupParent: '/berth',
    cgroupVersion: 1,
    oomScoreAdj: 0,
    arch: 'amd64',
    ...over,
  };
}

function input(over: Partial<SpecInput> = {}, create: RuntimeCreateConfig = {}, image: ImageRuntimeConfig = { Cmd: ['sh'] }): SpecInput {
  return { id: ID, rootfs: '/var/lib/berth/rootfs', image, create, user: ROOT_USER, host: host(), ...over };
}

const spec = (create: RuntimeCreateConfig = {}, image?: ImageRuntimeConfig, over: Partial<SpecInput> = {}): OciSpec =>
  buildSpec(input(over, create, image));

const hex = (caps: string[]): string => capabilityMask(caps).toString(16).padStart(16, '0');

function assertInvalid(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), `expected a BerthError, got ${String(err)}`);
    assert.equal(err.kind, 'invalid');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

async function assertRejectsInvalid(p: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isBerthError(err), `expected a BerthError, got ${String(err)}`);
    assert.equal(err.kind, 'invalid');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------

describe('capabilities', () => {
  test("defaults are Docker's 14, CapEff 00000000a80425fb, nothing inheritable or ambient", () => {
    const s = spec();
    const c = s.process.capabilities;
    assert.equal(hex(c.effective), '00000000a80425fb');
    assert.deepEqual(c.bounding, c.effective);
    assert.deepEqual(c.permitted, c.effective);
    assert.deepEqual(c.inheritable, []);
    assert.deepEqual(c.ambient, []);
    assert.deepEqual(new Set(c.bounding), new Set(DEFAULT_CAPABILITIES));
    // Sorted by bit number.
    assert.deepEqual(c.bounding, capabilitiesFromMask(0xa80425fbn));
  });

  test('a non-root user gets no effective or permitted capabilities, the bounding set stays', () => {
    const s = spec({}, undefined, { user: { uid: 65534, gid: 65534, additionalGids: [], home: '/' } });
    assert.deepEqual(s.process.capabilities.effective, []);
    assert.deepEqual(s.process.capabilities.permitted, []);
    assert.equal(hex(s.process.capabilities.bounding), '00000000a80425fb');
  });

  test('CapAdd/CapDrop: with or without CAP_, any case', () => {
    const s = spec({ HostConfig: { CapAdd: ['sys_admin', 'Cap_Net_Admin'], CapDrop: ['CAP_chown', 'mknod'] } });
    const expected = (0xa80425fbn | (1n << 21n) | (1n << 12n)) & ~(1n << 0n) & ~(1n << 27n);
    assert.equal(capabilityMask(s.process.capabilities.effective), expected);
    // Adding a default again does not duplicate it.
    assert.deepEqual(spec({ HostConfig: { CapAdd: ['CHOWN'] } }).process.capabilities.bounding, [...spec().process.capabilities.bounding]);
  });

  test('CapDrop ALL keeps exactly CapAdd; CapAdd ALL is everything the host allows minus CapDrop', () => {
    assert.deepEqual(spec({ HostConfig: { CapDrop: ['all'], CapAdd: ['net_bind_service'] } }).process.capabilities.bounding, ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(spec({ HostConfig: { CapDrop: ['ALL'] } }).process.capabilities.bounding, []);
    const all = spec({ HostConfig: { CapAdd: ['ALL'], CapDrop: ['kill'] } }, undefined, { host: host({ boundingSet: NO_SYS_RESOURCE }) });
    assert.equal(capabilityMask(all.process.capabilities.effective), NO_SYS_RESOURCE & ~(1n << 5n));
    // ALL in CapAdd wins over ALL in CapDrop (Docker checks it first).
    assert.equal(capabilityMask(spec({ HostConfig: { CapAdd: ['ALL'], CapDrop: ['ALL'] } }).process.capabilities.bounding), ALL_CAPS);
  });

  test('unknown and unavailable capabilities are rejected with Docker-like messages', () => {
    assertInvalid(() => spec({ HostConfig: { CapAdd: ['foo'] } }), 'unknown capability: "CAP_FOO"');
    assertInvalid(() => spec({ HostConfig: { CapDrop: ['CAP_BAR'] } }), 'unknown capability: "CAP_BAR"');
    assertInvalid(
      () => spec({ HostConfig: { CapAdd: ['SYS_RESOURCE'] } }, undefined, { host: host({ boundingSet: NO_SYS_RESOURCE }) }),
      'capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"',
    );
  });

  test('defaults missing from the bounding set are left out with a warning', () => {
    const warnings: string[] = [];
    const s = spec({}, undefined, { host: host({ boundingSet: 0xa80425fbn & ~(1n << 29n) }), onWarning: (m) => warnings.push(m) });
    assert.equal(capabilityMask(s.process.capabilities.bounding), 0xa80425fbn & ~(1n << 29n));
    assert.match(warnings.join('\n'), /CAP_AUDIT_WRITE/);
  });

  test('privileged: every capability in the bounding set, no masks, writable /sys and cgroups, all devices', () => {
    const devices = [{ path: '/dev/fuse', type: 'c' as const, major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }];
    let asked = false;
    const s = spec({ HostConfig: { Privileged: true, CapDrop: ['ALL'] } }, undefined, {
      host: host({ boundingSet: NO_SYS_RESOURCE, devices }),
      seccomp: () => {
        asked = true;
        return { defaultAction: 'SCMP_ACT_ERRNO' };
      },
    });
    assert.equal(capabilityMask(s.process.capabilities.effective), NO_SYS_RESOURCE);
    assert.equal(hex(s.process.capabilities.bounding), '000001fffeffffff');
    assert.ok(!s.process.capabilities.bounding.includes('CAP_SYS_RESOURCE'));
    assert.deepEqual(s.linux.maskedPaths, []);
    assert.deepEqual(s.linux.readonlyPaths, []);
    assert.deepEqual(s.mounts.find((m) => m.destination === '/sys')?.options, ['nosuid', 'noexec', 'nodev']);
    assert.ok(!s.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options?.includes('ro'));
    assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.deepEqual(s.linux.devices, devices);
    assert.equal(s.linux.seccomp, undefined);
    assert.equal(asked, false);
  });

  test('mask helpers', () => {
    assert.equal(parseBoundingSet('CapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n'), NO_SYS_RESOURCE);
    assert.deepEqual(capabilitiesFromMask(capabilityMask(['CAP_KILL', 'CAP_CHOWN'])), ['CAP_CHOWN', 'CAP_KILL']);
    assert.equal(CAPABILITIES[24], 'CAP_SYS_RESOURCE');
    assert.equal(CAPABILITIES[40], 'CAP_CHECKPOINT_RESTORE');
  });
});

describe('command, environment, working dir', () => {
  const img: ImageRuntimeConfig = { Entrypoint: ['/entry.sh'], Cmd: ['serve', '--port=80'] };

  test('Entrypoint and Cmd merge like Docker', () => {
    assert.deepEqual(spec({}, img).process.args, ['/entry.sh', 'serve', '--port=80']);
    assert.deepEqual(spec({ Cmd: ['debug'] }, img).process.args, ['/entry.sh', 'debug']);
    // A create Entrypoint drops the image's Cmd.
    assert.deepEqual(spec({ Entrypoint: ['/bin/sh'] }, img).process.args, ['/bin/sh']);
    assert.deepEqual(spec({ Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'] }, img).process.args, ['/bin/sh', '-c', 'true']);
    // [""] resets the entrypoint (docker run --entrypoint "" IMAGE CMD...).
    assert.deepEqual(spec({ Entrypoint: [''], Cmd: ['echo', 'hi'] }, img).process.args, ['echo', 'hi']);
    assertInvalid(() => spec({ Entrypoint: [''] }, img), 'No command specified');
    // An explicit [] clears the entrypoint but keeps the image's Cmd; null means "not given".
    assert.deepEqual(spec({ Entrypoint: [] }, img).process.args, ['serve', '--port=80']);
    assert.deepEqual(spec({ Entrypoint: null, Cmd: [] }, img).process.args, ['/entry.sh', 'serve', '--port=80']);
    // StrSlice: a plain string is one element.
    assert.deepEqual(spec({ Cmd: 'echo hi' }, { Entrypoint: '/bin/sh -c' }).process.args, ['/bin/sh -c', 'echo hi']);
    assertInvalid(() => spec({}, {}), 'No command specified');
  });

  test('environment: defaults, image, create overrides, unset, TERM, HOME', () => {
    assert.deepEqual(spec().process.env, [`PATH=${DEFAULT_PATH_ENV}`, `HOSTNAME=${ID.slice(0, 12)}`, 'HOME=/root']);
    const s = spec(
      { Hostname: 'web', Tty: true, Env: ['B=create', 'C=3', 'DROPME'] },
      { Cmd: ['sh'], Env: ['PATH=/opt/bin:/usr/bin', 'A=1', 'B=image', 'DROPME=x'] },
    );
    assert.deepEqual(s.process.env, ['PATH=/opt/bin:/usr/bin', 'HOSTNAME=web', 'TERM=xterm', 'B=create', 'C=3', 'A=1', 'HOME=/root']);
    assert.equal(s.process.terminal, true);
    assert.equal(spec().process.terminal, false);
    // HOME from the env wins over passwd; a user without an entry gets "/".
    assert.ok(spec({ Env: ['HOME=/data'] }).process.env.includes('HOME=/data'));
    assert.ok(!spec({ Env: ['HOME=/data'] }).process.env.includes('HOME=/root'));
    assert.ok(spec({}, undefined, { user: { uid: 1234, gid: 0, additionalGids: [], home: '/' } }).process.env.includes('HOME=/'));
    assertInvalid(() => spec({ Env: ['=oops'] }), 'invalid environment variable: =oops');
    assertInvalid(() => spec({ Env: ['A=b\0c'] }), /NUL/);
  });

  test('working directory', () => {
    assert.equal(spec().process.cwd, '/');
    assert.equal(spec({}, { Cmd: ['sh'], WorkingDir: '/app/' }).process.cwd, '/app');
    assert.equal(spec({}, { Cmd: ['sh'], WorkingDir: 'rel/dir' }).process.cwd, '/rel/dir');
    assert.equal(spec({ WorkingDir: '/srv//x/../y' }, { Cmd: ['sh'], WorkingDir: '/app' }).process.cwd, '/srv/y');
    assertInvalid(() => spec({ WorkingDir: 'srv' }), "the working directory 'srv' is invalid, it needs to be an absolute path");
  });

  test('user, hostname, domainname, stop signal, oom score', () => {
    const s = spec(
      { Hostname: 'h1', Domainname: 'example.org', StopSignal: 'SIGQUIT', HostConfig: { OomScoreAdj: 500 } },
      { Cmd: ['sh'], StopSignal: 'SIGINT' },
      { user: { uid: 1000, gid: 100, additionalGids: [10, 20], home: '/home/u' } },
    );
    assert.deepEqual(s.process.user, { uid: 1000, gid: 100, umask: 0o022, additionalGids: [10, 20] });
    assert.equal(s.hostname, 'h1');
    assert.equal(s.domainname, 'example.org');
    assert.equal(s.annotations?.[STOP_SIGNAL_ANNOTATION], 'SIGQUIT');
    assert.equal(spec({}, { Cmd: ['sh'], StopSignal: 'SIGINT' }).annotations?.[STOP_SIGNAL_ANNOTATION], 'SIGINT');
    assert.equal(spec().annotations, undefined);
    assert.equal(s.process.oomScoreAdj, 500);
    assert.equal(spec().process.oomScoreAdj, 0);
    assertInvalid(() => spec({ HostConfig: { OomScoreAdj: 1001 } }), 'Invalid value 1001, range for oom score adj is [-1000, 1000]');
    assertInvalid(() => spec({ Hostname: 'x'.repeat(65) }), /invalid hostname/);
    // Without CAP_SYS_RESOURCE a container cannot be made less killable than the daemon.
    const warnings: string[] = [];
    const low = spec({ HostConfig: { OomScoreAdj: -500 } }, undefined, { host: host({ boundingSet: NO_SYS_RESOURCE, oomScoreAdj: -100 }), onWarning: (m) => warnings.push(m) });
    assert.equal(low.process.oomScoreAdj, -100);
    assert.equal(warnings.length, 1);
    assert.equal(spec({ HostConfig: { OomScoreAdj: -500 } }, undefined, { host: host({ oomScoreAdj: -100 }) }).process.oomScoreAdj, -500);
  });

  test('an init runs the command as PID 1 from a read-only /sbin/docker-init, as Docker does', () => {
    const s = spec({ Cmd: ['sleep', '5'] }, undefined, { initPath: '/usr/bin/tini-static' });
    assert.deepEqual(s.process.args, ['/sbin/docker-init', '--', 'sleep', '5']);
    assert.deepEqual(s.mounts.find((m) => m.destination === '/sbin/docker-init'), { destination: '/sbin/docker-init', type: 'bind', source: '/usr/bin/tini-static', options: ['bind', 'ro', 'rprivate'] });
    assert.deepEqual(spec({ Cmd: ['sleep', '5'] }).process.args, ['sleep', '5'], 'no init unless asked');
    assertInvalid(() => spec({}, undefined, { initPath: 'tini' }), /must be absolute/);
  });
});

describe('rlimits', () => {
  test('clamped to the daemon hard limits, soft follows', () => {
    const warnings: string[] = [];
    const s = spec({ HostConfig: { Ulimits: [{ Name: 'nofile', Soft: 1048576, Hard: 1048576 }] } }, undefined, { onWarning: (m) => warnings.push(m) });
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
    assert.match(warnings[0] ?? '', /nofile/);
    // A soft limit under the clamp is kept.
    assert.deepEqual(spec({ HostConfig: { Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 65536 }] } }).process.rlimits, [
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 },
    ]);
    assert.equal(spec().process.rlimits, undefined);
  });

  test('-1 is unlimited (RLIM_INFINITY as a uint64 in config.json)', () => {
    const s = spec({ HostConfig: { Ulimits: [{ Name: 'nproc', Soft: -1, Hard: -1 }, { Name: 'core', Soft: 0, Hard: -1 }] } });
    assert.deepEqual(s.process.rlimits, [
      { type: 'RLIMIT_NPROC', soft: RLIM_INFINITY, hard: RLIM_INFINITY },
      { type: 'RLIMIT_CORE', soft: 0, hard: RLIM_INFINITY },
    ]);
    const json = serializeSpec(s);
    assert.match(json, /"type":"RLIMIT_NPROC","hard":18446744073709551615,"soft":18446744073709551615/);
    // Everything else survives the round trip unchanged.
    const back = JSON.parse(json) as OciSpec;
    assert.deepEqual(back.process.env, s.process.env);
    assert.deepEqual(back.mounts, s.mounts);
  });

  test('bad ulimits are rejected', () => {
    assertInvalid(() => spec({ HostConfig: { Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] } }), 'invalid ulimit type: bogus');
    assertInvalid(
      () => spec({ HostConfig: { Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 5 }] } }),
      'ulimit soft limit must be less than or equal to hard limit: 10 > 5',
    );
    assertInvalid(() => spec({ HostConfig: { Ulimits: [{ Name: 'nofile', Soft: -1, Hard: 5 }] } }), /soft limit must be less/);
    assertInvalid(() => spec({ HostConfig: { Ulimits: [{ Name: 'nofile', Soft: -2, Hard: 5 }] } }), /invalid ulimit soft value/);
  });

  test('/proc/self/limits parsing', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      'Max open files            20000                20000                files     ',
      'Max processes             96365                96365                processes ',
      'Max realtime timeout      unlimited            unlimited            us        ',
    ].join('\n');
    assert.deepEqual(parseProcLimits(text), { RLIMIT_CPU: 'unlimited', RLIMIT_NOFILE: 20000n, RLIMIT_NPROC: 96365n, RLIMIT_RTTIME: 'unlimited' });
  });
});

describe('filesystem, namespaces, devices, security options', () => {
  test("Docker's masked and read-only paths and default mounts", () => {
    const s = spec({}, undefined, { files: { hosts: '/c/hosts', hostname: '/c/hostname', resolvConf: '/c/resolv.conf' } });
    assert.deepEqual(s.linux.maskedPaths, [...DEFAULT_MASKED_PATHS]);
    for (const p of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware', '/sys/devices/virtual/powercap', '/proc/scsi']) {
      assert.ok(s.linux.maskedPaths.includes(p), p);
    }
    assert.deepEqual(s.linux.readonlyPaths, [...DEFAULT_READONLY_PATHS]);
    const byDest = new Map(s.mounts.map((m) => [m.destination, m]));
    assert.deepEqual(
      s.mounts.map((m) => m.destination),
      ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm', '/etc/resolv.conf', '/etc/hostname', '/etc/hosts'],
    );
    assert.deepEqual(byDest.get('/dev/pts')?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    assert.ok(byDest.get('/dev/shm')?.options?.includes('size=67108864'));
    assert.ok(byDest.get('/sys')?.options?.includes('ro'));
    assert.ok(byDest.get('/sys/fs/cgroup')?.options?.includes('ro'));
    assert.deepEqual(byDest.get('/etc/hosts'), { destination: '/etc/hosts', type: 'bind', source: '/c/hosts', options: ['rbind', 'rprivate'] });
    assert.deepEqual(s.root, { path: '/var/lib/berth/rootfs', readonly: false });
    assert.ok(spec({ HostConfig: { ShmSize: 1 << 20 } }).mounts.find((m) => m.destination === '/dev/shm')?.options?.includes('size=1048576'));
    // systempaths=unconfined lifts the masks without privilege.
    const unmasked = spec({ HostConfig: { SecurityOpt: ['systempaths=unconfined'] } });
    assert.deepEqual([unmasked.linux.maskedPaths, unmasked.linux.readonlyPaths], [[], []]);
  });

  test('read-only root: ro everywhere but /proc, /dev*, including the per-container files', () => {
    const s = spec({ HostConfig: { ReadonlyRootfs: true } }, undefined, { files: { hosts: '/c/hosts' } });
    assert.equal(s.root.readonly, true);
    for (const m of s.mounts) {
      const ro = m.options?.includes('ro') ?? false;
      const writable = ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue'].includes(m.destination);
      assert.equal(ro, !writable, m.destination);
    }
  });

  test('namespaces and cgroups path', () => {
    assert.deepEqual(spec().linux.namespaces, [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }]);
    assert.equal(spec().linux.cgroupsPath, `/berth/${ID}`);
    const v2 = spec({}, undefined, { host: host({ cgroupVersion: 2, cgroupParent: 'berth/' }), netnsPath: '/run/netns/x' });
    assert.deepEqual(v2.linux.namespaces.slice(4), [{ type: 'network', path: '/run/netns/x' }, { type: 'cgroup' }]);
    assert.equal(v2.linux.cgroupsPath, `/berth/${ID}`);
    const hostNet = spec({}, undefined, { hostNetwork: true });
    assert.ok(!hostNet.linux.namespaces.some((n) => n.type === 'network'));
    assert.equal(hostNet.linux.sysctl, undefined);
    assert.deepEqual(spec().linux.sysctl, { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' });
  });

  test("device allowlist like Docker's", () => {
    const rules = spec().linux.resources.devices;
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' });
    const allowed = rules.filter((r) => r.allow).map((r) => `${r.type} ${r.major}:${r.minor} ${r.access}`);
    assert.deepEqual(allowed, ['c 1:5 rwm', 'c 1:3 rwm', 'c 1:9 rwm', 'c 1:8 rwm', 'c 5:0 rwm', 'c 5:1 rwm']);
    assert.deepEqual(rules.at(-1), { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' });
    assert.equal(spec().linux.devices, undefined);
  });

  test('SecurityOpt: no-new-privileges forms, seccomp provider, bad options', () => {
    assert.equal(spec().process.noNewPrivileges, false);
    for (const o of ['no-new-privileges', 'no-new-privileges:true', 'no-new-privileges=1']) {
      assert.equal(spec({ HostConfig: { SecurityOpt: [o] } }).process.noNewPrivileges, true, o);
    }
    assert.equal(spec({ HostConfig: { SecurityOpt: ['no-new-privileges', 'no-new-privileges=false'] } }).process.noNewPrivileges, false);
    assertInvalid(() => parseSecurityOpts(['bogus']), 'invalid --security-opt 1: "bogus"');
    assertInvalid(() => parseSecurityOpts(['no-new-privileges=maybe']), 'invalid --security-opt 2: "no-new-privileges=maybe"');
    assert.equal(spec({ HostConfig: { SecurityOpt: ['apparmor=unconfined', 'label=disable'] } }).process.apparmorProfile, undefined);

    const calls: SeccompRequest[] = [];
    const provider = (req: SeccompRequest) => {
      calls.push(req);
      return { defaultAction: 'SCMP_ACT_ERRNO' as const, architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' as const }] };
    };
    const s = spec({ HostConfig: { CapAdd: ['SYS_ADMIN'] } }, undefined, { seccomp: provider });
    assert.equal(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(calls[0]?.customProfile, undefined);
    assert.equal(calls[0]?.arch, 'amd64');
    assert.ok(calls[0]?.capabilities.includes('CAP_SYS_ADMIN'));
    spec({ HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_LOG"}'] } }, undefined, { seccomp: provider });
    assert.equal(calls[1]?.customProfile, '{"defaultAction":"SCMP_ACT_LOG"}');
    assert.equal(spec({ HostConfig: { SecurityOpt: ['seccomp=unconfined'] } }, undefined, { seccomp: provider }).linux.seccomp, undefined);
    assert.equal(calls.length, 2);
    // No provider: no filter by default, and a custom profile is an error rather than silently dropped.
    assert.equal(spec().linux.seccomp, undefined);
    assertInvalid(() => spec({ HostConfig: { SecurityOpt: ['seccomp={}'] } }), /custom seccomp profiles are not supported/);
    assert.equal(spec().process.apparmorProfile, undefined);
    assert.equal(spec().process.selinuxLabel, undefined);
  });
});

// ---------------------------------------------------------------------------------------------

describe('user resolution inside the rootfs', () => {
  let root: string;
  before(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-user-'));
    await fsp.mkdir(path.join(root, 'etc'));
    await fsp.writeFile(
      path.join(root, 'etc/passwd'),
      [
        '# comment',
        'root:x:0:0:root:/root:/bin/sh',
        'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
        'broken:x:notanumber:1::/:/bin/sh',
        'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
        'nohome:x:1001:1001:::/bin/sh',
        'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
        '',
      ].join('\n'),
    );
    await fsp.writeFile(
      path.join(root, 'etc/group'),
      ['root:x:0:', 'wheel:x:10:root,alice', 'staff:x:50:alice', 'users:x:100:', 'alice:x:1000:', 'nogroup:x:65534:', ''].join('\n'),
    );
  });
  after(() => fsp.rm(root, { recursive: true, force: true }));

  test('names, numbers, groups and supplementary groups', async () => {
    assert.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [10], home: '/root' });
    assert.deepEqual(await resolveUser(root, undefined), { uid: 0, gid: 0, additionalGids: [10], home: '/root' });
    assert.deepEqual(await resolveUser(root, 'alice'), { uid: 1000, gid: 1000, additionalGids: [10, 50], home: '/home/alice' });
    assert.deepEqual(await resolveUser(root, '1000'), { uid: 1000, gid: 1000, additionalGids: [10, 50], home: '/home/alice' });
    assert.deepEqual(await resolveUser(root, 'nobody'), { uid: 65534, gid: 65534, additionalGids: [], home: '/nonexistent' });
    assert.deepEqual(await resolveUser(root, 'nohome'), { uid: 1001, gid: 1001, additionalGids: [], home: '/' });
    // A uid without an entry: gid 0, HOME /.
    assert.deepEqual(await resolveUser(root, '4242'), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
    // An explicit group replaces the primary group and disables supplementary groups.
    assert.deepEqual(await resolveUser(root, 'alice:users'), { uid: 1000, gid: 100, additionalGids: [], home: '/home/alice' });
    assert.deepEqual(await resolveUser(root, 'alice:777'), { uid: 1000, gid: 777, additionalGids: [], home: '/home/alice' });
    assert.deepEqual(await resolveUser(root, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
    assert.deepEqual(await resolveUser(root, ':staff'), { uid: 0, gid: 50, additionalGids: [], home: '/root' });
  });

  test('Docker-like errors', async () => {
    await assertRejectsInvalid(resolveUser(root, 'nobody2'), 'unable to find user nobody2: no matching entries in passwd file');
    await assertRejectsInvalid(resolveUser(root, 'broken'), 'unable to find user broken: no matching entries in passwd file');
    await assertRejectsInvalid(resolveUser(root, 'alice:nogroup2'), 'unable to find group nogroup2: no matching entries in group file');
    await assertRejectsInvalid(resolveUser(root, '-1'), 'uids and gids must be in range 0-2147483647');
    await assertRejectsInvalid(resolveUser(root, 'alice:99999999999'), 'uids and gids must be in range 0-2147483647');
  });

  test('no passwd or group file: numbers work, names do not', async () => {
    const empty = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-user-empty-'));
    try {
      assert.deepEqual(await resolveUser(empty, ''), { uid: 0, gid: 0, additionalGids: [], home: '/' });
      assert.deepEqual(await resolveUser(empty, '5:6'), { uid: 5, gid: 6, additionalGids: [], home: '/' });
      await assertRejectsInvalid(resolveUser(empty, 'nobody'), 'unable to find user nobody: no matching entries in passwd file');
      await assertRejectsInvalid(resolveUser(empty, '5:staff'), 'unable to find group staff: no matching entries in group file');
    } finally {
      await fsp.rm(empty, { recursive: true, force: true });
    }
  });

  test('symlinks resolve inside the rootfs, never out of it', async () => {
    const r = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-user-links-'));
    try {
      await fsp.mkdir(path.join(r, 'real/etc'), { recursive: true });
      await fsp.mkdir(path.join(r, 'x'));
      // /etc -> /real/etc (absolute: re-rooted); passwd climbs with .. far above "/" (clamped).
      await fsp.symlink('/real/etc', path.join(r, 'etc'));
      await fsp.writeFile(path.join(r, 'x/passwd'), 'mallory:x:666:666::/m:/bin/sh\n');
      await fsp.symlink('../../../../../../../../../../x/passwd', path.join(r, 'real/etc/passwd'));
      // A host path that exists on every Debian box: followed on the host it would give "root".
      await fsp.symlink('/etc/group-that-is-not-here', path.join(r, 'real/etc/group'));
      assert.deepEqual(await resolveUser(r, 'mallory'), { uid: 666, gid: 666, additionalGids: [], home: '/m' });
      assert.equal(await resolveInRoot(r, '/etc/passwd'), path.join(r, 'x/passwd'));
      assert.equal(await resolveInRoot(r, '/../../etc/missing/../passwd'), path.join(r, 'x/passwd'));
      await fsp.rm(path.join(r, 'real/etc/passwd'));
      await fsp.symlink('/etc/passwd', path.join(r, 'real/etc/passwd')); // -> itself, re-rooted: a loop
      await assertRejectsInvalid(resolveUser(r, 'root'), /too many levels of symbolic links/);
      await fsp.rm(path.join(r, 'real/etc/passwd'));
      await fsp.symlink('/proc/self/root/etc/passwd', path.join(r, 'real/etc/passwd'));
      await assertRejectsInvalid(resolveUser(r, 'root'), 'unable to find user root: no matching entries in passwd file');
      // A FIFO does not hang the daemon.
      await fsp.rm(path.join(r, 'real/etc/passwd'));
      execFileSync('mkfifo', [path.join(r, 'real/etc/passwd')]);
      await assertRejectsInvalid(resolveUser(r, 'root'), /not a regular file/);
      assert.equal(await readFileInRoot(r, '/nope/none'), undefined);
    } finally {
      await fsp.rm(r, { recursive: true, force: true });
    }
  });

  test('ensureWorkingDir creates missing dirs inside the rootfs only', async () => {
    const r = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-wd-'));
    const outside = `berth-wd-outside-${randomBytes(4).toString('hex')}`;
    try {
      assert.equal(await ensureWorkingDir(r, '/a/b/c'), path.join(r, 'a/b/c'));
      assert.ok((await fsp.stat(path.join(r, 'a/b/c'))).isDirectory());
      assert.equal((await fsp.stat(path.join(r, 'a/b/c'))).mode & 0o777, 0o755);
      await ensureWorkingDir(r, '/a/b/c'); // idempotent
      await fsp.symlink(`/tmp/../../${outside}`, path.join(r, 'escape'));
      assert.equal(await ensureWorkingDir(r, '/escape/deep'), path.join(r, outside, 'deep'));
      assert.ok(!existsSync(path.join('/', outside)));
      await fsp.writeFile(path.join(r, 'file'), 'x');
      await assertRejectsInvalid(ensureWorkingDir(r, '/file/sub'), 'Cannot mkdir: /file/sub is not a directory');
      await assertRejectsInvalid(ensureWorkingDir(r, '/file'), 'Cannot mkdir: /file is not a directory');
    } finally {
      await fsp.rm(r, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Real runc

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'].find((p) => existsSync(p));
const e2eSkip = process.getuid?.() !== 0 ? 'needs root' : RUNC === undefined ? 'runc is not installed' : false;

describe('containers under real runc', { skip: e2eSkip }, () => {
  const runc = RUNC as string;
  let work: string;
  let rootfs: string;
  let state: string;
  let facts: HostFacts;
  const cgroupParent = `/berth-spec-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const started: string[] = [];

  before(async () => {
    work = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-runc-'));
    rootfs = path.join(work, 'rootfs');
    state = path.join(work, 'state');
    await fsp.mkdir(state);
    // Modes are set explicitly: the test may run under any umask, and "nobody" must get around.
    await fsp.mkdir(rootfs, { mode: 0o755 });
    await fsp.chmod(rootfs, 0o755);
    for (const d of ['bin', 'etc', 'dev', 'proc', 'sys', 'tmp', 'root', 'usr', 'usr/bin']) {
      await fsp.mkdir(path.join(rootfs, d));
      await fsp.chmod(path.join(rootfs, d), d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755);
    }
    const busybox = await busyboxStaticBinary();
    await fsp.copyFile(busybox, path.join(rootfs, 'bin/busybox'));
    await fsp.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
    await Promise.all(applets.map((a) => fsp.symlink('busybox', path.join(rootfs, 'bin', a))));
    await fsp.writeFile(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    await fsp.writeFile(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    for (const f of ['etc/passwd', 'etc/group']) await fsp.chmod(path.join(rootfs, f), 0o644);
    facts = await probeHostFacts({ cgroupParent, devices: true });
  });

  after(async () => {
    for (const id of started) await run(runc, ['--root', state, 'delete', '-f', id], { timeoutMs: 20_000 }).catch(() => undefined);
    // runc removes each container's cgroup; the parent we made up is ours to remove (empty by now).
    const hierarchies = await fsp.readdir('/sys/fs/cgroup').catch(() => [] as string[]);
    for (const h of ['', ...hierarchies]) await fsp.rmdir(path.join('/sys/fs/cgroup', h, cgroupParent)).catch(() => undefined);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(work), `mounts leaked under ${work}`);
    const leftover = (await Promise.all(['', ...hierarchies].map((h) => existsSync(path.join('/sys/fs/cgroup', h, cgroupParent))))).some(Boolean);
    assert.ok(!leftover, `cgroup ${cgroupParent} left behind`);
    await fsp.rm(work, { recursive: true, force: true });
  });

  interface RunResultText {
    code: number;
    stdout: string;
    stderr: string;
    spec: OciSpec;
  }

  /** Resolves the user, prepares the workdir, writes a bundle and runs it to completion with `runc run`. */
  async function runContainer(create: RuntimeCreateConfig, image: ImageRuntimeConfig = { Env: [`PATH=${DEFAULT_PATH_ENV}`], Cmd: ['sh'] }): Promise<RunResultText> {
    const id = `berth-spec-${randomBytes(6).toString('hex')}`;
    const bundle = path.join(work, id);
    await fsp.mkdir(bundle);
    const hostname = create.Hostname || id.slice(0, 12);
    const files = { hosts: path.join(bundle, 'hosts'), hostname: path.join(bundle, 'hostname'), resolvConf: path.join(bundle, 'resolv.conf') };
    await fsp.writeFile(files.hosts, `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n`);
    await fsp.writeFile(files.hostname, `${hostname}\n`);
    await fsp.writeFile(files.resolvConf, 'nameserver 192.0.2.53\n');
    const user = await resolveUser(rootfs, effectiveUser(image, create));
    const s = buildSpec({ id, rootfs, image, create, user, files, host: facts });
    await ensureWorkingDir(rootfs, s.process.cwd);
    await fsp.writeFile(path.join(bundle, 'config.json'), serializeSpec(s));
    started.push(id);
    try {
      const r = await run(runc, ['--root', state, 'run', '--bundle', bundle, id], { timeoutMs: 25_000 });
      return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString(), spec: s };
    } finally {
      await run(runc, ['--root', state, 'delete', '-f', id], { timeoutMs: 20_000 });
      started.splice(started.indexOf(id), 1);
      const hierarchies = await fsp.readdir('/sys/fs/cgroup');
      for (const h of ['', ...hierarchies]) {
        assert.ok(!existsSync(path.join('/sys/fs/cgroup', h, cgroupParent, id)), `cgroup of ${id} left in ${h}`);
      }
    }
  }

  /** Runs assertions on a container's KEY=value output lines; a failure shows the whole output. */
  const expectOutput = (r: RunResultText, check: (v: Record<string, string>) => void): void => {
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    try {
      check(lines(r.stdout));
    } catch (err) {
      if (err instanceof Error) err.message += `\ncontainer output:\n${r.stdout}${r.stderr}`;
      throw err;
    }
  };

  const lines = (s: string): Record<string, string> =>
    Object.fromEntries(
      s
        .trim()
        .split('\n')
        .map((l) => {
          const i = l.indexOf('=');
          return [l.slice(0, i), l.slice(i + 1)];
        }),
    );

  test('root with the default spec: caps, hostname, env, workdir, masks, sysctls, rlimits', async () => {
    const masked = DEFAULT_MASKED_PATHS.filter((p) => existsSync(p));
    const script = [
      'echo uid=$(id -u)',
      'echo capeff=$(grep CapEff /proc/self/status | cut -f2)',
      'echo capbnd=$(grep CapBnd /proc/self/status | cut -f2)',
      'echo hostname=$(hostname)',
      'echo domain=$(cat /proc/sys/kernel/domainname)',
      'echo etchostname=$(cat /etc/hostname)',
      'echo resolv=$(cat /etc/resolv.conf)',
      'echo greeting=$GREETING',
      'echo home=$HOME',
      'echo pwd=$(pwd)',
      // Some kernels (this project's CI VM) have no /proc/kcore; runc skips masks of missing paths.
      'echo kcore=$(if [ -e /proc/kcore ]; then echo $(wc -c < /proc/kcore) $(stat -c %t:%T /proc/kcore); else echo absent; fi)',
      ...masked.map((m, i) => `echo mask${i}=$(if [ -d ${m} ]; then ls -A ${m} | wc -l; else stat -c %t:%T ${m}; fi)`),
      'echo procsys=$(awk \'$5 == "/proc/sys" { split($6, o, ","); print o[1] }\' /proc/self/mountinfo)',
      'echo port=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)',
      'echo nofile=$(ulimit -n)',
      'echo umask=$(umask)',
      'echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)',
      'echo pid=$$',
      'echo net=$(ls /sys/class/net | tr "\\n" " ")',
    ].join('; ');
    const r = await runContainer({
      Hostname: 'berth-spec',
      Domainname: 'example.test',
      Env: ['GREETING=hello from berth'],
      WorkingDir: '/work/sub',
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: [script],
      HostConfig: { Ulimits: [{ Name: 'nofile', Soft: 1048576, Hard: 1048576 }] },
    });
    expectOutput(r, (v) => {
      assert.equal(v['uid'], '0');
      assert.equal(v['capeff'], '00000000a80425fb');
      assert.equal(v['capbnd'], '00000000a80425fb');
      assert.equal(v['hostname'], 'berth-spec');
      assert.equal(v['domain'], 'example.test');
      assert.equal(v['etchostname'], 'berth-spec');
      assert.equal(v['resolv'], 'nameserver 192.0.2.53');
      assert.equal(v['greeting'], 'hello from berth');
      assert.equal(v['home'], '/root');
      assert.equal(v['pwd'], '/work/sub');
      // A masked file is /dev/null bound over it (reads give nothing), a masked directory an empty tmpfs.
      assert.equal(v['kcore'], existsSync('/proc/kcore') ? '0 1:3' : 'absent');
      assert.ok(masked.length > 0, 'no masked path exists on this host');
      masked.forEach((m, i) => assert.equal(v[`mask${i}`], statSync(m).isDirectory() ? '0' : '1:3', `${m} is not masked`));
      assert.equal(v['procsys'], 'ro');
      assert.equal(v['port'], '0');
      const hostHard = facts.hardRlimits['RLIMIT_NOFILE'];
      const expectNofile = hostHard === undefined || hostHard === 'unlimited' || hostHard > 1048576n ? 1048576n : hostHard;
      assert.equal(v['nofile'], String(expectNofile));
      assert.equal(v['umask'], '0022');
      assert.equal(v['nnp'], '0');
      assert.equal(v['pid'], '1');
      assert.equal(v['net']?.trim(), 'lo'); // a new network namespace: loopback only
    });
    assert.ok((await fsp.stat(path.join(rootfs, 'work/sub'))).isDirectory());
  });

  test('as nobody: id 65534, no effective capabilities, HOME from passwd', async () => {
    const r = await runContainer({
      User: 'nobody',
      Cmd: ['sh', '-c', 'echo uid=$(id -u); echo gid=$(id -g); echo capeff=$(grep CapEff /proc/self/status | cut -f2); echo home=$HOME'],
    });
    expectOutput(r, (v) => {
      assert.equal(v['uid'], '65534');
      assert.equal(v['gid'], '65534');
      assert.equal(v['capeff'], '0000000000000000');
      assert.equal(v['home'], '/nonexistent');
    });
  });

  test('exit codes propagate', async () => {
    const r = await runContainer({ Cmd: ['sh', '-c', 'exit 3'] });
    assert.equal(r.code, 3, r.stderr);
    const r2 = await runContainer({ Cmd: ['false'] });
    assert.equal(r2.code, 1, r2.stderr);
  });

  test('read-only root, no-new-privileges, dropped capabilities', async () => {
    const r = await runContainer({
      Cmd: [
        'sh',
        '-c',
        'touch /x 2>/dev/null && echo root=rw || echo root=ro; touch /dev/shm/x && echo shm=rw; echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2); echo capeff=$(grep CapEff /proc/self/status | cut -f2); chown 1 /tmp 2>/dev/null && echo chown=ok || echo chown=denied',
      ],
      HostConfig: { ReadonlyRootfs: true, SecurityOpt: ['no-new-privileges'], CapDrop: ['ALL'], CapAdd: ['kill'] },
    });
    expectOutput(r, (v) => {
      assert.equal(v['root'], 'ro');
      assert.equal(v['shm'], 'rw');
      assert.equal(v['nnp'], '1');
      assert.equal(v['capeff'], '0000000000000020');
      assert.equal(v['chown'], 'denied');
    });
  });

  test("privileged: every capability the daemon's bounding set holds, unmasked /proc", async () => {
    const maskedFile = DEFAULT_MASKED_PATHS.find((p) => existsSync(p) && !statSync(p).isDirectory()) ?? '/proc/kcore';
    const r = await runContainer({
      Cmd: ['sh', '-c', `echo capeff=$(grep CapEff /proc/self/status | cut -f2); echo maskdev=$(stat -c %t:%T ${maskedFile}); echo null=$(ls /dev/null)`],
      HostConfig: { Privileged: true },
    });
    expectOutput(r, (v) => {
      assert.equal(v['capeff'], (facts.boundingSet & ((1n << BigInt(CAPABILITIES.length)) - 1n)).toString(16).padStart(16, '0'));
      assert.notEqual(v['maskdev'], '1:3');
      assert.equal(v['null'], '/dev/null');
    });
  });

  test('a missing command fails in runc, not in berth, and is reported', async () => {
    const r = await runContainer({ Cmd: ['/no/such/binary'] });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no such file or directory/i);
  });
});
