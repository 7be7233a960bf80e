/**
 * `docker exec`: the ExecManager owns exec instances (in memory, like dockerd's exec store) from
 * create through start, output streaming, stdin, resize and exit, and publishes the
 * exec_create / exec_start / exec_die container events.
 *
 * Each started exec runs under a conmon of its own (ConmonMonitor.exec, runtime/monitor/exec.ts)
 * with its files in <container exec dir>/exec/<exec id>/. An attached start connects to that
 * conmon before the process runs, so no output is missed, and the stream to the client ends only
 * once the exit code is recorded (the CLI inspects the exec for it right after).
 *
 * The container side comes through ExecHost, a port the container service implements: this
 * module never sees container records. When a container exits, its exec processes die with its
 * PID namespace (their exits are recorded as usual, so an attached CLI still gets its code);
 * containerGone() drops the container's exec instances once it is removed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { BerthError, conflict, errorMessage, invalid, isBerthError, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { buildExecProcess, readContainerProcess } from '../runtime/exec-process.js';
import type { AttachSession, ConmonMonitor } from '../runtime/monitor.js';
import { parseBoundingSet } from '../runtime/spec.js';
import { resolveUser } from '../runtime/user.js';
import { encodeOutput } from './stdcopy.js';
import type { ProbeResult } from './health.js';
import type { AttachSink } from './types.js';

/** What exec needs of a running container. */
export interface ExecTarget {
  id: string;
  /** The container's runtime state dir (OCI bundle with config.json, conmon's files). */
  execDir: string;
  /** The container's root filesystem on the host (for resolving exec users). */
  rootfs: string;
  /** The container's Config.Env. */
  env: string[];
}

/** The port the container service implements for exec. */
export interface ExecHost {
  /** The running container for ref; throws notFound (404) / conflict (409: not running, paused). */
  runningContainer(ref: string): ExecTarget;
  /** Publishes a container event (the host adds name, image and labels). */
  publish(containerId: string, action: string, attrs: Record<string, string>): void;
}

export interface ExecStartOptions {
  detach: boolean;
  /** The start body's Tty: raw output when true, stdcopy framing otherwise (as dockerd). */
  tty: boolean;
  /** [height, width] of the TTY, if the client knows it. */
  consoleSize?: [number, number];
}

/** An attached start: the client's stdin (when the exec has one) and how to let go. */
export interface ExecAttachment {
  stdin?: Writable;
  /**
   * With a TTY and stdin: the exec's detach keys ("" for the default). As in dockerd, typing them
   * ends the client's attachment and leaves the process running; without a TTY they are input.
   */
  detachKeys?: string;
  detach(): void;
}

interface ExecConfig {
  cmd: string[];
  env: string[];
  user: string;
  workingDir: string;
  privileged: boolean;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  detachKeys: string;
  consoleSize?: [number, number];
}

interface ExecInstance {
  id: string;
  containerId: string;
  config: ExecConfig;
  state: 'created' | 'running' | 'exited';
  exitCode?: number;
  pid: number;
  /** Settles once the process runs (or could not be started): resize waits for it. */
  started: Promise<void>;
  markStarted: () => void;
  /** The container went away while this exec ran: drop it once its exit is processed. */
  dropWhenDone: boolean;
  /** Stops watching for the exit (daemon shutdown: the process goes on under its conmon). */
  watchAbort: AbortController;
  session?: AttachSession;
}

/** Finished execs kept per container for `exec inspect` (oldest dropped first). */
const MAX_FINISHED_PER_CONTAINER = 100;

export class ExecManager {
  private readonly execs = new Map<string, ExecInstance>();
  private boundingSet?: Promise<bigint>;

  constructor(
    private readonly o: {
      host: ExecHost;
      monitor: ConmonMonitor;
      log: Logger;
    },
  ) {}

  // ---------------------------------------------------------------- create

  create(ref: string, body: unknown): { Id: string } {
    const config = parseExecConfig(body);
    const target = this.o.host.runningContainer(ref);
    const id = randomBytes(32).toString('hex');
    let markStarted!: () => void;
    const started = new Promise<void>((r) => (markStarted = r));
    this.execs.set(id, {
      id,
      containerId: target.id,
      config,
      state: 'created',
      pid: 0,
      started,
      markStarted,
      dropWhenDone: false,
      watchAbort: new AbortController(),
    });
    this.o.host.publish(target.id, `exec_create: ${commandText(config.cmd)}`, { execID: id });
    return { Id: id };
  }

  // ---------------------------------------------------------------- start

  /**
   * Starts the exec. Detached: resolves once the process runs. Attached: `open` is called once
   * the request is known to be good (errors until then are plain HTTP errors); from then on,
   * failures are reported in the stream as dockerd does, and the sink ends after the exit code
   * is recorded.
   */
  async start(id: string, opts: ExecStartOptions, open: (tty: boolean) => AttachSink): Promise<ExecAttachment | undefined> {
    const ex = this.get(id);
    if (ex.state === 'exited') throw conflict(`Error: Exec command ${id} has already run`);
    if (ex.state === 'running') throw conflict(`Error: Exec command ${id} is already running`);
    const target = this.o.host.runningContainer(ex.containerId);
    ex.state = 'running';
    this.o.host.publish(ex.containerId, `exec_start: ${commandText(ex.config.cmd)}`, { execID: id });
    if (opts.consoleSize) ex.config.consoleSize = opts.consoleSize;
    if (opts.detach) {
      try {
        await this.launch(ex, target, false);
      } catch (err) {
        throw this.failed(ex, err);
      }
      return undefined;
    }
    return this.startAttached(ex, target, opts.tty, open(opts.tty));
  }

  private startAttached(ex: ExecInstance, target: ExecTarget, raw: boolean, sink: AttachSink): ExecAttachment {
    const c = ex.config;
    let session: AttachSession | undefined;
    let clientGone = false;
    const pending: Buffer[] = [];
    let pendingEnd = false;
    const stdin = c.attachStdin
      ? new Writable({
          write: (chunk: Buffer, _enc, cb) => {
            if (session) session.stdin.write(chunk, () => cb());
            else {
              pending.push(chunk);
              cb();
            }
          },
          final: (cb) => {
            if (session) session.stdin.end();
            else pendingEnd = true;
            cb();
          },
        })
      : undefined;
    void (async () => {
      try {
        session = (await this.launch(ex, target, true)).session;
      } catch (err) {
        const e = this.failed(ex, err);
        sink.write(encodeOutput(raw, 'stdout', Buffer.from(`${e.message}\r\n`)));
        sink.end();
        return;
      }
      if (!session) return;
      const s = session;
      if (clientGone) {
        // The client left before the process ran: what it typed still goes in, then the exec
        // goes on by itself, watched for its exit like a detached one.
        const typed = pending.splice(0);
        if (typed.length > 0) s.stdin.write(Buffer.concat(typed), () => s.detach());
        else s.detach();
        sink.end();
        void this.watch(ex, target, undefined);
        return;
      }
      if (c.attachStdout) s.stdout.on('data', (b: Buffer) => sink.write(encodeOutput(raw, 'stdout', b)));
      if (c.attachStderr) s.stderr.on('data', (b: Buffer) => sink.write(encodeOutput(raw, 'stderr', b)));
      for (const b of pending.splice(0)) s.stdin.write(b);
      if (pendingEnd || !c.attachStdin) s.stdin.end();
      // The stream ends in finish(), once the exit code is known.
      void this.watch(ex, target, s).finally(() => sink.end());
    })();
    return {
      ...(stdin ? { stdin } : {}),
      ...(stdin && c.tty ? { detachKeys: c.detachKeys } : {}),
      detach: () => {
        clientGone = true;
        session?.detach();
      },
    };
  }

  /** Builds the process spec and starts it under conmon; watches detached execs for their exit. */
  private async launch(ex: ExecInstance, target: ExecTarget, attach: boolean): Promise<{ session?: AttachSession }> {
    const c = ex.config;
    const { process: ctrProcess, hostname } = await readContainerProcess(target.execDir);
    const user = c.user ? await resolveUser(target.rootfs, c.user) : undefined;
    const spec = buildExecProcess({
      container: ctrProcess,
      hostname,
      containerEnv: target.env,
      args: c.cmd,
      env: c.env,
      tty: c.tty,
      workingDir: c.workingDir,
      ...(user ? { user } : {}),
      privileged: c.privileged,
      boundingSet: await this.daemonBoundingSet(),
      ...(c.consoleSize ? { consoleSize: { height: c.consoleSize[0], width: c.consoleSize[1] } } : {}),
    });
    const started = await this.o.monitor.exec(target.execDir, {
      sessionId: ex.id,
      stateDir: this.dir(target, ex),
      process: spec,
      terminal: c.tty,
      stdin: attach && c.attachStdin,
      attach,
    });
    ex.pid = started.pid;
    ex.markStarted();
    if (!attach) void this.watch(ex, target, undefined);
    return started.session ? { session: started.session } : {};
  }

  /** Waits for the exit code, lets the last output through, records the exit and publishes exec_die. */
  private async watch(ex: ExecInstance, target: ExecTarget, session: AttachSession | undefined): Promise<void> {
    const dir = this.dir(target, ex);
    let code: number;
    ex.session = session;
    try {
      code = await this.o.monitor.waitExit(dir, { pollMs: 1000, signal: ex.watchAbort.signal });
    } catch (err) {
      if (ex.watchAbort.signal.aborted) return;
      this.o.log.warn('lost track of an exec', { id: ex.id, container: ex.containerId, err: errorMessage(err) });
      code = 255;
    }
    if (session) {
      // conmon closes the attach socket right after recording the exit.
      await Promise.race([session.closed, sleep(2000)]);
      session.detach();
      ex.session = undefined;
    }
    ex.exitCode = code;
    ex.state = 'exited';
    ex.pid = 0;
    this.o.host.publish(ex.containerId, 'exec_die', { execID: ex.id, exitCode: String(code) });
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    if (ex.dropWhenDone) this.execs.delete(ex.id);
    else this.trimFinished(ex.containerId);
  }

  /**
   * A start that failed: the exec is finished with dockerd's exit code (127: command not found,
   * 126: cannot be run). Bad commands and users become 400s for a detached start.
   */
  private failed(ex: ExecInstance, err: unknown): BerthError {
    const msg = errorMessage(err);
    const notFoundCmd = /executable file not found|no such file or directory/i.test(msg);
    ex.exitCode = notFoundCmd ? 127 : 126;
    ex.state = 'exited';
    ex.markStarted();
    this.o.log.info('exec failed to start', { id: ex.id, container: ex.containerId, err: msg });
    if (isBerthError(err) && (err.kind === 'invalid' || err.code === 'RUNTIME_EXEC_FAILED')) {
      return new BerthError('invalid', msg, { code: err.code });
    }
    return isBerthError(err) ? err : new BerthError('system', msg, { cause: err });
  }

  // ---------------------------------------------------------------- health probes

  /**
   * Runs a HEALTHCHECK probe (ProbeRunner, health.ts): an exec like `docker exec` (same events),
   * with stdout and stderr collected up to maxOutput bytes, killed when `signal` aborts, and
   * forgotten once done (as dockerd unregisters its probe execs). A probe that cannot start
   * finishes with 126/127 and the runtime's error as its output, like an attached exec.
   */
  async probe(containerId: string, cmd: string[], o: { signal: AbortSignal; maxOutput: number; onStarted: () => void }): Promise<ProbeResult> {
    const { Id } = this.create(containerId, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const ex = this.get(Id);
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    const sink: AttachSink = {
      write: (b) => {
        const room = o.maxOutput - kept;
        if (b.length > room) truncated = true;
        if (room > 0) {
          chunks.push(b.subarray(0, room));
          kept += Math.min(room, b.length);
        }
      },
      end: () => ended(),
    };
    const kill = (): void =>
      void ex.started.then(() => {
        if (ex.state !== 'running' || ex.pid <= 0) return;
        try {
          process.kill(ex.pid, 'SIGKILL');
        } catch {
          /* exited meanwhile */
        }
      });
    o.signal.addEventListener('abort', kill, { once: true });
    void ex.started.then(() => {
      if (ex.state === 'running') o.onStarted();
    });
    try {
      // A start with Tty set gives the output raw (the process itself gets no terminal).
      await this.start(Id, { detach: false, tty: true }, () => sink);
      await done;
    } finally {
      o.signal.removeEventListener('abort', kill);
      if (ex.state === 'running') ex.dropWhenDone = true;
      else this.execs.delete(Id);
    }
    return { exitCode: ex.exitCode ?? -1, output: Buffer.concat(chunks), truncated };
  }

  // ---------------------------------------------------------------- resize, inspect

  async resize(id: string, height: number, width: number): Promise<void> {
    const ex = this.get(id);
    const target = this.o.host.runningContainer(ex.containerId);
    // The CLI resizes right after asking for the start: give the process time to come up.
    const ready = await Promise.race([ex.started.then(() => true), sleep(10_000).then(() => false)]);
    if (!ready) throw new BerthError('unavailable', 'timeout waiting for exec session ready');
    if (ex.state !== 'running') throw conflict(`Exec ${id} is not running`);
    await this.o.monitor.resize(this.dir(target, ex), height, width);
  }

  inspect(id: string): Record<string, unknown> {
    const ex = this.get(id);
    const c = ex.config;
    return {
      CanRemove: false,
      ContainerID: ex.containerId,
      DetachKeys: c.detachKeys,
      ExitCode: ex.exitCode ?? null,
      ID: ex.id,
      OpenStderr: c.attachStderr,
      OpenStdin: c.attachStdin,
      OpenStdout: c.attachStdout,
      ProcessConfig: {
        arguments: c.cmd.slice(1),
        entrypoint: c.cmd[0],
        privileged: c.privileged,
        tty: c.tty,
        ...(c.user ? { user: c.user } : {}),
      },
      Running: ex.state === 'running',
      Pid: ex.pid,
    };
  }

  // ---------------------------------------------------------------- container side

  /** Execs of the container that are not finished (inspect's ExecIDs, as dockerd lists them). */
  execIds(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.containerId === containerId && e.state !== 'exited').map((e) => e.id);
  }

  /** The container was removed: its execs go (running ones once their exit is processed). */
  containerGone(containerId: string): void {
    for (const ex of [...this.execs.values()]) {
      if (ex.containerId !== containerId) continue;
      if (ex.state === 'running') ex.dropWhenDone = true;
      else this.execs.delete(ex.id);
    }
  }

  /** Daemon shutdown: stop watching; the exec processes go on under their conmon. */
  close(): void {
    for (const ex of this.execs.values()) {
      ex.watchAbort.abort();
      ex.session?.detach();
    }
  }

  // ---------------------------------------------------------------- helpers

  private get(id: string): ExecInstance {
    const ex = this.execs.get(id);
    if (!ex) throw notFound(`No such exec instance: ${id}`);
    return ex;
  }

  private dir(target: ExecTarget, ex: ExecInstance): string {
    return path.join(target.execDir, 'exec', ex.id);
  }

  private daemonBoundingSet(): Promise<bigint> {
    return (this.boundingSet ??= fsp.readFile('/proc/self/status', 'utf8').then(parseBoundingSet));
  }

  private trimFinished(containerId: string): void {
    const finished = [...this.execs.values()].filter((e) => e.containerId === containerId && e.state === 'exited');
    for (const ex of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_PER_CONTAINER))) this.execs.delete(ex.id);
  }
}

/** dockerd's event text: entrypoint, a space, the arguments joined by spaces. */
function commandText(cmd: string[]): string {
  return `${cmd[0] ?? ''} ${cmd.slice(1).join(' ')}`;
}

function parseExecConfig(body: unknown): ExecConfig {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('exec config must be a JSON object');
  const raw = body as Record<string, unknown>;
  // Go's JSON decoding matches field names case-insensitively when there is no exact match:
  // docker-py sends the config file's detach keys as "detachKeys".
  const field = (name: string): unknown =>
    name in raw ? raw[name] : Object.entries(raw).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const strings = (name: string): string[] => {
    const v = field(name);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw invalid(`${name} must be an array of strings`);
    return v as string[];
  };
  const str = (name: string): string => {
    const v = field(name);
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw invalid(`${name} must be a string`);
    return v;
  };
  const bool = (name: string): boolean => {
    const v = field(name);
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw invalid(`${name} must be a boolean`);
    return v;
  };
  const cmd = typeof field('Cmd') === 'string' ? [field('Cmd') as string] : strings('Cmd');
  if (cmd.length === 0) throw invalid('No exec command specified');
  for (const s of [...cmd, ...strings('Env')]) {
    if (s.includes('\0')) throw invalid('exec command and environment must not contain NUL bytes');
  }
  const detachKeys = str('DetachKeys');
  if (detachKeys !== '' && !/^(ctrl-[a-z@[\\\]^_]|[\x20-\x7e])(,(ctrl-[a-z@[\\\]^_]|[\x20-\x7e]))*$/.test(detachKeys)) {
    throw invalid(`Invalid detach keys (${detachKeys}) provided`);
  }
  const config: ExecConfig = {
    cmd,
    env: strings('Env'),
    user: str('User'),
    workingDir: str('WorkingDir'),
    privileged: bool('Privileged'),
    tty: bool('Tty'),
    attachStdin: bool('AttachStdin'),
    attachStdout: bool('AttachStdout'),
    attachStderr: bool('AttachStderr'),
    detachKeys,
  };
  const size = field('ConsoleSize');
  if (size !== undefined && size !== null) {
    if (!Array.isArray(size) || size.length !== 2 || !size.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) {
      throw invalid('ConsoleSize must be [height, width]');
    }
    config.consoleSize = [size[0] as number, size[1] as number];
  }
  return config;
}
