/**
 * The terminal stream: an interactive exec with a TTY, as a shell in a container. `bash` when
 * the container has it, `sh` otherwise. Output is pushed as text (decoded as UTF-8 across chunk
 * boundaries); input and resizes come back from the renderer; when the shell exits its exit code
 * is the last message. Closing the stream closes the hijacked connection, which ends the session.
 */
import { StringDecoder } from 'node:string_decoder';
import type { EngineClient, HijackedConnection } from '../../client/index.js';
import type { StreamMessage, TerminalInput } from '../../types/desktop-api.js';
import { invalid } from './errors.js';

export interface TerminalRequest {
  id: string;
  cmd?: string[];
  cols: number;
  rows: number;
}

export interface TerminalSession {
  input(msg: TerminalInput): void;
  close(): void;
  /** Settles when the shell has exited and its code was pushed (or the session failed). */
  done: Promise<void>;
}

/** Between Ctrl-C and Ctrl-D when a terminal is closed, and how long the shell gets to exit. */
const CLOSE_STEP_MS = 100;
const CLOSE_GRACE_MS = 3000;

/** The shell to run: bash when the container has one, else sh. */
export async function pickShell(client: EngineClient, id: string): Promise<string[]> {
  for (const p of ['/bin/bash', '/usr/bin/bash']) {
    const found = await client.containers.statPath(id, p).then(
      () => true,
      () => false,
    );
    if (found) return [p];
  }
  return ['sh'];
}

/** Checks one message from the renderer. */
export function parseTerminalInput(value: unknown): TerminalInput {
  const v = (value ?? {}) as Record<string, unknown>;
  if (v['type'] === 'data' && typeof v['data'] === 'string') return { type: 'data', data: v['data'] };
  const size = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 10_000;
  if (v['type'] === 'resize' && size(v['cols']) && size(v['rows'])) return { type: 'resize', cols: v['cols'], rows: v['rows'] };
  throw invalid('terminal input must be {type:"data", data} or {type:"resize", cols, rows}');
}

/**
 * The exec's exit code. The output can end a moment before the engine records the exit, so a
 * still-running answer is asked again a few times before giving up with -1.
 */
async function exitCode(client: EngineClient, execId: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const info = await client.containers.execInspect(execId);
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 20 * Math.min(i + 1, 10)));
  }
  return -1;
}

export async function openTerminal(
  client: EngineClient,
  req: TerminalRequest,
  push: (msg: StreamMessage<'terminal'>) => void,
): Promise<TerminalSession> {
  const cmd = req.cmd && req.cmd.length > 0 ? req.cmd : await pickShell(client, req.id);
  const execId = await client.containers.execCreate(req.id, {
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    Cmd: cmd,
    Env: ['TERM=xterm-256color'],
    ConsoleSize: [req.rows, req.cols],
  });
  const conn: HijackedConnection = await client.containers.execStart(execId, { tty: true, consoleSize: [req.rows, req.cols] });
  const { socket } = conn;
  const decoder = new StringDecoder('utf8');
  let closed = false;

  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      const data = decoder.write(chunk);
      if (data) push({ type: 'data', data });
    });
    // The engine half-closes when the shell exits (the socket allows half-open streams for stdin's
    // sake): finish our side too, so the connection closes and the exit code is read.
    socket.once('end', () => socket.end());
    socket.once('error', (err) => {
      if (closed) resolve();
      else reject(err);
    });
    socket.once('close', () => {
      const rest = decoder.end();
      if (rest) push({ type: 'data', data: rest });
      if (closed) {
        resolve();
        return;
      }
      exitCode(client, execId).then(
        (code) => {
          push({ type: 'exit', code });
          resolve();
        },
        reject,
      );
    });
  });
  socket.resume();

  return {
    done,
    input(msg) {
      if (closed) return;
      if (msg.type === 'data') socket.write(msg.data);
      else void client.containers.execResize(execId, msg.rows, msg.cols).catch(() => undefined);
    },
    close() {
      if (closed) return;
      closed = true;
      // Docker's API has no way to end an exec, and an engine keeps a TTY exec alive when its
      // client goes. So the shell is asked to go the way a person would: Ctrl-C for whatever runs
      // in the foreground, Ctrl-D for the shell. The connection is dropped once the engine closes
      // it, or after a grace period.
      const send = (key: string): void => {
        if (!socket.destroyed && socket.writable) socket.write(key);
      };
      send('\x03');
      setTimeout(() => send('\x04'), CLOSE_STEP_MS).unref();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    },
  };
}
