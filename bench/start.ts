// Start to first answer: berthd spawned on fresh roots, GET /_ping tried every 2 ms until it
// answers 200. Wall time from spawn, and the RSS a moment later ("RSS right after start").
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { berthdPath, unixRequest } from '../test/harness/daemon.js';
import { sleep } from '../test/harness/util.js';
import { killStrays, statusBytes, tempDir } from './proc.js';
import { summarize, type Summary } from './stats.js';

export interface StartReading {
  /** Milliseconds from spawn to the first 200 from /_ping. */
  ms: Summary;
  /** VmRSS one second after the first answer, bytes (median). */
  rss: number;
}

async function once(): Promise<{ ms: number; rss: number }> {
  const dir = await tempDir('berth-bench-start-');
  const socket = join(dir.path, 'exec', 'berthd.sock');
  const args = ['-H', `unix://${socket}`, '--data-root', join(dir.path, 'data'), '--exec-root', join(dir.path, 'exec'), '--log-level', 'warn'];
  const t0 = process.hrtime.bigint();
  const child = spawn(berthdPath(), args, { stdio: 'ignore' });
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`berthd exited (${child.exitCode ?? child.signalCode}) before answering /_ping`);
      const r = await unixRequest(socket, 'GET', '/_ping', undefined, {}, 1000).catch(() => undefined);
      if (r?.status === 200) break;
      if (Number(process.hrtime.bigint() - t0) > 30e9) throw new Error('berthd did not answer /_ping within 30 s');
      await sleep(2);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await sleep(1000);
    return { ms, rss: child.pid ? statusBytes(child.pid, 'VmRSS') : 0 };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    child.kill('SIGKILL');
    killStrays([dir.path]);
    await dir.remove();
  }
}

export async function startToPing(iterations: number): Promise<StartReading> {
  const ms: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const r = await once();
    ms.push(r.ms);
    rss.push(r.rss);
  }
  return { ms: summarize(ms), rss: summarize(rss).median };
}
