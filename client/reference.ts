/**
 * Image references for clients: the shared grammar (common/reference.ts) with
 * its refusals turned into EngineError('INVALID'), as Docker's client reports
 * "invalid reference format" before it ever calls the engine.
 */
import * as grammar from '../common/reference.js';
import { EngineError } from './errors.js';

export { DEFAULT_DOMAIN, DEFAULT_TAG, familiarName, familiarString, fullName } from '../common/reference.js';
export type ImageReference = grammar.Reference;

/** Parse and normalise a reference; no tag is implied (see withDefaultTag). */
export function parseReference(ref: string): ImageReference {
  try {
    return grammar.parseReference(ref, { defaultTag: false });
  } catch (err) {
    if (err instanceof grammar.InvalidReferenceError) throw new EngineError(err.message, 0, 'INVALID');
    throw err;
  }
}

/** Like parseReference, but returns undefined instead of throwing. */
export function tryParseReference(ref: string): ImageReference | undefined {
  try {
    return parseReference(ref);
  } catch {
    return undefined;
  }
}

/** Fully qualified form with tag/digest: "docker.io/library/busybox:latest". */
export const normalizedString = grammar.refString;

/** Add the "latest" tag when the reference has neither tag nor digest. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: grammar.DEFAULT_TAG } : ref;
}
