/**
 * Generates the OCI runtime config (config.json) for a container from its image config, its
 * Docker create body and facts about the host, with Docker's defaults: capabilities, mounts,
 * masked and read-only /proc and /sys paths, namespaces, the device cgroup allowlist.
 *
 * buildSpec() is pure: everything it depends on (the resolved user, host facts, the seccomp
 * provider) comes in through SpecInput, so it is unit-testable. The probe* helpers at the end read
 * the host facts for the daemon.
 *
 * Host constraints it honours (berthd may run without every capability, with modest rlimits):
 * - capabilities are intersected with the daemon's bounding set (--privileged gets all of those);
 * - rlimits are clamped to the daemon's hard limits (raising one needs CAP_SYS_RESOURCE);
 * - oom_score_adj is not set below the daemon's own (lowering needs CAP_SYS_RESOURCE too).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { invalid } from '../common/errors.js';
import { parseDeviceCgroupRule } from './devices.js';
import { checkResources, ociResources, probeResourceSupport } from './resources.js';
import {
  OCI_VERSION,
  type CgroupVersion,
  type DockerUlimit,
  type HostFacts,
  type OciCapabilities,
  type OciDevice,
  type OciDeviceCgroupRule,
  type OciMount,
  type OciNamespace,
  type OciProcess,
  type OciRlimit,
  type OciSeccomp,
  type OciSpec,
  type SpecInput,
} from './types.js';

export const DEFAULT_PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Docker's default /dev/shm size. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
/** OCI image-spec annotation carrying the image's StopSignal (image-spec conversion.md). */
export const STOP_SIGNAL_ANNOTATION = 'org.opencontainers.image.stopSignal';
/** Where an init (HostConfig.Init) is mounted in the container, as in Docker. */
export const INIT_PATH = '/sbin/docker-init';
/** RLIM_INFINITY as the runtime wants it (uint64 max). */
export const RLIM_INFINITY = 0xffffffffffffffffn;

// ---------------------------------------------------------------------------------------------
// Capabilities

/** Linux capabilities by bit number (capability.h; CAP_LAST_CAP is 40 as of Linux 5.9). */
export const CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const CAP_BIT = new Map(CAPABILITIES.map((c, i) => [c, i]));

/** Docker's default set for a non-privileged container (CapEff 00000000a80425fb). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Bit mask of a capability list (as /proc/<pid>/status shows it, in hex). */
export function capabilityMask(caps: Iterable<string>): bigint {
  let mask = 0n;
  for (const c of caps) {
    const bit = CAP_BIT.get(c);
    if (bit === undefined) throw invalid(`unknown capability: "${c}"`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** The known capabilities set in a mask, in bit order (unknown high bits are ignored). */
export function capabilitiesFromMask(mask: bigint): string[] {
  return CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

/** "sys_admin", "CAP_SYS_ADMIN", "Sys_Admin" -> "CAP_SYS_ADMIN"; "all" -> "ALL". */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!CAP_BIT.has(full)) throw invalid(`unknown capability: "${full}"`, 'UNKNOWN_CAPABILITY');
  return full;
}

export interface CapabilityRequest {
  privileged?: boolean;
  capAdd?: readonly string[] | null;
  capDrop?: readonly string[] | null;
  /** The daemon's bounding set: nothing outside it can be granted. */
  boundingSet: bigint;
  onWarning?: (message: string) => void;
}

/**
 * Docker's capability arithmetic: --privileged gets every capability; otherwise start from the
 * defaults, and "ALL" in CapAdd means every capability minus CapDrop, "ALL" in CapDrop means
 * exactly CapAdd, else defaults minus CapDrop plus CapAdd. "Every capability" is what the host can
 * grant (the bounding set); an explicit CapAdd outside it is an error (as in Docker), defaults
 * outside it are left out with a warning. Returns names sorted by bit.
 */
export function computeCapabilities(req: CapabilityRequest): string[] {
  const available = capabilitiesFromMask(req.boundingSet);
  const availableSet = new Set(available);
  if (req.privileged) return available;
  const adds = (req.capAdd ?? []).map(normalizeCapability);
  const drops = new Set((req.capDrop ?? []).map(normalizeCapability));
  for (const c of adds) {
    if (c !== 'ALL' && !availableSet.has(c)) {
      throw invalid(`capability not supported by your kernel or not available in the current environment: "${c}"`, 'CAPABILITY_UNAVAILABLE');
    }
  }
  let caps: string[];
  if (adds.includes('ALL')) caps = available.filter((c) => !drops.has(c));
  else if (drops.has('ALL')) caps = adds;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drops.has(c)), ...adds];
  const missing = caps.filter((c) => !availableSet.has(c));
  if (missing.length > 0) {
    req.onWarning?.(`capabilities not in the daemon's bounding set were left out: ${[...new Set(missing)].join(', ')}`);
  }
  return capabilitiesFromMask(capabilityMask(caps.filter((c) => availableSet.has(c))));
}

// ---------------------------------------------------------------------------------------------
// Docker's default filesystem view

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function defaultMounts(shmSize: number): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] },
  ];
}

/** Mounts a read-only root filesystem leaves writable (Docker's list). */
const WRITABLE_WITH_READONLY_ROOT = new Set(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']);

const chr = (major: number, minor: number): OciDeviceCgroupRule => ({ allow: true, type: 'c', major, minor, access: 'rwm' });

/**
 * Docker's device cgroup rules: deny everything, allow the standard character devices, and deny
 * /dev/fuse. (runc appends its own defaults after these: mknod of anything, /dev/pts/*, ptmx, tun.)
 */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceCgroupRule[] = [
  { allow: false, access: 'rwm' },
  chr(1, 5), // /dev/zero
  chr(1, 3), // /dev/null
  chr(1, 9), // /dev/urandom
  chr(1, 8), // /dev/random
  chr(5, 0), // /dev/tty
  chr(5, 1), // /dev/console
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // /dev/fuse
];

// ---------------------------------------------------------------------------------------------
// Process: command, environment, rlimits

type StrSlice = string[] | string | null | undefined;

/** Docker's StrSlice: a JSON string means a one-element list; null/absent means "not given". */
function strSlice(v: StrSlice): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? [v] : v;
}

/**
 * Docker's Entrypoint/Cmd merge: a non-empty create Entrypoint replaces the image's and drops the
 * image's Cmd ([""] resets the entrypoint to none); otherwise an empty create Cmd falls back to
 * the image's, and the image's Entrypoint applies unless create sent an explicit [].
 */
export function resolveCommand(image: { Entrypoint?: StrSlice; Cmd?: StrSlice }, create: { Entrypoint?: StrSlice; Cmd?: StrSlice }): string[] {
  const userEp = strSlice(create.Entrypoint);
  const userCmd = strSlice(create.Cmd);
  let entrypoint: string[];
  let cmd: string[];
  if (userEp !== undefined && userEp.length > 0) {
    entrypoint = userEp.length === 1 && userEp[0] === '' ? [] : userEp;
    cmd = userCmd ?? [];
  } else {
    cmd = userCmd !== undefined && userCmd.length > 0 ? userCmd : (strSlice(image.Cmd) ?? []);
    entrypoint = userEp !== undefined ? [] : (strSlice(image.Entrypoint) ?? []);
  }
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalid('No command specified', 'NO_COMMAND');
  return args;
}

const envKey = (kv: string): string => {
  const i = kv.indexOf('=');
  return i < 0 ? kv : kv.slice(0, i);
};

/**
 * Docker's environment: create Env first, then image Env entries whose names it does not set
 * (the create-time merge); applied over PATH=<default>, HOSTNAME=<hostname> and TERM=xterm (with
 * a TTY), replacing in place or appending. An entry without "=" removes the variable. HOME comes
 * last, from the user's passwd entry, unless set.
 */
export function buildEnv(opts: { imageEnv?: string[] | null; createEnv?: string[] | null; hostname: string; tty: boolean; home: string }): string[] {
  const createEnv = opts.createEnv ?? [];
  const imageEnv = opts.imageEnv ?? [];
  let merged: string[];
  if (createEnv.length === 0) merged = [...imageEnv];
  else {
    const keys = new Set(createEnv.map(envKey));
    merged = [...createEnv, ...imageEnv.filter((kv) => !keys.has(envKey(kv)))];
  }
  const env = new Map<string, string>(); // insertion order is the output order
  env.set('PATH', `PATH=${DEFAULT_PATH_ENV}`);
  env.set('HOSTNAME', `HOSTNAME=${opts.hostname}`);
  if (opts.tty) env.set('TERM', 'TERM=xterm');
  for (const kv of merged) {
    if (kv.includes('\0')) throw invalid(`invalid environment variable: ${JSON.stringify(kv)} contains a NUL byte`);
    const key = envKey(kv);
    if (key === '') throw invalid(`invalid environment variable: ${kv}`, 'INVALID_ENV');
    if (!kv.includes('=')) env.delete(key);
    else env.set(key, kv);
  }
  if (!env.has('HOME')) env.set('HOME', `HOME=${opts.home}`);
  return [...env.values()];
}

/** Docker's ulimit names (go-units) -> OCI rlimit types. */
const ULIMIT_TYPES: Record<string, string> = {
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
};

function ulimitValue(v: number, what: string): bigint {
  if (!Number.isSafeInteger(v) || v < -1) throw invalid(`invalid ulimit ${what} value: ${v}`, 'INVALID_ULIMIT');
  return v === -1 ? RLIM_INFINITY : BigInt(v);
}

/** JSON-friendly: a number when exact, else a bigint (see serializeSpec). */
function u64(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * HostConfig.Ulimits -> OCI rlimits (the last entry for a name wins), clamped to the daemon's hard
 * limits: without CAP_SYS_RESOURCE the runtime could not raise them and the start would fail.
 */
export function buildRlimits(ulimits: readonly DockerUlimit[] | null | undefined, host: Pick<HostFacts, 'hardRlimits'>, onWarning?: (m: string) => void): OciRlimit[] {
  const byType = new Map<string, OciRlimit>();
  for (const u of ulimits ?? []) {
    const type = ULIMIT_TYPES[u.Name];
    if (type === undefined) throw invalid(`invalid ulimit type: ${u.Name}`, 'INVALID_ULIMIT');
    let soft = ulimitValue(u.Soft, 'soft');
    let hard = ulimitValue(u.Hard, 'hard');
    if (soft > hard) throw invalid(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`, 'INVALID_ULIMIT');
    const max = host.hardRlimits[type];
    if (max !== undefined && max !== 'unlimited' && hard > max) {
      onWarning?.(`ulimit ${u.Name}: hard limit ${u.Hard === -1 ? 'unlimited' : u.Hard} lowered to the daemon's hard limit ${max}`);
      hard = max;
      if (soft > hard) soft = hard;
    }
    byType.delete(type);
    byType.set(type, { type, hard: u64(hard), soft: u64(soft) });
  }
  return [...byType.values()];
}

// ---------------------------------------------------------------------------------------------
// Security options

export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** 'unconfined', 'default', or the JSON text of a custom profile. */
  seccomp: 'unconfined' | 'default' | { custom: string };
  /** systempaths=unconfined: no masked or read-only paths. */
  unmaskSystemPaths: boolean;
  writableCgroups: boolean;
}

/** Go's strconv.ParseBool. */
function parseBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s)) return false;
  return undefined;
}

/** HostConfig.SecurityOpt, as dockerd parses it ("key=value", or the legacy "key:value"). */
export function parseSecurityOpts(opts: readonly string[] | null | undefined, onWarning?: (m: string) => void): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, seccomp: 'default', unmaskSystemPaths: false, writableCgroups: false };
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'disable') continue; // legacy "label:disable"
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : undefined;
    if (sep === undefined) throw invalid(`invalid --security-opt 1: ${JSON.stringify(opt)}`, 'INVALID_SECURITY_OPT');
    const i = opt.indexOf(sep);
    const key = opt.slice(0, i);
    const value = opt.slice(i + 1);
    const bad = (): never => {
      throw invalid(`invalid --security-opt 2: ${JSON.stringify(opt)}`, 'INVALID_SECURITY_OPT');
    };
    switch (key) {
      case 'no-new-privileges':
        out.noNewPrivileges = parseBool(value) ?? bad();
        break;
      case 'seccomp':
        out.seccomp = value === 'unconfined' ? 'unconfined' : value === '' || value === 'builtin' ? 'default' : { custom: value };
        break;
      case 'systempaths':
        if (value !== 'unconfined') bad();
        out.unmaskSystemPaths = true;
        break;
      case 'writable-cgroups':
        out.writableCgroups = parseBool(value) ?? bad();
        break;
      case 'apparmor':
        if (value !== 'unconfined') onWarning?.(`AppArmor profile ${value} ignored: berth does not manage AppArmor profiles`);
        break;
      case 'label':
        break; // SELinux labels: berth leaves them to the runtime's defaults
      default:
        bad();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The spec

function cleanAbs(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The working directory: create's (must be absolute, as Docker checks), else the image's, else "/". */
export function resolveWorkingDir(image: { WorkingDir?: string }, create: { WorkingDir?: string }): string {
  if (create.WorkingDir) {
    if (!create.WorkingDir.startsWith('/')) {
      throw invalid(`the working directory '${create.WorkingDir}' is invalid, it needs to be an absolute path`, 'INVALID_WORKDIR');
    }
    return cleanAbs(create.WorkingDir);
  }
  if (image.WorkingDir) return cleanAbs(path.posix.join('/', image.WorkingDir));
  return '/';
}

/** The user spec a container runs as: create's User, else the image's ("" = root). */
export function effectiveUser(image: { User?: string }, create: { User?: string }): string {
  return create.User || image.User || '';
}

/** The signal that stops the container: create's StopSignal, else the image's, else SIGTERM. */
export function effectiveStopSignal(image: { StopSignal?: string }, create: { StopSignal?: string }): string {
  return create.StopSignal || image.StopSignal || 'SIGTERM';
}

function checkName(what: string, v: string): void {
  // sethostname/setdomainname take at most 64 bytes (HOST_NAME_MAX).
  if (Buffer.byteLength(v) > 64 || v.includes('\0') || /\s/.test(v)) throw invalid(`invalid ${what}: ${JSON.stringify(v)}`, 'INVALID_HOSTNAME');
}

function goArch(arch: string): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[arch] ?? arch;
}

/**
 * Builds the OCI runtime config for a container. Throws BerthError('invalid') with Docker's
 * messages for bad input (unknown capability, bad ulimit, no command...). The rootfs is not
 * touched: create the working directory first with ensureWorkingDir() (user.ts).
 */
export function buildSpec(input: SpecInput): OciSpec {
  const { image, create, host, user } = input;
  const hc = create.HostConfig ?? {};
  const warn = input.onWarning;
  const privileged = hc.Privileged === true;
  const tty = create.Tty === true;
  const readonlyRoot = hc.ReadonlyRootfs === true;

  if (!path.isAbsolute(input.rootfs)) throw invalid(`rootfs path must be absolute: ${input.rootfs}`);
  if (input.initPath !== undefined && !path.isAbsolute(input.initPath)) throw invalid(`the init binary's path must be absolute: ${input.initPath}`);
  if (input.hostNetwork && input.netnsPath !== undefined) throw invalid('a container on the host network cannot also join a network namespace');

  const hostname = create.Hostname || input.id.slice(0, 12);
  checkName('hostname', hostname);
  if (create.Domainname) checkName('domainname', create.Domainname);

  const security = parseSecurityOpts(hc.SecurityOpt, warn);
  const caps = computeCapabilities({ privileged, capAdd: hc.CapAdd, capDrop: hc.CapDrop, boundingSet: host.boundingSet, onWarning: warn });
  // Docker gives a non-root process no effective or permitted capabilities (moby#36587): the
  // bounding set still limits what setuid/file-capability binaries can gain. Nothing inheritable
  // or ambient (CVE-2022-24769).
  const isRoot = user.uid === 0;
  const capabilities: OciCapabilities = {
    bounding: caps,
    effective: isRoot ? [...caps] : [],
    permitted: isRoot ? [...caps] : [],
    inheritable: [],
    ambient: [],
  };

  let oomScoreAdj = hc.OomScoreAdj ?? 0;
  if (!Number.isInteger(oomScoreAdj) || oomScoreAdj < -1000 || oomScoreAdj > 1000) {
    throw invalid(`Invalid value ${oomScoreAdj}, range for oom score adj is [-1000, 1000]`, 'INVALID_OOM_SCORE_ADJ');
  }
  const canLowerOom = ((host.boundingSet >> BigInt(CAP_BIT.get('CAP_SYS_RESOURCE') as number)) & 1n) === 1n;
  if (!canLowerOom && host.oomScoreAdj !== undefined && oomScoreAdj < host.oomScoreAdj) {
    warn?.(`oom score adj ${oomScoreAdj} raised to the daemon's own ${host.oomScoreAdj} (lowering needs CAP_SYS_RESOURCE)`);
    oomScoreAdj = host.oomScoreAdj;
  }

  const shmSize = hc.ShmSize ?? 0;
  if (!Number.isSafeInteger(shmSize) || shmSize < 0) throw invalid(`invalid ShmSize: ${shmSize}`);

  // Mounts: Docker's defaults (minus those the container's own mounts replace), adjusted for
  // read-only root and privilege; then the per-container files and the container's own mounts,
  // parents before children (Docker's order).
  const userMounts = input.mounts ?? [];
  const userDest = new Set(userMounts.map((m) => m.destination));
  const mounts = defaultMounts(shmSize || DEFAULT_SHM_SIZE).filter(
    (m) => !userDest.has(m.destination) && !(userDest.has('/dev') && m.destination.startsWith('/dev/')),
  );
  for (const m of mounts) {
    const opts = m.options ?? [];
    if (readonlyRoot && !WRITABLE_WITH_READONLY_ROOT.has(m.destination) && !opts.includes('ro')) opts.push('ro');
    const writable = (m.destination === '/sys' && privileged) || (m.type === 'cgroup' && (privileged || security.writableCgroups));
    if (writable) m.options = opts.filter((o) => o !== 'ro');
  }
  const fileMounts: [string | undefined, string][] = [
    [input.files?.resolvConf, '/etc/resolv.conf'],
    [input.files?.hostname, '/etc/hostname'],
    [input.files?.hosts, '/etc/hosts'],
  ];
  const containerMounts: OciMount[] = [];
  for (const [source, destination] of fileMounts) {
    if (source === undefined || userDest.has(destination)) continue;
    if (!path.isAbsolute(source)) throw invalid(`${destination} source must be an absolute path: ${source}`);
    containerMounts.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(readonlyRoot ? ['ro'] : [])] });
  }
  if (input.initPath !== undefined && !userDest.has(INIT_PATH)) {
    containerMounts.push({ destination: INIT_PATH, type: 'bind', source: input.initPath, options: ['bind', 'ro', 'rprivate'] });
  }
  containerMounts.push(...userMounts);
  const depth = (m: OciMount): number => m.destination.split('/').filter((s) => s !== '').length;
  mounts.push(...containerMounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i).map(({ m }) => m));

  const namespaces: OciNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!input.hostNetwork) namespaces.push(input.netnsPath !== undefined ? { type: 'network', path: input.netnsPath } : { type: 'network' });
  // Docker's default cgroupns mode: "private" on cgroup v2, "host" on v1 (and hybrid) hosts.
  if (host.cgroupVersion === 2) namespaces.push({ type: 'cgroup' });

  // Devices: the host's for --privileged, then --device nodes, with their cgroup rules after
  // Docker's defaults (later rules win), then --device-cgroup-rule.
  if ((hc.Devices?.length ?? 0) > 0 && input.devices === undefined) throw new Error('HostConfig.Devices must be resolved with resolveDevices() first');
  const devices: OciDevice[] = privileged ? [...(host.devices ?? [])] : [];
  const deviceRules: OciDeviceCgroupRule[] = privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((r) => ({ ...r }));
  for (const d of input.devices ?? []) {
    const i = devices.findIndex((x) => x.path === d.device.path);
    if (i >= 0) devices.splice(i, 1);
    devices.push({ ...d.device });
    if (!privileged) deviceRules.push({ ...d.rule });
  }
  for (const rule of hc.DeviceCgroupRules ?? []) {
    const parsed = parseDeviceCgroupRule(rule);
    if (!privileged) deviceRules.push(parsed);
  }
  const limits = checkResources(hc, host.resources);
  for (const w of limits.warnings) warn?.(w);

  const unmask = privileged || security.unmaskSystemPaths;

  let seccomp: OciSeccomp | undefined;
  if (!privileged && security.seccomp !== 'unconfined') {
    const customProfile = typeof security.seccomp === 'object' ? security.seccomp.custom : undefined;
    if (input.seccomp !== undefined) {
      seccomp = input.seccomp({ customProfile, capabilities: caps, arch: host.arch ?? goArch(process.arch) });
    } else if (customProfile !== undefined) {
      throw invalid('custom seccomp profiles are not supported by this daemon yet', 'SECCOMP_UNSUPPORTED');
    }
  }

  const command = resolveCommand(image, create);
  // Docker's --init: the init is PID 1 and runs the command as its child, reaping orphans and forwarding signals.
  const args = input.initPath !== undefined ? [INIT_PATH, '--', ...command] : command;
  const env = buildEnv({ imageEnv: image.Env, createEnv: create.Env, hostname, tty, home: user.home });
  const rlimits = buildRlimits(hc.Ulimits, host, warn);

  const parent = cleanAbs(path.posix.join('/', host.cgroupParent || '/'));
  const cgroupsPath = parent === '/' ? `/${input.id}` : `${parent}/${input.id}`;

  const annotations: Record<string, string> = { ...(input.annotations ?? {}) };
  const stopSignal = create.StopSignal || image.StopSignal;
  if (stopSignal) annotations[STOP_SIGNAL_ANNOTATION] = stopSignal;

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: tty,
      user: { uid: user.uid, gid: user.gid, umask: 0o022, ...(user.additionalGids.length > 0 ? { additionalGids: [...user.additionalGids] } : {}) },
      args,
      env,
      cwd: resolveWorkingDir(image, create),
      capabilities,
      ...(rlimits.length > 0 ? { rlimits } : {}),
      noNewPrivileges: security.noNewPrivileges,
      oomScoreAdj,
    },
    root: { path: input.rootfs, readonly: readonlyRoot },
    hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath,
      resources: { devices: deviceRules, ...ociResources(limits.resources) },
      maskedPaths: unmask ? [] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: unmask ? [] : [...DEFAULT_READONLY_PATHS],
    },
  };
  if (create.Domainname) spec.domainname = create.Domainname;
  if (tty && hc.ConsoleSize && hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0) {
    spec.process.consoleSize = { height: hc.ConsoleSize[0], width: hc.ConsoleSize[1] };
  }
  if (devices.length > 0) spec.linux.devices = devices;
  const sysctl: Record<string, string> = {};
  if (!input.hostNetwork) {
    // Docker lets unprivileged processes bind low ports and ping in a container's own network namespace.
    sysctl['net.ipv4.ip_unprivileged_port_start'] = '0';
    sysctl['net.ipv4.ping_group_range'] = '0 2147483647';
  }
  // runc before 1.2 accepts but ignores "domainname"; the UTS-namespaced sysctl works everywhere.
  if (create.Domainname) sysctl['kernel.domainname'] = create.Domainname;
  if (Object.keys(sysctl).length > 0) spec.linux.sysctl = sysctl;
  if (seccomp !== undefined) spec.linux.seccomp = seccomp;
  if (Object.keys(annotations).length > 0) spec.annotations = annotations;
  return spec;
}

/**
 * config.json (or an exec process.json) text. JSON.stringify cannot write bigints, and a uint64 such as RLIM_INFINITY does
 * not survive a JS number, so bigints are written as plain integer literals.
 */
export function serializeSpec(spec: OciSpec | OciProcess, indent?: number): string {
  const marker = `__u64_${process.pid}_${Date.now().toString(36)}__`;
  const text = JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'bigint' ? `${marker}${v.toString()}` : v), indent);
  return text.replace(new RegExp(`"${marker}(\\d+)"`, 'g'), '$1');
}

// ---------------------------------------------------------------------------------------------
// Host facts

const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses /proc/<pid>/limits into hard limits by OCI name. */
export function parseProcLimits(text: string): Partial<Record<string, bigint | 'unlimited'>> {
  const out: Partial<Record<string, bigint | 'unlimited'>> = {};
  for (const line of text.split('\n')) {
    for (const [label, type] of Object.entries(LIMIT_NAMES)) {
      if (!line.startsWith(label + ' ')) continue;
      const [, hard] = line.slice(label.length).trim().split(/\s+/);
      if (hard === 'unlimited') out[type] = 'unlimited';
      else if (hard !== undefined && /^\d+$/.test(hard)) out[type] = BigInt(hard);
    }
  }
  return out;
}

/** The CapBnd mask from /proc/<pid>/status text. */
export function parseBoundingSet(statusText: string): bigint {
  const m = /^CapBnd:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (!m) throw new Error('no CapBnd line in /proc/self/status');
  return BigInt(`0x${m[1]}`);
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** 2 when /sys/fs/cgroup is a cgroup2 mount (unified), else 1 (v1 or hybrid). */
export async function probeCgroupVersion(mountpoint = '/sys/fs/cgroup'): Promise<CgroupVersion> {
  const st = await fsp.statfs(mountpoint);
  return Number(st.type) === CGROUP2_SUPER_MAGIC ? 2 : 1;
}

/** Reads the facts buildSpec needs about the host from the daemon's own /proc entries. */
export async function probeHostFacts(opts: { cgroupParent: string; devices?: boolean }): Promise<HostFacts> {
  const [status, limits, oom, cgroupVersion] = await Promise.all([
    fsp.readFile('/proc/self/status', 'utf8'),
    fsp.readFile('/proc/self/limits', 'utf8'),
    fsp.readFile('/proc/self/oom_score_adj', 'utf8'),
    probeCgroupVersion(),
  ]);
  const facts: HostFacts = {
    boundingSet: parseBoundingSet(status),
    hardRlimits: parseProcLimits(limits),
    cgroupParent: opts.cgroupParent,
    cgroupVersion,
    oomScoreAdj: Number.parseInt(oom.trim(), 10),
    arch: goArch(process.arch),
    resources: await probeResourceSupport(cgroupVersion),
  };
  if (opts.devices) facts.devices = await probeHostDevices();
  return facts;
}

/** Directories of /dev that hold no devices a container should get (runc skips the same). */
const SKIP_DEV_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Every character and block device under /dev (but /dev/console), for --privileged containers. */
export async function probeHostDevices(root = '/dev'): Promise<OciDevice[]> {
  const out: OciDevice[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DEV_DIRS.has(e.name)) await walk(p);
        continue;
      }
      if (p === path.join(root, 'console') || !(e.isCharacterDevice() || e.isBlockDevice())) continue;
      let st;
      try {
        st = await fsp.lstat(p, { bigint: true });
      } catch {
        continue; // gone meanwhile
      }
      const rdev = st.rdev;
      const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
      const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
      out.push({
        path: path.posix.join('/dev', path.relative(root, p)),
        type: e.isCharacterDevice() ? 'c' : 'b',
        major,
        minor,
        fileMode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
      });
    }
  };
  await walk(root);
  return out;
}
