/**
 * `docker stats`: one sample of a container's resource use, in the Engine API's stats shape,
 * read from its cgroup. Both layouts are handled: cgroup v1 (one hierarchy per controller, as
 * on hosts with hybrid cgroups) and v2 (one unified hierarchy, as in the VM).
 *
 * The CLI derives CPU % from the difference between two samples (cpu_stats vs precpu_stats, with
 * system_cpu_usage from /proc/stat), and memory use as usage minus inactive file pages.
 * online_cpus counts the CPUs of the container's cpuset (--cpuset-cpus), the limits are the
 * cgroup's (--memory, --pids-limit). Network counters come with container networking.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCpuList } from '../runtime/resources.js';

const ROOT = '/sys/fs/cgroup';
/** USER_HZ: /proc/stat counts in clock ticks of 1/100 s. */
const TICK_NS = 10_000_000n;

export interface CpuSample {
  cpu_usage: { total_usage: number; usage_in_kernelmode: number; usage_in_usermode: number; percpu_usage?: number[] };
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface StatsSample {
  read: string;
  pids_stats: { current?: number; limit?: number };
  cpu_stats: CpuSample;
  memory_stats: { usage?: number; max_usage?: number; limit?: number; stats?: Record<string, number> };
  blkio_stats: { io_service_bytes_recursive: { major: number; minor: number; op: string; value: number }[] | null };
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function readNum(file: string): Promise<number | undefined> {
  const t = (await readText(file))?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines → a record of numbers. */
function keyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** Total CPU time of the host in nanoseconds (the first line of /proc/stat), as Docker computes it. */
async function systemCpuNs(): Promise<number> {
  const first = (await readText('/proc/stat'))?.split('\n', 1)[0] ?? '';
  let ticks = 0n;
  for (const f of first.trim().split(/\s+/).slice(1, 8)) if (/^\d+$/.test(f)) ticks += BigInt(f);
  return Number(ticks * TICK_NS);
}

/** How many CPUs a cpuset list names ("0-1,3" → 3); the host's count when unreadable or empty. */
async function cpusetCount(file: string, fallback: number): Promise<number> {
  const list = (await readText(file))?.trim();
  const n = list ? parseCpuList(list)?.size : undefined;
  return n !== undefined && n > 0 ? n : fallback;
}

/** The host's memory size: what "no limit" is reported as. */
function hostMemory(): number {
  return os.totalmem();
}

/**
 * Samples the cgroup at `cgroupPath` (as given to the runtime, e.g. /berth-abc/<id>) under the
 * hierarchy `version`.
 */
export async function sampleStats(cgroupPath: string, version: 1 | 2): Promise<StatsSample> {
  const rel = cgroupPath.replace(/^\/+/, '');
  const [system, cpus] = [await systemCpuNs(), os.cpus().length];
  if (version === 2) {
    const dir = path.join(ROOT, rel);
    const cpu = keyValues(await readText(path.join(dir, 'cpu.stat')));
    const mem = keyValues(await readText(path.join(dir, 'memory.stat')));
    const usage = await readNum(path.join(dir, 'memory.current'));
    const limit = await readNum(path.join(dir, 'memory.max'));
    const io = await readText(path.join(dir, 'io.stat'));
    return {
      read: new Date().toISOString(),
      pids_stats: { current: await readNum(path.join(dir, 'pids.current')), limit: await readNum(path.join(dir, 'pids.max')) },
      cpu_stats: {
        cpu_usage: {
          total_usage: (cpu['usage_usec'] ?? 0) * 1000,
          usage_in_kernelmode: (cpu['system_usec'] ?? 0) * 1000,
          usage_in_usermode: (cpu['user_usec'] ?? 0) * 1000,
        },
        system_cpu_usage: system,
        online_cpus: await cpusetCount(path.join(dir, 'cpuset.cpus.effective'), cpus),
        throttling_data: { periods: cpu['nr_periods'] ?? 0, throttled_periods: cpu['nr_throttled'] ?? 0, throttled_time: (cpu['throttled_usec'] ?? 0) * 1000 },
      },
      memory_stats: { ...(usage !== undefined ? { usage } : {}), limit: limit ?? hostMemory(), stats: mem },
      blkio_stats: { io_service_bytes_recursive: ioStatV2(io) },
    };
  }
  const ctl = (c: string, f: string): string => path.join(ROOT, c, rel, f);
  const cpuacct = keyValues(await readText(ctl('cpuacct', 'cpuacct.stat')));
  const percpu = (await readText(ctl('cpuacct', 'cpuacct.usage_percpu')))?.trim().split(/\s+/).map(Number).filter(Number.isFinite);
  const throttle = keyValues(await readText(ctl('cpu', 'cpu.stat')));
  const limit = await readNum(ctl('memory', 'memory.limit_in_bytes'));
  const usage = await readNum(ctl('memory', 'memory.usage_in_bytes'));
  const maxUsage = await readNum(ctl('memory', 'memory.max_usage_in_bytes'));
  const pidsLimit = await readNum(ctl('pids', 'pids.max'));
  return {
    read: new Date().toISOString(),
    pids_stats: { current: await readNum(ctl('pids', 'pids.current')), ...(pidsLimit !== undefined ? { limit: pidsLimit } : {}) },
    cpu_stats: {
      cpu_usage: {
        total_usage: (await readNum(ctl('cpuacct', 'cpuacct.usage'))) ?? 0,
        usage_in_kernelmode: Number(BigInt(cpuacct['system'] ?? 0) * TICK_NS),
        usage_in_usermode: Number(BigInt(cpuacct['user'] ?? 0) * TICK_NS),
        ...(percpu && percpu.length > 0 ? { percpu_usage: percpu } : {}),
      },
      system_cpu_usage: system,
      online_cpus: await cpusetCount(ctl('cpuset', 'cpuset.cpus'), cpus),
      throttling_data: {
        periods: throttle['nr_periods'] ?? 0,
        throttled_periods: throttle['nr_throttled'] ?? 0,
        throttled_time: throttle['throttled_time'] ?? 0,
      },
    },
    memory_stats: {
      ...(usage !== undefined ? { usage } : {}),
      ...(maxUsage !== undefined ? { max_usage: maxUsage } : {}),
      // v1 reports "unlimited" as a huge page-aligned number: show the host's memory instead.
      limit: limit === undefined || limit > hostMemory() ? hostMemory() : limit,
      stats: keyValues(await readText(ctl('memory', 'memory.stat'))),
    },
    blkio_stats: { io_service_bytes_recursive: ioServiceV1(await readText(ctl('blkio', 'blkio.throttle.io_service_bytes_recursive'))) },
  };
}

function ioServiceV1(text: string | undefined): StatsSample['blkio_stats']['io_service_bytes_recursive'] {
  const out = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: (m[3] ?? '').toLowerCase(), value: Number(m[4]) });
  }
  return out.length > 0 ? out : null;
}

function ioStatV2(text: string | undefined): StatsSample['blkio_stats']['io_service_bytes_recursive'] {
  const out = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const kv = Object.fromEntries((m[3] ?? '').split(' ').map((p) => p.split('=') as [string, string]));
    for (const [key, op] of [['rbytes', 'read'], ['wbytes', 'write']] as const) {
      if (kv[key] !== undefined) out.push({ major: Number(m[1]), minor: Number(m[2]), op, value: Number(kv[key]) });
    }
  }
  return out.length > 0 ? out : null;
}
