/**
 * `docker commit --change` and `docker import --change`: Dockerfile instructions applied to an
 * image config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER,
 * VOLUME, WORKDIR — the set dockerd accepts there), and dockerd's merge of the committed
 * container's config under the result. The parsing is deliberately small (one instruction per
 * line, JSON or shell form, quotes, $VAR from the config's Env); the builder owns the full
 * Dockerfile grammar.
 */
import path from 'node:path';
import { invalid } from '../common/errors.js';
import type { ContainerConfig } from './config.js';

const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

/** Applies the changes, in order, to a copy of `config`. Bad input is a 400 naming the line. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const out: ContainerConfig = structuredClone(config);
  let cmdSet = false;
  const lines = changes.join('\n').split(/\r?\n/).map((l) => l.trim());
  for (const [i, line] of lines.entries()) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/s.exec(line) as RegExpExecArray;
    const keyword = (m[1] as string).toUpperCase();
    const rest = (m[2] as string).trim();
    if (!ALLOWED.has(keyword)) throw invalid(`${keyword.toLowerCase()} is not a valid change command`);
    const fail = (why: string): never => {
      throw invalid(`dockerfile parse error on line ${i + 1}: ${keyword}: ${why}`);
    };
    const lookup = (name: string): string | undefined => envOf(out)[name];
    switch (keyword) {
      case 'CMD':
        out.Cmd = commandOf(rest, out);
        cmdSet = true;
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = rest === '' ? null : commandOf(rest, out);
        if (!cmdSet) out.Cmd = null;
        break;
      case 'ENV':
        for (const [k, v] of pairs(rest, lookup, fail, 'ENV')) setEnv(out, k, v);
        break;
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}) };
        for (const [k, v] of pairs(rest, lookup, fail, 'LABEL')) out.Labels[k] = v;
        break;
      case 'EXPOSE': {
        out.ExposedPorts = { ...(out.ExposedPorts ?? {}) };
        for (const p of words(rest, lookup)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) fail(`invalid port ${JSON.stringify(p)}`);
          out.ExposedPorts[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
        }
        break;
      }
      case 'VOLUME': {
        const vols = isJsonArray(rest) ? jsonArray(rest, fail) : words(rest, lookup);
        if (vols.length === 0 || vols.some((v) => v === '')) fail('VOLUME specified can not be an empty string');
        out.Volumes = { ...(out.Volumes ?? {}) };
        for (const v of vols) out.Volumes[v] = {};
        break;
      }
      case 'USER':
        if (rest === '') fail('USER requires exactly one argument');
        out.User = words(rest, lookup).join(' ');
        break;
      case 'WORKDIR': {
        if (rest === '') fail('WORKDIR requires exactly one argument');
        const dir = words(rest, lookup).join(' ');
        out.WorkingDir = path.posix.resolve('/', out.WorkingDir ?? '/', dir);
        break;
      }
      case 'STOPSIGNAL':
        if (rest === '') fail('STOPSIGNAL requires exactly one argument');
        out.StopSignal = rest;
        break;
      case 'ONBUILD': {
        const inner = (/^\S+/.exec(rest)?.[0] ?? '').toUpperCase();
        if (inner === '') fail('ONBUILD requires at least one argument');
        if (inner === 'ONBUILD' || inner === 'FROM' || inner === 'MAINTAINER') fail(`${inner} isn't allowed as an ONBUILD trigger`);
        out.OnBuild = [...(out.OnBuild ?? []), rest];
        break;
      }
      case 'HEALTHCHECK':
        out.Healthcheck = healthcheck(rest, out, fail);
        break;
    }
  }
  return out;
}

/** dockerd's merge(userConf, imageConf) for commit: what the new config leaves unset comes from the container's. */
export function mergeConfig(user: ContainerConfig, base: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...base, ...user };
  if (!user.User) out.User = base.User ?? '';
  out.ExposedPorts = { ...(base.ExposedPorts ?? {}), ...(user.ExposedPorts ?? {}) };
  if (Object.keys(out.ExposedPorts).length === 0) delete out.ExposedPorts;
  const env = [...(user.Env ?? [])];
  const keys = new Set(env.map((e) => e.split('=')[0]));
  for (const e of base.Env ?? []) if (!keys.has(e.split('=')[0])) env.push(e);
  out.Env = env;
  out.Labels = { ...(base.Labels ?? {}), ...(user.Labels ?? {}) };
  if (!user.Entrypoint || user.Entrypoint.length === 0) {
    if (!user.Cmd || user.Cmd.length === 0) {
      out.Cmd = base.Cmd ?? null;
      if (base.Shell) out.Shell = base.Shell;
    }
    if (user.Entrypoint == null) out.Entrypoint = base.Entrypoint ?? null;
  }
  if (!user.WorkingDir) out.WorkingDir = base.WorkingDir ?? '';
  if (base.Volumes || user.Volumes) out.Volumes = { ...(user.Volumes ?? {}), ...(base.Volumes ?? {}) };
  if (!user.StopSignal && base.StopSignal) out.StopSignal = base.StopSignal;
  return out;
}

function envOf(c: ContainerConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.Env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return env;
}

function setEnv(c: ContainerConfig, key: string, value: string): void {
  const env = (c.Env ?? []).filter((e) => e.split('=')[0] !== key);
  env.push(`${key}=${value}`);
  c.Env = env;
}

const isJsonArray = (s: string): boolean => s.startsWith('[');

function jsonArray(s: string, fail: (why: string) => never): string[] {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return fail('JSON array is not valid');
  }
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail('expected a JSON array of strings');
  return v as string[];
}

/** JSON form as given; shell form through the config's shell (default /bin/sh -c). */
function commandOf(rest: string, c: ContainerConfig): string[] {
  if (isJsonArray(rest)) {
    try {
      const v: unknown = JSON.parse(rest);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch {
      // not JSON after all: shell form, as Docker falls back to
    }
  }
  return [...(c.Shell && c.Shell.length > 0 ? c.Shell : ['/bin/sh', '-c']), rest];
}

/**
 * Words of a shell-form argument: whitespace-separated, "double" and 'single' quotes group
 * (and are removed), backslash escapes the next character, $VAR / ${VAR} expand outside single
 * quotes.
 */
export function words(text: string, lookup: (name: string) => string | undefined): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote === undefined && /\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === quote) {
      quote = undefined;
    } else if (quote === undefined && (ch === '"' || ch === "'")) {
      quote = ch;
    } else if (ch === '\\' && quote !== "'" && i + 1 < text.length) {
      cur += text[++i];
    } else if (ch === '$' && quote !== "'") {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(text.slice(i));
      if (m) {
        cur += lookup((m[1] ?? m[2]) as string) ?? '';
        i += m[0].length - 1;
      } else cur += ch;
    } else {
      cur += ch;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** ENV/LABEL arguments: `k=v k2="v 2"`, or the legacy `key value with spaces`. */
function pairs(
  rest: string,
  lookup: (name: string) => string | undefined,
  fail: (why: string) => never,
  keyword: string,
): Array<[string, string]> {
  const ws = words(rest, lookup);
  if (ws.length === 0) fail(`${keyword} requires at least one argument`);
  if (!(ws[0] as string).includes('=')) {
    if (ws.length < 2) fail(`${keyword} must have two arguments`);
    const key = /^\S+/.exec(rest)?.[0] as string;
    return [[key, words(rest.slice(key.length), lookup).join(' ')]];
  }
  return ws.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) fail(`${keyword} names can not be blank (in ${JSON.stringify(w)})`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

const DURATION = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/;
const NANOS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

function healthcheck(rest: string, c: ContainerConfig, fail: (why: string) => never): unknown {
  if (/^none$/i.test(rest)) return { Test: ['NONE'] };
  const hc: Record<string, unknown> = {};
  let s = rest;
  for (;;) {
    const m = /^--([a-z-]+)=(\S+)\s*/.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
    const [, flag, value] = m as unknown as [string, string, string];
    const field = { interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod', 'start-interval': 'StartInterval', retries: 'Retries' }[flag];
    if (!field) fail(`unknown flag: --${flag}`);
    if (field === 'Retries') {
      if (!/^\d+$/.test(value)) fail(`invalid --retries value ${JSON.stringify(value)}`);
      hc[field as string] = Number(value);
    } else {
      const d = DURATION.exec(value);
      if (!d) fail(`invalid duration ${JSON.stringify(value)} for --${flag}`);
      hc[field as string] = Math.round(Number(d?.[1]) * (NANOS[d?.[2] as string] as number));
    }
  }
  const m = /^CMD\s+(.*)$/is.exec(s);
  if (!m) fail('HEALTHCHECK needs CMD or NONE');
  const cmd = (m?.[1] ?? '').trim();
  if (isJsonArray(cmd)) hc['Test'] = ['CMD', ...jsonArray(cmd, fail)];
  else hc['Test'] = ['CMD-SHELL', ...commandOf(cmd, c).slice(-1)];
  return hc;
}
