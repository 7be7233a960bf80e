/**
 * `docker save` / `docker load`: images to and from tar archives.
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
 *
 * load accepts:
 *   1. the Docker layout: manifest.json + configs + layer tars (uncompressed or
 *      gzip/zstd, paths like "<id>/layer.tar" or "blobs/sha256/<hex>");
 *   2. the old layout with only `repositories` and "<v1 id>/{json,layer.tar}" directories:
 *      the chain is rebuilt from `parent` links and an image config synthesised
 *      with the DiffIDs computed from the layer tars;
 *   3. OCI image layouts (oci-layout + index.json, nested indexes, host platform
 *      chosen), names from the ref annotations.
 * The archive itself may be gzip or zstd compressed.
 *
 * A tar stream is sequential and its entries can come in any order, so every
 * entry is first spooled to a private scratch directory inside the layer store's
 * temp area (same filesystem, deleted at start-up after a crash), hashing as it
 * is written. Then the archive is interpreted and validated completely (configs,
 * layer counts, tags) before any layer is touched. Layers are unpacked into
 * prepared (uncommitted) layer directories and their blobs copied into content
 * ingests; only when every layer's DiffID verified is anything committed, so a
 * bad archive leaves nothing behind.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar, { type Header, type Pack } from 'tar-stream';
import { chainIds, digestHex, hasherDigest, isDigest, newHasher, sha256, shortId, type Digest } from '../common/digest.js';
import { BerthError, errorMessage, invalid, isBerthError, notFound, system } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { familiarName, familiarString, parseReference, refString } from '../registry/reference.js';
import {
  formatPlatform,
  hostPlatform,
  INDEX_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPE,
  parseManifest,
  REFERENCE_TYPE_ANNOTATION,
  selectPlatform,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from '../registry/manifest.js';
import type { Reference } from '../registry/types.js';
import {
  autoDecompressor,
  compressionForMediaType,
  decompressor,
  detectCompression,
  SNIFF_BYTES,
  type Compression,
} from '../store/compression.js';
import { unpackLayer } from '../store/unpack.js';
import type { ContentWriter, LayerInfo, LayerStore, PreparedLayer } from '../store/types.js';
import { parseImageConfig } from './config.js';
import type { ImageRecord } from './imagedb.js';
import { ThrottledProgress, type ProgressSink } from './progress.js';
import type { ImageService } from './service.js';

/** containerd's annotation: the full image name ("docker.io/library/busybox:latest"). */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';
/** OCI's annotation: by convention the tag ("latest"), sometimes a whole reference. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Largest JSON document (manifest.json, config, index) read from an archive. */
const MAX_JSON_BYTES = 32 << 20;
/** Layers unpacked at once during a load. */
const LOAD_CONCURRENCY = 3;
/** Symlink hops followed when resolving a path inside an archive. */
const MAX_LINK_HOPS = 40;
/** Parent links followed in an old-layout archive. */
const MAX_V1_CHAIN = 1000;
/** Nested indexes followed in an OCI layout. */
const MAX_INDEX_DEPTH = 8;

const LAYER_MEDIA_TYPE: Record<Compression, string> = {
  none: MEDIA_TYPE.ociLayer,
  gzip: MEDIA_TYPE.ociLayerGzip,
  zstd: MEDIA_TYPE.ociLayerZstd,
};

type BlobRef = { digest: Digest; size: number; mediaType: string };

// ---------------------------------------------------------------------------
// Save: what goes into the archive.

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

// ---------------------------------------------------------------------------
// Load: the spooled archive and what it asks for.

interface SpoolFile {
  /** Path inside the archive (after links were followed). */
  name: string;
  /** Where the bytes were spooled. */
  file: string;
  size: number;
  digest: Digest;
  /** Compression sniffed from the first bytes. */
  compression: Compression;
}

interface LayerPlan {
  chainId: Digest;
  diffId: Digest;
  parent?: Digest;
  source: SpoolFile;
  /** How the source is compressed (from the media type, or sniffed). */
  compression: Compression;
  /** Media type to record for the source as a stored blob. */
  mediaType: string;
}

interface ImagePlan {
  id: Digest;
  config: Buffer;
  diffIds: Digest[];
  layers: LayerPlan[];
  /** Full references to point at the image. */
  tags: string[];
  parent?: Digest;
}

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

export class ImageArchiver {
  constructor(
    private readonly images: ImageService,
    private readonly layers: LayerStore,
    private readonly log: Logger,
  ) {}

  // =========================================================================
  // save

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
    const pack = tar.pack();
    let pumpError: unknown;
    const pumping = (async (): Promise<void> => {
      try {
        for await (const chunk of pack) {
          if (!out.write(chunk)) await waitDrain(out, ac.signal);
        }
      } catch (err) {
        pumpError = err;
        if (!ac.signal.aborted) ac.abort(err);
        pack.destroy();
      }
    })();
    try {
      await this.writeEntries(pack, images, ac.signal);
      pack.finalize();
      await pumping;
      if (pumpError !== undefined) throw pumpError;
    } catch (err) {
      if (!ac.signal.aborted) ac.abort(err);
      pack.destroy();
      await pumping;
      throw signal?.aborted ? cancelled('save cancelled') : (pumpError ?? err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async writeEntries(pack: Pack, images: SaveImage[], signal: AbortSignal): Promise<void> {
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
    await addEntry(pack, { name: 'oci-layout', mtime }, json({ imageLayoutVersion: '1.0.0' }));
    await addEntry(pack, { name: 'index.json', mtime }, json(index));
    await addEntry(pack, { name: 'manifest.json', mtime }, json(manifestJson));
    if (Object.keys(repositories).length > 0) {
      await addEntry(pack, { name: 'repositories', mtime }, json(repositories));
    }
    await addEntry(pack, { name: 'blobs', type: 'directory', mode: 0o755, mtime });
    await addEntry(pack, { name: 'blobs/sha256', type: 'directory', mode: 0o755, mtime });
    const written = new Set<Digest>();
    for (const img of images) {
      for (const [digest, data] of [
        [img.id, img.config],
        [img.manifestDigest, img.manifest],
      ] as const) {
        if (written.has(digest)) continue;
        written.add(digest);
        signal.throwIfAborted();
        await addEntry(pack, { name: blobPath(digest), mtime: img.mtime }, data);
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
  private async writeLayer(pack: Pack, layer: SaveLayer, mtime: Date, signal: AbortSignal): Promise<void> {
    const src = this.images.content.createReadStream(layer.blob.digest);
    const kind = compressionForMediaType(layer.blob.mediaType);
    const dec = kind !== undefined ? decompressor(kind) : autoDecompressor();
    const piped = pipeline(src, dec, { signal });
    piped.catch(() => undefined);
    let entry!: ReturnType<Pack['entry']>;
    const done = new Promise<void>((resolve, reject) => {
      entry = pack.entry({ name: blobPath(layer.diffId), size: layer.size, mode: 0o644, mtime, type: 'file' }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    done.catch(() => undefined);
    const hash = newHasher();
    let n = 0;
    try {
      for await (const chunk of dec as AsyncIterable<Buffer>) {
        n += chunk.length;
        if (n > layer.size) {
          throw system(`layer ${layer.diffId} decompresses to more than its recorded ${layer.size} bytes`);
        }
        hash.update(chunk);
        if (!entry.write(chunk)) await waitDrain(entry, signal);
      }
      await piped;
      if (n !== layer.size) {
        throw system(`layer ${layer.diffId} decompresses to ${n} bytes, but ${layer.size} were recorded`);
      }
      const got = hasherDigest(hash);
      if (got !== layer.diffId) {
        throw system(`stored blob ${layer.blob.digest} decompresses to ${got}, not to layer ${layer.diffId}`);
      }
      entry.end(undefined);
      await done;
    } catch (err) {
      src.destroy();
      dec.destroy();
      // Destroying an unfinished entry destroys the pack: the archive ends truncated.
      entry.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  // =========================================================================
  // load

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
      const spool = await this.spool(input, scratch.dir, opts.signal);
      const plans = await this.plan(spool, opts.signal);
      return await this.store(plans, progress, opts);
    } finally {
      await scratch.abort().catch((err: unknown) => this.log.warn('removing load scratch directory failed', { err }));
    }
  }

  /** Copy every entry of the (possibly compressed) archive to dir, hashing as it goes. */
  private async spool(input: Readable, dir: string, signal?: AbortSignal): Promise<Spool> {
    const spool = new Spool();
    const extract = tar.extract();
    const feeding = pipeline(input, autoDecompressor(), extract, signal ? { signal } : {});
    feeding.catch(() => undefined);
    let n = 0;
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = cleanPath(h.name);
        if (name !== undefined && (h.type === 'file' || h.type === 'contiguous-file' || h.type == null)) {
          const file = path.join(dir, `e${n++}`);
          spool.add(name, await spoolEntry(entry, name, file));
          continue;
        }
        if (name !== undefined && (h.type === 'symlink' || h.type === 'link') && h.linkname) {
          // Symlinks resolve against the link's directory; hard links name an archive path.
          const base = h.type === 'symlink' && !h.linkname.startsWith('/') ? path.posix.dirname(name) : '';
          const target = cleanPath(base === '' || base === '.' ? h.linkname : `${base}/${h.linkname}`);
          if (target !== undefined) spool.link(name, target);
        }
        for await (const _ of entry) {
          // directories, devices and the like carry nothing load needs
        }
      }
      await feeding;
    } catch (err) {
      extract.destroy();
      await feeding.catch(() => undefined);
      if (signal?.aborted) throw cancelled('load cancelled');
      throw archiveError(err);
    }
    return spool;
  }

  /** Work out which images the archive holds and validate everything but the layer contents. */
  private async plan(spool: Spool, signal?: AbortSignal): Promise<ImagePlan[]> {
    let plans: ImagePlan[];
    if (spool.get('manifest.json')) plans = await this.planDocker(spool);
    else if (spool.get('index.json')) plans = await this.planOci(spool);
    else if (spool.get('repositories')) plans = await this.planLegacy(spool, signal);
    else {
      throw invalid(
        'invalid image archive: no manifest.json, index.json or repositories file found (is this a docker save or OCI layout archive?)',
        'INVALID_ARCHIVE',
      );
    }
    // The same image listed twice (e.g. once per tag) is loaded once with all its tags.
    const byId = new Map<Digest, ImagePlan>();
    for (const p of plans) {
      const seen = byId.get(p.id);
      if (!seen) byId.set(p.id, p);
      else for (const t of p.tags) if (!seen.tags.includes(t)) seen.tags.push(t);
    }
    return [...byId.values()];
  }

  private async planDocker(spool: Spool): Promise<ImagePlan[]> {
    const doc = await spool.json('manifest.json', 'manifest.json');
    if (!Array.isArray(doc)) throw bad('manifest.json is not a JSON array');
    const plans: ImagePlan[] = [];
    for (const [i, item] of doc.entries()) {
      if (!isObject(item) || typeof item.Config !== 'string' || !isStringArray(item.Layers)) {
        throw bad(`manifest.json entry ${i} needs a Config path and a Layers list`);
      }
      const repoTags = item.RepoTags ?? [];
      if (!isStringArray(repoTags)) throw bad(`manifest.json entry ${i} has an invalid RepoTags list`);
      const { file: cfgFile, data: config } = await spool.read(item.Config, `image config ${item.Config}`);
      checkBlobName(item.Config, cfgFile);
      const diffIds = configDiffIds(config, item.Config);
      if (diffIds.length !== item.Layers.length) {
        throw bad(`image config ${item.Config} lists ${diffIds.length} diff IDs but manifest.json lists ${item.Layers.length} layers`);
      }
      const chains = chainIds(diffIds);
      const layers = item.Layers.map((p, j): LayerPlan => {
        const source = spool.get(p);
        if (!source) throw bad(`layer ${p} listed in manifest.json is missing from the archive`);
        checkBlobName(p, source);
        return layerPlan(source, diffIds[j] as Digest, chains, j, source.compression, LAYER_MEDIA_TYPE[source.compression]);
      });
      const plan: ImagePlan = { id: cfgFile.digest, config, diffIds, layers, tags: [...new Set(repoTags.map(parseArchiveTag))] };
      if (typeof item.Parent === 'string' && isDigest(item.Parent)) plan.parent = item.Parent;
      plans.push(plan);
    }
    if (plans.length === 0) throw bad('manifest.json lists no images');
    return plans;
  }

  private async planOci(spool: Spool): Promise<ImagePlan[]> {
    const layoutFile = spool.get('oci-layout');
    if (layoutFile) {
      const layout = await spool.json('oci-layout', 'oci-layout');
      if (!isObject(layout) || typeof layout.imageLayoutVersion !== 'string') {
        throw bad('oci-layout has no imageLayoutVersion');
      }
    }
    const { data } = await spool.read('index.json', 'index.json');
    const index = parseIndexDoc(data, 'index.json');
    const found: Array<{ manifest: ImageManifest; digest: Digest; tags: string[] }> = [];
    for (const d of index.manifests) {
      if (isAttestation(d)) continue;
      const m = await this.resolveOci(spool, d, 0);
      if (m) found.push({ ...m, tags: ociNames(d.annotations) });
    }
    if (found.length === 0) throw bad('index.json lists no image manifests');
    const plans: ImagePlan[] = [];
    for (const { manifest, digest, tags } of found) {
      const cfgFile = ociBlob(spool, manifest.config, `config of manifest ${digest}`);
      if (cfgFile.size > MAX_JSON_BYTES) throw bad(`image config ${manifest.config.digest} is too large`);
      const config = await fsp.readFile(cfgFile.file);
      const diffIds = configDiffIds(config, manifest.config.digest);
      if (diffIds.length !== manifest.layers.length) {
        throw bad(
          `manifest ${digest} lists ${manifest.layers.length} layers but its config lists ${diffIds.length} diff IDs`,
        );
      }
      const chains = chainIds(diffIds);
      const layers = manifest.layers.map((d, j): LayerPlan => {
        const compression = compressionForMediaType(d.mediaType);
        if (compression === undefined) throw bad(`layer ${d.digest} has unsupported media type ${d.mediaType}`);
        const source = ociBlob(spool, d, `layer of manifest ${digest}`);
        if (source.compression !== compression) {
          throw bad(
            `layer ${d.digest} is ${source.compression === 'none' ? 'not compressed' : `${source.compression}-compressed`}, but its media type is ${d.mediaType}`,
          );
        }
        return layerPlan(source, diffIds[j] as Digest, chains, j, compression, d.mediaType);
      });
      plans.push({ id: cfgFile.digest, config, diffIds, layers, tags });
    }
    return plans;
  }

  /** Follow a descriptor from index.json down to one image manifest (host platform for indexes). */
  private async resolveOci(
    spool: Spool,
    desc: Descriptor,
    depth: number,
  ): Promise<{ manifest: ImageManifest; digest: Digest } | undefined> {
    if (depth > MAX_INDEX_DEPTH) throw bad('indexes are nested too deeply');
    if (MANIFEST_MEDIA_TYPES.includes(desc.mediaType)) {
      const file = ociBlob(spool, desc, 'manifest');
      const parsed = parseDoc(desc.mediaType, await readLimited(file), `manifest ${desc.digest}`);
      if (!('layers' in parsed)) throw bad(`manifest ${desc.digest} is an index`);
      return { manifest: parsed, digest: desc.digest };
    }
    if (INDEX_MEDIA_TYPES.includes(desc.mediaType)) {
      const file = ociBlob(spool, desc, 'index');
      const idx = parseIndexDoc(await readLimited(file), `index ${desc.digest}`);
      // Only platforms whose manifest is in the archive are candidates (a save may carry just one).
      const present = idx.manifests.filter((d) => spool.get(`blobs/sha256/${digestHex(d.digest)}`) !== undefined);
      let chosen: Descriptor | undefined;
      try {
        chosen = selectPlatform({ ...idx, manifests: present }, hostPlatform());
      } catch {
        const candidates = present.filter(
          (d) => !isAttestation(d) && (MANIFEST_MEDIA_TYPES.includes(d.mediaType) || INDEX_MEDIA_TYPES.includes(d.mediaType)),
        );
        if (candidates.length === 1) chosen = candidates[0];
        else throw bad(`index ${desc.digest} has no image for ${formatPlatform(hostPlatform())}`);
      }
      return chosen ? this.resolveOci(spool, chosen, depth + 1) : undefined;
    }
    this.log.debug('skipping non-image descriptor in OCI layout', { digest: desc.digest, mediaType: desc.mediaType });
    return undefined;
  }

  /** The pre-1.10 layout: repositories + "<v1 id>/json" + "<v1 id>/layer.tar". */
  private async planLegacy(spool: Spool, signal?: AbortSignal): Promise<ImagePlan[]> {
    const repos = await spool.json('repositories', 'repositories');
    if (!isObject(repos)) throw bad('repositories is not a JSON object');
    const tagsById = new Map<string, string[]>();
    for (const [repo, tags] of Object.entries(repos)) {
      if (!isObject(tags)) throw bad(`repositories entry ${JSON.stringify(repo)} is not an object`);
      for (const [tag, id] of Object.entries(tags)) {
        if (typeof id !== 'string' || !/^[a-f0-9]{64}$/.test(id)) {
          throw bad(`repositories entry ${repo}:${tag} does not name a layer ID`);
        }
        const full = parseArchiveTag(`${repo}:${tag}`);
        const list = tagsById.get(id) ?? [];
        if (!list.includes(full)) list.push(full);
        tagsById.set(id, list);
      }
    }
    if (tagsById.size === 0) throw bad('repositories lists no images');

    type V1Layer = { json: Record<string, unknown>; parent?: string; layer: SpoolFile; diffId?: Digest };
    const v1 = new Map<string, V1Layer>();
    const readV1 = async (id: string): Promise<V1Layer> => {
      const known = v1.get(id);
      if (known) return known;
      const json = await spool.json(`${id}/json`, `${id}/json`);
      if (!isObject(json)) throw bad(`${id}/json is not a JSON object`);
      const layer = spool.get(`${id}/layer.tar`);
      if (!layer) throw bad(`${id}/layer.tar is missing`);
      const parent = json.parent;
      if (parent !== undefined && parent !== null && parent !== '' && (typeof parent !== 'string' || !/^[a-f0-9]{64}$/.test(parent))) {
        throw bad(`${id}/json has an invalid parent`);
      }
      const rec = { json, layer, ...(typeof parent === 'string' && parent !== '' ? { parent } : {}) };
      v1.set(id, rec);
      return rec;
    };

    const plans: ImagePlan[] = [];
    for (const [topId, tags] of tagsById) {
      const ids: string[] = [];
      for (let cur: string | undefined = topId; cur !== undefined; cur = (await readV1(cur)).parent) {
        if (ids.includes(cur)) throw bad(`layer ${cur} is its own ancestor`);
        if (ids.length >= MAX_V1_CHAIN) throw bad(`layer chain of ${topId} is too long`);
        ids.unshift(cur);
      }
      const chain = await Promise.all(ids.map(readV1));
      const diffIds: Digest[] = [];
      for (const rec of chain) {
        rec.diffId ??= await diffIdOf(rec.layer, signal);
        diffIds.push(rec.diffId);
      }
      const config = legacyConfig(
        chain.map((r) => r.json),
        diffIds,
      );
      const chains = chainIds(diffIds);
      const layers = chain.map((r, j) =>
        layerPlan(r.layer, diffIds[j] as Digest, chains, j, r.layer.compression, LAYER_MEDIA_TYPE[r.layer.compression]),
      );
      plans.push({ id: sha256(config), config, diffIds, layers, tags });
    }
    return plans;
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
      const diffHash = newHasher();
      let size = 0;
      const diffTap = new Transform({
        highWaterMark: 1 << 20,
        transform(chunk: Buffer, _enc, cb) {
          diffHash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      const piped = pipeline(source, meter, decompressor(job.compression), diffTap);
      piped.catch(() => undefined);
      if (prepared) await unpackLayer(diffTap, prepared.dir, { log: this.log, signal });
      // The tar end marker can precede trailing padding: drain so the DiffID covers every byte.
      diffTap.resume();
      await piped;
      bar?.update(read, true);
      const diffId = hasherDigest(diffHash);
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
          size,
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

// ---------------------------------------------------------------------------
// Archive spool

class Spool {
  private readonly entries = new Map<string, SpoolFile | { link: string }>();

  add(name: string, file: SpoolFile): void {
    this.entries.set(name, file);
  }

  link(name: string, target: string): void {
    this.entries.set(name, { link: target });
  }

  /** The file at an archive path, following symlinks and hard links inside the archive. */
  get(name: string): SpoolFile | undefined {
    let p = cleanPath(name);
    for (let hops = 0; p !== undefined && hops <= MAX_LINK_HOPS; hops++) {
      const e = this.entries.get(p);
      if (!e) return undefined;
      if (!('link' in e)) return e;
      p = e.link;
    }
    return undefined;
  }

  async read(name: string, what: string): Promise<{ file: SpoolFile; data: Buffer }> {
    const file = this.get(name);
    if (!file) throw bad(`${what} is missing from the archive`);
    return { file, data: await readLimited(file) };
  }

  async json(name: string, what: string): Promise<unknown> {
    const { data } = await this.read(name, what);
    try {
      return JSON.parse(data.toString('utf8')) as unknown;
    } catch (err) {
      throw bad(`${what} is not valid JSON: ${errorMessage(err)}`);
    }
  }
}

async function spoolEntry(entry: AsyncIterable<unknown>, name: string, file: string): Promise<SpoolFile> {
  const fh = await fsp.open(file, 'wx', 0o600);
  const hash = newHasher();
  let size = 0;
  let head = Buffer.alloc(0);
  try {
    for await (const data of entry) {
      const chunk = data as Buffer;
      hash.update(chunk);
      size += chunk.length;
      if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
      for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return { name, file, size, digest: hasherDigest(hash), compression: detectCompression(head) };
}

async function readLimited(file: SpoolFile): Promise<Buffer> {
  if (file.size > MAX_JSON_BYTES) throw bad(`${file.name} is too large (${file.size} bytes)`);
  return fsp.readFile(file.file);
}

/** DiffID of a layer tar: its own digest when uncompressed, else the digest of its decompressed bytes. */
async function diffIdOf(file: SpoolFile, signal?: AbortSignal): Promise<Digest> {
  if (file.compression === 'none') return file.digest;
  const hash = newHasher();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb();
    },
  });
  try {
    await pipeline(createReadStream(file.file), decompressor(file.compression), sink, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw cancelled('load cancelled');
    throw layerError(err, file.name);
  }
  return hasherDigest(hash);
}

// ---------------------------------------------------------------------------
// Format helpers

/**
 * Normalise a path inside an archive: no leading "./" or "/", ".." clamped at
 * the root (paths only ever index the spool map, never the filesystem).
 */
function cleanPath(name: string): string | undefined {
  const p = path.posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
  return p === '' || p === '.' ? undefined : p;
}

function blobPath(d: Digest): string {
  return `blobs/sha256/${digestHex(d)}`;
}

/** "blobs/sha256/<hex>" names promise their content: hold them to it. */
function checkBlobName(name: string, file: SpoolFile): void {
  const m = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(cleanPath(name) ?? '');
  if (m && `sha256:${m[1]}` !== file.digest) throw bad(`${name} does not match its digest (content is ${file.digest})`);
}

function ociBlob(spool: Spool, desc: Descriptor, what: string): SpoolFile {
  const file = spool.get(blobPath(desc.digest));
  if (!file) throw bad(`${what} ${desc.digest} is missing from blobs/`);
  if (file.digest !== desc.digest) throw bad(`blob ${desc.digest} does not match its digest (content is ${file.digest})`);
  if (file.size !== desc.size) throw bad(`blob ${desc.digest} is ${file.size} bytes, but its descriptor says ${desc.size}`);
  return file;
}

function parseDoc(mediaType: string, data: Buffer, what: string): ImageManifest | ImageIndex {
  try {
    return parseManifest(mediaType, data);
  } catch (err) {
    throw bad(`${what}: ${errorMessage(err)}`);
  }
}

function parseIndexDoc(data: Buffer, what: string): ImageIndex {
  const doc = parseDoc('', data, what);
  if (!('manifests' in doc)) throw bad(`${what} is not an image index`);
  return doc;
}

function isAttestation(d: Descriptor): boolean {
  return (
    d.annotations?.[REFERENCE_TYPE_ANNOTATION] !== undefined ||
    (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown')
  );
}

/**
 * Tags for a manifest listed in index.json. io.containerd.image.name is a full
 * reference; org.opencontainers.image.ref.name counts only when it is one too
 * ("busybox:latest", "localhost:5000/x") — a bare tag ("latest") names no
 * repository, so such an image loads untagged, as containerd does without a base name.
 */
function ociNames(annotations: Record<string, string> | undefined): string[] {
  const full = annotations?.[IMAGE_NAME_ANNOTATION];
  if (full !== undefined && full !== '') {
    let ref: Reference;
    try {
      ref = parseReference(full);
    } catch (err) {
      throw bad(`invalid ${IMAGE_NAME_ANNOTATION} annotation ${JSON.stringify(full)}: ${errorMessage(err)}`);
    }
    return ref.tag !== undefined ? [refString({ domain: ref.domain, path: ref.path, tag: ref.tag })] : [];
  }
  const name = annotations?.[REF_NAME_ANNOTATION];
  if (name !== undefined && /[/:]/.test(name)) {
    try {
      const ref = parseReference(name);
      if (ref.tag !== undefined) return [refString({ domain: ref.domain, path: ref.path, tag: ref.tag })];
    } catch {
      // not a reference: a plain (if odd) tag, which names no repository
    }
  }
  return [];
}

/** A RepoTags / repositories name: must be "name:tag" (Docker refuses anything else). */
function parseArchiveTag(s: string): string {
  let ref: Reference;
  try {
    ref = parseReference(s, { defaultTag: false });
  } catch (err) {
    throw bad(`invalid tag ${JSON.stringify(s)}: ${errorMessage(err)}`);
  }
  if (ref.tag === undefined || ref.digest !== undefined) throw bad(`invalid tag ${JSON.stringify(s)}: expected name:tag`);
  return refString(ref);
}

function configDiffIds(config: Buffer, what: string): Digest[] {
  let diffIds: unknown[];
  try {
    diffIds = parseImageConfig(config).rootfs.diff_ids;
  } catch (err) {
    throw bad(`image config ${what}: ${errorMessage(err)}`);
  }
  return diffIds.map((d) => {
    if (typeof d !== 'string' || !isDigest(d)) throw bad(`image config ${what} has an invalid diff ID ${JSON.stringify(d)}`);
    return d;
  });
}

function layerPlan(
  source: SpoolFile,
  diffId: Digest,
  chains: Digest[],
  i: number,
  compression: Compression,
  mediaType: string,
): LayerPlan {
  const plan: LayerPlan = { chainId: chains[i] as Digest, diffId, source, compression, mediaType };
  if (i > 0) plan.parent = chains[i - 1] as Digest;
  return plan;
}

/**
 * The image config Docker derives from a v1 image JSON: the top image's JSON
 * without the v1 bookkeeping fields, plus rootfs and one history entry per
 * layer. Serialised as dockerd does (Go map: top-level keys sorted, compact,
 * HTML-safe escapes), so for v1 JSON written by Docker >= 1.8.3 the image ID
 * is the one dockerd computes for the same archive.
 */
function legacyConfig(chain: Array<Record<string, unknown>>, diffIds: Digest[]): Buffer {
  const top = chain[chain.length - 1] ?? {};
  const cfg: Record<string, unknown> = { ...top };
  for (const k of ['id', 'parent', 'Size', 'parent_id', 'layer_id', 'throwaway']) delete cfg[k];
  cfg.rootfs = { type: 'layers', diff_ids: diffIds };
  cfg.history = chain.map((j) => {
    const h: Record<string, unknown> = { created: goTime(j.created) };
    if (typeof j.author === 'string' && j.author !== '') h.author = j.author;
    const cc = j.container_config;
    const cmd = isObject(cc) && isStringArray(cc.Cmd) ? cc.Cmd.join(' ') : '';
    if (cmd !== '') h.created_by = cmd;
    if (typeof j.comment === 'string' && j.comment !== '') h.comment = j.comment;
    return h;
  });
  const sorted = Object.fromEntries(
    Object.keys(cfg)
      .sort()
      .map((k) => [k, cfg[k]]),
  );
  return Buffer.from(goJson(sorted));
}

/** JSON.stringify with the escapes Go's encoding/json adds (<, >, &, U+2028, U+2029). */
function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A v1 "created" as Go re-formats it (RFC 3339, fraction without trailing zeros; zero time when absent). */
function goTime(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '0001-01-01T00:00:00Z';
  return v.replace(/^(.*T\d\d:\d\d:\d\d)\.(\d*?)0*(Z|[+-]\d\d:\d\d)$/, (_m, head: string, frac: string, zone: string) =>
    frac === '' ? `${head}${zone}` : `${head}.${frac}${zone}`,
  );
}

function repoOfTag(fullTag: string): string | undefined {
  try {
    const r = parseReference(fullTag);
    return `${r.domain}/${r.path}`;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

// ---------------------------------------------------------------------------
// Errors and stream plumbing

function bad(detail: string): BerthError {
  return invalid(`invalid image archive: ${detail}`, 'INVALID_ARCHIVE');
}

function cancelled(msg: string): BerthError {
  return new BerthError('system', msg, { code: 'CANCELLED' });
}

function isSystemErrno(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** Errors reading the outer tar: a bad archive unless the host failed. */
function archiveError(err: unknown): unknown {
  if (isBerthError(err)) {
    if (err.kind !== 'invalid') return err;
    // The decompressor speaks of layers; here it is the archive itself that is damaged.
    const msg = err.message.replace(/^layer data is/, 'the archive is');
    return new BerthError('invalid', `invalid image archive: ${msg}`, { code: err.code, cause: err });
  }
  if (isSystemErrno(err)) return err;
  return new BerthError('invalid', `invalid image archive: ${errorMessage(err)}`, { code: 'INVALID_ARCHIVE', cause: err });
}

/** Errors processing one layer, with the layer named. */
function layerError(err: unknown, name: string): unknown {
  if (isBerthError(err)) {
    if (err.code === 'DIFFID_MISMATCH' || err.code === 'CANCELLED') return err;
    return new BerthError(err.kind, `invalid image archive: layer ${name}: ${err.message}`, { code: err.code, cause: err });
  }
  if (isSystemErrno(err)) return err;
  return new BerthError('invalid', `invalid image archive: layer ${name}: ${errorMessage(err)}`, {
    code: 'INVALID_LAYER',
    cause: err,
  });
}

interface Drainable {
  destroyed?: boolean;
  once(event: string, fn: (...args: unknown[]) => void): unknown;
  off(event: string, fn: (...args: unknown[]) => void): unknown;
}

/** Wait for 'drain'; fail if the stream closes or errors first, or the signal fires. */
function waitDrain(s: Drainable, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (s.destroyed) {
      reject(cancelled('output stream closed'));
      return;
    }
    if (signal.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : cancelled('cancelled'));
      return;
    }
    const cleanup = (): void => {
      s.off('drain', onDrain);
      s.off('close', onClose);
      s.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(cancelled('output stream closed'));
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onAbort = (): void => {
      cleanup();
      reject(signal.reason instanceof Error ? signal.reason : cancelled('cancelled'));
    };
    s.once('drain', onDrain);
    s.once('close', onClose);
    s.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

type TarHeader = Partial<Header> & Pick<Header, 'name'>;

/** Add a small entry (from a buffer) or a directory and wait until it is packed. */
function addEntry(pack: Pack, header: TarHeader, data?: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    const h: TarHeader = { mode: 0o644, type: 'file', ...header };
    if (data !== undefined) pack.entry({ ...h, size: data.length }, data, cb);
    else pack.entry(h, cb);
  });
}

/** Run fn over items with at most n at once; the first failure aborts the rest and is thrown. */
async function runPool<T>(items: T[], n: number, ac: AbortController, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        if (!failed) {
          failed = true;
          failure = err;
          ac.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed) throw failure;
}
