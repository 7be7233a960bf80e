// The bench's results: their JSON shape, the targets, and the printed tables.
import type { Summary } from './stats.js';
import { ratio } from './stats.js';
import type { StartEntry } from './start.js';

export const PEERS = ['berthd', 'skopeo', 'dockerd', 'podman'] as const;
export type PeerName = (typeof PEERS)[number];

export interface PullEntry {
  method: string;
  /** Seconds, one per successful iteration, in run order. */
  samples: number[];
  summary?: Summary;
  error?: string;
}

export interface RssEntry {
  /** Bytes; undefined when not measured. */
  afterStart?: number;
  afterPullIdle?: number;
  /** Sum of VmHWM over the processes, read after the idle period: the peak during the pull. */
  peak?: number;
  processes?: string;
  error?: string;
}

export interface PingEntry {
  summary?: Summary;
  connections?: number;
  error?: string;
}

/** Latency of one CLI command, milliseconds. */
export interface CliEntry {
  samples?: number[];
  summary?: Summary;
  error?: string;
}

export interface MonitorEntry {
  process?: string;
  pid?: number;
  /** Bytes. */
  rss?: number;
  pss?: number;
  error?: string;
}

export interface Target {
  name: string;
  goal: string;
  actual: string;
  pass: boolean | null;
}

export interface Results {
  startedAt: string;
  durationSeconds: number;
  host: Record<string, string | number>;
  versions: Record<string, string | undefined>;
  config: Record<string, string | number>;
  image: Record<string, string | number>;
  pull: Partial<Record<PeerName, PullEntry>>;
  rss: Partial<Record<PeerName, RssEntry>>;
  ping: Partial<Record<PeerName, PingEntry>>;
  /** `docker run --rm <busybox> true`, by network mode. */
  run: { none: Partial<Record<PeerName, CliEntry>>; default: Partial<Record<PeerName, CliEntry>> };
  /** `docker ps -a` with config.psContainers exited containers. */
  ps: Partial<Record<PeerName, CliEntry>>;
  monitor: Partial<Record<PeerName, MonitorEntry>>;
  /** berthd's start (bench/start.ts). */
  start?: StartEntry;
  targets: Target[];
  notes: string[];
}

export const MB = 1e6;
const mb = (b: number | undefined): string => (b === undefined ? '-' : (b / MB).toFixed(1));
const sec = (s: number | undefined): string => (s === undefined || !Number.isFinite(s) ? '-' : s.toFixed(2));
const us = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(0));
const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(0));
const times = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');

// ---------------------------------------------------------------- targets

export function evaluateTargets(r: Results): Target[] {
  const targets: Target[] = [];

  const has = (o: object): boolean => Object.keys(o).length > 0;
  if (has(r.pull)) targets.push(pullTarget(r));
  if (has(r.rss)) targets.push(rssTarget(r));
  if (has(r.ping)) targets.push(pingTarget(r));
  if (has(r.run.none) || has(r.run.default)) {
    targets.push(runTarget(r, 'default', 0.35), runTarget(r, 'none', 0.25));
  }
  if (has(r.ps)) {
    const b = r.ps.berthd?.summary?.median;
    const d = r.ps.dockerd?.summary?.median;
    const x = ratio(b, d);
    targets.push({
      name: 'docker ps -a',
      goal: `berthd median <= dockerd's (${r.config['psContainers']} exited containers; reference, no issue target)`,
      actual: `berthd ${ms(b)} ms vs dockerd ${ms(d)} ms = ${times(x)}`,
      pass: Number.isFinite(x) ? x <= 1 : null,
    });
  }
  return targets;
}

function runTarget(r: Results, net: 'none' | 'default', goal: number): Target {
  const b = r.run[net].berthd?.summary?.median;
  const d = r.run[net].dockerd?.summary?.median;
  const x = ratio(b, d);
  const err = r.run[net].dockerd?.error;
  return {
    name: `run --rm true (${net === 'none' ? '--network none' : 'default network'})`,
    goal: `berthd median <= ${goal}x dockerd's`,
    actual: `berthd ${ms(b)} ms vs dockerd ${ms(d)} ms = ${times(x)}${err && d === undefined ? ` (dockerd: ${err})` : ''}`,
    pass: Number.isFinite(x) ? x <= goal : null,
  };
}

function pullTarget(r: Results): Target {
  const berthPull = r.pull.berthd?.summary?.median;
  const peerPulls: Array<{ p: PeerName; m: number }> = [];
  for (const p of PEERS) {
    const m = r.pull[p]?.summary?.median;
    if (p !== 'berthd' && m !== undefined && Number.isFinite(m)) peerPulls.push({ p, m });
  }
  peerPulls.sort((a, b) => a.m - b.m);
  const fastest = peerPulls[0];
  const pullRatio = ratio(berthPull, fastest?.m);
  return {
    name: 'cold pull',
    goal: 'berthd median <= 0.8x the fastest peer',
    actual: fastest ? `berthd ${sec(berthPull)} s vs ${fastest.p} ${sec(fastest.m)} s = ${times(pullRatio)}` : 'no peer measured',
    pass: Number.isFinite(pullRatio) ? pullRatio <= 0.8 : null,
  };
}

function rssTarget(r: Results): Target {
  const rss = r.rss.berthd;
  const worst = Math.max(rss?.afterStart ?? Number.NaN, rss?.afterPullIdle ?? Number.NaN);
  return {
    name: 'idle RSS',
    goal: 'berthd <= 60 MB (after start and after pull + idle)',
    actual: `after start ${mb(rss?.afterStart)} MB, after pull + idle ${mb(rss?.afterPullIdle)} MB`,
    pass: rss?.afterStart !== undefined && rss.afterPullIdle !== undefined ? worst <= 60 * MB : null,
  };
}

function pingTarget(r: Results): Target {
  const bp = r.ping.berthd?.summary;
  const dp = r.ping.dockerd?.summary;
  return {
    name: '/_ping latency',
    goal: "berthd median and p99 <= dockerd's",
    actual: `berthd ${us(bp?.median)}/${us(bp?.p99)} us vs dockerd ${us(dp?.median)}/${us(dp?.p99)} us (median/p99)`,
    pass: bp && dp ? bp.median <= dp.median && bp.p99 <= dp.p99 : null,
  };
}

// ---------------------------------------------------------------- tables

/**
 * A plain-text table: the first `leftCols` columns left-aligned, the rest right-aligned. Cells
 * beyond the header's columns (error notes) are appended as they are.
 */
function table(header: string[], rows: string[][], leftCols = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => {
        const w = widths[i];
        if (w === undefined) return c;
        return i < leftCols ? c.padEnd(w) : c.padStart(w);
      })
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const failedRow = (name: string, columns: number, error: string | undefined): string[] => [
  name,
  ...Array.from({ length: columns - 1 }, () => '-'),
  `FAILED: ${error ?? 'no samples'}`,
];

export function renderTables(r: Results): string {
  const out: string[] = [];
  if (Object.keys(r.pull).length > 0) {
    const berthPull = r.pull.berthd?.summary?.median;
    out.push(
      `Cold pull: ${r.image['ref']} (${r.image['layers']} layers, ${r.image['compressedMiB']} MiB ${r.image['compression']}, ${r.image['format']} media types), ${r.config['pullIterations']} iterations`,
    );
    out.push(
      table(
        ['engine', 'median s', 'min s', 'max s', 'n', 'berthd/engine'],
        PEERS.filter((p) => r.pull[p]).map((p) => {
          const e = r.pull[p] as PullEntry;
          const s = e.summary;
          if (!s) return failedRow(p, 6, e.error);
          const row = [p, sec(s.median), sec(s.min), sec(s.max), String(s.n), p === 'berthd' ? '' : times(ratio(berthPull, s.median))];
          if (e.error) row.push(`(${e.error})`);
          return row;
        }),
      ),
    );

    for (const p of PEERS) {
      const m = r.pull[p]?.method;
      if (m) out.push(`  ${p}: ${m}`);
    }

  }
  if (Object.keys(r.rss).length > 0) {
    out.push('', `Daemon RSS (VmRSS summed over the daemon's processes and their children; MB = 10^6 bytes; idle ${r.config['idleSeconds']} s after the pull)`);
    const berthIdle = r.rss.berthd?.afterPullIdle;
    out.push(
      table(
        ['engine', 'after start', 'after pull+idle', 'peak (HWM)', 'berthd/engine', 'processes'],
        PEERS.filter((p) => r.rss[p]).map((p) => {
          const e = r.rss[p] as RssEntry;
          const row = [p, mb(e.afterStart), mb(e.afterPullIdle), mb(e.peak), p === 'berthd' ? '' : times(ratio(berthIdle, e.afterPullIdle)), e.processes ?? ''];
          if (e.error) row.push(`(${e.error})`);
          return row;
        }),
      ),
    );

  }
  if (Object.keys(r.ping).length > 0) {
    const pingCfg = `${r.config['pingRequests']} sequential requests after ${r.config['pingWarmup']} warm-up, one keep-alive connection`;
    out.push('', `GET /_ping latency (${pingCfg}), microseconds`);
    const bp = r.ping.berthd?.summary;
    out.push(
      table(
        ['engine', 'median', 'p99', 'min', 'max', 'conns', 'berthd/engine median', 'p99'],
        PEERS.filter((p) => r.ping[p]).map((p) => {
          const e = r.ping[p] as PingEntry;
          const s = e.summary;
          if (!s) return failedRow(p, 8, e.error);
          return [
            p,
            us(s.median),
            us(s.p99),
            us(s.min),
            us(s.max),
            String(e.connections ?? '-'),
            p === 'berthd' ? '' : times(ratio(bp?.median, s.median)),
            p === 'berthd' ? '' : times(ratio(bp?.p99, s.p99)),
          ];
        }),
      ),
    );

  }
  renderContainerTables(r, out);

  out.push('', 'Targets');
  out.push(
    table(
      ['target', 'goal', 'result', 'actual'],
      r.targets.map((t) => [t.name, t.goal, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS', t.actual]),
      4,
    ),
  );
  if (r.notes.length > 0) out.push('', 'Notes', ...r.notes.map((n) => `- ${n}`));
  return out.join('\n');
}

function cliTable(entries: Partial<Record<PeerName, CliEntry>>, base: number | undefined): string {
  return table(
    ['engine', 'median ms', 'min ms', 'max ms', 'n', 'berthd/engine'],
    PEERS.filter((p) => entries[p]).map((p) => {
      const e = entries[p] as CliEntry;
      const s = e.summary;
      if (!s) return failedRow(p, 6, e.error);
      return [p, ms(s.median), ms(s.min), ms(s.max), String(s.n), p === 'berthd' ? '' : times(ratio(base, s.median))];
    }),
  );
}

function renderContainerTables(r: Results, out: string[]): void {
  const it = `${r.config['runIterations']} iterations after ${r.config['runWarmup']} warm-up`;
  for (const net of ['none', 'default'] as const) {
    const entries = r.run[net];
    if (Object.keys(entries).length === 0) continue;
    const flag = net === 'none' ? '--network none' : 'default network';
    out.push('', `docker run --rm ${flag} <busybox> true (docker CLI wall time, ${it})`);
    out.push(cliTable(entries, entries.berthd?.summary?.median));
  }
  if (Object.keys(r.ps).length > 0) {
    out.push('', `docker ps -a with ${r.config['psContainers']} exited containers (docker CLI wall time, ${r.config['psIterations']} iterations after 2 warm-up)`);
    out.push(cliTable(r.ps, r.ps.berthd?.summary?.median));
  }
  if (Object.keys(r.monitor).length > 0) {
    out.push('', 'Per-container monitor memory (one running `sleep` container; the parent process of its init; MB = 10^6 bytes)');
    const b = r.monitor.berthd;
    out.push(
      table(
        ['engine', 'monitor', 'RSS MB', 'PSS MB', 'berthd/engine RSS', 'PSS'],
        PEERS.filter((p) => r.monitor[p]).map((p) => {
          const e = r.monitor[p] as MonitorEntry;
          if (e.rss === undefined) return failedRow(p, 6, e.error);
          return [
            p,
            e.process ?? '?',
            mb(e.rss),
            mb(e.pss),
            p === 'berthd' ? '' : times(ratio(b?.rss, e.rss)),
            p === 'berthd' ? '' : times(ratio(b?.pss, e.pss)),
          ];
        }),
        2,
      ),
    );
  }
}
