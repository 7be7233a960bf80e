/**
 * Per-container monitor: conmon (2.1) driving runc. conmon runs `runc create`, holds the
 * container's stdio (pipes, or the pty with a terminal), writes the k8s-file log, records the
 * exit code, and serves an attach socket and a control FIFO. It daemonizes into its own session,
 * so it outlives berthd (restart or kill -9); a new berthd picks the container up from the files
 * in its state dir. Nothing here keeps in-memory state that matters: every method takes stateDir.
 *
 * stateDir (per container, created 0700) holds:
 *   monitor.json    what we started: id, bundle, runtime, runtime root, pids and their start times
 *   conmon.pid      conmon's pid (conmon -P)
 *   container.pid   the container's init pid (conmon -p, written by runc)
 *   exit            the exit code, written by conmon (atomically: temp + rename) when the container
 *                   exits; 128+N when killed by signal N (SIGKILL: 137) (conmon --persist-dir)
 *   oom             present when conmon saw an OOM kill in the container's cgroup
 *   conmon.log      conmon's own stdout/stderr (its errors), not the container's output
 * The bundle dir gets conmon's `attach` socket and `ctl`/`winsz` FIFOs (conmon always puts them
 * there); pass the same dir as bundle and stateDir to keep everything together.
 *
 * conmon protocol details used here (from conmon's docs and observed on 2.1.6):
 *  - sync pipe: fd named by $_OCI_SYNCPIPE; after `runc create` conmon writes one JSON line:
 *    {"data": <container pid>} or {"data": -1, "message": "<runc's stderr>"}. Nothing else is
 *    written for a container (not the exit code), so we close our end after that line.
 *  - ctl FIFO: "<type> <a> <b>\n"; type 1 = resize the tty to a rows, b cols; type 2 = reopen
 *    the log file (after it was moved away).
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants as fsc, promises as fsp, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, conflict, invalid, isErrno, notFound } from '../common/errors.js';
import { atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';
import { traceStage } from '../common/trace.js';
import { connectAttach, type AttachSession } from './monitor/attach.js';
import { readLog, type LogEntry, type ReadLogOptions } from './monitor/logfile.js';
import { startExec, type ExecOptions, type ExecStarted } from './monitor/exec.js';
import { MONITOR_FILES, type MonitorMeta } from './monitor/meta.js';
import type { OciResourceUpdate } from './types.js';
import { isRunning, procStat, readPidFile, runTool, runtimeErrorText, toolEnv } from './monitor/proc.js';

export type { AttachSession } from './monitor/attach.js';
export { MONITOR_FILES, type MonitorMeta } from './monitor/meta.js';
export type { ExecOptions, ExecStarted } from './monitor/exec.js';
export { ATTACH_PIPE_STDERR, ATTACH_PIPE_STDOUT, STDIN_PACKET_MAX } from './monitor/attach.js';
export { formatLogTime, LineJoiner, parseLogRecord, parseLogTime, readLog } from './monitor/logfile.js';
export type { LogEntry, LogRecord, LogStream, ReadLogOptions } from './monitor/logfile.js';

export interface MonitorStartOptions {
  /** Container id as runc knows it: [A-Za-z0-9_.+-], at most 1024 chars. */
  id: string;
  /** OCI bundle dir (config.json); conmon also puts its attach socket and ctl FIFO here. */
  bundle: string;
  /** Path to runc. */
  runtime: string;
  /** runc --root: where runc keeps container state. */
  runtimeRoot: string;
  /** Per-container dir for pid files, the exit file and monitor.json. */
  stateDir: string;
  /** The container log (k8s-file format). */
  logPath: string;
  /** conmon --log-size-max: past this many bytes conmon truncates the log and starts over. */
  logMaxSize?: number;
  /** Keep no log at all (Docker's `none` log driver): conmon's `none` driver, logPath is not written. */
  noLog?: boolean;
  /** Allocate a pty (config.json must say process.terminal: true). */
  terminal: boolean;
  /** Keep a stdin pipe open that attach clients can write to. */
  stdin: boolean;
  /** Keep the container's stdin open when an attached client disconnects (conmon --leave-stdin-open). */
  leaveStdinOpen?: boolean;
  /** More global runc arguments (passed before the subcommand), e.g. ['--systemd-cgroup']. */
  runtimeArgs?: string[];
  /** conmon --exit-dir: also write the exit code to <exitDir>/<id> (one dir a daemon can watch for all containers). */
  exitDir?: string;
  /** conmon --log-level for conmon.log (default: conmon's own, errors only). */
  conmonLogLevel?: 'error' | 'warning' | 'info' | 'debug' | 'trace';
  /** Give up on `runc create` after this long (then conmon is killed). Default 60 s. */
  createTimeoutMs?: number;
}

export interface MonitorStarted {
  /** The container's init pid (host pid namespace). */
  pid: number;
  conmonPid: number;
}

export interface MonitorState {
  meta: MonitorMeta;
  pid?: number;
  conmonPid?: number;
  conmonRunning: boolean;
  containerRunning: boolean;
  exitCode?: number;
  oomKilled: boolean;
  /**
   * exited: the exit file is there. running: conmon is alive (the container may still be only
   * created, if startCreated() was not called). lost: conmon is gone without recording an exit.
   */
  status: 'running' | 'exited' | 'lost';
}

export interface WaitExitOptions {
  signal?: AbortSignal;
  /** Poll interval backing fs.watch (which can miss events or be unavailable). Default 500 ms. */
  pollMs?: number;
}

// The state dir lives under the exec root, which a reboot clears: no fsync needed (see atomicWrite).
const VOLATILE = { durable: false };
const ID_RE = /^[A-Za-z0-9_+.-]{1,1024}$/;
const CONMON_DEFAULT = '/usr/bin/conmon';

export class ConmonMonitor {
  readonly conmonPath: string;

  constructor(opts: { conmonPath?: string } = {}) {
    this.conmonPath = opts.conmonPath ?? CONMON_DEFAULT;
  }

  /** create() then startCreated(); if starting fails the container is removed again. */
  async start(opts: MonitorStartOptions): Promise<MonitorStarted> {
    const started = await this.create(opts);
    try {
      await this.startCreated(opts.stateDir);
    } catch (err) {
      await this.cleanupFailed(opts.stateDir).catch(() => undefined);
      throw err;
    }
    return started;
  }

  /**
   * Launches conmon (detached: own session, reparented to init after its double fork) and waits
   * for `runc create` to finish. The container is then "created": its init process exists but
   * has not run the user's program yet, so an attach made now sees all of its output. On
   * failure nothing is left running and the error carries runc's message.
   */
  async create(opts: MonitorStartOptions): Promise<MonitorStarted> {
    validate(opts);
    const stateDir = opts.stateDir;
    await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.dirname(opts.logPath), { recursive: true });
    const previous = await readJsonIfExists<MonitorMeta>(path.join(stateDir, MONITOR_FILES.meta));
    if (previous?.conmonPid !== undefined && (await isRunning(previous.conmonPid, previous.conmonStartTime))) {
      throw conflict(`a monitor (conmon ${previous.conmonPid}) is still running for ${stateDir}`, 'MONITOR_RUNNING');
    }
    // Results of an earlier run in the same dir would be mistaken for this one's.
    for (const f of [MONITOR_FILES.exit, MONITOR_FILES.oom, MONITOR_FILES.conmonPid, MONITOR_FILES.containerPid]) {
      await fsp.rm(path.join(stateDir, f), { force: true });
    }
    const meta: MonitorMeta = {
      version: 1,
      id: opts.id,
      bundle: opts.bundle,
      runtime: opts.runtime,
      runtimeRoot: opts.runtimeRoot,
      runtimeArgs: opts.runtimeArgs ?? [],
      logPath: opts.logPath,
      terminal: opts.terminal,
      stdin: opts.stdin,
      leaveStdinOpen: opts.leaveStdinOpen ?? false,
      createdAt: new Date().toISOString(),
    };
    await atomicWriteJson(path.join(stateDir, MONITOR_FILES.meta), meta, VOLATILE);

    const args = conmonArgs(opts);
    traceStage(opts.id, 'monitor:prepared');
    const logFh = await fsp.open(path.join(stateDir, MONITOR_FILES.conmonLog), 'w', 0o600);
    let reply: SyncReply;
    try {
      reply = await this.spawnConmon(args, logFh.fd, opts.createTimeoutMs ?? 60_000, stateDir);
    } finally {
      await logFh.close();
    }

    traceStage(opts.id, 'monitor:runtime-replied');
    if (reply.kind !== 'pid') {
      await this.cleanupFailed(stateDir).catch(() => undefined);
      const detail = reply.kind === 'error' ? runtimeErrorText(reply.message) : reply.message;
      const conmonLog = await tail(path.join(stateDir, MONITOR_FILES.conmonLog));
      throw new BerthError(
        'system',
        reply.kind === 'error'
          ? `OCI runtime create failed: ${detail || 'runc reported no error text'}`
          : `${detail}${conmonLog ? `\nconmon: ${conmonLog}` : ''}`,
        { code: reply.kind === 'error' ? 'RUNTIME_CREATE_FAILED' : 'MONITOR_FAILED', cause: new Error(reply.message) },
      );
    }

    const conmonPid = await readPidFile(path.join(stateDir, MONITOR_FILES.conmonPid), 2000);
    const pid = reply.pid;
    meta.pid = pid;
    meta.pidStartTime = (await procStat(pid))?.startTime;
    if (conmonPid !== undefined) {
      meta.conmonPid = conmonPid;
      meta.conmonStartTime = (await procStat(conmonPid))?.startTime;
    }
    await atomicWriteJson(path.join(stateDir, MONITOR_FILES.meta), meta, VOLATILE);
    if (conmonPid === undefined) {
      await this.cleanupFailed(stateDir).catch(() => undefined);
      throw new BerthError('system', 'conmon did not write its pid file', { code: 'MONITOR_FAILED' });
    }
    return { pid, conmonPid };
  }

  /** `runc start` for a container made by create(). */
  async startCreated(stateDir: string): Promise<void> {
    const meta = await this.meta(stateDir);
    const r = await this.runtime(meta, ['start', meta.id]);
    if (r.code !== 0) {
      throw new BerthError('system', `OCI runtime start failed: ${runtimeErrorText(r.stderr) || `exit ${r.code}`}`, {
        code: 'RUNTIME_START_FAILED',
      });
    }
  }

  /**
   * Runs a process in the running container whose state dir is stateDir, under a conmon of its
   * own (see monitor/exec.ts); the session's files go to opts.stateDir, on which waitExit(),
   * state(), exitCode() and resize() then work as for a container.
   */
  async exec(stateDir: string, opts: ExecOptions): Promise<ExecStarted> {
    const meta = await this.meta(stateDir);
    return startExec(this.conmonPath, meta, opts);
  }

  /** Connects to the container's attach socket (see AttachSession). */
  async attach(stateDir: string): Promise<AttachSession> {
    const meta = await this.meta(stateDir);
    const st = await this.state(stateDir);
    if (st.status !== 'running') throw conflict(`container ${meta.id} is not running`, 'NOT_RUNNING');
    return connectAttach(path.join(meta.bundle, 'attach'));
  }

  /** Sets the container's tty size (terminal containers; conmon ignores it otherwise). */
  async resize(stateDir: string, rows: number, cols: number): Promise<void> {
    for (const [name, v] of [
      ['rows', rows],
      ['cols', cols],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw invalid(`tty ${name} must be an integer in 0..65535, got ${v}`);
    }
    await this.ctl(stateDir, `1 ${rows} ${cols}\n`);
  }

  /** Makes conmon reopen the log file (after it was moved away, e.g. for rotation). */
  async reopenLog(stateDir: string): Promise<void> {
    await this.ctl(stateDir, '2 0 0\n');
  }

  /** The recorded exit code, or undefined while the container has not exited. */
  async exitCode(stateDir: string): Promise<number | undefined> {
    let text: string;
    try {
      text = await fsp.readFile(path.join(stateDir, MONITOR_FILES.exit), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    const n = Number.parseInt(text.trim(), 10);
    return Number.isNaN(n) ? undefined : n;
  }

  async oomKilled(stateDir: string): Promise<boolean> {
    try {
      await fsp.access(path.join(stateDir, MONITOR_FILES.oom));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Resolves with the exit code once conmon records it. Rejects if conmon is gone without
   * recording one (killed, crashed), or when the signal aborts.
   */
  waitExit(stateDir: string, opts: WaitExitOptions = {}): Promise<number> {
    const pollMs = opts.pollMs ?? 500;
    return new Promise<number>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
        return;
      }
      let done = false;
      let watcher: FSWatcher | undefined;
      let checking = false;
      let again = false;
      const finish = (err: Error | undefined, code?: number): void => {
        if (done) return;
        done = true;
        watcher?.close();
        clearInterval(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(code as number);
      };
      const onAbort = (): void => finish(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
      const check = async (withLiveness: boolean): Promise<void> => {
        if (done) return;
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          const code = await this.exitCode(stateDir);
          if (code !== undefined) return finish(undefined, code);
          if (withLiveness) {
            const meta = await this.meta(stateDir);
            const conmonPid = meta.conmonPid ?? (await readPidFile(path.join(stateDir, MONITOR_FILES.conmonPid), 0));
            if (!(await isRunning(conmonPid, meta.conmonPid === conmonPid ? meta.conmonStartTime : undefined))) {
              // conmon writes the exit file before it exits: look once more.
              const late = await this.exitCode(stateDir);
              if (late !== undefined) return finish(undefined, late);
              return finish(
                new BerthError('system', `container ${meta.id}: conmon is gone and recorded no exit code`, {
                  code: 'MONITOR_LOST',
                }),
              );
            }
          }
        } catch (err) {
          return finish(err as Error);
        } finally {
          checking = false;
        }
        if (again) {
          again = false;
          void check(false);
        }
      };
      opts.signal?.addEventListener('abort', onAbort);
      try {
        watcher = watch(stateDir, { persistent: true }, (_ev, name) => {
          if (name === null || name === MONITOR_FILES.exit) void check(false);
        });
        watcher.on('error', () => {
          watcher?.close();
          watcher = undefined;
        });
      } catch {
        watcher = undefined; // inotify unavailable: polling alone
      }
      const timer = setInterval(() => void check(true), pollMs);
      void check(true);
    });
  }

  /** Everything a (re)started daemon needs to know, from the files in stateDir. */
  async state(stateDir: string): Promise<MonitorState> {
    const meta = await this.meta(stateDir);
    const conmonPid = meta.conmonPid ?? (await readPidFile(path.join(stateDir, MONITOR_FILES.conmonPid), 0));
    const pid = meta.pid ?? (await readPidFile(path.join(stateDir, MONITOR_FILES.containerPid), 0));
    const conmonRunning = await isRunning(conmonPid, meta.conmonPid === conmonPid ? meta.conmonStartTime : undefined);
    const containerRunning = await isRunning(pid, meta.pid === pid ? meta.pidStartTime : undefined);
    const exitCode = await this.exitCode(stateDir);
    return {
      meta,
      pid,
      conmonPid,
      conmonRunning,
      containerRunning,
      exitCode,
      oomKilled: await this.oomKilled(stateDir),
      status: exitCode !== undefined ? 'exited' : conmonRunning ? 'running' : 'lost',
    };
  }

  /** `runc kill` (all: every process in the container, not just init). */
  async kill(stateDir: string, signal: NodeJS.Signals | number = 'SIGKILL', opts: { all?: boolean } = {}): Promise<void> {
    const meta = await this.meta(stateDir);
    const sig = typeof signal === 'number' ? String(signal) : signal;
    const r = await this.runtime(meta, ['kill', ...(opts.all ? ['--all'] : []), meta.id, sig]);
    if (r.code !== 0) {
      const text = runtimeErrorText(r.stderr);
      if (/not running|does not exist|process already finished/i.test(text)) {
        throw conflict(`container ${meta.id} is not running: ${text}`, 'NOT_RUNNING');
      }
      throw new BerthError('system', `OCI runtime kill failed: ${text || `exit ${r.code}`}`);
    }
  }

  /** `runc pause` / `runc resume`: freezes or thaws every process of the container (cgroup freezer). */
  async pause(stateDir: string): Promise<void> {
    await this.freezer(stateDir, 'pause');
  }

  async resume(stateDir: string): Promise<void> {
    await this.freezer(stateDir, 'resume');
  }

  private async freezer(stateDir: string, verb: 'pause' | 'resume'): Promise<void> {
    const meta = await this.meta(stateDir);
    const r = await this.runtime(meta, [verb, meta.id]);
    if (r.code !== 0) {
      const text = runtimeErrorText(r.stderr);
      if (/not running|does not exist|stopped/i.test(text)) throw conflict(`container ${meta.id} is not running: ${text}`, 'NOT_RUNNING');
      throw new BerthError('system', `OCI runtime ${verb} failed: ${text || `exit ${r.code}`}`);
    }
  }

  /**
   * `runc update --resources`: new cgroup limits for a running container (zero values leave a
   * limit as it is). A value the kernel refuses (a memory limit below what the container uses)
   * is the caller's mistake: 400 with runc's words.
   */
  async update(stateDir: string, resources: OciResourceUpdate): Promise<void> {
    const meta = await this.meta(stateDir);
    const file = path.join(stateDir, 'resources.json');
    await atomicWriteJson(file, resources);
    try {
      const r = await this.runtime(meta, ['update', '--resources', file, meta.id]);
      if (r.code !== 0) {
        const text = runtimeErrorText(r.stderr) || `exit ${r.code}`;
        if (/not running|does not exist|stopped/i.test(text)) throw conflict(`container ${meta.id} is not running: ${text}`, 'NOT_RUNNING');
        // runc 1.1 reports the refusal last, after a note about restoring the old limits.
        throw invalid(text.split('\n').pop() as string, 'RUNTIME_UPDATE_FAILED');
      }
    } finally {
      await fsp.rm(file, { force: true });
    }
  }

  /**
   * `runc delete` (force: kill it first if running). Then makes sure conmon is gone: it exits by
   * itself once the container is; after `graceMs` it is killed.
   */
  async remove(stateDir: string, opts: { force?: boolean; graceMs?: number } = {}): Promise<void> {
    const meta = await this.meta(stateDir);
    const r = await this.runtime(meta, ['delete', ...(opts.force ? ['--force'] : []), meta.id]);
    if (r.code !== 0) {
      const text = runtimeErrorText(r.stderr);
      if (!/does not exist/i.test(text)) {
        if (!opts.force && /not stopped|running|created|paused/i.test(text)) {
          throw conflict(`cannot remove container ${meta.id}: ${text}`, 'NOT_STOPPED');
        }
        throw new BerthError('system', `OCI runtime delete failed: ${text || `exit ${r.code}`}`);
      }
    }
    await this.reapConmon(stateDir, meta, opts.graceMs ?? 3000);
  }

  /** The container log as lines (see readLog in monitor/logfile.ts). */
  readLog(logPath: string, opts?: ReadLogOptions): AsyncGenerator<LogEntry> {
    return readLog(logPath, opts);
  }

  async meta(stateDir: string): Promise<MonitorMeta> {
    const meta = await readJsonIfExists<MonitorMeta>(path.join(stateDir, MONITOR_FILES.meta));
    if (!meta) throw notFound(`no container monitor state in ${stateDir}`, 'NO_MONITOR_STATE');
    return meta;
  }

  // ------------------------------------------------------------------ internals

  private async runtime(meta: MonitorMeta, args: string[]): ReturnType<typeof runTool> {
    try {
      return await runTool(meta.runtime, ['--root', meta.runtimeRoot, ...meta.runtimeArgs, ...args]);
    } catch (err) {
      throw new BerthError('system', `cannot run the OCI runtime ${meta.runtime}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async ctl(stateDir: string, message: string): Promise<void> {
    const meta = await this.meta(stateDir);
    const fifo = path.join(meta.bundle, 'ctl');
    let fh;
    try {
      // Non-blocking: with no reader (conmon gone) this fails with ENXIO instead of hanging.
      fh = await fsp.open(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK);
    } catch (err) {
      if (isErrno(err, 'ENXIO') || isErrno(err, 'ENOENT')) {
        throw conflict(`container ${meta.id} is not running (no conmon on ${fifo})`, 'NOT_RUNNING');
      }
      throw err;
    }
    try {
      await fh.write(message);
    } finally {
      await fh.close();
    }
  }

  private spawnConmon(args: string[], logFd: number, timeoutMs: number, stateDir: string): Promise<SyncReply> {
    return new Promise<SyncReply>((resolve) => {
      let settled = false;
      const chunks: Buffer[] = [];
      const child = spawn(this.conmonPath, args, {
        detached: true,
        cwd: '/',
        // fd 3 is the sync pipe (Node makes it a unix socketpair; conmon only write()s to it).
        stdio: ['ignore', logFd, logFd, 'pipe'],
        env: toolEnv({ _OCI_SYNCPIPE: '3' }),
      });
      const sync = child.stdio[3] as Readable;
      let conmonExit = '';
      const settle = (r: SyncReply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sync.destroy();
        child.unref();
        resolve(r);
      };
      const timer = setTimeout(() => {
        void (async () => {
          // Kill conmon (the daemonized one, if it got that far) so nothing is left behind.
          try {
            const pid = await readPidFile(path.join(stateDir, MONITOR_FILES.conmonPid), 0);
            if (pid !== undefined && (await isRunning(pid))) process.kill(pid, 'SIGKILL');
            child.kill('SIGKILL');
          } catch {
            /* already gone */
          }
          settle({ kind: 'monitor', message: `conmon did not report within ${timeoutMs} ms` });
        })();
      }, timeoutMs);
      child.on('error', (err) => {
        settle({ kind: 'monitor', message: `cannot run conmon (${this.conmonPath}): ${err.message}` });
      });
      child.on('exit', (code, signal) => {
        conmonExit = signal ? `killed by ${signal}` : `exited ${code}`;
      });
      sync.on('error', () => undefined);
      sync.on('data', (b: Buffer) => {
        chunks.push(b);
        const all = Buffer.concat(chunks);
        const nl = all.indexOf(0x0a);
        if (nl >= 0) settle(parseSync(all.subarray(0, nl).toString('utf8')));
      });
      sync.on('close', () => {
        const all = Buffer.concat(chunks).toString('utf8').trim();
        if (all) settle(parseSync(all));
        // The first conmon process exits before the daemonized one closes the pipe; give the
        // exit event a moment so the message can say how conmon ended.
        else setTimeout(() => settle({ kind: 'monitor', message: `conmon ${conmonExit || 'exited'} without reporting a container pid` }), 50);
      });
    });
  }

  /** After a failed create/start: no container, no conmon, no stale sockets. */
  private async cleanupFailed(stateDir: string): Promise<void> {
    const meta = await this.meta(stateDir);
    await this.runtime(meta, ['delete', '--force', meta.id]).catch(() => undefined);
    await this.reapConmon(stateDir, meta, 2000);
    for (const f of ['attach', 'ctl', 'winsz']) await fsp.rm(path.join(meta.bundle, f), { force: true });
  }

  private async reapConmon(stateDir: string, meta: MonitorMeta, graceMs: number): Promise<void> {
    const pid = meta.conmonPid ?? (await readPidFile(path.join(stateDir, MONITOR_FILES.conmonPid), 0));
    if (pid === undefined) return;
    const startTime = meta.conmonPid === pid ? meta.conmonStartTime : undefined;
    const deadline = Date.now() + graceMs;
    while (await isRunning(pid, startTime)) {
      if (Date.now() >= deadline) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        return;
      }
      await sleep(5);
    }
  }
}

type SyncReply = { kind: 'pid'; pid: number } | { kind: 'error'; message: string } | { kind: 'monitor'; message: string };

function parseSync(line: string): SyncReply {
  try {
    const j = JSON.parse(line) as { data?: unknown; message?: unknown };
    if (typeof j.data === 'number' && j.data > 0) return { kind: 'pid', pid: j.data };
    return { kind: 'error', message: typeof j.message === 'string' ? j.message : line };
  } catch {
    return { kind: 'monitor', message: `conmon sent an unreadable sync message: ${line}` };
  }
}

function conmonArgs(o: MonitorStartOptions): string[] {
  const sd = o.stateDir;
  const args = [
    '--api-version', '1',
    '--cid', o.id,
    '--cuuid', o.id,
    '--name', o.id,
    '--runtime', o.runtime,
    '--bundle', o.bundle,
    '--container-pidfile', path.join(sd, MONITOR_FILES.containerPid),
    '--conmon-pidfile', path.join(sd, MONITOR_FILES.conmonPid),
    '--log-path', o.noLog ? `none:${o.logPath}` : `k8s-file:${o.logPath}`,
    // The exit file lands in <persist-dir>/exit.
    '--persist-dir', sd,
    // Attach socket at <bundle>/attach, no symlink dir (conmon binds through /proc/self/fd, so
    // long paths work).
    '--full-attach',
    `--runtime-arg=--root`,
    `--runtime-arg=${o.runtimeRoot}`,
  ];
  for (const a of o.runtimeArgs ?? []) args.push(`--runtime-arg=${a}`);
  if (o.exitDir !== undefined) args.push('--exit-dir', o.exitDir);
  if (o.logMaxSize !== undefined && !o.noLog) args.push('--log-size-max', String(o.logMaxSize));
  if (o.terminal) args.push('--terminal');
  if (o.stdin) args.push('--stdin');
  if (o.leaveStdinOpen) args.push('--leave-stdin-open');
  if (o.conmonLogLevel) args.push('--log-level', o.conmonLogLevel);
  return args;
}

function validate(o: MonitorStartOptions): void {
  if (!ID_RE.test(o.id)) throw invalid(`invalid container id for the runtime: ${JSON.stringify(o.id)}`);
  for (const [name, p] of [
    ['bundle', o.bundle],
    ['runtime', o.runtime],
    ['runtimeRoot', o.runtimeRoot],
    ['stateDir', o.stateDir],
    ['logPath', o.logPath],
  ] as const) {
    if (!path.isAbsolute(p)) throw invalid(`${name} must be an absolute path, got ${JSON.stringify(p)}`);
  }
  if (o.exitDir !== undefined && !path.isAbsolute(o.exitDir)) throw invalid('exitDir must be an absolute path');
  if (o.logMaxSize !== undefined && (!Number.isInteger(o.logMaxSize) || o.logMaxSize <= 0)) {
    throw invalid('logMaxSize must be a positive integer');
  }
}

async function tail(file: string, bytes = 2000): Promise<string> {
  try {
    const text = await fsp.readFile(file, 'utf8');
    return text.slice(-bytes).trim();
  } catch {
    return '';
  }
}
