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
function daemonRunner(name: string, start: () => Promise<Engine>): PullRunner {
  return {
    name,
    method: 'fresh daemon and data root per iteration; `docker pull` via /usr/local/bin/docker timed',
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

export const berthdRunner = (): PullRunner => daemonRunner('berthd', startBerthd);
export const dockerdRunner = (): PullRunner => daemonRunner('dockerd', startDockerd);

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
  /** The storage driver that worked (after the first iteration). */
  driver(): PodmanDriver;
  notes: string[];
}

/** `podman pull` with a fresh --root/--runroot per iteration; overlay, falling back to vfs if overlay fails here. */
export function podmanRunner(): PodmanRunner {
  let driver: PodmanDriver = 'overlay';
  let decided = false;
  const notes: string[] = [];
  const attempt = async (img: BenchImage, drv: PodmanDriver): Promise<number> => {
    const dir = await tempDir('berth-bench-podman-pull-');
    try {
      const g = podmanArgs(dir.path, drv);
      const s = await timed(() => command('podman', [...g, 'pull', '--tls-verify=false', img.ref], { timeoutMs: 180_000, cwd: dir.path }), `podman pull (${drv})`);
      const r = mustSucceed('podman image inspect', await command('podman', [...g, 'image', 'inspect', '--format', '{{.Id}}', img.ref], { cwd: dir.path }));
      const id = r.stdout.toString().trim();
      if (`sha256:${id}` !== img.configDigest) throw new Error(`podman: pulled image id ${id}, expected ${img.configDigest}`);
      return s;
    } finally {
      await dir.remove();
    }
  };
  return {
    name: 'podman',
    get method() {
      return `fresh --root/--runroot per iteration (storage driver ${driver}); \`podman pull\` command timed`;
    },
    notes,
    driver: () => driver,
    async once(img) {
      if (decided) return attempt(img, driver);
      try {
        const s = await attempt(img, 'overlay');
        decided = true;
        return s;
      } catch (e) {
        notes.push(`podman overlay storage failed here (${(e as Error).message.split('\n')[0]}); using vfs`);
        driver = 'vfs';
        const s = await attempt(img, 'vfs');
        decided = true;
        return s;
      }
    },
  };
}
