import path from 'node:path';
import { promises as fsp } from 'node:fs';
import type { Digest } from '../common/digest.js';
import { atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';

/** What the engine remembers about one image (its config lives in the content store). */
export interface ImageRecord {
  /** Image ID: digest of the config blob. */
  id: Digest;
  /** DiffIDs from the config, bottom layer first. */
  diffIds: Digest[];
  /** Compressed layer blobs, when the image came from a registry or archive. */
  layerBlobs: Array<{ digest: Digest; size: number; mediaType: string } | null>;
  /** "repo@digest" strings: the manifest (or index) digests this image was pulled by. */
  repoDigests: string[];
  /** Manifest digest per repository, for save/push/distribution lookups. */
  manifests: Record<string, Digest>;
  /** Sum of uncompressed layer sizes. */
  size: number;
  /** When this image was first stored (RFC 3339). */
  storedAt: string;
  lastTagTime?: string;
  /** Parent image ID (images made by build/commit). */
  parent?: Digest;
}

interface DbFile {
  version: 1;
  images: Record<string, ImageRecord>;
  /** Fully qualified "domain/path:tag" -> image ID. */
  tags: Record<string, Digest>;
}

/**
 * Image metadata in one small JSON document, replaced atomically on every change,
 * so images and tags always move together: a crash leaves the old or the new
 * state, never a tag pointing at a half-recorded image. All mutations are
 * serialised through `update`.
 */
export class ImageDb {
  private data: DbFile = { version: 1, images: {}, tags: {} };
  private queue: Promise<unknown> = Promise.resolve();
  private readonly file: string;

  constructor(root: string) {
    this.file = path.join(root, 'imagedb.json');
  }

  async load(): Promise<void> {
    await fsp.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const loaded = await readJsonIfExists<DbFile>(this.file);
    if (loaded) this.data = loaded;
  }

  images(): ImageRecord[] {
    return Object.values(this.data.images);
  }

  image(id: Digest): ImageRecord | undefined {
    return this.data.images[id];
  }

  tags(): ReadonlyArray<[string, Digest]> {
    return Object.entries(this.data.tags);
  }

  tag(ref: string): Digest | undefined {
    return this.data.tags[ref];
  }

  tagsFor(id: Digest): string[] {
    return Object.entries(this.data.tags)
      .filter(([, v]) => v === id)
      .map(([k]) => k);
  }

  /**
   * Apply a mutation to a copy of the state and persist it; the in-memory view
   * changes only once the write is durable.
   */
  update<T>(mutate: (db: { images: Record<string, ImageRecord>; tags: Record<string, Digest> }) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const draft: DbFile = structuredClone(this.data);
      const result = mutate(draft);
      await atomicWriteJson(this.file, draft);
      this.data = draft;
      return result;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }
}
