/**
 * The terminal side of attach, run and exec: a hijacked connection joined to
 * our stdio. Output is copied raw (TTY) or demultiplexed to stdout/stderr;
 * stdin is forwarded when asked and half-closed when it ends, while output
 * keeps flowing. With a TTY on our side the terminal goes into raw mode
 * (restored on every way out), its size follows SIGWINCH, and the detach keys
 * (default ctrl-p ctrl-q) are recognised here: the connection is dropped and
 * the container keeps running. Without a TTY, signals we receive can be
 * proxied to the container.
 */
import type { HijackedConnection } from '../client/index.js';
import { RAW_STREAM, copyRaw, demuxStream } from '../client/index.js';
import { UsageError } from './args.js';
import type { CliIo } from './command.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/**
 * docker's detach key syntax: comma-separated single characters or
 * `ctrl-<x>` (x in a-z, @, [, \, ], ^, _) → the byte sequence.
 */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    const ctrl = /^ctrl-(.)$/i.exec(k);
    if (ctrl) {
      const c = (ctrl[1] as string).toLowerCase();
      if (c >= 'a' && c <= 'z') bytes.push(c.charCodeAt(0) - 96);
      else if (c === '@') bytes.push(0);
      else if ('[\\]^_'.includes(c)) bytes.push(c.charCodeAt(0) - 64);
      else throw new UsageError(`invalid detach keys (${spec}): unknown character: '${c}'`);
    } else if ([...k].length === 1) {
      bytes.push(k.charCodeAt(0));
    } else {
      throw new UsageError(`invalid detach keys (${spec}): unknown character: '${k}'`);
    }
  }
  return Buffer.from(bytes);
}

/**
 * Watches a byte stream for the detach sequence. Bytes that might start the
 * sequence are held back until it is clear they do not; a completed sequence
 * is never passed on.
 */
export class DetachScanner {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  /** The bytes to forward, and whether the sequence completed. */
  push(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      // Not the next key: release what was held, then see whether this byte starts a new sequence.
      for (let i = 0; i < this.held; i++) out.push(this.keys[i] as number);
      this.held = 0;
      if (byte === this.keys[0]) {
        this.held = 1;
        if (this.keys.length === 1) return { forward: Buffer.from(out), detach: true };
      } else {
        out.push(byte);
      }
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

export interface SessionOptions {
  conn: HijackedConnection;
  io: CliIo;
  /** Forward our stdin. */
  stdin: boolean;
  /** The stream is a TTY's (raw). Default: from the response's content type. */
  tty?: boolean;
  /** Detach sequence (bytes); only watched when stdin is forwarded from a terminal in raw mode. */
  detachKeys?: Buffer;
  /** Apply our terminal's size now and on every SIGWINCH. */
  resize?: (height: number, width: number) => Promise<void>;
  /** Forward these signals we receive (non-TTY sig-proxy). */
  proxySignal?: (signal: NodeJS.Signals) => Promise<void>;
}

export type SessionEnd = 'ended' | 'detached';

const PROXIED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** The terminal size of `io.stdout`, [rows, columns], when it is a terminal. */
export function terminalSize(io: CliIo): [number, number] | undefined {
  const out = io.stdout as CliIo['stdout'] & { rows?: number };
  if (!out.isTTY || !out.rows || !out.columns) return undefined;
  return [out.rows, out.columns];
}

/** Run the session until the output ends or the user detaches. */
export async function runSession(opts: SessionOptions): Promise<SessionEnd> {
  const { conn, io } = opts;
  const socket = conn.socket;
  const tty = opts.tty ?? conn.contentType === RAW_STREAM;
  const stdin = io.stdin;
  const raw = opts.stdin && tty && stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const scanner = raw ? new DetachScanner(opts.detachKeys ?? parseDetachKeys(DEFAULT_DETACH_KEYS)) : undefined;
  let detached = false;
  const cleanups: (() => void)[] = [];

  if (raw) {
    stdin.setRawMode?.(true);
    cleanups.push(() => stdin.setRawMode?.(false));
  }
  if (opts.resize) {
    const resize = opts.resize;
    const apply = (): void => {
      const size = terminalSize(io);
      if (size) resize(size[0], size[1]).catch(() => undefined);
    };
    apply();
    io.stdout.on('resize', apply);
    cleanups.push(() => io.stdout.off('resize', apply));
  }
  if (opts.proxySignal && !tty) {
    const proxy = opts.proxySignal;
    for (const sig of PROXIED_SIGNALS) {
      const handler = (): void => void proxy(sig).catch(() => undefined);
      process.on(sig, handler);
      cleanups.push(() => process.off(sig, handler));
    }
  }

  if (opts.stdin) {
    const onData = (chunk: Buffer | string): void => {
      let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (scanner) {
        const r = scanner.push(data);
        data = r.forward;
        if (r.detach) {
          if (data.length > 0 && socket.writable) socket.write(data);
          detached = true;
          socket.destroy();
          return;
        }
      }
      if (data.length > 0 && socket.writable && !socket.write(data)) {
        stdin.pause();
        socket.once('drain', () => stdin.resume());
      }
    };
    // Half-close: the engine sees the end of stdin, the output keeps coming.
    const onEnd = (): void => {
      if (socket.writable) socket.end();
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
    cleanups.push(() => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    });
  } else {
    // Nothing to send: tell the engine now.
    socket.end();
  }

  try {
    if (tty) await copyRaw(socket, io.stdout);
    else await demuxStream(socket, io.stdout, io.stderr);
  } catch (err) {
    if (!detached) {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code !== 'ECONNRESET' && code !== 'EPIPE') throw err;
    }
  } finally {
    for (const c of cleanups.reverse()) c();
    socket.destroy();
  }
  return detached ? 'detached' : 'ended';
}
