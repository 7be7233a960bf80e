/**
 * Making an image from a parent image and one new layer: `docker commit`, each step of a
 * build, and `docker import` (a tar instead of a directory, no parent).
 *
 * The layer is one stream: the directory as a layer tar (layer-tar.ts) or the given tar,
 * decompressed, is hashed (its DiffID), gzip'd into a content ingest (the blob a push or save
 * sends) and unpacked into a prepared layer directory, all in one pass. Then the new config
 * is written: the parent's rootfs and history plus this step, architecture and os from the
 * parent (or this host). Nothing is visible until the very end, where blob, layer, config and
 * image record are committed in that order under leases; a failure at any point aborts what
 * was staged and collects whatever the commit step had already moved into place.
 *
 * A layer with no entries (nothing changed) adds no diff_id: the history entry says
 * `empty_layer: true`, as Docker does for a step whose diff is the empty tar.
 */
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { chainIds, DigestTap, sha256, type Digest } from '../common/digest.js';
import { invalid, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { familiarString, parseReference, parseRepoAndTag, refString } from '../registry/reference.js';
import { autoDecompressor } from '../store/compression.js';
import type { BlobInfo, ContentStore, ContentWriter, LayerInfo, LayerStore, PreparedLayer } from '../store/types.js';
import { unpackLayer } from '../store/unpack.js';
import type { ContainerConfig, HistoryEntry, ImageConfig } from './config.js';
import { writeLayerTar } from './layer-tar.js';
import type { ImageRecord } from './imagedb.js';
import type { ImageService } from './service.js';

export const LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export interface CommitRequest {
  /** Base image ID; undefined = FROM scratch. */
  parent?: Digest;
  /**
   * An overlay upper dir (whiteouts as char 0/0 devices, opaque dirs by xattr) or a plain dir
   * whose content is the layer; undefined (and no layerTar) = no new layer.
   */
  layerDir?: string;
  /** Instead of layerDir: the layer as a tar stream, plain or compressed (`docker import`). */
  layerTar?: Readable;
  /** The complete runtime config of the new image. */
  config: ContainerConfig;
  /** created_by etc. of this step (appended to the parent's history). */
  history: HistoryEntry;
  author?: string;
  comment?: string;
  /** Full references to point at the new image. */
  tags?: string[];
  /** The container the image was made from (inspect's `Container`). */
  container?: string;
  /** Platform of an image without a parent (a build's FROM scratch stage); default: this host's. */
  platform?: { os: string; architecture: string; variant?: string };
  /**
   * Where the result goes instead of the image db: the build cache keeps a step's result as a
   * state, not an image. Called while the new content is still leased, so garbage collection
   * cannot take it before the keeper has recorded it.
   */
  keep?: (state: { id: Digest; diffIds: Digest[]; layerBlobs: ImageRecord['layerBlobs'] }) => Promise<void>;
}

/** `repo` and `tag` query parameters (commit, import) as a full reference and as Docker shows it; 400 when malformed. */
export function commitTarget(repo: string, tag: string | undefined): { ref: string; familiar: string } {
  const r = parseRepoAndTag(repo, tag);
  if (r.digest) throw invalid('refusing to create a tag with a digest reference');
  return { ref: refString(r), familiar: familiarString(r) };
}

/** Paths the runtime creates in every container's upper dir (mount points, the bind-mounted /etc files). */
const RUNTIME_PATHS = new Set(['proc', 'sys', 'dev', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', '.dockerenv']);

interface StagedLayer {
  diffId: Digest;
  chainId: Digest;
  size: number;
  blob: BlobInfo & { mediaType: string };
  /** Absent when the layer store has this chain already. */
  prepared?: PreparedLayer;
  writer?: ContentWriter;
}

export class ImageCommitter {
  constructor(
    private readonly images: ImageService,
    private readonly layers: LayerStore,
    private readonly content: ContentStore,
    private readonly log: Logger,
  ) {}

  /** Layer tar (gzip, whiteouts as .wh. entries) into the content store + layer store, new config, image record, tags. */
  async commit(req: CommitRequest, signal?: AbortSignal): Promise<{ id: Digest }> {
    const tags = (req.tags ?? []).map((t) => refString(parseReference(t)));
    const parent = req.parent !== undefined ? this.images.record(req.parent) : undefined;
    if (req.parent !== undefined && !parent) throw notFound(`No such image: ${req.parent}`);
    const parentDiffs = parent?.diffIds ?? [];
    const parentConfig = parent ? await this.images.config(parent.id) : undefined;
    const leases: Array<() => void> = [];
    const release = (): void => leases.splice(0).forEach((r) => r());
    let staged: StagedLayer | undefined;
    let committing = false;
    try {
      if (req.layerTar !== undefined) {
        const plain = autoDecompressor();
        pipeline(req.layerTar, plain).catch(() => undefined); // an error reaches the stage through `plain`
        staged = await this.stage(plain, parentDiffs, signal);
      } else if (req.layerDir !== undefined) {
        staged = await this.stageDir(req.layerDir, parentDiffs, signal);
      }
      const created = req.history.created ?? new Date().toISOString();
      const step: HistoryEntry = { ...req.history, created };
      delete step.empty_layer;
      if (!staged) step.empty_layer = true;
      const config: ImageConfig = {
        architecture: parentConfig?.architecture ?? req.platform?.architecture ?? goArch(),
        ...(parentConfig?.variant ? { variant: parentConfig.variant } : !parentConfig && req.platform?.variant ? { variant: req.platform.variant } : {}),
        os: parentConfig?.os ?? req.platform?.os ?? 'linux',
        ...(parentConfig?.['os.version'] ? { 'os.version': parentConfig['os.version'] } : {}),
        config: req.config,
        created,
        ...(req.author ? { author: req.author } : {}),
        ...(req.comment ? { comment: req.comment } : {}),
        ...(req.container ? { container: req.container } : {}),
        rootfs: { type: 'layers', diff_ids: staged ? [...parentDiffs, staged.diffId] : [...parentDiffs] },
        history: [...(parentConfig?.history ?? []), step],
      };
      const configBytes = Buffer.from(JSON.stringify(config));
      const id = sha256(configBytes);
      leases.push(this.images.lease([id, ...(staged ? [staged.chainId, staged.blob.digest] : [])]));
      signal?.throwIfAborted();

      committing = true;
      if (staged?.writer) {
        await staged.writer.commit();
        delete staged.writer;
      }
      if (staged?.prepared) {
        const info: LayerInfo = {
          chainId: staged.chainId,
          diffId: staged.diffId,
          ...(parentDiffs.length > 0 ? { parent: chainIds(parentDiffs).at(-1) as Digest } : {}),
          size: staged.size,
          blob: staged.blob,
        };
        await staged.prepared.commit(info);
        delete staged.prepared;
      }
      await this.content.putBuffer(configBytes, id);
      const record = {
        id,
        diffIds: config.rootfs.diff_ids as Digest[],
        layerBlobs: [...(parent?.layerBlobs ?? parentDiffs.map(() => null)), ...(staged ? [staged.blob] : [])],
        ...(parent ? { parent: parent.id } : {}),
      };
      if (req.keep) {
        await req.keep({ id, diffIds: record.diffIds, layerBlobs: record.layerBlobs });
        return { id };
      }
      await this.images.commitImage(record, tags[0]);
      for (const t of tags.slice(1)) await this.images.commitImage(record, t);
      for (const t of tags) this.images.events.publish('image', 'tag', id, { name: familiarString(parseReference(t)) });
      return { id };
    } catch (err) {
      await staged?.prepared?.abort().catch(() => undefined);
      await staged?.writer?.abort().catch(() => undefined);
      release();
      if (committing) {
        await this.images.collectGarbage().catch((e: unknown) => this.log.warn('cleanup after failed commit failed', { err: e }));
      }
      throw err;
    } finally {
      release();
    }
  }

  /** The directory as a layer tar, leaving out the runtime's own paths; undefined when nothing is left. */
  private async stageDir(dir: string, parentDiffs: Digest[], signal?: AbortSignal): Promise<StagedLayer | undefined> {
    const lowers = chainIds(parentDiffs)
      .map((c) => this.layers.diffDir(c))
      .reverse();
    const tar = new PassThrough({ highWaterMark: 1 << 20 });
    // A read failure can come before the stage pipes `tar`; the pipeline still sees its errored state.
    tar.on('error', () => undefined);
    const written = writeLayerTar(dir, tar, { skip: (rel, st, host) => runtimeOnly(rel, st, host, lowers), ...(signal ? { signal } : {}) });
    written.then(
      () => tar.end(),
      (err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))),
    );
    const staged = await this.stage(tar, parentDiffs, signal);
    const { entries } = await written;
    if (entries > 0) return staged;
    await staged.prepared?.abort();
    await staged.writer?.abort();
    return undefined;
  }

  /**
   * One pass over an uncompressed layer tar: DiffID, gzip'd blob into an ingest, unpack into a
   * prepared layer. Nothing is committed here.
   */
  private async stage(tar: Readable, parentDiffs: Digest[], signal?: AbortSignal): Promise<StagedLayer> {
    const writer = await this.content.ingest();
    let prepared: PreparedLayer | undefined;
    try {
      prepared = await this.layers.prepare();
      const gzip = createGzip();
      const blobTap = new DigestTap();
      const stored = pipeline(gzip, blobTap, writer.stream);
      stored.catch(() => undefined);
      // Every byte of the tar goes to the gzip stream too, with its backpressure.
      const tee = new Transform({
        highWaterMark: 1 << 20,
        transform(chunk: Buffer, _enc, cb) {
          if (gzip.write(chunk)) cb(null, chunk);
          else gzip.once('drain', () => cb(null, chunk));
        },
        flush(cb) {
          gzip.end();
          stored.then(() => cb(), cb);
        },
      });
      const diffTap = new DigestTap();
      const piped = pipeline(tar, diffTap, tee);
      piped.catch(() => undefined);
      await unpackLayer(tee, prepared.dir, { log: this.log, ...(signal ? { signal } : {}) });
      // The end marker can precede trailing padding: drain so the DiffID covers every byte.
      tee.resume();
      await piped;
      const diffId = diffTap.digest();
      const chainId = chainIds([...parentDiffs, diffId]).at(-1) as Digest;
      const blob = { digest: blobTap.digest(), size: blobTap.bytes, mediaType: LAYER_MEDIA_TYPE };
      const staged: StagedLayer = { diffId, chainId, size: diffTap.bytes, blob, writer };
      if (await this.layers.has(chainId)) await prepared.abort();
      else staged.prepared = prepared;
      return staged;
    } catch (err) {
      await prepared?.abort().catch(() => undefined);
      await writer.abort().catch(() => undefined);
      throw err;
    }
  }
}

/**
 * True for a path the runtime made for the container (a mount point or a bind-mounted /etc
 * file that no parent layer has, or an /etc holding only those): Docker keeps these in an init
 * layer, so they never show up in a commit.
 */
async function runtimeOnly(rel: string, st: Stats, hostPath: string, lowers: string[]): Promise<boolean> {
  if (rel === 'etc' && st.isDirectory()) {
    for (const n of await fsp.readdir(hostPath)) {
      if (!RUNTIME_PATHS.has(`etc/${n}`) || (await inLowers(lowers, `etc/${n}`))) return false;
    }
    return true;
  }
  return RUNTIME_PATHS.has(rel) && !(await inLowers(lowers, rel));
}

/** Whether the parent layers (top first) show `rel`: the first layer holding it, or a whiteout of it, decides. */
async function inLowers(lowers: string[], rel: string): Promise<boolean> {
  for (const dir of lowers) {
    const st = await fsp.lstat(path.join(dir, rel)).catch(() => undefined);
    if (st !== undefined) return !(st.isCharacterDevice() && st.rdev === 0);
  }
  return false;
}

function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}
