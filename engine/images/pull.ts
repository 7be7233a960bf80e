import { PassThrough, Writable, pipeline, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { chainIds, DigestTap, hasherDigest, isDigest, newHasher, sha256, shortId, type Digest } from '../common/digest.js';
import { BerthError, isBerthError, upstream } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { runPool } from '../common/pool.js';
import type { AuthConfig, Platform, Registry, RepositorySession } from '../registry/types.js';
import { familiarName, familiarString, parseReference, refString } from '../registry/reference.js';
import { hostPlatform, parseManifest, selectPlatform } from '../registry/manifest.js';
import { autoDecompressor, compressionForMediaType, decompressor } from '../store/compression.js';
import { unpackLayer } from '../store/unpack.js';
import type { ContentWriter, LayerStore } from '../store/types.js';
import { parseImageConfig } from './config.js';
import { fullRepo, type ImageService } from './service.js';
import { ThrottledProgress, type ProgressSink } from './progress.js';

export interface PullOptions {
  auth?: AuthConfig;
  platform?: Platform;
  signal?: AbortSignal;
  progress: ProgressSink;
}

export interface PullResult {
  id: Digest;
  /** Digest the image was pulled by (index or manifest). */
  digest: Digest;
  reference: string;
  status: 'downloaded' | 'up-to-date';
}

interface LayerJob {
  blob: { digest: Digest; size: number; mediaType: string };
  diffId: Digest;
  chainId: Digest;
  parent?: Digest;
}

const MAX_CONFIG_BYTES = 8 << 20;
const COALESCE_BYTES = 1 << 20;

/**
 * Pulls images from registries into the content and layer stores.
 *
 * Each layer goes through one streaming pass: registry -> sha256 of the blob and a
 * copy into the content store's ingest area -> decompress -> sha256 (DiffID) ->
 * unpack into a private temporary directory. Only when both digests verify is the
 * blob renamed into place and the directory committed under its chain ID. Layers
 * unpack into separate directories, so all of them can download at once.
 */
export class Puller {
  /** Layers being fetched right now, by chain ID; a second pull waits on the first. */
  private readonly inflight = new Map<Digest, Promise<void>>();

  constructor(
    private readonly images: ImageService,
    private readonly layers: LayerStore,
    private readonly registry: () => Promise<Registry>,
    private readonly log: Logger,
    private readonly opts: { concurrency?: number; maxAttempts?: number } = {},
  ) {}

  async pull(name: string, opts: PullOptions): Promise<PullResult> {
    const ref = parseReference(name);
    const registry = await this.registry();
    const session = registry.session(ref, opts.auth, ['pull']);
    const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
    const top = await session.getManifest(tagOrDigest, opts.signal);
    let manifestDigest = top.digest;
    let parsed = parseManifest(top.mediaType, top.body);
    let manifestBody = top.body;
    const platform = opts.platform ?? hostPlatform();
    if ('manifests' in parsed) {
      const desc = selectPlatform(parsed, platform);
      const m = await session.getManifest(desc.digest, opts.signal);
      if (m.digest !== desc.digest) {
        throw upstream(`manifest digest mismatch: expected ${desc.digest}, got ${m.digest}`, 'DIGEST_MISMATCH');
      }
      manifestDigest = m.digest;
      manifestBody = m.body;
      parsed = parseManifest(m.mediaType, m.body);
      if ('manifests' in parsed) throw upstream('manifest list points at another manifest list');
    }
    const manifest = parsed;
    const configDigest = manifest.config.digest;
    if (!isDigest(configDigest)) throw upstream(`manifest has an invalid config digest: ${configDigest}`);

    // dockerd names the repository by its path within the registry here.
    opts.progress({ status: `Pulling from ${ref.path}`, id: ref.digest ?? tagOrDigest });

    const config = await this.fetchConfig(session, configDigest, opts.signal);
    const cfg = parseImageConfig(config);
    const diffIds = cfg.rootfs.diff_ids.map((d) => {
      if (!isDigest(d)) throw upstream(`image config has an invalid diff ID: ${d}`);
      return d;
    });
    const layerDescs = manifest.layers;
    if (layerDescs.length !== diffIds.length) {
      throw upstream(
        `manifest has ${layerDescs.length} layers but the image config lists ${diffIds.length} diff IDs`,
        'BAD_MANIFEST',
      );
    }
    const chains = chainIds(diffIds);
    const jobs: LayerJob[] = layerDescs.map((d, i) => {
      const digest = d.digest;
      if (!isDigest(digest)) throw upstream(`manifest has an invalid layer digest: ${digest}`);
      return {
        blob: { digest, size: d.size, mediaType: d.mediaType },
        diffId: diffIds[i] as Digest,
        chainId: chains[i] as Digest,
        ...(i > 0 ? { parent: chains[i - 1] as Digest } : {}),
      };
    });

    // Keep everything this pull writes safe from a concurrent rmi/prune until recorded.
    const imageId = sha256(config);
    const release = this.images.lease([
      imageId,
      top.digest,
      manifestDigest,
      ...jobs.flatMap((j) => [j.blob.digest, j.chainId]),
    ]);
    try {
      await this.images.content.putBuffer(config, imageId);
      await this.images.content.putBuffer(manifestBody, manifestDigest);
      if (top.digest !== manifestDigest) await this.images.content.putBuffer(top.body, top.digest);
      await this.fetchLayers(session, jobs, opts);

      const repo = fullRepo(ref);
      const tag = ref.digest ? undefined : refString({ domain: ref.domain, path: ref.path, tag: tagOrDigest });
      const existing = tag ? this.images.db.tag(tag) : undefined;
      const hadImage = this.images.db.image(imageId) !== undefined;
      await this.images.commitImage(
        {
          id: imageId,
          diffIds,
          layerBlobs: jobs.map((j) => j.blob),
          repoDigest: `${repo}@${top.digest}`,
          manifest: { repo, digest: manifestDigest },
        },
        tag,
      );
      const upToDate = hadImage && (tag === undefined || existing === imageId);
      const shown = familiarString(ref);
      opts.progress({ status: `Digest: ${top.digest}` });
      opts.progress({
        status: upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}`,
      });
      this.images.events.publish('image', 'pull', shown, { name: familiarName(ref) });
      return { id: imageId, digest: top.digest, reference: shown, status: upToDate ? 'up-to-date' : 'downloaded' };
    } finally {
      release();
    }
  }

  private async fetchConfig(session: RepositorySession, digest: Digest, signal?: AbortSignal): Promise<Buffer> {
    const local = await this.images.content.info(digest);
    if (local) return this.images.content.readBuffer(digest);
    const { stream } = await session.fetchBlob(digest, signal ? { signal } : {});
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_CONFIG_BYTES) {
        stream.destroy();
        throw upstream(`image config ${digest} is larger than ${MAX_CONFIG_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const buf = Buffer.concat(chunks);
    if (sha256(buf) !== digest) throw upstream(`image config digest mismatch: expected ${digest}`, 'DIGEST_MISMATCH');
    return buf;
  }

  private async fetchLayers(session: RepositorySession, jobs: LayerJob[], opts: PullOptions): Promise<void> {
    const pending: LayerJob[] = [];
    for (const job of jobs) {
      const id = shortId(job.blob.digest);
      if (await this.layers.has(job.chainId)) {
        opts.progress({ status: 'Already exists', progressDetail: {}, id });
      } else {
        opts.progress({ status: 'Pulling fs layer', progressDetail: {}, id });
        pending.push(job);
      }
    }
    const concurrency = this.opts.concurrency ?? 4;
    for (const job of pending.slice(concurrency)) {
      opts.progress({ status: 'Waiting', progressDetail: {}, id: shortId(job.blob.digest) });
    }
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await runPool(pending, concurrency, controller, (job) =>
        this.layer(session, job, { ...opts, signal: controller.signal }),
      );
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Fetch one layer, or wait for the pull that is already fetching it. */
  private async layer(session: RepositorySession, job: LayerJob, opts: PullOptions): Promise<void> {
    const id = shortId(job.blob.digest);
    const running = this.inflight.get(job.chainId);
    if (running) {
      await running;
      opts.progress({ status: 'Download complete', progressDetail: {}, id });
      opts.progress({ status: 'Pull complete', progressDetail: {}, id });
      return;
    }
    const work = this.layerWithRetries(session, job, opts);
    this.inflight.set(job.chainId, work);
    try {
      await work;
    } finally {
      this.inflight.delete(job.chainId);
    }
  }

  private async layerWithRetries(session: RepositorySession, job: LayerJob, opts: PullOptions): Promise<void> {
    const id = shortId(job.blob.digest);
    const maxAttempts = this.opts.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.layerOnce(session, job, opts);
        return;
      } catch (err) {
        if (opts.signal?.aborted || !isTransient(err) || attempt >= maxAttempts) throw describeLayerError(err, job);
        const delay = Math.min(5, attempt) * 1000;
        this.log.warn('layer download failed, retrying', { layer: job.blob.digest, attempt, err });
        opts.progress({ status: `Retrying in ${delay / 1000} second${delay === 1000 ? '' : 's'}`, id });
        await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : {});
      }
    }
  }

  /**
   * One attempt at one layer. The download side (registry -> hash -> ingest) and
   * the unpack side (decompress -> DiffID hash -> unpack) are decoupled: if the
   * unpack side fails, the download keeps hashing to the end, so a corrupted blob
   * is reported as the verification failure it is rather than as the gzip or tar
   * error it happens to cause first.
   */
  private async layerOnce(session: RepositorySession, job: LayerJob, opts: PullOptions): Promise<void> {
    const id = shortId(job.blob.digest);
    const { content } = this.images;
    const haveBlob = await content.has(job.blob.digest);
    let source: Readable;
    let writer: ContentWriter | undefined;
    if (haveBlob) {
      source = content.createReadStream(job.blob.digest);
    } else {
      source = (await session.fetchBlob(job.blob.digest, opts.signal ? { signal: opts.signal } : {})).stream;
      writer = await content.ingest({ digest: job.blob.digest, size: job.blob.size });
    }
    const prepared = await this.layers.prepare();
    const onAbort = (): void => {
      source.destroy(new BerthError('system', 'pull cancelled', { code: 'CANCELLED' }));
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const download = new ThrottledProgress(opts.progress, id, 'Downloading', job.blob.size);
      // The content writer hashes what it stores; only a blob read back from the store (already
      // verified once) is hashed here. Every sha256 pass runs on the event loop: one is enough.
      const compressedHash = writer ? undefined : newHasher();
      let received = 0;
      const sink = writer?.stream;
      const toUnpack = new PassThrough({ highWaterMark: 1 << 20 });
      let unpackFailed = false;
      // Network reads arrive in ~16-64 KiB pieces. Both the blob file and the
      // decompressor are far cheaper fed ~1 MiB at a time: every file write and
      // every zlib write is a thread-pool round trip.
      let batch: Buffer[] = [];
      let batched = 0;
      const flushBatch = (cb: () => void, final: boolean): void => {
        if (batched === 0 || (!final && batched < COALESCE_BYTES)) {
          cb();
          return;
        }
        const data = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, batched);
        batch = [];
        batched = 0;
        const feedUnpack = (): void => {
          if (unpackFailed || toUnpack.write(data)) cb();
          else waitDrain(toUnpack, cb);
        };
        if (!sink || sink.write(data)) feedUnpack();
        else waitDrain(sink, feedUnpack);
      };
      const meter = new Writable({
        highWaterMark: 1 << 20,
        write(chunk: Buffer, _enc, cb) {
          compressedHash?.update(chunk);
          received += chunk.length;
          if (!haveBlob) download.update(received);
          batch.push(chunk);
          batched += chunk.length;
          flushBatch(cb, false);
        },
        final(cb) {
          flushBatch(() => {
            toUnpack.end();
            if (sink) sink.end(() => cb());
            else cb();
          }, true);
        },
      });
      const downloaded = new Promise<void>((resolve, reject) => {
        pipeline(source, meter, (err) => (err ? reject(err) : resolve()));
      });
      // A failed download must not leave the unpack side waiting for bytes forever.
      downloaded.catch((err: unknown) => toUnpack.destroy(err instanceof Error ? err : new Error(String(err))));

      const diffTap = new DigestTap();
      const kind = compressionForMediaType(job.blob.mediaType);
      const unpacked = (async (): Promise<void> => {
        const piped = new Promise<void>((resolve, reject) => {
          pipeline(toUnpack, kind ? decompressor(kind) : autoDecompressor(), diffTap, (err) =>
            err ? reject(err) : resolve(),
          );
        });
        piped.catch(() => undefined);
        await unpackLayer(diffTap, prepared.dir, { log: this.log, ...(opts.signal ? { signal: opts.signal } : {}) });
        // The tar end marker can precede trailing padding: drain so the DiffID covers every byte.
        diffTap.resume();
        await piped;
      })();
      const unpackError = await unpacked.then(
        () => undefined,
        (err: unknown) => {
          unpackFailed = true;
          toUnpack.resume(); // discard whatever is still buffered
          return err;
        },
      );
      await downloaded;
      if (!haveBlob) download.update(received, true);
      opts.progress({ status: 'Verifying Checksum', progressDetail: {}, id });
      const blobDigest = compressedHash ? hasherDigest(compressedHash) : (writer as ContentWriter).digest();
      if (blobDigest !== job.blob.digest) {
        throw new BerthError('upstream', `filesystem layer verification failed for digest ${job.blob.digest}`, {
          code: 'DIGEST_MISMATCH',
        });
      }
      if (unpackError !== undefined) throw unpackError;
      opts.progress({ status: 'Download complete', progressDetail: {}, id });
      const diffId = diffTap.digest();
      const uncompressed = diffTap.bytes;
      if (diffId !== job.diffId) {
        throw new BerthError(
          'upstream',
          `layer ${job.blob.digest} unpacked to diff ID ${diffId}, but the image config says ${job.diffId}`,
          { code: 'DIFFID_MISMATCH' },
        );
      }
      new ThrottledProgress(opts.progress, id, 'Extracting', uncompressed).update(uncompressed, true);
      // Both verified: the blob's fsync+rename and the layer's do not depend on each other, so
      // they wait on the disk together. Each is atomic on its own; the image that ties them
      // together is recorded only after every layer is in.
      const committed = await Promise.allSettled([
        writer?.commit(),
        prepared.commit({
          chainId: job.chainId,
          diffId,
          ...(job.parent ? { parent: job.parent } : {}),
          size: uncompressed,
          blob: job.blob,
        }),
      ]);
      writer = undefined;
      for (const c of committed) if (c.status === 'rejected') throw c.reason;
      opts.progress({ status: 'Pull complete', progressDetail: {}, id });
    } catch (err) {
      source.destroy();
      await prepared.abort();
      if (writer) await writer.abort();
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Call cb once the stream drains or is gone (a destroyed stream never drains). */
function waitDrain(stream: Writable, cb: () => void): void {
  const done = (): void => {
    stream.off('drain', done);
    stream.off('close', done);
    cb();
  };
  stream.on('drain', done);
  stream.on('close', done);
}

/** Broken connections and server hiccups are worth another try; bad content is not. */
function isTransient(err: unknown): boolean {
  if (isBerthError(err)) return err.kind === 'unavailable';
  const code = (err as { code?: string } | null)?.code ?? '';
  return (
    /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|ERR_STREAM_PREMATURE_CLOSE|UND_ERR_)/.test(code) ||
    (err instanceof Error && /premature close|socket hang up|terminated|aborted/i.test(err.message))
  );
}

function describeLayerError(err: unknown, job: LayerJob): unknown {
  if (isBerthError(err) && err.code === 'HOSTILE_LAYER') {
    return new BerthError(err.kind, `refusing hostile layer ${job.blob.digest}: ${err.message}`, { code: err.code, cause: err });
  }
  if (isBerthError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new BerthError('upstream', `failed to fetch layer ${job.blob.digest}: ${msg}`, { code: 'LAYER_FETCH', cause: err });
}
