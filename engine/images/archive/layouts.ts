/**
 * The second step of `docker load`: what the spooled archive holds. Three
 * layouts are accepted:
 *   1. the Docker layout: manifest.json + configs + layer tars (uncompressed or
 *      gzip/zstd, paths like "<id>/layer.tar" or "blobs/sha256/<hex>");
 *   2. the old layout with only `repositories` and "<v1 id>/{json,layer.tar}" directories:
 *      the chain is rebuilt from `parent` links and an image config synthesised
 *      with the DiffIDs computed from the layer tars;
 *   3. OCI image layouts (oci-layout + index.json, nested indexes, host platform
 *      chosen), names from the ref annotations.
 *
 * Everything but the layer contents is validated here (configs, layer counts,
 * tags, blob digests), so a bad archive is refused before any layer is touched.
 * The result is one ImagePlan per image, for load.ts to stage and commit.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chainIds, digestHex, hasherDigest, isDigest, newHasher, sha256, type Digest } from '../../common/digest.js';
import { errorMessage, invalid } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { parseReference, refString } from '../../registry/reference.js';
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
} from '../../registry/manifest.js';
import type { Reference } from '../../registry/types.js';
import { compressionForMediaType, decompressor, type Compression } from '../../store/compression.js';
import { parseImageConfig } from '../config.js';
import { bad, blobPath, cancelled, cleanPath, IMAGE_NAME_ANNOTATION, layerError, REF_NAME_ANNOTATION } from './format.js';
import { MAX_JSON_BYTES, readLimited, type Spool, type SpoolFile } from './spool.js';

/** Parent links followed in an old-layout archive. */
const MAX_V1_CHAIN = 1000;
/** Nested indexes followed in an OCI layout. */
const MAX_INDEX_DEPTH = 8;

const LAYER_MEDIA_TYPE: Record<Compression, string> = {
  none: MEDIA_TYPE.ociLayer,
  gzip: MEDIA_TYPE.ociLayerGzip,
  zstd: MEDIA_TYPE.ociLayerZstd,
};

export interface LayerPlan {
  chainId: Digest;
  diffId: Digest;
  parent?: Digest;
  source: SpoolFile;
  /** How the source is compressed (from the media type, or sniffed). */
  compression: Compression;
  /** Media type to record for the source as a stored blob. */
  mediaType: string;
}

export interface ImagePlan {
  id: Digest;
  config: Buffer;
  diffIds: Digest[];
  layers: LayerPlan[];
  /** Full references to point at the image. */
  tags: string[];
  parent?: Digest;
}

/** Work out which images the archive holds and validate everything but the layer contents. */
export async function planImages(spool: Spool, log: Logger, signal?: AbortSignal): Promise<ImagePlan[]> {
  let plans: ImagePlan[];
  if (spool.get('manifest.json')) plans = await planDocker(spool);
  else if (spool.get('index.json')) plans = await planOci(spool, log);
  else if (spool.get('repositories')) plans = await planLegacy(spool, signal);
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

async function planDocker(spool: Spool): Promise<ImagePlan[]> {
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

async function planOci(spool: Spool, log: Logger): Promise<ImagePlan[]> {
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
    const m = await resolveOci(spool, d, 0, log);
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
async function resolveOci(
  spool: Spool,
  desc: Descriptor,
  depth: number,
  log: Logger,
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
    return chosen ? resolveOci(spool, chosen, depth + 1, log) : undefined;
  }
  log.debug('skipping non-image descriptor in OCI layout', { digest: desc.digest, mediaType: desc.mediaType });
  return undefined;
}

/** The pre-1.10 layout: repositories + "<v1 id>/json" + "<v1 id>/layer.tar". */
async function planLegacy(spool: Spool, signal?: AbortSignal): Promise<ImagePlan[]> {
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
// Layout helpers

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

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}
