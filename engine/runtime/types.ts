/**
 * Types for the container runtime: the OCI runtime config (config.json, runtime-spec 1.0.2 as
 * runc 1.1 understands it) and the inputs berthd assembles to generate one.
 *
 * Only engine/common may be imported from here (engine subsystem rule), so the image-config and
 * create-body shapes below are structural subsets of the Docker API types, not imports of them.
 */

// ---------------------------------------------------------------------------------------------
// OCI runtime config (output)

export const OCI_VERSION = '1.0.2';

/**
 * Unsigned 64-bit quantities (rlimits, seccomp argument values). Values that fit a JS number are
 * numbers; RLIM_INFINITY (2^64-1) and other big values are bigints. JSON.stringify cannot write a
 * bigint, so serialize a spec with `serializeSpec()` from spec.ts.
 */
export type Uint64 = number | bigint;

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

export interface OciProcess {
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  /** Left unset: berth does not manage AppArmor profiles yet. */
  apparmorProfile?: string;
  /** Left unset: berth does not label processes for SELinux yet. */
  selinuxLabel?: string;
}

export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

/** Capability names as the runtime wants them: "CAP_CHOWN". */
export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface OciRlimit {
  /** "RLIMIT_NOFILE" */
  type: string;
  hard: Uint64;
  soft: Uint64;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface OciNamespace {
  type: OciNamespaceType;
  /** Join this namespace (e.g. /var/run/netns/x) instead of creating one. */
  path?: string;
}

export interface OciDevice {
  /** Path inside the container, e.g. /dev/fuse. */
  path: string;
  type: 'c' | 'b' | 'u' | 'p';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceCgroupRule {
  allow: boolean;
  /** 'a' (all), 'c' or 'b'; absent means all. */
  type?: 'a' | 'c' | 'b';
  /** Absent means any (-1 / '*'). */
  major?: number;
  minor?: number;
  access?: string;
}

/** linux.resources.memory; bytes, -1 = unlimited (swap is memory plus swap, as in cgroup v1's memsw). */
export interface OciMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}

/** linux.resources.cpu; quota and period in microseconds. */
export interface OciCpu {
  shares?: number;
  quota?: number;
  period?: number;
  cpus?: string;
  mems?: string;
}

export interface OciResources {
  devices: OciDeviceCgroupRule[];
  memory?: OciMemory;
  cpu?: OciCpu;
  /** -1 = unlimited. */
  pids?: { limit: number };
  blockIO?: { weight?: number };
}

/** What `runc update --resources` reads: linux.resources without devices (zero = leave as it is). */
export type OciResourceUpdate = Omit<OciResources, 'devices'>;

export interface OciLinux {
  namespaces: OciNamespace[];
  devices?: OciDevice[];
  cgroupsPath?: string;
  resources: OciResources;
  sysctl?: Record<string, string>;
  maskedPaths: string[];
  readonlyPaths: string[];
  seccomp?: OciSeccomp;
  rootfsPropagation?: string;
  mountLabel?: string;
}

export type OciSeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type OciSeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface OciSeccompArg {
  index: number;
  value: Uint64;
  valueTwo?: Uint64;
  op: OciSeccompOperator;
}

export interface OciSeccompSyscall {
  names: string[];
  action: OciSeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

/** The OCI `linux.seccomp` section (config-linux.md#seccomp). */
export interface OciSeccomp {
  defaultAction: OciSeccompAction;
  defaultErrnoRet?: number;
  /** "SCMP_ARCH_X86_64", ... */
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSeccompSyscall[];
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** The fields of an image's config ("config" in the OCI image config) that shape a container. */
export interface ImageRuntimeConfig {
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
}

/** A Docker ulimit, as in HostConfig.Ulimits: {"Name":"nofile","Soft":1024,"Hard":2048}; -1 = unlimited. */
export interface DockerUlimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** HostConfig.Devices entry ("--device /dev/fuse:/dev/fuse:rwm"). */
export interface DockerDeviceMapping {
  PathOnHost: string;
  /** Absent or "": the host path. */
  PathInContainer?: string;
  /** Subset of "rwm"; absent or "": "rwm". */
  CgroupPermissions?: string;
}

/**
 * Docker's container.Resources fields berth applies (HostConfig, and the body of
 * POST /containers/{id}/update). Bytes for memory; 0 or absent means "not set".
 */
export interface DockerResources {
  Memory?: number;
  /** Memory plus swap; -1 = unlimited swap; 0 with Memory set = twice Memory (set at create). */
  MemorySwap?: number;
  /** Soft limit. */
  MemoryReservation?: number;
  /** 0..100; -1 or null = the host's. */
  MemorySwappiness?: number | null;
  /** Deprecated in Docker; accepted and dropped with a warning. */
  KernelMemory?: number;
  OomKillDisable?: boolean | null;
  /** CPUs in billionths (--cpus 1.5 = 1500000000); excludes CpuPeriod/CpuQuota. */
  NanoCpus?: number;
  CpuShares?: number;
  /** Microseconds, 1000..1000000. */
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  /** "0-2,4" */
  CpusetCpus?: string;
  CpusetMems?: string;
  /** null, 0 or negative = unlimited. */
  PidsLimit?: number | null;
  /** 10..1000; 0 = not set. */
  BlkioWeight?: number;
  Devices?: DockerDeviceMapping[] | null;
  /** "c 1:3 mr", "a *:* rwm" */
  DeviceCgroupRules?: string[] | null;
}

/** The HostConfig fields of POST /containers/create that the runtime spec uses today. */
export interface RuntimeHostConfig extends DockerResources {
  Privileged?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  ReadonlyRootfs?: boolean;
  /** "no-new-privileges[:true|false]", "seccomp=unconfined", "seccomp=<profile JSON>", apparmor=/label= (accepted, ignored). */
  SecurityOpt?: string[] | null;
  Ulimits?: DockerUlimit[] | null;
  /** Whether the container asked for an init; the caller decides and passes SpecInput.initPath. */
  Init?: boolean | null;
  /** -1000..1000; default 0. */
  OomScoreAdj?: number;
  /** Bytes for /dev/shm; 0/absent = 64 MiB. */
  ShmSize?: number;
  /** [height, width] of the initial console when Tty is set. */
  ConsoleSize?: [number, number] | null;
}

/** The top-level fields of POST /containers/create that the runtime spec uses today. */
export interface RuntimeCreateConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  /** null/absent: the image's; [] or [""]: none (with [""] the image Cmd is dropped too, as in Docker). */
  Entrypoint?: string[] | string | null;
  WorkingDir?: string;
  Tty?: boolean;
  /** Stdin plumbing is the monitor's business; accepted here so a create body can be passed whole. */
  OpenStdin?: boolean;
  StopSignal?: string;
  HostConfig?: RuntimeHostConfig;
}

/** The user a container process runs as, resolved against the image's /etc/passwd and /etc/group (user.ts). */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the groups whose member list names the user. */
  additionalGids: number[];
  /** The passwd home directory, "/" when the user has no passwd entry; becomes HOME unless Env sets it. */
  home: string;
}

/** Per-container files berthd writes and bind-mounts over the image's (absent: not mounted). */
export interface ContainerFiles {
  hosts?: string;
  hostname?: string;
  resolvConf?: string;
}

export type CgroupVersion = 1 | 2;

/** Facts about the host berthd runs on; probeHostFacts() in spec.ts reads them, tests make them up. */
export interface HostFacts {
  /** The daemon's capability bounding set (CapBnd of /proc/self/status) as a bit mask. */
  boundingSet: bigint;
  /**
   * The daemon's hard rlimits, keyed by OCI name ("RLIMIT_NOFILE"); 'unlimited' or absent = no cap.
   * Without CAP_SYS_RESOURCE a container cannot be given more than these.
   */
  hardRlimits: Partial<Record<string, bigint | 'unlimited'>>;
  /** Where container cgroups go, e.g. "/berth"; the spec gets cgroupsPath "<parent>/<id>". */
  cgroupParent: string;
  /** 1 for v1 or hybrid hosts (cgroup namespace shared with the host, like Docker's "host" cgroupns), 2 for unified. */
  cgroupVersion: CgroupVersion;
  /** The daemon's /proc/self/oom_score_adj: without CAP_SYS_RESOURCE a container cannot go lower. */
  oomScoreAdj?: number;
  /**
   * Devices given to --privileged containers (Docker passes every host device). Absent = none
   * beyond the runtime's defaults; probeHostDevices() in spec.ts lists the host's.
   */
  devices?: OciDevice[];
  /** GOARCH-style name for seccomp ("amd64"); default from process.arch. */
  arch?: string;
  /**
   * Which resource limits the host can apply (probeResourceSupport() in resources.ts). Absent:
   * limits are checked for sense only, not against the host, and all are passed to the runtime.
   */
  resources?: ResourceSupport;
}

/** The cgroup controls the host has, as Docker's sysinfo reports them, and its CPUs. */
export interface ResourceSupport {
  /** CPUs the daemon may run on: the ceiling of --cpus. */
  cpus: number;
  /** The CPUs and memory nodes a cpuset may name ("0-1", "0"). */
  cpusetCpus: string;
  cpusetMems: string;
  memoryLimit: boolean;
  /** memory+swap limits (cgroup v1 memory.memsw.*, which needs swap accounting; v2 memory.swap.max). */
  swapLimit: boolean;
  memoryReservation: boolean;
  memorySwappiness: boolean;
  oomKillDisable: boolean;
  cpuShares: boolean;
  cpuCfs: boolean;
  cpuset: boolean;
  pidsLimit: boolean;
  blkioWeight: boolean;
}

/** A HostConfig.Devices entry found on the host: the node to create and the access to allow. */
export interface ResolvedDevice {
  device: OciDevice;
  rule: OciDeviceCgroupRule;
}

/** What a seccomp provider is told when asked for a container's filter. */
export interface SeccompRequest {
  /** The JSON text of a custom profile from SecurityOpt "seccomp=<json>"; absent = Docker's default profile. */
  customProfile?: string;
  /** The container's capability bounding set ("CAP_SYS_ADMIN"...): Docker's profile opens syscalls per capability. */
  capabilities: readonly string[];
  /** GOARCH-style ("amd64", "arm64"). */
  arch: string;
}

/**
 * Seccomp is supplied from outside (Docker's default profile lives in its own module). The provider
 * returns the OCI section, or undefined for "no filter". Without a provider, containers get no
 * seccomp filter and a custom profile in SecurityOpt is rejected rather than silently ignored.
 * buildSpec never calls it for --privileged or seccomp=unconfined containers.
 */
export type SeccompProvider = (req: SeccompRequest) => OciSeccomp | undefined;

export interface SpecInput {
  /** Container ID (64 hex); the default hostname is its first 12 characters. */
  id: string;
  /** Absolute path of the prepared root filesystem (the overlay merged dir). */
  rootfs: string;
  image: ImageRuntimeConfig;
  create: RuntimeCreateConfig;
  /** The effective user (create.User || image.User) resolved by resolveUser() in user.ts. */
  user: ResolvedUser;
  files?: ContainerFiles;
  /** The container's binds, volumes and tmpfs (after the defaults; parents before children). */
  mounts?: OciMount[];
  /** Network namespace to join (prepared by the network code); absent = a new, empty one. */
  netnsPath?: string;
  /** Share the host's network namespace (Docker's --network host); excludes netnsPath. */
  hostNetwork?: boolean;
  host: HostFacts;
  /** HostConfig.Devices as resolveDevices() (devices.ts) found them; required when Devices is set. */
  devices?: ResolvedDevice[];
  seccomp?: SeccompProvider;
  /** Extra annotations for config.json. */
  annotations?: Record<string, string>;
  /**
   * A static init binary on the host (Docker's docker-init, which is tini): it is bind-mounted
   * read-only at /sbin/docker-init and runs the command as `/sbin/docker-init -- <command>`.
   */
  initPath?: string;
  /** Called for settings that were adjusted to fit the host (clamped rlimits, caps missing from the bounding set). */
  onWarning?: (message: string) => void;
}
