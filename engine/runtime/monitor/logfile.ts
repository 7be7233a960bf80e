/**
 * Reader for conmon's "k8s-file" log format, one record per line:
 *
 *   <RFC3339Nano time> <stdout|stderr> <F|P> <content>\n
 *
 * e.g. `2024-01-02T03:04:05.123456789+00:00 stdout F hello`. conmon writes one record per chunk it
 * reads from the container: F ("full") when the chunk ended a line, P ("partial") when the line
 * goes on in a later record (a write without a newline, or a line longer than conmon's buffer).
 * The content is raw bytes (a tty's \r stays), never containing \n. The time is local time with a
 * numeric offset, nanosecond precision.
 */
import { createReadStream } from 'node:fs';
import { isErrno } from '../../common/errors.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogRecord {
  time: string;
  timeNs: bigint;
  stream: LogStream;
  /** true for a P record: the line continues in the stream's next record. */
  partial: boolean;
  content: Buffer;
}

export interface LogEntry {
  stream: LogStream;
  /** The time of the line's first record, as conmon wrote it (RFC3339Nano with offset). */
  time: string;
  /** The same instant in nanoseconds since the Unix epoch (for --since/--until and sorting). */
  timeNs: bigint;
  /** The line without its newline; bytes as the container wrote them. */
  line: Buffer;
  /**
   * true when the line did not end in a newline: the log ended mid-line (the container exited, or
   * is still writing), or the line was cut at maxLineBytes. A reader printing lines should not
   * add a newline after a partial entry.
   */
  partial: boolean;
}

export interface ReadLogOptions {
  /** A joined line longer than this is emitted in pieces (partial: true). Default 1 MiB. */
  maxLineBytes?: number;
  signal?: AbortSignal;
}

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** RFC3339(Nano) time → nanoseconds since the epoch; undefined if malformed. */
export function parseLogTime(s: string): bigint | undefined {
  const m = TIME_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac = '', zone = 'Z'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec));
  if (Number.isNaN(ms)) return undefined;
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, '0'));
}

/** Nanoseconds since the epoch → RFC3339Nano in UTC with all 9 digits, as Docker prints with --timestamps. */
export function formatLogTime(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** Parses one record (without its trailing \n); undefined when it is not a k8s-file record. */
export function parseLogRecord(line: Buffer): LogRecord | undefined {
  const sp1 = line.indexOf(0x20);
  if (sp1 <= 0) return undefined;
  const sp2 = line.indexOf(0x20, sp1 + 1);
  if (sp2 < 0) return undefined;
  const sp3 = line.indexOf(0x20, sp2 + 1);
  // A record with empty content may end right after the tag ("... stdout F").
  const tagEnd = sp3 < 0 ? line.length : sp3;
  const time = line.toString('latin1', 0, sp1);
  const stream = line.toString('latin1', sp1 + 1, sp2);
  const tag = line.toString('latin1', sp2 + 1, tagEnd);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  if (tag !== 'F' && tag !== 'P') return undefined;
  const timeNs = parseLogTime(time);
  if (timeNs === undefined) return undefined;
  return {
    time,
    timeNs,
    stream,
    partial: tag === 'P',
    content: sp3 < 0 ? Buffer.alloc(0) : line.subarray(sp3 + 1),
  };
}

/** Splits a byte stream into \n-terminated lines; an unterminated tail (a record conmon is still writing) is dropped. */
async function* fileLines(path: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const rs = createReadStream(path, { highWaterMark: 64 * 1024, signal });
  let carry: Buffer | undefined;
  try {
    for await (const chunk of rs as AsyncIterable<Buffer>) {
      let buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0) break;
        yield buf.subarray(start, nl);
        start = nl + 1;
      }
      buf = buf.subarray(start);
      // Copy so a large chunk is not kept alive by a short tail.
      carry = buf.length > 0 ? Buffer.from(buf) : undefined;
    }
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  } finally {
    rs.destroy();
  }
}

interface Pending {
  time: string;
  timeNs: bigint;
  parts: Buffer[];
  size: number;
}

/**
 * Joins k8s-file records into lines: partial (P) records with the rest of their line, per stream
 * (an stderr record between two stdout pieces does not break the stdout line). Entries come in
 * the order their lines completed. State carries across push() calls, so one joiner can read a
 * log that goes on in a later file (rotation) or a later read (follow).
 */
export class LineJoiner {
  private readonly pending = new Map<LogStream, Pending>();

  constructor(private readonly maxLine = 1024 * 1024) {}

  /** The entry this record completes, if any. The record's content is copied. */
  push(rec: LogRecord): LogEntry | undefined {
    let p = this.pending.get(rec.stream);
    if (!p) {
      p = { time: rec.time, timeNs: rec.timeNs, parts: [], size: 0 };
      this.pending.set(rec.stream, p);
    }
    p.parts.push(Buffer.from(rec.content));
    p.size += rec.content.length;
    if (!rec.partial) return this.take(rec.stream, p, false);
    if (p.size >= this.maxLine) return this.take(rec.stream, p, true);
    return undefined;
  }

  /** Lines still open (the log ended mid-line), oldest first, as partial entries. */
  flush(): LogEntry[] {
    const rest = [...this.pending.entries()].sort((a, b) => (a[1].timeNs < b[1].timeNs ? -1 : a[1].timeNs > b[1].timeNs ? 1 : 0));
    return rest.map(([stream, p]) => this.take(stream, p, true));
  }

  private take(stream: LogStream, p: Pending, partial: boolean): LogEntry {
    this.pending.delete(stream);
    return { stream, time: p.time, timeNs: p.timeNs, line: Buffer.concat(p.parts, p.size), partial };
  }
}

/**
 * Reads a k8s-file log from the beginning and yields its lines (see LineJoiner). A missing file
 * yields nothing. Lines that are not k8s-file records are skipped. Does not follow the file.
 */
export async function* readLog(logPath: string, opts: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  const joiner = new LineJoiner(opts.maxLineBytes);
  for await (const raw of fileLines(logPath, opts.signal)) {
    const rec = parseLogRecord(raw);
    if (!rec) continue;
    const e = joiner.push(rec);
    if (e) yield e;
  }
  yield* joiner.flush();
}
