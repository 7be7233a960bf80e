/**
 * The build cache as `docker system df` reports it and as `docker builder prune` reclaims it.
 *
 * Size: a `regular` record counts the layer its step added (layer directory plus its gzip
 * blob), once, by the record that made it; a step that only changed the config is 0. An
 * `exec.cachemount` counts its directory. Shared: the record's layer is also an image's (so
 * deleting the record frees nothing while the image stays). InUse: a container stands on the
 * record's state (a step running now, or a failed step's container kept for inspection), a
 * build in progress uses it, or a step has the cache mount mounted.
 *
 * Prune follows BuildKit: without `all`, shared records stay; the filters are read and matched
 * by engine/common/prune-filters.ts (parseCachePruneFilters, cachePrunable); `keepStorage` keeps the most recently used records up to that many bytes. Records are taken
 * leaves first (a step before its parent), then unreferenced content goes through the image
 * service's garbage collection, which knows what images and remaining states still hold.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { BuildCacheRecord } from '../../types/engine-api.js';
import { chainIds, type Digest } from '../common/digest.js';
import { cachePrunable, parseCachePruneFilters } from '../common/prune-filters.js';
import type { ImageService } from '../images/service.js';
import type { CacheMounts } from './cache-mounts.js';
import type { BuildCacheStore, CacheRecord } from './cache-store.js';

export interface CachePruneOptions {
  all: boolean;
  filters: Record<string, string[]>;
  /** Bytes of cache to keep (0 = no limit): the most recently used records stay. */
  keepStorage: number;
}

interface Facts {
  size: number;
  shared: boolean;
  inUse: boolean;
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      const st = await fsp.lstat(p).catch(() => undefined);
      if (!st) continue;
      total += st.isDirectory() ? 4096 : st.blocks * 512;
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}

export class CacheUsage {
  constructor(
    private readonly store: BuildCacheStore,
    private readonly images: ImageService,
    private readonly mounts: CacheMounts,
    /** States a build in progress stands on. */
    private readonly activeStates: () => ReadonlySet<Digest>,
  ) {}

  private async facts(): Promise<Map<string, Facts>> {
    const imageChains = new Set<string>();
    for (const img of this.images.list()) for (const c of chainIds(img.diffIds)) imageChains.add(c);
    const layerSizes = new Map((await this.images.layers.list()).map((l) => [l.chainId as string, l.size + (l.blob?.size ?? 0)]));
    const active = this.activeStates();
    const out = new Map<string, Facts>();
    for (const r of this.store.list()) {
      if (r.type === 'exec.cachemount') {
        out.set(r.id, { size: await dirSize(this.mounts.dirOf(r)), shared: false, inUse: this.mounts.inUse(r) });
        continue;
      }
      const state = r.state;
      if (!state) continue;
      const parentLayers = r.parentState ? (this.images.record(r.parentState)?.diffIds.length ?? 0) : 0;
      const top = chainIds(state.diffIds).at(-1);
      const added = top !== undefined && state.diffIds.length > parentLayers;
      const owns = this.store.recordOfState(state.id)?.id === r.id;
      out.set(r.id, {
        size: added && owns ? (layerSizes.get(top) ?? 0) : 0,
        shared: top !== undefined && imageChains.has(top),
        inUse: active.has(state.id) || this.images.users.containersUsing(state.id).length > 0,
      });
    }
    return out;
  }

  /** GET /system/df's BuildCache. */
  async list(): Promise<BuildCacheRecord[]> {
    const facts = await this.facts();
    return this.store.list().map((r) => {
      const f = facts.get(r.id) ?? { size: 0, shared: false, inUse: false };
      const parent = r.parentState ? this.store.recordOfState(r.parentState) : undefined;
      return {
        ID: r.id,
        ...(parent ? { Parents: [parent.id] } : {}),
        Type: r.type,
        Description: r.description,
        InUse: f.inUse,
        Shared: f.shared,
        Size: f.size,
        CreatedAt: r.createdAt,
        LastUsedAt: r.lastUsedAt,
        UsageCount: r.usageCount,
      } as BuildCacheRecord;
    });
  }

  /** POST /build/prune. Bad filters are refused before anything is touched. */
  async prune(o: CachePruneOptions): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    const filters = parseCachePruneFilters(o.filters);
    const parentOf = (r: CacheRecord): string | undefined => (r.parentState ? this.store.recordOfState(r.parentState)?.id : undefined);
    const match = (r: CacheRecord, f: Facts): boolean =>
      cachePrunable(filters, { id: r.id, type: r.type, description: r.description, lastUsedMs: Date.parse(r.lastUsedAt), inUse: f.inUse, shared: f.shared, parentId: parentOf(r) });
    const facts = await this.facts();
    const records = this.store.list();
    const eligible = new Set(
      records
        .filter((r) => {
          const f = facts.get(r.id);
          if (!f || f.inUse) return false;
          if (!o.all && f.shared) return false;
          return match(r, f);
        })
        .map((r) => r.id),
    );
    // keep-storage: the most recently used records stay while they fit.
    if (o.keepStorage > 0) {
      let total = records.reduce((n, r) => n + (facts.get(r.id)?.size ?? 0), 0);
      const oldestFirst = records.filter((r) => eligible.has(r.id)).sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt));
      const keep = new Set(eligible);
      for (const r of oldestFirst) {
        if (total <= o.keepStorage) break;
        keep.delete(r.id);
        total -= facts.get(r.id)?.size ?? 0;
      }
      for (const id of keep) eligible.delete(id);
    }
    // Leaves first: a record goes only once no remaining record stands on its state.
    const remaining = new Map(records.map((r) => [r.id, r]));
    const children = (r: CacheRecord): number => {
      if (!r.state) return 0;
      let n = 0;
      for (const other of remaining.values()) if (other.parentState === r.state.id && other.id !== r.id) n++;
      return n;
    };
    const doomed: CacheRecord[] = [];
    for (let progress = true; progress; ) {
      progress = false;
      for (const r of [...remaining.values()]) {
        if (!eligible.has(r.id) || children(r) > 0) continue;
        remaining.delete(r.id);
        doomed.push(r);
        progress = true;
      }
    }
    if (doomed.length === 0) return { CachesDeleted: [], SpaceReclaimed: 0 };
    const layerSizes = new Map((await this.images.layers.list()).map((l) => [l.chainId as string, l.size]));
    const blobSizes = new Map((await this.images.content.list()).map((b) => [b.digest as string, b.size]));
    let reclaimed = 0;
    for (const r of doomed) if (r.type === 'exec.cachemount') reclaimed += facts.get(r.id)?.size ?? 0;
    await this.store.remove(doomed.map((r) => r.id));
    for (const r of doomed) if (r.type === 'exec.cachemount') await this.mounts.removeFiles(r);
    const gc = await this.images.collectGarbage();
    for (const l of gc.layers) reclaimed += layerSizes.get(l) ?? 0;
    for (const b of gc.blobs) reclaimed += blobSizes.get(b) ?? 0;
    return { CachesDeleted: doomed.map((r) => r.id), SpaceReclaimed: reclaimed };
  }
}
