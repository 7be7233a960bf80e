/**
 * The build cache: what `docker system df` counts as Build Cache and `docker builder prune`
 * reclaims. Two kinds of record, named as BuildKit names them in `docker system df -v`:
 *
 * - `regular`: one build step's result. Its key is the state the step ran on plus everything
 *   the step depends on (the instruction after substitution, the build args a RUN sees, the hash
 *   of the files a COPY copies or a RUN binds); its `state` is the image-like result (config
 *   blob + layer chain) the next step starts from. States are not images: `docker images -a`
 *   never lists them; ImageService finds one by full ID only, so a step's container can be
 *   made from it, and its layers are garbage-collection roots as long as the record lives.
 * - `exec.cachemount`: a `RUN --mount=type=cache` directory (cache-mounts.ts owns its files).
 *
 * Kept in <data-root>/builder/cache-store.json, one document replaced atomically (as the image
 * db is): a new state is recorded while the committer still holds its content leased, so a
 * crash leaves either the record with its content or orphaned content that the start-up
 * garbage collection removes. Usage (last used, count) is batched and written at a build's end.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Digest } from '../common/digest.js';
import { atomicWriteJson, readJsonIfExists } from '../common/fsutil.js';

export interface LayerBlobRef {
  digest: Digest;
  size: number;
  mediaType: string;
}

/** An image-like result of a step: its config blob ID and its layers. */
export interface BuildState {
  id: Digest;
  diffIds: Digest[];
  layerBlobs: Array<LayerBlobRef | null>;
}

export type CacheRecordType = 'regular' | 'exec.cachemount';

export interface CacheRecord {
  id: string;
  type: CacheRecordType;
  description: string;
  createdAt: string;
  lastUsedAt: string;
  usageCount: number;
  /** regular: the step key. */
  key?: string;
  /** regular: the state the step ran on (absent: FROM scratch). */
  parentState?: Digest;
  /** regular: the step's result. (An exec.cachemount's files are cache-mounts/<id>.) */
  state?: BuildState;
}

interface StoreFile {
  version: 2;
  records: Record<string, CacheRecord>;
}

const FILE = 'cache-store.json';

/** A BuildKit-like record ID: 25 characters of [a-z0-9]. */
export function newRecordId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(25)].map((b) => alphabet[b % alphabet.length]).join('');
}

export class BuildCacheStore {
  private records = new Map<string, CacheRecord>();
  private byKey = new Map<string, CacheRecord>();
  private byState = new Map<Digest, CacheRecord>();
  private queue: Promise<unknown> = Promise.resolve();
  private dirty = false;

  constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, FILE);
  }

  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const doc = await readJsonIfExists<StoreFile>(this.file);
    this.replaceAll(Object.values(doc?.records ?? {}));
  }

  private replaceAll(records: CacheRecord[]): void {
    this.records = new Map(records.map((r) => [r.id, r]));
    this.byKey = new Map();
    this.byState = new Map();
    for (const r of records) this.index(r);
  }

  private index(r: CacheRecord): void {
    const other = r.key !== undefined ? this.byKey.get(r.key) : undefined;
    if (r.key !== undefined && (!other || other.createdAt <= r.createdAt)) this.byKey.set(r.key, r);
    // The first record that made a state owns it (sizes are counted once).
    if (r.state && !this.byState.has(r.state.id)) this.byState.set(r.state.id, r);
  }

  list(): CacheRecord[] {
    return [...this.records.values()];
  }

  get(id: string): CacheRecord | undefined {
    return this.records.get(id);
  }

  lookup(key: string): CacheRecord | undefined {
    return this.byKey.get(key);
  }

  /** The record whose step made this state. */
  recordOfState(id: Digest): CacheRecord | undefined {
    return this.byState.get(id);
  }

  state(id: Digest): BuildState | undefined {
    return this.byState.get(id)?.state;
  }

  /** Every state the cache holds: garbage-collection roots. */
  states(): BuildState[] {
    const out: BuildState[] = [];
    for (const r of this.records.values()) if (r.state) out.push(r.state);
    return out;
  }

  /** Writes the whole store; one write at a time, each with the current records. */
  private persist(): Promise<void> {
    const run = async (): Promise<void> => {
      this.dirty = false;
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const doc: StoreFile = { version: 2, records: Object.fromEntries(this.records) };
      await atomicWriteJson(this.file, doc);
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Records a new record (a step's state, or a cache mount) durably. */
  async add(rec: Omit<CacheRecord, 'id' | 'createdAt' | 'lastUsedAt' | 'usageCount'>): Promise<CacheRecord> {
    const now = new Date().toISOString();
    const full: CacheRecord = { id: newRecordId(), createdAt: now, lastUsedAt: now, usageCount: 1, ...rec };
    // A step run again (--no-cache) answers its key from now on; the old record stays until
    // pruned, since a container or a later step may still stand on its state.
    this.records.set(full.id, full);
    if (full.key !== undefined) this.byKey.set(full.key, full);
    if (full.state && !this.byState.has(full.state.id)) this.byState.set(full.state.id, full);
    await this.persist();
    return full;
  }

  /** A record was used: its usage is written with the next flush. */
  touch(rec: CacheRecord): void {
    rec.lastUsedAt = new Date().toISOString();
    rec.usageCount++;
    this.dirty = true;
  }

  async flush(): Promise<void> {
    if (this.dirty) await this.persist();
  }

  async remove(ids: Iterable<string>): Promise<void> {
    let changed = false;
    for (const id of ids) changed = this.records.delete(id) || changed;
    if (!changed) return;
    this.replaceAll([...this.records.values()]);
    await this.persist();
  }

  /** Adds records wholesale (the migration from the old cache index); a key already known keeps its record. */
  async adopt(records: CacheRecord[]): Promise<void> {
    for (const r of records) if (r.key === undefined || !this.byKey.has(r.key)) this.records.set(r.id, r);
    this.replaceAll([...this.records.values()]);
    await this.persist();
  }
}
