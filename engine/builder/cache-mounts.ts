/**
 * `RUN --mount=type=cache` directories: kept under <data-root>/builder/cache-mounts/ between
 * builds, named by the mount's id (the target path unless `id=` says otherwise), bind-mounted
 * into RUN steps and never part of an image. Each is an `exec.cachemount` record of the build
 * cache, so `docker system df` counts it and `docker builder prune` removes it.
 *
 * Sharing, as in BuildKit: `shared` (the default) lets concurrent steps use one directory;
 * `private` gives a step that finds every instance busy a new instance of its own; `locked`
 * makes a step wait until the step before it has released the directory.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { BuildCacheStore, CacheRecord } from './cache-store.js';

export type CacheSharing = 'shared' | 'private' | 'locked';

export interface CacheMountSpec {
  id: string;
  sharing: CacheSharing;
  /** The root directory's mode and owner when it is first made. */
  mode: number;
  uid: number;
  gid: number;
}

export interface HeldCacheMount {
  dir: string;
  record: CacheRecord;
  release(): void;
}

const keyOf = (id: string, instance: number): string => `exec.cachemount\0${id}\0${instance}`;

export class CacheMounts {
  /** Holders per record ID (in this daemon's lifetime: mounts never outlive a step). */
  private readonly holders = new Map<string, number>();
  /** `locked` waiters per cache id. */
  private readonly locks = new Map<string, Promise<void>>();

  constructor(
    private readonly root: string,
    private readonly store: BuildCacheStore,
  ) {}

  dirOf(rec: CacheRecord): string {
    return path.join(this.root, rec.id);
  }

  inUse(rec: CacheRecord): boolean {
    return (this.holders.get(rec.id) ?? 0) > 0;
  }

  /** Takes the cache directory for one step; `release` must be called when the step is over. */
  async acquire(spec: CacheMountSpec, description: string): Promise<HeldCacheMount> {
    let unlock: (() => void) | undefined;
    if (spec.sharing === 'locked') {
      const before = this.locks.get(spec.id) ?? Promise.resolve();
      const mine = new Promise<void>((resolve) => (unlock = resolve));
      const chained = before.then(() => mine);
      this.locks.set(spec.id, chained);
      await before;
      void chained.then(() => {
        if (this.locks.get(spec.id) === chained) this.locks.delete(spec.id);
      });
    }
    try {
      let instance = 0;
      let rec = this.store.lookup(keyOf(spec.id, instance));
      if (spec.sharing === 'private') {
        while (rec && this.inUse(rec)) rec = this.store.lookup(keyOf(spec.id, ++instance));
      }
      // A new record counts its first use.
      if (!rec) rec = await this.create(spec, instance, description);
      else this.store.touch(rec);
      const dir = this.dirOf(rec);
      // A directory removed behind our back (or by a prune racing this step) is made again.
      await this.makeDir(dir, spec);
      this.holders.set(rec.id, (this.holders.get(rec.id) ?? 0) + 1);
      const held = rec;
      let released = false;
      return {
        dir,
        record: held,
        release: () => {
          if (released) return;
          released = true;
          const n = (this.holders.get(held.id) ?? 1) - 1;
          if (n > 0) this.holders.set(held.id, n);
          else this.holders.delete(held.id);
          unlock?.();
        },
      };
    } catch (err) {
      unlock?.();
      throw err;
    }
  }

  private async create(spec: CacheMountSpec, instance: number, description: string): Promise<CacheRecord> {
    return this.store.add({ type: 'exec.cachemount', key: keyOf(spec.id, instance), description });
  }

  private async makeDir(dir: string, spec: CacheMountSpec): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true, mode: 0o700 });
    try {
      await fsp.mkdir(dir, { mode: spec.mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw err;
    }
    // mkdir's mode is masked by the umask; the cache root gets exactly what the mount asked for.
    await fsp.chmod(dir, spec.mode);
    await fsp.chown(dir, spec.uid, spec.gid);
  }

  /** Removes a cache directory's files (its record goes with the caller's prune). */
  async removeFiles(rec: CacheRecord): Promise<void> {
    await fsp.rm(this.dirOf(rec), { recursive: true, force: true });
  }
}
