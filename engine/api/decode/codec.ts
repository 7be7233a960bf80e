/**
 * Codecs: small, composable decoders from parsed JSON (`unknown`) to the typed wire shapes of
 * types/engine-api.ts, with the leniency and the error wording of Go's encoding/json, which is
 * what dockerd decodes requests with:
 *
 * - `null` is the same as an absent field (Go leaves the zero value); inside a list or a map it
 *   is the element's zero value (`""`, `0`, `false`), or dropped where Go would keep a nil pointer;
 * - object keys match field names exactly, else case-insensitively; unknown keys are ignored;
 * - integers must be whole and in range for their Go type; a fraction is a type error;
 * - the first mismatch in document order is reported as Go reports it:
 *   `json: cannot unmarshal bool into Go struct field CreateRequest.Labels of type string`.
 *
 * A codec knows its Go type name (for those messages) and decodes one value. Decoded output
 * never holds `null`, and holds only the fields its schema declares.
 */
import { invalid, type BerthError } from '../../common/errors.js';

/** Where a value sits, as Go's decoder names it: the innermost struct type and the field path from the root. */
export interface DecodePath {
  /** Go type name of the innermost struct being decoded ("" at the top). */
  struct: string;
  /** Struct field names from the root (map keys and list indexes are not part of Go's path). */
  fields: readonly string[];
}

export const ROOT: DecodePath = { struct: '', fields: [] };

export interface Codec<T> {
  /** The Go type's name as encoding/json prints it: "string", "int64", "[]string", "container.HealthConfig". */
  readonly goType: string;
  /** Decodes a value that is present and not null. Throws a DecodeError. */
  decode(v: unknown, at: DecodePath): T;
  /** The value a JSON `null` stands for inside a list or a map; undefined: the element is dropped. */
  readonly zero?: T;
}

export type Decoded<C> = C extends Codec<infer T> ? T : never;

/** A wire type as decoding leaves it: `null` (which senders may use) never remains. */
export type NoNull<T> = T extends null ? never : T extends object ? { [K in keyof T]: NoNull<T[K]> } : T;

/** Go's name for the JSON kind of a value ("number 1.5" for numbers that do not fit an integer type). */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'bool';
    default:
      return 'object';
  }
}

/** A 400 with Go's UnmarshalTypeError text. */
export class DecodeError extends Error {
  constructor(
    readonly value: string,
    readonly goType: string,
    readonly at: DecodePath,
  ) {
    super(
      at.struct !== '' || at.fields.length > 0
        ? `json: cannot unmarshal ${value} into Go struct field ${at.struct}.${at.fields.join('.')} of type ${goType}`
        : `json: cannot unmarshal ${value} into Go value of type ${goType}`,
    );
    this.name = 'DecodeError';
  }

  /** The error the API answers: dockerd prefixes decode errors of request bodies with "invalid JSON: ". */
  toBerthError(prefix = 'invalid JSON: '): BerthError {
    return invalid(prefix + this.message, 'INVALID_JSON');
  }
}

const mismatch = (v: unknown, goType: string, at: DecodePath): never => {
  throw new DecodeError(jsonKind(v), goType, at);
};

// ------------------------------------------------------------------ scalars

export const string: Codec<string> = {
  goType: 'string',
  zero: '',
  decode: (v, at) => (typeof v === 'string' ? v : mismatch(v, 'string', at)),
};

/** A string-typed Go named type (container.NetworkMode, nat.Port...): same rules, its own name in messages. */
export function namedString(goType: string): Codec<string> {
  return { goType, zero: '', decode: (v, at) => (typeof v === 'string' ? v : mismatch(v, goType, at)) };
}

/** Go's `*string` where null is kept (map[string]*string, as in the build's `buildargs`). */
export const nullableString: Codec<string | null> = {
  goType: '*string',
  zero: null,
  decode: (v, at) => (typeof v === 'string' ? v : mismatch(v, 'string', at)),
};

export const bool: Codec<boolean> = {
  goType: 'bool',
  zero: false,
  decode: (v, at) => (typeof v === 'boolean' ? v : mismatch(v, 'bool', at)),
};

const INT_RANGES: Record<string, [number, number]> = {
  int: [-(2 ** 63), 2 ** 63 - 1],
  int64: [-(2 ** 63), 2 ** 63 - 1],
  'time.Duration': [-(2 ** 63), 2 ** 63 - 1],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  uint: [0, 2 ** 64 - 1],
  uint64: [0, 2 ** 64 - 1],
  uint32: [0, 2 ** 32 - 1],
  uint16: [0, 2 ** 16 - 1],
  uint8: [0, 255],
};

/** An integer Go type; whole numbers in the type's range only (JS numbers: exact up to 2^53). */
export function integer(goType: keyof typeof INT_RANGES | string, range: [number, number] = INT_RANGES[goType] ?? INT_RANGES['int64']!): Codec<number> {
  const [lo, hi] = range;
  return {
    goType,
    zero: 0,
    decode: (v, at) => {
      if (typeof v !== 'number') return mismatch(v, goType, at);
      if (!Number.isInteger(v) || v < lo || v > hi) throw new DecodeError(`number ${goNumber(v)}`, goType, at);
      return v;
    },
  };
}

/** How Go prints a JSON number literal it could not store (close enough: JS has the parsed value only). */
function goNumber(n: number): string {
  return Number.isInteger(n) && Math.abs(n) >= 1e21 ? n.toExponential().replace('e+', 'e+') : String(n);
}

export const int = integer('int');
export const int64 = integer('int64');
export const uint16 = integer('uint16');
export const uint32 = integer('uint32');
export const uint64 = integer('uint64');
export const duration = integer('time.Duration');

export const float64: Codec<number> = {
  goType: 'float64',
  zero: 0,
  decode: (v, at) => (typeof v === 'number' ? v : mismatch(v, 'float64', at)),
};

/** Any JSON value, kept as it is (for opaque fields such as an image's config passed through). */
export const json: Codec<unknown> = { goType: 'interface {}', decode: (v) => v };

// ------------------------------------------------------------------ containers

/** `[]T`. */
export function list<T>(item: Codec<T>, goType = `[]${item.goType}`): Codec<T[]> {
  return {
    goType,
    decode: (v, at) => {
      if (!Array.isArray(v)) return mismatch(v, goType, at);
      const out: T[] = [];
      for (const x of v) {
        if (x === null) {
          if (item.zero !== undefined) out.push(item.zero);
          continue;
        }
        out.push(item.decode(x, at));
      }
      return out;
    },
  };
}

/**
 * Docker's strslice.StrSlice (Cmd, Entrypoint, Shell, CapAdd, CapDrop): a list of strings, or
 * one string meaning a list of one. Its decoder tries the list, then the string, and reports the
 * second failure, so dockerd says "... of type string" for `[1,2]`.
 */
export const strSlice: Codec<string[]> = {
  goType: 'strslice.StrSlice',
  decode: (v, at) => {
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string' || x === null)) return v.map((x) => (x === null ? '' : (x as string)));
    return mismatch(v, 'string', at);
  },
};

/** `map[string]V`: any keys, values decoded with `value`. */
export function map<V>(value: Codec<V>, goType = `map[string]${value.goType}`): Codec<Record<string, V>> {
  return {
    goType,
    decode: (v, at) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return mismatch(v, goType, at);
      const out: Record<string, V> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x === null && value.zero === undefined) continue;
        const decoded = x === null ? (value.zero as V) : value.decode(x, at);
        // A key such as "__proto__" must stay an ordinary entry, never the object's prototype.
        Object.defineProperty(out, k, { value: decoded, enumerable: true, writable: true, configurable: true });
      }
      return out;
    },
  };
}

export const stringMap = map(string);

/** `map[K]struct{}` (ExposedPorts, Volumes): the keys matter; each value must be an object (or null). */
export function set(goType: string): Codec<Record<string, Record<string, never>>> {
  const empty: Codec<Record<string, never>> = {
    goType: 'struct {}',
    zero: {},
    decode: (v, at) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? {} : mismatch(v, 'struct {}', at)),
  };
  return map(empty, goType);
}

/** Go's fixed-size array `[n]T`: shorter input leaves zeros, longer input is cut. */
export function pair<T>(item: Codec<T>, zero: T, goType: string): Codec<[T, T]> {
  return {
    goType,
    decode: (v, at) => {
      if (!Array.isArray(v)) return mismatch(v, goType, at);
      const get = (i: number): T => (v[i] === undefined || v[i] === null ? zero : item.decode(v[i], at));
      return [get(0), get(1)];
    },
  };
}

// ------------------------------------------------------------------ structs

export type Fields<T> = { [K in keyof T]-?: Codec<NonNullable<T[K]>> };

/** The keys of T that are not optional. */
export type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];

export interface StructCodec<T> extends Codec<NoNull<T>> {
  readonly fields: Fields<T>;
}

/**
 * A Go struct: each declared field decoded with its codec (the struct's name is the one in
 * messages); keys are matched exactly, else case-insensitively, as encoding/json does; unknown
 * keys and nulls are skipped. `base` holds the zero values of the fields the wire type requires
 * (Go always has them), so a decoded value is what its type says even when the JSON left them
 * out. Go's embedded structs (CreateRequest embeds Config, HostConfig embeds Resources) are
 * fields spread into the outer list, as Go promotes them.
 */
export function struct<T extends object>(goName: string, fields: Fields<T>, base: Pick<T, RequiredKeys<T>>, opts: { zero?: boolean } = {}): StructCodec<T> {
  const names = Object.keys(fields) as (keyof T & string)[];
  const exact = new Map<string, keyof T & string>(names.map((n) => [n, n]));
  const folded = new Map<string, keyof T & string>();
  for (const n of names) if (!folded.has(n.toLowerCase())) folded.set(n.toLowerCase(), n);
  const shortName = goName.includes('.') ? goName.slice(goName.lastIndexOf('.') + 1) : goName;
  const codec: StructCodec<T> = {
    goType: goName,
    fields,
    decode: (v, at) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return mismatch(v, goName, at);
      const out: Record<string, unknown> = { ...base };
      for (const [key, raw] of Object.entries(v)) {
        const name = exact.get(key) ?? folded.get(key.toLowerCase());
        if (name === undefined) continue;
        if (raw === null) {
          if (!(name in base)) delete out[name];
          continue;
        }
        const field = fields[name] as Codec<unknown>;
        out[name] = field.decode(raw, { struct: shortName, fields: [...at.fields, name] });
      }
      return out as NoNull<T>;
    },
  };
  if (opts.zero) (codec as { zero?: NoNull<T> }).zero = { ...base } as NoNull<T>;
  return codec;
}

/** A codec whose decoded value is checked further: `check` throws a BerthError (Docker's own wording) when it is wrong. */
export function refine<T>(codec: Codec<T>, check: (value: T, at: DecodePath) => T): Codec<T> {
  return { goType: codec.goType, ...(codec.zero !== undefined ? { zero: codec.zero } : {}), decode: (v, at) => check(codec.decode(v, at), at) };
}

/** Decodes a whole document (a parsed request body) with `codec`; `null` gives `ifNull`. */
export function decodeDocument<T>(codec: Codec<T>, doc: unknown, ifNull: T): T {
  if (doc === null || doc === undefined) return ifNull;
  try {
    return codec.decode(doc, ROOT);
  } catch (err) {
    if (err instanceof DecodeError) throw err.toBerthError();
    throw err;
  }
}
