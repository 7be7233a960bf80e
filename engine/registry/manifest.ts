/**
 * Manifest formats (OCI image spec v1.1, Docker image manifest v2 schema 2) and
 * platform selection from an index / manifest list.
 *
 * parseManifest validates the shape we rely on and refuses Docker schema 1,
 * which carries no content-addressed config and cannot be verified.
 */
import { endianness } from 'node:os';
import { BerthError, invalid } from '../common/errors.js';
import { isDigest, type Digest } from '../common/digest.js';
import type { Platform } from './types.js';

export const MEDIA_TYPE = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Media types that describe an image manifest (a config plus layers). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.ociManifest, MEDIA_TYPE.dockerManifest];
/** Media types that describe an index / manifest list. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifestList];
const SCHEMA1_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.dockerSchema1, MEDIA_TYPE.dockerSchema1Signed];

/**
 * Accept header for manifest GETs. Schema 1 is listed last, at low weight, only so
 * that a registry holding nothing else answers with it and we can refuse it clearly.
 */
export const ACCEPT_MANIFESTS = [
  MEDIA_TYPE.ociIndex,
  MEDIA_TYPE.dockerManifestList,
  MEDIA_TYPE.ociManifest,
  MEDIA_TYPE.dockerManifest,
  `${MEDIA_TYPE.dockerSchema1Signed};q=0.1`,
  `${MEDIA_TYPE.dockerSchema1};q=0.1`,
].join(', ');

/** Annotation BuildKit puts on attestation manifests inside an index. */
export const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: DescriptorPlatform;
  artifactType?: string;
}

export interface DescriptorPlatform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  features?: string[];
}

/** OCI image manifest or Docker schema 2 manifest (mediaType tells which). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** OCI image index or Docker manifest list (mediaType tells which). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export const SCHEMA1_MESSAGE =
  'schema 1 manifests are not supported; push the image again with a current client';

function schema1Error(): BerthError {
  return invalid(SCHEMA1_MESSAGE, 'SCHEMA1_UNSUPPORTED');
}

function bad(detail: string): BerthError {
  return invalid(`invalid manifest: ${detail}`, 'MANIFEST_INVALID');
}

export function isIndex(m: ImageManifest | ImageIndex): m is ImageIndex {
  return INDEX_MEDIA_TYPES.includes(m.mediaType);
}

export function isManifest(m: ImageManifest | ImageIndex): m is ImageManifest {
  return MANIFEST_MEDIA_TYPES.includes(m.mediaType);
}

/** "application/vnd.oci.image.manifest.v1+json; charset=utf-8" -> the bare, lowercase type. */
export function bareMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(body: Buffer): Json {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BerthError('invalid', `invalid manifest: not JSON: ${(err as Error).message}`, {
      code: 'MANIFEST_INVALID',
      cause: err,
    });
  }
  if (!isObject(v)) throw bad('not a JSON object');
  return v;
}

/**
 * Work out what a manifest body is. A known manifest/index/schema1 Content-Type
 * wins; a generic one (application/json, octet-stream, text/plain, missing...)
 * falls back to the body's own mediaType field, then to its shape.
 */
export function detectMediaType(contentType: string | undefined, body: Buffer | Json): string {
  const ct = bareMediaType(contentType);
  if (MANIFEST_MEDIA_TYPES.includes(ct) || INDEX_MEDIA_TYPES.includes(ct) || SCHEMA1_MEDIA_TYPES.includes(ct)) {
    return ct;
  }
  let doc: Json;
  try {
    doc = Buffer.isBuffer(body) ? parseJson(body) : body;
  } catch {
    return ct;
  }
  if (doc.schemaVersion === 1) return MEDIA_TYPE.dockerSchema1;
  if (typeof doc.mediaType === 'string' && doc.mediaType !== '') return bareMediaType(doc.mediaType);
  if (Array.isArray(doc.manifests)) return MEDIA_TYPE.ociIndex;
  if (isObject(doc.config) && Array.isArray(doc.layers)) {
    const cfg = doc.config.mediaType;
    return cfg === MEDIA_TYPE.dockerConfig ? MEDIA_TYPE.dockerManifest : MEDIA_TYPE.ociManifest;
  }
  return ct;
}

export function isSchema1(mediaType: string): boolean {
  return SCHEMA1_MEDIA_TYPES.includes(bareMediaType(mediaType));
}

function optStringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw bad(`${what} must be a map of strings`);
  }
  return v as Record<string, string>;
}

function optStringArray(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`${what} must be an array of strings`);
  return v as string[];
}

function parsePlatform(v: unknown, what: string): DescriptorPlatform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') {
    throw bad(`${what}.platform needs os and architecture`);
  }
  const p: DescriptorPlatform = { os: v.os, architecture: v.architecture };
  if (typeof v.variant === 'string' && v.variant !== '') p.variant = v.variant;
  if (typeof v['os.version'] === 'string') p['os.version'] = v['os.version'];
  const osf = optStringArray(v['os.features'], `${what}.platform.os.features`);
  if (osf) p['os.features'] = osf;
  const f = optStringArray(v.features, `${what}.platform.features`);
  if (f) p.features = f;
  return p;
}

/** Validate one descriptor. Only sha256 digests are usable: we cannot verify anything else. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw bad(`${what} is not an object`);
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw bad(`${what}.mediaType is missing`);
  if (typeof v.digest !== 'string') throw bad(`${what}.digest is missing`);
  if (!isDigest(v.digest)) {
    if (/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(v.digest) && !v.digest.startsWith('sha256:')) {
      throw invalid(`unsupported digest algorithm in ${what}: ${v.digest}`, 'MANIFEST_INVALID');
    }
    throw bad(`${what}.digest ${JSON.stringify(v.digest)} is not a valid digest`);
  }
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw bad(`${what}.size must be a non-negative integer`);
  }
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  const urls = optStringArray(v.urls, `${what}.urls`);
  if (urls) d.urls = urls;
  const ann = optStringMap(v.annotations, `${what}.annotations`);
  if (ann) d.annotations = ann;
  const platform = parsePlatform(v.platform, what);
  if (platform) d.platform = platform;
  if (typeof v.artifactType === 'string') d.artifactType = v.artifactType;
  return d;
}

function common(doc: Json, out: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> }): void {
  if (doc.subject !== undefined && doc.subject !== null) out.subject = parseDescriptor(doc.subject, 'subject');
  if (typeof doc.artifactType === 'string') out.artifactType = doc.artifactType;
  const ann = optStringMap(doc.annotations, 'annotations');
  if (ann) out.annotations = ann;
}

/**
 * Parse a manifest body served with `mediaType` (the response Content-Type).
 * Returns an ImageManifest or ImageIndex whose `mediaType` is always set to the
 * resolved type. Throws BerthError('invalid'): SCHEMA1_UNSUPPORTED, MANIFEST_INVALID,
 * MANIFEST_UNSUPPORTED.
 */
export function parseManifest(mediaType: string, body: Buffer): ImageManifest | ImageIndex {
  if (isSchema1(mediaType)) throw schema1Error();
  const doc = parseJson(body);
  if (doc.schemaVersion === 1) throw schema1Error();
  const type = detectMediaType(mediaType, doc);
  if (isSchema1(type)) throw schema1Error();
  if (doc.schemaVersion !== 2) throw bad(`unsupported schemaVersion ${JSON.stringify(doc.schemaVersion)}`);
  // The OCI spec says the body's mediaType, when present, must match the Content-Type.
  if (typeof doc.mediaType === 'string' && doc.mediaType !== '' && bareMediaType(doc.mediaType) !== type) {
    throw bad(`mediaType ${doc.mediaType} does not match the Content-Type ${type}`);
  }

  if (INDEX_MEDIA_TYPES.includes(type)) {
    if (!Array.isArray(doc.manifests)) throw bad('index has no manifests array');
    const idx: ImageIndex = {
      schemaVersion: 2,
      mediaType: type,
      manifests: doc.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`)),
    };
    common(doc, idx);
    return idx;
  }
  if (MANIFEST_MEDIA_TYPES.includes(type)) {
    if (!Array.isArray(doc.layers)) throw bad('manifest has no layers array');
    const m: ImageManifest = {
      schemaVersion: 2,
      mediaType: type,
      config: parseDescriptor(doc.config, 'config'),
      layers: doc.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`)),
    };
    common(doc, m);
    return m;
  }
  throw invalid(`unsupported manifest media type ${JSON.stringify(type || mediaType)}`, 'MANIFEST_UNSUPPORTED');
}

// ---------------------------------------------------------------------------
// Platforms

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  i386: '386',
  i686: '386',
  armhf: 'arm',
  armel: 'arm',
};

/** Normalise to Go names with the implied default variant spelled out ("arm" -> arm/v7, "arm64" -> arm64/v8). */
export function normalizePlatform(p: Platform): { os: string; architecture: string; variant: string } {
  const os = p.os.toLowerCase();
  const rawArch = p.architecture.toLowerCase();
  const architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = (p.variant ?? '').toLowerCase();
  if (rawArch === 'armhf' && variant === '') variant = 'v7';
  if (rawArch === 'armel' && variant === '') variant = 'v6';
  if (/^\d+$/.test(variant)) variant = `v${variant}`;
  if (architecture === 'arm64' && variant === '') variant = 'v8';
  if (architecture === 'arm' && variant === '') variant = 'v7';
  if (architecture === 'amd64' && variant === '') variant = 'v1';
  return { os, architecture, variant };
}

/** "linux/amd64", "linux/arm/v7" */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** Parse "linux/arm64/v8" (the --platform syntax). */
export function parsePlatformString(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw invalid(`invalid platform ${JSON.stringify(s)}: expected os/arch[/variant]`, 'INVALID_PLATFORM');
  }
  const p: Platform = { os: parts[0]!.toLowerCase(), architecture: parts[1]!.toLowerCase() };
  if (parts[2] !== undefined) p.variant = parts[2].toLowerCase();
  return p;
}

/**
 * The platform images should be pulled for. Containers are Linux whatever the
 * host OS (a desktop platform runs them in a Linux VM); the architecture comes
 * from the Node binary.
 */
export function hostPlatform(): Platform {
  switch (process.arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64', variant: 'v8' };
    case 'arm': {
      const v = Number((process.config.variables as Record<string, unknown>).arm_version ?? 7);
      return { os: 'linux', architecture: 'arm', variant: `v${Number.isFinite(v) && v > 0 ? v : 7}` };
    }
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    case 'ppc64':
      return { os: 'linux', architecture: endianness() === 'LE' ? 'ppc64le' : 'ppc64' };
    default:
      // s390x, riscv64, loong64, mips64el... already match Go's names.
      return { os: 'linux', architecture: process.arch };
  }
}

function variantNumber(v: string): number | undefined {
  const m = /^v(\d+)$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * How well `have` runs on `want`: 0 = not at all; higher is better.
 * Exact (normalised) variant beats an older compatible variant (arm/v6 on an
 * arm/v7 host, amd64/v2 on an amd64/v3 request), closest first.
 */
function platformScore(have: Platform, want: Platform): number {
  const h = normalizePlatform(have);
  const w = normalizePlatform(want);
  if (h.os !== w.os || h.architecture !== w.architecture) return 0;
  if (h.variant === w.variant) return 1000;
  const hn = variantNumber(h.variant);
  const wn = variantNumber(w.variant);
  if (hn !== undefined && wn !== undefined && hn < wn) return 500 + hn;
  return 0;
}

function isAttestation(d: Descriptor): boolean {
  if (d.annotations?.[REFERENCE_TYPE_ANNOTATION] !== undefined) return true;
  return d.platform?.os === 'unknown' && d.platform.architecture === 'unknown';
}

/**
 * Choose the manifest for `want` from an index: exact os/arch/variant first,
 * then the closest older compatible variant; first match in index order wins ties.
 * Attestation manifests are skipped. Throws notFound NO_MATCHING_MANIFEST.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of index.manifests) {
    if (d.platform === undefined || isAttestation(d)) continue;
    if (!MANIFEST_MEDIA_TYPES.includes(d.mediaType) && !INDEX_MEDIA_TYPES.includes(d.mediaType)) continue;
    const score = platformScore(d.platform, want);
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  if (best === undefined) {
    throw new BerthError(
      'notFound',
      `no matching manifest for ${formatPlatform(want)} in the manifest list entries`,
      { code: 'NO_MATCHING_MANIFEST' },
    );
  }
  return best;
}
