/**
 * A container's root filesystem: an overlay of the image's layer directories (read-only
 * lowers, top layer first) with a per-container upper and work dir. Node has no mount(2), so
 * mount(8) and umount(8) do the work.
 */
import { promises as fsp } from 'node:fs';
import { system } from '../common/errors.js';
import { isMounted, runTool as run, unmount } from '../common/mounts.js';

export { unmount } from '../common/mounts.js';

export interface OverlayDirs {
  /** Layer diff dirs, top layer first. */
  lowers: string[];
  upper: string;
  work: string;
  merged: string;
}

export async function mountOverlay(d: OverlayDirs): Promise<void> {
  await Promise.all([d.upper, d.work, d.merged].map((p) => fsp.mkdir(p, { recursive: true, mode: 0o755 })));
  if (await isMounted(d.merged)) return;
  if (d.lowers.length === 0) throw system('image has no layers');
  for (const l of d.lowers) if (/[,:]/.test(l)) throw system(`layer path not usable in overlay options: ${l}`);
  const opts = `lowerdir=${d.lowers.join(':')},upperdir=${d.upper},workdir=${d.work}`;
  const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, d.merged]);
  if (r.code !== 0) throw system(`mounting the container's root filesystem failed: ${r.stderr || `exit ${r.code}`}`);
}

/**
 * Who holds each container's rootfs mounted: a running container holds it from start to exit,
 * and `docker cp` / `docker export` on a stopped container hold it while they read or write.
 * The overlay is mounted by the first holder and unmounted when the last one lets go, so a
 * copy that overlaps a start (or an exit) never loses the mount under it. Mounting and
 * unmounting of one container are serialised.
 */
export class RootfsMounts {
  private readonly holders = new Map<string, number>();
  private readonly queues = new Map<string, Promise<unknown>>();

  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return next;
  }

  /** Mounts the overlay unless it already is, and counts one more holder. */
  acquire(id: string, dirs: OverlayDirs): Promise<void> {
    return this.serial(id, async () => {
      await mountOverlay(dirs);
      this.holders.set(id, (this.holders.get(id) ?? 0) + 1);
    });
  }

  /** Counts a holder of a mount that already exists (a running container found at daemon start). */
  adopt(id: string): void {
    this.holders.set(id, (this.holders.get(id) ?? 0) + 1);
  }

  /** One holder less; the last one unmounts (also when nobody was counted: a stale mount goes). */
  release(id: string, merged: string): Promise<void> {
    return this.serial(id, async () => {
      const n = (this.holders.get(id) ?? 0) - 1;
      if (n > 0) {
        this.holders.set(id, n);
        return;
      }
      this.holders.delete(id);
      await unmount(merged);
    });
  }

  /** Runs fn with the rootfs mounted. */
  async with<T>(id: string, dirs: OverlayDirs, fn: (merged: string) => Promise<T>): Promise<T> {
    await this.acquire(id, dirs);
    try {
      return await fn(dirs.merged);
    } finally {
      await this.release(id, dirs.merged);
    }
  }
}
