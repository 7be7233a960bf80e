/**
 * The flags of `run` and `create`, and the create body they make: Config,
 * HostConfig and NetworkingConfig in one object, built the way the docker CLI
 * builds it (env files before -e, `-e NAME` taken from our environment, -p to
 * ExposedPorts + PortBindings, -v with a source to Binds and without to
 * Volumes, attach defaults, StdinOnce with -i; networks and endpoints in
 * network-flags.ts). Pure: no I/O except reading
 * --env-file files, so the mapping is unit-tested without an engine.
 */
import { readFileSync } from 'node:fs';
import { parseGoDuration } from '../client/index.js';
import type { ContainerCreateBody, DeviceMapping, Resources, HealthConfig, HostConfig, MountSpec, PortBinding, RestartPolicy, Ulimit } from '../types/engine-api.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { UsageError } from './args.js';
import { buildNetworking, checkDns, parseExtraHost } from './network-flags.js';

/** Flags `create` and `run` share. */
export const CONTAINER_FLAGS: FlagSpec[] = [
  { name: 'add-host', type: 'list', valueName: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'attach', short: 'a', type: 'list', valueName: 'list', description: 'Attach to STDIN, STDOUT or STDERR' },
  { name: 'cap-add', type: 'list', valueName: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', valueName: 'list', description: 'Drop Linux capabilities' },
  { name: 'blkio-weight', type: 'string', valueName: 'uint16', description: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)' },
  { name: 'cpu-period', type: 'string', valueName: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpu-quota', type: 'string', valueName: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-shares', short: 'c', type: 'string', valueName: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpus', type: 'string', valueName: 'decimal', description: 'Number of CPUs' },
  { name: 'cpuset-cpus', type: 'string', valueName: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', type: 'string', valueName: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'device', type: 'list', valueName: 'list', description: 'Add a host device to the container' },
  { name: 'device-cgroup-rule', type: 'list', valueName: 'list', description: 'Add a rule to the cgroup allowed devices list' },
  { name: 'dns', type: 'list', valueName: 'list', description: 'Set custom DNS servers' },
  { name: 'dns-option', type: 'list', valueName: 'list', description: 'Set DNS options' },
  { name: 'dns-opt', type: 'list', valueName: 'list', description: 'Set DNS options', hidden: true },
  { name: 'dns-search', type: 'list', valueName: 'list', description: 'Set custom DNS search domains' },
  { name: 'domainname', type: 'string', description: 'Container NIS domain name' },
  { name: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'env', short: 'e', type: 'list', valueName: 'list', description: 'Set environment variables' },
  { name: 'env-file', type: 'list', valueName: 'list', description: 'Read in a file of environment variables' },
  { name: 'expose', type: 'list', valueName: 'list', description: 'Expose a port or a range of ports' },
  { name: 'health-cmd', type: 'string', description: 'Command to run to check health' },
  { name: 'health-interval', type: 'string', valueName: 'duration', description: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { name: 'health-retries', type: 'string', valueName: 'int', description: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-interval', type: 'string', valueName: 'duration', description: 'Time between running the check during the start period (ms|s|m|h) (default 0s)' },
  { name: 'health-start-period', type: 'string', valueName: 'duration', description: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)' },
  { name: 'health-timeout', type: 'string', valueName: 'duration', description: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)' },
  { name: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { name: 'init', type: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'ip', type: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'ip6', type: 'string', description: 'IPv6 address (e.g., 2001:db8::33)' },
  { name: 'label', short: 'l', type: 'list', valueName: 'list', description: 'Set meta data on a container' },
  { name: 'link', type: 'list', valueName: 'list', description: 'Add link to another container' },
  { name: 'mac-address', type: 'string', description: 'Container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { name: 'memory', short: 'm', type: 'string', valueName: 'bytes', description: 'Memory limit' },
  { name: 'memory-reservation', type: 'string', valueName: 'bytes', description: 'Memory soft limit' },
  { name: 'memory-swap', type: 'string', valueName: 'bytes', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'memory-swappiness', type: 'string', valueName: 'int', description: 'Tune container memory swappiness (0 to 100) (default -1)' },
  { name: 'mount', type: 'list', valueName: 'mount', description: 'Attach a filesystem mount to the container' },
  { name: 'name', type: 'string', description: 'Assign a name to the container' },
  { name: 'net', type: 'list', valueName: 'network', description: 'Connect a container to a network', hidden: true },
  { name: 'net-alias', type: 'list', valueName: 'list', description: 'Add network-scoped alias for the container', hidden: true },
  { name: 'network', type: 'list', valueName: 'network', description: 'Connect a container to a network' },
  { name: 'network-alias', type: 'list', valueName: 'list', description: 'Add network-scoped alias for the container' },
  { name: 'no-healthcheck', type: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
  { name: 'oom-kill-disable', type: 'bool', description: 'Disable OOM Killer' },
  { name: 'pids-limit', type: 'string', valueName: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  { name: 'privileged', type: 'bool', description: 'Give extended privileges to this container' },
  { name: 'publish', short: 'p', type: 'list', valueName: 'list', description: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', description: 'Publish all exposed ports to random ports' },
  { name: 'pull', type: 'string', defaultValue: 'missing', description: 'Pull image before running ("always", "missing", "never")' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the pull output' },
  { name: 'read-only', type: 'bool', description: "Mount the container's root filesystem as read only" },
  { name: 'restart', type: 'string', defaultValue: 'no', description: 'Restart policy to apply when a container exits' },
  { name: 'security-opt', type: 'list', valueName: 'list', description: 'Security Options' },
  { name: 'rm', type: 'bool', description: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { name: 'stop-signal', type: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'string', valueName: 'int', description: 'Timeout (in seconds) to stop a container' },
  { name: 'tmpfs', type: 'list', valueName: 'list', description: 'Mount a tmpfs directory' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'ulimit', type: 'list', valueName: 'ulimit', description: 'Ulimit options' },
  { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'volume', short: 'v', type: 'list', valueName: 'list', description: 'Bind mount a volume' },
  { name: 'volumes-from', type: 'list', valueName: 'list', description: 'Mount volumes from the specified container(s)' },
  { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
];

export type PullPolicy = 'missing' | 'always' | 'never';

export interface CreateRequest {
  body: ContainerCreateBody;
  name?: string;
  platform?: string;
  pull: PullPolicy;
}

export interface CreateContext {
  /** Our environment, for `-e NAME` and env-file lines without a value. */
  env: NodeJS.ProcessEnv;
  /** `run -d`: attach nothing. */
  detach: boolean;
  /** [height, width] of our terminal, for a TTY's first size. */
  consoleSize?: [number, number];
}

/** docker's RAMInBytes: "512m", "1g", "1.5GB", "1024" (binary units). */
export function parseMemory(value: string, flag = '-m, --memory'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`invalid argument "${value}" for "${flag}" flag: invalid size: '${value}'`);
  const power = ['', 'k', 'm', 'g', 't', 'p'].indexOf((m[2] ?? '').toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/** --memory-swap: a size, or -1 for unlimited swap. */
export function parseMemorySwap(value: string): number {
  return value.trim() === '-1' ? -1 : parseMemory(value, '--memory-swap');
}

/** An integer flag value (strconv.ParseInt's complaint otherwise). */
export function parseIntFlag(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n)) throw new UsageError(`invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`);
  return n;
}

/** --device "host[:container][:perms]" (docker's parseDevice: a last part made of r, w, m is the permissions). */
export function parseDevice(value: string): DeviceMapping {
  const parts = value.split(':');
  let perms = 'rwm';
  if (parts.length > 1 && /^[rwm]{1,3}$/.test(parts[parts.length - 1] as string)) perms = parts.pop() as string;
  if (parts.length > 2 || parts[0] === '') throw new UsageError(`invalid argument "${value}" for "--device" flag: invalid device specification: ${value}`);
  const host = parts[0] as string;
  const container = parts[1] ?? host;
  if (!container.startsWith('/')) throw new UsageError(`invalid argument "${value}" for "--device" flag: ${container} is not an absolute path`);
  return { PathOnHost: host, PathInContainer: container, CgroupPermissions: perms };
}

/** --device-cgroup-rule "c 1:3 mr". */
export function parseDeviceCgroupRule(value: string): string {
  if (!/^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.test(value)) {
    throw new UsageError(`invalid argument "${value}" for "--device-cgroup-rule" flag: invalid device cgroup format '${value}'`);
  }
  return value;
}

/** --security-opt; "seccomp=<file>" sends the file's JSON, as the docker CLI does ("unconfined" and "builtin" go as they are). */
export function parseSecurityOpt(value: string): string {
  const m = /^seccomp[=:](.*)$/.exec(value);
  if (!m || m[1] === 'unconfined' || m[1] === 'builtin') return value;
  const file = m[1] as string;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`opening seccomp profile (${file}) failed: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : String(err)}`);
  }
  try {
    return `seccomp=${JSON.stringify(JSON.parse(text))}`;
  } catch (err) {
    throw new UsageError(`compacting json for seccomp profile (${file}) failed: ${(err as Error).message}`);
  }
}

type NumericResource = { [K in keyof Resources]-?: number extends NonNullable<Resources[K]> ? K : never }[keyof Resources];

/** The resource flags `run`, `create` and `update` share, as HostConfig fields (only those given). */
export function resourceFields(a: ParsedArgs): Partial<HostConfig> {
  const out: Partial<HostConfig> = {};
  const str = (name: string): string | undefined => (a.has(name) ? (a.string(name) ?? '') : undefined);
  const num = (name: string, field: NumericResource): void => {
    const v = str(name);
    if (v !== undefined) out[field] = parseIntFlag(v, `--${name}`);
  };
  const mem = str('memory');
  if (mem !== undefined) out.Memory = parseMemory(mem);
  const swap = str('memory-swap');
  if (swap !== undefined) out['MemorySwap'] = parseMemorySwap(swap);
  const reservation = str('memory-reservation');
  if (reservation !== undefined) out['MemoryReservation'] = parseMemory(reservation, '--memory-reservation');
  const cpus = str('cpus');
  if (cpus !== undefined) out.NanoCpus = parseCpus(cpus);
  num('cpu-shares', 'CpuShares');
  num('cpu-period', 'CpuPeriod');
  num('cpu-quota', 'CpuQuota');
  num('blkio-weight', 'BlkioWeight');
  num('pids-limit', 'PidsLimit');
  const cpusetCpus = str('cpuset-cpus');
  if (cpusetCpus !== undefined) out['CpusetCpus'] = cpusetCpus;
  const cpusetMems = str('cpuset-mems');
  if (cpusetMems !== undefined) out['CpusetMems'] = cpusetMems;
  return out;
}

/** "1.5" CPUs → NanoCpus. */
export function parseCpus(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || value.trim() === '') throw new UsageError(`invalid argument "${value}" for "--cpus" flag: failed to parse ${value} as a rational number`);
  return Math.round(n * 1e9);
}

/** A Go duration flag ("1m30s", "500ms", "0", "-1s") in nanoseconds. */
export function parseDurationFlag(value: string, flag: string): number {
  const sign = value.startsWith('-') ? -1 : 1;
  const text = value.replace(/^[-+]/, '');
  const ms = text === '0' ? 0 : parseGoDuration(text);
  if (ms === undefined) throw new UsageError(`invalid argument "${value}" for "--${flag}" flag: time: invalid duration "${value}"`);
  return sign * Math.round(ms * 1e6);
}

/**
 * The --health-* flags and --no-healthcheck as the create body's Healthcheck (undefined when none
 * is given, so the image's applies); a field left out is taken from the image by the engine.
 */
export function buildHealthcheck(a: ParsedArgs): HealthConfig | undefined {
  const durations = [
    ['health-interval', 'Interval'],
    ['health-timeout', 'Timeout'],
    ['health-start-period', 'StartPeriod'],
    ['health-start-interval', 'StartInterval'],
  ] as const;
  const cmd = a.string('health-cmd') ?? '';
  const given = cmd !== '' || a.has('health-retries') || durations.some(([flag]) => a.has(flag));
  if (a.bool('no-healthcheck')) {
    if (given) throw new UsageError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!given) return undefined;
  const out: HealthConfig = {};
  if (cmd !== '') out.Test = ['CMD-SHELL', cmd];
  for (const [flag, field] of durations) {
    if (!a.has(flag)) continue;
    const ns = parseDurationFlag(a.string(flag) ?? '', flag);
    if (ns < 0) throw new UsageError(`--${flag} cannot be negative`);
    out[field] = ns;
  }
  if (a.has('health-retries')) {
    const n = parseIntFlag(a.string('health-retries') ?? '', '--health-retries');
    if (n < 0) throw new UsageError('--health-retries cannot be negative');
    out.Retries = n;
  }
  return out;
}

/** "no" | "always" | "unless-stopped" | "on-failure[:N]". */
export function parseRestartPolicy(value: string): RestartPolicy {
  const [name = '', count] = value.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure', ''].includes(name)) throw new UsageError(`invalid restart policy: ${value}`);
  if (count !== undefined) {
    if (name !== 'on-failure') throw new UsageError(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
    const n = Number(count);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid restart policy format: maximum retry count must be an integer`);
    return { Name: name, MaximumRetryCount: n };
  }
  return { Name: name, MaximumRetryCount: 0 };
}

/** "nofile=1024:2048" or "nproc=512". */
export function parseUlimit(value: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value);
  if (!m) throw new UsageError(`invalid argument "${value}" for "--ulimit" flag: invalid ulimit argument: ${value}`);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (soft > hard && hard !== -1) throw new UsageError(`invalid argument "${value}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: m[1] as string, Soft: soft, Hard: hard };
}

function portRange(text: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw new UsageError(`invalid ${what} port: ${text}`);
  return [lo, hi];
}

/**
 * -p "[ip:][hostPort:]containerPort[/proto]", ranges allowed on both sides.
 * Adds to exposed ports and bindings.
 */
export function parsePublish(spec: string, exposed: Record<string, Record<string, never>>, bindings: Record<string, PortBinding[]>): void {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new UsageError(`invalid proto: ${proto}`);
  }
  let ip = '';
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    ip = v6[1] as string;
    rest = v6[2] as string;
  }
  const parts = rest.split(':');
  if (parts.length > 3 || (v6 && parts.length > 2)) throw new UsageError(`invalid publish spec: ${spec}`);
  const containerPart = parts[parts.length - 1] as string;
  const hostPart = parts.length >= 2 ? (parts[parts.length - 2] as string) : '';
  if (!v6 && parts.length === 3) ip = parts[0] as string;
  const [cLo, cHi] = portRange(containerPart, 'container');
  const hostRange = hostPart === '' ? undefined : portRange(hostPart, 'host');
  if (hostRange && cHi > cLo && hostRange[1] - hostRange[0] !== cHi - cLo) {
    throw new UsageError(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
  }
  for (let p = cLo; p <= cHi; p++) {
    const key = `${p}/${proto}`;
    exposed[key] = {};
    let hostPort = '';
    if (hostRange && cLo === cHi) hostPort = hostRange[0] === hostRange[1] ? String(hostRange[0]) : hostPart;
    else if (hostRange) hostPort = String(hostRange[0] + (p - cLo));
    (bindings[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
  }
}

/**
 * `--mount` CSV: type=bind|volume|tmpfs (default volume), source|src, target|dst|destination,
 * readonly|ro[=bool], bind-propagation, bind-nonrecursive, bind-create-mountpoint,
 * volume-nocopy, volume-label=k=v, volume-driver, volume-opt=k=v, tmpfs-size, tmpfs-mode.
 */
export function parseMountFlag(spec: string): MountSpec {
  const bad = (why: string): never => {
    throw new UsageError(`invalid argument "${spec}" for "--mount" flag: ${why}`);
  };
  const flag = (key: string, value: string | undefined): boolean => {
    if (value === undefined || /^(true|1)$/i.test(value)) return true;
    if (/^(false|0)$/i.test(value)) return false;
    return bad(`invalid value for ${key}: ${value}`);
  };
  const m: MountSpec = { Type: 'volume', Target: '' };
  const volume = (): NonNullable<MountSpec['VolumeOptions']> => (m.VolumeOptions ??= {});
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = (): string => value ?? bad(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case 'type': {
        const t = need();
        if (t !== 'bind' && t !== 'volume' && t !== 'tmpfs') bad(`invalid mount type: ${t}`);
        m.Type = t as MountSpec['Type'];
        break;
      }
      case 'source': case 'src': m.Source = need(); break;
      case 'target': case 'dst': case 'destination': m.Target = need(); break;
      case 'readonly': case 'ro': m.ReadOnly = flag(key, value); break;
      case 'consistency': m.Consistency = need(); break;
      case 'bind-propagation': (m.BindOptions ??= {}).Propagation = need(); break;
      case 'bind-nonrecursive': (m.BindOptions ??= {}).NonRecursive = flag(key, value); break;
      case 'bind-create-mountpoint': (m.BindOptions ??= {}).CreateMountpoint = flag(key, value); break;
      case 'volume-nocopy': volume().NoCopy = flag(key, value); break;
      case 'volume-subpath': volume().Subpath = need(); break;
      case 'volume-label': {
        const [k = '', ...v] = need().split('=');
        (volume().Labels ??= {})[k] = v.join('=');
        break;
      }
      case 'volume-driver': (volume().DriverConfig ??= {}).Name = need(); break;
      case 'volume-opt': {
        const [k = '', ...v] = need().split('=');
        if (v.length === 0) bad(`invalid volume-opt '${value}'`);
        ((volume().DriverConfig ??= {}).Options ??= {})[k] = v.join('=');
        break;
      }
      case 'tmpfs-size': (m.TmpfsOptions ??= {}).SizeBytes = parseMemory(need()); break;
      case 'tmpfs-mode': {
        const mode = need();
        if (!/^[0-7]+$/.test(mode)) bad(`invalid value for tmpfs-mode: ${mode}`);
        (m.TmpfsOptions ??= {}).Mode = parseInt(mode, 8);
        break;
      }
      default: bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (m.Target === '') bad('target is required');
  return m;
}

/** KEY=VALUE lines of an env file (blank lines and # comments skipped; KEY alone reads our env). */
export function parseEnvFile(text: string, env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    out.push(...envValue(line, env));
  }
  return out;
}

function envValue(item: string, env: NodeJS.ProcessEnv): string[] {
  const eq = item.indexOf('=');
  if (eq === 0) throw new UsageError(`invalid environment variable: ${item}`);
  if (eq > 0) return [item];
  const v = env[item];
  return v === undefined ? [] : [`${item}=${v}`];
}

/** Build the create request from parsed `run`/`create` arguments (args[0] is the image). */
export function buildCreateRequest(a: ParsedArgs, ctx: CreateContext): CreateRequest {
  const [image, ...cmd] = a.args as [string, ...string[]];
  const interactive = a.bool('interactive');
  const tty = a.bool('tty');

  const attach = a.list('attach').map((s) => s.toLowerCase());
  for (const s of attach) if (!['stdin', 'stdout', 'stderr'].includes(s)) throw new UsageError(`invalid argument "${s}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (ctx.detach && attach.length > 0) throw new UsageError('Conflicting options: -a and -d');
  let attachStdin = false;
  let attachStdout = false;
  let attachStderr = false;
  if (!ctx.detach) {
    if (attach.length > 0) {
      attachStdin = attach.includes('stdin');
      attachStdout = attach.includes('stdout');
      attachStderr = attach.includes('stderr');
    } else {
      attachStdin = interactive;
      attachStdout = true;
      attachStderr = true;
    }
  }

  const pull = (a.string('pull') ?? 'missing') as PullPolicy;
  if (!['missing', 'always', 'never'].includes(pull)) throw new UsageError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`);

  const restart = parseRestartPolicy(a.string('restart') ?? 'no');
  if (a.bool('rm') && restart.Name !== '' && restart.Name !== 'no') throw new UsageError('Conflicting options: --restart and --rm');

  const env: string[] = [];
  for (const file of a.list('env-file')) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : String(err)}`);
    }
    env.push(...parseEnvFile(text, ctx.env));
  }
  for (const e of a.list('env')) env.push(...envValue(e, ctx.env));

  const labels: Record<string, string> = {};
  for (const l of a.list('label')) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }

  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const p of a.list('publish')) parsePublish(p, exposed, bindings);
  for (const e of a.list('expose')) {
    const [ports = '', proto = 'tcp'] = e.split('/');
    const [lo, hi] = portRange(ports, 'expose');
    for (let p = lo; p <= hi; p++) exposed[`${p}/${proto}`] = {};
  }

  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  for (const v of a.list('volume')) {
    const parts = v.split(':');
    if (v === '' || parts.some((p, i) => p === '' && i < 2)) throw new UsageError(`invalid volume specification: '${v}'`);
    if (parts.length === 1) volumes[v] = {};
    else if (parts.length <= 3) binds.push(v);
    else throw new UsageError(`invalid volume specification: '${v}'`);
  }

  const tmpfs: Record<string, string> = {};
  for (const t of a.list('tmpfs')) {
    const colon = t.indexOf(':');
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? '' : t.slice(colon + 1);
  }

  const mounts = a.list('mount').map(parseMountFlag);
  const net = buildNetworking(a);
  const extraHosts = a.list('add-host').map(parseExtraHost);
  const hostConfig: HostConfig = {
    Binds: binds.length > 0 ? binds : null,
    ...(mounts.length > 0 ? { Mounts: mounts } : {}),
    VolumesFrom: a.list('volumes-from').length > 0 ? a.list('volumes-from') : null,
    NetworkMode: net.networkMode,
    PortBindings: bindings,
    RestartPolicy: restart,
    AutoRemove: a.bool('rm'),
    CapAdd: a.list('cap-add').length > 0 ? a.list('cap-add') : null,
    CapDrop: a.list('cap-drop').length > 0 ? a.list('cap-drop') : null,
    Dns: checkDns(a.list('dns')),
    DnsOptions: [...a.list('dns-option'), ...a.list('dns-opt')],
    DnsSearch: a.list('dns-search'),
    ExtraHosts: extraHosts.length > 0 ? extraHosts : null,
    Links: net.links.length > 0 ? net.links : null,
    Privileged: a.bool('privileged'),
    PublishAllPorts: a.bool('publish-all'),
    ReadonlyRootfs: a.bool('read-only'),
    ...(Object.keys(tmpfs).length > 0 ? { Tmpfs: tmpfs } : {}),
    Ulimits: a.list('ulimit').length > 0 ? a.list('ulimit').map(parseUlimit) : null,
    ...(a.has('init') ? { Init: a.bool('init') } : {}),
    ...resourceFields(a),
    ...(a.has('memory-swappiness') ? { MemorySwappiness: parseIntFlag(a.string('memory-swappiness') ?? '', '--memory-swappiness') } : {}),
    ...(a.bool('oom-kill-disable') ? { OomKillDisable: true } : {}),
    ...(a.list('device').length > 0 ? { Devices: a.list('device').map(parseDevice) } : {}),
    ...(a.list('device-cgroup-rule').length > 0 ? { DeviceCgroupRules: a.list('device-cgroup-rule').map(parseDeviceCgroupRule) } : {}),
    ...(a.list('security-opt').length > 0 ? { SecurityOpt: a.list('security-opt').map(parseSecurityOpt) } : {}),
    ...(tty && ctx.consoleSize ? { ConsoleSize: ctx.consoleSize } : {}),
  };

  let stopTimeout: number | undefined;
  if (a.has('stop-timeout')) {
    stopTimeout = Number(a.string('stop-timeout'));
    if (!Number.isInteger(stopTimeout)) throw new UsageError(`invalid argument "${a.string('stop-timeout')}" for "--stop-timeout" flag: strconv.ParseInt: parsing "${a.string('stop-timeout')}": invalid syntax`);
  }

  const healthcheck = buildHealthcheck(a);

  let entrypoint: string[] | undefined;
  if (a.has('entrypoint')) entrypoint = [a.string('entrypoint') ?? ''];

  const body: ContainerCreateBody = {
    Hostname: a.string('hostname') ?? '',
    Domainname: a.string('domainname') ?? '',
    User: a.string('user') ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: interactive && attachStdin,
    Env: env,
    Cmd: cmd.length > 0 ? cmd : null,
    Image: image,
    Volumes: Object.keys(volumes).length > 0 ? volumes : null,
    WorkingDir: a.string('workdir') ?? '',
    ...(entrypoint ? { Entrypoint: entrypoint } : {}),
    Labels: labels,
    ...(a.has('stop-signal') ? { StopSignal: a.string('stop-signal') as string } : {}),
    ...(stopTimeout !== undefined ? { StopTimeout: stopTimeout } : {}),
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: net.endpoints },
  };
  const name = a.string('name');
  const platform = a.string('platform');
  return { body, pull, ...(name !== undefined ? { name } : {}), ...(platform !== undefined ? { platform } : {}) };
}
