/**
 * The Dockerfile parser: text -> stages of instructions, following the Dockerfile reference.
 * Lines: parser directives (`# escape=`, `# syntax=`, `# check=`) only before anything else;
 * whole-line comments; continuation with the escape char, across comment and empty lines inside a
 * continuation as Docker does; heredocs (`<<EOF`, `<<-EOF`, quoted = not expanded, several per line)
 * on RUN/COPY/ADD. Instructions: case-insensitive keywords, leading `--flag=value` words, JSON form
 * where Docker accepts it (invalid JSON falls back to shell form). ARGs before the first FROM are
 * global. Nothing is expanded here: the builder expands per instruction with expandWord(s), because
 * which variables are visible depends on the build. Every failure is a BerthError (invalid) naming
 * the line.
 */
import { invalid, type BerthError } from '../common/errors.js';
import { expandWord, splitWords } from './shell-words.js';

export { expandWord, expandWords, splitWords, type Lookup } from './shell-words.js';

export interface Heredoc {
  name: string;
  /** The lines up to the terminator, each ending in "\n"; leading tabs already stripped when chomp. */
  body: string;
  /** False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): the body is used verbatim. */
  expand: boolean;
  /** `<<-EOF`: leading tabs are stripped from the body lines and the terminator. */
  chomp: boolean;
}

export interface Instruction {
  keyword: string;
  /** JSON form: the array; shell form: [the rest of the line after flags], or [] when there is none. */
  args: string[];
  json: boolean;
  flags: Record<string, string>;
  /** Flags that may be given more than once (RUN --mount, COPY/ADD --exclude), in order. */
  listFlags: Record<string, string[]>;
  heredocs: Heredoc[];
  line: number;
  original: string;
}

export interface Stage {
  index: number;
  name?: string;
  base: string;
  platform?: string;
  line: number;
  /** The FROM instruction itself (for "Step N/M : FROM ..." and history); not in `instructions`. */
  from: Instruction;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  escape: string;
  syntax?: string;
  globalArgs: Instruction[];
  stages: Stage[];
}

const KEYWORDS = new Set([
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);
const JSON_FORM = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'VOLUME', 'COPY', 'ADD']);
const HEREDOC_FORM = new Set(['RUN', 'COPY', 'ADD']);
/** Flags each instruction accepts: 'bool' may be written bare, 'list' may be given several times. */
type FlagKind = 'value' | 'bool' | 'list';
const FLAGS: Record<string, Record<string, FlagKind>> = {
  FROM: { platform: 'value' },
  RUN: { mount: 'list', network: 'value', security: 'value' },
  COPY: { from: 'value', chown: 'value', chmod: 'value', link: 'bool', parents: 'bool', exclude: 'list' },
  ADD: { chown: 'value', chmod: 'value', link: 'bool', 'keep-git-dir': 'bool', checksum: 'value', exclude: 'list' },
  HEALTHCHECK: { interval: 'value', timeout: 'value', 'start-period': 'value', 'start-interval': 'value', retries: 'value' },
};
const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

const parseError = (line: number, msg: string): BerthError => invalid(`Dockerfile parse error line ${line}: ${msg}`, 'DOCKERFILE_PARSE');

const isComment = (line: string): boolean => line.trimStart().startsWith('#');

/** Removes a trailing escape char (plus blanks after it); `more` says the instruction continues. */
function continuation(line: string, escape: string): { text: string; more: boolean } {
  const m = /[ \t]*$/.exec(line);
  const end = m ? m.index : line.length;
  if (end > 0 && line[end - 1] === escape) return { text: line.slice(0, end - 1), more: true };
  return { text: line, more: false };
}

/** Parser directives, read only while every line so far has been one (a shebang first line is allowed). */
class Directives {
  escape = '\\';
  syntax?: string;
  private done = false;
  private readonly seen = new Set<string>();

  read(line: string, lineNo: number): void {
    if (this.done) return;
    if (lineNo === 1 && line.startsWith('#!')) return;
    const m = DIRECTIVE.exec(line);
    const name = m?.[1]?.toLowerCase();
    if (!m || (name !== 'escape' && name !== 'syntax' && name !== 'check')) {
      this.done = true;
      return;
    }
    if (this.seen.has(name)) throw parseError(lineNo, `only one ${name} parser directive can be used`);
    this.seen.add(name);
    const value = m[2] as string;
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') throw parseError(lineNo, `invalid escape token '${value}' does not match \` or \\`);
      this.escape = value;
    } else if (name === 'syntax') this.syntax = value;
  }
}

/** Leading `--name[=value]` words; quotes inside a flag word are removed, `--` alone ends the flags. */
function splitFlags(rest: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let i = 0;
  for (;;) {
    while (i < rest.length && /\s/.test(rest[i] as string)) i++;
    if (!rest.startsWith('--', i)) break;
    let word = '';
    let quote: string | undefined;
    for (; i < rest.length; i++) {
      const ch = rest[i] as string;
      if (quote === undefined && /\s/.test(ch)) break;
      if (quote === undefined && (ch === '"' || ch === "'")) quote = ch;
      else if (ch === quote) quote = undefined;
      else if (ch === '\\' && i + 1 < rest.length) word += rest[++i];
      else if (ch !== '\\') word += ch;
    }
    if (word === '--') break;
    flags.push(word);
  }
  return { flags, rest: rest.slice(i).trim() };
}

function parseFlags(keyword: string, words: string[], line: number): Pick<Instruction, 'flags' | 'listFlags'> {
  const allowed = FLAGS[keyword] ?? {};
  const flags: Record<string, string> = {};
  const listFlags: Record<string, string[]> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    const name = (eq < 0 ? word : word.slice(0, eq)).slice(2);
    const kind = Object.hasOwn(allowed, name) ? allowed[name] : undefined;
    if (kind === undefined) throw parseError(line, `unknown flag: ${name} for ${keyword}`);
    if (eq < 0 && kind !== 'bool') throw parseError(line, `missing a value on flag: --${name}`);
    const value = eq < 0 ? 'true' : word.slice(eq + 1);
    if (kind === 'list') {
      (listFlags[name] ??= []).push(value);
      continue;
    }
    if (Object.hasOwn(flags, name)) throw parseError(line, `duplicate flag specified: --${name}`);
    flags[name] = value;
  }
  return { flags, listFlags };
}

/** JSON form: the array when `rest` is a JSON array of strings, undefined when it is not JSON at all. */
function jsonArgs(rest: string, line: number): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((v): v is string => typeof v === 'string')) {
    throw parseError(line, 'when using JSON array syntax, arrays must be comprised of strings only');
  }
  return parsed;
}

/** Docker's key=value rules for ENV and LABEL: `KEY value` (legacy, one pair) or `k=v k2=v2 ...`. */
function checkNameValues(keyword: string, rest: string, escape: string, line: number): void {
  const words = splitWords(rest, escape);
  const first = words[0];
  if (first === undefined) throw parseError(line, `${keyword} requires at least one argument`);
  if (!first.includes('=')) {
    if (words.length < 2) throw parseError(line, `${keyword} must have two arguments`);
    return;
  }
  for (const word of words) {
    if (!word.includes('=')) throw parseError(line, `Syntax error - can't find = in "${word}". Must be of the form: name=value`);
    if (word.startsWith('=')) throw parseError(line, `${keyword} names can not be blank`);
  }
}

function checkArgs(ins: Instruction, rest: string, escape: string): void {
  const { keyword, args, line } = ins;
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw parseError(line, `${keyword} requires ${what}`);
  };
  const count = ins.json ? args.length : rest === '' ? 0 : rest.split(/\s+/).length;
  switch (keyword) {
    case 'FROM': {
      const words = rest === '' ? [] : rest.split(/\s+/);
      if (words.length !== 1 && !(words.length === 3 && words[1]?.toLowerCase() === 'as')) {
        throw parseError(line, 'FROM requires either one argument, or three: FROM <source> [AS <name>]');
      }
      break;
    }
    case 'ENV':
    case 'LABEL':
      checkNameValues(keyword, rest, escape, line);
      break;
    case 'ARG':
      need(count > 0, 'at least one argument');
      for (const word of splitWords(rest, escape)) if (word.startsWith('=')) throw parseError(line, 'ARG names can not be blank');
      break;
    case 'COPY':
    case 'ADD':
      need(count >= 2, 'at least two arguments, but only one was provided. Destination could not be determined');
      break;
    case 'SHELL':
      if (!ins.json) throw parseError(line, 'SHELL requires the arguments to be in JSON form');
      need(count > 0, 'at least one argument');
      break;
    case 'VOLUME':
      need(count > 0, 'at least one argument');
      if (ins.json && args.some((a) => a.trim() === '')) throw parseError(line, 'VOLUME specified can not be an empty string');
      break;
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      need(count > 0, 'exactly one argument');
      break;
    case 'HEALTHCHECK': {
      const [type = '', ...cmd] = rest.split(/\s+/);
      if (type.toUpperCase() === 'NONE') {
        if (cmd.length > 0 || Object.keys(ins.flags).length > 0) throw parseError(line, 'HEALTHCHECK NONE takes no arguments');
      } else if (type.toUpperCase() === 'CMD') {
        need(cmd.length > 0, 'at least one argument after CMD');
      } else throw parseError(line, `Unknown type "${type}" in HEALTHCHECK (try CMD)`);
      break;
    }
    case 'ONBUILD': {
      need(count > 0, 'at least one argument');
      const trigger = (rest.split(/\s+/)[0] as string).toUpperCase();
      if (trigger === 'ONBUILD') throw parseError(line, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'FROM' || trigger === 'MAINTAINER') throw parseError(line, `${trigger} isn't allowed as an ONBUILD trigger`);
      if (!KEYWORDS.has(trigger)) throw parseError(line, `unknown instruction in ONBUILD: ${trigger}`);
      // The trigger is parsed now so a broken one fails this build, not the one that uses the image.
      parseInstruction(rest, line, escape);
      break;
    }
    case 'CMD':
    case 'ENTRYPOINT':
      // `ENTRYPOINT []` is how an image resets its parent's entrypoint.
      need(ins.json || count > 0, 'at least one argument');
      break;
    default: // RUN, EXPOSE
      need(count > 0, 'at least one argument');
  }
}

/** Parses one continuation-joined instruction line (heredoc bodies are added by the caller). */
function parseInstruction(text: string, line: number, escape: string): Instruction {
  const original = text.trim();
  const m = /^(\S+)\s*([\s\S]*)$/.exec(original);
  const word = m?.[1] ?? '';
  const keyword = word.toUpperCase();
  if (!KEYWORDS.has(keyword)) throw parseError(line, `unknown instruction: ${word}`);
  const split = splitFlags(m?.[2] ?? '');
  const { flags, listFlags } = parseFlags(keyword, split.flags, line);
  const json = JSON_FORM.has(keyword) ? jsonArgs(split.rest, line) : undefined;
  const ins: Instruction = {
    keyword,
    args: json ?? (split.rest === '' ? [] : [split.rest]),
    json: json !== undefined,
    flags,
    listFlags,
    heredocs: [],
    line,
    original,
  };
  checkArgs(ins, split.rest, escape);
  return ins;
}

/** The heredoc delimiters named on an instruction line, in order; undefined name = not a heredoc word. */
function heredocMarkers(rest: string, line: number): Omit<Heredoc, 'body'>[] {
  const markers: Omit<Heredoc, 'body'>[] = [];
  // Docker finds the markers with the default escape char whatever the file's escape directive says.
  for (const word of splitWords(rest, '\\')) {
    const m = HEREDOC_WORD.exec(word);
    const raw = m?.[3];
    if (!m || !raw) continue;
    let name: string;
    try {
      name = expandWord(raw, (n) => `$${n}`);
    } catch (err) {
      throw parseError(line, `bad heredoc delimiter ${raw}: ${(err as Error).message}`);
    }
    if (name === '' || /\s/.test(name)) continue;
    const quotes = (s: string): number => (s.match(/["']/g) ?? []).length;
    markers.push({ name, expand: quotes(raw) === quotes(name), chomp: m[2] === '-' });
  }
  return markers;
}

/** Splits a Dockerfile into instructions and stages; throws BerthError 'invalid' naming the line. */
export function parseDockerfile(text: string): ParsedDockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const directives = new Directives();
  const all: Instruction[] = [];
  let i = 0;
  while (i < lines.length) {
    const start = i + 1;
    const first = (lines[i++] as string).trimStart();
    directives.read(first, start);
    if (isComment(first)) continue;
    const escape = directives.escape;
    let { text: joined, more } = continuation(first, escape);
    if (!more && joined.trim() === '') continue;
    while (more && i < lines.length) {
      const next = lines[i++] as string;
      if (isComment(next) || next.trim() === '') continue; // Docker skips these inside a continuation
      const part = continuation(next, escape);
      joined += part.text;
      more = part.more;
    }
    if (joined.trim() === '') continue;
    const ins = parseInstruction(joined, start, escape);
    if (HEREDOC_FORM.has(ins.keyword) && !ins.json && ins.args[0]?.includes('<<')) {
      for (const marker of heredocMarkers(ins.args[0], start)) {
        let body = '';
        let terminated = false;
        while (i < lines.length) {
          const candidate = lines[i++] as string;
          if ((marker.chomp ? candidate.replace(/^\t+/, '') : candidate) === marker.name) {
            terminated = true;
            break;
          }
          body += (marker.chomp ? candidate.replace(/^\t+/, '') : candidate) + '\n';
        }
        if (!terminated) throw parseError(start, `unterminated heredoc ${marker.name}`);
        ins.heredocs.push({ ...marker, body });
      }
    }
    all.push(ins);
  }
  return { escape: directives.escape, syntax: directives.syntax, ...toStages(all) };
}

function toStages(all: Instruction[]): { globalArgs: Instruction[]; stages: Stage[] } {
  if (all.length === 0) throw invalid('the Dockerfile cannot be empty', 'DOCKERFILE_PARSE');
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const words = (ins.args[0] as string).split(/\s+/);
      const name = words[2]?.toLowerCase();
      if (name !== undefined) {
        if (!STAGE_NAME.test(name)) {
          throw parseError(ins.line, `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
        }
        if (names.has(name)) throw parseError(ins.line, `duplicate stage name "${name}"`);
        names.add(name);
      }
      stages.push({ index: stages.length, name, base: words[0] as string, platform: ins.flags.platform, line: ins.line, from: ins, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage) stage.instructions.push(ins);
    else if (ins.keyword === 'ARG') globalArgs.push(ins);
    else throw parseError(ins.line, `no build stage in current context: ${ins.keyword} before the first FROM`);
  }
  if (stages.length === 0) throw invalid('the Dockerfile has no FROM: no stage to build', 'DOCKERFILE_PARSE');
  return { globalArgs, stages };
}
