/**
 * Upgrading from a Berth whose builder kept every step as an intermediate image, indexed in
 * <data-root>/builder/cache.json ({entries: {stepKey: imageId}}). Once, at start-up:
 *
 * - every indexed step whose image still exists becomes a `regular` build-cache record with
 *   that image's config and layers as its state (the step keys are computed the same way, so
 *   an unchanged RUN or metadata step is still a cache hit);
 * - the intermediate images themselves (untagged, never pulled, with a child image: the
 *   `<none>` rows of `docker images -a`) leave the image db; their content stays, held by the
 *   records. An untagged image without children (a build's untagged result) stays an image:
 *   a dangling one, as `docker images` has always shown it. Images that pointed at a removed
 *   intermediate as their Parent no longer do, as with images built by BuildKit.
 *
 * Order for crash safety: records first, then the image db, then the old index goes. A crash
 * between two writes leaves both views, and the next start finishes the job.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../common/digest.js';
import { readJsonIfExists } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import type { ImageService } from '../images/service.js';
import { newRecordId, type BuildCacheStore, type CacheRecord } from './cache-store.js';

export async function migrateIntermediateImages(dir: string, store: BuildCacheStore, images: ImageService, log: Logger): Promise<void> {
  const file = path.join(dir, 'cache.json');
  const doc = await readJsonIfExists<{ entries?: Record<string, Digest> }>(file);
  if (!doc) return;
  const records: CacheRecord[] = [];
  const indexed = new Set<Digest>();
  for (const [key, id] of Object.entries(doc.entries ?? {})) {
    const img = images.db.image(id);
    if (!img) continue;
    const cfg = await images.config(id).catch(() => undefined);
    if (!cfg) continue;
    indexed.add(id);
    const created = cfg.created ?? img.storedAt;
    records.push({
      id: newRecordId(),
      type: 'regular',
      key,
      ...(img.parent ? { parentState: img.parent } : {}),
      description: cfg.history?.at(-1)?.created_by ?? '',
      createdAt: created,
      lastUsedAt: created,
      usageCount: 1,
      state: { id, diffIds: img.diffIds, layerBlobs: img.layerBlobs },
    });
  }
  await store.adopt(records);
  const intermediates = new Set(
    [...indexed].filter((id) => {
      const img = images.db.image(id);
      return (
        img !== undefined &&
        images.db.tagsFor(id).length === 0 &&
        img.repoDigests.length === 0 &&
        images.children(id).length > 0
      );
    }),
  );
  if (intermediates.size > 0) {
    await images.db.update((db) => {
      for (const id of intermediates) delete db.images[id];
      for (const img of Object.values(db.images)) if (img.parent && intermediates.has(img.parent)) delete img.parent;
    });
  }
  await fsp.rm(file, { force: true });
  log.info('moved the old builder cache into the build cache', { records: records.length, intermediateImages: intermediates.size });
}
