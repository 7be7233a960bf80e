// docker build side by side, through the same docker CLI (DOCKER_BUILDKIT=0, the classic builder
// protocol): berthd, dockerd 20.10's classic builder, and podman's compat API (buildah).
//
// The Dockerfile is a realistic multi-stage build of a Node-like app: a build stage copies the
// sources and runs the dependency install plus the build in one RUN with a cache mount for the
// package cache (the common `COPY . . / RUN npm ci && npm run build` shape), and a slim final
// stage copies node_modules and dist. There is no internet here, so the install is a shell script
// that is slow when the package cache is cold: each missing package costs the registry's latency
// (a sleep) and a download (random bytes), and is then unpacked from the cache.
// dockerd cannot run `RUN --mount`, so it builds the same file with the --mount flags removed
// (its install is cold every time); podman gets them as written (buildah supports cache mounts).
//
// The engines run side by side and take turns build by build (a shared machine's load then
// weighs on all alike). Three figures per engine, medians:
// - cold: a fresh engine (its base image pulled), nothing cached;
// - rebuild after a one-line source change: every step from the COPY of the sources runs again,
//   and the cache mount makes the install fast;
// - fully cached: nothing changed. Target (issue 17): berthd ≤ 0.5× dockerd.
// Usage: npm run bench:build   (BENCH_BUILD_ITERATIONS, default 5; BENCH_BUILD_COLD, default 3; BENCH_BUILD_CACHED, default 15;
// BENCH_BUILD_RESULTS, default bench/results/build.json). `npm run bench` runs it too, shorter, for its cached-rebuild row.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pushBusybox } from './containers.js';
import { dockerCli, ensurePeers, mustSucceed, pullInto, startBerthd, startDockerd, startPodmanService, type Engine } from './peers.js';
import { installSignalHandlers, runCleanups, tempDir } from './proc.js';
import { repoRoot } from '../test/harness/util.js';

const ITER = Number(process.env.BENCH_BUILD_ITERATIONS ?? 5);
const COLD = Number(process.env.BENCH_BUILD_COLD ?? 3);
/** Cached builds are short and the machine is shared: more of them steady the median. */
const CACHED = Number(process.env.BENCH_BUILD_CACHED ?? 15);
const PACKAGES = 24;
const log = (s: string): void => void process.stderr.write(`bench-build: ${s}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function dockerfile(base: string, withMounts: boolean): string {
  const mount = withMounts ? '--mount=type=cache,target=/var/cache/pkg ' : '';
  return [
    `FROM ${base} AS build`,
    'WORKDIR /app',
    'COPY tools/ ./tools/',
    'COPY package.json package-lock.txt ./',
    'COPY src/ ./src/',
    `RUN ${mount}sh tools/install.sh && sh tools/build.sh`,
    '',
    `FROM ${base}`,
    'WORKDIR /app',
    'COPY --from=build /app/node_modules ./node_modules',
    'COPY --from=build /app/dist ./dist',
    'ENV NODE_ENV=production PORT=3000',
    'EXPOSE 3000',
    'USER nobody',
    'CMD ["sh", "/app/dist/start.sh"]',
    '',
  ].join('\n');
}

/** The package manager: a missing package costs 150 ms of latency and a 256 KiB download, then everything is unpacked from the cache. */
const INSTALL = `#!/bin/sh
set -e
cache=/var/cache/pkg
mkdir -p "$cache" node_modules
while read -r spec; do
  [ -n "$spec" ] || continue
  name=\${spec%@*}
  if [ ! -f "$cache/$spec.tgz" ]; then
    sleep 0.15
    head -c 262144 /dev/urandom > "$cache/$spec.tgz.part"
    mv "$cache/$spec.tgz.part" "$cache/$spec.tgz"
  fi
  mkdir -p "node_modules/$name"
  cp "$cache/$spec.tgz" "node_modules/$name/package.tgz"
done < package-lock.txt
`;

const BUILD = `#!/bin/sh
set -e
mkdir -p dist
cat src/*.js > dist/app.js
printf '#!/bin/sh\\necho "serving on $PORT"\\n' > dist/start.sh
`;

async function writeContext(dir: string): Promise<void> {
  await mkdir(join(dir, 'src'), { recursive: true });
  await mkdir(join(dir, 'tools'), { recursive: true });
  const deps = Array.from({ length: PACKAGES }, (_, i) => `pkg-${String(i).padStart(2, '0')}@1.${i}.0`);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', dependencies: Object.fromEntries(deps.map((d) => d.split('@'))) }, null, 2));
  await writeFile(join(dir, 'package-lock.txt'), deps.join('\n') + '\n');
  await writeFile(join(dir, 'tools', 'install.sh'), INSTALL);
  await writeFile(join(dir, 'tools', 'build.sh'), BUILD);
  for (let i = 0; i < 12; i++) {
    await writeFile(join(dir, 'src', `module-${i}.js`), Array.from({ length: 200 }, (_, l) => `export const v${i}_${l} = ${l};`).join('\n') + '\n');
  }
  await editSource(dir, 0);
}

/** The one-line change of a rebuild. */
async function editSource(dir: string, n: number): Promise<void> {
  await writeFile(join(dir, 'src', 'index.js'), `import './module-0.js';\nexport const revision = ${n};\n`);
}

async function timedBuild(engine: Engine, dir: string, file: string): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await dockerCli(engine, ['build', '-f', join(dir, file), '-t', 'bench/app:1', dir], 600_000);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  mustSucceed(`${engine.name}: docker build`, r);
  return ms;
}

interface Result {
  coldMs?: number;
  rebuildMs?: number;
  cachedMs?: number;
  dockerfile?: string;
  error?: string;
}

interface Contender {
  name: string;
  start: () => Promise<Engine>;
  /** Dockerfiles to try, in order: the first that builds on a fresh engine is the one measured. */
  files: string[];
  file?: string;
  engine?: Engine;
  cold: number[];
  rebuild: number[];
  cached: number[];
  error?: string;
}

/**
 * The engines run side by side and take turns, build by build, so that a shared machine's load
 * weighs on all of them alike. Cold builds each get a fresh engine.
 */
async function benchAll(contenders: Contender[], ref: string, dir: string): Promise<void> {
  const attempt = async (c: Contender, fn: () => Promise<void>): Promise<void> => {
    if (c.error) return;
    try {
      await fn();
    } catch (e) {
      c.error = e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
      log(`${c.name}: FAILED ${c.error}`);
      await c.engine?.stop().catch(() => undefined);
      c.engine = undefined;
    }
  };
  for (let i = 0; i < COLD; i++) {
    await editSource(dir, 0);
    for (const c of contenders) {
      await attempt(c, async () => {
        await c.engine?.stop();
        c.engine = await c.start();
        await pullInto(c.engine, { ref });
        if (c.file) {
          c.cold.push(await timedBuild(c.engine, dir, c.file));
          return;
        }
        for (const f of c.files) {
          try {
            c.cold.push(await timedBuild(c.engine, dir, f));
            c.file = f;
            return;
          } catch (e) {
            log(`${c.name}: ${f} does not build: ${(e as Error).message.split('\n').slice(0, 2).join(' ')}`);
          }
        }
        throw new Error(`no Dockerfile builds on ${c.name}`);
      });
    }
  }
  for (let i = 1; i <= ITER; i++) {
    await editSource(dir, i);
    for (const c of contenders) await attempt(c, async () => void c.rebuild.push(await timedBuild(c.engine as Engine, dir, c.file as string)));
  }
  for (let i = 0; i < CACHED; i++) {
    for (const c of contenders) await attempt(c, async () => void c.cached.push(await timedBuild(c.engine as Engine, dir, c.file as string)));
  }
  for (const c of contenders) await c.engine?.stop().catch(() => undefined);
}

async function main(): Promise<number> {
  installSignalHandlers();
  const peers = await ensurePeers(log);
  const ref = await pushBusybox();
  const ctx = await tempDir('berth-bench-build-');
  await writeContext(ctx.path);
  await writeFile(join(ctx.path, 'Dockerfile'), dockerfile(ref, true));
  await writeFile(join(ctx.path, 'Dockerfile.nomount'), dockerfile(ref, false));
  const contender = (name: string, start: () => Promise<Engine>, files: string[], unavailable?: string): Contender => ({
    name,
    start,
    files,
    cold: [],
    rebuild: [],
    cached: [],
    ...(unavailable ? { error: unavailable } : {}),
  });
  const contenders = [
    contender('berthd', startBerthd, ['Dockerfile']),
    contender('dockerd', () => startDockerd(), ['Dockerfile.nomount'], peers.dockerd.ok ? undefined : peers.dockerd.note),
    contender('podman', () => startPodmanService('overlay'), ['Dockerfile', 'Dockerfile.nomount'], peers.podman.ok ? undefined : peers.podman.note),
  ];
  try {
    await benchAll(contenders, ref, ctx.path);
  } finally {
    await ctx.remove();
    await runCleanups();
  }
  const results: Record<string, Result> = {};
  for (const c of contenders) {
    results[c.name] = c.error
      ? { error: c.error }
      : { coldMs: median(c.cold), rebuildMs: median(c.rebuild), cachedMs: median(c.cached), ...(c.file ? { dockerfile: c.file } : {}) };
    log(`${c.name}: ${JSON.stringify(results[c.name])}`);
  }
  const b = results['berthd'] ?? {};
  const d = results['dockerd'] ?? {};
  const p = results['podman'] ?? {};
  const ratio = (x?: number, y?: number): string => (x && y ? `${(x / y).toFixed(2)}×` : '-');
  const ms = (r: Result, k: 'coldMs' | 'rebuildMs' | 'cachedMs'): string => (r[k] !== undefined ? `${(r[k] as number).toFixed(0)} ms` : (r.error ?? '-'));
  const podmanFile = p.dockerfile === 'Dockerfile.nomount' ? ' (--mount removed)' : '';
  const lines = [
    `| multi-stage app, ${PACKAGES} packages, cache mount | berthd | dockerd 20.10 (classic, --mount removed) | podman 4.3 (buildah)${podmanFile} | berthd / dockerd | target |`,
    '|---|---|---|---|---|---|',
    `| cold (fresh engine, empty caches), median of ${COLD} | ${ms(b, 'coldMs')} | ${ms(d, 'coldMs')} | ${ms(p, 'coldMs')} | ${ratio(b.coldMs, d.coldMs)} | |`,
    `| rebuild after a one-line source change, median of ${ITER} | ${ms(b, 'rebuildMs')} | ${ms(d, 'rebuildMs')} | ${ms(p, 'rebuildMs')} | ${ratio(b.rebuildMs, d.rebuildMs)} | |`,
    `| fully cached rebuild, median of ${CACHED} | ${ms(b, 'cachedMs')} | ${ms(d, 'cachedMs')} | ${ms(p, 'cachedMs')} | ${ratio(b.cachedMs, d.cachedMs)} | ≤ 0.5× ${b.cachedMs && d.cachedMs ? (b.cachedMs <= 0.5 * d.cachedMs ? 'PASS' : 'MISS') : ''} |`,
  ];
  const file = process.env.BENCH_BUILD_RESULTS ?? join(repoRoot(), 'bench', 'results', 'build.json');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ date: new Date().toISOString(), iterations: ITER, coldIterations: COLD, cachedIterations: CACHED, packages: PACKAGES, results }, null, 2) + '\n');
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
