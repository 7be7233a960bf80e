/**
 * Docker's word rules for Dockerfile arguments: how a shell-form argument list splits into words,
 * and how one word is expanded ($VAR, ${VAR}, ${VAR:-word} and friends, quotes, the escape char).
 * Docker applies these itself (not a shell) to ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL,
 * USER, VOLUME, WORKDIR and ARG, so the builder must reproduce them exactly: single quotes are
 * literal, double quotes still expand `$`, the escape char (`\` or the `# escape=` one) makes the
 * next char literal, and an unset variable differs from an empty one only for the forms without `:`.
 */
import { invalid } from '../common/errors.js';

export type Lookup = (name: string) => string | undefined;

/** A lexing failure; turned into a BerthError (invalid) that names the whole word. */
class WordError extends Error {}

const isSpace = (ch: string): boolean => /\s/u.test(ch);
const isDigit = (ch: string): boolean => /\p{Nd}/u.test(ch);
const isNameChar = (ch: string): boolean => ch === '_' || /[\p{L}\p{Nd}]/u.test(ch);
// POSIX special parameters ($@, $?, ...): read as one-char names, which Docker never sets.
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

/** One pass over one word; `chars` are code points so multi-byte characters stay whole. */
class WordExpander {
  private pos = 0;
  private readonly chars: string[];

  constructor(
    text: string,
    private readonly lookup: Lookup,
    private readonly escape: string,
  ) {
    this.chars = Array.from(text);
  }

  expand(): string {
    return this.until(undefined, false);
  }

  /** Reads up to `stop` (consumed) or the end; rawEscapes keeps escape chars for pattern operators. */
  private until(stop: string | undefined, rawEscapes: boolean): string {
    let out = '';
    while (this.pos < this.chars.length) {
      const ch = this.chars[this.pos] as string;
      if (ch === stop) {
        this.pos++;
        return out;
      }
      if (ch === "'") out += this.singleQuoted();
      else if (ch === '"') out += this.doubleQuoted(rawEscapes);
      else if (ch === '$') out += this.dollar();
      else {
        this.pos++;
        if (ch === this.escape) {
          if (rawEscapes) out += ch;
          const next = this.chars[this.pos];
          if (next === undefined) break; // a trailing escape char is dropped
          out += next;
          this.pos++;
        } else out += ch;
      }
    }
    if (stop !== undefined) throw new WordError(`unexpected end of statement while looking for matching ${stop}`);
    return out;
  }

  private singleQuoted(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.chars[this.pos++];
      if (ch === undefined) throw new WordError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return out;
      out += ch;
    }
  }

  /** Inside double quotes only `"`, `$` and the escape char itself can be escaped; other escapes stay. */
  private doubleQuoted(rawEscapes: boolean): string {
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.chars[this.pos];
      if (ch === undefined) throw new WordError('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      this.pos++;
      if (ch === this.escape) {
        const next = this.chars[this.pos];
        if (next === '"' || next === '$' || next === this.escape) {
          if (rawEscapes) out += ch;
          out += next;
          this.pos++;
          continue;
        }
        if (next === undefined && !rawEscapes) continue;
      }
      out += ch;
    }
  }

  private name(): string {
    const first = this.chars[this.pos];
    if (first === undefined) return '';
    if (isDigit(first)) {
      let digits = '';
      while (this.pos < this.chars.length && isDigit(this.chars[this.pos] as string)) digits += this.chars[this.pos++];
      return digits;
    }
    if (SPECIAL_PARAMS.has(first)) {
      this.pos++;
      return first;
    }
    let name = '';
    while (this.pos < this.chars.length && isNameChar(this.chars[this.pos] as string)) name += this.chars[this.pos++];
    return name;
  }

  private dollar(): string {
    this.pos++;
    if (this.chars[this.pos] !== '{') {
      const name = this.name();
      return name === '' ? '$' : (this.lookup(name) ?? '');
    }
    this.pos++;
    const first = this.chars[this.pos];
    if (first === undefined) throw new WordError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new WordError('syntax error: bad substitution');
    const name = this.name();
    let op = this.chars[this.pos++];
    if (op === undefined) throw new WordError("syntax error: missing '}'");
    if (op === '}') return this.lookup(name) ?? '';
    const colon = op === ':';
    if (colon) {
      op = this.chars[this.pos++];
      if (op === undefined) throw new WordError("syntax error: missing '}'");
    }
    const modifier = (colon ? ':' : '') + op;
    const value = this.lookup(name);
    const unset = value === undefined || (colon && value === '');
    switch (op) {
      case '-':
      case '+':
      case '?': {
        const word = this.operand('}', false);
        if (op === '-') return unset ? word : (value as string);
        if (op === '+') return unset ? '' : word;
        if (!unset) return value as string;
        const what = value === undefined ? 'is not allowed to be unset' : 'is not allowed to be empty';
        throw new WordError(`${name}: ${word === '' ? what : word}`);
      }
      case '#':
      case '%': {
        if (colon) break;
        let pattern = this.operand('}', true);
        const greedy = pattern.startsWith(op);
        if (greedy) pattern = pattern.slice(1);
        return trimByPattern(value ?? '', pattern, op === '#' ? 'prefix' : 'suffix', greedy, this.escape);
      }
      case '/': {
        if (colon) break;
        const all = this.chars[this.pos] === '/';
        if (all) this.pos++;
        const pattern = this.operand('/', true);
        const replacement = this.operand('}', true);
        return replaceByPattern(value ?? '', pattern, replacement, all, this.escape);
      }
    }
    throw new WordError(`unsupported modifier (${modifier}) in substitution`);
  }

  private operand(stop: string, rawEscapes: boolean): string {
    try {
      return this.until(stop, rawEscapes);
    } catch (err) {
      if (this.pos >= this.chars.length) throw new WordError("syntax error: missing '}'");
      throw err;
    }
  }
}

/** A shell glob (`*`, `?`, `[...]`, escapes) as the source of a JS regular expression. */
function globSource(pattern: string, escape: string, greedy: boolean): string {
  const chars = Array.from(pattern);
  const quote = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  let src = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === escape && i + 1 < chars.length) src += quote(chars[++i] as string);
    else if (ch === '*') src += greedy ? '[\\s\\S]*' : '[\\s\\S]*?';
    else if (ch === '?') src += '[\\s\\S]';
    else if (ch === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close < 0) {
        src += '\\[';
        continue;
      }
      let body = chars.slice(i + 1, close);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      src += `[${negate ? '^' : ''}${body.map((c) => (c === '-' ? c : quote(c))).join('')}]`;
      i = close;
    } else src += quote(ch);
  }
  return src;
}

function compile(source: string, flags = 'u'): RegExp {
  try {
    return new RegExp(source, flags);
  } catch {
    throw new WordError('invalid pattern in substitution');
  }
}

/** ${VAR#pat} ${VAR##pat} ${VAR%pat} ${VAR%%pat}: drop the shortest (or longest) matching prefix/suffix. */
function trimByPattern(value: string, pattern: string, side: 'prefix' | 'suffix', greedy: boolean, escape: string): string {
  if (pattern === '') return value;
  const whole = compile(`^(?:${globSource(pattern, escape, true)})$`);
  const cuts = Array.from({ length: value.length + 1 }, (_, i) => i);
  // Shortest prefix first unless greedy; for suffixes the shortest starts at the end.
  const order = side === 'prefix' ? (greedy ? cuts.reverse() : cuts) : greedy ? cuts : cuts.reverse();
  for (const cut of order) {
    if (side === 'prefix' && whole.test(value.slice(0, cut))) return value.slice(cut);
    if (side === 'suffix' && whole.test(value.slice(cut))) return value.slice(0, cut);
  }
  return value;
}

/** ${VAR/pat/rep} replaces the first match, ${VAR//pat/rep} every match; the replacement is literal. */
function replaceByPattern(value: string, pattern: string, replacement: string, all: boolean, escape: string): string {
  if (pattern === '') return value;
  const re = compile(globSource(pattern, escape, true), all ? 'gu' : 'u');
  return value.replace(re, () => replacement);
}

/** Expands one word; throws BerthError (invalid) on a syntax error or a `${VAR?message}` failure. */
export function expandWord(word: string, lookup: Lookup, escape = '\\'): string {
  try {
    return new WordExpander(word, lookup, escape).expand();
  } catch (err) {
    if (err instanceof WordError) throw invalid(`failed to process "${word}": ${err.message}`, 'DOCKERFILE_EXPANSION');
    throw err;
  }
}

/**
 * Splits a shell-form argument list into raw words as Docker does before expanding them:
 * whitespace separates words except inside quotes; quotes and escapes are kept in the word
 * (the expansion removes them); a single-quoted span cannot escape anything.
 */
export function splitWords(text: string, escape = '\\'): string[] {
  const chars = Array.from(text);
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (quote === undefined && isSpace(ch)) {
      if (word !== '') words.push(word);
      word = '';
      continue;
    }
    if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) break; // an escape char at the very end is dropped
      word += ch + chars[++i];
      continue;
    }
    if (quote === undefined && (ch === "'" || ch === '"')) quote = ch;
    else if (ch === quote) quote = undefined;
    word += ch;
  }
  if (word !== '') words.push(word);
  return words;
}

/** Splits then expands each word (ENV/LABEL key=value pairs, COPY sources, EXPOSE ports...). */
export function expandWords(text: string, lookup: Lookup, escape = '\\'): string[] {
  return splitWords(text, escape).map((w) => expandWord(w, lookup, escape));
}
