/**
 * Resource limits: Docker's HostConfig resource fields (memory, swap, CPU, cpuset, pids, block
 * I/O weight) checked the way dockerd checks them, with its messages, and turned into the OCI
 * `linux.resources` section that runc writes to the container's cgroup (v1 files such as
 * memory.limit_in_bytes and cpu.cfs_quota_us, or v2 memory.max and cpu.max: runc maps them).
 *
 * checkResources() runs at create (so a bad value leaves nothing behind), again at start, and
 * for `docker update`. Settings the host cannot apply are dropped with Docker's warning rather
 * than failing (e.g. swap limits without swap accounting); values that make no sense are 400s.
 * probeResourceSupport() reads what the host has, once per daemon.
 */
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { invalid } from '../common/errors.js';
import type { CgroupVersion, DockerResources, OciResourceUpdate, ResourceSupport } from './types.js';

/** dockerd's linuxMinMemory: the smallest memory limit or reservation. */
export const MIN_MEMORY = 6 * 1024 * 1024;
/** The CFS period --cpus uses (100 ms in microseconds), as Docker. */
export const NANO_CPU_PERIOD = 100_000;

const NUMERIC_FIELDS = [
  'Memory',
  'MemorySwap',
  'MemoryReservation',
  'MemorySwappiness',
  'KernelMemory',
  'NanoCpus',
  'CpuShares',
  'CpuPeriod',
  'CpuQuota',
  'CpuRealtimePeriod',
  'CpuRealtimeRuntime',
  'PidsLimit',
  'BlkioWeight',
] as const;

/** The resource fields `docker update` may change (besides RestartPolicy). */
export const UPDATABLE_FIELDS: readonly string[] = [...NUMERIC_FIELDS, 'CpusetCpus', 'CpusetMems'];

export interface CheckedResources {
  /** The fields given, normalized (unsupported settings dropped, unlimited pids as null). */
  resources: DockerResources;
  /** Docker's warnings for what was dropped (create answers them in Warnings). */
  warnings: string[];
}

/**
 * Docker's checks of the resource fields (dockerd's verifyPlatformContainerResources). `update`
 * relaxes the one check that needs the whole config (swap without memory: the container may
 * already have a memory limit). Throws BerthError('invalid') with dockerd's message.
 */
export function checkResources(given: DockerResources, support: ResourceSupport | undefined, opts: { update?: boolean } = {}): CheckedResources {
  const r: DockerResources = { ...given };
  const warnings: string[] = [];
  const warn = (m: string): number => warnings.push(m);
  for (const k of NUMERIC_FIELDS) {
    const v = r[k];
    if (v !== undefined && v !== null && !Number.isSafeInteger(v)) throw invalid(`invalid value for ${k}: ${JSON.stringify(v)}`, 'INVALID_RESOURCES');
  }
  for (const k of ['CpusetCpus', 'CpusetMems'] as const) {
    const v = r[k];
    if (v !== undefined && v !== null && typeof v !== 'string') throw invalid(`invalid value for ${k}: ${JSON.stringify(v)}`, 'INVALID_RESOURCES');
  }
  const has = (f: keyof ResourceSupport): boolean => support === undefined || support[f] !== false;
  const n = (v: number | null | undefined): number => v ?? 0;

  // Memory
  if (n(r.Memory) !== 0 && n(r.Memory) < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB', 'INVALID_MEMORY');
  if (n(r.Memory) > 0 && !has('memoryLimit')) {
    warn('Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.');
    r.Memory = 0;
    r.MemorySwap = -1;
  }
  if (n(r.Memory) > 0 && r.MemorySwap !== -1 && !has('swapLimit')) {
    warn('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
    r.MemorySwap = -1;
  }
  if (n(r.MemorySwap) < -1) throw invalid(`invalid value for MemorySwap: ${r.MemorySwap}`, 'INVALID_MEMORY');
  if (n(r.Memory) > 0 && n(r.MemorySwap) > 0 && n(r.MemorySwap) < n(r.Memory)) {
    throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage', 'INVALID_MEMORY');
  }
  if (n(r.Memory) === 0 && n(r.MemorySwap) > 0 && !opts.update) {
    throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage', 'INVALID_MEMORY');
  }
  if (r.MemorySwappiness !== undefined && r.MemorySwappiness !== null && r.MemorySwappiness !== -1) {
    if (r.MemorySwappiness < 0 || r.MemorySwappiness > 100) {
      throw invalid(`Invalid value: ${r.MemorySwappiness}, valid memory swappiness range is 0-100`, 'INVALID_MEMORY');
    }
    if (!has('memorySwappiness')) {
      warn('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
      r.MemorySwappiness = null;
    }
  }
  if (n(r.MemoryReservation) > 0 && !has('memoryReservation')) {
    warn('Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.');
    r.MemoryReservation = 0;
  }
  if (n(r.MemoryReservation) < 0 || (n(r.MemoryReservation) > 0 && n(r.MemoryReservation) < MIN_MEMORY)) {
    throw invalid('Minimum memory reservation allowed is 6MB', 'INVALID_MEMORY');
  }
  if (n(r.Memory) > 0 && n(r.MemoryReservation) > 0 && n(r.Memory) < n(r.MemoryReservation)) {
    throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage', 'INVALID_MEMORY');
  }
  if (n(r.KernelMemory) !== 0) {
    warn('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
    r.KernelMemory = 0;
  }
  if (r.OomKillDisable === true && !has('oomKillDisable')) {
    warn('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    r.OomKillDisable = false;
  }
  if (r.OomKillDisable === true && n(r.Memory) === 0 && !opts.update) {
    warn('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }

  // PIDs: zero or negative means unlimited.
  if (r.PidsLimit !== undefined && r.PidsLimit !== null && r.PidsLimit <= 0) r.PidsLimit = null;
  if (n(r.PidsLimit) > 0 && !has('pidsLimit')) {
    warn('Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.');
    r.PidsLimit = null;
  }

  // CPU
  if (n(r.NanoCpus) > 0 && n(r.CpuPeriod) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set', 'INVALID_CPU');
  if (n(r.NanoCpus) > 0 && n(r.CpuQuota) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set', 'INVALID_CPU');
  if (n(r.NanoCpus) > 0 && !has('cpuCfs')) {
    throw invalid('NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted', 'INVALID_CPU');
  }
  const cpus = support?.cpus;
  if (n(r.NanoCpus) < 0 || (cpus !== undefined && n(r.NanoCpus) > cpus * 1e9)) {
    const c = cpus ?? os.availableParallelism();
    throw invalid(`Range of CPUs is from 0.01 to ${c}.00, as there are only ${c} CPUs available`, 'INVALID_CPU');
  }
  if (n(r.CpuShares) < 0) throw invalid(`invalid CPU shares (${r.CpuShares}): value must be a positive integer`, 'INVALID_CPU');
  if (n(r.CpuShares) > 0 && !has('cpuShares')) {
    warn('Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.');
    r.CpuShares = 0;
  }
  if (n(r.CpuPeriod) > 0 && !has('cpuCfs')) {
    warn('Your kernel does not support CPU cfs period or the cgroup is not mounted. Period discarded.');
    r.CpuPeriod = 0;
  }
  if (n(r.CpuPeriod) !== 0 && (n(r.CpuPeriod) < 1000 || n(r.CpuPeriod) > 1_000_000)) {
    throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)', 'INVALID_CPU');
  }
  if (n(r.CpuQuota) > 0 && !has('cpuCfs')) {
    warn('Your kernel does not support CPU cfs quota or the cgroup is not mounted. Quota discarded.');
    r.CpuQuota = 0;
  }
  if (n(r.CpuQuota) > 0 && n(r.CpuQuota) < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)', 'INVALID_CPU');
  if (n(r.CpuQuota) < -1) throw invalid(`invalid value for CpuQuota: ${r.CpuQuota}`, 'INVALID_CPU');
  if (n(r.CpuRealtimePeriod) !== 0 || n(r.CpuRealtimeRuntime) !== 0) {
    throw invalid('Your kernel does not support CPU real-time scheduler', 'INVALID_CPU');
  }
  for (const [field, what, avail, missing] of [
    ['CpusetCpus', 'cpus', support?.cpusetCpus, 'Requested CPUs are not available'],
    ['CpusetMems', 'mems', support?.cpusetMems, 'Requested memory nodes are not available'],
  ] as const) {
    const v = r[field];
    if (!v) continue;
    const wanted = parseCpuList(v);
    if (wanted === undefined) throw invalid(`Invalid value ${v} for cpuset ${what}`, 'INVALID_CPUSET');
    if (!has('cpuset')) {
      warn('Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.');
      r[field] = '';
      continue;
    }
    if (avail !== undefined) {
      const have = parseCpuList(avail) ?? new Set<number>();
      if ([...wanted].some((c) => !have.has(c))) throw invalid(`${missing} - requested ${v}, available: ${avail}`, 'INVALID_CPUSET');
    }
  }

  // Block I/O
  if (n(r.BlkioWeight) > 0 && (n(r.BlkioWeight) < 10 || n(r.BlkioWeight) > 1000)) throw invalid('Range of blkio weight is from 10 to 1000', 'INVALID_BLKIO');
  if (n(r.BlkioWeight) < 0) throw invalid('Range of blkio weight is from 10 to 1000', 'INVALID_BLKIO');
  if (n(r.BlkioWeight) > 0 && !has('blkioWeight')) {
    warn('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    r.BlkioWeight = 0;
  }
  return { resources: r, warnings };
}

/** What create adds after the checks, as dockerd: a memory limit without a swap limit gets swap of the same size (MemorySwap = 2 × Memory). */
export function defaultSwap<T extends DockerResources>(r: T): T {
  return (r.Memory ?? 0) > 0 && (r.MemorySwap ?? 0) === 0 ? { ...r, MemorySwap: (r.Memory as number) * 2 } : r;
}

/** "0-2,5" → {0,1,2,5}; undefined when malformed (Docker's parsers.ParseUintList). */
export function parseCpuList(list: string): Set<number> | undefined {
  const out = new Set<number>();
  if (list.trim() === '') return out;
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo || hi > 8192) return undefined;
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/**
 * The OCI resources (memory, cpu, pids, block I/O) for checked Docker resources. With `forUpdate`,
 * an unlimited pids limit is sent as -1 (runc update leaves zero values as they are).
 */
export function ociResources(r: DockerResources, opts: { forUpdate?: boolean } = {}): OciResourceUpdate {
  const out: OciResourceUpdate = {};
  const pos = (v: number | null | undefined): number | undefined => (v !== undefined && v !== null && v > 0 ? v : undefined);
  const memory = {
    limit: pos(r.Memory),
    reservation: pos(r.MemoryReservation),
    swap: r.MemorySwap === -1 || (r.MemorySwap ?? 0) > 0 ? (r.MemorySwap as number) : undefined,
    swappiness: r.MemorySwappiness !== undefined && r.MemorySwappiness !== null && r.MemorySwappiness >= 0 ? r.MemorySwappiness : undefined,
    disableOOMKiller: r.OomKillDisable === true ? true : undefined,
  };
  const mem = prune(memory);
  if (mem) out.memory = mem;
  const nano = pos(r.NanoCpus);
  const cpu = prune({
    shares: pos(r.CpuShares),
    quota: nano !== undefined ? Math.floor((nano * NANO_CPU_PERIOD) / 1e9) : r.CpuQuota === -1 ? -1 : pos(r.CpuQuota),
    period: nano !== undefined ? NANO_CPU_PERIOD : pos(r.CpuPeriod),
    cpus: r.CpusetCpus || undefined,
    mems: r.CpusetMems || undefined,
  });
  if (cpu) out.cpu = cpu;
  const pids = pos(r.PidsLimit);
  if (pids !== undefined) out.pids = { limit: pids };
  else if (opts.forUpdate) out.pids = { limit: -1 };
  const weight = pos(r.BlkioWeight);
  if (weight !== undefined) out.blockIO = { weight };
  return out;
}

/** The object without its undefined members, or undefined when nothing is left. */
function prune<T extends object>(o: T): Partial<T> | undefined {
  const entries = Object.entries(o).filter(([, v]) => v !== undefined);
  return entries.length > 0 ? (Object.fromEntries(entries) as Partial<T>) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Host support

const ROOT = '/sys/fs/cgroup';

async function readTrim(file: string): Promise<string | undefined> {
  try {
    return (await fsp.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** What the host's cgroups can limit (as Docker's sysinfo finds it) and how many CPUs the daemon has. */
export async function probeResourceSupport(version: CgroupVersion, root = ROOT): Promise<ResourceSupport> {
  const cpus = os.availableParallelism();
  const onlineCpus = (await readTrim('/sys/devices/system/cpu/online')) ?? `0-${cpus - 1}`;
  const onlineMems = (await readTrim('/sys/devices/system/node/online')) ?? '0';
  if (version === 2) {
    const controllers = new Set(((await readTrim(path.join(root, 'cgroup.controllers'))) ?? '').split(/\s+/));
    const mem = controllers.has('memory');
    const cpu = controllers.has('cpu');
    return {
      cpus,
      cpusetCpus: (await readTrim(path.join(root, 'cpuset.cpus.effective'))) || onlineCpus,
      cpusetMems: (await readTrim(path.join(root, 'cpuset.mems.effective'))) || onlineMems,
      memoryLimit: mem,
      swapLimit: mem,
      memoryReservation: mem,
      memorySwappiness: false,
      oomKillDisable: false,
      cpuShares: cpu,
      cpuCfs: cpu,
      cpuset: controllers.has('cpuset'),
      pidsLimit: controllers.has('pids'),
      blkioWeight: controllers.has('io'),
    };
  }
  const file = (ctl: string, f: string): boolean => existsSync(path.join(root, ctl, f));
  return {
    cpus,
    cpusetCpus: (await readTrim(path.join(root, 'cpuset', 'cpuset.cpus'))) || onlineCpus,
    cpusetMems: (await readTrim(path.join(root, 'cpuset', 'cpuset.mems'))) || onlineMems,
    memoryLimit: file('memory', 'memory.limit_in_bytes'),
    swapLimit: file('memory', 'memory.memsw.limit_in_bytes'),
    memoryReservation: file('memory', 'memory.soft_limit_in_bytes'),
    memorySwappiness: file('memory', 'memory.swappiness'),
    oomKillDisable: file('memory', 'memory.oom_control'),
    cpuShares: file('cpu', 'cpu.shares'),
    cpuCfs: file('cpu', 'cpu.cfs_quota_us'),
    cpuset: file('cpuset', 'cpuset.cpus'),
    pidsLimit: existsSync(path.join(root, 'pids')),
    blkioWeight: file('blkio', 'blkio.weight') || file('blkio', 'blkio.bfq.weight'),
  };
}
