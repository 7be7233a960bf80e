/**
 * The stats stream: one sample a second, computed from the engine's stats JSON the way the docker
 * CLI computes `docker stats`: CPU % from the difference between this sample and the previous one
 * (container CPU time over host CPU time, times the CPUs online), memory without the page cache
 * that could be reclaimed (inactive_file), network and block I/O summed over interfaces and devices.
 */
import type { EngineClient } from '../../client/index.js';
import type { StatsSample } from '../../types/desktop-api.js';

interface CpuStats {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
  system_cpu_usage?: number;
  online_cpus?: number;
}

/** The fields of GET /containers/{id}/stats that a sample is computed from. */
export interface EngineStats {
  read?: string;
  cpu_stats?: CpuStats;
  precpu_stats?: CpuStats;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  pids_stats?: { current?: number };
}

export function cpuPercent(s: EngineStats): number {
  const cpu = s.cpu_stats;
  const pre = s.precpu_stats;
  const cpuDelta = (cpu?.cpu_usage?.total_usage ?? 0) - (pre?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (cpu?.system_cpu_usage ?? 0) - (pre?.system_cpu_usage ?? 0);
  const cpus = cpu?.online_cpus || cpu?.cpu_usage?.percpu_usage?.length || 1;
  if (cpuDelta <= 0 || systemDelta <= 0) return 0;
  return Math.round((cpuDelta / systemDelta) * cpus * 100 * 100) / 100;
}

export function toSample(s: EngineStats): StatsSample {
  const mem = s.memory_stats ?? {};
  const cache = mem.stats?.['inactive_file'] ?? mem.stats?.['total_inactive_file'] ?? 0;
  const usage = mem.usage ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') read += e.value;
    else if (op === 'write') write += e.value;
  }
  const time = s.read && !s.read.startsWith('0001-') ? s.read : new Date().toISOString();
  return {
    time,
    cpuPercent: cpuPercent(s),
    memoryBytes: Math.max(0, usage - (cache < usage ? cache : 0)),
    memoryLimitBytes: mem.limit ?? 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    blockReadBytes: read,
    blockWriteBytes: write,
    pids: s.pids_stats?.current ?? 0,
  };
}

/** Streams samples until the engine ends the stream (the container stopped) or `signal` aborts. */
export async function pumpStats(client: EngineClient, id: string, push: (s: StatsSample) => void, signal: AbortSignal): Promise<void> {
  for await (const s of client.transport.jsonStream<EngineStats>({
    method: 'GET',
    path: `/containers/${encodeURIComponent(id)}/stats`,
    query: { stream: true },
    signal,
  })) {
    push(toSample(s));
  }
}
