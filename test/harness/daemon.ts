// Runs our daemon (bin/berthd, dockerd-style flags) on private temp roots and talks to it
// over its unix socket.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { constants, createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { makeTempDir, removeDir, repoRoot, run, sleep, spawnTracked, stopChild, tailFile, trackDir, untrackDir, waitExit } from './util.js';

export interface DaemonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = unknown>(): T;
}

export interface TestDaemon {
  /** Path of the API socket. */
  socket: string;
  /** unix://<socket> */
  dockerHost: string;
  dataRoot: string;
  execRoot: string;
  /** pid of the current daemon process (changes on restart). */
  readonly pid: number;
  /** The daemon's stdout+stderr, appended across restarts. */
  logFile: string;
  /** Signals the daemon (default SIGTERM), waits for it (SIGKILL after 30 s), returns its exit code (null if it died by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill9(): Promise<void>;
  /** Stops it if running, then starts it again on the same roots and waits for /_ping. */
  restart(): Promise<void>;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<DaemonResponse>;
  /**
   * Stops the daemon, unmounts anything left under its temp dir, removes the temp dir. Fails (after
   * cleaning up) when the daemon logged an uncaught exception or an unhandled rejection: those are
   * bugs wherever they happen, even when the request that caused them looked fine to the test.
   */
  cleanup(): Promise<void>;
}

export interface StartDaemonOptions {
  insecureRegistries?: string[];
  extraArgs?: string[];
  /** Use this data root instead of a fresh one (cleanup() then leaves it in place). */
  dataRoot?: string;
  env?: Record<string, string>;
  /** The daemon executable (default: berthdPath()). A non-executable file is run with node. */
  bin?: string;
  /** How long to wait for GET /_ping to answer OK (default 15 s). */
  readyTimeoutMs?: number;
}

/** The daemon executable: $BERTHD_BIN or <repo>/bin/berthd. */
export function berthdPath(): string {
  return process.env.BERTHD_BIN ?? join(repoRoot(), 'bin', 'berthd');
}

/** One HTTP request over a unix socket. */
export function unixRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<DaemonResponse> {
  return new Promise((resolve, reject) => {
    let payload: Buffer | undefined;
    const hdrs: Record<string, string> = { ...headers };
    if (body !== undefined) {
      if (Buffer.isBuffer(body)) payload = body;
      else if (typeof body === 'string') payload = Buffer.from(body);
      else {
        payload = Buffer.from(JSON.stringify(body));
        if (!Object.keys(hdrs).some((k) => k.toLowerCase() === 'content-type')) hdrs['Content-Type'] = 'application/json';
      }
      hdrs['Content-Length'] = String(payload.length);
    }
    const req = httpRequest({ socketPath, method, path, headers: { Host: 'localhost', ...hdrs }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers as IncomingHttpHeaders as Record<string, string | string[] | undefined>,
          body: buf,
          json<T = unknown>(): T {
            return JSON.parse(buf.toString('utf8')) as T;
          },
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The log lines where the daemon's last-resort handlers caught something (see engine/daemon/main.ts). */
export async function strayErrorsIn(logFile: string): Promise<string[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => /"msg":"(uncaught exception|unhandled rejection)"/.test(line));
}

/** Mount points at or below `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  let info: string;
  try {
    info = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescape)
    .filter((p) => p === dir || p.startsWith(dir + '/'));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything under `dir` so removing it can never reach into a mounted tree. */
export async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) await run('umount', ['-l', p]).catch(() => undefined);
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`could not unmount: ${left.join(', ')}`);
}

export async function startDaemon(opts: StartDaemonOptions = {}): Promise<TestDaemon> {
  const bin = opts.bin ?? berthdPath();
  if (!existsSync(bin)) throw new Error(`berthd not found at ${bin} (build it, or set BERTHD_BIN)`);
  let direct = true;
  try {
    await access(bin, constants.X_OK);
  } catch {
    direct = false; // not executable: run it as a node script
  }

  const base = await makeTempDir('berth-test-');
  trackDir(base);
  const dataRoot = opts.dataRoot ?? join(base, 'data');
  const execRoot = join(base, 'exec');
  await mkdir(dataRoot, { recursive: true });
  await mkdir(execRoot, { recursive: true, mode: 0o700 });
  const socket = join(execRoot, 'berthd.sock');
  const pidfile = join(execRoot, 'berthd.pid');
  const logFile = join(base, 'berthd.log');
  const readyTimeout = opts.readyTimeoutMs ?? 15_000;

  const args = [
    '-H',
    `unix://${socket}`,
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    '--pidfile',
    pidfile,
    '--log-level',
    'debug',
    ...(opts.insecureRegistries ?? []).flatMap((h) => ['--insecure-registry', h]),
    ...(opts.extraArgs ?? []),
  ];
  const env = { ...process.env, ...(opts.env ?? {}) };

  let child: ChildProcess | undefined;
  let log: WriteStream | undefined;
  let lastExit: number | null = null;

  const closeLog = async (): Promise<void> => {
    const l = log;
    log = undefined;
    if (l) await new Promise<void>((r) => l.end(() => r()));
  };

  const launch = async (): Promise<void> => {
    log = createWriteStream(logFile, { flags: 'a' });
    await new Promise<void>((r) => log?.once('open', () => r()));
    const c = direct
      ? spawnTracked(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawnTracked(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    if (log) {
      c.stdout?.pipe(log, { end: false });
      c.stderr?.pipe(log, { end: false });
    }
    let spawnError: Error | undefined;
    c.once('error', (e) => (spawnError = e));
    const deadline = Date.now() + readyTimeout;
    for (;;) {
      if (spawnError || c.exitCode !== null || c.signalCode !== null) {
        await closeLog();
        throw new Error(
          `berthd exited before it was ready (${spawnError ? spawnError.message : `code ${c.exitCode}, signal ${c.signalCode}`}); log tail:\n${await tailFile(logFile)}`,
        );
      }
      if (existsSync(socket)) {
        const r = await unixRequest(socket, 'GET', '/_ping', undefined, {}, 2000).catch(() => undefined);
        if (r && r.status === 200 && r.body.toString().trim() === 'OK') return;
      }
      if (Date.now() > deadline) {
        await stopChild(c, 'SIGKILL');
        await closeLog();
        throw new Error(`berthd did not answer GET /_ping within ${readyTimeout} ms; log tail:\n${await tailFile(logFile)}`);
      }
      await sleep(50);
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    const c = child;
    if (!c) return lastExit;
    child = undefined;
    lastExit = await stopChild(c, signal, 30_000);
    await closeLog();
    return lastExit;
  };

  try {
    await launch();
  } catch (e) {
    untrackDir(base);
    await unmountUnder(base).catch(() => undefined);
    await removeDir(base);
    throw e;
  }

  const daemon: TestDaemon = {
    socket,
    dockerHost: `unix://${socket}`,
    dataRoot,
    execRoot,
    logFile,
    get pid(): number {
      return child?.pid ?? -1;
    },
    stop,
    async kill9() {
      const c = child;
      if (!c) return;
      child = undefined;
      c.kill('SIGKILL');
      lastExit = await waitExit(c);
      await closeLog();
    },
    async restart() {
      await stop();
      await launch();
    },
    request(method, path, body, headers) {
      return unixRequest(socket, method, path, body, headers);
    },
    async cleanup() {
      await stop();
      const stray = await strayErrorsIn(logFile);
      await unmountUnder(base);
      if (opts.dataRoot) await unmountUnder(opts.dataRoot);
      untrackDir(base);
      await removeDir(base);
      if (stray.length > 0) {
        throw new Error(`berthd logged ${stray.length} uncaught exception(s) or unhandled rejection(s):\n${stray.slice(0, 5).join('\n')}`);
      }
    },
  };
  return daemon;
}
