/**
 * Query parameters, decoded the way dockerd reads them (daemon/server/httputils/form.go), with
 * one difference: where dockerd lets a bad number through as a 500 (`strconv.Atoi` errors are
 * not classified), berthd answers 400 with the same words.
 */
import { invalid } from '../../common/errors.js';
import type { Filters } from '../../../types/engine-api.js';
import { DecodeError, ROOT, type Codec } from './codec.js';

/** Docker's BoolValue: "", "0", "no", "false", "none" (any case, trimmed) are false; anything else is true. */
export function queryBool(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
}

/** Go's strconv.ParseInt(s, 10, 64) rules: an optional sign and decimal digits, in int64 range. */
function parseGoInt(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) || Math.abs(n) < 2 ** 63 ? n : undefined;
}

/**
 * An integer parameter (`t`, `limit`, `h`, `w`...): absent or empty → undefined; anything but a
 * decimal integer → 400 `strconv.Atoi: parsing "x": invalid syntax` (value out of range for
 * int64: `... value out of range`), as dockerd words it.
 */
export function queryInt(q: URLSearchParams, name: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = parseGoInt(v);
  if (n === undefined) {
    const range = /^[+-]?\d+$/.test(v);
    throw invalid(`strconv.Atoi: parsing ${JSON.stringify(v)}: ${range ? 'value out of range' : 'invalid syntax'}`, 'INVALID_QUERY');
  }
  if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
    throw invalid(`invalid value for ${name}: ${v}`, 'INVALID_QUERY');
  }
  return n;
}

/** A string parameter ("" counts as absent, as r.Form.Get gives "" for both). */
export function queryString(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  return v === null || v === '' ? undefined : v;
}

/** A parameter that must be one of `values` when given. */
export function queryEnum<T extends string>(q: URLSearchParams, name: string, values: readonly T[], message: (v: string) => string): T | undefined {
  const v = queryString(q, name);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) throw invalid(message(v), 'INVALID_QUERY');
  return v as T;
}

/**
 * A timestamp parameter (`since`, `until` of logs and events): Unix seconds with an optional
 * fraction, or an RFC 3339 time. Returns seconds; "" and "0" mean "not given".
 */
export function queryTime(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '' || v === '0') return undefined;
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid value for ${name}: ${v}`, 'INVALID_QUERY');
  return t / 1000;
}

/**
 * Docker's `filters` parameter (api/types/filters.FromJSON): `{"key": {"value": true}}`, or the
 * older `{"key": ["value"]}`; anything else is "invalid filter". Keys outside `allowed` are
 * "invalid filter 'key'". Values come back as lists of strings, in the order given.
 */
export function queryFilters(q: URLSearchParams, allowed: readonly string[], name = 'filters'): Filters {
  const raw = q.get(name);
  if (raw === null || raw === '') return {};
  return parseFiltersJson(raw, allowed);
}

export function parseFiltersJson(raw: string, allowed: readonly string[]): Filters {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid('invalid filter', 'INVALID_FILTER');
  }
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('invalid filter', 'INVALID_FILTER');
  const out: Filters = {};
  const entries = Object.entries(parsed as Record<string, unknown>);
  // Both forms are tried on the whole document, as FromJSON does: mixing them is an error.
  const modern = entries.every(([, v]) => v === null || (typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((b) => typeof b === 'boolean' || b === null)));
  const legacy = entries.every(([, v]) => v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string' || s === null)));
  if (!modern && !legacy) throw invalid('invalid filter', 'INVALID_FILTER');
  for (const [k, v] of entries) {
    if (!allowed.includes(k)) throw invalid(`invalid filter '${k}'`, 'INVALID_FILTER');
    if (v === null) continue;
    out[k] = Array.isArray(v) ? v.map((s) => (s === null ? '' : String(s))) : Object.keys(v as object);
  }
  return out;
}

/** Linux's limits for one name and for a whole path (NAME_MAX, PATH_MAX). */
const NAME_MAX = 255;
const PATH_MAX = 4096;

/**
 * A path inside a container (`path` of the archive routes): required, no NUL byte, and within
 * the kernel's limits, so a name no filesystem can hold is the client's 400, not a failed lookup.
 */
export function queryContainerPath(q: URLSearchParams, name = 'path'): string {
  const p = q.get(name);
  if (!p) throw invalid(`bad parameter: ${name} cannot be empty`, 'INVALID_QUERY');
  if (p.includes('\0')) throw invalid(`bad parameter: ${name} must not contain a NUL byte`, 'INVALID_QUERY');
  if (Buffer.byteLength(p) >= PATH_MAX || p.split('/').some((part) => Buffer.byteLength(part) > NAME_MAX)) {
    throw invalid(`bad parameter: ${name} is too long: file name too long`, 'INVALID_QUERY');
  }
  return p;
}

/**
 * A parameter whose value is JSON (the build's `buildargs`, `labels`, `cachefrom`...), decoded
 * with a codec: absent or "" → undefined; not JSON → "invalid <name>: ..."; a mismatch → Go's
 * words, as dockerd's json.Unmarshal of the value gives them.
 */
export function queryJson<T>(q: URLSearchParams, name: string, codec: Codec<T>): T | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(`invalid ${name}: not JSON: ${raw}`, 'INVALID_QUERY');
  }
  if (v === null) return undefined;
  try {
    return codec.decode(v, ROOT);
  } catch (err) {
    if (err instanceof DecodeError) throw invalid(err.message, 'INVALID_QUERY');
    throw err;
  }
}
