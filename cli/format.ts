/**
 * Output formatting shared by the CLI verbs, matching what docker prints:
 * decimal human sizes ("4.26MB"), human durations ("2 hours ago"), 12-char
 * IDs, tab-aligned tables (min width 10, padding 3), `--format` templates with
 * `{{.Field}}` placeholders, and JSON encoded the way Go encodes it.
 */
import type { EngineError } from '../client/index.js';
import type { Context } from './command.js';

/** A --format template that cannot be parsed or evaluated (exit status 1, like docker). */
export class TemplateError extends Error {
  constructor(message: string) {
    super(`template parsing error: ${message}`);
    this.name = 'TemplateError';
  }
}

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/**
 * Round |x| to `sig` significant decimal digits the way Go's strconv does:
 * from the exact decimal value of the double, ties to even.
 */
function roundSignificant(x: number, sig: number): { digits: string; exp: number } {
  const [mant = '0', expText = '0'] = Math.abs(x).toExponential(99).split('e');
  const all = mant.replace('.', '');
  let exp = Number(expText);
  const kept = all.slice(0, sig).split('').map(Number);
  const rest = all.slice(sig);
  const first = Number(rest[0] ?? '0');
  const tail = /[1-9]/.test(rest.slice(1));
  const up = first > 5 || (first === 5 && (tail || (kept[kept.length - 1] ?? 0) % 2 === 1));
  if (up) {
    let k = kept.length - 1;
    while (k >= 0 && kept[k] === 9) kept[k--] = 0;
    if (k >= 0) kept[k] = (kept[k] ?? 0) + 1;
    else {
      kept.unshift(1);
      kept.pop();
      exp++;
    }
  }
  return { digits: kept.join(''), exp };
}

/** Go's `%.<precision>g`: shortest of fixed/exponent notation, trailing zeros removed. */
export function formatG(x: number, precision: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : Number.isNaN(x) ? 'NaN' : '-Inf';
  const sign = x < 0 ? '-' : '';
  const p = Math.max(1, precision);
  const { digits, exp } = roundSignificant(x, p);
  const trimmed = digits.replace(/0+$/, '') || '0';
  if (exp < -4 || exp >= p) {
    const mantissa = trimmed.length > 1 ? `${trimmed[0]}.${trimmed.slice(1)}` : trimmed;
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${trimmed}`;
  const intPart = trimmed.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = trimmed.slice(exp + 1);
  return `${sign}${intPart}${frac ? `.${frac}` : ''}`;
}

/**
 * Decimal (SI) human size like docker: 4263000 → "4.263MB" (precision 4, the
 * default) or "4.26MB" (precision 3, as `docker images` uses).
 */
export function humanSize(bytes: number, precision = 4): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < SIZE_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${formatG(size, precision)}${SIZE_UNITS[i]}`;
}

/** A duration as docker words it: "Less than a second", "About a minute", "3 hours", "2 weeks". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** "2 hours ago" for a Unix-seconds timestamp ("N/A" when unknown). */
export function timeAgo(unixSeconds: number, now: number = Date.now()): string {
  if (!unixSeconds || unixSeconds <= 0) return 'N/A';
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/** Short ID: strip the algorithm and keep 12 characters. */
export function shortId(id: string): string {
  const colon = id.indexOf(':');
  return (colon >= 0 ? id.slice(colon + 1) : id).slice(0, 12);
}

/** Shorten to `max` characters with a trailing ellipsis. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  return max <= 1 ? chars.slice(0, max).join('') : `${chars.slice(0, max - 1).join('')}…`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function zoneOffset(date: Date, withColon: boolean): string {
  const off = -date.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${sign}${pad2(Math.floor(abs / 60))}${withColon ? ':' : ''}${pad2(abs % 60)}`;
}

function zoneName(date: Date): string {
  try {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
      .formatToParts(date)
      .find((p) => p.type === 'timeZoneName');
    if (part && date.getTimezoneOffset() === 0 && /^GMT$|^UTC$/.test(part.value)) return 'UTC';
    return part?.value ?? 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Go's time.Time.String() in local time: "2024-05-20 10:11:12 +0200 CEST". */
export function goTimeString(date: Date): string {
  const d = `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
  const t = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  return `${d} ${t} ${zoneOffset(date, false)} ${zoneName(date)}`;
}

/** RFC 3339 in local time without fractions: "2024-05-20T10:11:12+02:00" ("Z" in UTC). */
export function rfc3339Local(date: Date): string {
  const d = `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
  const t = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  return `${d}T${t}${date.getTimezoneOffset() === 0 ? 'Z' : zoneOffset(date, true)}`;
}

/** RFC 3339 with 9 fractional digits in local time (docker events): "2024-05-20T10:11:12.123456789+02:00". */
export function rfc3339NanoLocal(unixSeconds: number, nanos: number): string {
  const date = new Date(unixSeconds * 1000);
  const d = `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
  const t = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  const zone = date.getTimezoneOffset() === 0 ? 'Z' : zoneOffset(date, true);
  return `${d}T${t}.${String(Math.max(0, Math.min(999_999_999, Math.round(nanos)))).padStart(9, '0')}${zone}`;
}

/** A copy with keys in sorted order (Go encodes maps that way). */
export function sortKeys(r: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** JSON.stringify, escaping <, > and & like Go's encoding/json. */
export function goJson(value: unknown, indent?: number | string): string {
  const text = JSON.stringify(value, null, indent) ?? 'null';
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Align tab-separated cells into columns like Go's tabwriter with minwidth 10,
 * padding 3: every cell but the last of a line is padded to its column's width.
 */
export function tabulate(lines: string[], opts: { minWidth?: number; padding?: number } = {}): string {
  const minWidth = opts.minWidth ?? 10;
  const padding = opts.padding ?? 3;
  const rows = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const cells of rows) {
    cells.forEach((cell, i) => {
      if (i === cells.length - 1) return;
      widths[i] = Math.max(widths[i] ?? minWidth, [...cell].length + padding);
    });
  }
  return rows
    .map((cells) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[i] ?? minWidth) - [...cell].length))))
        .join(''),
    )
    .join('\n');
}

// ---------------------------------------------------------------------------
// --format templates: a small subset of Go's text/template.

type TemplatePart = { text: string } | { action: (data: unknown) => string; field: string };

export interface Template {
  /** True when the format started with "table": print a header line and align columns. */
  table: boolean;
  /** Field names referenced by top-level `{{.Field}}` placeholders, in order. */
  fields: string[];
  render(data: unknown): string;
  /** The template with each placeholder replaced by its column title. */
  renderHeader(titles: Record<string, string>): string;
}

/** Default column title for a field: "CreatedSince" → "CREATED SINCE". */
export function defaultTitle(field: string): string {
  return field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}

function lookup(data: unknown, path: string[], expr: string): unknown {
  let cur: unknown = data;
  for (const key of path) {
    if (cur === null || cur === undefined) return undefined;
    if (typeof cur !== 'object') throw new TemplateError(`can't evaluate field ${key} in ${expr}`);
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function stringify(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(stringify).join(' ')}]`;
  const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `map[${entries.map(([k, val]) => `${k}:${stringify(val)}`).join(' ')}]`;
}

function compileExpr(expr: string, fields: string[]): (data: unknown) => unknown {
  const words = expr.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  const operand = (w: string | undefined): ((data: unknown) => unknown) => {
    if (w === undefined) throw new TemplateError(`missing operand in {{${expr}}}`);
    if (w.startsWith('"')) {
      const s = JSON.parse(w) as string;
      return () => s;
    }
    if (w === '.') return (d) => d;
    if (!w.startsWith('.')) throw new TemplateError(`function "${w}" not defined`);
    const path = w.slice(1).split('.');
    return (d) => lookup(d, path, w);
  };
  const [head, ...rest] = words;
  switch (head) {
    case 'json': {
      const arg = operand(rest[0]);
      return (d) => goJson(arg(d));
    }
    case 'upper':
    case 'lower': {
      const arg = operand(rest[0]);
      return (d) => (head === 'upper' ? stringify(arg(d)).toUpperCase() : stringify(arg(d)).toLowerCase());
    }
    case 'join': {
      const list = operand(rest[0]);
      const sep = operand(rest[1]);
      return (d) => {
        const v = list(d);
        return Array.isArray(v) ? v.map(stringify).join(stringify(sep(d))) : stringify(v);
      };
    }
    default: {
      if (rest.length > 0) throw new TemplateError(`unsupported expression {{${expr}}}`);
      if (head && head.startsWith('.') && head.length > 1 && !head.slice(1).includes('.')) fields.push(head.slice(1));
      return operand(head);
    }
  }
}

/**
 * Compile a `--format` value. `\t` and `\n` written literally become tab and
 * newline (as docker does); a leading "table" asks for a header and columns.
 */
export function compileTemplate(format: string): Template {
  let src = format.trim();
  let table = false;
  if (src.startsWith('table')) {
    table = true;
    src = src.slice('table'.length).trimStart();
  }
  src = src.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const parts: TemplatePart[] = [];
  const fields: string[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      parts.push({ text: src.slice(i) });
      break;
    }
    const close = src.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`unclosed action in "${format}"`);
    let text = src.slice(i, open);
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('-')) {
      text = text.trimEnd();
      inner = inner.slice(1);
    }
    let trimAfter = false;
    if (inner.endsWith('-')) {
      trimAfter = true;
      inner = inner.slice(0, -1);
    }
    if (text) parts.push({ text });
    const expr = inner.trim();
    const fn = compileExpr(expr, fields);
    const lastPath = /\.([A-Za-z0-9_]+)\s*$/.exec(expr);
    parts.push({ action: (d) => stringify(fn(d)), field: lastPath?.[1] ?? '' });
    i = close + 2;
    if (trimAfter) while (i < src.length && /\s/.test(src[i] as string)) i++;
  }
  return {
    table,
    fields,
    render: (data) => parts.map((p) => ('text' in p ? p.text : p.action(data))).join(''),
    renderHeader: (titles) =>
      parts.map((p) => ('text' in p ? p.text : (titles[p.field] ?? defaultTitle(p.field)))).join(''),
  };
}

/**
 * Render rows with a template. For table templates, `headers` maps field names
 * to column titles; the header line is produced by rendering the template with
 * the titles in place of the values.
 */
export function renderRows(
  tpl: Template,
  rows: readonly Record<string, unknown>[],
  headers: Record<string, string> = {},
): string {
  const lines = rows.map((r) => tpl.render(r));
  if (!tpl.table) return lines.map((l) => `${l}\n`).join('');
  const headerLine = tpl.renderHeader(headers);
  const all = [headerLine, ...lines].flatMap((l) => l.split('\n'));
  return `${tabulate(all)}\n`;
}

/** Print rows with --format (json | table | template) or docker's default table. */
export function printRows(
  ctx: Context,
  rows: readonly Record<string, unknown>[],
  format: string | undefined,
  defaultTable: string,
  headers: Record<string, string>,
): void {
  if (format === 'json') {
    for (const r of rows) ctx.out(`${goJson(sortKeys(r))}\n`);
    return;
  }
  const tpl = compileTemplate(!format || format === 'table' ? defaultTable : format);
  ctx.out(renderRows(tpl, rows, headers));
}

/** The stderr text for an engine error, worded like docker. */
export function describeError(err: EngineError): string {
  if (err.statusCode > 0 && !err.inStream) return `Error response from daemon: ${err.message}`;
  return err.message;
}
