// Container logs at volume through the real docker CLI: rotation by max-size/max-file (the
// daemon default and per container), reading across rotated files, tail on a large log, and a
// container writing hundreds of megabytes while attached and followed, with the daemon's peak
// memory checked against what went through it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker, dockerCliPath, dockerConfigDir } from './harness/docker.js';
import { run } from './harness/util.js';
import { containerSkip as skip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

let env: ContainerEnv;

before(async () => {
  // The daemon default: rotate at 64 KiB, keep 2 files (containers can say otherwise).
  if (!skip) env = await startContainerEnv({ extraArgs: ['--log-opt', 'max-size=64k', '--log-opt', 'max-file=2'] });
});

after(async () => {
  if (!skip) await stopContainerEnv(env);
});

const inspect = async (ref: string): Promise<any> => JSON.parse(await env.ok(['inspect', ref]))[0];

async function logFilesOf(id: string): Promise<{ name: string; size: number }[]> {
  const dir = path.join(env.daemon.dataRoot, 'containers', id);
  const names = (await fsp.readdir(dir)).filter((n) => n.startsWith('container.log')).sort();
  return Promise.all(names.map(async (name) => ({ name, size: (await fsp.stat(path.join(dir, name))).size })));
}

// Bursts of 500 lines with short pauses: conmon replaces the file faster than any reader could
// notice if it all came at once (the flood test covers that).
const count = (n: number): string => `i=0; while [ $i -lt ${n} ]; do echo line-$i; i=$((i+1)); [ $((i % 500)) -eq 0 ] && sleep 0.05; done; true`;

test('max-size/max-file rotate the log; docker logs reads across the files, newest last', { skip }, async () => {
  const id = (await env.ok(['run', '-d', '--log-opt', 'max-size=32k', '--log-opt', 'max-file=3', env.ref, 'sh', '-c', count(6000)])).trim();
  try {
    await eventually(async () => assert.equal((await inspect(id)).State.Status, 'exited'));
    assert.deepEqual((await inspect(id)).HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '32k', 'max-file': '3' } });
    const files = await logFilesOf(id);
    assert.deepEqual(files.map((f) => f.name), ['container.log', 'container.log.1', 'container.log.2']);
    for (const f of files) assert.ok(f.size <= 32 * 1024, `${f.name} is ${f.size} bytes`);
    const lines = (await env.ok(['logs', id])).trim().split('\n');
    assert.equal(lines.at(-1), 'line-5999');
    const nums = lines.map((l) => Number(l.replace('line-', '')));
    for (let i = 1; i < nums.length; i++) assert.ok((nums[i] as number) > (nums[i - 1] as number), `in order at ${i}`);
    assert.ok(lines.length < 6000, 'the oldest lines were rotated away');
    assert.equal(await env.ok(['logs', '--tail', '3', id]), 'line-5997\nline-5998\nline-5999\n');
  } finally {
    await env.ok(['rm', '-f', id]);
  }
  assert.deepEqual(await logFilesOf(id).catch(() => []), [], 'rm removed the rotated files too');
});

test('the daemon --log-opt defaults apply; bad log options are 400 and create nothing', { skip }, async () => {
  const id = (await env.ok(['run', '-d', env.ref, 'sh', '-c', count(4000)])).trim();
  try {
    await eventually(async () => assert.equal((await inspect(id)).State.Status, 'exited'));
    assert.deepEqual((await inspect(id)).HostConfig.LogConfig.Config, { 'max-size': '64k', 'max-file': '2' });
    assert.deepEqual((await logFilesOf(id)).map((f) => f.name), ['container.log', 'container.log.1']);
    assert.equal((await env.ok(['logs', '--tail', '1', id])).trim(), 'line-3999');
  } finally {
    await env.ok(['rm', '-f', id]);
  }
  for (const opt of [['--log-opt', 'max-file=0'], ['--log-opt', 'max-size=lots'], ['--log-driver', 'syslog'], ['--log-opt', 'colour=blue']]) {
    const r = await docker(env.daemon, ['create', ...opt, env.ref]);
    assert.notEqual(r.code, 0, opt.join(' '));
    assert.match(r.stderr, /log|size|max-file/i);
  }
  assert.equal((await env.ok(['ps', '-aq'])).trim(), '');
});

test('a container writing hundreds of megabytes, attached and followed, leaves the daemon memory bounded', { skip }, async (t) => {
  const status = async (): Promise<Record<string, number>> => {
    const text = await fsp.readFile(`/proc/${env.daemon.pid}/status`, 'utf8');
    return Object.fromEntries([...text.matchAll(/^(VmRSS|VmHWM):\s+(\d+) kB$/gm)].map((m) => [m[1], Number(m[2]) * 1024]));
  };
  // Start the peak-RSS count from now.
  await fsp.writeFile(`/proc/${env.daemon.pid}/clear_refs`, '5');
  const before = await status();
  const total = Number(process.env.FLOOD_MB ?? 128) * 1024 * 1024;
  const cmd = `yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c ${total}`;
  const cli = dockerCliPath();
  const shellEnv = { ...process.env, DOCKER_HOST: env.daemon.dockerHost, DOCKER_CONFIG: dockerConfigDir(env.daemon) } as Record<string, string>;
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // Attached through the CLI (every byte crosses the daemon), counted by wc on the far side.
  const attached = run('sh', ['-c', `${cli} run --name flood --log-opt max-size=8m --log-opt max-file=2 ${env.ref} sh -c ${q(cmd)} | wc -c`], { env: shellEnv, timeoutMs: 600_000 });
  await eventually(async () => assert.equal((await inspect('flood')).State.Status, 'running'), 30_000, 50).catch(() => undefined);
  const followed = run('sh', ['-c', `${cli} logs -f flood | wc -c`], { env: shellEnv, timeoutMs: 600_000 });
  const [a, f] = await Promise.all([attached, followed]);
  assert.equal(a.code, 0, a.stderr.toString());
  assert.equal(Number(a.stdout.toString().trim()), total, 'the attached client got every byte');
  assert.ok(Number(f.stdout.toString().trim()) > 0, 'the follower got output');
  const after = await status();
  const growth = (after['VmHWM'] ?? 0) - (before['VmRSS'] ?? 0);
  assert.ok(growth < Number(process.env.FLOOD_LIMIT ?? 80) * 1024 * 1024, `daemon peak RSS grew by ${Math.round(growth / 1048576)} MiB while 128 MiB went through it`);
  t.diagnostic(`daemon peak RSS growth: ${Math.round(growth / 1048576)} MiB`);
  for (const fl of await logFilesOf((await inspect('flood')).Id)) assert.ok(fl.size <= 8 * 1024 * 1024, `${fl.name}: ${fl.size}`);
  await env.ok(['rm', 'flood']);
});
