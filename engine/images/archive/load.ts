/**
 * `docker load`: an archive in, images recorded. The steps, one file each:
 *   1. spool.ts copies every entry of the archive to a scratch directory;
 *   2. layouts.ts works out which images it holds (docker manifest.json, legacy
 *      repositories-only, or OCI layout) and validates all but the layer contents;
 *   3. this file stages and commits: layers are unpacked into prepared
 *      (uncommitted) layer directories and their blobs copied into content
 *      ingests; only when every layer's DiffID verified is anything committed,
 *      so a bad archive leaves nothing behind.
 */
import { createReadStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestTap, shortId, type Digest } from '../../common/digest.js';
import { runPool } from '../../common/pool.js';
import { invalid } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { familiarString, parseReference } from '../../registry/reference.js';
import { decompressor } from '../../store/compression.js';
import type { ContentWriter, LayerInfo, LayerStore, PreparedLayer } from '../../store/types.js';
import { unpackLayer } from '../../store/unpack.js';
import { ThrottledProgress, type ProgressSink } from '../progress.js';
import type { ImageService } from '../service.js';
import { cancelled, layerError, type BlobRef } from './format.js';
import { planImages, type ImagePlan, type LayerPlan } from './layouts.js';
import { spoolArchive } from './spool.js';

/** Layers unpacked at once during a load. */
const LOAD_CONCURRENCY = 3;

interface StagedLayer {
  chainId: Digest;
  /** The blob to record for this layer. */
  blob: BlobRef;
  /** Uncommitted unpack (absent when the layer already existed). */
  prepared?: PreparedLayer;
  info?: LayerInfo;
  /** Uncommitted copy of the archive blob (absent when already stored). */
  writer?: ContentWriter;
}

export interface LoadResult {
  /** "busybox:latest" per loaded tag, or the image ID of an untagged image. */
  loaded: string[];
}

export class ImageLoader {
  constructor(
    private readonly images: ImageService,
    private readonly layers: LayerStore,
    private readonly log: Logger,
  ) {}

  /**
   * POST /images/load. Progress follows dockerd: "Loading layer" per layer
   * unless quiet, then "Loaded image: X" / "Loaded image ID: sha256:..." lines.
   * Bad archives fail with BerthError('invalid') and leave nothing stored.
   */
  async load(
    input: Readable,
    progress: ProgressSink,
    opts: { quiet?: boolean; signal?: AbortSignal } = {},
  ): Promise<LoadResult> {
    const scratch = await this.layers.prepare();
    try {
      const spool = await spoolArchive(input, scratch.dir, opts.signal);
      const plans = await planImages(spool, this.log, opts.signal);
      return await this.store(plans, progress, opts);
    } finally {
      await scratch.abort().catch((err: unknown) => this.log.warn('removing load scratch directory failed', { err }));
    }
  }

  /**
   * Unpack and verify every layer into uncommitted storage, then commit layers,
   * blobs and configs and record the images. Everything written is leased until
   * recorded; any failure before the commit step leaves the stores untouched.
   */
  private async store(
    plans: ImagePlan[],
    progress: ProgressSink,
    opts: { quiet?: boolean; signal?: AbortSignal },
  ): Promise<LoadResult> {
    const { content, db, events } = this.images;
    const jobs = new Map<Digest, LayerPlan>();
    for (const p of plans) for (const l of p.layers) if (!jobs.has(l.chainId)) jobs.set(l.chainId, l);
    const leases = [
      this.images.lease([
        ...new Set<string>([...plans.map((p) => p.id), ...[...jobs.values()].flatMap((j) => [j.chainId, j.source.digest])]),
      ]),
    ];
    const release = (): void => {
      for (const r of leases) r();
    };
    // Blobs of layers that already exist are recorded as they are: keep those too.
    const hold = (digest: Digest): void => {
      leases.push(this.images.lease([digest]));
    };
    const staged: StagedLayer[] = [];
    const ingesting = new Set<Digest>();
    let committing = false;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(cancelled('load cancelled'));
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await runPool([...jobs.values()], LOAD_CONCURRENCY, ac, async (job) => {
        staged.push(await this.stageLayer(job, opts.quiet ? undefined : progress, ingesting, hold, ac.signal));
      });
      if (opts.signal?.aborted) throw cancelled('load cancelled');

      committing = true;
      for (const s of staged) {
        if (s.writer) {
          await s.writer.commit();
          delete s.writer;
        }
      }
      for (const p of plans) await content.putBuffer(p.config, p.id);
      for (const s of staged) {
        if (s.prepared && s.info) {
          await s.prepared.commit(s.info);
          delete s.prepared;
        }
      }

      const blobs = new Map(staged.map((s) => [s.chainId, s.blob]));
      const loaded: string[] = [];
      for (const p of plans) {
        const record = {
          id: p.id,
          diffIds: p.diffIds,
          layerBlobs: p.layers.map((l) => blobs.get(l.chainId) ?? null),
          ...(this.validParent(p, plans) ? { parent: p.parent } : {}),
        };
        if (p.tags.length === 0) {
          await this.images.commitImage(record, undefined);
          progress({ stream: `Loaded image ID: ${p.id}\n` });
          loaded.push(p.id);
        }
        for (const tag of p.tags) {
          const shown = familiarString(parseReference(tag));
          const old = db.tag(tag);
          if (old !== undefined && old !== p.id) {
            progress({ stream: `The image ${shown} already exists, renaming the old one with ID ${old} to empty string\n` });
          }
          await this.images.commitImage(record, tag);
          progress({ stream: `Loaded image: ${shown}\n` });
          loaded.push(shown);
        }
        const first = p.tags[0];
        events.publish('image', 'load', p.id, { name: first !== undefined ? familiarString(parseReference(first)) : p.id });
      }
      return { loaded };
    } catch (err) {
      for (const s of staged) {
        await s.prepared?.abort().catch(() => undefined);
        await s.writer?.abort().catch(() => undefined);
      }
      release();
      // Whatever the commit step had already moved into place is unreferenced now.
      if (committing) {
        await this.images.collectGarbage().catch((e: unknown) => this.log.warn('cleanup after failed load failed', { err: e }));
      }
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      release();
    }
  }

  /** Keep a manifest.json Parent only when that image exists and really is a prefix of this one. */
  private validParent(p: ImagePlan, plans: ImagePlan[]): boolean {
    if (p.parent === undefined) return false;
    const parentDiffs = plans.find((q) => q.id === p.parent)?.diffIds ?? this.images.db.image(p.parent)?.diffIds;
    return parentDiffs !== undefined && parentDiffs.length <= p.diffIds.length && parentDiffs.every((d, i) => p.diffIds[i] === d);
  }

  /**
   * One pass over a spooled layer: copy into a content ingest (when the blob is
   * not stored yet), decompress, hash (DiffID) and unpack into a prepared layer
   * (when the layer does not exist yet). Nothing is committed here.
   */
  private async stageLayer(
    job: LayerPlan,
    progress: ProgressSink | undefined,
    ingesting: Set<Digest>,
    hold: (digest: Digest) => void,
    signal: AbortSignal,
  ): Promise<StagedLayer> {
    signal.throwIfAborted();
    const { content } = this.images;
    const existing = await this.layers.get(job.chainId);
    if (existing?.blob) {
      hold(existing.blob.digest);
      if (await content.has(existing.blob.digest)) return { chainId: job.chainId, blob: existing.blob };
    }
    const blob: BlobRef = { digest: job.source.digest, size: job.source.size, mediaType: job.mediaType };
    let writer: ContentWriter | undefined;
    let prepared: PreparedLayer | undefined;
    const source = createReadStream(job.source.file);
    const onAbort = (): void => {
      source.destroy(cancelled('load cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (!ingesting.has(blob.digest)) {
        ingesting.add(blob.digest);
        if (!(await content.has(blob.digest))) writer = await content.ingest({ digest: blob.digest, size: blob.size });
      }
      if (!existing) prepared = await this.layers.prepare();
      const bar = progress ? new ThrottledProgress(progress, shortId(job.chainId), 'Loading layer', job.source.size) : undefined;
      let read = 0;
      const sink = writer?.stream;
      const meter = new Transform({
        highWaterMark: 1 << 20,
        transform(chunk: Buffer, _enc, cb) {
          read += chunk.length;
          bar?.update(read);
          if (!sink || sink.write(chunk)) cb(null, chunk);
          else sink.once('drain', () => cb(null, chunk));
        },
        flush(cb) {
          if (sink) sink.end(() => cb());
          else cb();
        },
      });
      sink?.once('error', (err) => meter.destroy(err));
      const diffTap = new DigestTap();
      const piped = pipeline(source, meter, decompressor(job.compression), diffTap);
      piped.catch(() => undefined);
      if (prepared) await unpackLayer(diffTap, prepared.dir, { log: this.log, signal });
      // The tar end marker can precede trailing padding: drain so the DiffID covers every byte.
      diffTap.resume();
      await piped;
      bar?.update(read, true);
      const diffId = diffTap.digest();
      if (diffId !== job.diffId) {
        throw invalid(
          `invalid image archive: layer ${job.source.name} has diff ID ${diffId}, but the image config says ${job.diffId}`,
          'DIFFID_MISMATCH',
        );
      }
      const staged: StagedLayer = { chainId: job.chainId, blob };
      if (writer) staged.writer = writer;
      if (prepared) {
        staged.prepared = prepared;
        staged.info = {
          chainId: job.chainId,
          diffId,
          ...(job.parent ? { parent: job.parent } : {}),
          size: diffTap.bytes,
          blob,
        };
      }
      return staged;
    } catch (err) {
      source.destroy();
      await prepared?.abort().catch(() => undefined);
      await writer?.abort().catch(() => undefined);
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : cancelled('load cancelled');
      throw layerError(err, job.source.name);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
