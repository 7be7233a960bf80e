// The engines under test: installing the Debian peers, and starting/stopping each daemon on
// private temp roots so nothing is shared between them, with the host, or between iterations.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, unixRequest } from '../test/harness/daemon.js';
import { dockerCliPath } from '../test/harness/docker.js';
import { run, type RunResult } from '../test/harness/util.js';
import { command, deferCleanup, killStrays, readRss, snapshotStrayDirs, spawnDaemon, tempDir, waitForPing, type DaemonProc, type RssReading } from './proc.js';

// ---------------------------------------------------------------- installing

export interface Availability {
  ok: boolean;
  /** Why not, when !ok; or what was done (e.g. "installed docker.io"). */
  note?: string;
}

export function which(name: string): string | undefined {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

async function aptInstall(pkgs: string[]): Promise<RunResult> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '-q', '--no-install-recommends', ...pkgs];
  // Never let a package's maintainer scripts start a system-wide dockerd/containerd: while we
  // install, a policy-rc.d that denies every service start (unless the host already has one).
  const addPolicy = !existsSync(POLICY_RC_D);
  if (addPolicy) await writeFile(POLICY_RC_D, '#!/bin/sh\n# temporary, written by berth bench/peers.ts\nexit 101\n', { mode: 0o755 });
  try {
    let r = await run('apt-get', args, { env, timeoutMs: 300_000 });
    if (r.code !== 0) {
      await run('apt-get', ['update', '-q'], { env, timeoutMs: 300_000 });
      r = await run('apt-get', args, { env, timeoutMs: 300_000 });
    }
    return r;
  } finally {
    if (addPolicy) await rm(POLICY_RC_D, { force: true });
  }
}

/** Installs one Debian package unless all of `bins` are already on the system. */
async function ensurePackage(pkg: string, bins: string[], log: (s: string) => void): Promise<Availability> {
  const missing = bins.filter((b) => !which(b));
  if (missing.length === 0) return { ok: true };
  log(`installing ${pkg} (missing: ${missing.join(', ')})...`);
  let r: RunResult;
  try {
    r = await aptInstall([pkg]);
  } catch (e) {
    return { ok: false, note: `apt-get install ${pkg} failed: ${(e as Error).message.split('\n')[0]}` };
  }
  const still = bins.filter((b) => !which(b));
  if (r.code !== 0 || still.length > 0) {
    const tail = r.stderr.toString().trim().split('\n').slice(-3).join(' | ');
    return { ok: false, note: `apt-get install ${pkg} failed (exit ${r.code})${still.length ? `, still missing ${still.join(', ')}` : ''}: ${tail}` };
  }
  return { ok: true, note: `installed ${pkg}` };
}

export interface PeerSetup {
  /** Needed to build and serve the bench image at all. */
  registry: Availability;
  skopeo: Availability;
  dockerd: Availability;
  podman: Availability;
}

export async function ensurePeers(log: (s: string) => void): Promise<PeerSetup> {
  return {
    registry: await ensurePackage('docker-registry', ['docker-registry'], log),
    skopeo: await ensurePackage('skopeo', ['skopeo'], log),
    dockerd: await ensurePackage('docker.io', ['dockerd', 'containerd', 'runc'], log),
    podman: await ensurePackage('podman', ['podman'], log),
  };
}

/** First line of `<bin> <args>`' output, or undefined. */
async function versionOf(bin: string, args: string[]): Promise<string | undefined> {
  if (!which(bin) && !existsSync(bin)) return undefined;
  const r = await run(bin, args, { timeoutMs: 20_000 }).catch(() => undefined);
  const line = r ? (r.stdout.toString() || r.stderr.toString()).trim().split('\n')[0] : undefined;
  return r?.code === 0 ? line : undefined;
}

export async function versions(berthdBin: string): Promise<Record<string, string | undefined>> {
  return {
    berthd: await versionOf(berthdBin, ['--version']),
    dockerd: await versionOf('dockerd', ['--version']),
    containerd: await versionOf('containerd', ['--version']),
    runc: await versionOf('runc', ['--version']),
    podman: await versionOf('podman', ['--version']),
    skopeo: await versionOf('skopeo', ['--version']),
    'docker CLI': await versionOf(dockerCliPath(), ['--version']),
    node: process.version,
  };
}

// ---------------------------------------------------------------- daemons

/** A running Docker-API daemon on private roots. */
export interface Engine {
  name: string;
  socket: string;
  dockerHost: string;
  /** RSS of the engine's processes (and their children), summed. */
  rss(): RssReading;
  /** Dirs private to this engine; stop() also kills leftover processes (container monitors) that mention them. */
  roots: string[];
  stop(): Promise<void>;
}

/** berthd through the test harness (fresh data/exec roots), logging at info like a production daemon. */
export async function startBerthd(): Promise<Engine> {
  const d = await startDaemon({ extraArgs: ['--log-level', 'info'], readyTimeoutMs: 30_000 });
  return {
    name: 'berthd',
    socket: d.socket,
    dockerHost: d.dockerHost,
    rss: () => readRss([d.pid]),
    roots: [d.dataRoot, d.execRoot],
    // Also on the cleanup stack (SIGINT/SIGTERM, aborted runs). conmon daemonizes into its own
    // session: it outlives berthd by design, so kill the monitors left under berthd's roots.
    stop: deferCleanup('stop berthd', async () => {
      // A graceful stop first: with no container left, berthd removes its bridges and firewall table.
      await d.stop().catch(() => undefined);
      killStrays([d.dataRoot, d.execRoot]);
      await d.cleanup();
    }),
  };
}

/** Dirs outside our temp roots that dockerd/podman create on first start (removed again if empty). */
const STRAY_DIRS = ['/run/docker/plugins', '/run/docker', '/run/containers/networks', '/run/containers'];
let strayNoted = false;

/** Remembers which of STRAY_DIRS exist now; the cleanup stack removes the others again (if empty). */
function noteStrayDirs(): void {
  if (strayNoted) return;
  strayNoted = true;
  const remove = snapshotStrayDirs(STRAY_DIRS);
  deferCleanup('remove stray dirs', () => Promise.resolve(remove()));
}

/**
 * containerd with its own root, state, grpc/ttrpc sockets and opt dir (no CRI, no debug or
 * metrics listeners), then dockerd on top of it via --containerd, so dockerd does not start its
 * managed containerd under /var/run/docker. No bridge, no iptables. The daemon.json points the
 * libtrust key (20.10 writes /etc/docker/key.json by default) into the temp dir too.
 */
export async function startDockerd(opts: { bridge?: boolean } = {}): Promise<Engine> {
  noteStrayDirs();
  const base = await tempDir('berth-bench-dockerd-');
  const dir = base.path;
  // Runs after the daemons stopped (LIFO), before the dir goes: containerd-shim-runc-v2 (and its
  // container) outlive containerd.
  const killShims = deferCleanup('kill leftover shims', () => Promise.resolve(void killStrays([dir])));
  const ctd = join(dir, 'containerd');
  await mkdir(ctd, { recursive: true });
  const q = JSON.stringify;
  const ctdSock = join(ctd, 'containerd.sock');
  const ctdConfig = [
    'version = 2',
    `root = ${q(join(ctd, 'root'))}`,
    `state = ${q(join(ctd, 'state'))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = ${q(ctdSock)}`,
    '[ttrpc]',
    `  address = ${q(ctdSock + '.ttrpc')}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(ctd, 'opt'))}`,
    '',
  ].join('\n');
  await writeFile(join(ctd, 'config.toml'), ctdConfig);
  await writeFile(join(dir, 'daemon.json'), q({ 'deprecated-key-path': join(dir, 'key.json') }));

  let containerd: DaemonProc | undefined;
  let dockerd: DaemonProc | undefined;
  const stop = async (): Promise<void> => {
    await dockerd?.stop();
    await containerd?.stop();
    await killShims();
    if (opts.bridge) removeDockerNetworking();
    await base.remove();
  };
  try {
    containerd = spawnDaemon('containerd', 'containerd', ['--config', join(ctd, 'config.toml')], join(dir, 'containerd.log'));
    const deadline = Date.now() + 20_000;
    while (!existsSync(ctdSock)) {
      if (containerd.child.exitCode !== null || Date.now() > deadline) throw new Error(`containerd did not come up (see ${containerd.logFile})`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const socket = join(dir, 'docker.sock');
    dockerd = spawnDaemon(
      'dockerd',
      'dockerd',
      [
        '--config-file',
        join(dir, 'daemon.json'),
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '-H',
        `unix://${socket}`,
        '--pidfile',
        join(dir, 'docker.pid'),
        '--containerd',
        ctdSock,
        // Bridge networking (its own docker0 on a subnet of its own, iptables, userland proxy) only
        // when a benchmark compares networking; otherwise none, so it leaves nothing on the host.
        ...(opts.bridge ? ['--bip', '10.251.0.1/24'] : ['--bridge=none', '--iptables=false', '--ip-masq=false']),
        '--log-level',
        'info',
      ],
      join(dir, 'dockerd.log'),
    );
    await waitForPing(dockerd, socket);
    const d = dockerd;
    const c = containerd;
    return { name: 'dockerd', socket, dockerHost: `unix://${socket}`, rss: () => readRss([d.pid, c.pid]), roots: [dir], stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

/** dockerd leaves docker0 and its iptables chains behind on exit: take them away again. */
function removeDockerNetworking(): void {
  spawnSync('ip', ['link', 'del', 'docker0']);
  for (const table of ['nat', 'filter']) {
    const rules = spawnSync('iptables', ['-t', table, '-S']).stdout?.toString() ?? '';
    for (const line of rules.split('\n')) {
      // Jumps into DOCKER* chains from the built-in chains, then the chains themselves.
      if (/^-A (PREROUTING|OUTPUT|POSTROUTING|FORWARD|INPUT) .*(-j DOCKER|docker0)/.test(line)) {
        spawnSync('iptables', ['-t', table, ...line.replace(/^-A/, '-D').split(' ')]);
      }
    }
    const chains = rules.split('\n').filter((l) => /^-N DOCKER/.test(l)).map((l) => l.slice(3));
    for (const c of chains) spawnSync('iptables', ['-t', table, '-F', c]);
    for (const c of chains) spawnSync('iptables', ['-t', table, '-X', c]);
  }
}

export type PodmanDriver = 'overlay' | 'vfs';

/** Global podman flags for a private store under `dir` (no systemd: cgroupfs, file events). */
export function podmanArgs(dir: string, driver: PodmanDriver): string[] {
  return [
    '--root',
    join(dir, 'root'),
    '--runroot',
    join(dir, 'runroot'),
    '--tmpdir',
    join(dir, 'tmp'),
    '--network-config-dir',
    join(dir, 'net'),
    '--storage-driver',
    driver,
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'file',
  ];
}

/** Set when startPodmanService wrapped runc (see podmanRuntime). */
export const PODMAN_RUNTIME_NOTE =
  "podman: runc is wrapped by a sh+jq script that deletes process.rlimits from the bundle's config.json before `runc create`: podman 4.3 always asks for RLIMIT_NOFILE 1048576 and RLIMIT_NPROC 32768, and runc init's setrlimit is refused here ('error setting rlimit type 7/6: operation not permitted'); dockerd and berthd set no rlimits. Costs podman one sh + jq exec per container.";

/**
 * A runc wrapper that drops process.rlimits (see PODMAN_RUNTIME_NOTE), written into `dir`; undefined
 * (podman uses plain runc) when jq or runc is missing.
 */
async function podmanRuntime(dir: string): Promise<string | undefined> {
  const runc = which('runc');
  const jq = which('jq');
  if (!runc || !jq) return undefined;
  const file = join(dir, 'runc-norlimits');
  const script = [
    '#!/bin/sh',
    '# written by berth bench/peers.ts: runc without the OCI process.rlimits',
    'b=""; prev=""',
    'for a in "$@"; do',
    '  if [ "$prev" = "--bundle" ] || [ "$prev" = "-b" ]; then b="$a"; fi',
    '  prev="$a"',
    'done',
    'if [ -n "$b" ] && [ -f "$b/config.json" ]; then',
    `  ${jq} -c 'del(.process.rlimits)' "$b/config.json" > "$b/config.json.norlimits" && mv "$b/config.json.norlimits" "$b/config.json"`,
    'fi',
    `exec ${runc} "$@"`,
    '',
  ].join('\n');
  await writeFile(file, script, { mode: 0o755 });
  return file;
}

/** `podman system service --time=0` on a temp socket and a private store. */
export async function startPodmanService(driver: PodmanDriver): Promise<Engine> {
  noteStrayDirs();
  const base = await tempDir('berth-bench-podman-');
  const socket = join(base.path, 'podman.sock');
  // Runs after the service stopped (LIFO), before the dir goes: conmon daemonizes out of its process group.
  const killMonitors = deferCleanup('kill leftover conmons', () => Promise.resolve(void killStrays([base.path])));
  let p: DaemonProc | undefined;
  const stop = async (): Promise<void> => {
    await p?.stop();
    await killMonitors();
    await base.remove();
  };
  try {
    const runtime = await podmanRuntime(base.path);
    p = spawnDaemon(
      'podman service',
      'podman',
      [...podmanArgs(base.path, driver), ...(runtime ? ['--runtime', runtime] : []), 'system', 'service', '--time=0', `unix://${socket}`],
      join(base.path, 'podman.log'),
      process.env,
      base.path,
    );
    await waitForPing(p, socket);
    const proc = p;
    return { name: 'podman', socket, dockerHost: `unix://${socket}`, rss: () => readRss([proc.pid]), roots: [base.path], stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------- clients

let cliConfigDir: Promise<string> | undefined;

/** The real docker CLI against `engine`, with a private DOCKER_CONFIG and no hints. Never throws on a non-zero exit. */
export async function dockerCli(engine: Pick<Engine, 'dockerHost'>, args: string[], timeoutMs = 180_000): Promise<RunResult> {
  cliConfigDir ??= tempDir('berth-bench-docker-config-').then((d) => d.path);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCKER_')) env[k] = v;
  Object.assign(env, {
    DOCKER_HOST: engine.dockerHost,
    DOCKER_CONFIG: await cliConfigDir,
    DOCKER_CLI_HINTS: 'false',
    DOCKER_CLI_NO_TELEMETRY: '1',
    // `docker build` speaks the classic builder protocol (no buildx here), as every engine supports.
    DOCKER_BUILDKIT: '0',
  });
  return command(dockerCliPath(), args, { env, timeoutMs });
}

/** Throws with the command's stderr unless it exited 0. */
export function mustSucceed(what: string, r: RunResult): RunResult {
  if (r.code !== 0) {
    const out = (r.stderr.toString() || r.stdout.toString()).trim().split('\n').slice(-5).join('\n');
    throw new Error(`${what} exited ${r.code}: ${out}`);
  }
  return r;
}

/** Pulls the bench image into a running engine (docker CLI, or podman's libpod API with tlsVerify=false). */
export async function pullInto(engine: Engine, img: { ref: string }): Promise<void> {
  if (engine.name !== 'podman') {
    mustSucceed(`${engine.name}: docker pull`, await dockerCli(engine, ['pull', img.ref]));
    return;
  }
  const q = new URLSearchParams({ reference: img.ref, tlsVerify: 'false', quiet: 'true' });
  const res = await unixRequest(engine.socket, 'POST', `/v4.0.0/libpod/images/pull?${q.toString()}`, undefined, {}, 180_000);
  const text = res.body.toString();
  const err = /"error"\s*:\s*"([^"]+)"/.exec(text);
  if (res.status !== 200 || err) throw new Error(`podman service pull: ${res.status} ${err?.[1] ?? text.slice(0, 200)}`);
}
