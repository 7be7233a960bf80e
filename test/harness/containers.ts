// Shared set-up for tests that run containers: a registry with busybox, a daemon, the docker CLI,
// and the leak check every such test file ends with (no containers, mounts or cgroups left).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker } from './docker.js';
import { run } from './util.js';
import { startDaemon, type StartDaemonOptions, type TestDaemon } from './daemon.js';
import { busyboxDynamicLayer, busyboxLayer, pushImage } from './images.js';
import { startRegistry, type TestRegistry } from './registry.js';

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].some((p) => existsSync(p));

/** Why container tests cannot run here, or false. */
export const containerSkip: string | false =
  !RUNC || !existsSync('/usr/bin/conmon') || process.getuid?.() !== 0 ? 'needs root, runc and conmon' : false;

export interface ContainerEnv {
  registry: TestRegistry;
  daemon: TestDaemon;
  /** registry/library/busybox:1.36 (Cmd sh). */
  ref: string;
  imageId: string;
  /** Runs the docker CLI and asserts exit 0; returns stdout. */
  ok(args: string[], opts?: { input?: string }): Promise<string>;
}

/**
 * Registry, daemon and busybox (image config `{ Cmd: ['sh'] }` unless given); `pull` pulls it into
 * the daemon; `dynamic` uses the glibc-linked busybox, which can resolve names (DNS tests).
 */
export async function startContainerEnv(
  opts: StartDaemonOptions & { imageConfig?: Record<string, unknown>; pull?: boolean; dynamic?: boolean } = {},
): Promise<ContainerEnv> {
  const { imageConfig, pull, dynamic, ...daemonOpts } = opts;
  const registry = await startRegistry();
  const daemon = await startDaemon(daemonOpts);
  const bb = dynamic ? await busyboxDynamicLayer() : await busyboxLayer();
  const img = await pushImage(registry, 'library/busybox:1.36', { layers: [bb], config: imageConfig ?? { Cmd: ['sh'] } });
  const env: ContainerEnv = {
    registry,
    daemon,
    ref: `${registry.host}/library/busybox:1.36`,
    imageId: img.configDigest,
    ok: async (args, o = {}) => {
      const r = await docker(env.daemon, args, o.input !== undefined ? { input: o.input } : {});
      assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    },
  };
  if (pull) await env.ok(['pull', env.ref]);
  return env;
}

/** Command lines of processes that name `dir` (conmon and runc get the exec root in their arguments). */
export async function processesMentioning(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir) && /^(\S*\/)?(conmon|runc)\0/.test(cmd)) out.push(`${pid}: ${cmd.replaceAll('\0', ' ')}`);
  }
  return out;
}

/** Asserts nothing a container needs outlived it: no containers, mounts under the data root, cgroups, conmon or runc. */
export async function assertNoContainerLeaks(daemon: TestDaemon): Promise<void> {
  const left = await docker(daemon, ['ps', '-aq']);
  assert.equal(left.stdout.trim(), '', 'every test container was removed');
  const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes(daemon.dataRoot), 'no mounts left under the data root');
  const hash = createHash('sha256').update(path.resolve(daemon.dataRoot)).digest('hex').slice(0, 12);
  for (const ctl of ['pids', 'memory', 'unified', '']) {
    const dir = path.join('/sys/fs/cgroup', ctl, `berth-${hash}`);
    if (existsSync(dir)) {
      const kids = (await fsp.readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory());
      assert.deepEqual(kids.map((d) => d.name), [], `no container cgroups left in ${dir}`);
    }
  }
  assert.deepEqual(await processesMentioning(daemon.execRoot), [], 'no conmon or runc left running for this daemon');
}

/** The names a daemon's networking uses on the host (engine/network/service.ts derives them from the data root). */
export function networkNames(daemon: TestDaemon): { tag: string; table: string; netnsPrefix: string; defaultBridge: string } {
  const tag = createHash('sha256').update(path.resolve(daemon.dataRoot)).digest('hex').slice(0, 6);
  return { tag, table: `berth_${tag}`, netnsPrefix: `berth-${tag}-`, defaultBridge: `berth-${tag}` };
}

/** The bridges a daemon's networks use, from its state file (read before it stops). */
export async function daemonBridges(daemon: TestDaemon): Promise<string[]> {
  const text = await fsp.readFile(path.join(daemon.dataRoot, 'network', 'state.json'), 'utf8').catch(() => '{}');
  return ((JSON.parse(text) as { networks?: { bridge?: string }[] }).networks ?? []).flatMap((n) => (n.bridge ? [n.bridge] : []));
}

/** After the daemon stopped with no container running: no bridge, namespace or firewall table of its own is left. */
export async function assertNoNetworkLeaks(daemon: TestDaemon, bridges: string[]): Promise<void> {
  const names = networkNames(daemon);
  for (const b of [...bridges, names.defaultBridge]) assert.ok(!existsSync(`/sys/class/net/${b}`), `bridge ${b} was removed`);
  const ns = (await fsp.readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith(names.netnsPrefix));
  assert.deepEqual(ns, [], 'no network namespaces left');
  const veths = (await fsp.readdir('/sys/class/net')).filter((n) => n.startsWith('bv'));
  for (const v of veths) {
    const master = await fsp.readlink(`/sys/class/net/${v}/master`).catch(() => '');
    assert.ok(!bridges.some((b) => master.endsWith(`/${b}`)), `veth ${v} on one of the daemon's bridges was removed`);
  }
  for (const family of ['ip', 'ip6']) {
    const table = await run('nft', ['list', 'table', family, names.table]);
    assert.notEqual(table.code, 0, `firewall table ${family} ${names.table} was removed`);
  }
}

/** Tears the environment down: leak check first (when asked), then daemon and registry. */
export async function stopContainerEnv(env: ContainerEnv | undefined, checkLeaks = true): Promise<void> {
  let bridges: string[] = [];
  try {
    if (env && checkLeaks) {
      await assertNoContainerLeaks(env.daemon);
      bridges = await daemonBridges(env.daemon);
      await env.daemon.stop();
      await assertNoNetworkLeaks(env.daemon, bridges);
    }
  } finally {
    await env?.daemon.cleanup();
    await env?.registry.stop();
  }
}

/** Polls until `check` passes (it throws until then); the last failure is rethrown on timeout. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
