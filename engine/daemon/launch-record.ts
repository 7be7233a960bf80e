/**
 * The launch record: a small JSON file next to each unix socket berthd serves
 * (`/run/berth/docker.sock` → `/run/berth/docker.sock.berthd.json`). It tells a local client
 * that knows only the socket — Berth Desktop — where this engine keeps its log and how it was
 * started, which is what it needs when the engine is down: show the last lines of the log, and
 * start or restart the engine the same way. It is written atomically, readable by all (it holds
 * no secrets: no environment beyond the few runtime settings below), and left in place when the
 * daemon stops, since that is when it is most useful. Clients trust it only when root owns it
 * and nobody else can write it.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { atomicWriteJson } from '../common/fsutil.js';

export interface LaunchRecord {
  pid: number;
  version: string;
  startedAt: string;
  /** The process's full command line: node, its flags, the daemon's script and berthd's flags. */
  command: string[];
  cwd: string;
  /** The runtime settings bin/berthd sets, and PATH (runc, conmon and iptables are found on it). */
  env: Record<string, string>;
  dataRoot: string;
  execRoot: string;
  hosts: string[];
  /** The daemon's log file, or null when it logs to stderr only. */
  logFile: string | null;
}

/** Environment variables worth keeping to start the daemon again the same way. */
const KEPT_ENV = /^(PATH|UV_THREADPOOL_SIZE|MALLOC_[A-Z_]+|BERTH_[A-Z_]+)$/;

export function launchRecordPath(socketPath: string): string {
  return `${socketPath}.berthd.json`;
}

export function currentLaunch(opts: { version: string; dataRoot: string; execRoot: string; hosts: string[]; logFile: string | null }): LaunchRecord {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && KEPT_ENV.test(k)) env[k] = v;
  return {
    pid: process.pid,
    version: opts.version,
    startedAt: new Date().toISOString(),
    command: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    cwd: process.cwd(),
    env,
    dataRoot: path.resolve(opts.dataRoot),
    execRoot: path.resolve(opts.execRoot),
    hosts: opts.hosts,
    logFile: opts.logFile === null ? null : path.resolve(opts.logFile),
  };
}

/** Writes the record beside every unix socket in `hosts`. */
export async function writeLaunchRecords(record: LaunchRecord): Promise<void> {
  for (const host of record.hosts) {
    if (!host.startsWith('unix://')) continue;
    const file = launchRecordPath(host.slice('unix://'.length));
    await atomicWriteJson(file, record);
    await fsp.chmod(file, 0o644);
  }
}
