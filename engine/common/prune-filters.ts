/**
 * The filters every prune takes (containers, images, networks, volumes, build cache), with
 * dockerd's semantics, in one place:
 *
 * - `until=<time>` keeps what was created after that time. Times are Docker's: a Go duration
 *   back from now ("24h", "1h30m", "90s"), an RFC 3339 date or date-time (local time when it
 *   names no zone: "2024-05-01", "2024-05-01T10:00", "2024-05-01T10:00:00Z"), or Unix seconds
 *   ("1714557600", "1714557600.5"). At most one.
 * - `label=k` / `label=k=v`: every one must match; `label!=...`: pruned unless *all* of them match
 *   (Docker's MatchKVList, negated).
 *
 * The build cache's prune reads its filters as BuildKit does (parseCachePruneFilters): the same
 * `until` (also under its old name `unused-for`, against when a record was last used) and labels,
 * plus `id` (a prefix), `parent`, `type`, `description`, `inuse`, `shared` and `private`, each at
 * most once.
 *
 * The parsers check everything (unknown keys, bad times, bad booleans) before a prune touches
 * anything, so a bad request removes nothing.
 */
import { invalid } from './errors.js';

export interface PruneFilters {
  /** Epoch milliseconds: objects created later are kept. */
  until?: number;
  label: string[];
  labelNot: string[];
}

/** What containers, networks and the build cache accept; images add `dangling`, volumes `all`. */
export const PRUNE_FILTER_KEYS = ['label', 'label!', 'until'] as const;

/**
 * Checks the filters of a prune against the keys it accepts and parses the common ones.
 * `filters` is the decoded `filters` query parameter (key → values).
 */
export function parsePruneFilters(filters: Record<string, string[]>, accepted: readonly string[] = PRUNE_FILTER_KEYS, now = Date.now()): PruneFilters {
  checkKeys(filters, accepted);
  const untils = filters['until'] ?? [];
  if (untils.length > 1) throw invalid('more than one until filter specified');
  return {
    ...(untils.length === 1 ? { until: parseDockerTime(untils[0] as string, now) } : {}),
    label: filters['label'] ?? [],
    labelNot: filters['label!'] ?? [],
  };
}

function checkKeys(filters: Record<string, string[]>, accepted: readonly string[]): void {
  for (const key of Object.keys(filters)) if (!accepted.includes(key)) throw invalid(`invalid filter '${key}'`);
}

/** dockerd's rule: created no later than `until`, every `label` matches, and not every `label!` does. */
export function prunable(f: PruneFilters, createdMs: number, labels: Record<string, string> | null | undefined): boolean {
  if (f.until !== undefined && createdMs > f.until) return false;
  return labelsMatch(f, labels ?? {});
}

function labelsMatch(f: Pick<PruneFilters, 'label' | 'labelNot'>, labels: Record<string, string>): boolean {
  if (!matchKVList(f.label, labels)) return false;
  if (f.labelNot.length > 0 && matchKVList(f.labelNot, labels)) return false;
  return true;
}

/** Every "k" or "k=v" in `wanted` is in `labels` (true when `wanted` is empty). */
export function matchKVList(wanted: readonly string[], labels: Record<string, string>): boolean {
  for (const w of wanted) {
    const i = w.indexOf('=');
    const key = i < 0 ? w : w.slice(0, i);
    if (!Object.hasOwn(labels, key)) return false;
    if (i >= 0 && labels[key] !== w.slice(i + 1)) return false;
  }
  return true;
}

/** A boolean filter as dockerd reads one ("true"/"1" or "false"/"0", nothing else, no contradiction). */
export function boolFilter(filters: Record<string, string[]>, key: string, dflt: boolean): boolean {
  const values = filters[key];
  if (values === undefined) return dflt;
  const isTrue = values.includes('true') || values.includes('1');
  const isFalse = values.includes('false') || values.includes('0');
  if (isTrue === isFalse) throw invalid(values.length > 0 ? `invalid filter '${key}=${values.join(',')}'` : `invalid filter '${key}'`);
  return isTrue;
}

// ---------------------------------------------------------------- the build cache's filters

/** What POST /build/prune accepts. */
export const CACHE_PRUNE_FILTER_KEYS = ['until', 'unused-for', 'id', 'parent', 'type', 'description', 'inuse', 'shared', 'private', 'label', 'label!'] as const;

export interface CachePruneFilters {
  /** Epoch milliseconds: records used at or after it stay. */
  usedBefore?: number;
  /** A prefix of the record's ID. */
  id?: string;
  parent?: string;
  type?: string;
  description?: string;
  inUse?: boolean;
  shared?: boolean;
  private?: boolean;
  label: string[];
  labelNot: string[];
}

/** A build cache record as the filters see it. */
export interface CacheEntry {
  id: string;
  type: string;
  description: string;
  lastUsedMs: number;
  inUse: boolean;
  shared: boolean;
  /** The record whose state this one's stands on. */
  parentId: string | undefined;
}

/** The build cache's filters, checked as BuildKit checks them (its wording for bad values). */
export function parseCachePruneFilters(filters: Record<string, string[]>, now = Date.now()): CachePruneFilters {
  checkKeys(filters, CACHE_PRUNE_FILTER_KEYS);
  for (const [k, v] of Object.entries(filters)) if (v.length > 1 && k !== 'label' && k !== 'label!') throw invalid('filters expect only one value');
  if (filters['until']?.length && filters['unused-for']?.length) throw invalid('conflicting filters: "until" and "unused-for"');
  const untilKey = filters['unused-for']?.length ? 'unused-for' : 'until';
  const untilValue = filters[untilKey]?.[0];
  const out: CachePruneFilters = { label: filters['label'] ?? [], labelNot: filters['label!'] ?? [] };
  if (untilValue !== undefined) {
    try {
      out.usedBefore = parseDockerTime(untilValue, now);
    } catch {
      throw invalid(`"${untilKey}" filter expects a duration (e.g., '24h') or a timestamp: ${untilValue}`);
    }
  }
  const bool = (k: string): boolean | undefined => {
    const v = filters[k]?.[0];
    if (v === undefined) return undefined;
    if (['true', '1'].includes(v.toLowerCase())) return true;
    if (['false', '0'].includes(v.toLowerCase())) return false;
    throw invalid(`invalid value for filter '${k}': ${v}`);
  };
  const flags = { inUse: bool('inuse'), shared: bool('shared'), private: bool('private') };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) out[k as keyof typeof flags] = v;
  for (const k of ['id', 'parent', 'type', 'description'] as const) {
    const v = filters[k]?.[0];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Whether the filters select a record. Records carry no labels: `label=` selects none, `label!=` all; none is private. */
export function cachePrunable(f: CachePruneFilters, e: CacheEntry): boolean {
  if (f.usedBefore !== undefined && e.lastUsedMs >= f.usedBefore) return false;
  if (f.id !== undefined && !e.id.startsWith(f.id)) return false;
  if (f.type !== undefined && e.type !== f.type) return false;
  if (f.description !== undefined && e.description !== f.description) return false;
  if (f.inUse !== undefined && e.inUse !== f.inUse) return false;
  if (f.shared !== undefined && e.shared !== f.shared) return false;
  if (f.private === true) return false;
  if (f.parent !== undefined && e.parentId !== f.parent) return false;
  return labelsMatch(f, {});
}

// ---------------------------------------------------------------- Docker's time values

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds; undefined when `value` is not a duration. */
export function parseGoDuration(value: string): number | undefined {
  const m = /^([-+]?)(.+)$/.exec(value);
  if (!m) return undefined;
  const body = m[2] as string;
  if (body === '0') return 0;
  const part = /(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let p = part.exec(body); p; p = part.exec(body)) {
    const num = p[1] as string;
    if (num === '' || num === '.') return undefined;
    total += Number(num) * (DURATION_UNITS[p[2] as string] as number);
    at = part.lastIndex;
  }
  if (at !== body.length || at === 0) return undefined;
  return m[1] === '-' ? -total : total;
}

const DATE = String.raw`(\d{4})-(\d{2})-(\d{2})`;
const ZONE = String.raw`(Z|z|[+-]\d{2}:\d{2})`;

/**
 * A time value as dockerd reads `until` and `since` (see the module comment); epoch milliseconds.
 * Refused with dockerd's wording when it is none of those.
 */
export function parseDockerTime(value: string, now = Date.now()): number {
  if (value.trim() === '') throw invalid('failed to parse value as time or duration: value is empty');
  const d = value !== '0' ? parseGoDuration(value) : undefined;
  if (d !== undefined) return now - d;
  // dockerd's choice of layout: a zone is named by z/Z/+ or by a third '-'.
  const local = !/[zZ+]/.test(value) && (value.match(/-/g) ?? []).length !== 3;
  const patterns = local
    ? [new RegExp(`^${DATE}T(\\d{1,2}):(\\d{2}):(\\d{2})\\.(\\d{1,9})$`), new RegExp(`^${DATE}T(\\d{1,2})(?::(\\d{2}))?(?::(\\d{2}))?$`), new RegExp(`^${DATE}$`)]
    : [
        new RegExp(`^${DATE}T(\\d{1,2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?${ZONE}$`),
        new RegExp(`^${DATE}T(\\d{1,2})(?::(\\d{2}))?${ZONE}$`),
        new RegExp(`^${DATE}${ZONE}$`),
      ];
  for (const re of patterns) {
    const m = re.exec(value);
    if (m) return dateTime(value, m, local, now);
  }
  if (value.includes('-')) throw invalid(`parsing time "${value}": not an RFC 3339 date or time`);
  return unixSeconds(value);
}

function dateTime(value: string, m: RegExpExecArray, local: boolean, now: number): number {
  const g = m.slice(1);
  const zone = local ? undefined : g.pop();
  const [y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = g.map((x) => x ?? '');
  const n = (x: string, dflt = 0): number => (x === '' ? dflt : Number(x));
  const [year, month, day, hour, minute, second] = [n(y as string), n(mo as string), n(d as string), n(h), n(mi), n(s)];
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const range = month < 1 || month > 12 ? 'month' : day < 1 || day > days ? 'day' : hour > 23 ? 'hour' : minute > 59 ? 'minute' : second > 59 ? 'second' : '';
  if (range) throw invalid(`parsing time "${value}": ${range} out of range`);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) + Number(`0.${frac || '0'}`) * 1000;
  // No zone: the daemon's local time, at its current offset (as dockerd's FixedZone of now).
  if (zone === undefined) return ms + new Date(now).getTimezoneOffset() * 60_000;
  if (zone === 'Z' || zone === 'z') return ms;
  const sign = zone.startsWith('-') ? -1 : 1;
  const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number];
  return ms - sign * (zh * 60 + zm) * 60_000;
}

/** "seconds[.fraction]" since the epoch. */
function unixSeconds(value: string): number {
  const [s = '', frac] = value.split(/\.(.*)/s) as [string, string | undefined];
  if (!/^[-+]?\d+$/.test(s)) throw invalid(`failed to parse value as time or duration: invalid seconds "${s}": invalid syntax`);
  if (frac !== undefined && frac !== '' && !/^\d{1,20}$/.test(frac)) throw invalid(`failed to parse value as time or duration: invalid nanoseconds in "${value}"`);
  return Number(s) * 1000 + (frac ? Number(`0.${frac.slice(0, 9)}`) * 1000 : 0);
}
