/**
 * Small process helpers for the container monitor: /proc inspection (liveness that is not fooled
 * by zombies or PID reuse) and running the OCI runtime binary (runc) with a time limit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { promises as fsp } from 'node:fs';
import { isErrno } from '../../common/errors.js';
import { runCommand, toolEnv, type CommandResult } from '../../common/command.js';

export interface ProcStat {
  pid: number;
  /** One letter: R, S, D, Z (zombie), X (dead), T, t, I... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Start time in clock ticks since boot (field 22): with the pid, identifies the process. */
  startTime: number;
}

/** Parses /proc/<pid>/stat; undefined when the process does not exist. */
export async function procStat(pid: number): Promise<ProcStat | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return undefined;
    throw err;
  }
  // "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).trim().split(' ');
  // f[0] is field 3 (state); field n is f[n - 3].
  const num = (n: number): number => Number(f[n - 3]);
  return {
    pid,
    state: f[0] ?? '?',
    ppid: num(4),
    pgrp: num(5),
    session: num(6),
    startTime: num(22),
  };
}

/**
 * True when the process exists, is not a zombie, and (if given) started at `startTime`. A zombie
 * counts as gone: a daemonized conmon is reparented to PID 1, which may reap it late or never.
 */
export async function isRunning(pid: number | undefined, startTime?: number): Promise<boolean> {
  if (pid === undefined) return false;
  const st = await procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X' || st.state === 'x') return false;
  return startTime === undefined || st.startTime === startTime;
}

export type ToolResult = CommandResult;

/** Runs a program to completion (stdin closed), killing it after `timeoutMs`. Never throws on exit codes. */
export function runTool(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<ToolResult> {
  return runCommand(cmd, args, { timeoutMs });
}

export { toolEnv };

/**
 * The human part of runc's stderr. runc logs with logrus: `time="..." level=error msg="..."`
 * (or JSON with --log-format json). Returns the msg values of such lines, other lines as they are.
 */
export function runtimeErrorText(stderr: string): string {
  const parts: string[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { msg?: unknown };
        if (typeof j.msg === 'string') {
          parts.push(j.msg);
          continue;
        }
      } catch {
        /* not JSON: fall through */
      }
    }
    const m = /(?:^|\s)msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) parts.push(unquoteGo(m[1] ?? ''));
    else parts.push(line);
  }
  return parts.join('\n');
}

/** Undoes Go's strconv.Quote escaping (what logrus uses for quoted values). */
function unquoteGo(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, e: string) => {
      if (e.startsWith('x') && e.length === 3) return String.fromCharCode(parseInt(e.slice(1), 16));
      switch (e) {
        case 'n':
          return '\n';
        case 't':
          return '\t';
        case 'r':
          return '\r';
        default:
          return e;
      }
    });
  }
}

/** Reads a pid file, retrying up to waitMs while it is missing or empty. */
export async function readPidFile(file: string, waitMs: number): Promise<number | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const n = Number.parseInt((await fsp.readFile(file, 'utf8')).trim(), 10);
      if (n > 0) return n;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(2);
  }
}
