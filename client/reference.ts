/**
 * Image references as people type them ("busybox", "ghcr.io/org/app:1.2",
 * "alpine@sha256:...") and as the API spells them. Follows Docker's rules:
 * a first path component is a registry only if it contains "." or ":" or is
 * "localhost" (or has upper-case letters); Docker Hub is "docker.io", and its
 * single-component names live under "library/".
 */
import { EngineError } from './errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';

export interface ImageReference {
  /** Registry host[:port], "docker.io" for Docker Hub. */
  domain: string;
  /** Repository path in the registry ("library/busybox"). */
  path: string;
  tag?: string;
  /** "sha256:<hex>" */
  digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const FULL_ID = /^[a-f0-9]{64}$/;

function invalid(ref: string, why?: string): EngineError {
  return new EngineError(why ? `invalid reference format: ${why}` : `invalid reference format: "${ref}"`, 0, 'INVALID');
}

/** Parse and normalise a reference; throws EngineError('INVALID') like Docker's "invalid reference format". */
export function parseReference(ref: string): ImageReference {
  if (!ref) throw invalid(ref, 'empty reference');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(ref);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref);
  }
  if (!rest) throw invalid(ref);
  if (FULL_ID.test(rest) && !tag && !digest) {
    throw invalid(ref, `repository name (${rest}) cannot be a 64-byte hexadecimal string`);
  }

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!DOMAIN.test(domain)) throw invalid(ref);
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (path.toLowerCase() !== path) throw invalid(ref, `repository name (${path}) must be lowercase`);
  if (path.split('/').some((p) => !PATH_COMPONENT.test(p))) throw invalid(ref);
  if (domain.length + 1 + path.length > 255) throw invalid(ref, 'repository name must not be more than 255 characters');

  const out: ImageReference = { domain, path };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** Like parseReference, but returns undefined instead of throwing. */
export function tryParseReference(ref: string): ImageReference | undefined {
  try {
    return parseReference(ref);
  } catch {
    return undefined;
  }
}

/** "docker.io/library/busybox" → "busybox"; "docker.io/me/app" → "me/app"; others unchanged. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  if (ref.path.startsWith('library/') && !ref.path.slice('library/'.length).includes('/')) {
    return ref.path.slice('library/'.length);
  }
  return ref.path;
}

/** The fully qualified name: "docker.io/library/busybox". */
export function fullName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

function suffix(ref: ImageReference): string {
  return `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** Familiar form with tag/digest: "busybox:latest". */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/** Fully qualified form with tag/digest: "docker.io/library/busybox:latest". */
export function normalizedString(ref: ImageReference): string {
  return fullName(ref) + suffix(ref);
}

/** Add the "latest" tag when the reference has neither tag nor digest. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}
