/**
 * Component tests for the renderer: the built renderer (dist/renderer, rebuilt when its sources
 * are newer) served by a tiny static server, opened in Debian's Chromium through playwright-core,
 * with a fake bridge on `window.berth`. The fake forwards every call and stream to this process,
 * so a test answers calls from canned data or functions, pushes stream messages when it wants,
 * and reads back what the renderer invoked and typed.
 *
 *   const r = await startRendererPage({ methods: { 'containers.list': [...] }, route: '/containers' });
 *   await r.push('logs', { lines: [...] });
 *   r.calls.filter((c) => c.method === 'containers.stop');
 *   await r.close();
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { BridgeError, MethodName, MethodParams, MethodResult, StreamMessage, StreamName, StreamParams } from '../../types/desktop-api.js';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = new URL('../../../', import.meta.url).pathname;
const DIST = join(ROOT, 'dist', 'renderer');

/** Why component tests cannot run here, or undefined when they can. */
export function rendererSkipReason(): string | undefined {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}`;
  return undefined;
}

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let n = st.mtimeMs;
  for (const e of readdirSync(path)) n = Math.max(n, newestMtime(join(path, e)));
  return n;
}

function isStale(): boolean {
  const index = join(DIST, 'index.html');
  const sources = Math.max(newestMtime(join(ROOT, 'renderer')), newestMtime(join(ROOT, 'types')));
  return !existsSync(index) || statSync(index).mtimeMs < sources;
}

/**
 * Builds dist/renderer with Vite when it is missing or older than renderer/ or types/. Test
 * files run in parallel: a lock directory makes one build while the others wait for it.
 */
export function ensureRendererBuilt(): void {
  if (!isStale()) return;
  const lock = `${DIST}.build-lock`;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock, { recursive: false });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      Atomics.wait(pause, 0, 0, 200); // another test process is building
    }
  }
  try {
    if (!isStale()) return;
    const res = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'renderer/vite.config.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (res.status !== 0) throw new Error(`vite build failed:\n${res.stdout}\n${res.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

async function serveRenderer(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(DIST, path === '/' ? 'index.html' : path);
    if (!file.startsWith(DIST) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { server, url: `http://127.0.0.1:${addr.port}/` };
}

/** A canned answer, or a function of the params (may throw a BridgeError-like object or Error). */
export type FakeMethods = { [M in MethodName]?: MethodResult<M> | ((params: MethodParams<M>) => MethodResult<M> | Promise<MethodResult<M>>) };
/** Messages pushed as soon as a stream of that name opens (a list, or a function of its params). */
export type FakeStreams = { [S in StreamName]?: StreamMessage<S>[] | ((params: StreamParams<S>) => StreamMessage<S>[]) };

export interface RecordedCall {
  method: MethodName;
  params: any;
}
export interface RecordedStream {
  id: number;
  stream: StreamName;
  params: any;
  closed: boolean;
  /** What the renderer sent (terminal input). */
  inputs: any[];
}

export interface RendererPage {
  page: Page;
  /** Page URL of the renderer (no hash). */
  url: string;
  calls: RecordedCall[];
  streams: RecordedStream[];
  /** Navigates to a hash route, e.g. "/containers/abc/logs". */
  goto(route: string): Promise<void>;
  /** Sends `msg` to every open stream called `name`, waiting for one to open first. */
  push<S extends StreamName>(name: S, msg: StreamMessage<S>): Promise<void>;
  /** Ends the open streams called `name` (with an error when given). */
  end(name: StreamName, error?: BridgeError): Promise<void>;
  /** Resolves with the first recorded call of `method` matching `pred` (already made or future). */
  waitForCall(method: MethodName, pred?: (params: any) => boolean): Promise<RecordedCall>;
  /** Resolves with the first stream called `name` matching `pred` (open or closed). */
  waitForStream(name: StreamName, pred?: (s: RecordedStream) => boolean): Promise<RecordedStream>;
  /** Resolves when a stream called `name` has received an input matching `pred`. */
  waitForInput(name: StreamName, pred: (input: any) => boolean): Promise<any>;
  /** Errors the page threw (uncaught) so a test can assert there were none. */
  pageErrors: string[];
  close(): Promise<void>;
}

export interface RendererPageOptions {
  methods?: FakeMethods;
  streams?: FakeStreams;
  /** Hash route to open first (default "/"). */
  route?: string;
  viewport?: { width: number; height: number };
}

const DEFAULT_METHODS: FakeMethods = {
  'settings.get': { theme: 'light', onboardingDone: true, sampleRegistry: 'localhost:5000', sampleImage: 'sample', tour: { step: 0 } },
  'settings.set': (p) => ({ theme: 'light', onboardingDone: true, sampleRegistry: 'localhost:5000', sampleImage: 'sample', tour: { step: 0 }, ...p }),
  'engine.status': {
    state: 'running',
    engine: { id: 'local', name: 'Local', kind: 'local', host: 'unix:///run/berth/docker.sock' },
    version: '0.1.0',
    apiVersion: '1.47',
    os: 'linux',
    latencyMs: 1,
  },
};

/** The page side of the fake bridge: a BridgeTransport that forwards to the test's bindings. */
function installFakeBridge(): void {
  const g = globalThis as any;
  const handlers = new Map<number, { data(m: unknown): void; end(e?: unknown): void }>();
  let next = 1;
  g.__berthFake = {
    deliver(id: number, msg: unknown): void {
      handlers.get(id)?.data(msg);
    },
    finish(id: number, error?: unknown): void {
      const h = handlers.get(id);
      handlers.delete(id);
      h?.end(error);
    },
  };
  g.berth = {
    kind: 'web',
    async invoke(method: string, params: unknown): Promise<unknown> {
      const r = await g.__berthInvoke(method, params);
      if (r.ok) return r.value;
      throw Object.assign(new Error(r.error.message), { status: r.error.status });
    },
    open(stream: string, params: unknown, h: { data(m: unknown): void; end(e?: unknown): void }) {
      const id = next++;
      handlers.set(id, h);
      void g.__berthOpen(id, stream, params);
      return {
        send(input: unknown): void {
          if (handlers.has(id)) void g.__berthInput(id, input);
        },
        close(): void {
          if (!handlers.delete(id)) return;
          void g.__berthClose(id);
          h.end();
        },
      };
    },
  };
}

/** Debian's Chromium, headless, with a fresh profile (removed by `close`), downloads and the clipboard allowed for `origin`. */
export async function launchChromium(origin: string, viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'berth-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport,
      acceptDownloads: true,
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        rmSync(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
}

export async function startRendererPage(opts: RendererPageOptions = {}): Promise<RendererPage> {
  ensureRendererBuilt();
  const { server, url } = await serveRenderer();
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  try {
    browser = await launchChromium(url, opts.viewport);
  } catch (err) {
    server.close();
    throw err;
  }
  const context = browser.context;
  const methods: FakeMethods = { ...DEFAULT_METHODS, ...opts.methods };
  const calls: RecordedCall[] = [];
  const streams: RecordedStream[] = [];
  const pageErrors: string[] = [];
  const waiters = new Set<() => void>();
  const changed = (): void => {
    for (const w of [...waiters]) w();
  };
  const until = <T>(probe: () => T | undefined): Promise<T> =>
    new Promise<T>((resolve) => {
      const check = (): void => {
        const v = probe();
        if (v === undefined) return;
        waiters.delete(check);
        resolve(v);
      };
      waiters.add(check);
      check();
    });

  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.exposeBinding('__berthInvoke', async (_src, method: MethodName, params: unknown) => {
    calls.push({ method, params });
    changed();
    const fake = methods[method] as unknown;
    if (fake === undefined) return { ok: false, error: { message: `the fake bridge has no answer for ${method}`, status: 500 } };
    try {
      const value = typeof fake === 'function' ? await (fake as (p: unknown) => unknown)(params) : fake;
      return { ok: true, value: value ?? null };
    } catch (err) {
      const e = err as { message?: string; status?: number };
      return { ok: false, error: { message: e.message ?? String(err), status: e.status ?? 500 } };
    }
  });
  await page.exposeBinding('__berthOpen', async (_src, id: number, stream: StreamName, params: unknown) => {
    const rec: RecordedStream = { id, stream, params, closed: false, inputs: [] };
    streams.push(rec);
    const initial = opts.streams?.[stream] as unknown;
    const msgs = typeof initial === 'function' ? (initial as (p: unknown) => unknown[])(params) : ((initial as unknown[] | undefined) ?? []);
    for (const m of msgs) await page.evaluate(([i, msg]) => (globalThis as any).__berthFake.deliver(i, msg), [id, m] as const);
    changed();
  });
  await page.exposeBinding('__berthInput', (_src, id: number, input: unknown) => {
    streams.find((s) => s.id === id)?.inputs.push(input);
    changed();
  });
  await page.exposeBinding('__berthClose', (_src, id: number) => {
    const s = streams.find((x) => x.id === id);
    if (s) s.closed = true;
    changed();
  });
  await page.addInitScript(installFakeBridge);
  await page.goto(`${url}#${opts.route ?? '/'}`);

  const open = (name: StreamName): RecordedStream[] => streams.filter((s) => s.stream === name && !s.closed);
  return {
    page,
    url,
    calls,
    streams,
    pageErrors,
    async goto(route) {
      await page.evaluate((r) => {
        (globalThis as any).location.hash = r;
      }, route);
    },
    async push(name, msg) {
      await until(() => (open(name).length ? true : undefined));
      for (const s of open(name)) await page.evaluate(([i, m]) => (globalThis as any).__berthFake.deliver(i, m), [s.id, msg] as const);
    },
    async end(name, error) {
      for (const s of open(name)) {
        s.closed = true;
        await page.evaluate(([i, e]) => (globalThis as any).__berthFake.finish(i, e), [s.id, error] as const);
      }
      changed();
    },
    waitForCall: (method, pred = () => true) => until(() => calls.find((c) => c.method === method && pred(c.params))),
    waitForStream: (name, pred = () => true) => until(() => streams.find((s) => s.stream === name && pred(s))),
    waitForInput: (name, pred) =>
      until(() => {
        for (const s of streams) if (s.stream === name) for (const i of s.inputs) if (pred(i)) return i as unknown;
        return undefined;
      }),
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An `open` for a test file: pages start with `defaults` under their own methods, and after the
 * file every page is checked for uncaught errors and closed.
 */
export function pageOpener(defaults: FakeMethods): (opts: RendererPageOptions) => Promise<RendererPage> {
  const pages: RendererPage[] = [];
  after(async () => {
    for (const p of pages) {
      assert.deepEqual(p.pageErrors, [], 'the page threw');
      await p.close();
    }
  });
  return async (opts) => {
    const r = await startRendererPage({ ...opts, methods: { ...defaults, ...opts.methods } });
    pages.push(r);
    return r;
  };
}
