// docker build side by side, through the same docker CLI (DOCKER_BUILDKIT=0, the classic builder
// protocol): berthd, dockerd 20.10's classic builder, and podman's compat API (buildah). A 10-step
// Dockerfile on busybox from a loopback registry: cold (--no-cache, after the base was pulled) and
// fully cached (an unchanged rebuild). Targets: cached ≤ 0.5× dockerd, cold ≤ 1× dockerd.
// Usage: npm run build && node dist/bench/build.js   (BENCH_BUILD_ITERATIONS, default 5)
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pushBusybox } from './containers.js';
import { dockerCli, mustSucceed, pullInto, startBerthd, startDockerd, startPodmanService, type Engine } from './peers.js';
import { runCleanups, tempDir } from './proc.js';
import { repoRoot } from '../test/harness/util.js';

const ITER = Number(process.env.BENCH_BUILD_ITERATIONS ?? 5);
const log = (s: string): void => void process.stderr.write(`bench-build: ${s}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function dockerfile(base: string): string {
  return [
    `FROM ${base}`,
    'ENV APP_HOME=/app GREETING=hello',
    'WORKDIR /app',
    'COPY config.txt /app/config.txt',
    'RUN echo "$GREETING" > /app/greeting && mkdir -p /app/data',
    'COPY data/ /app/data/',
    'RUN ls -l /app/data > /app/manifest && wc -c /app/data/* > /app/sizes',
    'LABEL org.example.bench=build',
    'EXPOSE 8080',
    'USER nobody',
    'CMD ["cat", "/app/greeting"]',
    '',
  ].join('\n');
}

async function timed(engine: Engine, args: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await dockerCli(engine, args, 300_000);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  mustSucceed(`${engine.name}: docker ${args.slice(0, 3).join(' ')}`, r);
  return ms;
}

interface Result {
  coldMs?: number;
  cachedMs?: number;
  error?: string;
}

async function main(): Promise<number> {
  const ref = await pushBusybox();
  const ctx = await tempDir('berth-bench-build-');
  await mkdir(join(ctx.path, 'data'), { recursive: true });
  await writeFile(join(ctx.path, 'Dockerfile'), dockerfile(ref));
  await writeFile(join(ctx.path, 'config.txt'), 'key=value\n');
  for (let i = 0; i < 20; i++) await writeFile(join(ctx.path, 'data', `file-${i}.bin`), Buffer.alloc(64 * 1024, i));
  const results: Record<string, Result> = {};
  const engines: [string, () => Promise<Engine>][] = [
    ['berthd', startBerthd],
    ['dockerd', () => startDockerd()],
    ['podman', () => startPodmanService('overlay')],
  ];
  try {
    for (const [name, start] of engines) {
      let engine: Engine | undefined;
      try {
        engine = await start();
        await pullInto(engine, { ref });
        const build = (extra: string[]): Promise<number> => timed(engine as Engine, ['build', ...extra, '-t', 'bench/build:1', ctx.path]);
        await build(['--no-cache']); // warm-up: page cache, the engine's first-build paths
        const cold: number[] = [];
        for (let i = 0; i < ITER; i++) cold.push(await build(['--no-cache']));
        const cached: number[] = [];
        for (let i = 0; i < ITER; i++) cached.push(await build([]));
        results[name] = { coldMs: median(cold), cachedMs: median(cached) };
        log(`${name}: ${JSON.stringify(results[name])}`);
      } catch (e) {
        results[name] = { error: e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e) };
        log(`${name}: FAILED ${results[name]?.error}`);
      } finally {
        await engine?.stop().catch(() => undefined);
      }
    }
  } finally {
    await ctx.remove();
    await runCleanups();
  }
  const b = results['berthd'] ?? {};
  const d = results['dockerd'] ?? {};
  const p = results['podman'] ?? {};
  const ratio = (x?: number, y?: number): string => (x && y ? `${(x / y).toFixed(2)}×` : '-');
  const ms = (r: Result, k: 'coldMs' | 'cachedMs'): string => (r[k] !== undefined ? `${(r[k] as number).toFixed(0)} ms` : (r.error ?? '-'));
  const lines = [
    '| 10-step Dockerfile | berthd | dockerd 20.10 (classic) | podman 4.3 | berthd / dockerd | target |',
    '|---|---|---|---|---|---|',
    `| cold (--no-cache), median | ${ms(b, 'coldMs')} | ${ms(d, 'coldMs')} | ${ms(p, 'coldMs')} | ${ratio(b.coldMs, d.coldMs)} | ≤ 1× ${b.coldMs && d.coldMs ? (b.coldMs <= d.coldMs ? 'PASS' : 'MISS') : ''} |`,
    `| fully cached, median | ${ms(b, 'cachedMs')} | ${ms(d, 'cachedMs')} | ${ms(p, 'cachedMs')} | ${ratio(b.cachedMs, d.cachedMs)} | ≤ 0.5× ${b.cachedMs && d.cachedMs ? (b.cachedMs <= 0.5 * d.cachedMs ? 'PASS' : 'MISS') : ''} |`,
  ];
  const file = join(repoRoot(), 'bench', 'results', 'build.json');
  await mkdir(join(repoRoot(), 'bench', 'results'), { recursive: true });
  await writeFile(file, JSON.stringify({ date: new Date().toISOString(), iterations: ITER, results }, null, 2) + '\n');
  process.stdout.write(`${lines.join('\n')}\n\nwrote ${file}\n`);
  return b.error ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench-build: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
