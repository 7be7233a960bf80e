// Berth Desktop renderer benchmarks in headless Chromium (the built renderer, a fake bridge):
//   - the renderer bundle's size (raw and gzip);
//   - 500 containers: time from a keystroke in the search box to the filtered list painted;
//   - logs at 10,000 lines/s for 5 s: lines shown, the longest main-thread task, and how long a
//     keystroke in the log search takes to show while the flood runs.
//   - the terminal's keypress-to-echo time through web mode (WebSocket, bridge host, exec on a
//     real berthd, the container's tty echo, back, and the next frame painted).
// Usage: npm run build && node dist/bench/desktop.js
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ContainerSummary } from '../types/engine-api.js';
import { createBridgeHost } from '../desktop/bridge/index.js';
import { startWebServer } from '../desktop/web/index.js';
import { startContainerEnv, stopContainerEnv } from '../test/harness/containers.js';
import { ensureRendererBuilt, launchChromium, rendererSkipReason, startRendererPage } from '../test/harness/renderer.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { repoRoot } from '../test/harness/util.js';

// Browser globals used inside page.evaluate callbacks (this file compiles against Node's types).
interface BrowserInput {
  value: string;
  dispatchEvent(e: unknown): boolean;
}
declare const document: { querySelector(sel: string): BrowserInput | null };
declare const HTMLInputElement: { prototype: object };
declare function requestAnimationFrame(cb: () => void): number;
type FakeBridge = { __berthFake: { deliver(id: number, msg: unknown): void } };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function bundleSize(): { files: number; bytes: number; gzipBytes: number } {
  const dir = join(repoRoot(), 'dist', 'renderer', 'assets');
  let bytes = 0;
  let gzipBytes = 0;
  let files = 0;
  for (const f of readdirSync(dir)) {
    if (!/\.(js|css)$/.test(f)) continue;
    const data = readFileSync(join(dir, f));
    files++;
    bytes += statSync(join(dir, f)).size;
    gzipBytes += gzipSync(data).length;
  }
  return { files, bytes, gzipBytes };
}

function containers(n: number): ContainerSummary[] {
  const out: ContainerSummary[] = [];
  for (let i = 0; i < n; i++) {
    const project = i % 5 === 0 ? `stack${i % 7}` : undefined;
    out.push({
      Id: i.toString(16).padStart(64, 'a'),
      Names: [`/web-${i}`],
      Image: `registry.local/app${i % 13}:1.${i % 4}`,
      ImageID: `sha256:${'b'.repeat(64)}`,
      Command: 'sh',
      Created: 1_700_000_000 + i,
      Ports: i % 3 === 0 ? [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 20000 + i, Type: 'tcp' }] : [],
      Labels: project ? { 'com.docker.compose.project': project, 'com.docker.compose.service': `svc${i}` } : {},
      State: i % 4 === 0 ? 'exited' : 'running',
      Status: i % 4 === 0 ? 'Exited (0) 1 hour ago' : 'Up 2 hours',
      HostConfig: { NetworkMode: 'bridge' },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    } as unknown as ContainerSummary);
  }
  return out;
}

async function listFilter(): Promise<{ medianMs: number; maxMs: number }> {
  const r = await startRendererPage({ methods: { 'containers.list': containers(500) }, route: '/containers', viewport: { width: 1400, height: 900 } });
  try {
    await r.page.getByRole('searchbox', { name: 'Search containers' }).waitFor();
    const times: number[] = [];
    for (const q of ['web-4', 'web-42', 'app3', 'stack2', 'web-49', '', 'web-1', 'app12', 'web-', 'nothing-matches', '']) {
      times.push(
        await r.page.evaluate(async (text) => {
          const input = document.querySelector('input[aria-label="Search containers"]')!;
          const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
          const t = performance.now();
          setter.call(input, text);
          input.dispatchEvent(new Event('input', { bubbles: true }));
          // Until the next frame is painted after React's update.
          await new Promise<void>((res) => requestAnimationFrame(() => setTimeout(res, 0)));
          return performance.now() - t;
        }, q),
      );
    }
    return { medianMs: median(times), maxMs: Math.max(...times) };
  } finally {
    await r.close();
  }
}

async function logFlood(): Promise<{ linesShown: number; seconds: number; longestTaskMs: number; keystrokeMs: number[] }> {
  const id = 'f'.repeat(64);
  const r = await startRendererPage({
    methods: {
      'containers.list': containers(1).map((c) => ({ ...c, Id: id })),
      'containers.inspect': { Id: id, Name: '/flood', State: { Status: 'running', Running: true }, Config: { Image: 'flood' }, NetworkSettings: { Ports: {} } } as never,
    },
    route: `/containers/${id}/logs`,
    viewport: { width: 1400, height: 900 },
  });
  try {
    const stream = await r.waitForStream('logs');
    await r.page.getByRole('searchbox', { name: 'Search logs' }).or(r.page.getByLabel('Search logs')).first().waitFor();
    const result = await r.page.evaluate(async (streamId) => {
      let longest = 0;
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) longest = Math.max(longest, e.duration);
      }).observe({ type: 'longtask' as never, buffered: false });
      const fake = (globalThis as unknown as FakeBridge).__berthFake;
      let sent = 0;
      const start = performance.now();
      const timer = setInterval(() => {
        const lines = [];
        for (let i = 0; i < 500; i++) lines.push({ stream: 'stdout', time: new Date().toISOString(), text: `line ${sent + i} of the flood: GET /api/items?page=${(sent + i) % 97} 200 12ms` });
        sent += 500;
        fake.deliver(streamId, { lines });
      }, 50);
      // A keystroke into the log search every 500 ms: how long until it shows.
      const input = document.querySelector('input[aria-label="Search logs"]')!;
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
      const keystrokes: number[] = [];
      for (let k = 0; k < 10; k++) {
        await new Promise((res) => setTimeout(res, 500));
        const t = performance.now();
        setter.call(input, `flood ${k}`.slice(0, 5 + (k % 3)));
        input.dispatchEvent(new Event('input', { bubbles: true }));
        await new Promise<void>((res) => requestAnimationFrame(() => setTimeout(res, 0)));
        keystrokes.push(performance.now() - t);
      }
      clearInterval(timer);
      return { sent, seconds: (performance.now() - start) / 1000, longest, keystrokes };
    }, stream.id);
    return { linesShown: result.sent, seconds: result.seconds, longestTaskMs: result.longest, keystrokeMs: result.keystrokes };
  } finally {
    await r.close();
  }
}

/** Keydown in the terminal → the echoed character arriving over the WebSocket → next frame. */
async function terminalRoundTrip(): Promise<{ medianMs: number; p90Ms: number; samples: number }> {
  const env = await startContainerEnv({ pull: true });
  const config = mkdtempSync(join(tmpdir(), 'berth-bench-desktop-'));
  const bridge = await createBridgeHost({ kind: 'web', localHost: env.daemon.dockerHost, configPath: join(config, 'desktop.json'), env: {} });
  await bridge.call('settings.set', { onboardingDone: true });
  const web = await startWebServer({ host: '127.0.0.1', port: 0, rendererDir: join(repoRoot(), 'dist', 'renderer'), bridge });
  const browser = await launchChromium(web.origin);
  const { id } = await bridge.call('containers.run', { image: env.ref, name: 'echo-bench', interactive: true, command: ['sh'] });
  try {
    const page = await browser.context.newPage();
    // Timestamps: keydowns, and WebSocket frames carrying terminal output.
    await page.addInitScript(() => {
      const g = globalThis as unknown as { __rt: { down: number[]; echo: number[] }; WebSocket: typeof WebSocket; addEventListener: (t: string, f: () => void, c: boolean) => void };
      g.__rt = { down: [], echo: [] };
      g.addEventListener('keydown', () => g.__rt.down.push(performance.now()), true);
      const Orig = g.WebSocket;
      g.WebSocket = class extends Orig {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          this.addEventListener('message', (ev: MessageEvent) => {
            if (typeof ev.data === 'string' && ev.data.includes('"data":"x"')) {
              const t = performance.now();
              requestAnimationFrame(() => g.__rt.echo.push(t + (performance.now() - t)));
            }
          });
        }
      } as typeof WebSocket;
    });
    await page.goto(`${web.url}#/containers/${id}/terminal`);
    await page.getByText(/Shell in /).waitFor({ timeout: 30_000 });
    await page.getByRole('region', { name: /^Terminal of / }).click();
    const rtts: number[] = [];
    for (let i = 0; i < 30; i++) {
      await page.evaluate(() => {
        const g = globalThis as unknown as { __rt: { down: number[]; echo: number[] } };
        g.__rt.down = [];
        g.__rt.echo = [];
      });
      await page.keyboard.press('x');
      const rt = await page.waitForFunction(
        () => {
          const g = globalThis as unknown as { __rt: { down: number[]; echo: number[] } };
          return g.__rt.echo.length > 0 && g.__rt.down.length > 0 ? g.__rt.echo[0]! - g.__rt.down[0]! : undefined;
        },
        undefined,
        { polling: 'raf' },
      );
      rtts.push((await rt.jsonValue()) as number);
    }
    const sorted = [...rtts].sort((a, b) => a - b);
    return { medianMs: median(rtts), p90Ms: sorted[Math.floor(sorted.length * 0.9)] ?? NaN, samples: rtts.length };
  } finally {
    await bridge.call('containers.remove', { id, force: true }).catch(() => undefined);
    await browser.close();
    await web.close();
    await bridge.close();
    rmSync(config, { recursive: true, force: true });
    await stopContainerEnv(env);
  }
}

async function main(): Promise<number> {
  const skip = rendererSkipReason();
  if (skip) {
    process.stderr.write(`bench-desktop: ${skip}\n`);
    return 1;
  }
  ensureRendererBuilt();
  const bundle = bundleSize();
  const list = await listFilter();
  const logs = await logFlood();
  const terminal = await terminalRoundTrip();
  const results = { date: new Date().toISOString(), bundle, list500: list, logFlood: logs, terminal };
  const file = join(repoRoot(), 'bench', 'results', 'desktop.json');
  await mkdir(join(repoRoot(), 'bench', 'results'), { recursive: true });
  await writeFile(file, JSON.stringify(results, null, 2) + '\n');
  const kb = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  const lines = [
    '| measure | value | target |',
    '|---|---|---|',
    `| renderer bundle (js+css) | ${kb(bundle.bytes)} (${kb(bundle.gzipBytes)} gzip, ${bundle.files} files) | reported |`,
    `| 500 containers: keystroke to filtered list painted | median ${list.medianMs.toFixed(1)} ms, max ${list.maxMs.toFixed(1)} ms | ≤ 100 ms ${list.maxMs <= 100 ? 'PASS' : 'MISS'} |`,
    `| logs at ${Math.round(logs.linesShown / logs.seconds)} lines/s: longest main-thread task | ${logs.longestTaskMs === 0 ? 'none over 50 ms' : `${logs.longestTaskMs.toFixed(0)} ms`} | no freeze |`,
    `| logs flood: keystroke in log search to painted | median ${median(logs.keystrokeMs).toFixed(1)} ms, max ${Math.max(...logs.keystrokeMs).toFixed(1)} ms | input keeps up |`,
    `| terminal keypress to echo painted (web mode, real engine) | median ${terminal.medianMs.toFixed(1)} ms, p90 ${terminal.p90Ms.toFixed(1)} ms (${terminal.samples} keys) | < 30 ms ${terminal.medianMs < 30 ? 'PASS' : 'MISS'} |`,
  ];
  process.stdout.write(`${lines.join('\n')}\n\nwrote ${file}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench-desktop: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
