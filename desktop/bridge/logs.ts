/**
 * The logs stream: a container's output as lines, in batches. A noisy container can write
 * megabytes a second; one message per line would drown the renderer, so lines are gathered and
 * sent every ~50 ms or every 1000 lines, whichever comes first. The engine's body is demultiplexed
 * (8-byte stdcopy frames) or read raw for a TTY container, whose lines end in CRLF.
 */
import { StringDecoder } from 'node:string_decoder';
import { STDERR, SYSTEMERR, StdcopyDemuxer, EngineError } from '../../client/index.js';
import type { EngineClient } from '../../client/index.js';
import type { LogLine } from '../../types/desktop-api.js';

export const BATCH_MS = 50;
export const BATCH_LINES = 1000;

/** Splits one output stream into lines; a partial line waits for its end (or the stream's end). */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(
    private readonly stream: LogLine['stream'],
    private readonly timestamps: boolean,
  ) {}

  push(chunk: Buffer): LogLine[] {
    const text = this.partial + this.decoder.write(chunk);
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    return parts.map((p) => this.line(p));
  }

  /** The unterminated last line, if any. */
  end(): LogLine[] {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest ? [this.line(rest)] : [];
  }

  private line(raw: string): LogLine {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.timestamps) {
      const space = text.indexOf(' ');
      if (space > 0 && /^\d{4}-\d\d-\d\dT/.test(text)) return { stream: this.stream, time: text.slice(0, space), text: text.slice(space + 1) };
    }
    return { stream: this.stream, text };
  }
}

/** Gathers lines and hands them on in batches (by size at once, otherwise after BATCH_MS). */
export class LineBatcher {
  private lines: LogLine[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly flushTo: (lines: LogLine[]) => void) {}

  add(lines: LogLine[]): void {
    for (const l of lines) {
      this.lines.push(l);
      if (this.lines.length >= BATCH_LINES) this.flush();
    }
    if (this.lines.length > 0 && !this.timer) this.timer = setTimeout(() => this.flush(), BATCH_MS);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    const batch = this.lines;
    this.lines = [];
    this.flushTo(batch);
  }
}

export interface LogsRequest {
  id: string;
  follow: boolean;
  tail?: number;
  since?: number;
  timestamps?: boolean;
}

/** Reads the container's log into `batcher` until the body ends or `signal` aborts. */
export async function pumpLogs(client: EngineClient, req: LogsRequest, batcher: LineBatcher, signal: AbortSignal): Promise<void> {
  const timestamps = req.timestamps ?? false;
  const { stream, raw } = await client.containers.logs(req.id, {
    stdout: true,
    stderr: true,
    follow: req.follow,
    timestamps,
    tail: req.tail === undefined ? 'all' : String(req.tail),
    ...(req.since !== undefined ? { since: String(req.since) } : {}),
    signal,
  });
  const out = new LineSplitter('stdout', timestamps);
  const err = new LineSplitter('stderr', timestamps);
  const demux = raw ? undefined : new StdcopyDemuxer();
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!demux) {
        batcher.add(out.push(chunk));
        continue;
      }
      for (const f of demux.push(chunk)) {
        if (f.stream === SYSTEMERR) throw new EngineError(f.payload.toString('utf8').trim(), 0, 'SERVER', { inStream: true });
        batcher.add((f.stream === STDERR ? err : out).push(f.payload));
      }
    }
  } finally {
    batcher.add([...out.end(), ...err.end()]);
    batcher.flush();
  }
}
