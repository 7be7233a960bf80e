/**
 * Docker's stream multiplexing ("stdcopy"), client side: without a TTY, attach,
 * exec and logs send each chunk behind an 8-byte header — stream id (0 stdin,
 * 1 stdout, 2 stderr, 3 systemerr), three zero bytes, big-endian payload
 * length. The demuxer takes chunks split anywhere and hands back whole frames;
 * a systemerr frame is the engine reporting a failure inside the stream.
 */
import type { Writable } from 'node:stream';
import { EngineError } from './errors.js';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const SYSTEMERR = 3;

const HEADER = 8;

export interface Frame {
  stream: number;
  payload: Buffer;
}

/** Incremental parser: push() bytes as they come, get the complete frames back. */
export class StdcopyDemuxer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    let buf = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    while (buf.length >= HEADER) {
      const stream = buf[0] as number;
      if (stream > SYSTEMERR) throw new EngineError(`unrecognized stream id ${stream} in the engine's multiplexed stream`, 0, 'SERVER');
      const size = buf.readUInt32BE(4);
      if (buf.length < HEADER + size) break;
      frames.push({ stream, payload: buf.subarray(HEADER, HEADER + size) });
      buf = buf.subarray(HEADER + size);
    }
    this.pending = buf.length > 0 ? [buf] : [];
    this.pendingBytes = buf.length;
    return frames;
  }

  /** Bytes of an incomplete frame left over (non-zero at the end of input means truncation). */
  get leftover(): number {
    return this.pendingBytes;
  }
}

/** One frame with its header, as the engine writes it (for tests and fakes). */
export function encodeFrame(stream: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(HEADER);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

function writeWithBackpressure(dest: Writable, data: Buffer): Promise<void> | undefined {
  if (dest.write(data)) return undefined;
  return new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      dest.off('drain', done);
      dest.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    dest.once('drain', done);
    dest.once('error', done);
  });
}

/**
 * Copy a multiplexed stream to stdout and stderr until it ends (respecting
 * backpressure). Throws an EngineError when the engine sends a systemerr frame.
 */
export async function demuxStream(src: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, stdout: Writable, stderr: Writable): Promise<void> {
  const demux = new StdcopyDemuxer();
  for await (const chunk of src) {
    for (const f of demux.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
      if (f.stream === SYSTEMERR) throw new EngineError(f.payload.toString('utf8').trim(), 0, 'SERVER', { inStream: true });
      const dest = f.stream === STDERR ? stderr : stdout;
      await writeWithBackpressure(dest, f.payload);
    }
  }
}

/** Copy a raw (TTY) stream to `dest` until it ends. */
export async function copyRaw(src: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, dest: Writable): Promise<void> {
  for await (const chunk of src) {
    await writeWithBackpressure(dest, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
}
