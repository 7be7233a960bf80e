// berthd's start: from spawning bin/berthd to its first GET /_ping answer, the CPU it spent on the
// way, and its RSS right after (each start on fresh roots; the daemon is stopped after each).
// Polls the socket every 2 ms with a raw request, so the figure is the daemon's, not the harness's.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { berthdPath } from '../test/harness/daemon.js';
import { deferCleanup, tempDir } from './proc.js';
import { summarize, type Summary } from './stats.js';

export interface StartEntry {
  /** Milliseconds from spawn to the first 200 from GET /_ping. */
  toFirstPingMs?: Summary;
  /** CPU (user + system) the daemon used until then, milliseconds. */
  cpuMs?: Summary;
  /** VmRSS right after the first answer, bytes. */
  rssAfterStart?: Summary;
  /** Which daemon bin/berthd ran: the bundle or the compiled modules. */
  entry?: string;
  error?: string;
}

function pingOnce(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, method: 'GET', path: '/_ping', headers: { Host: 'localhost' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

function procStatus(pid: number): { cpuMs: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return { cpuMs: ticks * 10, rss: rssKb * 1024 };
}

/** Starts bin/berthd `iterations` times; medians and spreads of the start figures. */
export async function measureBerthdStart(iterations: number): Promise<StartEntry> {
  const dir = await tempDir('berth-bench-start-');
  const toPing: number[] = [];
  const cpu: number[] = [];
  const rss: number[] = [];
  const bin = berthdPath();
  const bundle = path.join(path.dirname(bin), '..', 'dist', 'berthd', 'daemon', 'cli.js');
  try {
    for (let i = 0; i < iterations; i++) {
      const root = path.join(dir.path, String(i));
      await mkdir(root, { recursive: true });
      const socket = path.join(root, 'd.sock');
      const t0 = process.hrtime.bigint();
      const child = spawn(bin, ['-H', `unix://${socket}`, '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec')], { stdio: 'ignore' });
      const kill = deferCleanup('stop berthd (start bench)', async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      try {
        for (;;) {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`berthd exited (${child.exitCode ?? child.signalCode}) before answering /_ping`);
          if (existsSync(socket) && (await pingOnce(socket))) break;
          if (Number(process.hrtime.bigint() - t0) > 30e9) throw new Error('berthd did not answer /_ping within 30 s');
          await new Promise((r) => setTimeout(r, 2));
        }
        toPing.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const s = procStatus(child.pid as number);
        cpu.push(s.cpuMs);
        rss.push(s.rss);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
        await kill();
      }
    }
    return { toFirstPingMs: summarize(toPing), cpuMs: summarize(cpu), rssAfterStart: summarize(rss), entry: existsSync(bundle) ? 'bundle when fresh (dist/berthd)' : 'compiled modules' };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await dir.remove();
  }
}

/** The report's lines for the start figures (targets: ≤ 120 ms to the first ping, ≤ 45 MB RSS). */
export function renderStart(e: StartEntry | undefined): string[] {
  if (!e) return [];
  if (e.error || !e.toFirstPingMs || !e.rssAfterStart || !e.cpuMs) return ['', `berthd start: ${e.error ?? 'not measured'}`];
  const p = e.toFirstPingMs;
  return [
    '',
    `berthd start (${p.n} starts on fresh roots; ${e.entry})`,
    `  spawn to first /_ping answer: median ${p.median.toFixed(0)} ms (min ${p.min.toFixed(0)}, max ${p.max.toFixed(0)}); target <= 120 ms: ${p.median <= 120 ? 'met' : 'NOT met'}`,
    `  CPU until then: median ${e.cpuMs.median.toFixed(0)} ms`,
    `  RSS right after start: median ${(e.rssAfterStart.median / 1e6).toFixed(1)} MB; target <= 45 MB: ${e.rssAfterStart.median <= 45e6 ? 'met' : 'NOT met'}`,
  ];
}
