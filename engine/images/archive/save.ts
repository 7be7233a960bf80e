/**
 * `docker save`: images to a tar archive.
 *
 * save writes the layout Docker 25+ writes, which is at once a `docker load`
 * archive and an OCI image layout:
 *
 *   oci-layout                  {"imageLayoutVersion":"1.0.0"}
 *   index.json                  OCI index: one manifest descriptor per tag (annotated with
 *                               io.containerd.image.name / org.opencontainers.image.ref.name),
 *                               one unannotated descriptor for an image saved by ID
 *   manifest.json               [{Config, RepoTags, Layers}] with paths into blobs/
 *   repositories                {"busybox": {"latest": "<top layer id>"}} (tagged images only)
 *   blobs/sha256/<config>       the image config, byte for byte (its digest is the image ID)
 *   blobs/sha256/<manifest>     an OCI manifest pointing at the config and the layers
 *   blobs/sha256/<diffid>       each layer as an UNCOMPRESSED tar, so it hashes to its DiffID
 *
 * The uncompressed layer bytes are reproduced by decompressing the compressed
 * blob the layer was unpacked from (kept in the content store for this reason);
 * they are verified against the DiffID as they stream out. Metadata goes first,
 * so a streaming reader knows what follows.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TarHeader } from '../../../common/tar/index.js';
import { TarSink } from '../../../hostfs/tar-sink.js';
import { chainIds, digestHex, hasherDigest, newHasher, sha256, shortId, type Digest } from '../../common/digest.js';
import { errorMessage, invalid, notFound, system } from '../../common/errors.js';
import { familiarName, familiarString, parseReference, refString } from '../../registry/reference.js';
import { MEDIA_TYPE } from '../../registry/manifest.js';
import type { Reference } from '../../registry/types.js';
import { autoDecompressor, compressionForMediaType, decompressor } from '../../store/compression.js';
import type { LayerStore } from '../../store/types.js';
import { parseImageConfig } from '../config.js';
import type { ImageRecord } from '../imagedb.js';
import type { ImageService } from '../service.js';
import { blobPath, cancelled, IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION, type BlobRef } from './format.js';

interface SaveLayer {
  diffId: Digest;
  chainId: Digest;
  /** Uncompressed size (the tar entry size). */
  size: number;
  /** The stored blob the bytes are decompressed from. */
  blob: BlobRef;
}

interface SaveImage {
  id: Digest;
  config: Buffer;
  mtime: Date;
  layers: SaveLayer[];
  /** Full references ("docker.io/library/busybox:latest"), sorted. */
  tags: string[];
  manifest: Buffer;
  manifestDigest: Digest;
}

export class ImageSaver {
  constructor(
    private readonly images: ImageService,
    private readonly layers: LayerStore,
  ) {}

  /**
   * Resolve save names the way `docker save` does, without writing anything:
   * throws notFound("No such image: X") for the first name that matches nothing.
   */
  checkNames(names: string[]): void {
    this.select(names);
  }

  /**
   * GET /images/get, /images/{name}/get: stream a `docker save` archive to `out`.
   * Every name is resolved and every blob checked before the first byte is
   * written. `out` is not ended (the caller owns it); on failure after the first
   * byte the archive is left truncated, never silently wrong.
   */
  async save(names: string[], out: Writable, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (names.length === 0) throw invalid('no image names given');
    const selected = this.select(names);
    const { content } = this.images;
    const leaseKeys: string[] = [];
    for (const { record } of selected.values()) {
      leaseKeys.push(record.id, ...chainIds(record.diffIds));
      for (const b of record.layerBlobs) if (b) leaseKeys.push(b.digest);
    }
    const releases = [this.images.lease(leaseKeys)];
    try {
      const images: SaveImage[] = [];
      for (const { record, tags } of selected.values()) {
        const img = await this.describeForSave(record, [...tags].sort());
        releases.push(this.images.lease(img.layers.map((l) => l.blob.digest)));
        images.push(img);
      }
      // A layer blob that went missing would otherwise only show as a truncated archive.
      for (const img of images) {
        for (const l of img.layers) {
          if (!(await content.has(l.blob.digest))) {
            throw system(`cannot save image ${shortId(img.id)}: blob ${l.blob.digest} of layer ${l.diffId} is missing`);
          }
        }
      }
      await this.writeArchive(images, out, opts.signal);
      for (const img of images) {
        const first = img.tags[0];
        this.images.events.publish('image', 'save', img.id, {
          name: first !== undefined ? familiarString(parseReference(first)) : img.id,
        });
      }
    } finally {
      for (const r of releases) r();
    }
  }

  /**
   * Names to images, as dockerd's save does: an ID (or ID prefix) gives the image
   * without tags; "repo:tag" gives that tag; a bare repository gives every tag of
   * it (or, when it has none, whatever the name resolves to); "repo@digest" gives
   * the image without tags. Images named twice are written once.
   */
  private select(names: string[]): Map<Digest, { record: ImageRecord; tags: Set<string> }> {
    const { db } = this.images;
    const out = new Map<Digest, { record: ImageRecord; tags: Set<string> }>();
    const add = (record: ImageRecord, tag?: string): void => {
      let e = out.get(record.id);
      if (!e) {
        e = { record, tags: new Set() };
        out.set(record.id, e);
      }
      if (tag !== undefined) e.tags.add(tag);
    };
    for (const name of names) {
      let ref: Reference | undefined;
      if (!name.startsWith('sha256:')) {
        try {
          ref = parseReference(name, { defaultTag: false });
        } catch {
          ref = undefined;
        }
      }
      if (ref && ref.tag === undefined && ref.digest === undefined) {
        const repo = `${ref.domain}/${ref.path}`;
        const tagged = db
          .tags()
          .filter(([t]) => repoOfTag(t) === repo)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        let any = false;
        for (const [t, id] of tagged) {
          const rec = db.image(id);
          if (rec) {
            add(rec, t);
            any = true;
          }
        }
        if (!any) add(this.images.resolveRecord(name));
        continue;
      }
      if (ref && ref.tag !== undefined && ref.digest === undefined) {
        const full = refString(ref);
        const id = db.tag(full);
        const rec = id !== undefined ? db.image(id) : undefined;
        if (!rec) throw notFound(`No such image: ${name}`);
        add(rec, full);
        continue;
      }
      add(this.images.resolveRecord(name));
    }
    return out;
  }

  private async describeForSave(record: ImageRecord, tags: string[]): Promise<SaveImage> {
    const { content } = this.images;
    let config: Buffer;
    try {
      config = await content.readBuffer(record.id);
    } catch (err) {
      throw system(`cannot save image ${shortId(record.id)}: its config blob is missing: ${errorMessage(err)}`, err);
    }
    let created: string | undefined;
    try {
      created = parseImageConfig(config).created;
    } catch {
      created = undefined;
    }
    const t = created !== undefined ? Date.parse(created) : NaN;
    const mtime = Number.isFinite(t) && t > 0 ? new Date(t) : new Date(0);
    const chains = chainIds(record.diffIds);
    const layers: SaveLayer[] = [];
    for (const [i, diffId] of record.diffIds.entries()) {
      const chainId = chains[i] as Digest;
      const info = await this.layers.get(chainId);
      if (!info) throw system(`cannot save image ${shortId(record.id)}: layer ${chainId} is missing from the layer store`);
      const blob = record.layerBlobs[i] ?? info.blob;
      if (!blob) {
        throw system(
          `cannot save image ${shortId(record.id)}: layer ${diffId} has no stored blob to reproduce its tar from`,
        );
      }
      layers.push({ diffId, chainId, size: info.size, blob });
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociManifest,
        config: { mediaType: MEDIA_TYPE.ociConfig, digest: record.id, size: config.length },
        layers: layers.map((l) => ({ mediaType: MEDIA_TYPE.ociLayer, digest: l.diffId, size: l.size })),
      }),
    );
    return { id: record.id, config, mtime, layers, tags, manifest, manifestDigest: sha256(manifest) };
  }

  private async writeArchive(images: SaveImage[], out: Writable, signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(cancelled('save cancelled'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const sink = new TarSink(out, ac.signal);
    try {
      await this.writeEntries(sink, images, ac.signal);
      await sink.finish();
    } catch (err) {
      if (!ac.signal.aborted) ac.abort(err);
      if (signal?.aborted) throw cancelled('save cancelled');
      if (out.destroyed) throw cancelled('output stream closed');
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async writeEntries(pack: TarSink, images: SaveImage[], signal: AbortSignal): Promise<void> {
    const mtime = images.reduce((m, i) => (i.mtime > m ? i.mtime : m), new Date(0));
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: images.flatMap((img) => {
        const desc = { mediaType: MEDIA_TYPE.ociManifest, digest: img.manifestDigest, size: img.manifest.length };
        if (img.tags.length === 0) return [desc];
        return img.tags.map((t) => ({
          ...desc,
          annotations: { [IMAGE_NAME_ANNOTATION]: t, [REF_NAME_ANNOTATION]: parseReference(t).tag ?? 'latest' },
        }));
      }),
    };
    const manifestJson = images.map((img) => ({
      Config: blobPath(img.id),
      RepoTags: img.tags.length > 0 ? img.tags.map((t) => familiarString(parseReference(t))) : null,
      Layers: img.layers.map((l) => blobPath(l.diffId)),
    }));
    const repositories: Record<string, Record<string, string>> = {};
    for (const img of images) {
      const top = img.layers[img.layers.length - 1];
      if (!top) continue;
      for (const t of img.tags) {
        const ref = parseReference(t);
        (repositories[familiarName(ref)] ??= {})[ref.tag ?? 'latest'] = digestHex(top.diffId);
      }
    }

    const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
    const addEntry = (h: EntrySpec, data?: Buffer): Promise<void> => addTo(pack, h, data);
    await addEntry({ name: 'oci-layout', mtime }, json({ imageLayoutVersion: '1.0.0' }));
    await addEntry({ name: 'index.json', mtime }, json(index));
    await addEntry({ name: 'manifest.json', mtime }, json(manifestJson));
    if (Object.keys(repositories).length > 0) {
      await addEntry({ name: 'repositories', mtime }, json(repositories));
    }
    await addEntry({ name: 'blobs', type: 'dir', mode: 0o755, mtime });
    await addEntry({ name: 'blobs/sha256', type: 'dir', mode: 0o755, mtime });
    const written = new Set<Digest>();
    for (const img of images) {
      for (const [digest, data] of [
        [img.id, img.config],
        [img.manifestDigest, img.manifest],
      ] as const) {
        if (written.has(digest)) continue;
        written.add(digest);
        signal.throwIfAborted();
        await addEntry({ name: blobPath(digest), mtime: img.mtime }, data);
      }
    }
    for (const img of images) {
      for (const l of img.layers) {
        if (written.has(l.diffId)) continue;
        written.add(l.diffId);
        signal.throwIfAborted();
        await this.writeLayer(pack, l, img.mtime, signal);
      }
    }
  }

  /** One layer as an uncompressed tar entry, decompressed from its stored blob and checked against its DiffID. */
  private async writeLayer(pack: TarSink, layer: SaveLayer, mtime: Date, signal: AbortSignal): Promise<void> {
    const src = this.images.content.createReadStream(layer.blob.digest);
    const kind = compressionForMediaType(layer.blob.mediaType);
    const dec = kind !== undefined ? decompressor(kind) : autoDecompressor();
    // When the client hangs up, the abort reaches these three streams from several sides at once
    // (pipeline's signal, the generator below, the pack being destroyed) and each may emit 'error' after
    // its reader is gone. The failure is reported once, through `piped` or the pack; an
    // 'error' event with no listener would be an uncaught exception instead.
    const ignore = (): void => undefined;
    src.on('error', ignore);
    dec.on('error', ignore);
    const piped = pipeline(src, dec, { signal });
    piped.catch(ignore);
    // Checked as it streams: a layer that turns out wrong fails before the entry is complete, so
    // the archive ends truncated rather than silently wrong.
    async function* verified(): AsyncGenerator<Buffer> {
      const hash = newHasher();
      let n = 0;
      for await (const chunk of dec as AsyncIterable<Buffer>) {
        n += chunk.length;
        if (n > layer.size) throw system(`layer ${layer.diffId} decompresses to more than its recorded ${layer.size} bytes`);
        hash.update(chunk);
        yield chunk;
      }
      await piped;
      if (n !== layer.size) throw system(`layer ${layer.diffId} decompresses to ${n} bytes, but ${layer.size} were recorded`);
      const got = hasherDigest(hash);
      if (got !== layer.diffId) throw system(`stored blob ${layer.blob.digest} decompresses to ${got}, not to layer ${layer.diffId}`);
    }
    try {
      await pack.add({ ...FILE, name: blobPath(layer.diffId), size: layer.size, mtime: seconds(mtime) }, verified());
    } catch (err) {
      src.destroy();
      dec.destroy();
      throw err;
    }
  }
}

function repoOfTag(fullTag: string): string | undefined {
  try {
    const r = parseReference(fullTag);
    return `${r.domain}/${r.path}`;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Tar output

const FILE = { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 } as const;
const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

interface EntrySpec {
  name: string;
  mtime: Date;
  type?: 'dir';
  mode?: number;
}

/** Adds a small entry (from a buffer) or a directory. */
function addTo(pack: TarSink, spec: EntrySpec, data?: Buffer): Promise<void> {
  const h: TarHeader = { ...FILE, type: spec.type ?? 'file', mode: spec.mode ?? 0o644, name: spec.name, mtime: seconds(spec.mtime), size: data?.length ?? 0 };
  return pack.add(h, data ? [data] : undefined);
}
