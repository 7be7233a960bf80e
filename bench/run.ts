// `npm run bench`: berthd side by side with skopeo, dockerd (docker.io) and podman on this machine,
// against one loopback registry. Prints tables and writes bench/results/latest.json.
//
// Environment:
//   BENCH_PULL_ITERATIONS  cold pulls per engine (default 5)
//   BENCH_PING_REQUESTS    measured GET /_ping requests (default 2000), BENCH_PING_WARMUP (default 200)
//   BENCH_IDLE_SECONDS     idle time after the pull before reading RSS (default 20)
//   BENCH_LAYERS, BENCH_LAYER_MIB   image shape (default 4 x 25 MiB)
//   BENCH_IMAGE_FORMAT     docker (default) or oci media types
//   BENCH_PEERS            comma list out of skopeo,dockerd,podman (default all)
//   BENCH_NO_INSTALL=1     never apt-get install missing peers
//   BENCH_RESULTS          output file (default <repo>/bench/results/latest.json; latest-<sections>.json when
//                          BENCH_SECTIONS picks only some sections)
//   BENCH_START_ITERATIONS berthd starts for the start figures (spawn to first /_ping, RSS after; default 15)
//   BENCH_SECTIONS         comma list out of start,pull,rss,ping,run,ps,monitor (default all); rss and ping
//                          share one daemon phase, run/ps/monitor share one container phase
//   BENCH_RUN_ITERATIONS   measured `docker run --rm <busybox> true` per engine and network mode (default 15, after 2 warm-ups)
//   BENCH_PS_CONTAINERS    exited containers for `docker ps -a` (default 50), BENCH_PS_ITERATIONS (default 20, after 2 warm-ups)
//   BENCH_LIST_CONTAINERS  created containers for the GET /containers/json?all=1 server-time row (default 1000)
//   BENCH_BUILD_CACHED     fully cached builds per engine in the build section (default 9; it runs bench/build.ts)
//   Also in BENCH_SECTIONS: build (a shortened bench/build.ts for the cached-rebuild row). ping also times
//   GET /containers/json; run also times `run -d` + `rm -f`; ps also lists BENCH_LIST_CONTAINERS containers.
import { cpus, loadavg, release, totalmem } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { berthdPath } from '../test/harness/daemon.js';
import { repoRoot, sleep } from '../test/harness/util.js';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createMany, makeExited, monitorRss, pushBusybox, removeAll, runArgs, timedCli, timedRunDetachedRemove } from './containers.js';
import { BenchSource, type BenchImage } from './image.js';
import { PODMAN_RUNTIME_NOTE, dockerCli, ensurePeers, pullInto, startBerthd, startDockerd, startPodmanService, versions, which, type Engine } from './peers.js';
import { pingLatency } from './ping.js';
import { measureBerthdStart, renderStart } from './start.js';
import { installSignalHandlers, runCleanups } from './proc.js';
import { berthdRunner, dockerdRunner, podmanRunner, skopeoRunner, type PullRunner } from './pull.js';
import { evaluateTargets, renderTables, type CliEntry, type PeerName, type Results } from './report.js';
import { round, summarize, type Summary } from './stats.js';

const MiB = 1024 * 1024;

function envInt(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

const SECTIONS = ['start', 'pull', 'rss', 'ping', 'run', 'ps', 'monitor'] as const;
type Section = (typeof SECTIONS)[number];
/** Sections beyond the daemon phases: build runs bench/build.ts (shortened) for the cached-rebuild row. */
const ALL_SECTIONS: readonly string[] = [...SECTIONS, 'build'];

/** latest.json for a full run; latest-<sections>.json for a partial one, so it does not replace the full results. */
function defaultResultsName(): string {
  const picked = process.env.BENCH_SECTIONS;
  if (picked === undefined || picked.trim() === '') return 'latest.json';
  const list = ALL_SECTIONS.filter((x) => picked.split(',').map((y) => y.trim()).includes(x));
  return list.length === ALL_SECTIONS.length ? 'latest.json' : `latest-${list.join('-')}.json`;
}

const config = {
  pullIterations: envInt('BENCH_PULL_ITERATIONS', 5),
  pingRequests: envInt('BENCH_PING_REQUESTS', 2000),
  pingWarmup: envInt('BENCH_PING_WARMUP', 200),
  idleSeconds: envInt('BENCH_IDLE_SECONDS', 20),
  layers: envInt('BENCH_LAYERS', 4),
  layerMiB: envInt('BENCH_LAYER_MIB', 25),
  format: process.env.BENCH_IMAGE_FORMAT === 'oci' ? ('oci' as const) : ('docker' as const),
  peers: (process.env.BENCH_PEERS ?? 'skopeo,dockerd,podman').split(',').map((s) => s.trim()),
  install: process.env.BENCH_NO_INSTALL !== '1',
  sections: (process.env.BENCH_SECTIONS ?? ALL_SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean),
  runIterations: envInt('BENCH_RUN_ITERATIONS', 15),
  startIterations: envInt('BENCH_START_ITERATIONS', 15),
  runWarmup: 2,
  psContainers: envInt('BENCH_PS_CONTAINERS', 50),
  psIterations: envInt('BENCH_PS_ITERATIONS', 20),
  listContainers: envInt('BENCH_LIST_CONTAINERS', 1000),
  listIterations: 20,
  buildCached: envInt('BENCH_BUILD_CACHED', 9),
  resultsFile: process.env.BENCH_RESULTS ?? join(repoRoot(), 'bench', 'results', defaultResultsName()),
};

const t0 = Date.now();
const log = (s: string): void => {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);
};
const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

// ---------------------------------------------------------------- phases

async function pullPhase(runners: PullRunner[], source: BenchSource, results: Results): Promise<void> {
  const samples = new Map<string, number[]>(runners.map((r) => [r.name, []]));
  const failed = new Map<string, string>();
  for (let i = 0; i < config.pullIterations; i++) {
    // Rotate the order each iteration so no engine always runs right after the same other one.
    const order = runners.map((_, k) => runners[(k + i) % runners.length] as PullRunner);
    for (const r of order) {
      if (failed.has(r.name)) continue;
      try {
        let s: number;
        try {
          s = await r.once(source.image);
        } catch (e) {
          if (!(await source.ensureServing())) throw e;
          log(`the registry had died (${firstLine(e)}); restarted it and pushed the image again; retrying`);
          s = await r.once(source.image);
        }
        samples.get(r.name)?.push(s);
        log(`pull ${i + 1}/${config.pullIterations} ${r.name}: ${s.toFixed(2)} s`);
      } catch (e) {
        failed.set(r.name, firstLine(e));
        log(`pull ${i + 1}/${config.pullIterations} ${r.name}: FAILED (${firstLine(e)}); no more pulls for ${r.name}`);
      }
    }
  }
  for (const r of runners) {
    const s = samples.get(r.name) ?? [];
    const entry: NonNullable<Results['pull'][PeerName]> = { method: r.method, samples: s.map((x) => round(x, 4) ?? 0) };
    if (s.length > 0) entry.summary = roundSummary(summarize(s), 4);
    const err = failed.get(r.name);
    if (err !== undefined) entry.error = err;
    results.pull[r.name as PeerName] = entry;
  }
}

async function daemonPhase(starters: Array<[PeerName, () => Promise<Engine>]>, img: BenchImage, results: Results, doRss: boolean, doPing: boolean): Promise<void> {
  const engines: Array<{ name: PeerName; engine: Engine; pulledAt?: number }> = [];
  try {
    for (const [name, start] of starters) {
      try {
        const engine = await start();
        engines.push({ name, engine });
        await sleep(1000);
        const r = engine.rss();
        results.rss[name] = { afterStart: r.rss, processes: `${r.pids.length} (${r.pids.join(' ')})` };
        log(`${name} started: RSS ${(r.rss / 1e6).toFixed(1)} MB`);
      } catch (e) {
        results.rss[name] = { error: `start failed: ${firstLine(e)}` };
        results.ping[name] = { error: `start failed: ${firstLine(e)}` };
        log(`${name}: start failed: ${firstLine(e)}`);
      }
    }
    for (const e of doRss ? engines : []) {
      try {
        await pullInto(e.engine, img);
        e.pulledAt = Date.now();
        log(`${e.name}: pulled for the RSS reading`);
      } catch (err) {
        (results.rss[e.name] ??= {}).error = `pull failed: ${firstLine(err)}`;
        log(`${e.name}: pull failed: ${firstLine(err)}`);
      }
    }
    if (doRss) log(`idling ${config.idleSeconds} s after each pull...`);
    for (const e of [...engines].sort((a, b) => (a.pulledAt ?? 0) - (b.pulledAt ?? 0))) {
      if (e.pulledAt === undefined) continue;
      await sleep(Math.max(0, e.pulledAt + config.idleSeconds * 1000 - Date.now()));
      const r = e.engine.rss();
      const entry = (results.rss[e.name] ??= {});
      entry.afterPullIdle = r.rss;
      entry.peak = r.peak;
      entry.processes = `${r.pids.length} (${r.pids.join(' ')})`;
    }
    for (const e of doPing ? engines : []) {
      try {
        const p = await pingLatency(e.engine.socket, config.pingRequests, config.pingWarmup);
        results.ping[e.name] = { summary: roundSummary(p.micros, 1), connections: p.connections };
        log(`${e.name}: /_ping median ${p.micros.median.toFixed(0)} us, p99 ${p.micros.p99.toFixed(0)} us, ${p.connections} connection(s)`);
      } catch (err) {
        results.ping[e.name] = { error: firstLine(err) };
      }
      try {
        // v1.41: the newest version all three speak (dockerd 20.10's maximum).
        const p = await pingLatency(e.engine.socket, config.pingRequests, config.pingWarmup, '/v1.41/containers/json');
        results.listKeepAlive[e.name] = { summary: roundSummary(p.micros, 1), connections: p.connections };
        log(`${e.name}: GET /containers/json median ${p.micros.median.toFixed(0)} us, p99 ${p.micros.p99.toFixed(0)} us`);
      } catch (err) {
        results.listKeepAlive[e.name] = { error: firstLine(err) };
      }
    }
  } finally {
    for (const e of engines) await e.engine.stop().catch((err: unknown) => log(`${e.name}: stop failed: ${firstLine(err)}`));
  }
}

/** Samples (ms) to a CliEntry: rounded samples, summary, and the error that stopped it, if any. */
function cliEntry(samples: number[], error?: string): CliEntry {
  const e: CliEntry = { samples: samples.map((x) => round(x, 1) ?? 0) };
  if (samples.length > 0) e.summary = roundSummary(summarize(samples), 1);
  if (error !== undefined) e.error = error;
  return e;
}

/**
 * Measures `cmd` per engine: `warmup` untimed runs each, then `iterations` rounds, rotating the
 * engine order every round. An engine is dropped at its first failure (its error is kept).
 */
function measureCli(label: string, engines: Array<{ name: PeerName; engine: Engine }>, cmd: string[], iterations: number, warmup: number): Promise<Partial<Record<PeerName, CliEntry>>> {
  return measure(label, engines, (e) => timedCli(e, cmd), iterations, warmup);
}

/** measureCli for any timed operation (milliseconds). */
async function measure(label: string, engines: Array<{ name: PeerName; engine: Engine }>, op: (e: Engine) => Promise<number>, iterations: number, warmup: number): Promise<Partial<Record<PeerName, CliEntry>>> {
  const samples = new Map<PeerName, number[]>();
  const failed = new Map<PeerName, string>();
  for (const e of engines) {
    try {
      for (let i = 0; i < warmup; i++) await op(e.engine);
      samples.set(e.name, []);
    } catch (err) {
      failed.set(e.name, firstLine(err));
      log(`${label} ${e.name}: warm-up FAILED (${firstLine(err)})`);
    }
  }
  const live = engines.filter((e) => samples.has(e.name));
  for (let i = 0; i < iterations; i++) {
    for (let k = 0; k < live.length; k++) {
      const e = live[(k + i) % live.length] as (typeof live)[number];
      if (failed.has(e.name)) continue;
      try {
        samples.get(e.name)?.push(await op(e.engine));
      } catch (err) {
        failed.set(e.name, firstLine(err));
        log(`${label} ${i + 1}/${iterations} ${e.name}: FAILED (${firstLine(err)})`);
      }
    }
  }
  const out: Partial<Record<PeerName, CliEntry>> = {};
  for (const e of engines) {
    out[e.name] = cliEntry(samples.get(e.name) ?? [], failed.get(e.name));
    const m = out[e.name]?.summary?.median;
    if (m !== undefined) log(`${label} ${e.name}: median ${m.toFixed(0)} ms`);
  }
  return out;
}

async function containerPhase(starters: Array<[PeerName, () => Promise<Engine>]>, want: (s: Section) => boolean, results: Results): Promise<void> {
  log('pushing a busybox image to a loopback registry...');
  const ref = await pushBusybox();
  const engines: Array<{ name: PeerName; engine: Engine }> = [];
  const failStart = (name: PeerName, why: string): void => {
    if (want('run')) for (const net of ['none', 'default'] as const) results.run[net][name] = { error: why };
    if (want('ps') && name !== 'podman') results.ps[name] = { error: why };
    if (want('monitor')) results.monitor[name] = { error: why };
  };
  try {
    for (const [name, start] of starters) {
      let engine: Engine | undefined;
      try {
        engine = await start();
        await pullInto(engine, { ref });
        engines.push({ name, engine });
        log(`${name}: started, pulled ${ref}`);
      } catch (e) {
        failStart(name, `start/pull failed: ${firstLine(e)}`);
        log(`${name}: start/pull failed: ${firstLine(e)}`);
        await engine?.stop().catch(() => undefined);
      }
    }
    if (want('run')) {
      results.run.none = await measureCli('run --network none', engines, runArgs(ref, true), config.runIterations, config.runWarmup);
      results.run.default = await measureCli('run (default network)', engines, runArgs(ref, false), config.runIterations, config.runWarmup);
      results.runDetached = await measure('run -d + rm -f', engines, (e) => timedRunDetachedRemove(e, ref), config.runIterations, config.runWarmup);
      for (const e of engines) {
        const left = (await dockerCli(e.engine, ['ps', '-aq'])).stdout.toString().split(/\s+/).filter(Boolean).length;
        if (left > 0) {
          results.notes.push(`${e.name}: ${left} container(s) left after the \`docker run --rm\` runs (--rm did not remove them)`);
          await removeAll(e.engine);
        }
      }
    }
    if (want('ps')) {
      for (const e of engines.filter((x) => x.name !== 'podman')) {
        try {
          log(`${e.name}: creating ${config.psContainers} exited containers...`);
          await makeExited(e.engine, ref, config.psContainers);
          const r = await measureCli('ps -a', [e], ['ps', '-a'], config.psIterations, 2);
          results.ps[e.name] = r[e.name] ?? { error: 'not measured' };
        } catch (err) {
          results.ps[e.name] = { error: firstLine(err) };
          log(`ps -a ${e.name}: FAILED (${firstLine(err)})`);
        } finally {
          await removeAll(e.engine).catch((err: unknown) => results.notes.push(`${e.name}: removing the ps containers failed: ${firstLine(err)}`));
        }
      }
      for (const e of engines.filter((x) => x.name !== 'podman')) {
        try {
          log(`${e.name}: creating ${config.listContainers} containers for the list row...`);
          await createMany(e.engine, ref, config.listContainers);
          // Over one keep-alive connection, so the figure is the daemon's time plus a loopback round trip.
          const p = await pingLatency(e.engine.socket, config.listIterations, 3, '/v1.41/containers/json?all=1');
          results.list[e.name] = { summary: roundSummary({ ...p.micros, median: p.micros.median / 1000, min: p.micros.min / 1000, max: p.micros.max / 1000, mean: p.micros.mean / 1000, p99: p.micros.p99 / 1000 }, 2) };
          log(`${e.name}: GET /containers/json?all=1 with ${config.listContainers}: median ${(p.micros.median / 1000).toFixed(1)} ms`);
        } catch (err) {
          results.list[e.name] = { error: firstLine(err) };
          log(`list ${e.name}: FAILED (${firstLine(err)})`);
        } finally {
          await removeAll(e.engine).catch((err: unknown) => results.notes.push(`${e.name}: removing the list containers failed: ${firstLine(err)}`));
        }
      }
    }
    if (want('monitor')) {
      for (const e of engines) {
        try {
          const m = await monitorRss(e.engine, ref);
          results.monitor[e.name] = m;
          log(`${e.name}: monitor ${m.process} (pid ${m.pid}) RSS ${(m.rss / 1e6).toFixed(1)} MB, PSS ${(m.pss / 1e6).toFixed(1)} MB`);
        } catch (err) {
          results.monitor[e.name] = { error: firstLine(err) };
          log(`monitor ${e.name}: FAILED (${firstLine(err)})`);
        }
      }
    }
  } finally {
    for (const e of engines) {
      await removeAll(e.engine).catch(() => undefined);
      await e.engine.stop().catch((err: unknown) => log(`${e.name}: stop failed: ${firstLine(err)}`));
    }
  }
}

/** bench/build.ts in a child process, shortened (one cold build, one edit): its fully cached row. */
async function buildPhase(): Promise<Results['build']> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-build-results-'));
  const file = join(dir, 'build.json');
  try {
    log(`running bench/build.ts (1 cold build, 1 rebuild, ${config.buildCached} cached builds per engine)...`);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [join(repoRoot(), 'dist', 'bench', 'build.js')], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, BENCH_BUILD_COLD: '1', BENCH_BUILD_ITERATIONS: '1', BENCH_BUILD_CACHED: String(config.buildCached), BENCH_BUILD_RESULTS: file },
      });
      child.once('exit', (c) => resolve(c));
    });
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { results: Record<string, { cachedMs?: number; error?: string }> };
    const out: Results['build'] = {};
    for (const p of ['berthd', 'dockerd', 'podman'] as const) {
      const r = parsed.results[p];
      if (r) out[p] = r.cachedMs !== undefined ? { cachedMs: round(r.cachedMs, 1) ?? r.cachedMs } : { error: r.error ?? `bench/build.ts exited ${code}` };
    }
    return out;
  } catch (e) {
    return { berthd: { error: `bench/build.ts: ${firstLine(e)}` } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function roundSummary(s: Summary, digits: number): Summary {
  const r = (x: number): number => round(x, digits) ?? Number.NaN;
  return { n: s.n, median: r(s.median), min: r(s.min), max: r(s.max), mean: r(s.mean), p99: r(s.p99) };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  installSignalHandlers();
  const results: Results = {
    startedAt: new Date(t0).toISOString(),
    durationSeconds: 0,
    host: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      loadAvgAtStart: loadavg()[0]?.toFixed(2) ?? '?',
    },
    versions: {},
    config: {
      pullIterations: config.pullIterations,
      pingRequests: config.pingRequests,
      pingWarmup: config.pingWarmup,
      idleSeconds: config.idleSeconds,
      sections: config.sections.join(','),
      runIterations: config.runIterations,
      runWarmup: config.runWarmup,
      psContainers: config.psContainers,
      psIterations: config.psIterations,
      listContainers: config.listContainers,
      startIterations: config.startIterations,
      buildCached: config.buildCached,
    },
    image: {},
    pull: {},
    rss: {},
    ping: {},
    listKeepAlive: {},
    run: { none: {}, default: {} },
    runDetached: {},
    list: {},
    build: {},
    ps: {},
    monitor: {},
    targets: [],
    notes: [],
  };

  try {
    const setup = config.install
      ? await ensurePeers(log)
      : {
          registry: { ok: !!which('docker-registry') },
          skopeo: { ok: !!which('skopeo') },
          dockerd: { ok: !!(which('dockerd') && which('containerd')) },
          podman: { ok: !!which('podman') },
        };
    for (const [k, v] of Object.entries(setup)) {
      if (v.note) results.notes.push(`${k}: ${v.note}`);
      else if (!v.ok) results.notes.push(`${k}: not installed${config.install ? '' : ' (BENCH_NO_INSTALL=1)'}; left out`);
    }
    if (!setup.registry.ok || !setup.skopeo.ok) throw new Error('docker-registry and skopeo are needed to serve the bench image');
    const want = (p: 'skopeo' | 'dockerd' | 'podman'): boolean => config.peers.includes(p) && setup[p].ok;
    results.versions = await versions(berthdPath());

    const section = (x: Section): boolean => config.sections.includes(x);
    const unknown = config.sections.filter((x) => !ALL_SECTIONS.includes(x));
    if (unknown.length > 0) throw new Error(`BENCH_SECTIONS: unknown section(s) ${unknown.join(', ')} (known: ${ALL_SECTIONS.join(', ')})`);
    const podman = podmanRunner();
    const starters = (): Array<[PeerName, () => Promise<Engine>]> => {
      const list: Array<[PeerName, () => Promise<Engine>]> = [['berthd', startBerthd]];
      if (want('dockerd')) list.push(['dockerd', startDockerd]);
      if (want('podman')) list.push(['podman', async () => startPodmanService(await podman.ensureDriver())]);
      return list;
    };

    if (section('start')) {
      log(`berthd start: ${config.startIterations} starts...`);
      results.start = await measureBerthdStart(config.startIterations);
    }
    if (section('pull') || section('rss') || section('ping')) {
      log('starting the loopback registry and pushing the bench image...');
      const source = new BenchSource({ repoTag: 'bench/big:1', layers: config.layers, bytesPerLayer: config.layerMiB * MiB, format: config.format });
      const img = await source.start();
      results.image = {
        ref: img.ref,
        manifestDigest: img.manifestDigest,
        layers: img.layers,
        payloadMiB: round(img.payloadBytes / MiB, 1) ?? 0,
        compressedMiB: round(img.compressedBytes / MiB, 1) ?? 0,
        compression: 'gzip',
        format: img.format,
      };
      log(`pushed ${img.ref}: ${img.layers} layers, ${(img.compressedBytes / MiB).toFixed(1)} MiB compressed`);

      if (section('pull')) {
        const runners: PullRunner[] = [berthdRunner()];
        if (want('skopeo')) runners.push(skopeoRunner());
        if (want('dockerd')) runners.push(dockerdRunner());
        if (want('podman')) runners.push(podman);
        await pullPhase(runners, source, results);
        if (await source.ensureServing()) log('the registry had died; restarted it and pushed the image again');
      }
      if (section('rss') || section('ping')) {
        await daemonPhase(starters(), source.image, results, section('rss'), section('ping'));
        if (!section('rss')) results.rss = {};
      }
      if (source.restarts > 0) results.notes.push(`the loopback registry died and was restarted ${source.restarts} time(s) during the run (shared machine?)`);
    }
    if (section('run') || section('ps') || section('monitor')) {
      await containerPhase(starters(), section, results);
      if (section('run')) {
        if (results.run.default.dockerd?.summary) {
          results.notes.push(
            "Here dockerd runs with --bridge=none --iptables=false --ip-masq=false, so its default-network run does NOT set up bridge networking (a private netns with only lo), while berthd's does (netns, veth, address, route). `node dist/bench/network.js` compares the default bridge with dockerd on its own bridge (docker0, iptables, userland proxy). podman's default uses its netavark bridge.",
          );
        }
      }
    }
    if (config.sections.includes('build')) results.build = await buildPhase();
    results.notes.push(...podman.notes);
    if (want('podman') && which('jq') && [...config.sections].some((x) => x === 'run' || x === 'monitor')) results.notes.push(PODMAN_RUNTIME_NOTE);
  } catch (e) {
    results.notes.push(`bench aborted: ${firstLine(e)}`);
    log(`aborted: ${e instanceof Error ? e.stack : String(e)}`);
  } finally {
    const errors = await runCleanups();
    for (const err of errors) results.notes.push(`cleanup: ${err}`);
  }

  results.durationSeconds = Math.round((Date.now() - t0) / 1000);
  results.host['loadAvgAtEnd'] = loadavg()[0]?.toFixed(2) ?? '?';
  const before = Number(results.host['loadAvgAtStart']);
  if (before > cpus().length / 2) {
    results.notes.push(`the machine was busy before the bench started (1-min load average ${before.toFixed(2)} on ${cpus().length} CPUs): expect noisy numbers`);
  }
  results.targets = evaluateTargets(results);
  if (Object.keys(results.pull).length > 0) results.notes.unshift(
    'skopeo only downloads the gzip blobs into an OCI layout (no decompression, no unpacking); berthd, dockerd and podman also unpack every layer.',
    'Every engine pulls from the same loopback registry, whose blobs are in the page cache; `sync` runs (untimed) before each timed pull.',
  );
  await mkdir(dirname(config.resultsFile), { recursive: true });
  await writeFile(config.resultsFile, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\n${renderTables(results)}\n${renderStart(results.start).join('\n')}\n\nwrote ${config.resultsFile} (${results.durationSeconds} s)\n`);
  return results.notes.some((n) => n.startsWith('bench aborted')) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
