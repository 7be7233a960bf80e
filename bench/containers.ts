// Container benchmarks through the real docker CLI: `docker run --rm <busybox> true` latency,
// `docker ps -a` latency with many exited containers, and the RSS of the per-container monitor.
import { readFileSync } from 'node:fs';
import { busyboxLayer, pushImage } from '../test/harness/images.js';
import { unixRequest } from '../test/harness/daemon.js';
import { startRegistry } from '../test/harness/registry.js';
import { dockerCli, mustSucceed, type Engine } from './peers.js';
import { cmdline, deferCleanup, statusBytes } from './proc.js';

/** Starts a loopback registry (stopped by the cleanup stack) and pushes a one-layer busybox image to it. */
export async function pushBusybox(): Promise<string> {
  const registry = await startRegistry();
  deferCleanup('stop busybox registry', () => registry.stop());
  const pushed = await pushImage(registry, 'bench/busybox:1', { layers: [await busyboxLayer()] }, { format: 'docker' });
  return pushed.ref;
}

/** Wall time of one docker CLI invocation, milliseconds; throws unless it exited 0. */
export async function timedCli(engine: Engine, args: string[], timeoutMs = 60_000): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await dockerCli(engine, args, timeoutMs);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  mustSucceed(`${engine.name}: docker ${args.join(' ')}`, r);
  return ms;
}

export function runArgs(ref: string, networkNone: boolean): string[] {
  return ['run', '--rm', ...(networkNone ? ['--network', 'none'] : []), ref, 'true'];
}

/** Removes every container of `engine` (docker rm -f in chunks). */
export async function removeAll(engine: Engine): Promise<void> {
  const ids = mustSucceed(`${engine.name}: docker ps -aq`, await dockerCli(engine, ['ps', '-aq'])).stdout.toString().split(/\s+/).filter(Boolean);
  for (let i = 0; i < ids.length; i += 50) mustSucceed(`${engine.name}: docker rm -f`, await dockerCli(engine, ['rm', '-f', ...ids.slice(i, i + 50)], 300_000));
}

/** Creates `count` exited containers (`docker run --network none <ref> true`, no --rm), `parallel` at a time. */
export async function makeExited(engine: Engine, ref: string, count: number, parallel = 4): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      mustSucceed(`${engine.name}: docker run (no --rm)`, await dockerCli(engine, ['run', '--network', 'none', ref, 'true'], 120_000));
    }
  };
  await Promise.all(Array.from({ length: parallel }, () => worker()));
  const n = mustSucceed(`${engine.name}: docker ps -aq`, await dockerCli(engine, ['ps', '-aq'])).stdout.toString().split(/\s+/).filter(Boolean).length;
  if (n !== count) throw new Error(`${engine.name}: expected ${count} containers, docker ps -aq lists ${n}`);
}

function ppid(pid: number): number {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so cut after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** Proportional set size (shared pages split between their users), bytes; 0 when unreadable. */
function pss(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface MonitorReading {
  pid: number;
  /** First word of the monitor's command line. */
  process: string;
  rss: number;
  pss: number;
}

/**
 * Starts one `sleep` container, finds its monitor (the parent of the container's init process:
 * conmon, or containerd-shim-runc-v2, both subreapers), reads the monitor's VmRSS and Pss
 * after `settleMs`, and removes the container again.
 */
export async function monitorRss(engine: Engine, ref: string, settleMs = 2000): Promise<MonitorReading> {
  const id = mustSucceed(`${engine.name}: docker run -d sleep`, await dockerCli(engine, ['run', '-d', '--network', 'none', ref, 'sleep', '600'])).stdout.toString().trim();
  try {
    await new Promise((r) => setTimeout(r, settleMs));
    const r = mustSucceed(`${engine.name}: docker inspect`, await dockerCli(engine, ['inspect', '--format', '{{.State.Pid}}', id]));
    const init = Number(r.stdout.toString().trim());
    if (!Number.isInteger(init) || init <= 0) throw new Error(`${engine.name}: container ${id} has no State.Pid (${r.stdout.toString().trim()})`);
    const mon = ppid(init);
    if (mon <= 1) throw new Error(`${engine.name}: no monitor found above container pid ${init}`);
    const exe = (cmdline(mon).split(' ')[0] ?? '?').split('/').pop() ?? '?';
    return { pid: mon, process: exe, rss: statusBytes(mon, 'VmRSS'), pss: pss(mon) };
  } finally {
    mustSucceed(`${engine.name}: docker rm -f`, await dockerCli(engine, ['rm', '-f', id]));
  }
}

/** `docker run -d <ref> sleep 60` then `docker rm -f <id>`: the two CLI calls' wall time, milliseconds. */
export async function timedRunDetachedRemove(engine: Engine, ref: string): Promise<number> {
  const t = process.hrtime.bigint();
  const run = mustSucceed(`${engine.name}: docker run -d`, await dockerCli(engine, ['run', '-d', ref, 'sleep', '60'], 60_000));
  const id = run.stdout.toString().trim();
  mustSucceed(`${engine.name}: docker rm -f`, await dockerCli(engine, ['rm', '-f', id], 60_000));
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/**
 * Creates `count` containers through the API (POST /containers/create, not started, `parallel`
 * at a time): the cheapest way to give `GET /containers/json` many to list.
 */
export async function createMany(engine: Engine, ref: string, count: number, parallel = 8): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const r = await unixRequest(engine.socket, 'POST', '/v1.41/containers/create', { Image: ref, Cmd: ['true'], HostConfig: { NetworkMode: 'none' } }, {}, 60_000);
      if (r.status !== 201) throw new Error(`${engine.name}: POST /containers/create answered ${r.status}: ${r.body.toString().slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, () => worker()));
}
