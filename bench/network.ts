// Networking benchmarks, berthd and dockerd side by side through the same docker CLI:
//   - `docker run --rm busybox true` on the default bridge network;
//   - `docker network create` + `docker network rm`;
//   - TCP throughput from the host into a container: through a published port on 127.0.0.1
//     versus straight to the container's address (berthd DNATs in the kernel; dockerd's default
//     is its userland proxy).
// dockerd runs with bridge networking (docker0 on 10.251.0.0/24, iptables, userland proxy).
// Usage: npm run build && node dist/bench/network.js   (BENCH_NET_ITERATIONS, BENCH_NET_MIB)
import net from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pushBusybox, timedCli } from './containers.js';
import { dockerCli, mustSucceed, startBerthd, startDockerd, type Engine } from './peers.js';
import { runCleanups } from './proc.js';
import { repoRoot } from '../test/harness/util.js';

const ITER = Number(process.env.BENCH_NET_ITERATIONS ?? 15);
const MIB = Number(process.env.BENCH_NET_MIB ?? 1024);
const log = (s: string): void => void process.stderr.write(`bench-net: ${s}\n`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

/** MB/s of one connection that writes `mib` MiB to host:port and waits for the peer to close. */
function blast(host: string, port: number, mib: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    let left = mib * 4;
    const t = process.hrtime.bigint();
    const sock = net.connect({ host, port });
    sock.setTimeout(60_000, () => sock.destroy(new Error('timed out')));
    sock.on('error', reject);
    const pump = (): void => {
      while (left > 0) {
        left--;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
      sock.end();
    };
    sock.on('connect', pump);
    sock.on('close', () => {
      if (left > 0) return reject(new Error('connection closed early'));
      resolve((mib * 1.048576) / (Number(process.hrtime.bigint() - t) / 1e9));
    });
    sock.resume();
  });
}

async function retry<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface EngineResult {
  runDefaultMs?: number;
  networkCreateRmMs?: number;
  publishedMBps?: number;
  directMBps?: number;
  error?: string;
}

async function measure(engine: Engine, ref: string, port: number): Promise<EngineResult> {
  const out: EngineResult = {};
  await timedCli(engine, ['pull', ref]);
  for (let i = 0; i < 2; i++) await timedCli(engine, ['run', '--rm', ref, 'true']);
  const runs: number[] = [];
  for (let i = 0; i < ITER; i++) runs.push(await timedCli(engine, ['run', '--rm', ref, 'true']));
  out.runDefaultMs = median(runs);
  const nets: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const t = process.hrtime.bigint();
    mustSucceed('network create', await dockerCli(engine, ['network', 'create', `bench-net-${i}`]));
    mustSucceed('network rm', await dockerCli(engine, ['network', 'rm', `bench-net-${i}`]));
    nets.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  out.networkCreateRmMs = median(nets);
  // A sink that takes connection after connection and throws the bytes away.
  const id = mustSucceed('run sink', await dockerCli(engine, ['run', '-d', '-p', `127.0.0.1:${port}:5201`, ref, 'sh', '-c', 'while :; do nc -l -p 5201 -e sh -c "cat >/dev/null"; done']))
    .stdout.toString()
    .trim();
  try {
    const ip = mustSucceed('inspect', await dockerCli(engine, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', id])).stdout.toString().trim();
    await retry(() => blast('127.0.0.1', port, 1));
    await retry(() => blast(ip, 5201, 1));
    const pub: number[] = [];
    const dir: number[] = [];
    for (let i = 0; i < 3; i++) {
      pub.push(await retry(() => blast('127.0.0.1', port, MIB)));
      dir.push(await retry(() => blast(ip, 5201, MIB)));
    }
    out.publishedMBps = median(pub);
    out.directMBps = median(dir);
  } finally {
    await dockerCli(engine, ['rm', '-f', id]);
  }
  return out;
}

async function main(): Promise<number> {
  const ref = await pushBusybox();
  const results: Record<string, EngineResult> = {};
  const engines: [string, () => Promise<Engine>, number][] = [
    ['berthd', startBerthd, 18201],
    ['dockerd', () => startDockerd({ bridge: true }), 18202],
  ];
  try {
    for (const [name, start, port] of engines) {
      let engine: Engine | undefined;
      try {
        engine = await start();
        log(`${name}: measuring`);
        results[name] = await measure(engine, ref, port);
        log(`${name}: ${JSON.stringify(results[name])}`);
      } catch (e) {
        results[name] = { error: e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e) };
        log(`${name}: FAILED ${results[name]?.error}`);
      } finally {
        await engine?.stop().catch(() => undefined);
      }
    }
  } finally {
    await runCleanups();
  }
  const b = results['berthd'] ?? {};
  const d = results['dockerd'] ?? {};
  const ratio = (x?: number, y?: number): string => (x && y ? (x / y).toFixed(2) : '-');
  const rows = [
    ['', 'berthd', 'dockerd 20.10 (bridge, userland proxy)', 'berthd / dockerd'],
    ['run --rm, default bridge (median ms)', b.runDefaultMs?.toFixed(0), d.runDefaultMs?.toFixed(0), ratio(b.runDefaultMs, d.runDefaultMs)],
    ['network create + rm (median ms)', b.networkCreateRmMs?.toFixed(0), d.networkCreateRmMs?.toFixed(0), ratio(b.networkCreateRmMs, d.networkCreateRmMs)],
    ['TCP via published 127.0.0.1 port (MB/s)', b.publishedMBps?.toFixed(0), d.publishedMBps?.toFixed(0), ratio(b.publishedMBps, d.publishedMBps)],
    ['TCP to the container address (MB/s)', b.directMBps?.toFixed(0), d.directMBps?.toFixed(0), ratio(b.directMBps, d.directMBps)],
    ['published / direct', ratio(b.publishedMBps, b.directMBps), ratio(d.publishedMBps, d.directMBps), ''],
  ];
  const table = rows.map((r) => `| ${r.map((c) => c ?? '-').join(' | ')} |`);
  table.splice(1, 0, '|---|---|---|---|');
  const file = join(repoRoot(), 'bench', 'results', 'network.json');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ date: new Date().toISOString(), iterations: ITER, mib: MIB, results }, null, 2) + '\n');
  process.stdout.write(`${table.join('\n')}\n\nwrote ${file}\n`);
  const targets = [
    (b.publishedMBps ?? 0) >= 0.9 * (b.directMBps ?? Infinity) ? 'PASS published >= 0.9x direct' : 'MISS published >= 0.9x direct',
    (b.publishedMBps ?? 0) >= (d.publishedMBps ?? Infinity) ? "PASS published >= dockerd's proxy" : "MISS published >= dockerd's proxy",
  ];
  process.stdout.write(targets.join('\n') + '\n');
  return Object.values(results).some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench-net: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
