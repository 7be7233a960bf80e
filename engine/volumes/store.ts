/**
 * VolumeStore: the `local` driver's volumes on disk, and their mounts.
 *
 *   <data-root>/volumes/<name>/volume.json   the VolumeRecord (atomic write)
 *   <data-root>/volumes/<name>/_data/        the content: what containers mount
 *   <data-root>/volumes/.new-<random>/       a volume being created (renamed into place when complete)
 *   <data-root>/volumes/.gone-<random>/      a volume being removed (renamed out of the way first)
 *
 * A volume directory that exists is therefore complete, and leftovers of a daemon killed in the
 * middle are the dot-directories, removed at start-up (names cannot start with a dot).
 *
 * A volume with driver options (tmpfs, a device, a bind) is mounted on its `_data` while someone
 * holds it: containers acquire a volume when they start and release it when they exit; the first
 * holder mounts and the last one unmounts. Holders live in memory: after a restart the daemon
 * re-acquires for the containers still running and then calls releaseUnheld(), which unmounts
 * whatever nobody claimed. Operations on one volume are serialised.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { errorMessage, system } from '../common/errors.js';
import { removeTree } from '../../hostfs/rooted.js';
import { atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import { isMounted, mountPoints, runTool, unmount } from '../common/mounts.js';
import { localMount, mountArgs } from './local-options.js';
import type { VolumeRecord } from './types.js';

export class VolumeStore {
  private readonly vols = new Map<string, VolumeRecord>();
  private readonly holders = new Map<string, Set<string>>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {}

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(name, tail);
    void tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return next;
  }

  /** Loads every volume; removes what an interrupted create or remove left behind. */
  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true, mode: 0o701 });
    for (const entry of await fsp.readdir(this.root)) {
      const dir = path.join(this.root, entry);
      if (entry.startsWith('.')) {
        await this.removeDir(dir).catch((err: unknown) => this.log.warn('cannot remove a volume left half-done', { dir, err: errorMessage(err) }));
        continue;
      }
      const rec = await readJsonIfExists<VolumeRecord>(path.join(dir, 'volume.json')).catch(() => undefined);
      if (!rec || rec.Name !== entry) {
        this.log.warn('ignoring a volume directory without a valid record', { dir });
        continue;
      }
      this.vols.set(rec.Name, rec);
    }
  }

  dataPath(name: string): string {
    return path.join(this.root, name, '_data');
  }

  get(name: string): VolumeRecord | undefined {
    return this.vols.get(name);
  }

  all(): VolumeRecord[] {
    return [...this.vols.values()];
  }

  /** Writes a new volume; false when one of that name exists already (then nothing is written). */
  create(rec: VolumeRecord): Promise<boolean> {
    return this.serial(rec.Name, async () => {
      if (this.vols.has(rec.Name)) return false;
      const tmp = path.join(this.root, `.new-${randomBytes(8).toString('hex')}`);
      try {
        await fsp.mkdir(tmp, { mode: 0o701 });
        await fsp.mkdir(path.join(tmp, '_data'), { mode: 0o755 });
        await atomicWriteJson(path.join(tmp, 'volume.json'), rec);
        await fsp.rename(tmp, path.join(this.root, rec.Name));
      } catch (err) {
        await fsp.rm(tmp, { recursive: true, force: true });
        throw err;
      }
      this.vols.set(rec.Name, rec);
      return true;
    });
  }

  /** Removes a volume and its content (unmounting it first). The caller checked it is unused. */
  remove(name: string): Promise<void> {
    return this.serial(name, async () => {
      if (!this.vols.has(name)) return;
      const dir = path.join(this.root, name);
      await unmount(this.dataPath(name));
      await this.assertNoMountsUnder(dir);
      const gone = path.join(this.root, `.gone-${randomBytes(8).toString('hex')}`);
      await fsp.rename(dir, gone);
      this.vols.delete(name);
      this.holders.delete(name);
      await this.removeDir(gone);
    });
  }

  /** rm -rf that refuses to descend into a mount (a bind volume's device must never be emptied). */
  private async removeDir(dir: string): Promise<void> {
    await unmount(path.join(dir, '_data'));
    await this.assertNoMountsUnder(dir);
    // rm -rf: a volume can hold a tree deeper than PATH_MAX.
    await removeTree(dir);
  }

  private async assertNoMountsUnder(dir: string): Promise<void> {
    const under = [...(await mountPoints())].filter((m) => m === dir || m.startsWith(`${dir}/`));
    if (under.length > 0) throw system(`volume directory ${dir} still has mounts: ${under.join(', ')}`);
  }

  // ---------------------------------------------------------------- mounts

  /** Counts `holder` as a user of the volume, mounting it for the first; returns the host path to mount. */
  acquire(name: string, holder: string): Promise<string> {
    return this.serial(name, async () => {
      const rec = this.vols.get(name);
      if (!rec) throw system(`volume ${name} disappeared`);
      const data = this.dataPath(name);
      const m = localMount(rec.Options);
      if (m && !(await isMounted(data))) {
        const r = await runTool('mount', mountArgs(m, data));
        if (r.code !== 0) throw system(`error while mounting volume '${data}': ${r.stderr || `mount exited ${r.code}`}`);
      }
      let set = this.holders.get(name);
      if (!set) this.holders.set(name, (set = new Set()));
      set.add(holder);
      return data;
    });
  }

  /** One holder less; the last one unmounts a volume with driver options. */
  release(name: string, holder: string): Promise<void> {
    return this.serial(name, async () => {
      const set = this.holders.get(name);
      set?.delete(holder);
      if (set && set.size > 0) return;
      this.holders.delete(name);
      const rec = this.vols.get(name);
      if (rec && localMount(rec.Options)) await unmount(this.dataPath(name));
    });
  }

  /** After start-up reconciliation: unmounts the volumes no running container claimed. */
  async releaseUnheld(): Promise<void> {
    const mounted = await mountPoints();
    for (const rec of this.vols.values()) {
      if (this.holders.has(rec.Name) || !mounted.has(this.dataPath(rec.Name))) continue;
      await this.serial(rec.Name, async () => {
        if (!this.holders.has(rec.Name)) await unmount(this.dataPath(rec.Name));
      }).catch((err: unknown) => this.log.warn('cannot unmount an unused volume', { name: rec.Name, err: errorMessage(err) }));
    }
  }
}
