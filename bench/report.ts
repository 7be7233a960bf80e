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
  /** GET /v1.41/containers/json over one keep-alive connection (no containers), microseconds. */
  listKeepAlive: Partial<Record<PeerName, PingEntry>>;
  /** `docker run --rm <busybox> true`, by network mode. */
  run: { none: Partial<Record<PeerName, CliEntry>>; default: Partial<Record<PeerName, CliEntry>> };
  /** `docker run -d <busybox> sleep 60` + `docker rm -f`, milliseconds. */
  runDetached: Partial<Record<PeerName, CliEntry>>;
  /** GET /containers/json?all=1 with config.listContainers created containers, milliseconds. */
  list: Partial<Record<PeerName, CliEntry>>;
  /** Fully cached `docker build` (bench/build.ts), milliseconds. */
  build: Partial<Record<PeerName, { cachedMs?: number; error?: string }>>;
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
  if (has(r.listKeepAlive)) {
    const b = r.listKeepAlive.berthd?.summary?.median;
    const d = r.listKeepAlive.dockerd?.summary?.median;
    const x = ratio(b, d);
    targets.push({ name: 'GET /containers/json keep-alive', goal: "berthd median <= dockerd's", actual: `berthd ${us(b)} us vs dockerd ${us(d)} us = ${times(x)}`, pass: Number.isFinite(x) ? x <= 1 : null });
  }
  if (has(r.run.none) || has(r.run.default)) {
    targets.push(runTarget(r, 'default', 0.35), runTarget(r, 'none', 0.35));
  }
  if (has(r.runDetached)) {
    const b = r.runDetached.berthd?.summary?.median;
    const d = r.runDetached.dockerd?.summary?.median;
    const x = ratio(b, d);
    targets.push({ name: 'run -d + rm -f', goal: "berthd median <= 0.35x dockerd's", actual: `berthd ${ms(b)} ms vs dockerd ${ms(d)} ms = ${times(x)}`, pass: Number.isFinite(x) ? x <= 0.35 : null });
  }
  if (has(r.ps)) {
    const b = r.ps.berthd?.summary?.median;
    const d = r.ps.dockerd?.summary?.median;
    const x = ratio(b, d);
    targets.push({
      name: 'docker ps -a',
      goal: `berthd median <= 0.8x dockerd's (${r.config['psContainers']} exited containers)`,
      actual: `berthd ${ms(b)} ms vs dockerd ${ms(d)} ms = ${times(x)}`,
      pass: Number.isFinite(x) ? x <= 0.8 : null,
    });
  }
  if (has(r.list)) {
    const b = r.list.berthd?.summary?.median;
    targets.push({ name: `list ${r.config['listContainers']} containers`, goal: 'berthd GET /containers/json?all=1 <= 20 ms', actual: `berthd ${b?.toFixed(1) ?? '-'} ms`, pass: b !== undefined ? b <= 20 : null });
  }
  if (r.start) {
    const m = r.start.toFirstPingMs?.median;
    targets.push({ name: 'start to first /_ping', goal: 'berthd median <= 120 ms', actual: `${ms(m)} ms${r.start.error ? ` (${r.start.error})` : ''}`, pass: m !== undefined ? m <= 120 : null });
  }
  if (has(r.build)) {
    const b = r.build.berthd?.cachedMs;
    const d = r.build.dockerd?.cachedMs;
    const x = ratio(b, d);
    targets.push({ name: 'fully cached rebuild', goal: "berthd median <= 0.5x dockerd's", actual: `berthd ${ms(b)} ms vs dockerd ${ms(d)} ms = ${times(x)}`, pass: Number.isFinite(x) ? x <= 0.5 : null });
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
    // skopeo only copies blobs (no unpack): shown as the wire's reference, not a peer to beat.
    if (p !== 'berthd' && p !== 'skopeo' && m !== undefined && Number.isFinite(m)) peerPulls.push({ p, m });
  }
  peerPulls.sort((a, b) => a.m - b.m);
  const fastest = peerPulls[0];
  const pullRatio = ratio(berthPull, fastest?.m);
  return {
    name: 'cold pull',
    goal: 'berthd median <= 0.65x the fastest peer that unpacks (dockerd, podman)',
    actual: fastest ? `berthd ${sec(berthPull)} s vs ${fastest.p} ${sec(fastest.m)} s = ${times(pullRatio)}` : 'no peer measured',
    pass: Number.isFinite(pullRatio) ? pullRatio <= 0.65 : null,
  };
}

function rssTarget(r: Results): Target {
  const rss = r.rss.berthd;
  return {
    name: 'idle RSS',
    goal: 'berthd <= 45 MB after start, <= 60 MB after pull + idle',
    actual: `after start ${mb(rss?.afterStart)} MB, after pull + idle ${mb(rss?.afterPullIdle)} MB`,
    pass: rss?.afterStart !== undefined && rss.afterPullIdle !== undefined ? rss.afterStart <= 45 * MB && rss.afterPullIdle <= 60 * MB : null,
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
  out.push('', ...issueTable(r));

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

/**
 * Every row of issue 17's table from this run: berthd, dockerd and podman side by side, the
 * ratio to the issue's reference engine, and the target.
 */
function issueTable(r: Results): string[] {
  type Row = { figure: string; unit: 'ms' | 'us' | 's' | 'MB'; values: Partial<Record<PeerName, number>>; ref?: PeerName | 'fastest'; target: string };
  const med = (e: { summary?: Summary } | undefined): number | undefined => e?.summary?.median;
  const each = <T,>(o: Partial<Record<PeerName, T>>, f: (e: T) => number | undefined): Partial<Record<PeerName, number>> => {
    const v: Partial<Record<PeerName, number>> = {};
    for (const p of PEERS) {
      const e = o[p];
      const x = e === undefined ? undefined : f(e);
      if (x !== undefined && Number.isFinite(x)) v[p] = x;
    }
    return v;
  };
  const rows: Row[] = [
    { figure: '`run --rm busybox true`', unit: 'ms', values: each(r.run.default, med), ref: 'dockerd', target: '<= 0.35x dockerd' },
    { figure: '`run --rm --network none`', unit: 'ms', values: each(r.run.none, med), ref: 'dockerd', target: '<= 0.35x dockerd' },
    { figure: '`run -d` + `rm -f`', unit: 'ms', values: each(r.runDetached, med), ref: 'dockerd', target: '<= 0.35x dockerd' },
    { figure: 'cold pull, 96 MiB in 4 layers', unit: 's', values: each(r.pull, med), ref: 'fastest', target: '<= 0.65x the fastest peer' },
    { figure: '`GET /containers/json`, keep-alive', unit: 'us', values: each(r.listKeepAlive, med), ref: 'dockerd', target: '<= dockerd' },
    { figure: `\`ps -a\` with ${r.config['psContainers']} containers`, unit: 'ms', values: each(r.ps, med), ref: 'dockerd', target: '<= 0.8x dockerd' },
    { figure: `${r.config['listContainers']} containers listed (GET, server + loopback)`, unit: 'ms', values: each(r.list, med), target: '<= 20 ms' },
    { figure: 'RSS right after start', unit: 'MB', values: { ...(r.start?.rssAfterStart ? { berthd: r.start.rssAfterStart.median } : {}), ...each(r.rss, (e) => e.afterStart) }, target: '<= 45 MB' },
    { figure: `RSS after a pull, then ${r.config['idleSeconds']} s idle`, unit: 'MB', values: each(r.rss, (e) => e.afterPullIdle), target: '<= 60 MB' },
    { figure: 'start to first `/_ping` answer', unit: 'ms', values: r.start?.toFirstPingMs ? { berthd: r.start.toFirstPingMs.median } : {}, target: '<= 120 ms' },
    { figure: 'fully cached rebuild', unit: 'ms', values: each(r.build, (e) => e.cachedMs), ref: 'dockerd', target: '<= 0.5x dockerd' },
  ];
  const fmt = (x: number | undefined, unit: Row['unit']): string => {
    if (x === undefined) return '-';
    if (unit === 'MB') return `${mb(x)} MB`;
    if (unit === 's') return `${(x * 1000).toFixed(0)} ms`;
    if (unit === 'us') return `${x.toFixed(0)} us`;
    return `${x.toFixed(1)} ms`;
  };
  const out = [`Issue 17's table, this run (medians; load average ${r.host['loadAvgAtStart']} at start, ${r.host['loadAvgAtEnd'] ?? '?'} at end)`];
  out.push(
    table(
      ['figure', 'berthd', 'dockerd', 'podman', 'berthd/ref', 'target'],
      rows.map((row) => {
        let ref: number | undefined;
        let refName = '';
        if (row.ref === 'fastest') {
          const peers = (['dockerd', 'podman'] as const).filter((p) => row.values[p] !== undefined).sort((a, b) => (row.values[a] as number) - (row.values[b] as number));
          refName = peers[0] ?? '';
          ref = peers[0] ? row.values[peers[0]] : undefined;
        } else if (row.ref) {
          refName = row.ref;
          ref = row.values[row.ref];
        }
        const x = ratio(row.values.berthd, ref);
        return [row.figure, fmt(row.values.berthd, row.unit), fmt(row.values.dockerd, row.unit), fmt(row.values.podman, row.unit), Number.isFinite(x) ? `${times(x)} ${refName}` : '-', row.target];
      }),
      1,
    ),
  );
  return out;
}
