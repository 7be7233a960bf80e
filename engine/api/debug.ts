import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendJson, type Router } from './router.js';

/**
 * Debug-only routes, for tests and benchmarks; not part of Docker's API and off unless berthd
 * runs with BERTH_DEBUG_MEMORY=1 in its environment.
 *
 *   GET /_berth/memory[?gc=1]   the daemon's memory: VmRSS and VmHWM from /proc/self/status and
 *                               V8's heap figures, after a full collection when gc=1 (berthd
 *                               runs with --expose-gc). A test can pull, collect and check that
 *                               what survives stays under a bound: a leak detector, not a timing.
 */
export const DEBUG_MEMORY_ENV = 'BERTH_DEBUG_MEMORY';

export interface MemoryReport {
  collected: boolean;
  rss: number;
  peakRss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

const SWEEP_PAUSE_MS = 100;

type Gc = (opts?: { type: 'major'; execution?: 'sync' }) => void;

export function debugRoutesEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DEBUG_MEMORY_ENV] === '1';
}

export function debugRoutes(router: Router): void {
  router.add('GET', '/_berth/memory', async ({ res, query }) => {
    const gc = (globalThis as { gc?: Gc }).gc;
    const collect = query.get('gc') === '1' && gc !== undefined;
    if (collect) {
      // Twice, with a turn of the event loop between: the first pass lets finalizers (stream and
      // socket handles) run and free more for the second, and V8 frees array buffer memory on a
      // background sweeper after a collection, which the pause lets finish before measuring.
      for (let i = 0; i < 2; i++) {
        gc({ type: 'major', execution: 'sync' });
        await sleep(SWEEP_PAUSE_MS);
      }
    }
    sendJson(res, 200, await memoryReport(collect));
  });
}

export async function memoryReport(collected: boolean): Promise<MemoryReport> {
  const status = await readFile('/proc/self/status', 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const m = process.memoryUsage();
  return {
    collected,
    rss: kb('VmRSS'),
    peakRss: kb('VmHWM'),
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}
