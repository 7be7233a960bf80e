import { chainIds, isDigest, shortId, type Digest } from '../common/digest.js';
import { BerthError, conflict, invalid, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { boolFilter, parseDockerTime, parsePruneFilters, prunable } from '../common/prune-filters.js';
import type { EventBus } from '../events/bus.js';
import type { ContentStore, LayerStore } from '../store/types.js';
import type { Reference } from '../registry/types.js';
import { familiarString, parseReference, refString } from '../registry/reference.js';
import { parseImageConfig, type ImageConfig } from './config.js';
import type { ImageDb, ImageRecord } from './imagedb.js';

const IMAGE_PRUNE_FILTERS = ['dangling', 'label', 'label!', 'until'] as const;

/** Who else holds on to images (containers, later); the composition root provides it. */
export interface ImageUsers {
  /** IDs of containers created from this image. */
  containersUsing(imageId: Digest): string[];
}

/**
 * Image-like records that are not images: the build cache's step states (engine/builder).
 * ImageService finds one by its full ID only (a build step's container is made from it) and
 * never lists it; its config and layers are garbage-collection roots while the source keeps it.
 */
export interface StateSource {
  state(id: Digest): Pick<ImageRecord, 'id' | 'diffIds' | 'layerBlobs'> | undefined;
  states(): Iterable<Pick<ImageRecord, 'id' | 'diffIds' | 'layerBlobs'>>;
}

export interface ResolvedImage {
  record: ImageRecord;
  config: ImageConfig;
}

export type DeleteResult = Array<{ Untagged: string } | { Deleted: string }>;

/**
 * Images as Docker users see them: named by reference, ID or ID prefix; tagged,
 * untagged and deleted; their layers and blobs collected when nothing needs them.
 * Pulls and loads add images through `commitImage`.
 */
export class ImageService {
  private readonly configCache = new Map<Digest, ImageConfig>();
  /** Content that a pull or load in progress has written but not yet recorded. */
  private readonly leases = new Map<string, number>();
  users: ImageUsers = { containersUsing: () => [] };
  states: StateSource = { state: () => undefined, states: () => [] };

  constructor(
    readonly db: ImageDb,
    readonly content: ContentStore,
    readonly layers: LayerStore,
    readonly events: EventBus,
    private readonly log: Logger,
  ) {}

  // ---- leases: keep in-flight content safe from garbage collection ----

  lease(keys: string[]): () => void {
    for (const k of keys) this.leases.set(k, (this.leases.get(k) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of keys) {
        const n = (this.leases.get(k) ?? 1) - 1;
        if (n <= 0) this.leases.delete(k);
        else this.leases.set(k, n);
      }
    };
  }

  // ---- lookup ----

  async config(id: Digest): Promise<ImageConfig> {
    let cfg = this.configCache.get(id);
    if (!cfg) {
      cfg = parseImageConfig(await this.content.readBuffer(id));
      this.configCache.set(id, cfg);
    }
    return cfg;
  }

  /**
   * Find an image the way dockerd does: full ID, reference (tag or digest),
   * then a unique ID prefix.
   */
  resolveRecord(name: string): ImageRecord {
    const found = this.tryResolve(name);
    if (!found) throw notFound(`No such image: ${name}`);
    return found;
  }

  /** An image or a build state by full ID (what a container's ImageID names). */
  record(id: Digest): ImageRecord | undefined {
    const img = this.db.image(id);
    if (img) return img;
    const state = this.states.state(id);
    return state ? { ...state, repoDigests: [], manifests: {}, size: 0, storedAt: '' } : undefined;
  }

  async resolve(name: string): Promise<ResolvedImage> {
    const record = (isDigest(name) ? this.record(name) : undefined) ?? this.resolveRecord(name);
    return { record, config: await this.config(record.id) };
  }

  tryResolve(name: string): ImageRecord | undefined {
    if (name === '') return undefined;
    if (isDigest(name)) return this.db.image(name);
    let ref: Reference | undefined;
    try {
      ref = parseReference(name);
    } catch {
      ref = undefined;
    }
    if (ref) {
      if (ref.digest) {
        const want = `${fullRepo(ref)}@${ref.digest}`;
        const hit = this.db.images().find((img) => img.repoDigests.includes(want));
        if (hit) return hit;
      } else {
        const id = this.db.tag(refString(ref));
        if (id) return this.db.image(id);
      }
    }
    const hex = name.startsWith('sha256:') ? name.slice(7) : name;
    if (/^[a-f0-9]{1,64}$/.test(hex)) {
      const matches = this.db.images().filter((img) => img.id.slice(7).startsWith(hex));
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) throw invalid(`ambiguous image ID prefix ${name}: ${matches.length} images match`);
    }
    return undefined;
  }

  list(): ImageRecord[] {
    return this.db.images();
  }

  repoTags(id: Digest): string[] {
    return this.db
      .tagsFor(id)
      .map((t) => familiarString(parseReference(t)))
      .sort();
  }

  familiarRepoDigests(record: ImageRecord): string[] {
    return record.repoDigests.map((rd) => familiarString(parseReference(rd))).sort();
  }

  /** No tag and no repo digest: nothing names this image any more. */
  isDangling(img: ImageRecord): boolean {
    return this.db.tagsFor(img.id).length === 0 && img.repoDigests.length === 0;
  }

  /** Children: images whose parent is this one (only images made by build/commit have parents). */
  children(id: Digest): ImageRecord[] {
    return this.db.images().filter((img) => img.parent === id);
  }

  // ---- writes ----

  /**
   * Record an image whose config and layers are already stored, and point `tag`
   * (a full "domain/path:tag") at it. Returns whether the tag changed.
   */
  async commitImage(
    record: Omit<ImageRecord, 'storedAt' | 'repoDigests' | 'manifests' | 'size'> & {
      repoDigest?: string;
      manifest?: { repo: string; digest: Digest };
    },
    tag: string | undefined,
  ): Promise<{ tagChanged: boolean }> {
    const size = await this.layersSize(record.diffIds);
    const now = new Date().toISOString();
    const result = await this.db.update((db) => {
      const prev = db.images[record.id];
      const img: ImageRecord = prev ?? {
        id: record.id,
        diffIds: record.diffIds,
        layerBlobs: record.layerBlobs,
        repoDigests: [],
        manifests: {},
        size,
        storedAt: now,
        ...(record.parent ? { parent: record.parent } : {}),
      };
      // Fill in blobs we did not know about before (e.g. a load followed by a pull).
      img.layerBlobs = img.layerBlobs.map((b, i) => b ?? record.layerBlobs[i] ?? null);
      if (record.repoDigest) {
        const repo = record.repoDigest.split('@')[0] ?? '';
        // One digest per repository: a newer pull by the same repo replaces the old digest.
        img.repoDigests = img.repoDigests.filter((rd) => rd.split('@')[0] !== repo);
        img.repoDigests.push(record.repoDigest);
      }
      if (record.manifest) img.manifests[record.manifest.repo] = record.manifest.digest;
      let tagChanged = false;
      if (tag) {
        const old = db.tags[tag];
        if (old !== record.id) {
          tagChanged = true;
          db.tags[tag] = record.id;
          img.lastTagTime = now;
        }
      }
      db.images[record.id] = img;
      return { tagChanged };
    });
    return result;
  }

  async tag(source: string, repo: string, tag: string | undefined): Promise<string> {
    const img = this.resolveRecord(source);
    if (!repo) throw invalid('repository name must be given');
    const target = parseReference(tag ? `${repo}:${tag}` : repo);
    if (target.digest) throw invalid('refusing to create a tag with a digest reference');
    const full = refString(target);
    await this.db.update((db) => {
      db.tags[full] = img.id;
      const rec = db.images[img.id];
      if (rec) rec.lastTagTime = new Date().toISOString();
    });
    this.events.publish('image', 'tag', img.id, { name: familiarString(target) });
    return full;
  }

  /** DELETE /images/{name}: untag, and delete once nothing names the image. */
  async remove(name: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<DeleteResult> {
    const img = this.resolveRecord(name);
    const out: DeleteResult = [];
    const tags = this.db.tagsFor(img.id);
    const byId = this.isIdReference(name, img.id);
    const users = this.users.containersUsing(img.id);

    if (!byId) {
      const ref = parseReference(name);
      const untagged: string[] = [];
      if (ref.digest) {
        const rd = `${fullRepo(ref)}@${ref.digest}`;
        if (!img.repoDigests.includes(rd)) throw notFound(`No such image: ${name}`);
        untagged.push(rd);
      } else {
        untagged.push(refString(ref));
      }
      const remainingTags = tags.filter((t) => !untagged.includes(t));
      const remainingDigests = img.repoDigests.filter((rd) => !untagged.includes(rd));
      // The last name of an image still used by a container cannot go without force
      // (Docker: "image is being used by stopped container").
      if (remainingTags.length === 0 && users.length > 0 && !opts.force) {
        throw conflict(
          `conflict: unable to remove repository reference "${name}" (must force) - container ${shortId(users[0] ?? '')} is using its referenced image ${shortId(img.id)}`,
        );
      }
      // Removing the last tag also drops the repo digests, as dockerd does.
      const dropDigests = remainingTags.length === 0 ? remainingDigests : [];
      await this.db.update((db) => {
        for (const t of untagged) delete db.tags[t];
        const rec = db.images[img.id];
        if (rec) rec.repoDigests = rec.repoDigests.filter((rd) => !untagged.includes(rd) && !dropDigests.includes(rd));
      });
      for (const t of [...untagged, ...dropDigests]) {
        const fam = familiarString(parseReference(t));
        out.push({ Untagged: fam });
        this.events.publish('image', 'untag', img.id, { name: fam });
      }
      if (remainingTags.length > 0 || users.length > 0) return out;
      if (this.children(img.id).length > 0) return out;
    } else {
      if (tags.length > 1 && !opts.force) {
        throw conflict(
          `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`,
        );
      }
      if (users.length > 0 && !opts.force) {
        throw conflict(
          `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(users[0] ?? '')}`,
        );
      }
      if (this.children(img.id).length > 0) {
        throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image has dependent child images`);
      }
      const names = [...tags, ...img.repoDigests];
      await this.db.update((db) => {
        for (const t of tags) delete db.tags[t];
      });
      for (const t of names) {
        const fam = familiarString(parseReference(t));
        out.push({ Untagged: fam });
        this.events.publish('image', 'untag', img.id, { name: fam });
      }
      if (users.length > 0) return out; // forced untag of an image a container still uses: keep it
    }

    out.push(...(await this.deleteRecord(img, opts.noprune === true)));
    return out;
  }

  private async deleteRecord(img: ImageRecord, noprune: boolean): Promise<DeleteResult> {
    const out: DeleteResult = [];
    await this.db.update((db) => {
      delete db.images[img.id];
      for (const [t, id] of Object.entries(db.tags)) if (id === img.id) delete db.tags[t];
    });
    this.configCache.delete(img.id);
    out.push({ Deleted: img.id });
    this.events.publish('image', 'delete', img.id, {});
    const { layers } = await this.collectGarbage();
    for (const l of layers) out.push({ Deleted: l });
    // Untagged parents go too, unless noprune (images made by build/commit).
    if (!noprune && img.parent) {
      const parent = this.db.image(img.parent);
      if (parent && this.db.tagsFor(parent.id).length === 0 && this.children(parent.id).length === 0) {
        out.push(...(await this.deleteRecord(parent, false)));
      }
    }
    return out;
  }

  /** POST /images/prune. */
  async prune(filters: Record<string, string[]>): Promise<{ ImagesDeleted: DeleteResult; SpaceReclaimed: number }> {
    // Every filter is checked before anything is removed.
    const f = parsePruneFilters(filters, IMAGE_PRUNE_FILTERS);
    const danglingOnly = boolFilter(filters, 'dangling', true);
    const deleted: DeleteResult = [];
    const sizeBefore = await this.storeSize();
    for (const img of this.db.images()) {
      const tags = this.db.tagsFor(img.id);
      // Like dockerd, an image pulled by digest only is named (repo@digest), not dangling.
      if (danglingOnly && !this.isDangling(img)) continue;
      if (this.users.containersUsing(img.id).length > 0) continue;
      if (this.children(img.id).length > 0) continue;
      const cfg = await this.config(img.id).catch(() => undefined);
      const created = cfg?.created ? Date.parse(cfg.created) : 0;
      if (!prunable(f, Number.isNaN(created) ? 0 : created, cfg?.config?.Labels)) continue;
      for (const t of [...tags, ...img.repoDigests]) deleted.push({ Untagged: familiarString(parseReference(t)) });
      await this.db.update((db) => {
        for (const t of tags) delete db.tags[t];
      });
      deleted.push(...(await this.deleteRecord(img, false)));
    }
    const reclaimed = deleted.length > 0 ? Math.max(0, sizeBefore - (await this.storeSize())) : 0;
    if (deleted.length > 0) this.events.publish('image', 'prune', '', { reclaimed: String(reclaimed) });
    return { ImagesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  private async storeSize(): Promise<number> {
    const layers = await this.layers.list();
    const blobs = await this.content.list();
    return layers.reduce((n, l) => n + l.size, 0) + blobs.reduce((n, b) => n + b.size, 0);
  }

  /**
   * Delete layers and blobs no image or build-cache state refers to and no in-flight pull has leased.
   * Runs after deletes and at start-up (which is how an interrupted pull's
   * already-committed layers are cleaned).
   */
  async collectGarbage(): Promise<{ layers: Digest[]; blobs: Digest[] }> {
    const liveLayers = new Set<string>();
    const liveBlobs = new Set<string>();
    for (const state of this.states.states()) {
      liveBlobs.add(state.id);
      for (const c of chainIds(state.diffIds)) liveLayers.add(c);
      for (const b of state.layerBlobs) if (b) liveBlobs.add(b.digest);
    }
    for (const img of this.db.images()) {
      liveBlobs.add(img.id);
      for (const c of chainIds(img.diffIds)) liveLayers.add(c);
      for (const b of img.layerBlobs) if (b) liveBlobs.add(b.digest);
      for (const m of Object.values(img.manifests)) liveBlobs.add(m);
      for (const rd of img.repoDigests) {
        const d = rd.split('@')[1];
        if (d) liveBlobs.add(d);
      }
    }
    const removedLayers: Digest[] = [];
    const removedBlobs: Digest[] = [];
    for (const l of await this.layers.list()) {
      if (liveLayers.has(l.chainId) || this.leases.has(l.chainId)) continue;
      await this.layers.delete(l.chainId);
      removedLayers.push(l.chainId);
    }
    for (const b of await this.content.list()) {
      if (liveBlobs.has(b.digest) || this.leases.has(b.digest)) continue;
      await this.content.delete(b.digest);
      removedBlobs.push(b.digest);
    }
    if (removedLayers.length + removedBlobs.length > 0) {
      this.log.debug('garbage collected', { layers: removedLayers.length, blobs: removedBlobs.length });
    }
    return { layers: removedLayers, blobs: removedBlobs };
  }

  async layersSize(diffIds: Digest[]): Promise<number> {
    let size = 0;
    for (const c of chainIds(diffIds)) {
      const info = await this.layers.get(c);
      if (!info) throw new BerthError('system', `layer ${c} of image is missing from the layer store`);
      size += info.size;
    }
    return size;
  }

  /** Did the user name the image by ID (or ID prefix) rather than by a reference? */
  private isIdReference(name: string, id: Digest): boolean {
    if (name === id) return true;
    if (/^sha256:[a-f0-9]{1,64}$/.test(name)) return id.startsWith(name);
    if (!/^[a-f0-9]{1,64}$/.test(name)) return false;
    // A bare hex string is a tag reference when such a tag exists.
    try {
      if (this.db.tag(refString(parseReference(name)))) return false;
    } catch {
      // not a valid reference: it can only be an ID prefix
    }
    return id.slice(7).startsWith(name);
  }

}

export function fullRepo(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}


export function matchLabel(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return filter in labels;
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

/** Docker time filters (see parseDockerTime), in seconds since the epoch. */
export function parseTimeFilter(v: string): number {
  return parseDockerTime(v) / 1000;
}
