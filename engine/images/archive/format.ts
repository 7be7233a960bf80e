/**
 * What the save and load halves of `docker save` / `docker load` share: the
 * index.json annotations that name images, paths inside an archive, and the
 * errors both report. Kept apart so neither half imports the other.
 */
import path from 'node:path';
import { digestHex, type Digest } from '../../common/digest.js';
import { BerthError, errorMessage, invalid, isBerthError } from '../../common/errors.js';

/** containerd's annotation: the full image name ("docker.io/library/busybox:latest"). */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';
/** OCI's annotation: by convention the tag ("latest"), sometimes a whole reference. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** A stored blob as an image record names it. */
export type BlobRef = { digest: Digest; size: number; mediaType: string };

// ---------------------------------------------------------------------------
// Archive paths

/**
 * Normalise a path inside an archive: no leading "./" or "/", ".." clamped at
 * the root (paths only ever index the spool map, never the filesystem).
 */
export function cleanPath(name: string): string | undefined {
  const p = path.posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
  return p === '' || p === '.' ? undefined : p;
}

export function blobPath(d: Digest): string {
  return `blobs/sha256/${digestHex(d)}`;
}

// ---------------------------------------------------------------------------
// Errors

export function bad(detail: string): BerthError {
  return invalid(`invalid image archive: ${detail}`, 'INVALID_ARCHIVE');
}

export function cancelled(msg: string): BerthError {
  return new BerthError('system', msg, { code: 'CANCELLED' });
}

function isSystemErrno(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** Errors reading the outer tar: a bad archive unless the host failed. */
export function archiveError(err: unknown): unknown {
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
export function layerError(err: unknown, name: string): unknown {
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
