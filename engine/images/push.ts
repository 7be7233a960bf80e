/**
 * docker push: an image's layers, config and manifest into a registry repository,
 * moving only what the registry lacks.
 *
 * Per layer, in Docker's order of preference: the repository already has the blob
 * (HEAD) -> "Layer already exists"; another repository on the same registry that
 * this engine pulled it from (or pushed it to) has it -> cross-repository mount,
 * "Mounted from <repo>"; else upload it ("Pushing" with byte progress, "Pushed").
 * Layers are gzip tars: a layer stored uncompressed (loaded from an archive) is
 * gzipped first, and a layer whose blob is gone is re-created from its unpacked
 * directory (layer-tar.ts); either way the new blob is kept and recorded, so the
 * next push sends the same bytes. The manifest a pulled image came with is sent
 * back unchanged when it still describes the same blobs, so its digest survives a
 * pull/push round trip; otherwise a Docker schema 2 manifest is written.
 */
import { createGzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { chainIds, DigestTap, sha256, shortId, type Digest } from '../common/digest.js';
import { BerthError, isBerthError, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { runPool } from '../common/pool.js';
import type { AuthConfig, PushSession, Reference, Registry } from '../registry/types.js';
import { familiarName, familiarString, parseReference, refString } from '../registry/reference.js';
import { MEDIA_TYPE, detectMediaType, isManifest, parseManifest } from '../registry/manifest.js';
import { compressionForMediaType } from '../store/compression.js';
import { writeLayerTar } from './layer-tar.js';
import type { LayerStore } from '../store/types.js';
import type { ImageRecord } from './imagedb.js';
import { ThrottledProgress, type ProgressSink } from './progress.js';
import { fullRepo, type ImageService } from './service.js';

export interface PushOptions {
  auth?: AuthConfig;
  signal?: AbortSignal;
  progress: ProgressSink;
}

export interface PushedTag {
  /** Full reference, "domain/path:tag". */
  reference: string;
  digest: Digest;
  size: number;
}

export interface PusherOptions {
  /** Layers uploaded at once (dockerd's --max-concurrent-uploads, default 5). */
  concurrency?: number;
  /** Blobs above this size go up in chunks of this size (default 32 MiB). */
  chunkSize?: number;
  /** Attempts per layer before the push fails (default 5). */
  maxAttempts?: number;
  /** Delay before retry n, in ms (default n seconds, at most 5). */
  retryDelayMs?: (attempt: number) => number;
}

interface LayerBlob {
  digest: Digest;
  size: number;
  mediaType: string;
}

interface PushLayer {
  /** The DiffID of the tar being pushed (a re-created tar may differ from the recorded one). */
  diffId: Digest;
  blob: LayerBlob;
  /** Repositories (paths) on the target registry known to hold the blob. */
  mountFrom: string[];
}

const GZIP_LAYER = MEDIA_TYPE.dockerLayer;

interface Descriptor {
  mediaType: string;
  size: number;
  digest: Digest;
}

export class ImagePusher {
  constructor(
    private readonly images: ImageService,
    private readonly layers: LayerStore,
    private readonly registry: () => Promise<Registry>,
    private readonly log: Logger,
    private readonly opts: PusherOptions = {},
  ) {}

  /**
   * Push `name` (with `tag`, or the tag in `name`); with neither, every local tag
   * of the repository, as dockerd does.
   */
  async push(name: string, tag: string | undefined, opts: PushOptions): Promise<PushedTag[]> {
    const given = parseReference(name);
    if (given.digest) throw new BerthError('invalid', 'cannot push a digest reference', { code: 'INVALID_REFERENCE' });
    const repo: Reference = { domain: given.domain, path: given.path };
    const wanted = tag ?? given.tag;
    const refs = wanted !== undefined ? [refString({ ...repo, tag: wanted })] : this.localTags(repo);
    const missing = refs.filter((r) => this.images.db.tag(r) === undefined);
    if (refs.length === 0 || missing.length > 0) {
      const shown = missing[0] !== undefined ? familiarString(parseReference(missing[0])) : familiarName(repo);
      throw notFound(`An image does not exist locally with the tag: ${shown}`, 'NO_SUCH_IMAGE');
    }
    opts.progress({ status: `The push refers to repository [${fullRepo(repo)}]` });
    const registry = await this.registry();
    const out: PushedTag[] = [];
    for (const r of refs) out.push(await this.pushTag(registry, parseReference(r), opts));
    return out;
  }

  private localTags(repo: Reference): string[] {
    const prefix = `${fullRepo(repo)}:`;
    return this.images.db
      .tags()
      .map(([t]) => t)
      .filter((t) => t.startsWith(prefix))
      .sort();
  }

  private async pushTag(registry: Registry, ref: Reference, opts: PushOptions): Promise<PushedTag> {
    const full = refString(ref);
    const id = this.images.db.tag(full);
    const record = id !== undefined ? this.images.db.image(id) : undefined;
    if (record === undefined) throw notFound(`An image does not exist locally with the tag: ${familiarString(ref)}`, 'NO_SUCH_IMAGE');
    const keys = [record.id, ...record.layerBlobs.flatMap((b) => (b ? [b.digest] : []))];
    const held = [this.images.lease(keys)];
    const hold = (d: Digest): void => void held.push(this.images.lease([d]));
    try {
      const layers = await this.prepareLayers(record, ref, hold, opts.signal);
      const mountFrom = [...new Set(layers.flatMap((l) => l.mountFrom))];
      const session = registry.pushSession(ref, opts.auth, mountFrom);
      await this.pushLayers(session, layers, opts);
      const config = await this.configFor(record, layers);
      const configDigest = sha256(config);
      if (configDigest !== record.id) {
        hold(configDigest);
        await this.images.content.putBuffer(config, configDigest);
      }
      await this.pushBlob(session, { digest: configDigest, size: config.length, mediaType: MEDIA_TYPE.dockerConfig }, opts.signal);
      const manifest = await this.manifestFor(record, config, layers);
      const tag = ref.tag ?? 'latest';
      const digest = await session.putManifest(tag, manifest.mediaType, manifest.body, opts.signal);
      const current = this.images.db.image(record.id);
      if (configDigest === record.id && current !== undefined) {
        // The registry now serves this very image: remember it like a pull would.
        await this.images.content.putBuffer(manifest.body, digest);
        await this.images.commitImage(
          {
            id: record.id,
            diffIds: record.diffIds,
            layerBlobs: current.layerBlobs,
            repoDigest: `${fullRepo(ref)}@${digest}`,
            manifest: { repo: fullRepo(ref), digest },
          },
          undefined,
        );
      }
      opts.progress({ status: `${tag}: digest: ${digest} size: ${manifest.body.length}` });
      opts.progress({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: manifest.body.length } });
      this.images.events.publish('image', 'push', familiarString(ref), { name: familiarName(ref) });
      return { reference: full, digest, size: manifest.body.length };
    } finally {
      for (const release of held) release();
    }
  }

  /** The blob each layer is pushed as (made here when needed) and where it could be mounted from. */
  private async prepareLayers(
    record: ImageRecord,
    ref: Reference,
    hold: (d: Digest) => void,
    signal?: AbortSignal,
  ): Promise<PushLayer[]> {
    const chains = chainIds(record.diffIds);
    const out: PushLayer[] = [];
    for (const [i, diffId] of record.diffIds.entries()) {
      const chainId = chains[i] as Digest;
      const info = await this.layers.get(chainId);
      if (!info) throw new BerthError('system', `layer ${chainId} of image ${shortId(record.id)} is missing from the layer store`);
      let blob: LayerBlob | undefined = record.layerBlobs[i] ?? info.blob;
      if (blob && !(await this.images.content.has(blob.digest))) blob = undefined;
      let pushedDiffId = diffId;
      if (blob && compressionForMediaType(blob.mediaType) === 'none') {
        ({ blob } = await this.gzipped(this.images.content.createReadStream(blob.digest), hold, signal));
        await this.recordBlob(record.id, i, blob);
      } else if (!blob) {
        const tar = new PassThrough({ highWaterMark: 1 << 20 });
        const writing = writeLayerTar(this.layers.diffDir(chainId), tar, { signal }).then(
          () => tar.end(),
          (err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))),
        );
        const made = await this.gzipped(tar, hold, signal);
        await writing;
        blob = made.blob;
        pushedDiffId = made.diffId;
        // Kept for the next push only when it is byte for byte the layer the config names.
        if (made.diffId === diffId) await this.recordBlob(record.id, i, blob);
        else this.log.warn('re-created layer tar differs from the original; pushing it under a rewritten config', { layer: diffId, now: made.diffId });
      }
      out.push({ diffId: pushedDiffId, blob, mountFrom: this.mountSources(blob.digest, ref) });
    }
    return out;
  }

  /** Gzip a layer tar into the content store (leased until the push ends); also says the tar's DiffID. */
  private async gzipped(tar: Readable, hold: (d: Digest) => void, signal?: AbortSignal): Promise<{ blob: LayerBlob; diffId: Digest }> {
    const writer = await this.images.content.ingest();
    const tap = new DigestTap();
    try {
      await pipeline(tar, tap, createGzip(), writer.stream, signal ? { signal } : {});
      const info = await writer.commit();
      hold(info.digest);
      return { blob: { digest: info.digest, size: info.size, mediaType: GZIP_LAYER }, diffId: tap.digest() };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** The image config, with the DiffIDs of re-created layers when they differ from the recorded ones. */
  private async configFor(record: ImageRecord, layers: PushLayer[]): Promise<Buffer> {
    const config = await this.images.content.readBuffer(record.id);
    if (layers.every((l, i) => l.diffId === record.diffIds[i])) return config;
    const json = JSON.parse(config.toString('utf8')) as { rootfs?: { type?: string; diff_ids?: string[] } };
    json.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffId) };
    return Buffer.from(JSON.stringify(json));
  }

  private async recordBlob(id: Digest, index: number, blob: LayerBlob): Promise<void> {
    await this.images.db.update((db) => {
      const rec = db.images[id];
      if (rec) rec.layerBlobs[index] = blob;
    });
  }

  /** Repositories on the same registry that hold `digest`: those our images were pulled from or pushed to. */
  private mountSources(digest: Digest, ref: Reference): string[] {
    const out = new Set<string>();
    for (const img of this.images.list()) {
      if (!img.layerBlobs.some((b) => b?.digest === digest)) continue;
      for (const repo of Object.keys(img.manifests)) {
        const slash = repo.indexOf('/');
        if (repo.slice(0, slash) === ref.domain && repo.slice(slash + 1) !== ref.path) out.add(repo.slice(slash + 1));
      }
    }
    return [...out].sort();
  }

  private async pushLayers(session: PushSession, layers: PushLayer[], opts: PushOptions): Promise<void> {
    // One upload per distinct blob (an image may repeat a layer, e.g. an empty one).
    const unique = [...new Map(layers.map((l) => [l.blob.digest, l])).values()];
    for (const l of unique) opts.progress({ status: 'Preparing', progressDetail: {}, id: shortId(l.diffId) });
    for (const l of unique) opts.progress({ status: 'Waiting', progressDetail: {}, id: shortId(l.diffId) });
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await runPool(unique, this.opts.concurrency ?? 5, controller, (l) => this.pushLayer(session, l, opts.progress, controller.signal));
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async pushLayer(session: PushSession, layer: PushLayer, progress: ProgressSink, signal: AbortSignal): Promise<void> {
    const id = shortId(layer.diffId);
    const maxAttempts = this.opts.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        if ((await session.statBlob(layer.blob.digest, signal)) !== undefined) {
          progress({ status: 'Layer already exists', progressDetail: {}, id });
          return;
        }
        for (const from of layer.mountFrom) {
          if (await session.mountBlob(layer.blob.digest, from, signal)) {
            progress({ status: `Mounted from ${from}`, progressDetail: {}, id });
            return;
          }
        }
        const bar = new ThrottledProgress(progress, id, 'Pushing', layer.blob.size);
        bar.update(0, true);
        await session.uploadBlob(this.source(layer.blob), {
          signal,
          onProgress: (n) => bar.update(n),
          ...(this.opts.chunkSize !== undefined ? { chunkSize: this.opts.chunkSize } : {}),
        });
        bar.update(layer.blob.size, true);
        progress({ status: 'Pushed', progressDetail: {}, id });
        return;
      } catch (err) {
        if (signal.aborted || !isTransient(err) || attempt >= maxAttempts) throw err;
        const ms = this.opts.retryDelayMs?.(attempt) ?? Math.min(5, attempt) * 1000;
        this.log.warn('layer upload failed, retrying', { layer: layer.blob.digest, attempt, err });
        progress({ status: `Retrying in ${Math.ceil(ms / 1000)} second${ms === 1000 ? '' : 's'}`, progressDetail: {}, id });
        await sleep(ms, undefined, { signal });
      }
    }
  }

  private async pushBlob(session: PushSession, blob: LayerBlob, signal?: AbortSignal): Promise<void> {
    if ((await session.statBlob(blob.digest, signal)) !== undefined) return;
    await session.uploadBlob(this.source(blob), {
      ...(signal ? { signal } : {}),
      ...(this.opts.chunkSize !== undefined ? { chunkSize: this.opts.chunkSize } : {}),
    });
  }

  private source(blob: LayerBlob): { digest: Digest; size: number; open: (range?: { start: number; end: number }) => Readable } {
    const file = this.images.content.blobPath(blob.digest);
    return {
      digest: blob.digest,
      size: blob.size,
      open: (range) => createReadStream(file, { highWaterMark: 1 << 20, ...(range ?? {}) }),
    };
  }

  /**
   * The manifest to push: one this image was pulled with when it names exactly the
   * config and blobs being pushed (so the digest stays), else a schema 2 manifest.
   */
  private async manifestFor(record: ImageRecord, config: Buffer, layers: PushLayer[]): Promise<{ mediaType: string; body: Buffer }> {
    for (const digest of new Set(Object.values(record.manifests))) {
      if (!(await this.images.content.has(digest))) continue;
      const body = await this.images.content.readBuffer(digest);
      let mediaType: string;
      try {
        mediaType = detectMediaType(undefined, body);
        const m = parseManifest(mediaType, body);
        if (!isManifest(m) || m.config.digest !== sha256(config) || m.layers.length !== layers.length) continue;
        if (!m.layers.every((d, i) => d.digest === layers[i]?.blob.digest)) continue;
      } catch (err) {
        this.log.debug('stored manifest not reusable', { digest, err });
        continue;
      }
      return { mediaType, body };
    }
    const manifest: { schemaVersion: 2; mediaType: string; config: Descriptor; layers: Descriptor[] } = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.dockerManifest,
      config: { mediaType: MEDIA_TYPE.dockerConfig, size: config.length, digest: sha256(config) },
      layers: layers.map((l) => ({ mediaType: GZIP_LAYER, size: l.blob.size, digest: l.blob.digest })),
    };
    if (layers.some((l) => compressionForMediaType(l.blob.mediaType) !== 'gzip')) {
      // zstd layers have no Docker schema 2 media type: say it in OCI terms.
      manifest.mediaType = MEDIA_TYPE.ociManifest;
      manifest.config.mediaType = MEDIA_TYPE.ociConfig;
      manifest.layers = layers.map((l) => ({ mediaType: ociLayerType(l.blob.mediaType), size: l.blob.size, digest: l.blob.digest }));
    }
    return { mediaType: manifest.mediaType, body: Buffer.from(JSON.stringify(manifest)) };
  }
}

function ociLayerType(mediaType: string): string {
  const c = compressionForMediaType(mediaType);
  return c === 'zstd' ? MEDIA_TYPE.ociLayerZstd : c === 'none' ? MEDIA_TYPE.ociLayer : MEDIA_TYPE.ociLayerGzip;
}

/** Connection trouble and registry hiccups are worth another try; refusals are not. */
function isTransient(err: unknown): boolean {
  if (isBerthError(err)) return err.code === 'REGISTRY_UNREACHABLE' || err.code === 'REGISTRY_UNAVAILABLE' || err.kind === 'unavailable';
  const code = (err as { code?: string } | null)?.code ?? '';
  return /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|ERR_STREAM_PREMATURE_CLOSE|UND_ERR_)/.test(code);
}
