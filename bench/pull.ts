// Cold pulls: every iteration starts from empty storage, and only the pull itself is timed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../test/harness/util.js';
import type { BenchImage } from './image.js';
import { dockerCli, mustSucceed, podmanArgs, startBerthd, startDockerd, type Engine, type PodmanDriver } from './peers.js';
import { command, tempDir } from './proc.js';

export interface PullRunner {
  name: string;
  /** How one iteration is made cold, for the report. */
  method: string;
  /** One cold pull of `img`; returns the timed seconds. Verifies the result (untimed). */
  once(img: BenchImage): Promise<number>;
}

/** Flushes dirty pages left by the previous iteration so they are not written back on the next one's clock. */
async function settleDisk(): Promise<void> {
  await command('sync', [], { timeoutMs: 120_000 });
}

async function timed(fn: () => Promise<RunResult>, what: string): Promise<number> {
  await settleDisk();
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  mustSucceed(what, r);
  return seconds;
}

async function verifyDockerImage(engine: Engine, img: BenchImage): Promise<void> {
  const r = mustSucceed('docker image inspect', await dockerCli(engine, ['image', 'inspect', '--format', '{{.Id}}', img.ref]));
  const id = r.stdout.toString().trim();
  if (id !== img.configDigest) throw new Error(`${engine.name}: pulled image id ${id}, expected ${img.configDigest}`);
}

/** A Docker-API daemon started on fresh roots for each pull, pulled through the real docker CLI. */
function daemonRunner(name: string, start: () => Promise<Engine>, fresh: string): PullRunner {
  return {
    name,
    method: `${fresh} per iteration; \`docker pull\` via /usr/local/bin/docker timed`,
    async once(img) {
      const engine = await start();
      try {
        const s = await timed(() => dockerCli(engine, ['pull', img.ref]), `${name}: docker pull`);
        await verifyDockerImage(engine, img);
        return s;
      } finally {
        await engine.stop();
      }
    },
  };
}

export const berthdRunner = (): PullRunner => daemonRunner('berthd', startBerthd, 'fresh berthd, data root and exec root');
export const dockerdRunner = (): PullRunner =>
  daemonRunner('dockerd', startDockerd, 'fresh containerd + dockerd with new data/exec/containerd roots (nothing to rmi or prune)');

export function skopeoRunner(): PullRunner {
  return {
    name: 'skopeo',
    method: 'fresh oci: layout dir per iteration; `skopeo copy` timed (stores compressed blobs, no unpacking)',
    async once(img) {
      const dir = await tempDir('berth-bench-skopeo-');
      try {
        const dest = join(dir.path, 'layout');
        const s = await timed(
          () => command('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${img.ref}`, `oci:${dest}:x`], { timeoutMs: 180_000 }),
          'skopeo copy',
        );
        for (const d of img.layerDigests) {
          if (!existsSync(join(dest, 'blobs', 'sha256', d.slice('sha256:'.length)))) throw new Error(`skopeo: layer ${d} missing from ${dest}`);
        }
        return s;
      } finally {
        await dir.remove();
      }
    },
  };
}

export interface PodmanRunner extends PullRunner {
  /** The storage driver in use (decided before the first timed pull). */
  driver(): PodmanDriver;
  /** Decides the storage driver now (if no pull did yet) and returns it. */
  ensureDriver(): Promise<PodmanDriver>;
  notes: string[];
}

/**
 * Picks podman's storage driver: overlay when a fresh store initializes with it here (podman
 * checks kernel overlay support when it opens the store), else vfs.
 */
async function pickPodmanDriver(notes: string[]): Promise<PodmanDriver> {
  const dir = await tempDir('berth-bench-podman-probe-');
  try {
    const r = await command('podman', [...podmanArgs(dir.path, 'overlay'), 'images', '--quiet'], { timeoutMs: 60_000, cwd: dir.path });
    if (r.code === 0) return 'overlay';
    const why = r.stderr.toString().trim().split('\n').slice(-1)[0] ?? `exit ${r.code}`;
    notes.push(`podman overlay storage does not work here (${why}); podman uses vfs`);
    return 'vfs';
  } finally {
    await dir.remove();
  }
}

/** `podman pull` with a fresh --root/--runroot per iteration; overlay storage, or vfs if overlay does not work here. */
export function podmanRunner(): PodmanRunner {
  let driver: PodmanDriver | undefined;
  const notes: string[] = [];
  return {
    name: 'podman',
    get method() {
      return `fresh --root/--runroot per iteration (storage driver ${driver ?? 'overlay'}); \`podman pull\` command timed`;
    },
    notes,
    driver: () => driver ?? 'overlay',
    async ensureDriver() {
      driver ??= await pickPodmanDriver(notes);
      return driver;
    },
    async once(img) {
      driver ??= await pickPodmanDriver(notes);
      const dir = await tempDir('berth-bench-podman-pull-');
      try {
        const g = podmanArgs(dir.path, driver);
        const s = await timed(() => command('podman', [...g, 'pull', '--tls-verify=false', img.ref], { timeoutMs: 180_000, cwd: dir.path }), 'podman pull');
        const r = mustSucceed('podman image inspect', await command('podman', [...g, 'image', 'inspect', '--format', '{{.Id}}', img.ref], { cwd: dir.path }));
        const id = r.stdout.toString().trim();
        if (`sha256:${id}` !== img.configDigest) throw new Error(`podman: pulled image id ${id}, expected ${img.configDigest}`);
        return s;
      } finally {
        await dir.remove();
      }
    },
  };
}
