/**
 * Every stream of BridgeStreams, one handler each. A handler runs until its stream is done: it
 * resolves when the stream ends by itself (a log without follow, an exited shell), rejects on
 * failure, and returns promptly once `out.signal` aborts (the renderer closed the stream). The host
 * turns that into the stream's single `end`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineStatus, StreamMessage, StreamName } from '../../types/desktop-api.js';
import type { HostContext } from './context.js';
import { LineBatcher, pumpLogs } from './logs.js';
import { asParams, int, optBool, optInt, optStrings, str } from './params.js';
import { pumpStats } from './stats.js';
import { sameStatus } from './status.js';
import { openTerminal, parseTerminalInput } from './terminal.js';
import { followVm } from './vm.js';
import { pumpProjectLogs } from './compose.js';
import { volumeExport } from './volume-files.js';

export interface StreamOut<S extends StreamName> {
  push(msg: StreamMessage<S>): void;
  /** Aborted when the renderer closes the stream or the host shuts down. */
  signal: AbortSignal;
  /** Receives the renderer's input (raw: the handler checks it). */
  onInput(fn: (data: unknown) => void): void;
}

export type StreamHandler<S extends StreamName> = (ctx: HostContext, params: unknown, out: StreamOut<S>) => Promise<void>;
export type StreamTable = { [S in StreamName]: StreamHandler<S> };

/** Waits between reconnection attempts: 250 ms doubling to 5 s, reset once connected. */
export const RECONNECT_MIN_MS = 250;
export const RECONNECT_MAX_MS = 5000;

const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

/**
 * The engine's /events, plus `{type:'engine'}` whenever the engine's state changes. When the
 * events connection drops (the engine stopped or restarted) the engine is probed again, its new
 * state reported, and the connection retried with backoff until it is back; a change of the
 * active engine reconnects at once.
 */
async function events(ctx: HostContext, params: unknown, out: StreamOut<'events'>): Promise<void> {
  asParams(params);
  let last: EngineStatus | undefined;
  const report = (s: EngineStatus): void => {
    if (sameStatus(last, s)) return;
    last = s;
    out.push({ type: 'engine', status: s });
  };
  let since = Math.floor(Date.now() / 1000);
  let delay = RECONNECT_MIN_MS;
  while (!out.signal.aborted) {
    const changed = new AbortController();
    const unsubscribe = ctx.onEngineChange(() => changed.abort());
    const signal = AbortSignal.any([out.signal, changed.signal]);
    try {
      const client = ctx.client();
      const status = await ctx.probe();
      if (signal.aborted) continue;
      report(status);
      if (status.state === 'running') {
        try {
          for await (const event of client.events({ since, signal })) {
            delay = RECONNECT_MIN_MS;
            since = Math.max(since, event.time);
            out.push({ type: 'event', event });
          }
        } catch {
          // the connection dropped or was aborted: probe again below
        }
        if (signal.aborted) continue;
        since = Math.floor(Date.now() / 1000);
        const after = await ctx.probe();
        report(after);
        if (after.state === 'running') continue;
      }
      await sleep(delay, undefined, { signal }).catch(() => undefined);
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    } finally {
      unsubscribe();
    }
  }
}

async function jobs(ctx: HostContext, params: unknown, out: StreamOut<'jobs'>): Promise<void> {
  asParams(params);
  for (const job of ctx.jobs.list()) out.push(job);
  const unsubscribe = ctx.jobs.subscribe((job) => out.push(job));
  try {
    await aborted(out.signal);
  } finally {
    unsubscribe();
  }
}

async function logs(ctx: HostContext, params: unknown, out: StreamOut<'logs'>): Promise<void> {
  const p = asParams(params);
  const req = {
    id: str(p, 'id'),
    follow: optBool(p, 'follow') ?? false,
    timestamps: optBool(p, 'timestamps') ?? false,
    ...(p['tail'] !== undefined ? { tail: int(p, 'tail', 0, 10_000_000) } : {}),
    ...(p['since'] !== undefined ? { since: int(p, 'since', 0, 2 ** 40) } : {}),
  };
  const batcher = new LineBatcher((lines) => out.push({ lines }));
  await pumpLogs(ctx.client(), req, batcher, out.signal);
}

async function projectLogs(ctx: HostContext, params: unknown, out: StreamOut<'projectLogs'>): Promise<void> {
  const p = asParams(params);
  const req = {
    project: str(p, 'project'),
    follow: optBool(p, 'follow') ?? false,
    ...(p['tail'] !== undefined ? { tail: int(p, 'tail', 0, 10_000_000) } : {}),
  };
  await pumpProjectLogs(ctx.client(), req, (lines) => out.push({ lines }), out.signal);
}

/** Chunks of about 256 KiB: few messages, each small enough for IPC. */
const EXPORT_CHUNK = 256 * 1024;

async function volumeExportStream(ctx: HostContext, params: unknown, out: StreamOut<'volumeExport'>): Promise<void> {
  const name = str(asParams(params), 'name');
  let pending: Buffer[] = [];
  let size = 0;
  const flush = (): void => {
    if (size === 0) return;
    out.push({ type: 'chunk', base64: Buffer.concat(pending).toString('base64') });
    pending = [];
    size = 0;
  };
  const bytes = await volumeExport(
    ctx.client(),
    name,
    (chunk) => {
      pending.push(chunk);
      size += chunk.length;
      if (size >= EXPORT_CHUNK) flush();
    },
    out.signal,
  );
  flush();
  out.push({ type: 'end', bytes });
}

async function stats(ctx: HostContext, params: unknown, out: StreamOut<'stats'>): Promise<void> {
  await pumpStats(ctx.client(), str(asParams(params), 'id'), (s) => out.push(s), out.signal);
}

async function terminal(ctx: HostContext, params: unknown, out: StreamOut<'terminal'>): Promise<void> {
  const p = asParams(params);
  const cmd = optStrings(p, 'cmd');
  const session = await openTerminal(
    ctx.client(),
    { id: str(p, 'id'), cols: optInt(p, 'cols', 1, 10_000) ?? 80, rows: optInt(p, 'rows', 1, 10_000) ?? 24, ...(cmd ? { cmd } : {}) },
    (msg) => out.push(msg),
  );
  out.onInput((data) => session.input(parseTerminalInput(data)));
  const onAbort = (): void => session.close();
  out.signal.addEventListener('abort', onAbort, { once: true });
  if (out.signal.aborted) session.close();
  try {
    await session.done;
  } finally {
    out.signal.removeEventListener('abort', onAbort);
  }
}

async function vm(ctx: HostContext, params: unknown, out: StreamOut<'vm'>): Promise<void> {
  asParams(params);
  await followVm(ctx, (s) => out.push(s), out.signal);
}

export const streams: StreamTable = { events, jobs, logs, projectLogs, stats, terminal, vm, volumeExport: volumeExportStream };
