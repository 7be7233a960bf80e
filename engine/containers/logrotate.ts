/**
 * Container log limits and rotation (`--log-opt max-size=10m --log-opt max-file=3`).
 *
 * conmon writes the log and enforces the size: with --log-size-max it replaces the file with an
 * empty one (it creates <log>.tmp and renames it over <log>) as soon as the next write would
 * pass the limit. Disk use is bounded by that alone, even while berthd is down. Keeping older
 * files is berthd's part: a LogRotator holds the current file open; when conmon replaces it, the
 * old contents are still readable through that descriptor and are copied to <log>.1 (after
 * <log>.1 → <log>.2 …, the oldest beyond max-file dropped). Then the new file is held.
 *
 * Limits: what the daemon saves is lost only if conmon replaces the file twice before berthd
 * copies it once (a container writing faster than berthd copies), or while berthd is not running.
 * Docker's json-file driver never loses lines because it is the writer and blocks the container;
 * conmon does not block.
 */
import { promises as fsp, watch, type FSWatcher } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, invalid } from '../common/errors.js';
import type { Logger } from '../common/log.js';

export interface LogLimits {
  /** Bytes per file; undefined = unlimited. */
  maxSize?: number;
  /** Files kept, the current one included (1 = truncate in place). */
  maxFile: number;
}

export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/** The log drivers whose logs `docker logs` can read: all stored as conmon's k8s-file. */
const READABLE_DRIVERS = new Set(['json-file', 'local', 'k8s-file']);
/** Docker's other built-in drivers: known names, but nothing here ships their logs anywhere. */
const DOCKER_DRIVERS = new Set(['syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'etwlogs', 'gcplogs', 'logentries']);
const FILE_OPTIONS = new Set(['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag', 'mode', 'max-buffer-size']);

/** `none`: the container's output is not kept (attach still sees it); `docker logs` refuses to read. */
export function keepsNoLogs(config: { Type: string }): boolean {
  return config.Type === 'none';
}

/** Docker's size syntax: 1024, 10k, 10m, 1.5g, 2GB (binary units, case-insensitive). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw invalid(`invalid size: '${s}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.floor(Number(m[1]) * mult);
}

/**
 * The effective LogConfig of a container: its own over the daemon's defaults, checked. Returns
 * the config inspect shows and the limits it means. As in Docker, max-file without max-size is
 * accepted and changes nothing (there is nothing to rotate without a size).
 */
export function resolveLogConfig(own: { Type?: string; Config?: Record<string, string> | null } | null | undefined, defaults: LogConfig): { config: LogConfig; limits: LogLimits } {
  let config = defaults;
  if (own) {
    const type = own.Type || defaults.Type;
    // Options given without a type add to the daemon's; a different type starts from none.
    const base = type === defaults.Type ? defaults.Config : {};
    config = { Type: type, Config: { ...base, ...(own.Config ?? {}) } };
  }
  const limits: LogLimits = { maxFile: 1 };
  if (config.Type === 'none') return { config, limits };
  if (!READABLE_DRIVERS.has(config.Type)) {
    if (DOCKER_DRIVERS.has(config.Type)) throw invalid(`logging driver "${config.Type}" is not supported: berth keeps logs as json-file or local, or none`);
    throw invalid(`logger: no log driver named '${config.Type}' is registered`);
  }
  for (const [k, v] of Object.entries(config.Config)) {
    if (typeof v !== 'string') throw invalid(`log option ${k} must be a string`);
    if (k === 'max-size') {
      if (v !== '-1') {
        const n = parseSize(v);
        if (n <= 0) throw invalid('max-size must be a positive size');
        limits.maxSize = n;
      }
    } else if (k === 'max-file') {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 1) throw invalid(`invalid value for max-file: '${v}': must be a positive integer`);
      limits.maxFile = n;
    } else if (!FILE_OPTIONS.has(k)) {
      throw invalid(`unknown log opt '${k}' for ${config.Type} log driver`);
    }
  }
  return { config, limits };
}

/** Keeps the files a container's log rotates into; see the header. One per running container. */
export class LogRotator {
  private held: { fh: FileHandle; ino: number } | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly logPath: string,
    private readonly maxFile: number,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.hold();
    const base = path.basename(this.logPath);
    try {
      this.watcher = watch(path.dirname(this.logPath), (_ev, name) => {
        if (name === null || name === base) this.check();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
    // Backs up the watch (which can miss events).
    this.timer = setInterval(() => this.check(), 2000);
    this.timer.unref();
  }

  /** Stops watching, after saving a replacement that already happened. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    await this.queue();
    await this.held?.fh.close().catch(() => undefined);
    this.held = undefined;
  }

  private check(): void {
    if (!this.stopped) void this.queue();
  }

  /** Runs one rotation check after those already queued. */
  private queue(): Promise<void> {
    this.busy = this.busy.then(() => this.rotateIfReplaced()).catch((err: unknown) => {
      this.log.warn('log rotation failed', { log: this.logPath, err: errorMessage(err) });
    });
    return this.busy;
  }

  private async hold(): Promise<void> {
    try {
      const fh = await fsp.open(this.logPath, 'r');
      this.held = { fh, ino: (await fh.stat()).ino };
    } catch {
      this.held = undefined; // not there yet: the next check holds it
    }
  }

  private async rotateIfReplaced(): Promise<void> {
    const ino = await fsp.stat(this.logPath).then((s) => s.ino, () => undefined);
    if (ino === undefined || ino === this.held?.ino) return;
    const old = this.held;
    if (old) {
      // <log>.N-1 → <log>.N … <log>.1 → <log>.2; then the replaced file becomes <log>.1.
      await fsp.rm(`${this.logPath}.${this.maxFile - 1}`, { force: true });
      for (let i = this.maxFile - 2; i >= 1; i--) {
        await fsp.rename(`${this.logPath}.${i}`, `${this.logPath}.${i + 1}`).catch(() => undefined);
      }
      const tmp = `${this.logPath}.1.tmp`;
      await fsp.copyFile(`/proc/self/fd/${old.fh.fd}`, tmp);
      await fsp.rename(tmp, `${this.logPath}.1`);
      await old.fh.close();
    }
    await this.hold();
  }
}
