// Process plumbing for the bench: daemons in their own process groups (so stopping one takes its
// children with it), a LIFO cleanup stack that also runs on SIGINT/SIGTERM, temp dirs that are
// unmounted before removal, and RSS read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { unixRequest, unmountUnder } from '../test/harness/daemon.js';
import { makeTempDir, removeDir, sleep, tailFile, trackDir, untrackDir, type RunOptions, type RunResult } from '../test/harness/util.js';

// ---------------------------------------------------------------- cleanup stack

type CleanupFn = () => Promise<void>;
const cleanups: Array<{ label: string; fn: CleanupFn }> = [];
const groups = new Set<number>();
const commands = new Set<ChildProcess>();
let signalsInstalled = false;
let aborting = false;

/** Thrown by anything that would start new work once a signal asked the bench to stop. */
function checkNotAborting(what: string): void {
  if (aborting) throw new Error(`interrupted: not starting ${what}`);
}

/** Registers an undo step; returns a function that runs it now (once) and unregisters it. */
export function deferCleanup(label: string, fn: CleanupFn): () => Promise<void> {
  let running: Promise<void> | undefined;
  const entry = {
    label,
    fn: (): Promise<void> => {
      running ??= (async () => {
        const i = cleanups.indexOf(entry);
        if (i >= 0) cleanups.splice(i, 1);
        await fn();
      })();
      return running;
    },
  };
  cleanups.push(entry);
  return entry.fn;
}

/** Runs every registered cleanup, newest first. Returns the failures as messages. */
export async function runCleanups(): Promise<string[]> {
  const errors: string[] = [];
  while (cleanups.length > 0) {
    const { label, fn } = cleanups.pop() as { label: string; fn: CleanupFn };
    try {
      await fn();
    } catch (e) {
      errors.push(`${label}: ${(e as Error).message}`);
    }
  }
  return errors;
}

/** On SIGINT/SIGTERM: run the cleanups, then exit. On a hard exit: SIGKILL every live process group. */
export function installSignalHandlers(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (aborting) return;
    aborting = true;
    process.stderr.write(`\nbench: ${sig}, cleaning up...\n`);
    for (const c of commands) c.kill('SIGKILL');
    void runCleanups().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const c of commands) c.kill('SIGKILL');
    for (const pgid of groups) killGroup(pgid, 'SIGKILL');
  });
}

// ---------------------------------------------------------------- temp dirs

/** A fresh /tmp dir; removed (after unmounting anything below it) by the returned function or the cleanup stack. */
export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  checkNotAborting(`a new ${prefix} dir`);
  const path = await makeTempDir(prefix);
  trackDir(path);
  const remove = deferCleanup(`remove ${path}`, async () => {
    await unmountUnder(path);
    untrackDir(path);
    await removeDir(path);
  });
  return { path, remove };
}

/** Removes the dirs in `paths` (deepest first, given in that order) that are empty and did not exist before. */
export function snapshotStrayDirs(paths: string[]): () => void {
  const existed = new Set(paths.filter((p) => dirExists(p)));
  return () => {
    for (const p of paths) {
      if (existed.has(p)) continue;
      try {
        rmdirSync(p); // only succeeds when empty
      } catch {
        /* missing or not empty: leave it */
      }
    }
  };
}

function dirExists(p: string): boolean {
  try {
    readdirSync(p);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- commands

/**
 * Runs a program to completion, collecting its output (like the harness's run()), but killed
 * if the bench is interrupted. Never throws on a non-zero exit; throws on timeout.
 */
export function command(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  installSignalHandlers();
  checkNotAborting(cmd);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    commands.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), opts.timeoutMs) : undefined;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      commands.delete(child);
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      commands.delete(child);
      if (timer) clearTimeout(timer);
      if (timedOut) reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs} ms`));
      else resolve({ code: code ?? -1, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
}

// ---------------------------------------------------------------- daemons

export interface DaemonProc {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<void>;
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* group already gone */
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** Starts a long-running program as the leader of a new process group, output appended to `logFile`. */
export function spawnDaemon(name: string, cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env, cwd?: string): DaemonProc {
  installSignalHandlers();
  checkNotAborting(name);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env, cwd });
  } finally {
    closeSync(fd);
  }
  child.on('error', () => undefined); // reported through the exit/readiness checks
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`);
  groups.add(pid);
  let grace = 15_000;
  const runStop = deferCleanup(`stop ${name}`, async () => {
    const done = exited(child);
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), grace);
    await done;
    clearTimeout(timer);
    killGroup(pid, 'SIGKILL'); // anything the leader left behind in its group
    groups.delete(pid);
  });
  const stop = (graceMs = 15_000): Promise<void> => {
    grace = graceMs;
    return runStop();
  };
  return { name, pid, logFile, child, stop };
}

/** Waits until GET /_ping on `socket` answers 200, failing early if the process exits. */
export async function waitForPing(p: DaemonProc, socket: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      throw new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}) before it was ready; log tail:\n${await tailFile(p.logFile, 2000)}`);
    }
    const r = await unixRequest(socket, 'GET', '/_ping', undefined, {}, 2000).catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${p.name} did not answer /_ping within ${timeoutMs} ms; log tail:\n${await tailFile(p.logFile, 2000)}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------- /proc

/** `pid` and all its descendants (via /proc/<pid>/task/<tid>/children). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    out.push(p);
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) queue.push(Number(k));
      } catch {
        /* thread gone */
      }
    }
  }
  return [...new Set(out)];
}

/** A /proc/<pid>/status field in bytes (VmRSS, VmHWM, ...); 0 when the process is gone. */
export function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface RssReading {
  /** Sum of VmRSS over every process in the trees, bytes. */
  rss: number;
  /** Sum of VmHWM (peak RSS) over the same processes, bytes. */
  peak: number;
  pids: number[];
}

/** RSS of the process trees rooted at `roots`, summed. */
export function readRss(roots: number[]): RssReading {
  const pids = [...new Set(roots.flatMap((r) => processTree(r)))];
  let rss = 0;
  let peak = 0;
  for (const p of pids) {
    rss += statusBytes(p, 'VmRSS');
    peak += statusBytes(p, 'VmHWM');
  }
  return { rss, peak, pids };
}

/** Command line of `pid` (NUL separators as spaces), or '' when gone. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * SIGKILLs every process (with its descendants) whose command line mentions one of `roots`:
 * the per-container monitors (conmon, containerd-shim) daemonize out of their engine's process
 * group, so stopping the engine does not take them along. Returns how many processes it killed.
 */
export function killStrays(roots: string[]): number {
  if (roots.length === 0) return 0;
  const victims = new Set<number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cl = cmdline(pid);
    if (roots.some((r) => cl.includes(r))) for (const p of processTree(pid)) victims.add(p);
  }
  for (const p of victims) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return victims.size;
}
