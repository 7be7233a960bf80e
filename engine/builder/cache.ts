/**
 * The build cache index: which image a step produced from which parent. A step's key is its
 * parent image ID plus its `created_by` text, which already holds everything the step depends
 * on, as in Docker's classic builder: the instruction after substitution, the build arguments a
 * RUN sees, and for COPY/ADD the hash of the copied files' names, modes, owners and contents.
 *
 * Kept in <data-root>/builder/cache.json (replaced atomically). An entry is only trusted while
 * its image still exists, so `docker rmi` or prune quietly invalidates it; entries whose images
 * are gone are dropped at the next write.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Digest } from '../common/digest.js';
import { atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';

export class BuildCache {
  private entries?: Map<string, Digest>;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly imageExists: (id: Digest) => boolean,
  ) {}

  static key(parent: Digest | undefined, createdBy: string): string {
    return createHash('sha256')
      .update(`${parent ?? 'scratch'}\n${createdBy}`)
      .digest('hex');
  }

  private async load(): Promise<Map<string, Digest>> {
    if (!this.entries) {
      const doc = await readJsonIfExists<{ entries?: Record<string, Digest> }>(path.join(this.dir, 'cache.json'));
      this.entries = new Map(Object.entries(doc?.entries ?? {}));
    }
    return this.entries;
  }

  async lookup(parent: Digest | undefined, createdBy: string): Promise<Digest | undefined> {
    const id = (await this.load()).get(BuildCache.key(parent, createdBy));
    return id !== undefined && this.imageExists(id) ? id : undefined;
  }

  async record(parent: Digest | undefined, createdBy: string, id: Digest): Promise<void> {
    const entries = await this.load();
    entries.set(BuildCache.key(parent, createdBy), id);
    // One write at a time, each with the whole (current) index.
    const write = this.writing.catch(() => undefined).then(async () => {
      for (const [k, v] of entries) if (!this.imageExists(v)) entries.delete(k);
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await atomicWriteJson(path.join(this.dir, 'cache.json'), { entries: Object.fromEntries(entries) });
    });
    this.writing = write;
    await write;
  }
}
