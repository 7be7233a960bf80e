/**
 * .dockerignore: which files of a build context the build must not see. Docker's rules
 * (the patternmatcher the CLI and the classic builder share): one pattern a line, `#` comments
 * only at the start of a line, patterns cleaned like paths (a leading `/` means the context root,
 * so it is dropped); `*` and `?` never cross `/`, `**` crosses any number of directories, `[...]`
 * is a character class, `\` escapes; `!pattern` re-includes; the last matching pattern wins; and
 * a pattern that matches a parent directory matches everything below it.
 */
import { posix } from 'node:path';
import { invalid } from '../common/errors.js';

/** The patterns of a .dockerignore file, cleaned, exceptions kept as `!pattern`. */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  for (const line of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const exception = pattern.startsWith('!');
    if (exception) pattern = pattern.slice(1).trim();
    if (pattern !== '') {
      pattern = posix.normalize(pattern).replace(/(.)\/+$/, '$1');
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    patterns.push(exception ? `!${pattern}` : pattern);
  }
  return patterns;
}

interface Pattern {
  exception: boolean;
  test: (path: string) => boolean;
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

/**
 * Validates a `[...]` class the way Go's filepath.Match does (non-empty, ranges in order, no bare
 * `-` or `]`, closed) and returns it as a JS class plus the index after its `]`.
 */
function bracket(chars: string[], start: number, pattern: string): { source: string; next: number } {
  const bad = (): Error => invalid(`invalid .dockerignore pattern "${pattern}": syntax error in pattern`, 'DOCKERIGNORE_PATTERN');
  let i = start + 1;
  let source = '[';
  if (chars[i] === '^') {
    source += '^';
    i++;
  }
  const one = (): string => {
    let ch = chars[i++];
    if (ch === '\\') ch = chars[i++];
    if (ch === undefined || ch === '-' || ch === ']') throw bad();
    return ch;
  };
  let first = true;
  for (;;) {
    if (chars[i] === ']' && !first) return { source: `${source}]`, next: i + 1 };
    const lo = one();
    if (chars[i] === '-') {
      i++;
      const hi = one();
      if ((hi.codePointAt(0) as number) < (lo.codePointAt(0) as number)) throw bad();
      source += `${lo.replace(REGEX_SPECIAL, '\\$&')}-${hi.replace(REGEX_SPECIAL, '\\$&')}`;
    } else source += lo.replace(REGEX_SPECIAL, '\\$&');
    first = false;
  }
}

/**
 * One pattern as a test. Docker uses plain string tests for three shapes and a regular expression
 * otherwise; the shapes are kept because they differ from the regexp at the edges (`**foo` is
 * "ends with foo", `foo/**` is "starts with foo/").
 */
function compilePattern(pattern: string): (path: string) => boolean {
  const chars = Array.from(pattern);
  let kind: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  let source = '^';
  for (let i = 0; i < chars.length; ) {
    const ch = chars[i] as string;
    if (ch === '*' && chars[i + 1] === '*') {
      const atStart = i === 0;
      i += 2;
      if (chars[i] === '/') i++;
      if (i >= chars.length) {
        if (kind === 'exact') kind = 'prefix';
        else {
          source += '[\\s\\S]*';
          kind = 'regexp';
        }
      } else {
        source += '(?:[\\s\\S]*/)?';
        kind = 'regexp';
      }
      if (atStart) kind = 'suffix';
    } else if (ch === '*' || ch === '?') {
      source += ch === '*' ? '[^/]*' : '[^/]';
      kind = 'regexp';
      i++;
    } else if (ch === '[') {
      const cls = bracket(chars, i, pattern);
      source += cls.source;
      kind = 'regexp';
      i = cls.next;
    } else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === undefined) throw invalid(`invalid .dockerignore pattern "${pattern}": syntax error in pattern`, 'DOCKERIGNORE_PATTERN');
      source += next.replace(REGEX_SPECIAL, '\\$&');
      kind = 'regexp'; // the pattern text differs from the path it matches
      i += 2;
    } else {
      source += ch.replace(REGEX_SPECIAL, '\\$&');
      i++;
    }
  }
  switch (kind) {
    case 'exact':
      return (path) => path === pattern;
    case 'prefix': {
      const prefix = pattern.slice(0, -2);
      return (path) => path.startsWith(prefix);
    }
    case 'suffix': {
      const suffix = pattern.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp': {
      const re = new RegExp(`${source}$`, 'u');
      return (path) => re.test(path);
    }
  }
}

/**
 * A predicate: is this context path (relative, `/`-separated) excluded? Throws BerthError (invalid)
 * for a malformed pattern or a bare `!`.
 */
export function ignoreMatcher(patterns: string[]): (relPath: string) => boolean {
  const compiled: Pattern[] = [];
  for (const raw of patterns) {
    let p = raw.trim();
    if (p === '') continue;
    const exception = p.startsWith('!');
    if (exception) {
      p = p.slice(1);
      if (p === '') throw invalid('illegal exclusion pattern: "!"', 'DOCKERIGNORE_PATTERN');
    }
    p = posix.normalize(p).replace(/(.)\/+$/, '$1');
    compiled.push({ exception, test: compilePattern(p) });
  }
  return (relPath) => {
    const path = posix.normalize(relPath).replace(/(.)\/+$/, '$1');
    const parents = path.split('/').slice(0, -1);
    let excluded = false;
    for (const pattern of compiled) {
      // An exclusion only matters while the path is excluded, an inclusion only while it is not.
      if (pattern.exception !== excluded) continue;
      let match = pattern.test(path);
      for (let i = 1; !match && i <= parents.length; i++) match = pattern.test(parents.slice(0, i).join('/'));
      if (match) excluded = !pattern.exception;
    }
    return excluded;
  };
}
