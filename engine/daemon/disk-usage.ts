/**
 * GET /system/df (`docker system df`), put together the way dockerd does, so the numbers the
 * docker CLI prints and the ones Berth Desktop shows are the same numbers:
 *   - Images: the top-level images with SharedSize and their container counts; LayersSize counts
 *     each layer they reference once;
 *   - Containers: every container (paused and stopped too) with SizeRw and SizeRootFs;
 *   - Volumes: every volume with UsageData (size and how many containers use it);
 *   - BuildCache: the builder's cache records, through `buildCache`.
 * `type=` (API 1.42) asks for some sections only; the others are null, as from dockerd.
 */
import { invalid } from '../common/errors.js';

export type DiskUsageSection = 'container' | 'image' | 'volume' | 'build-cache';
const SECTIONS: readonly DiskUsageSection[] = ['container', 'image', 'volume', 'build-cache'];

/** What each section is read from. */
export interface DiskUsageSources {
  images(): Promise<{ layersSize: number; images: unknown[] }>;
  containers(): Promise<unknown[]>;
  volumes(): Promise<unknown[]>;
  /**
   * The build cache's records (Docker's BuildCache items: ID, Type, Size, InUse, Shared, ...) and
   * their total. The builder owns the cache.
   */
  buildCache(): Promise<{ items: unknown[]; size: number }>;
}

export interface DiskUsage {
  LayersSize: number;
  Images: unknown[] | null;
  Containers: unknown[] | null;
  Volumes: unknown[] | null;
  BuildCache: unknown[] | null;
  BuilderSize: number;
}

/** The sections `type` values ask for (all of them when none is given); an unknown one is a 400. */
export function requestedSections(types: string[]): Set<DiskUsageSection> {
  if (types.length === 0) return new Set(SECTIONS);
  const out = new Set<DiskUsageSection>();
  for (const t of types) {
    if (!(SECTIONS as readonly string[]).includes(t)) throw invalid(`unknown object type: ${t}`);
    out.add(t as DiskUsageSection);
  }
  return out;
}

export async function diskUsage(sources: DiskUsageSources, types: string[]): Promise<DiskUsage> {
  const want = requestedSections(types);
  const [images, containers, volumes, cache] = await Promise.all([
    want.has('image') ? sources.images() : undefined,
    want.has('container') ? sources.containers() : undefined,
    want.has('volume') ? sources.volumes() : undefined,
    want.has('build-cache') ? sources.buildCache() : undefined,
  ]);
  return {
    LayersSize: images?.layersSize ?? 0,
    Images: images?.images ?? null,
    Containers: containers ?? null,
    Volumes: volumes ?? null,
    BuildCache: cache?.items ?? null,
    BuilderSize: cache?.size ?? 0,
  };
}
