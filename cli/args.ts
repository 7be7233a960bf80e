/**
 * A small getopt/pflag-style argument parser: `-f`, `--flag`, `--flag=value`,
 * `--flag value`, `-o value`, `-ovalue`, repeated flags (list type), combined
 * short booleans (`-aq`), `--` to end options, and `-` as a positional.
 * Flags and positionals may be interspersed unless `interspersed: false`
 * (used for the global flags, which stop at the first verb).
 */

export type FlagType = 'bool' | 'string' | 'list';

export interface FlagSpec {
  /** Long name without dashes: "no-trunc". */
  name: string;
  /** One-character short name without the dash: "a". */
  short?: string;
  type: FlagType;
  /** Help text. */
  description: string;
  /** Shown in help after the flag name ("string", "filter"). */
  valueName?: string;
  /** Default for string flags, shown in help. */
  defaultValue?: string;
  /** Accepted but not listed in help. */
  hidden?: boolean;
}

export type FlagValue = boolean | string | string[];

/** A mistake in how the command was invoked: exit status 125. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export class ParsedArgs {
  constructor(
    readonly values: Map<string, FlagValue>,
    readonly args: string[],
  ) {}

  /** True if the flag was given on the command line. */
  has(name: string): boolean {
    return this.values.has(name);
  }

  bool(name: string): boolean {
    const v = this.values.get(name);
    return v === true;
  }

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }
}

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'bool', description: 'Print usage' };

export function parseBoolValue(flag: string, value: string): boolean {
  switch (value.toLowerCase()) {
    case '1':
    case 't':
    case 'true':
      return true;
    case '0':
    case 'f':
    case 'false':
      return false;
    default:
      throw new UsageError(`invalid argument "${value}" for "${flag}" flag: expected true or false`);
  }
}

export function parseArgs(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  opts: { interspersed?: boolean } = {},
): ParsedArgs {
  const interspersed = opts.interspersed ?? true;
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byLong.set(spec.name, spec);
    if (spec.short) byShort.set(spec.short, spec);
  }
  const values = new Map<string, FlagValue>();
  const args: string[] = [];

  const set = (spec: FlagSpec, value: string | boolean): void => {
    if (spec.type === 'list') {
      const prev = values.get(spec.name);
      values.set(spec.name, [...(Array.isArray(prev) ? prev : []), String(value)]);
    } else {
      values.set(spec.name, value);
    }
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const inline = eq >= 0 ? a.slice(eq + 1) : undefined;
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (spec.type === 'bool') {
        set(spec, inline === undefined ? true : parseBoolValue(`--${name}`, inline));
      } else if (inline !== undefined) {
        set(spec, inline);
      } else {
        const next = argv[i + 1];
        if (next === undefined) throw new UsageError(`flag needs an argument: --${name}`);
        set(spec, next);
        i++;
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const ch = a[j] as string;
        const spec = byShort.get(ch);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${ch}' in -${ch}`);
        if (spec.type === 'bool') {
          if (a[j + 1] === '=') {
            set(spec, parseBoolValue(`-${ch}`, a.slice(j + 2)));
            break;
          }
          set(spec, true);
          continue;
        }
        let value = a.slice(j + 1);
        if (value.startsWith('=')) value = value.slice(1);
        else if (value === '') {
          const next = argv[i + 1];
          if (next === undefined) throw new UsageError(`flag needs an argument: '${ch}' in -${ch}`);
          value = next;
          i++;
        }
        set(spec, value);
        break;
      }
      continue;
    }
    args.push(a);
    if (!interspersed) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  return new ParsedArgs(values, args);
}

/** The "Options:" block of a help text. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const names = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'bool' ? '' : ` ${s.valueName ?? 'string'}`}`;
      const def = s.defaultValue !== undefined ? ` (default "${s.defaultValue}")` : '';
      return [names, `${s.description}${def}`] as const;
    });
  const width = Math.max(0, ...rows.map(([n]) => n.length));
  const indent = ' '.repeat(width + 5);
  return rows.map(([n, d]) => `  ${n.padEnd(width)}   ${d.split('\n').join(`\n${indent}`)}`).join('\n');
}
