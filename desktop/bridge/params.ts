/**
 * Readers for parameters that arrive from the renderer. The renderer is typed against
 * types/desktop-api.ts, but its input crosses a process (or a WebSocket) boundary, so the host
 * checks every field it uses and refuses bad input with a 400 before touching an engine.
 */
import { invalid } from './errors.js';

export type Params = Record<string, unknown>;

/** The parameter object itself (undefined counts as empty). */
export function asParams(value: unknown): Params {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('parameters must be an object');
  return value as Params;
}

export function str(p: Params, key: string): string {
  const v = p[key];
  if (typeof v !== 'string' || v === '') throw invalid(`"${key}" must be a non-empty string`);
  return v;
}

export function optStr(p: Params, key: string): string | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`"${key}" must be a string`);
  return v;
}

export function optBool(p: Params, key: string): boolean | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalid(`"${key}" must be true or false`);
  return v;
}

export function optInt(p: Params, key: string, min: number, max: number): number | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`"${key}" must be an integer from ${min} to ${max}`);
  return v;
}

export function int(p: Params, key: string, min: number, max: number): number {
  const v = optInt(p, key, min, max);
  if (v === undefined) throw invalid(`"${key}" is required`);
  return v;
}

export function optStrings(p: Params, key: string): string[] | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw invalid(`"${key}" must be a list of strings`);
  return v as string[];
}

/** A list of objects, each checked by `each` (which receives the element as Params). */
export function optList<T>(p: Params, key: string, each: (item: Params, index: number) => T): T[] | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw invalid(`"${key}" must be a list`);
  return v.map((item, i) => each(asParams(item), i));
}

export function oneOf<T extends string>(p: Params, key: string, values: readonly T[]): T | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw invalid(`"${key}" must be one of ${values.join(', ')}`);
  return v as T;
}
