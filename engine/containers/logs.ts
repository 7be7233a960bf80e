/**
 * `docker logs` (and attach's `logs=1` replay) from the container's k8s-file log, which conmon
 * writes to <data-root>/containers/<id>/container.log: filtering by stream and time, `tail`,
 * timestamps, stdcopy framing, and following the file while the container runs.
 *
 * Kept apart from the lifecycle (service.ts): it only reads the log and the container's status.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLogTime, type ConmonMonitor, type LogEntry } from '../runtime/monitor.js';
import type { ContainerRecords, LiveContainer } from './records.js';
import { encodeOutput } from './stdcopy.js';
import type { LogsOptions } from './types.js';


export async function* logChunks(
  monitor: ConmonMonitor,
  records: ContainerRecords,
  c: LiveContainer,
  opts: LogsOptions,
): AsyncGenerator<Buffer> {
  const logPath = path.join(records.dataDir(c.rec.Id), 'container.log');
  const tty = c.rec.Create.Tty === true;
  const sinceNs = opts.since ? BigInt(Math.floor(opts.since * 1e9)) : undefined;
  const untilNs = opts.until ? BigInt(Math.floor(opts.until * 1e9)) : undefined;
  const wanted = (e: LogEntry): boolean =>
    (e.stream === 'stdout' ? opts.stdout : opts.stderr) &&
    (sinceNs === undefined || e.timeNs >= sinceNs) &&
    (untilNs === undefined || e.timeNs <= untilNs);
  const encode = (e: LogEntry): Buffer => {
    const line = e.partial ? e.line : Buffer.concat([e.line, Buffer.from('\n')]);
    const data = opts.timestamps ? Buffer.concat([Buffer.from(`${formatLogTime(e.timeNs)} `), line]) : line;
    return encodeOutput(tty, e.stream, data);
  };
  const readAll = async (): Promise<LogEntry[]> => {
    const out: LogEntry[] = [];
    if (!existsSync(logPath)) return out;
    try {
      for await (const e of monitor.readLog(logPath, opts.signal ? { signal: opts.signal } : {})) out.push(e);
    } catch (err) {
      if (opts.signal?.aborted) return out;
      throw err;
    }
    return out;
  };
  let entries = await readAll();
  let complete = entries.filter((e) => !e.partial).length;
  let initial = opts.follow ? entries.slice(0, complete) : entries;
  initial = initial.filter(wanted);
  if (opts.tail !== undefined) initial = opts.tail <= 0 ? [] : initial.slice(-opts.tail);
  for (const e of initial) yield encode(e);
  if (!opts.follow) return;
  for (;;) {
    const running = c.rec.State.Status === 'running' || c.starting !== undefined;
    if (opts.signal?.aborted) return;
    if (running) await sleep(200);
    entries = await readAll();
    const nowComplete = entries.filter((e) => !e.partial);
    const fresh = running ? nowComplete.slice(complete) : entries.slice(complete);
    complete = nowComplete.length;
    for (const e of fresh) if (wanted(e)) yield encode(e);
    if (!running || !records.byId.has(c.rec.Id)) return;
  }
}
