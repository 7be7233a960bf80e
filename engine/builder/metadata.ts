/**
 * The instructions that only change the image config (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE,
 * WORKDIR, USER, VOLUME, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER), with Docker's
 * rules for each: which ones substitute variables, the shell form wrapped in the stage's SHELL,
 * ENTRYPOINT clearing an inherited CMD, durations in nanoseconds. Each returns the text the
 * image history (and so the build cache) records for the step.
 */
import path from 'node:path';
import { invalid } from '../common/errors.js';
import type { ContainerConfig } from '../images/config.js';
import { expandWord, expandWords, type Instruction } from './dockerfile.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** What a stage carries from step to step. */
export interface StageState {
  config: ContainerConfig;
  /** ARGs declared in this stage, with their values. */
  args: Map<string, string>;
  /** CMD was set by this stage (an ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  escape: string;
}

export function shellOf(s: StageState): string[] {
  return s.config.Shell && s.config.Shell.length > 0 ? s.config.Shell : DEFAULT_SHELL;
}

/** Variables for substitution: the config's ENV first (ENV beats ARG), then the stage's ARGs. */
export function lookupIn(s: StageState): (name: string) => string | undefined {
  return (name) => {
    for (const kv of s.config.Env ?? []) {
      const i = kv.indexOf('=');
      if (i > 0 && kv.slice(0, i) === name) return kv.slice(i + 1);
    }
    return s.args.get(name);
  };
}

export function setEnv(env: string[] | undefined, key: string, value: string): string[] {
  const out = (env ?? []).filter((kv) => kv.split('=', 1)[0] !== key);
  const at = (env ?? []).findIndex((kv) => kv.split('=', 1)[0] === key);
  if (at >= 0) {
    out.splice(at, 0, `${key}=${value}`);
    return out;
  }
  return [...out, `${key}=${value}`];
}

/** The command of RUN/CMD/ENTRYPOINT: the JSON array as given, or the shell form wrapped in SHELL. */
export function commandOf(ins: Instruction, s: StageState): string[] {
  if (ins.json) return [...ins.args];
  return [...shellOf(s), ins.args.join(' ')];
}

const nop = (text: string): string => `/bin/sh -c #(nop) ${text}`;

/** key=value pairs (ENV, LABEL), or the legacy "KEY value with spaces" form. */
function pairs(ins: Instruction, s: StageState): Array<[string, string]> {
  const text = ins.args.join(' ').trim();
  const lookup = lookupIn(s);
  const words = expandWords(text, lookup, s.escape);
  if (words.length === 0) throw invalid(`${ins.keyword} requires at least one argument`);
  if (!(words[0] as string).includes('=')) {
    // Legacy form: the first word is the key, the rest of the line (substituted) the value.
    const m = /^(\S+)\s+([\s\S]*)$/.exec(text);
    if (!m) throw invalid(`${ins.keyword} must have two arguments`);
    return [[m[1] as string, expandWord(m[2] as string, lookup, s.escape)]];
  }
  return words.map((w) => {
    const i = w.indexOf('=');
    if (i <= 0) throw invalid(`${ins.keyword} names can not be blank`);
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

/** A list argument: JSON array, or space-separated words (VOLUME, EXPOSE), substituted. */
function listArgs(ins: Instruction, s: StageState): string[] {
  const lookup = lookupIn(s);
  if (ins.json) return ins.args.map((a) => expandWord(a, lookup, s.escape));
  return expandWords(ins.args.join(' '), lookup, s.escape);
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds ("30s", "1m30s", "500ms"). */
export function parseDuration(v: string, flag: string): number {
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    end = re.lastIndex;
  }
  if (v === '' || end !== v.length) throw invalid(`invalid duration for --${flag}: ${v}`);
  return Math.round(total);
}

function healthcheck(ins: Instruction, s: StageState): ContainerConfig['Healthcheck'] {
  const first = ins.json ? undefined : (ins.args.join(' ').trim().split(/\s+/, 1)[0] ?? '');
  if (!ins.json && first?.toUpperCase() === 'NONE') return { Test: ['NONE'] };
  const text = ins.args.join(' ').trim();
  let test: string[];
  if (ins.json) {
    test = ins.args[0]?.toUpperCase() === 'CMD' ? ['CMD', ...ins.args.slice(1)] : ['CMD', ...ins.args];
  } else {
    const m = /^CMD\s+([\s\S]+)$/i.exec(text);
    if (!m) throw invalid('HEALTHCHECK requires CMD or NONE');
    const rest = (m[1] as string).trim();
    if (rest.startsWith('[')) {
      let arr: unknown;
      try {
        arr = JSON.parse(rest);
      } catch {
        arr = undefined;
      }
      test = Array.isArray(arr) && arr.every((a) => typeof a === 'string') ? ['CMD', ...(arr as string[])] : ['CMD-SHELL', rest];
    } else test = ['CMD-SHELL', rest];
  }
  const hc: Record<string, unknown> = { Test: test };
  for (const [flag, key] of [
    ['interval', 'Interval'],
    ['timeout', 'Timeout'],
    ['start-period', 'StartPeriod'],
    ['start-interval', 'StartInterval'],
  ] as const) {
    const v = ins.flags[flag];
    if (v !== undefined) hc[key] = parseDuration(v, flag);
  }
  const retries = ins.flags['retries'];
  if (retries !== undefined) {
    const n = Number(retries);
    if (!Number.isInteger(n) || n < 0) throw invalid(`invalid value for --retries: ${retries}`);
    hc['Retries'] = n;
  }
  void s;
  return hc;
}

function exposed(ports: string[]): string[] {
  const out: string[] = [];
  for (const p of ports) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
    if (!m) throw invalid(`invalid containerPort: ${p}`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (lo < 1 || hi > 65535 || hi < lo) throw invalid(`invalid port range: ${p}`);
    for (let n = lo; n <= hi; n++) out.push(`${n}/${(m[3] ?? 'tcp').toLowerCase()}`);
  }
  return out;
}

export const METADATA_KEYWORDS = new Set([
  'CMD',
  'ENTRYPOINT',
  'ENV',
  'LABEL',
  'EXPOSE',
  'WORKDIR',
  'USER',
  'VOLUME',
  'SHELL',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'ONBUILD',
  'MAINTAINER',
]);

/** Applies one metadata instruction to the stage's config; returns the step's created_by. */
export function applyMetadata(ins: Instruction, s: StageState): string {
  const c = s.config;
  const lookup = lookupIn(s);
  switch (ins.keyword) {
    case 'CMD': {
      c.Cmd = commandOf(ins, s);
      s.cmdSet = true;
      return nop(`CMD ${JSON.stringify(c.Cmd)}`);
    }
    case 'ENTRYPOINT': {
      c.Entrypoint = commandOf(ins, s);
      // An ENTRYPOINT resets a CMD inherited from the base image.
      if (!s.cmdSet) c.Cmd = null;
      return nop(`ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`);
    }
    case 'ENV': {
      const kv = pairs(ins, s);
      for (const [k, v] of kv) c.Env = setEnv(c.Env, k, v);
      return nop(`ENV ${kv.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
    case 'LABEL': {
      const kv = pairs(ins, s);
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of kv) c.Labels[k] = v;
      return nop(`LABEL ${kv.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
    case 'MAINTAINER': {
      const who = ins.args.join(' ').trim();
      return nop(`MAINTAINER ${who}`);
    }
    case 'EXPOSE': {
      const ports = exposed(listArgs(ins, s));
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of ports) c.ExposedPorts[p] = {};
      return nop(`EXPOSE ${ports.join(' ')}`);
    }
    case 'WORKDIR': {
      const dir = expandWord(ins.args.join(' ').trim(), lookup, s.escape);
      if (dir === '') throw invalid('WORKDIR requires exactly one argument');
      c.WorkingDir = path.posix.resolve(c.WorkingDir || '/', dir);
      return nop(`WORKDIR ${c.WorkingDir}`);
    }
    case 'USER': {
      const user = expandWord(ins.args.join(' ').trim(), lookup, s.escape);
      if (user === '') throw invalid('USER requires exactly one argument');
      c.User = user;
      return nop(`USER ${user}`);
    }
    case 'VOLUME': {
      const vols = listArgs(ins, s);
      if (vols.length === 0 || vols.some((v) => v.trim() === '')) throw invalid('VOLUME specified can not be an empty string');
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of vols) c.Volumes[v] = {};
      return nop(`VOLUME ${JSON.stringify(vols)}`);
    }
    case 'SHELL': {
      if (!ins.json || ins.args.length === 0) throw invalid('SHELL requires the arguments to be in JSON form');
      c.Shell = [...ins.args];
      return nop(`SHELL ${JSON.stringify(c.Shell)}`);
    }
    case 'STOPSIGNAL': {
      const sig = expandWord(ins.args.join(' ').trim(), lookup, s.escape);
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(sig)) throw invalid(`Invalid signal: ${sig}`);
      c.StopSignal = sig;
      return nop(`STOPSIGNAL ${sig}`);
    }
    case 'HEALTHCHECK': {
      c.Healthcheck = healthcheck(ins, s);
      return nop(`HEALTHCHECK ${JSON.stringify(c.Healthcheck)}`);
    }
    case 'ONBUILD': {
      const trigger = ins.args.join(' ').trim();
      const kw = trigger.split(/\s+/, 1)[0]?.toUpperCase() ?? '';
      if (kw === 'ONBUILD') throw invalid('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (kw === 'FROM' || kw === 'MAINTAINER') throw invalid(`${kw} isn't allowed as an ONBUILD trigger`);
      c.OnBuild = [...(c.OnBuild ?? []), trigger];
      return nop(`ONBUILD ${trigger}`);
    }
    default:
      throw invalid(`unknown instruction: ${ins.keyword}`);
  }
}
