/**
 * `--cache-from` with images that were not built here (pulled in CI, say): Docker's classic
 * builder takes a step from such an image when the image's history goes on from the state the
 * step runs on with this very step. The state after the step is then made from the image's own
 * history entry and layer, without running anything: the image's last step is the image itself;
 * an earlier one is a new config (the step's config, that history, those layers) written next
 * to the layers the image already holds, and recorded in the build cache like any step's state.
 */
import { chainIds, sha256, type Digest } from '../common/digest.js';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../images/config.js';
import type { ImageService } from '../images/service.js';
import type { BuildState } from './cache-store.js';

interface Source {
  id: Digest;
  config: ImageConfig;
  layerBlobs: BuildState['layerBlobs'];
}

const sameEntry = (a: HistoryEntry, b: HistoryEntry): boolean =>
  a.created_by === b.created_by && (a.empty_layer ?? false) === (b.empty_layer ?? false) && (a.created ?? '') === (b.created ?? '');

export class CacheFromImages {
  private constructor(
    private readonly images: ImageService,
    private readonly sources: Source[],
  ) {}

  /** The cache-from images that are here (the others are skipped, as dockerd does). */
  static async load(images: ImageService, refs: string[]): Promise<CacheFromImages> {
    const sources: Source[] = [];
    for (const ref of refs) {
      let rec;
      try {
        rec = images.tryResolve(ref);
      } catch {
        rec = undefined;
      }
      if (!rec) continue;
      sources.push({ id: rec.id, config: await images.config(rec.id), layerBlobs: rec.layerBlobs });
    }
    return new CacheFromImages(images, sources);
  }

  get empty(): boolean {
    return this.sources.length === 0;
  }

  /**
   * The state after a step (`createdBy`, leaving `config`) on `parent`, taken from a source
   * image whose history continues that way; undefined when none does.
   */
  async restore(parent: Digest | undefined, createdBy: string, config: ContainerConfig): Promise<{ state: BuildState; release(): void } | undefined> {
    const parentCfg = parent ? await this.images.config(parent) : undefined;
    const history = parentCfg?.history ?? [];
    const diffs = (parentCfg?.rootfs.diff_ids ?? []) as Digest[];
    for (const src of this.sources) {
      const theirs = src.config.history ?? [];
      const theirDiffs = src.config.rootfs.diff_ids as Digest[];
      if (theirs.length <= history.length || theirDiffs.length < diffs.length) continue;
      if (!history.every((h, i) => sameEntry(h, theirs[i] as HistoryEntry)) || !diffs.every((d, i) => d === theirDiffs[i])) continue;
      const entry = theirs[history.length] as HistoryEntry;
      if (entry.created_by !== createdBy) continue;
      const diffIds = entry.empty_layer ? diffs : [...diffs, theirDiffs[diffs.length] as Digest];
      if (diffIds.length > theirDiffs.length) continue;
      const layerBlobs = src.layerBlobs.slice(0, diffIds.length);
      if (theirs.length === history.length + 1 && diffIds.length === theirDiffs.length) {
        return { state: { id: src.id, diffIds, layerBlobs }, release: () => undefined };
      }
      const top = chainIds(diffIds).at(-1);
      if (top !== undefined && !(await this.images.layers.has(top))) continue;
      const made: ImageConfig = {
        architecture: src.config.architecture,
        ...(src.config.variant ? { variant: src.config.variant } : {}),
        os: src.config.os,
        config,
        ...(entry.created ? { created: entry.created } : {}),
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: [...history, entry],
      };
      const bytes = Buffer.from(JSON.stringify(made));
      const id = sha256(bytes);
      // Leased until the caller has recorded the state (a garbage collection could take it before).
      const release = this.images.lease([id]);
      await this.images.content.putBuffer(bytes, id);
      return { state: { id, diffIds, layerBlobs }, release };
    }
    return undefined;
  }
}
