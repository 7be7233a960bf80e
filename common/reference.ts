/**
 * Image references, normalised the way Docker does it. Pure and dependency-free:
 * the engine and every client share this one grammar.
 *
 * Grammar (Docker's distribution reference grammar):
 *
 *   reference        := name [ ":" tag ] [ "@" digest ]
 *   name             := [ domain "/" ] path
 *   domain           := host [ ":" port ]
 *   host             := domain-name | IPv4 | "[" IPv6 "]"
 *   domain-name      := domain-component ( "." domain-component )*
 *   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
 *   path             := path-component ( "/" path-component )*
 *   path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*
 *   separator        := [_.] | "__" | "-"+
 *   tag              := [\w][\w.-]{0,127}
 *
 * Normalisation: the first "/"-separated component is a registry domain only if
 * it contains "." or ":", is "localhost", or contains an uppercase letter;
 * otherwise the reference lives on Docker Hub ("docker.io"), where one-component
 * paths get the "library/" prefix. "index.docker.io" is an alias of "docker.io".
 */

/** "sha256:<64 hex>" — the only digest algorithm images are addressed by. */
export type Digest = `sha256:${string}`;

/** A fully normalised image reference: docker.io/library/busybox:latest[@sha256:...] */
export interface Reference {
  /** Registry host[:port], normalised: "docker.io" for Docker Hub. */
  domain: string;
  /** Repository path within the registry, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: Digest;
}

/**
 * Thrown for anything the grammar refuses. The engine maps it to its own
 * 'invalid' error (HTTP 400), the client to its own EngineError; both keep the
 * message, which follows Docker's wording.
 */
export class InvalidReferenceError extends Error {
  readonly code = 'INVALID_REFERENCE';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidReferenceError';
  }
}

const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
function isDigest(s: string): s is Digest {
  return SHA256_RE.test(s);
}

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
export const NAME_TOTAL_LENGTH_MAX = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[[a-fA-F0-9:]+\\]';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^\w[\w.-]{0,127}$/;
/** Any digest Docker's grammar accepts syntactically (algorithm:hex, 32+ hex chars). */
const ANY_DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** A bare 64-hex identifier is an image ID, never a repository name. */
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

const FORMAT = 'invalid reference format';

function formatError(detail?: string): InvalidReferenceError {
  return new InvalidReferenceError(detail ? `${FORMAT}: ${detail}` : FORMAT);
}

/** Split "host[:port]/rest" the way Docker does; adds docker.io and library/ where implied. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

function checkDigest(s: string): Digest {
  if (!ANY_DIGEST_RE.test(s)) throw formatError();
  if (isDigest(s)) return s;
  const algo = s.slice(0, s.indexOf(':'));
  if (algo === 'sha256') throw new InvalidReferenceError(`${FORMAT}: invalid checksum digest length`);
  throw new InvalidReferenceError(`${FORMAT}: unsupported digest algorithm: ${algo}`);
}

export interface ParseOptions {
  /** Add the "latest" tag when neither a tag nor a digest is given. Default true. */
  defaultTag?: boolean;
}

/**
 * Parse and normalise an image reference ("busybox", "user/img:tag",
 * "localhost:5000/x@sha256:...") into a fully-qualified Reference.
 * Throws InvalidReferenceError with Docker's wording.
 */
export function parseReference(s: string, opts: ParseOptions = {}): Reference {
  if (s === '') throw formatError('repository name must have at least one component');
  if (IDENTIFIER_RE.test(s)) {
    throw new InvalidReferenceError(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, remainder } = splitDomain(s);

  let rest = remainder;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = checkDigest(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const path = rest;

  if (path.toLowerCase() !== path) throw formatError(`repository name (${path}) must be lowercase`);
  if (!DOMAIN_RE.test(domain)) throw formatError();
  if (path === '' || !path.split('/').every((c) => PATH_COMPONENT_RE.test(c))) throw formatError();
  if (tag !== undefined && !TAG_RE.test(tag)) throw formatError();
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw formatError(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }

  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined && opts.defaultTag !== false) ref.tag = DEFAULT_TAG;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** True if `s` is a valid tag per Docker's grammar. */
export function isValidTag(s: string): boolean {
  return TAG_RE.test(s);
}

/** "docker.io/library/busybox" */
export function fullName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** "busybox", "user/img", "localhost:5000/x" — what `docker images` shows in REPOSITORY. */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const short = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!short.includes('/')) return short;
  }
  return ref.path;
}

function suffix(ref: Reference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** "busybox:latest", "x@sha256:..." */
export function familiarString(ref: Reference): string {
  return familiarName(ref) + suffix(ref);
}

/** "docker.io/library/busybox:latest", "localhost:5000/x@sha256:..." */
export function refString(ref: Reference): string {
  return fullName(ref) + suffix(ref);
}

/** Same repository with `tag` (validated); a digest, if any, is kept, as Docker's WithTag does. */
export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG_RE.test(tag)) throw new InvalidReferenceError('invalid tag format');
  const out: Reference = { domain: ref.domain, path: ref.path, tag };
  if (ref.digest !== undefined) out.digest = ref.digest;
  return out;
}

/** Same repository and tag (if any) with `digest`. */
export function withDigest(ref: Reference, digest: Digest): Reference {
  const out: Reference = { domain: ref.domain, path: ref.path };
  if (ref.tag !== undefined) out.tag = ref.tag;
  out.digest = checkDigest(digest);
  return out;
}

/** Just the repository: no tag, no digest. */
export function trimReference(ref: Reference): Reference {
  return { domain: ref.domain, path: ref.path };
}

/**
 * Combine the `fromImage` and `tag` parameters of POST /images/create the way
 * dockerd does: `tag` may be a tag (replaces any tag in fromImage, keeps a
 * digest) or a digest (replaces tag and digest). Without either, "latest" is
 * implied unless `defaultTag: false` (dockerd would then pull all tags).
 */
export function parseRepoAndTag(fromImage: string, tag?: string, opts: ParseOptions = {}): Reference {
  const hasTagParam = tag !== undefined && tag !== '';
  const ref = parseReference(fromImage, { defaultTag: hasTagParam ? false : opts.defaultTag });
  if (!hasTagParam) return ref;
  if (isDigest(tag)) return { domain: ref.domain, path: ref.path, digest: tag };
  if (ANY_DIGEST_RE.test(tag)) return withDigest(trimReference(ref), tag as Digest);
  return withTag(ref, tag);
}

/**
 * The registry domain an AuthConfig.serveraddress (or `docker login` argument)
 * designates: "https://index.docker.io/v1/", "registry-1.docker.io" and ""
 * all mean Docker Hub ("docker.io"); schemes and paths are dropped.
 */
export function normalizeServerAddress(address: string | undefined): string {
  let s = (address ?? '').trim();
  s = s.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, '');
  const slash = s.indexOf('/');
  if (slash !== -1) s = s.slice(0, slash);
  s = s.toLowerCase();
  if (s === '' || s === LEGACY_DEFAULT_DOMAIN || s === 'registry-1.docker.io' || s === 'registry.hub.docker.com') {
    return DEFAULT_DOMAIN;
  }
  return s;
}
