/**
 * `docker logs` (and attach's `logs=1` replay) from the container's k8s-file log, which conmon
 * writes to <data-root>/containers/<id>/container.log, plus the files rotation keeps beside it
 * (container.log.1 is the newest of those; see logrotate.ts): filtering by stream and time,
 * `tail`, timestamps, stdcopy framing, and following the log while the container runs.
 *
 * Memory stays bounded whatever the log's size: files are read in chunks from a position, `tail`
 * finds where the last N records start by scanning backwards, and `follow` keeps reading the
 * open file from where it stopped, moving to the new file when the log is rotated. As with
 * Docker's json-file logs, `tail` counts records (a line longer than conmon's buffer is several),
 * before the stdout/stderr filter.
 *
 * Kept apart from the lifecycle (service.ts): it only reads the log and the container's status.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from '../common/errors.js';
import { formatLogTime, LineJoiner, parseLogRecord, type LogEntry } from '../runtime/monitor.js';
import type { LiveContainer } from './records.js';
import { encodeOutput } from './stdcopy.js';
import type { LogsOptions } from './types.js';

const CHUNK = 64 * 1024;
/** A "record" longer than this without a newline is not conmon's: it is dropped. */
const MAX_RECORD = 1024 * 1024;
const FOLLOW_POLL_MS = 200;

/** The log files, oldest first: container.log.N … container.log.1, container.log (those that exist). */
export async function logFiles(logPath: string): Promise<string[]> {
  const rotated: string[] = [];
  for (let i = 1; ; i++) {
    const f = `${logPath}.${i}`;
    try {
      await fsp.access(f);
    } catch {
      break;
    }
    rotated.unshift(f);
  }
  return [...rotated, logPath];
}

/** An open log file read forward from a position, yielding complete lines (without "\n"). */
class FileCursor {
  private carry: Buffer | undefined;

  private constructor(
    readonly fh: FileHandle,
    readonly ino: number,
    private pos: number,
  ) {}

  static async open(file: string, pos: number): Promise<FileCursor | undefined> {
    try {
      const fh = await fsp.open(file, 'r');
      return new FileCursor(fh, (await fh.stat()).ino, pos);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /** Lines from the position to the current end of the file; an unfinished last line waits for more. */
  async *lines(signal?: AbortSignal): AsyncGenerator<Buffer> {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      if (signal?.aborted) return;
      const { bytesRead } = await this.fh.read(buf, 0, CHUNK, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      let data = this.carry ? Buffer.concat([this.carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (;;) {
        const nl = data.indexOf(0x0a, start);
        if (nl < 0) break;
        yield data.subarray(start, nl);
        start = nl + 1;
      }
      data = data.subarray(start);
      this.carry = data.length > 0 && data.length <= MAX_RECORD ? Buffer.from(data) : undefined;
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/**
 * Where the last `n` records start: the index of the file and the offset in it. Reads backwards
 * in chunks, counting newlines (every complete record ends with one).
 */
async function tailStart(files: string[], n: number): Promise<{ file: number; offset: number }> {
  let needed = n;
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let i = files.length - 1; i >= 0; i--) {
    let fh: FileHandle;
    try {
      fh = await fsp.open(files[i] as string, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    try {
      let end = (await fh.stat()).size;
      // The newline that ends the last complete record is not a record boundary to count.
      let skipFirst = true;
      while (end > 0) {
        const start = Math.max(0, end - CHUNK);
        const { bytesRead } = await fh.read(buf, 0, end - start, start);
        for (let k = bytesRead - 1; k >= 0; k--) {
          if (buf[k] !== 0x0a) continue;
          if (skipFirst) {
            skipFirst = false;
            continue;
          }
          // Every newline before the last one starts a record after it.
          if (--needed === 0) return { file: i, offset: start + k + 1 };
        }
        end = start;
      }
      // The file's first record starts at 0, after no newline.
      if (!skipFirst && --needed === 0) return { file: i, offset: 0 };
    } finally {
      await fh.close();
    }
  }
  return { file: 0, offset: 0 };
}

export async function* logChunks(logPath: string, c: LiveContainer, opts: LogsOptions): AsyncGenerator<Buffer> {
  const tty = c.rec.Config.Tty === true;
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
  const joiner = new LineJoiner();
  const entries = async function* (cursor: FileCursor): AsyncGenerator<Buffer> {
    for await (const raw of cursor.lines(opts.signal)) {
      const rec = parseLogRecord(raw);
      const e = rec && joiner.push(rec);
      if (e && wanted(e)) yield encode(e);
    }
  };
  const running = (): boolean => c.rec.State.Status === 'running' || c.rec.State.Status === 'restarting' || c.starting !== undefined;

  if (opts.tail !== undefined && opts.tail <= 0 && !opts.follow) return;
  const files = await logFiles(logPath);
  const from = opts.tail !== undefined ? (opts.tail <= 0 ? { file: files.length - 1, offset: Infinity } : await tailStart(files, opts.tail)) : { file: 0, offset: 0 };
  let cursor: FileCursor | undefined;
  try {
    for (let i = from.file; i < files.length; i++) {
      await cursor?.close();
      cursor = undefined;
      let offset = i === from.file ? from.offset : 0;
      if (offset === Infinity) offset = (await fsp.stat(files[i] as string).catch(() => ({ size: 0 }))).size;
      cursor = await FileCursor.open(files[i] as string, offset);
      if (cursor) yield* entries(cursor);
    }
    if (!opts.follow) {
      // A line the container has not finished: shown as it is, without a newline.
      for (const e of joiner.flush()) if (wanted(e)) yield encode(e);
      return;
    }
    for (;;) {
      if (opts.signal?.aborted) return;
      const wasRunning = running();
      if (cursor) yield* entries(cursor);
      // Rotated (conmon put a new file in place): finish the old one, go on with the new one.
      const ino = await fsp.stat(logPath).then((st) => st.ino, () => undefined);
      if (ino !== undefined && ino !== cursor?.ino) {
        if (cursor) yield* entries(cursor);
        await cursor?.close();
        cursor = await FileCursor.open(logPath, 0);
        continue;
      }
      if (!wasRunning || !running()) {
        if (cursor) yield* entries(cursor);
        return;
      }
      await sleep(FOLLOW_POLL_MS, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
    }
  } finally {
    await cursor?.close();
  }
}
