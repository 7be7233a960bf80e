// docker build through the real docker CLI with the classic builder (DOCKER_BUILDKIT=0) against
// berthd: every instruction, the cache (hits on rebuild, invalidation after a change), .dockerignore,
// multi-stage with COPY --from and --target, build args, failing RUNs. Real registry, busybox,
// runc and conmon; the after() hook checks that no container, mount or cgroup was left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker, type DockerResult } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { existsSync } from 'node:fs';
import { makeTempDir, removeDir, run } from './harness/util.js';

let env: ContainerEnv;
let ctxRoot: string;

before(async () => {
  if (skip) return;
  env = await startContainerEnv();
  ctxRoot = await makeTempDir('berth-build-ctx-');
});

after(async () => {
  if (skip) return;
  await removeDir(ctxRoot);
  await stopContainerEnv(env);
});

/** Writes a context directory: file name -> content. */
async function context(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(ctxRoot, name);
  for (const [f, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await fsp.writeFile(path.join(dir, f), content);
  }
  return dir;
}

function build(args: string[]): Promise<DockerResult> {
  return docker(env.daemon, ['build', ...args], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 300_000 });
}

async function buildOk(args: string[]): Promise<string> {
  const r = await build(args);
  assert.equal(r.code, 0, `docker build ${args.join(' ')} failed: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Runs a command in a fresh container of `image`; returns stdout. */
async function runIn(image: string, cmd: string): Promise<string> {
  return env.ok(['run', '--rm', image, 'sh', '-c', cmd]);
}

test('every instruction: FROM, RUN, COPY, ADD, ENV, ARG, LABEL, EXPOSE, WORKDIR, USER, VOLUME, SHELL, STOPSIGNAL, HEALTHCHECK, CMD, ENTRYPOINT', { skip }, async () => {
  const dir = await context('every', {
    'Dockerfile': [
      `FROM ${env.ref}`,
      'ARG GREETING=hello',
      'ENV APP_HOME=/app MODE=${GREETING}-mode',
      'LABEL org.example.name="berth test" version=1',
      'EXPOSE 8080 9000-9001/udp',
      'WORKDIR $APP_HOME',
      'COPY hello.txt ./',
      'COPY dir/ ./dir/',
      'COPY --chmod=755 run.sh /usr/local/bin/',
      'ADD files.tar.gz /unpacked/',
      'RUN echo "$GREETING from run" > ran.txt && mkdir -p /data && echo data > /data/keep && rm -f /etc/motd-none',
      "RUN echo 'appuser:x:1234:1234::/home/appuser:/bin/sh' >> /etc/passwd && echo 'appuser:x:1234:' >> /etc/group && mkdir -p /home/appuser",
      'COPY --chown=appuser:appuser hello.txt /home/appuser/owned.txt',
      'USER appuser',
      'VOLUME ["/data"]',
      'SHELL ["/bin/sh", "-e", "-c"]',
      'STOPSIGNAL SIGUSR1',
      'HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true',
      'ENTRYPOINT ["/usr/local/bin/run.sh"]',
      'CMD ["default-arg"]',
      '',
    ].join('\n'),
    'hello.txt': 'hello file\n',
    'dir/a.txt': 'a\n',
    'dir/sub/b.txt': 'b\n',
    'run.sh': '#!/bin/sh\necho "run.sh $MODE $*"\n',
  });
  // A gzip tar for ADD to unpack.
  const tarSrc = path.join(ctxRoot, 'tarsrc');
  await fsp.mkdir(path.join(tarSrc, 'inner'), { recursive: true });
  await fsp.writeFile(path.join(tarSrc, 'inner', 'x.txt'), 'x\n');
  await run('tar', ['-czf', path.join(dir, 'files.tar.gz'), '-C', tarSrc, 'inner']);

  const out = await buildOk(['-t', 'every:1', dir]);
  assert.match(out, /Step 1\/20 : FROM /);
  assert.match(out, / ---> Running in [0-9a-f]{12}\n/);
  assert.match(out, /Successfully built [0-9a-f]{12}\n/);
  assert.match(out, /Successfully tagged every:1\n/);

  const inspect = JSON.parse(await env.ok(['image', 'inspect', 'every:1']))[0];
  const c = inspect.Config;
  assert.ok(c.Env.includes('APP_HOME=/app'), c.Env);
  assert.ok(c.Env.includes('MODE=hello-mode'), c.Env);
  assert.ok(!c.Env.some((e: string) => e.startsWith('GREETING=')), 'ARGs are not kept in the image');
  assert.deepEqual(c.Labels, { 'org.example.name': 'berth test', version: '1' });
  assert.deepEqual(Object.keys(c.ExposedPorts).sort(), ['8080/tcp', '9000/udp', '9001/udp']);
  assert.equal(c.WorkingDir, '/app');
  assert.equal(c.User, 'appuser');
  assert.deepEqual(c.Volumes, { '/data': {} });
  assert.deepEqual(c.Shell, ['/bin/sh', '-e', '-c']);
  assert.equal(c.StopSignal, 'SIGUSR1');
  assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Timeout: 2e9, Retries: 4 });
  assert.deepEqual(c.Entrypoint, ['/usr/local/bin/run.sh']);
  assert.deepEqual(c.Cmd, ['default-arg']);

  const runOut = await env.ok(['run', '--rm', 'every:1', 'given']);
  assert.equal(runOut, 'run.sh hello-mode given\n');
  const files = await env.ok([
    'run', '--rm', '--entrypoint', 'sh', 'every:1', '-c',
    'cat /app/hello.txt /app/dir/a.txt /app/dir/sub/b.txt /app/ran.txt /unpacked/inner/x.txt; stat -c "%a %U" /usr/local/bin/run.sh /home/appuser/owned.txt',
  ]);
  assert.equal(files, 'hello file\na\nb\nhello from run\nx\n755 root\n644 appuser\n');

  const history = await env.ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'every:1']);
  assert.match(history, /\|1 GREETING=hello \/bin\/sh -c echo "\$GREETING from run"/);
  assert.match(history, /COPY file:[0-9a-f]{64} in \/app\//);
  await env.ok(['rmi', 'every:1']);
});

test('rebuild comes from cache; a changed file rebuilds only the steps after its COPY; --no-cache rebuilds all', { skip }, async () => {
  const dir = await context('cache', {
    'Dockerfile': [`FROM ${env.ref}`, 'RUN echo one > /one', 'COPY app.txt /app.txt', 'RUN cat /app.txt > /copy', 'CMD ["cat", "/copy"]', ''].join('\n'),
    'app.txt': 'v1\n',
  });
  const first = await buildOk(['-t', 'cached:1', dir]);
  assert.doesNotMatch(first, /Using cache/);
  const second = await buildOk(['-t', 'cached:1', dir]);
  assert.equal(second.match(/ ---> Using cache/g)?.length, 4, second);
  assert.doesNotMatch(second, /Running in/);
  const id1 = /Successfully built ([0-9a-f]{12})/.exec(first)?.[1];
  assert.equal(/Successfully built ([0-9a-f]{12})/.exec(second)?.[1], id1, 'the same image');

  await fsp.writeFile(path.join(dir, 'app.txt'), 'v2\n');
  const third = await buildOk(['-t', 'cached:1', dir]);
  // RUN echo one stays cached; COPY (content changed) and everything after runs again.
  assert.equal(third.match(/ ---> Using cache/g)?.length, 1, third);
  assert.match(third, /Step 2\/5 : RUN echo one > \/one\n ---> Using cache/);
  assert.match(third, /Step 4\/5 : RUN cat \/app.txt > \/copy\n ---> Running in/);
  assert.equal(await env.ok(['run', '--rm', 'cached:1']), 'v2\n');

  const fresh = await buildOk(['--no-cache', '-t', 'cached:1', dir]);
  assert.doesNotMatch(fresh, /Using cache/);
  await env.ok(['rmi', 'cached:1']);
});

test('.dockerignore keeps files out of the context, with ! exceptions and **', { skip }, async () => {
  const dir = await context('ignore', {
    'Dockerfile': [`FROM ${env.ref}`, 'COPY . /ctx/', 'RUN cd /ctx && find . -type f | sort > /list', 'CMD ["cat", "/list"]', ''].join('\n'),
    '.dockerignore': 'secret.txt\n**/*.log\nlogs/\n!logs/keep.log\n',
    'secret.txt': 's',
    'app.txt': 'a',
    'sub/debug.log': 'x',
    'logs/a.log': 'x',
    'logs/keep.log': 'k',
  });
  await buildOk(['-t', 'ignored:1', dir]);
  const list = await env.ok(['run', '--rm', 'ignored:1']);
  assert.equal(list, './.dockerignore\n./Dockerfile\n./app.txt\n./logs/keep.log\n');
  await env.ok(['rmi', 'ignored:1']);
});

test('multi-stage: COPY --from a stage and an image, --target, unused stages skipped, build args', { skip }, async () => {
  const dir = await context('multi', {
    'Dockerfile': [
      'ARG BASE',
      'FROM ${BASE} AS builder',
      'ARG VERSION=0.1',
      'RUN mkdir /out && echo "built $VERSION" > /out/result',
      'FROM ${BASE} AS unused',
      'RUN echo this stage must not run && exit 1',
      'FROM ${BASE} AS final',
      'COPY --from=builder /out/result /result',
      'COPY --from=0 /out /out-copy/',
      `COPY --from=${env.ref} /bin/busybox /bb`,
      'CMD ["cat", "/result"]',
      'FROM final AS debug',
      'RUN echo debug > /debug',
      '',
    ].join('\n'),
  });
  const out = await buildOk(['--build-arg', `BASE=${env.ref}`, '--build-arg', 'VERSION=2.0', '--target', 'final', '-t', 'multi:1', dir]);
  assert.doesNotMatch(out, /this stage must not run/);
  assert.doesNotMatch(out, /echo debug/);
  assert.equal(await env.ok(['run', '--rm', 'multi:1']), 'built 2.0\n');
  assert.equal(await runIn('multi:1', 'cat /out-copy/result; test -x /bb && echo bb'), 'built 2.0\nbb\n');
  const debug = await buildOk(['--build-arg', `BASE=${env.ref}`, '-t', 'multi:debug', dir]);
  assert.match(debug, /Step \d+\/\d+ : RUN echo debug > \/debug/);
  assert.equal(await runIn('multi:debug', 'cat /debug /result'), 'debug\nbuilt 0.1\n');
  const missing = await build(['--build-arg', `BASE=${env.ref}`, '--target', 'nope', dir]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /failed to reach build target nope in Dockerfile/);
  await env.ok(['rmi', 'multi:1', 'multi:debug']);
});

test('a failing RUN reports the command and exit code; --force-rm leaves no container; parse errors name the line', { skip }, async () => {
  const dir = await context('fail', { 'Dockerfile': [`FROM ${env.ref}`, 'RUN echo before && exit 3', ''].join('\n') });
  const r = await build(['--force-rm', dir]);
  assert.equal(r.code, 3, 'the CLI exits with the code in errorDetail, as with dockerd');
  assert.match(r.stdout, /before\n/);
  assert.match(r.stderr, /The command '\/bin\/sh -c echo before && exit 3' returned a non-zero code: 3/);
  assert.equal((await env.ok(['ps', '-aq'])).trim(), '', 'no step container left with --force-rm');

  // Without --force-rm the failed step's container stays for inspection, as with dockerd.
  const kept = await build([dir]);
  assert.equal(kept.code, 3);
  const left = (await env.ok(['ps', '-aq', '--filter', 'status=exited'])).trim();
  assert.match(left, /^[0-9a-f]{12}$/);
  await env.ok(['rm', left]);

  const bad = await context('bad', { 'Dockerfile': `FROM ${env.ref}\nFROBNICATE now\n` });
  const parse = await build([bad]);
  assert.notEqual(parse.code, 0);
  assert.match(parse.stderr, /line 2/i);
  assert.match(parse.stderr, /unknown instruction: FROBNICATE/i);
});

const COMPOSE = '/usr/bin/docker-compose';
test('docker-compose build: a service with build: (docker-py, classic builder) and build args', { skip: skip || (existsSync(COMPOSE) ? false : 'needs docker-compose') }, async () => {
  const dir = await context('compose', {
    'app/Dockerfile': [`FROM ${env.ref}`, 'ARG FLAVOR', 'RUN echo "flavor $FLAVOR" > /flavor', 'CMD ["cat", "/flavor"]', ''].join('\n'),
    'docker-compose.yml': ['version: "3.7"', 'services:', '  app:', '    image: composebuilt:1', '    build:', '      context: ./app', '      args:', '        FLAVOR: mint', ''].join('\n'),
  });
  const r = await run(COMPOSE, ['-p', 'berthbuild', '-f', path.join(dir, 'docker-compose.yml'), 'build'], {
    env: { ...process.env, DOCKER_HOST: env.daemon.dockerHost, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' },
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.stdout.toString() + r.stderr.toString());
  assert.equal(await env.ok(['run', '--rm', 'composebuilt:1']), 'flavor mint\n');
  await env.ok(['rmi', 'composebuilt:1']);
});

test('berth build, diff and export through Berth\'s own CLI', { skip }, async () => {
  const dir = await context('berth-cli', {
    Dockerfile: `FROM ${env.ref}\nARG GREETING=hi\nCOPY hello.txt /hello.txt\nRUN echo "$GREETING from RUN" > /made.txt\nCMD ["cat", "/made.txt"]\n`,
    'hello.txt': 'hello\n',
  });
  const bin = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bin', 'berth');
  const berth = async (args: string[]): Promise<string> => {
    const r = await run(process.execPath, [bin, ...args], { env: { PATH: process.env['PATH'] ?? '', BERTH_HOST: env.daemon.dockerHost }, timeoutMs: 300_000 });
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout.toString();
  };
  const out = await berth(['build', '-t', 'berth-cli:1', '--build-arg', 'GREETING=howdy', dir]);
  assert.match(out, /Step 1\/5 : FROM /);
  assert.match(out, /Successfully tagged berth-cli:1/);
  const quiet = (await berth(['build', '-q', '-t', 'berth-cli:1', '--build-arg', 'GREETING=howdy', dir])).trim();
  assert.match(quiet, /^sha256:[0-9a-f]{64}$/, 'quiet prints only the ID (a cached rebuild)');
  const id = (await berth(['create', '--name', 'cli-built', 'berth-cli:1'])).trim();
  try {
    await berth(['start', '-a', id]).then((o) => assert.equal(o, 'howdy from RUN\n'));
    const exported = path.join(ctxRoot, 'export.tar');
    await berth(['export', '-o', exported, id]);
    const listing = (await run('tar', ['-tf', exported])).stdout.toString();
    assert.match(listing, /^made\.txt$/m);
    assert.match(listing, /^hello\.txt$/m);
  } finally {
    await berth(['rm', '-f', id]);
  }
  const changed = (await berth(['run', '-d', 'berth-cli:1', 'sh', '-c', 'echo x > /new.txt; rm /hello.txt'])).trim();
  try {
    await berth(['wait', changed]);
    const diff = await berth(['diff', changed]);
    assert.match(diff, /^A \/new\.txt$/m);
    assert.match(diff, /^D \/hello\.txt$/m);
  } finally {
    await berth(['rm', '-f', changed]);
  }
  await env.ok(['rmi', 'berth-cli:1']);
});
