/**
 * A request body, read and decoded in one step: JSON text → a typed wire value (or a 400 with
 * dockerd's wording, before anything else happens).
 */
import type { IncomingMessage } from 'node:http';
import { errorMessage, invalid } from '../../common/errors.js';
import { readBody } from '../router.js';
import { decodeDocument, type Codec } from './codec.js';

export interface BodyOptions<T> {
  /**
   * What an empty body means. Absent: the body is required, and an empty one is dockerd's
   * "invalid JSON: got EOF while reading request body".
   */
  empty?: () => T;
}

/** Parses JSON text as dockerd's decoder would see it (one value, nothing after it). */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    // JSON.parse rejects trailing content too; dockerd's words for that case are its own.
    const trimmed = text.trim();
    if (trimmed.length <= MAX_TRAILING_PROBE && startsWithValue(trimmed)) throw invalid('unexpected content after JSON', 'INVALID_JSON');
    throw invalid(`invalid JSON: ${errorMessage(err)}`, 'INVALID_JSON');
  }
}

/** Bodies up to this size are probed for a valid value followed by extra content (each probe is a parse). */
const MAX_TRAILING_PROBE = 16 * 1024;

/** True when a prefix of `text` is a complete JSON value (then whatever follows is extra content). */
function startsWithValue(text: string): boolean {
  for (let i = text.length - 1; i > 0; i--) {
    const c = text[i - 1];
    if (c !== '}' && c !== ']' && c !== '"') continue;
    try {
      JSON.parse(text.slice(0, i));
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/** Reads the whole body and decodes it with `codec`. */
export async function decodeBody<T>(req: IncomingMessage, codec: Codec<T>, opts: BodyOptions<T> = {}): Promise<T> {
  const body = await readBody(req);
  return decodeBodyText(body.toString('utf8'), codec, opts);
}

export function decodeBodyText<T>(text: string, codec: Codec<T>, opts: BodyOptions<T> = {}): T {
  if (text.trim() === '') {
    if (opts.empty) return opts.empty();
    throw invalid('invalid JSON: got EOF while reading request body', 'INVALID_JSON');
  }
  const doc = parseJsonText(text);
  // A JSON null leaves Go's target as it was: the empty value.
  if (doc === null) return opts.empty ? opts.empty() : decodeDocument(codec, {}, undefined as never);
  return decodeDocument(codec, doc, undefined as never);
}
