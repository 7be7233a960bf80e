// Unit tests of the Dockerfile parser, Docker's word expansion and the .dockerignore matcher
// (engine/builder). Expected values follow the Dockerfile reference and Docker's own behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandWord, expandWords, parseDockerfile, type Instruction } from '../engine/builder/dockerfile.js';
import { ignoreMatcher, parseDockerignore } from '../engine/builder/dockerignore.js';
import { isBerthError } from '../engine/common/errors.js';

const only = (text: string): Instruction => {
  const df = parseDockerfile(`FROM scratch\n${text}`);
  const ins = df.stages[0]?.instructions;
  assert.equal(ins?.length, 1, JSON.stringify(ins));
  return ins[0] as Instruction;
};

/** Asserts a BerthError 'invalid' whose message matches. */
const fails = (fn: () => unknown, message: RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), `not a BerthError: ${String(err)}`);
    assert.equal(err.kind, 'invalid');
    assert.match(err.message, message);
    return true;
  });
};

test('every instruction parses, keywords case-insensitive, shell and JSON forms', () => {
  const df = parseDockerfile(
    [
      'from busybox:1.36',
      'run echo hi',
      'RUN ["sh", "-c", "echo hi"]',
      'CMD ["sh"]',
      'cmd echo shell',
      'ENTRYPOINT ["/bin/x", "a b"]',
      'ENV A=1 B="two words"',
      'ENV OLD value with spaces',
      'ARG V=1',
      'ARG W',
      'LABEL a=b "c d"=e',
      'EXPOSE 80/tcp 443',
      'WORKDIR /app dir',
      'USER 1000:1000',
      'VOLUME /data /logs',
      'VOLUME ["/v"]',
      'COPY a b /dst/',
      'COPY ["a b", "/dst/"]',
      'ADD http://example.com/x.tgz /x',
      'SHELL ["/bin/bash", "-c"]',
      'STOPSIGNAL SIGTERM',
      'HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --start-interval=1s --retries=3 CMD wget -q localhost',
      'HEALTHCHECK NONE',
      'ONBUILD RUN echo later',
      'MAINTAINER someone',
    ].join('\n'),
  );
  const ins = df.stages[0]?.instructions ?? [];
  assert.deepEqual(
    ins.map((i) => [i.keyword, i.json, i.args]),
    [
      ['RUN', false, ['echo hi']],
      ['RUN', true, ['sh', '-c', 'echo hi']],
      ['CMD', true, ['sh']],
      ['CMD', false, ['echo shell']],
      ['ENTRYPOINT', true, ['/bin/x', 'a b']],
      ['ENV', false, ['A=1 B="two words"']],
      ['ENV', false, ['OLD value with spaces']],
      ['ARG', false, ['V=1']],
      ['ARG', false, ['W']],
      ['LABEL', false, ['a=b "c d"=e']],
      ['EXPOSE', false, ['80/tcp 443']],
      ['WORKDIR', false, ['/app dir']],
      ['USER', false, ['1000:1000']],
      ['VOLUME', false, ['/data /logs']],
      ['VOLUME', true, ['/v']],
      ['COPY', false, ['a b /dst/']],
      ['COPY', true, ['a b', '/dst/']],
      ['ADD', false, ['http://example.com/x.tgz /x']],
      ['SHELL', true, ['/bin/bash', '-c']],
      ['STOPSIGNAL', false, ['SIGTERM']],
      ['HEALTHCHECK', false, ['CMD wget -q localhost']],
      ['HEALTHCHECK', false, ['NONE']],
      ['ONBUILD', false, ['RUN echo later']],
      ['MAINTAINER', false, ['someone']],
    ],
  );
  assert.deepEqual(ins[20]?.flags, { interval: '5s', timeout: '3s', 'start-period': '1s', 'start-interval': '1s', retries: '3' });
  assert.equal(df.stages[0]?.from.original, 'from busybox:1.36');
  assert.equal(df.stages[0]?.base, 'busybox:1.36');
  assert.deepEqual(
    ins.map((i) => i.line),
    Array.from({ length: 24 }, (_, n) => n + 2),
  );
});

test('JSON form: invalid JSON falls back to shell form, non-string arrays are errors, only where Docker allows JSON', () => {
  assert.deepEqual(only('CMD [bad json').args, ['[bad json']);
  assert.equal(only('CMD [bad json').json, false);
  assert.deepEqual(only('CMD ["a",]').args, ['["a",]']);
  assert.deepEqual(only('CMD ["a"] trailing').args, ['["a"] trailing']);
  assert.deepEqual(only("RUN ['single']").args, ["['single']"]);
  assert.deepEqual(only('ENTRYPOINT []').args, []);
  assert.equal(only('ENTRYPOINT []').json, true);
  fails(() => only('CMD ["a", 1]'), /line 2: when using JSON array syntax, arrays must be comprised of strings only/);
  // Instructions without a JSON form keep the text.
  assert.deepEqual(only('LABEL ["x"]=y').args, ['["x"]=y']);
  assert.equal(only('WORKDIR ["/x"]').json, false);
});

test('comments, blank lines, continuations (also across comments and empty lines), escape directive', () => {
  const df = parseDockerfile(
    [
      '# a comment',
      '',
      '   # indented comment',
      'FROM scratch',
      'RUN echo a \\',
      '  # comment inside a continuation',
      '',
      '    b \\  ',
      'c',
      'RUN echo # not a comment',
      '\\',
      'RUN echo joined',
      'RUN echo end \\',
    ].join('\n'),
  );
  const ins = df.stages[0]?.instructions ?? [];
  assert.deepEqual(
    ins.map((i) => [i.line, i.args[0], i.original]),
    [
      [5, 'echo a     b c', 'RUN echo a     b c'],
      [10, 'echo # not a comment', 'RUN echo # not a comment'],
      [11, 'echo joined', 'RUN echo joined'],
      [13, 'echo end', 'RUN echo end'],
    ],
  );

  const bt = parseDockerfile(['# escape=`', 'FROM scratch', 'RUN dir c:\\ `', '  && echo hi', 'COPY a\\b `', ' c'].join('\n'));
  assert.equal(bt.escape, '`');
  assert.deepEqual(bt.stages[0]?.instructions.map((i) => i.args[0]), ['dir c:\\   && echo hi', 'a\\b  c']);
});

test('parser directives only at the very top, once each, BOM and shebang tolerated', () => {
  const df = parseDockerfile('\uFEFF# syntax=docker/dockerfile:1.7\n#  ESCAPE = `\nFROM scratch\n');
  assert.equal(df.syntax, 'docker/dockerfile:1.7');
  assert.equal(df.escape, '`');
  assert.equal(parseDockerfile('#!/usr/bin/env build\n# escape=`\nFROM scratch').escape, '`');
  // After a comment, a blank line or an instruction, a directive is a plain comment.
  assert.equal(parseDockerfile('# hello\n# escape=`\nFROM scratch').escape, '\\');
  assert.equal(parseDockerfile('\n# escape=`\nFROM scratch').escape, '\\');
  assert.equal(parseDockerfile('FROM scratch\n# escape=`\nRUN x').escape, '\\');
  // An unknown directive ends the directives too.
  assert.equal(parseDockerfile('# unknown=x\n# escape=`\nFROM scratch').escape, '\\');
  fails(() => parseDockerfile('# escape=`\n# escape=\\\nFROM scratch'), /line 2: only one escape parser directive can be used/);
  fails(() => parseDockerfile('# escape=x\nFROM scratch'), /line 1: invalid escape token 'x'/);
});

test('flags: before the arguments only, quoted values, bare booleans, unknown/duplicate/missing values rejected', () => {
  const copy = only('COPY --from=build --chown="app:app" --chmod=755 --link src/ /dst/');
  assert.deepEqual(copy.flags, { from: 'build', chown: 'app:app', chmod: '755', link: 'true' });
  assert.deepEqual(copy.args, ['src/ /dst/']);
  assert.deepEqual(only('ADD --keep-git-dir=true --checksum=sha256:abc x /y').flags, { 'keep-git-dir': 'true', checksum: 'sha256:abc' });
  assert.deepEqual(only('RUN --network=none echo --from=x').flags, { network: 'none' });
  assert.deepEqual(only('RUN --network=none echo --from=x').args, ['echo --from=x']);
  assert.deepEqual(only('COPY -- --weird /dst').args, ['--weird /dst']);
  assert.deepEqual(only('COPY ["a", "b"]').flags, {});
  const from = parseDockerfile('FROM --platform=linux/arm64 alpine AS b');
  assert.equal(from.stages[0]?.platform, 'linux/arm64');
  fails(() => only('COPY --bogus=1 a b'), /line 2: unknown flag: bogus/);
  fails(() => only('ENV --x=1 A=b'), /line 2: unknown flag: x/);
  fails(() => only('COPY --from=a --from=b x y'), /line 2: duplicate flag specified: --from/);
  fails(() => only('COPY --from x y'), /line 2: missing a value on flag: --from/);
});

test('repeatable flags: RUN --mount and COPY/ADD --exclude collect every value in order', () => {
  const run = only('RUN --mount=type=cache,target=/c --network=none --mount=type=bind,source=a,target=/a echo hi');
  assert.deepEqual(run.listFlags, { mount: ['type=cache,target=/c', 'type=bind,source=a,target=/a'] });
  assert.deepEqual(run.flags, { network: 'none' });
  assert.deepEqual(run.args, ['echo hi']);
  assert.deepEqual(only('COPY --exclude=*.log --exclude="tmp/**" . /all/').listFlags, { exclude: ['*.log', 'tmp/**'] });
  assert.deepEqual(only('ADD --exclude=x a /b/').listFlags, { exclude: ['x'] });
  assert.deepEqual(only('COPY --parents --link a/b.txt /d/').flags, { parents: 'true', link: 'true' });
  fails(() => only('RUN --mount echo'), /line 2: missing a value on flag: --mount/);
  fails(() => only('RUN --network=a --network=b echo'), /duplicate flag specified: --network/);
});

test('stages: ARG before FROM is global, AS names (lowercased), indexes, platform', () => {
  const df = parseDockerfile(
    ['ARG BASE=busybox', 'ARG TAG', 'FROM ${BASE}:${TAG} AS Builder', 'RUN make', 'FROM --platform=$BUILDPLATFORM scratch as final', 'COPY --from=builder /out /', 'FROM builder'].join(
      '\n',
    ),
  );
  assert.deepEqual(
    df.globalArgs.map((a) => a.args[0]),
    ['BASE=busybox', 'TAG'],
  );
  assert.deepEqual(
    df.stages.map((s) => [s.index, s.name, s.base, s.platform, s.line, s.instructions.length]),
    [
      [0, 'builder', '${BASE}:${TAG}', undefined, 3, 1],
      [1, 'final', 'scratch', '$BUILDPLATFORM', 5, 1],
      [2, undefined, 'builder', undefined, 7, 0],
    ],
  );
  fails(() => parseDockerfile('FROM a AS x\nFROM b AS X'), /line 2: duplicate stage name "x"/);
  fails(() => parseDockerfile('FROM a AS 1x'), /line 1: invalid name for build stage/);
  fails(() => parseDockerfile('FROM a AS x/y'), /line 1: invalid name for build stage/);
  fails(() => parseDockerfile('FROM a b'), /line 1: FROM requires either one argument, or three/);
  fails(() => parseDockerfile('FROM a IS b'), /line 1: FROM requires/);
  fails(() => parseDockerfile('ARG X\nRUN echo\nFROM a'), /line 2: no build stage in current context/);
  fails(() => parseDockerfile(''), /cannot be empty/);
  fails(() => parseDockerfile('# only a comment\n\n'), /cannot be empty/);
  fails(() => parseDockerfile('ARG X'), /no FROM/);
});

test('argument errors name the line', () => {
  const cases: [string, RegExp][] = [
    ['RUN', /line 2: RUN requires at least one argument/],
    ['CMD', /line 2: CMD requires at least one argument/],
    ['EXPOSE', /line 2: EXPOSE requires at least one argument/],
    ['COPY onlyone', /line 2: COPY requires at least two arguments/],
    ['ADD ["a"]', /line 2: ADD requires at least two arguments/],
    ['ENV', /line 2: ENV requires at least one argument/],
    ['ENV KEY', /line 2: ENV must have two arguments/],
    ['ENV a=1 b', /line 2: Syntax error - can't find = in "b"/],
    ['ENV =1', /line 2: ENV names can not be blank/],
    ['LABEL a=1 b', /line 2: Syntax error/],
    ['ARG', /line 2: ARG requires at least one argument/],
    ['ARG =x', /line 2: ARG names can not be blank/],
    ['WORKDIR', /line 2: WORKDIR requires exactly one argument/],
    ['USER', /line 2: USER requires exactly one argument/],
    ['STOPSIGNAL', /line 2: STOPSIGNAL requires exactly one argument/],
    ['VOLUME', /line 2: VOLUME requires at least one argument/],
    ['VOLUME ["/a", ""]', /line 2: VOLUME specified can not be an empty string/],
    ['SHELL /bin/sh -c', /line 2: SHELL requires the arguments to be in JSON form/],
    ['SHELL []', /line 2: SHELL requires at least one argument/],
    ['HEALTHCHECK', /line 2: Unknown type "" in HEALTHCHECK/],
    ['HEALTHCHECK RUN x', /line 2: Unknown type "RUN" in HEALTHCHECK/],
    ['HEALTHCHECK NONE x', /line 2: HEALTHCHECK NONE takes no arguments/],
    ['HEALTHCHECK --retries=1 NONE', /line 2: HEALTHCHECK NONE takes no arguments/],
    ['HEALTHCHECK CMD', /line 2: HEALTHCHECK requires at least one argument after CMD/],
    ['ONBUILD', /line 2: ONBUILD requires at least one argument/],
    ['ONBUILD ONBUILD RUN x', /line 2: Chaining ONBUILD/],
    ['ONBUILD FROM x', /line 2: FROM isn't allowed as an ONBUILD trigger/],
    ['ONBUILD BOGUS x', /line 2: unknown instruction in ONBUILD: BOGUS/],
    ['ONBUILD COPY onlyone', /line 2: COPY requires at least two arguments/],
    ['FOO bar', /line 2: unknown instruction: FOO/],
    ['frobnicate', /line 2: unknown instruction: frobnicate/],
  ];
  for (const [text, message] of cases) fails(() => only(text), message);
  // The line is where the instruction starts, also after continuations and comments.
  fails(() => parseDockerfile('FROM a\n# c\nRUN ok \\\n  more\n\nBAD x'), /^Dockerfile parse error line 6: unknown instruction: BAD$/);
});

test('heredocs: several per line, <<- strips tabs, quoted delimiters disable expansion, unterminated is an error', () => {
  const run = only('RUN <<EOF\necho $HOME\n\techo tab\nEOF');
  assert.deepEqual(run.args, ['<<EOF']);
  assert.deepEqual(run.heredocs, [{ name: 'EOF', body: 'echo $HOME\n\techo tab\n', expand: true, chomp: false }]);

  const copy = only('COPY --chmod=600 <<A <<-"B" /dst/\na $X\nA\n\tb\n\t\tc\n\tB');
  assert.deepEqual(copy.flags, { chmod: '600' });
  assert.deepEqual(copy.args, ['<<A <<-"B" /dst/']);
  assert.deepEqual(copy.heredocs, [
    { name: 'A', body: 'a $X\n', expand: true, chomp: false },
    { name: 'B', body: 'b\nc\n', expand: false, chomp: true },
  ]);
  assert.equal(only("ADD <<'X' /f\nbody\nX").heredocs[0]?.expand, false);
  assert.equal(only('RUN python3 2<<P\nprint(1)\nP').heredocs[0]?.name, 'P');

  // The line after the heredoc is an instruction again; line numbers keep counting.
  const df = parseDockerfile('FROM a\nRUN cat <<EOF\nRUN not an instruction\nEOF\nRUN after');
  assert.deepEqual(
    df.stages[0]?.instructions.map((i) => [i.line, i.args[0]]),
    [
      [2, 'cat <<EOF'],
      [5, 'after'],
    ],
  );
  // No heredocs for JSON form or other instructions, nor for `<<` inside a word.
  assert.deepEqual(only('RUN ["cat", "<<EOF"]').heredocs, []);
  assert.deepEqual(only('CMD cat <<EOF').heredocs, []);
  assert.deepEqual(only('RUN echo a<<b').heredocs, []);
  assert.deepEqual(only('RUN echo "<<EOF"').heredocs, []);
  // The terminator must be the whole line.
  fails(() => parseDockerfile('FROM a\nRUN <<EOF\n EOF\nEOF \n'), /line 2: unterminated heredoc EOF/);
  fails(() => parseDockerfile('FROM a\nCOPY <<A <<B /x\nA\n'), /line 2: unterminated heredoc B/);
});

test('ONBUILD keeps its trigger text', () => {
  const ins = only('ONBUILD COPY --chown=1 . /app');
  assert.deepEqual([ins.args, ins.flags, ins.original], [['COPY --chown=1 . /app'], {}, 'ONBUILD COPY --chown=1 . /app']);
});

const env: Record<string, string> = { X: 'x', EMPTY: '', SP: 'a b', PATHV: '/usr/local/bin/tool.tar.gz' };
const lookup = (name: string): string | undefined => env[name];

test('word expansion: variables, defaults, unset vs empty, quotes and escapes', () => {
  const cases: [string, string][] = [
    ['$X', 'x'],
    ['${X}', 'x'],
    ['pre${X}post', 'prexpost'],
    ['$Xy', ''],
    ['$UNSET', ''],
    ['$', '$'],
    ['a$', 'a$'],
    ['$/x', '$/x'],
    ['$1', ''],
    ['${X:-d}', 'x'],
    ['${EMPTY:-d}', 'd'],
    ['${UNSET:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${UNSET-d}', 'd'],
    ['${X:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-$X}', 'x'],
    ['${UNSET:-${EMPTY:-deep}}', 'deep'],
    ['${UNSET:-"a b"}', 'a b'],
    ['${X:?must}', 'x'],
    ["'$X'", '$X'],
    ["'a\\b'", 'a\\b'],
    ['"$X"', 'x'],
    ['"${SP}"', 'a b'],
    ['"it\'s"', "it's"],
    ['\\$X', '$X'],
    ['\\\\', '\\'],
    ['a\\ b', 'a b'],
    ['"a\\"b"', 'a"b'],
    ['"a\\$X"', 'a$X'],
    ['"a\\nb"', 'a\\nb'],
    ['"a\\\\b"', 'a\\b'],
    ['a\\', 'a'],
    ['${PATHV##*/}', 'tool.tar.gz'],
    ['${PATHV#*/}', 'usr/local/bin/tool.tar.gz'],
    ['${PATHV%.*}', '/usr/local/bin/tool.tar'],
    ['${PATHV%%.*}', '/usr/local/bin/tool'],
    ['${PATHV/o/0}', '/usr/l0cal/bin/tool.tar.gz'],
    ['${PATHV//o/0}', '/usr/l0cal/bin/t00l.tar.gz'],
    ['${SP#a }', 'b'],
    ['${PATHV%-*}', '/usr/local/bin/tool.tar.gz'],
    ['${PATHV#/usr/[a-m]*/}', 'bin/tool.tar.gz'],
    ['${PATHV#/usr/[!n-z]*/}', 'bin/tool.tar.gz'],
    ['${PATHV#/usr/[!a-m]*/}', '/usr/local/bin/tool.tar.gz'],
    ['${PATHV/\\./-}', '/usr/local/bin/tool-tar.gz'],
    ['héllo ${X}é', 'héllo xé'],
  ];
  for (const [word, want] of cases) assert.equal(expandWord(word, lookup), want, word);
  // The escape directive changes the escape char; `\` is then an ordinary char (Windows paths).
  assert.equal(expandWord('c:\\dir\\$X', lookup, '`'), 'c:\\dir\\x');
  assert.equal(expandWord('`$X', lookup, '`'), '$X');
});

test('word expansion errors are BerthErrors naming the word', () => {
  const cases: [string, RegExp][] = [
    ['${', /failed to process "\$\{": syntax error: missing '}'/],
    ['${X', /missing '}'/],
    ['${X:-', /missing '}'/],
    ['${X:-"abc}', /missing '}'/],
    ['${}', /bad substitution/],
    ['${:x}', /bad substitution/],
    ['"open', /matching double-quote/],
    ["'open", /matching single-quote/],
    ['${UNSET?}', /UNSET: is not allowed to be unset/],
    ['${EMPTY:?}', /EMPTY: is not allowed to be empty/],
    ['${UNSET:?custom message}', /UNSET: custom message/],
    ['${X:#x}', /unsupported modifier \(:#\)/],
    ['${X!}', /unsupported modifier \(!\)/],
  ];
  for (const [word, message] of cases) fails(() => expandWord(word, lookup), message);
});

test('expandWords splits on unquoted whitespace first, so an expanded value is never re-split', () => {
  assert.deepEqual(expandWords('A=$SP B="x y" C=\'$X\' D=a\\ b', lookup), ['A=a b', 'B=x y', 'C=$X', 'D=a b']);
  assert.deepEqual(expandWords('  src1   "dir with space"/*  $X  ', lookup), ['src1', 'dir with space/*', 'x']);
  assert.deepEqual(expandWords('', lookup), []);
  assert.deepEqual(expandWords('""', lookup), ['']);
  fails(() => expandWords('a "b', lookup), /matching double-quote/);
});

test('.dockerignore: parsing cleans patterns, keeps exceptions, skips comments', () => {
  assert.deepEqual(parseDockerignore('\uFEFF# comment\n\n  node_modules/  \n/abs/path\n./rel/../x\n! keep\n !spaced\n  # not a comment\n**/*.log\r\n'), [
    'node_modules',
    'abs/path',
    'x',
    '!keep',
    '!spaced',
    '# not a comment',
    '**/*.log',
  ]);
  fails(() => ignoreMatcher(parseDockerignore('!\n')), /illegal exclusion pattern/);
  fails(() => ignoreMatcher(['[']), /invalid .dockerignore pattern/);
  fails(() => ignoreMatcher(['a[]']), /invalid .dockerignore pattern/);
  fails(() => ignoreMatcher(['[z-a]']), /invalid .dockerignore pattern/);
  fails(() => ignoreMatcher(['x\\']), /invalid .dockerignore pattern/);
});

test('.dockerignore matching: *, ?, **, classes, parents, exceptions where the last match wins', () => {
  const check = (patterns: string, expect: Record<string, boolean>): void => {
    const ignored = ignoreMatcher(parseDockerignore(patterns));
    for (const [path, want] of Object.entries(expect)) assert.equal(ignored(path), want, `${JSON.stringify(patterns)} on ${path}`);
  };
  check('*.md', { 'a.md': true, 'docs/a.md': false, 'a.mdx': false, 'x.md/inner': true });
  check('docs/*.md', { 'docs/a.md': true, 'docs/sub/a.md': false, 'a.md': false });
  check('**/*.log', { 'a.log': true, 'x/y/z.log': true, 'x/log': false });
  check('a/**/b', { 'a/b': true, 'a/x/y/b': true, 'a/x/b/c': true, 'ab': false });
  check('build/**', { 'build/x': true, 'build/x/y': true, 'build': false });
  check('**', { anything: true, 'a/b': true });
  check('**.tmp', { 'x.tmp': true, 'd/x.tmp': true, 'x.tmpl': false });
  check('?.txt', { 'a.txt': true, 'ab.txt': false, '/.txt': false });
  check('[a-c]*.js\nfile[!0-9]', { 'apple.js': true, 'd.js': false, 'file!': true, 'filex': false });
  check('file[^0-9]', { filex: true, file1: false });
  check('node_modules', { node_modules: true, 'node_modules/a/b.js': true, 'src/node_modules': false });
  check('/node_modules', { node_modules: true, 'node_modules/x': true });
  check('a.b\nx+y\n(p)\n$z', { 'a.b': true, axb: false, 'x+y': true, xxy: false, '(p)': true, '$z': true });
  check('foo\\*bar', { 'foo*bar': true, fooxbar: false });
  // Exceptions: later patterns win, a re-included file inside an excluded directory is back.
  check('*.md\n!README.md', { 'a.md': true, 'README.md': false });
  check('!README.md\n*.md', { 'README.md': true });
  check('docs\n!docs/keep.txt', { 'docs/a.txt': true, 'docs/keep.txt': false, docs: true });
  check('**\n!src\n!Dockerfile\nsrc/gen', { 'src/a.ts': false, 'src/gen/x': true, Dockerfile: false, 'README.md': true });
  // Paths are cleaned before matching.
  check('a/b', { './a/b': true, 'a//b': true, 'a/b/': true, 'a/./b/c': true });
  check('', { x: false });
});

test('fuzz: random text never throws anything but a BerthError from the parser, the expander or the matcher', () => {
  const alphabet = ['FROM ', 'RUN ', 'COPY ', 'ENV ', 'ONBUILD ', 'HEALTHCHECK ', 'CMD ', 'ADD ', 'ARG ', 'AS ', '--from=', '--', '<<', '<<-', 'EOF', '"', "'", '\\', '`', '$', '${', '}', ':-', '#', '%', '/', '[', ']', '"x",', '*', '**', '?', '!', '=', ' ', '\t', '\n', '\r\n', 'a', 'b', '1', 'é', '# escape=`\n', '\uFEFF', '{', ':'];
  // A fixed-seed generator keeps failures reproducible.
  let seed = 0x2f6b3a1;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const randomText = (): string => Array.from({ length: 1 + rand(40) }, () => alphabet[rand(alphabet.length)]).join('');
  const guard = (fn: () => unknown, input: string): void => {
    try {
      fn();
    } catch (err) {
      assert.ok(isBerthError(err) && err.kind === 'invalid', `unexpected ${String(err)} for ${JSON.stringify(input)}`);
    }
  };
  let parsed = 0;
  for (let n = 0; n < 4000; n++) {
    const text = randomText();
    guard(() => {
      parseDockerfile(`FROM a\n${text}`);
      parsed++;
    }, text);
    guard(() => expandWord(text, lookup), text);
    guard(() => expandWords(text, lookup, '`'), text);
    guard(() => ignoreMatcher(parseDockerignore(text))(text), text);
  }
  assert.ok(parsed > 100, `only ${parsed} random Dockerfiles parsed; the fuzz exercises errors only`);
});
