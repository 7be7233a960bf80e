/**
 * What a CLI verb is, the context it runs in, and small I/O helpers shared by
 * the verbs (filters, prompts, copying streams with backpressure).
 */
import type { Readable, Writable } from 'node:stream';
import type { EngineClient } from '../client/index.js';
import type { Filters } from '../types/engine-api.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { UsageError } from './args.js';

export interface CliIo {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable;
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  env: NodeJS.ProcessEnv;
}

export interface Context {
  io: CliIo;
  /** The engine address in use. */
  host: string;
  client: EngineClient;
  /** Program name for messages ("berth"). */
  prog: string;
  out(text: string): void;
  err(text: string): void;
}

export interface Command {
  name: string;
  aliases?: string[];
  /** After the command path: "[OPTIONS] NAME[:TAG|@DIGEST]". */
  usage: string;
  description: string;
  flags: FlagSpec[];
  minArgs?: number;
  maxArgs?: number;
  /** Extra help text after the options. */
  notes?: string;
  /**
   * Flags end at the first argument (`run IMAGE ls -l`: `-l` is the
   * container's, not ours), like docker's SetInterspersed(false).
   */
  stopAtFirstArg?: boolean;
  /** Runs without an engine (contexts, the VM): no connection is made first. */
  noEngine?: boolean;
  run(ctx: Context, args: ParsedArgs): Promise<number | void>;
}

export interface CommandGroup {
  name: string;
  description: string;
  commands: Command[];
}

/** `--filter k=v` values → the API's filter map. */
export function parseFilters(values: readonly string[]): Filters {
  const filters: Filters = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): "${v}"`);
    const key = v.slice(0, eq).trim().toLowerCase();
    (filters[key] ??= []).push(v.slice(eq + 1));
  }
  return filters;
}

/** Write a whole readable to a writable, respecting backpressure, without ending the writable. */
export async function copyStream(src: AsyncIterable<Buffer | string>, dest: Writable): Promise<void> {
  for await (const chunk of src) {
    if (!dest.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          dest.off('error', onError);
          resolve();
        };
        const onError = (err: unknown): void => {
          dest.off('drain', onDrain);
          reject(err);
        };
        dest.once('drain', onDrain);
        dest.once('error', onError);
      });
    }
  }
}

/** Read a stream to its end as text. */
export async function readAll(src: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of src) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Read one line from `input` (without its newline). Resolves undefined at end
 * of input. With `hidden`, a TTY input is switched to raw mode so the typed
 * text is not echoed (for passwords).
 */
export function readLine(input: CliIo['stdin'], echo: Writable, opts: { hidden?: boolean } = {}): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const raw = opts.hidden === true && input.isTTY === true && typeof input.setRawMode === 'function';
    let buf = '';
    const finish = (value: string | undefined): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      if (raw) input.setRawMode?.(false);
      input.pause();
      resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      for (let i = 0; i < text.length; i++) {
        const ch = text[i] as string;
        if (ch === '\n' || ch === '\r') {
          if (raw) echo.write('\n');
          // Put back what followed the line for the next reader.
          const rest = text.slice(i + 1).replace(/^\n/, '');
          if (rest) input.unshift(Buffer.from(rest));
          finish(buf);
          return;
        }
        if (raw && ch === '\u0003') {
          echo.write('\n');
          input.setRawMode?.(false);
          reject(new UsageError('interrupted'));
          return;
        }
        if (raw && (ch === '\u007f' || ch === '\b')) {
          buf = buf.slice(0, -1);
          continue;
        }
        if (raw && ch === '\u0004') {
          finish(buf || undefined);
          return;
        }
        buf += ch;
      }
    };
    const onEnd = (): void => finish(buf === '' ? undefined : buf);
    const onError = (err: unknown): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      reject(err);
    };
    if (raw) input.setRawMode?.(true);
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
    input.resume();
  });
}
