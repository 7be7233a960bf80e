/**
 * HEALTHCHECK: the container's health check configuration (the image's, overridden field by field
 * by the create body's) and the monitor that probes running containers and keeps State.Health.
 *
 * Docker's rules, which clients and compose's `depends_on: condition: service_healthy` rely on:
 *  - a probe runs `Interval` after the container starts and after each probe ends; while the
 *    container is still "starting" within `StartPeriod`, `StartInterval` apart instead;
 *  - exit 0 makes the container healthy and resets the failing streak; any other result (a
 *    timeout or a probe that could not run is exit -1) adds to the streak, except while the
 *    container is starting within its start period; `Retries` consecutive failures make it
 *    unhealthy;
 *  - a probe that runs longer than `Timeout` (counted from when the process runs) is killed;
 *  - State.Health keeps the last 5 probes with their output (4 KiB, "..." when cut);
 *  - each change of status is a `health_status: <status>` event;
 *  - when the monitor stops (the container exits or is paused) the status becomes "unhealthy",
 *    without an event; a new start resets it to "starting" (the log is kept).
 *
 * Probes run through a ProbeRunner (the daemon wires the exec manager in, so each probe is an
 * exec with its exec_create / exec_start / exec_die events, as from dockerd). Durations are in
 * nanoseconds, as in the API.
 */
import { errorMessage, invalid } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerRecord, HealthLogEntry, HealthState } from './types.js';

/** Config.Healthcheck. Test is ["CMD", arg...], ["CMD-SHELL", "command"], ["NONE"] or empty (inherit). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface ProbeResult {
  exitCode: number;
  /** stdout and stderr as they came, at most maxOutput bytes. */
  output: Buffer;
  /** More output came than maxOutput. */
  truncated: boolean;
}

/** Runs one probe as a process in the running container. */
export interface ProbeRunner {
  /**
   * Resolves once the process has exited. `onStarted` is called when it runs; aborting `signal`
   * kills it. Rejects when it could not be started at all.
   */
  probe(containerId: string, cmd: string[], o: { signal: AbortSignal; maxOutput: number; onStarted: () => void }): Promise<ProbeResult>;
}

/** What the monitor needs of the container service. */
export interface HealthHost {
  /** The record's State.Health changed: persist it. */
  save(containerId: string): Promise<void>;
  publish(containerId: string, action: string): void;
}

const SECOND = 1e9;
const DEFAULT_INTERVAL = 30 * SECOND;
const DEFAULT_TIMEOUT = 30 * SECOND;
const DEFAULT_START_INTERVAL = 5 * SECOND;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;
/** dockerd's MinimumDuration for the durations of a health check. */
const MINIMUM_DURATION = 1e6;
const DURATIONS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const;

// ------------------------------------------------------------------ configuration

/** Checks the create body's Healthcheck (400 for a bad one); undefined when there is none. */
export function parseHealthConfig(v: unknown): HealthConfig | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('Healthcheck must be an object');
  const h = v as Record<string, unknown>;
  const out: HealthConfig = {};
  if (h['Test'] !== undefined && h['Test'] !== null) {
    const test = h['Test'];
    if (!Array.isArray(test) || !test.every((s) => typeof s === 'string')) throw invalid('Healthcheck.Test must be an array of strings');
    if (test.some((s) => s.includes('\0'))) throw invalid('Healthcheck.Test must not contain NUL bytes');
    out.Test = test;
  }
  for (const name of DURATIONS) {
    const d = h[name];
    if (d === undefined || d === null) continue;
    if (typeof d !== 'number' || !Number.isSafeInteger(d)) throw invalid(`${name} in Healthcheck must be an integer (nanoseconds)`);
    if (d !== 0 && d < MINIMUM_DURATION) throw invalid(`${name} in Healthcheck cannot be less than 1ms`);
    out[name] = d;
  }
  const retries = h['Retries'];
  if (retries !== undefined && retries !== null) {
    if (typeof retries !== 'number' || !Number.isSafeInteger(retries)) throw invalid('Retries in Healthcheck must be an integer');
    if (retries < 0) throw invalid('Retries in Healthcheck cannot be negative');
    out.Retries = retries;
  }
  return out;
}

/**
 * Config.Healthcheck of a new container: the create body's, with what it leaves empty (no Test,
 * zero durations and retries) taken from the image's; the image's alone when the body has none.
 */
export function mergeHealthConfig(create: HealthConfig | undefined, image: unknown): HealthConfig | undefined {
  const img = imageHealthConfig(image);
  if (!create) return img;
  if (!img) return create;
  const out: HealthConfig = { ...create };
  if (!out.Test || out.Test.length === 0) {
    if (img.Test) out.Test = img.Test;
  }
  for (const name of DURATIONS) if (!out[name] && img[name]) out[name] = img[name];
  if (!out.Retries && img.Retries) out.Retries = img.Retries;
  return out;
}

/** The image config's Healthcheck, leniently (an image is not the user's input: bad fields are dropped). */
function imageHealthConfig(v: unknown): HealthConfig | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const h = v as Record<string, unknown>;
  const out: HealthConfig = {};
  if (Array.isArray(h['Test']) && h['Test'].every((s) => typeof s === 'string')) out.Test = h['Test'] as string[];
  for (const name of [...DURATIONS, 'Retries'] as const) {
    const n = h[name];
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) out[name] = n;
  }
  return out;
}

/** The command a probe runs, or undefined when the container has no health check (none, NONE, unknown type). */
export function probeCommand(config: { Healthcheck?: HealthConfig | null; Shell?: string[] | null }): string[] | undefined {
  const test = config.Healthcheck?.Test;
  if (!test || test.length === 0) return undefined;
  switch (test[0]) {
    case 'CMD':
      return test.slice(1);
    case 'CMD-SHELL': {
      const shell = config.Shell;
      const sh = shell && shell.length > 0 ? shell : ['/bin/sh', '-c'];
      return [...sh, ...test.slice(1)];
    }
    default:
      return undefined;
  }
}

/** Go's time.Duration.String() ("500ms", "1.5s", "1m30s"), which dockerd's messages use. */
export function goDuration(ns: number): string {
  const num = (x: number): string => String(Number(x.toFixed(9)));
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${num(ns / 1e3)}µs`;
  if (ns < SECOND) return `${num(ns / 1e6)}ms`;
  const h = Math.floor(ns / (3600 * SECOND));
  const m = Math.floor((ns % (3600 * SECOND)) / (60 * SECOND));
  const s = `${num((ns % (60 * SECOND)) / SECOND)}s`;
  if (h > 0) return `${h}h${m}m${s}`;
  return m > 0 ? `${m}m${s}` : s;
}

// ------------------------------------------------------------------ the monitor

interface Loop {
  rec: ContainerRecord;
  cmd: string[];
  timer?: NodeJS.Timeout;
  /** Kills the probe in flight. */
  probe?: AbortController;
  stopped: boolean;
}

export class HealthMonitor {
  private readonly loops = new Map<string, Loop>();

  constructor(
    private readonly o: {
      runner: ProbeRunner;
      host: HealthHost;
      log: Logger;
    },
  ) {}

  /**
   * The container (re)started: its health is "starting" again (failing streak reset, log kept)
   * and probing begins. The caller persists the record.
   */
  start(rec: ContainerRecord): void {
    this.halt(rec.Id);
    const cmd = probeCommand(rec.Config);
    if (!cmd) return;
    const log = rec.State.Health?.Log ?? [];
    rec.State.Health = { Status: 'starting', FailingStreak: 0, Log: log };
    this.run(rec, cmd);
  }

  /** Probing goes on where it was (the daemon restarted, the container was unpaused). */
  resume(rec: ContainerRecord): void {
    if (this.loops.has(rec.Id) || !rec.State.Health) return;
    const cmd = probeCommand(rec.Config);
    if (cmd) this.run(rec, cmd);
  }

  /**
   * The container exited or was paused: probing stops and the status becomes "unhealthy" (as in
   * Docker). Returns whether the record changed (the caller persists it).
   */
  stop(rec: ContainerRecord): boolean {
    if (!this.halt(rec.Id) || !rec.State.Health) return false;
    rec.State.Health.Status = 'unhealthy';
    return true;
  }

  /** Daemon shutdown: probing stops, the recorded health stays (resume() picks it up). */
  close(): void {
    for (const id of [...this.loops.keys()]) this.halt(id);
  }

  private halt(id: string): boolean {
    const loop = this.loops.get(id);
    if (!loop) return false;
    loop.stopped = true;
    clearTimeout(loop.timer);
    loop.probe?.abort();
    this.loops.delete(id);
    return true;
  }

  private run(rec: ContainerRecord, cmd: string[]): void {
    const loop: Loop = { rec, cmd, stopped: false };
    this.loops.set(rec.Id, loop);
    this.schedule(loop);
  }

  private schedule(loop: Loop): void {
    if (loop.stopped) return;
    const cfg = healthConfigOf(loop.rec);
    const sinceStart = (Date.now() - Date.parse(loop.rec.State.StartedAt)) * 1e6;
    const inStartPeriod = sinceStart < (cfg.StartPeriod || 0) && loop.rec.State.Health?.Status === 'starting';
    const ns = inStartPeriod ? cfg.StartInterval || DEFAULT_START_INTERVAL : cfg.Interval || DEFAULT_INTERVAL;
    loop.timer = setTimeout(() => {
      loop.timer = undefined;
      void this.probeOnce(loop).then(() => this.schedule(loop));
    }, timerMs(ns));
  }

  private async probeOnce(loop: Loop): Promise<void> {
    const cfg = healthConfigOf(loop.rec);
    const timeout = cfg.Timeout || DEFAULT_TIMEOUT;
    const ac = new AbortController();
    loop.probe = ac;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const start = new Date();
    let entry: Omit<HealthLogEntry, 'Start' | 'End'>;
    try {
      const r = await this.o.runner.probe(loop.rec.Id, loop.cmd, {
        signal: ac.signal,
        maxOutput: MAX_OUTPUT,
        onStarted: () => {
          timer = setTimeout(() => {
            timedOut = true;
            ac.abort();
          }, timerMs(timeout));
        },
      });
      const output = r.output.toString('utf8') + (r.truncated ? '...' : '');
      entry = timedOut
        ? { ExitCode: -1, Output: `Health check exceeded timeout (${goDuration(timeout)})${output ? `: ${output}` : ''}` }
        : { ExitCode: r.exitCode, Output: output };
    } catch (err) {
      entry = { ExitCode: -1, Output: errorMessage(err) };
    } finally {
      clearTimeout(timer);
      loop.probe = undefined;
    }
    if (loop.stopped) return; // stopped meanwhile: the result does not count
    await this.record(loop.rec, { Start: start.toISOString(), End: new Date().toISOString(), ...entry }, start);
  }

  /** One probe's result: the log, the failing streak, the status; saved, and an event when the status changed. */
  private async record(rec: ContainerRecord, entry: HealthLogEntry, start: Date): Promise<void> {
    const h: HealthState | undefined = rec.State.Health;
    if (!h) return;
    const cfg = healthConfigOf(rec);
    const before = h.Status;
    h.Log = [...h.Log, entry].slice(-MAX_LOG_ENTRIES);
    if (entry.ExitCode === 0) {
      h.FailingStreak = 0;
      h.Status = 'healthy';
    } else {
      const sinceStart = (start.getTime() - Date.parse(rec.State.StartedAt)) * 1e6;
      const grace = h.Status === 'starting' && sinceStart < (cfg.StartPeriod || 0);
      if (!grace) {
        h.FailingStreak++;
        if (h.FailingStreak >= (cfg.Retries || DEFAULT_RETRIES)) h.Status = 'unhealthy';
      }
    }
    await this.o.host.save(rec.Id).catch((err: unknown) => this.o.log.warn('cannot save the health state', { id: rec.Id, err: errorMessage(err) }));
    if (h.Status !== before) this.o.host.publish(rec.Id, `health_status: ${h.Status}`);
  }
}

function healthConfigOf(rec: ContainerRecord): HealthConfig {
  return rec.Config.Healthcheck ?? {};
}

/** Nanoseconds to a setTimeout delay (which takes at most 2^31-1 ms). */
function timerMs(ns: number): number {
  return Math.min(Math.max(1, Math.round(ns / 1e6)), 2 ** 31 - 1);
}
