/**
 * Exec sessions: a process run in a running container by `runc exec` under a conmon of its own
 * (`conmon --exec`), so its pty, its stdio, its exit code and its survival of a daemon restart
 * work exactly as for the container's main process.
 *
 * Each session gets a state dir laid out like a container's (meta.ts): monitor.json, conmon.pid,
 * container.pid (the exec'd process), exit, conmon.log, plus process.json (the OCI process spec
 * given to `runc exec --process`). The dir is also conmon's bundle, so the session's `attach`
 * socket and `ctl` FIFO land there: ConmonMonitor.waitExit/state/resize work on it unchanged.
 *
 * conmon's exec protocol (conmon 2.1.6, --api-version 1; observed):
 *  - fds named by env: _OCI_SYNCPIPE (conmon → us: {"data": <pid>} once `runc exec` started the
 *    process, later {"data": <exit code>}; or {"data": -N, "message": "<runc stderr>"} when
 *    `runc exec` failed), and with --exec-attach _OCI_STARTPIPE (us → conmon) and
 *    _OCI_ATTACHPIPE (conmon → us).
 *  - with --exec-attach: conmon blocks on the start pipe before it forks; then it creates the
 *    attach socket and writes {"data": 0} on the attach pipe, and runs `runc exec` only after a
 *    second write on the start pipe. Connecting in between means no output is ever missed.
 *  - conmon writes <persist-dir>/exit when the process exits (128+N for signal N), as for a container.
 *  - `--log-path none:` keeps exec output out of any log (as dockerd does).
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Duplex, Readable } from 'node:stream';
import { BerthError } from '../../common/errors.js';
import { atomicWrite, atomicWriteJson } from '../../common/fsutil.js';
import { serializeSpec } from '../spec.js';
import type { OciProcess } from '../types.js';
import { connectAttach, type AttachSession } from './attach.js';
import { MONITOR_FILES, type MonitorMeta } from './meta.js';
import { isRunning, procStat, readPidFile, runtimeErrorText, toolEnv } from './proc.js';

export const EXEC_PROCESS_FILE = 'process.json';

export interface ExecOptions {
  /** The session's id (conmon --cuuid); [A-Za-z0-9_.+-]. */
  sessionId: string;
  /** Per-session dir (created 0700): conmon's bundle and persist dir. */
  stateDir: string;
  /** What to run; process.terminal must match `terminal`. */
  process: OciProcess;
  /** Allocate a pty (conmon --terminal). */
  terminal: boolean;
  /** Give the process a stdin pipe that the attach session writes to. */
  stdin: boolean;
  /** Connect to the session's output before the process runs and return the AttachSession. */
  attach: boolean;
  /** Give up when conmon has not reported within this long. Default 30 s. */
  timeoutMs?: number;
}

export interface ExecStarted {
  /** The exec'd process (host pid namespace). */
  pid: number;
  conmonPid: number;
  /** Present when options.attach was set. */
  session?: AttachSession;
}

/**
 * Starts an exec session in the container that `container` (its monitor.json) describes. Resolves
 * once the process runs. When `runc exec` fails (no such executable, bad user...) it rejects with
 * code RUNTIME_EXEC_FAILED and Docker's message ("OCI runtime exec failed: ...: unknown"), and
 * conmon is gone.
 */
export async function startExec(conmonPath: string, container: MonitorMeta, o: ExecOptions): Promise<ExecStarted> {
  if (!/^[A-Za-z0-9_+.-]{1,128}$/.test(o.sessionId)) throw new Error(`invalid exec session id ${JSON.stringify(o.sessionId)}`);
  const dir = o.stateDir;
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const processFile = path.join(dir, EXEC_PROCESS_FILE);
  await atomicWrite(processFile, serializeSpec({ ...o.process, terminal: o.terminal }));
  const meta: MonitorMeta = {
    version: 1,
    id: container.id,
    bundle: dir,
    runtime: container.runtime,
    runtimeRoot: container.runtimeRoot,
    runtimeArgs: container.runtimeArgs,
    logPath: '',
    terminal: o.terminal,
    stdin: o.stdin,
    leaveStdinOpen: false,
    createdAt: new Date().toISOString(),
  };
  await atomicWriteJson(path.join(dir, MONITOR_FILES.meta), meta);

  const args = [
    '--api-version', '1',
    '--cid', container.id,
    '--cuuid', o.sessionId,
    '--name', container.id,
    '--runtime', container.runtime,
    '--bundle', dir,
    '--exec',
    '--exec-process-spec', processFile,
    '--container-pidfile', path.join(dir, MONITOR_FILES.containerPid),
    '--conmon-pidfile', path.join(dir, MONITOR_FILES.conmonPid),
    '--log-path', 'none:',
    '--persist-dir', dir,
    '--full-attach',
    '--runtime-arg=--root',
    `--runtime-arg=${container.runtimeRoot}`,
    ...container.runtimeArgs.map((a) => `--runtime-arg=${a}`),
  ];
  if (o.terminal) args.push('--terminal');
  if (o.stdin) args.push('--stdin');
  if (o.attach) args.push('--exec-attach');

  const logFh = await fsp.open(path.join(dir, MONITOR_FILES.conmonLog), 'w', 0o600);
  let child;
  try {
    child = spawn(conmonPath, args, {
      detached: true,
      cwd: '/',
      // 3: sync pipe; with attach, 4: start pipe, 5: attach pipe (Node makes them socketpairs).
      stdio: ['ignore', logFh.fd, logFh.fd, 'pipe', ...(o.attach ? (['pipe', 'pipe'] as const) : [])],
      env: toolEnv({ _OCI_SYNCPIPE: '3', ...(o.attach ? { _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' } : {}) }),
    });
  } finally {
    await logFh.close();
  }
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new BerthError('system', `cannot run conmon (${conmonPath}): ${err.message}`, { code: 'MONITOR_FAILED' }))),
  );
  spawnError.catch(() => undefined);
  child.unref();
  const pipes = child.stdio as unknown as (Duplex | null)[];
  const sync = messages(pipes[3] as Readable);
  const start = o.attach ? (pipes[4] as Duplex) : undefined;
  const attachPipe = o.attach ? messages(pipes[5] as Readable) : undefined;
  let session: AttachSession | undefined;
  const timeoutMs = o.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BerthError('system', `conmon did not report within ${timeoutMs} ms`, { code: 'MONITOR_FAILED' })), timeoutMs);
  });
  const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, timeout, spawnError]);
  try {
    if (start && attachPipe) {
      start.on('error', () => undefined);
      // The first write lets conmon fork; the second (after we connected) lets it run `runc exec`.
      await step(send(start, false));
      const ready = await step(attachPipe.next());
      if (ready === undefined) throw await monitorFailure(dir, 'conmon exited before its attach socket was ready');
      session = await step(connectAttach(path.join(dir, 'attach')));
      await step(send(start, true));
    }
    const reply = await step(sync.next());
    if (reply === undefined) throw await monitorFailure(dir, 'conmon exited without reporting the exec');
    if (reply.data <= 0) {
      throw new BerthError('system', `OCI runtime exec failed: ${runtimeErrorText(reply.message ?? '') || 'runc reported no error text'}: unknown`, {
        code: 'RUNTIME_EXEC_FAILED',
      });
    }
    const conmonPid = await readPidFile(path.join(dir, MONITOR_FILES.conmonPid), 2000);
    if (conmonPid === undefined) throw new BerthError('system', 'conmon did not write its pid file', { code: 'MONITOR_FAILED' });
    meta.pid = reply.data;
    meta.pidStartTime = (await procStat(reply.data))?.startTime;
    meta.conmonPid = conmonPid;
    meta.conmonStartTime = (await procStat(conmonPid))?.startTime;
    await atomicWriteJson(path.join(dir, MONITOR_FILES.meta), meta);
    return { pid: reply.data, conmonPid, ...(session ? { session } : {}) };
  } catch (err) {
    session?.detach();
    // conmon exits by itself after a failed `runc exec`; one that lingers is killed.
    const pid = await readPidFile(path.join(dir, MONITOR_FILES.conmonPid), 0).catch(() => undefined);
    for (let i = 0; i < 100 && pid !== undefined && (await isRunning(pid)); i++) {
      if (i === 20) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await sleep(25);
    }
    throw err;
  } finally {
    clearTimeout(timer);
    // The daemonized conmon keeps the pipes open until it exits; we are done with them.
    for (const s of pipes.slice(3)) s?.destroy();
  }
}

/** One byte on conmon's start pipe (its content does not matter); resolves once written. */
function send(pipe: Duplex, last: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (last) pipe.end('0', () => resolve());
    else pipe.write('0', done);
  });
}

interface PipeMessage {
  data: number;
  message?: string;
}

/** conmon's JSON-lines pipe: next() gives one message, or undefined once the pipe closed. */
function messages(r: Readable): { next(): Promise<PipeMessage | undefined> } {
  let buf = '';
  let closed = false;
  const queue: PipeMessage[] = [];
  const waiters: ((m: PipeMessage | undefined) => void)[] = [];
  const deliver = (): void => {
    while (waiters.length > 0 && (queue.length > 0 || closed)) waiters.shift()?.(queue.shift());
  };
  r.setEncoding('utf8');
  r.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      try {
        const j = JSON.parse(line) as { data?: unknown; message?: unknown };
        queue.push({ data: typeof j.data === 'number' ? j.data : -1, ...(typeof j.message === 'string' ? { message: j.message } : {}) });
      } catch {
        queue.push({ data: -1, message: `conmon sent an unreadable message: ${line}` });
      }
    }
    deliver();
  });
  r.on('error', () => undefined);
  r.on('close', () => {
    closed = true;
    deliver();
  });
  return {
    next: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        deliver();
      }),
  };
}

async function monitorFailure(dir: string, what: string): Promise<BerthError> {
  const log = (await fsp.readFile(path.join(dir, MONITOR_FILES.conmonLog), 'utf8').catch(() => '')).slice(-2000).trim();
  return new BerthError('system', `${what}${log ? `\nconmon: ${log}` : ''}`, { code: 'MONITOR_FAILED' });
}
