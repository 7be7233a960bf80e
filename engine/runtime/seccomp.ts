/**
 * Seccomp: Docker's default profile, custom profiles in Docker's JSON format, and the provider
 * buildSpec() calls for the OCI `linux.seccomp` section.
 *
 * A profile here is a default action plus rules; a rule names syscalls, an action (allow unless
 * said otherwise), optional argument conditions, and when it applies: the capabilities the
 * container must have (or must not have), the architectures, the oldest kernel. compileProfile()
 * keeps the rules that apply to one container (its bounding set, the host's architecture and
 * kernel) and writes the OCI section, which runc hands to libseccomp. Both the built-in profile
 * and custom ones go through it, so they behave alike.
 *
 * The default profile follows Docker's semantics: everything not listed fails with EPERM; the
 * list is what ordinary programs need; syscalls that only make sense with a capability
 * (mount, unshare, setns with CAP_SYS_ADMIN, ptrace helpers with CAP_SYS_PTRACE, module loading
 * with CAP_SYS_MODULE...) are opened only when the container has it; without CAP_SYS_ADMIN,
 * clone may not create namespaces and clone3 answers ENOSYS (so libc falls back to clone, whose
 * flags can be checked); personality is limited to the harmless personas; sockets of the vsock
 * family are refused.
 */
import os from 'node:os';
import { invalid } from '../common/errors.js';
import type { OciSeccomp, OciSeccompAction, OciSeccompArg, OciSeccompOperator, OciSeccompSyscall, SeccompProvider } from './types.js';

/** When a rule applies. Capabilities are "CAP_..." names, architectures GOARCH names. */
export interface RuleCondition {
  /** Every one of these capabilities is in the container's set. */
  caps?: readonly string[];
  /** None of these is. */
  notCaps?: readonly string[];
  arches?: readonly string[];
  notArches?: readonly string[];
  /** The host kernel is at least this ("4.8"). */
  minKernel?: string;
  /** The host kernel is older than this. */
  belowKernel?: string;
}

export interface SeccompRule {
  names: readonly string[];
  /** Default SCMP_ACT_ALLOW. */
  action?: OciSeccompAction;
  errnoRet?: number;
  /** All must hold (libseccomp ANDs a rule's argument comparisons). */
  args?: readonly OciSeccompArg[];
  when?: RuleCondition;
}

export interface SeccompProfile {
  defaultAction: OciSeccompAction;
  defaultErrnoRet?: number;
  /** Architectures by the GOARCH they apply to ("amd64" → x86_64, x86, x32). */
  archMap?: Readonly<Record<string, readonly string[]>>;
  /** Fixed architecture list (Docker's legacy "architectures"); wins over archMap. */
  architectures?: readonly string[];
  flags?: readonly string[];
  listenerPath?: string;
  listenerMetadata?: string;
  rules: readonly SeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const AF_VSOCK = 40;

/** What each architecture's process may also be (32-bit and x32 syscalls on a 64-bit kernel). */
const DEFAULT_ARCHES: Record<string, readonly string[]> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  '386': ['SCMP_ARCH_X86'],
  arm: ['SCMP_ARCH_ARM'],
  ppc64le: ['SCMP_ARCH_PPC64LE'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  riscv64: ['SCMP_ARCH_RISCV64'],
};

/** The libseccomp name of a GOARCH's native architecture (how Docker's archMap is keyed). */
const NATIVE_ARCH: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  '386': 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
  mips64le: 'SCMP_ARCH_MIPSEL64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
};

// ---------------------------------------------------------------------------------------------
// Docker's default profile, grouped by what the syscalls are for.

const FILES = [
  'access', 'chdir', 'chmod', 'chown', 'chown32', 'close', 'close_range', 'copy_file_range', 'creat', 'dup', 'dup2',
  'dup3', 'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fchdir', 'fchmod', 'fchmodat',
  'fchmodat2', 'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock',
  'fremovexattr', 'fsetxattr', 'fstat', 'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate',
  'ftruncate64', 'futimesat', 'getcwd', 'getdents', 'getdents64', 'getxattr', 'lchown', 'lchown32', 'lgetxattr',
  'link', 'linkat', 'listxattr', 'llistxattr', '_llseek', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat', 'lstat64',
  'mkdir', 'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat', 'open', 'openat', 'openat2', 'pipe',
  'pipe2', 'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink',
  'readlinkat', 'readv', 'removexattr', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64',
  'setxattr', 'splice', 'stat', 'stat64', 'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync',
  'sync_file_range', 'syncfs', 'tee', 'truncate', 'truncate64', 'umask', 'unlink', 'unlinkat', 'utime', 'utimensat',
  'utimensat_time64', 'utimes', 'vmsplice', 'write', 'writev', 'cachestat', 'fanotify_mark', 'inotify_add_watch',
  'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents',
  'io_pgetevents_time64', 'io_setup', 'io_submit', 'ioctl', 'ioprio_get', 'ioprio_set', 'memfd_create',
  'memfd_secret', 'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self',
];

const PROCESSES = [
  'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'vfork', 'getcpu', 'getegid', 'getegid32',
  'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getitimer', 'getpgid', 'getpgrp',
  'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresgid32', 'getresuid', 'getresuid32',
  'getrlimit', 'get_robust_list', 'getrusage', 'getsid', 'get_thread_area', 'gettid', 'getuid', 'getuid32', 'kill',
  'tgkill', 'tkill', 'membarrier', 'pidfd_open', 'pidfd_send_signal', 'prctl', 'prlimit64', 'process_mrelease',
  'restart_syscall', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn',
  'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sched_getaffinity',
  'sched_getattr', 'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_getscheduler',
  'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr', 'sched_setparam',
  'sched_setscheduler', 'sched_yield', 'seccomp', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid',
  'setgid32', 'setgroups', 'setgroups32', 'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32',
  'setresgid', 'setresgid32', 'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list',
  'setsid', 'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'sigaltstack', 'signalfd', 'signalfd4',
  'sigprocmask', 'sigreturn', 'times', 'ugetrlimit', 'uname', 'wait4', 'waitid', 'waitpid', 'pause', 'alarm',
  'sysinfo',
];

const MEMORY = [
  'brk', 'madvise', 'map_shadow_stack', 'mincore', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect', 'mremap',
  'msync', 'munlock', 'munlockall', 'munmap', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'remap_file_pages',
];

const TIME = [
  'adjtimex', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64', 'clock_gettime',
  'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday', 'nanosleep', 'time',
  'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime',
  'timer_settime64', 'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime',
  'timerfd_settime64',
];

const IPC = [
  'ipc', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
  'mq_timedsend_time64', 'mq_unlink', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop',
  'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget',
];

const WAITING = [
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
  'epoll_wait_old', 'eventfd', 'eventfd2', 'futex', 'futex_requeue', 'futex_time64', 'futex_wait', 'futex_waitv',
  'futex_wake', 'poll', 'ppoll', 'ppoll_time64', 'pselect6', 'pselect6_time64', 'select', '_newselect',
];

const NETWORK = [
  'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recv', 'recvfrom',
  'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown',
  'socketcall', 'socketpair',
];

/** Syscalls opened by one capability each. */
const BY_CAPABILITY: Record<string, readonly string[]> = {
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount',
    'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname',
    'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

const eq = (index: number, value: number): OciSeccompArg => ({ index, value, op: 'SCMP_CMP_EQ' });

/** Docker's default seccomp profile (see the header for what it allows). */
export function defaultSeccompProfile(): SeccompProfile {
  const rules: SeccompRule[] = [
    { names: [...FILES, ...PROCESSES, ...MEMORY, ...TIME, ...IPC, ...WAITING, ...NETWORK] },
    // Reading another process's memory is ordinary debugging since Linux 4.8 fixed ptrace's seccomp bypass.
    { names: ['process_vm_readv', 'process_vm_writev', 'ptrace'], when: { minKernel: '4.8' } },
    // Every socket family but vsock (a path to the host or other guests).
    { names: ['socket'], args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] },
    // PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26, and the query value.
    ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((v): SeccompRule => ({ names: ['personality'], args: [eq(0, v)] })),
    { names: ['arch_prctl', 'modify_ldt'], when: { arches: ['amd64', '386'] } },
    { names: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'], when: { arches: ['arm', 'arm64'] } },
    { names: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'], when: { arches: ['s390x'] } },
    ...Object.entries(BY_CAPABILITY).map(([cap, names]): SeccompRule => ({ names, when: { caps: [cap] } })),
    // Without CAP_SYS_ADMIN, threads and processes but no new namespaces (s390 swaps clone's first two arguments).
    {
      names: ['clone'],
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      when: { notCaps: ['CAP_SYS_ADMIN'], notArches: ['s390x'] },
    },
    {
      names: ['clone'],
      args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      when: { notCaps: ['CAP_SYS_ADMIN'], arches: ['s390x'] },
    },
    // clone3 passes its flags in memory, which seccomp cannot read: ENOSYS makes libc use clone.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, when: { notCaps: ['CAP_SYS_ADMIN'] } },
  ];
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, archMap: DEFAULT_ARCHES, rules };
}

// ---------------------------------------------------------------------------------------------
// Custom profiles (Docker's JSON format)

const ACTIONS = new Set<string>([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
const OPERATORS = new Set<string>(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

type Json = Record<string, unknown>;

const bad = (why: string): never => {
  throw invalid(`Decoding seccomp profile failed: ${why}`, 'INVALID_SECCOMP_PROFILE');
};

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) return bad(`${what} must be a list of strings`);
  return v as string[];
}

function action(v: unknown, what: string): OciSeccompAction {
  if (typeof v !== 'string' || !ACTIONS.has(v)) return bad(`${what}: unknown action ${JSON.stringify(v)}`);
  return v as OciSeccompAction;
}

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return bad(`${what} must be a non-negative integer`);
  return v;
}

function condition(v: unknown, what: string, negate: boolean): RuleCondition {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) return bad(`${what} must be an object`);
  const caps = strings(v['caps'], `${what}.caps`);
  const arches = strings(v['arches'], `${what}.arches`);
  const kernel = v['minKernel'];
  if (kernel !== undefined && kernel !== null && kernel !== '' && (typeof kernel !== 'string' || !/^\d+\.\d+/.test(kernel))) {
    bad(`${what}.minKernel: invalid kernel version ${JSON.stringify(kernel)}`);
  }
  const out: RuleCondition = {};
  if (caps.length > 0) out[negate ? 'notCaps' : 'caps'] = caps;
  if (arches.length > 0) out[negate ? 'notArches' : 'arches'] = arches;
  if (typeof kernel === 'string' && kernel !== '') out[negate ? 'belowKernel' : 'minKernel'] = kernel;
  return out;
}

/**
 * A profile in Docker's format (what `--security-opt seccomp=<file>` sends: defaultAction,
 * defaultErrnoRet, architectures or archMap, flags, syscalls with names, action, errnoRet, args,
 * includes/excludes). 400 for anything malformed.
 */
export function parseDockerProfile(text: string): SeccompProfile {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    return bad((err as Error).message);
  }
  if (!isObj(j)) return bad('the profile must be a JSON object');
  const architectures = strings(j['architectures'], 'architectures');
  const archMapIn = j['archMap'];
  if (architectures.length > 0 && Array.isArray(archMapIn) && archMapIn.length > 0) {
    throw invalid("'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'", 'INVALID_SECCOMP_PROFILE');
  }
  const profile: SeccompProfile = { defaultAction: action(j['defaultAction'], 'defaultAction'), rules: [] };
  if (j['defaultErrnoRet'] !== undefined && j['defaultErrnoRet'] !== null) profile.defaultErrnoRet = uint(j['defaultErrnoRet'], 'defaultErrnoRet');
  if (architectures.length > 0) profile.architectures = architectures;
  if (archMapIn !== undefined && archMapIn !== null) {
    if (!Array.isArray(archMapIn)) bad('archMap must be a list');
    const byGoArch: Record<string, string[]> = {};
    for (const a of archMapIn as unknown[]) {
      if (!isObj(a) || typeof a['architecture'] !== 'string') return bad('archMap entries need an architecture');
      const goArch = Object.entries(NATIVE_ARCH).find(([, n]) => n === a['architecture'])?.[0];
      if (goArch !== undefined) byGoArch[goArch] = [a['architecture'], ...strings(a['subArchitectures'], 'archMap.subArchitectures')];
    }
    profile.archMap = byGoArch;
  }
  const flags = strings(j['flags'], 'flags');
  if (flags.length > 0) profile.flags = flags;
  if (typeof j['listenerPath'] === 'string' && j['listenerPath'] !== '') profile.listenerPath = j['listenerPath'];
  if (typeof j['listenerMetadata'] === 'string' && j['listenerMetadata'] !== '') profile.listenerMetadata = j['listenerMetadata'];
  const syscalls = j['syscalls'] ?? [];
  if (!Array.isArray(syscalls)) return bad('syscalls must be a list');
  const rules: SeccompRule[] = [];
  syscalls.forEach((s: unknown, i: number) => {
    const what = `syscalls[${i}]`;
    if (!isObj(s)) return bad(`${what} must be an object`);
    const names = strings(s['names'], `${what}.names`);
    if (typeof s['name'] === 'string' && s['name'] !== '') {
      if (names.length > 0) throw invalid("'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'", 'INVALID_SECCOMP_PROFILE');
      names.push(s['name']);
    }
    if (names.length === 0) return bad(`${what} names no syscall`);
    const rule: SeccompRule = { names, action: action(s['action'], `${what}.action`) };
    if (s['errnoRet'] !== undefined && s['errnoRet'] !== null) rule.errnoRet = uint(s['errnoRet'], `${what}.errnoRet`);
    const args = s['args'] ?? [];
    if (!Array.isArray(args)) return bad(`${what}.args must be a list`);
    if (args.length > 0) {
      rule.args = args.map((a: unknown, k: number): OciSeccompArg => {
        if (!isObj(a)) return bad(`${what}.args[${k}] must be an object`);
        const op = a['op'];
        if (typeof op !== 'string' || !OPERATORS.has(op)) return bad(`${what}.args[${k}]: unknown operator ${JSON.stringify(op)}`);
        const arg: OciSeccompArg = { index: uint(a['index'], `${what}.args[${k}].index`), value: uint(a['value'] ?? 0, `${what}.args[${k}].value`), op: op as OciSeccompOperator };
        if (a['valueTwo'] !== undefined && a['valueTwo'] !== null) arg.valueTwo = uint(a['valueTwo'], `${what}.args[${k}].valueTwo`);
        return arg;
      });
    }
    const when = { ...condition(s['includes'], `${what}.includes`, false), ...condition(s['excludes'], `${what}.excludes`, true) };
    if (Object.keys(when).length > 0) rule.when = when;
    rules.push(rule);
  });
  return { ...profile, rules };
}

// ---------------------------------------------------------------------------------------------
// Compiling to the OCI section

/** "6.18.44-fc" → [6, 18]. */
function kernelVersion(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const [a, b] = kernelVersion(kernel);
  const [x, y] = kernelVersion(min);
  return a > x || (a === x && b >= y);
}

export interface CompileTarget {
  /** The container's capabilities ("CAP_SYS_ADMIN"...). */
  capabilities: readonly string[];
  /** GOARCH of the host ("amd64"). */
  arch: string;
  /** The host's kernel release (os.release()). */
  kernel: string;
}

function applies(when: RuleCondition | undefined, t: CompileTarget, caps: ReadonlySet<string>): boolean {
  if (!when) return true;
  if (when.caps && !when.caps.every((c) => caps.has(c))) return false;
  if (when.notCaps && when.notCaps.some((c) => caps.has(c))) return false;
  if (when.arches && !when.arches.includes(t.arch)) return false;
  if (when.notArches && when.notArches.includes(t.arch)) return false;
  if (when.minKernel && !kernelAtLeast(t.kernel, when.minKernel)) return false;
  if (when.belowKernel && kernelAtLeast(t.kernel, when.belowKernel)) return false;
  return true;
}

/** The OCI `linux.seccomp` section of a profile for one container. */
export function compileProfile(profile: SeccompProfile, target: CompileTarget): OciSeccomp {
  const caps = new Set(target.capabilities);
  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  const arches = profile.architectures ?? profile.archMap?.[target.arch];
  if (arches && arches.length > 0) out.architectures = [...arches];
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;
  const syscalls: OciSeccompSyscall[] = [];
  for (const rule of profile.rules) {
    if (!applies(rule.when, target, caps)) continue;
    const s: OciSeccompSyscall = { names: [...rule.names], action: rule.action ?? 'SCMP_ACT_ALLOW' };
    if (rule.errnoRet !== undefined) s.errnoRet = rule.errnoRet;
    if (rule.args && rule.args.length > 0) s.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(s);
  }
  out.syscalls = syscalls;
  return out;
}

/**
 * The provider buildSpec() calls: Docker's default profile, or the custom profile the container
 * asked for (400 if it does not parse). `kernel` defaults to this host's release.
 */
export function seccompProvider(opts: { kernel?: string } = {}): SeccompProvider {
  const kernel = opts.kernel ?? os.release();
  const builtin = defaultSeccompProfile();
  return (req) => {
    const profile = req.customProfile !== undefined ? parseDockerProfile(req.customProfile) : builtin;
    return compileProfile(profile, { capabilities: req.capabilities, arch: req.arch, kernel });
  };
}
