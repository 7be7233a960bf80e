/**
 * `docker top` (GET /containers/{id}/top?ps_args=): like dockerd, run the host's ps(1) with
 * the client's arguments (default `-ef`) and keep the rows whose PID is one of the container's
 * processes. The container's pids come from the OCI runtime (`runc ps --format json`, which
 * reads the container's cgroup), invoked the way the monitor recorded it in monitor.json.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { invalid, system } from '../common/errors.js';
import { readJsonIfExists } from '../common/fsutil.js';
import type { MonitorMeta } from '../runtime/monitor.js';

const run = promisify(execFile);
const MAX_OUTPUT = 32 * 1024 * 1024;

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** Pids in the container, from the runtime the container was started with. */
export async function containerPids(execDir: string): Promise<number[]> {
  const meta = await readJsonIfExists<MonitorMeta>(path.join(execDir, 'monitor.json'));
  if (!meta) throw system('the container has no runtime state');
  try {
    const { stdout } = await run(meta.runtime, ['--root', meta.runtimeRoot, ...meta.runtimeArgs, 'ps', '--format', 'json', meta.id], {
      maxBuffer: MAX_OUTPUT,
    });
    const pids = JSON.parse(stdout) as unknown;
    return Array.isArray(pids) ? pids.filter((p): p is number => Number.isInteger(p)) : [];
  } catch (err) {
    throw system(`listing the container's processes failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
  }
}

/** dockerd refuses `ps` options that rename the PID column (it could no longer find it). */
function validatePsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+(\S*)=\s*(PID\S*)/g)) {
    if (m[1] !== 'pid') throw invalid(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

export function parsePsOutput(output: string, pids: number[]): TopResult {
  const lines = output.split('\n');
  const titles = (lines[0] ?? '').trim().split(/\s+/).filter((t) => t !== '');
  const pidIndex = titles.indexOf('PID');
  if (pidIndex === -1) throw invalid("Couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const processes: string[][] = [];
  const row = (fields: string[]): string[] => [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
  // Thread lines (ps -T / m) show "-" as PID: they belong to the process row above them.
  let inContainer = false;
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) continue;
    const pidField = fields[pidIndex] ?? '';
    if (pidField === '-') {
      if (inContainer) processes.push(row(fields));
      continue;
    }
    const pid = Number(pidField);
    if (!Number.isInteger(pid)) throw invalid(`Unexpected pid '${pidField}'`);
    inContainer = wanted.has(pid);
    if (inContainer) processes.push(row(fields));
  }
  return { Titles: titles, Processes: processes };
}

export async function containerTop(execDir: string, psArgs: string): Promise<TopResult> {
  const args = psArgs === '' ? '-ef' : psArgs;
  validatePsArgs(args);
  const pids = await containerPids(execDir);
  const argv = args.split(' ');
  let stdout: string;
  try {
    // `-q <pids>` lets ps skip the rest of the host; some options refuse it, so retry without.
    stdout = (await run('ps', [...argv, '-q', pids.join(',') || '0'], { maxBuffer: MAX_OUTPUT })).stdout;
  } catch {
    try {
      stdout = (await run('ps', argv, { maxBuffer: MAX_OUTPUT })).stdout;
    } catch (err) {
      throw invalid(`Error running ps: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
    }
  }
  return parsePsOutput(stdout, pids);
}
