// docker build through the real docker CLI with the classic builder (DOCKER_BUILDKIT=0) against
// berthd: every instruction, the cache (hits on rebuild, invalidation after a change), .dockerignore,
// multi-stage with COPY --from and --target, build args, failing RUNs; the step cache as build
// cache (images -a, system df, builder prune, cache-from, the upgrade from intermediate images);
// build secrets through `berth build --secret`. Real registry, busybox, runc and conmon; the
// after() hook checks that no container, mount or cgroup was left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker, type DockerResult } from './harness/docker.js';
import { assertNoContainerLeaks, containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
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
  await assertNoContainerLeaks(env.daemon);
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

interface CacheRecord {
  ID: string;
  Type: string;
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  Parents: string[] | null;
  UsageCount: number;
}

async function buildCache(): Promise<CacheRecord[]> {
  const r = await env.daemon.request('GET', '/system/df');
  assert.equal(r.status, 200);
  return r.json<{ BuildCache: CacheRecord[] }>().BuildCache;
}

const berthBin = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bin', 'berth');
async function berth(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await run(process.execPath, [berthBin, ...args], { env: { PATH: process.env['PATH'] ?? '', BERTH_HOST: env.daemon.dockerHost, ...extraEnv }, timeoutMs: 300_000 });
  return { code: r.code ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

test('build steps are build cache, not images: images -a grows by the image only, system df counts the steps, builder prune reclaims them', { skip }, async () => {
  await env.ok(['pull', env.ref]);
  const before = (await env.ok(['images', '-aq'])).trim().split('\n').filter((l) => l !== '');
  const dir = await context('steps', {
    Dockerfile: [`FROM ${env.ref}`, 'RUN echo steps-a > /a', 'RUN head -c 300000 /dev/urandom > /b', 'COPY f.txt /steps-f.txt', ''].join('\n'),
    'f.txt': 'f\n',
  });
  await buildOk(['-t', 'steps:1', dir]);
  const afterBuild = (await env.ok(['images', '-aq'])).trim().split('\n').filter((l) => l !== '');
  assert.equal(afterBuild.length, before.length + 1, `a 3-step build adds one image, not intermediates: ${afterBuild.join(' ')}`);

  const mine = (all: CacheRecord[]): CacheRecord[] => all.filter((r) => /steps-a|urandom|in \/steps-f\.txt/.test(r.Description) && r.Type === 'regular');
  let records = mine(await buildCache());
  assert.ok(records.length >= 3, JSON.stringify(records));
  const big = records.find((r) => r.Description.includes('urandom'));
  assert.ok(big && big.Size >= 300_000, `the RUN that wrote 300 kB counts its layer: ${JSON.stringify(big)}`);
  assert.ok(records.every((r) => r.Shared && !r.InUse), 'the image still holds these layers');
  const df = await env.ok(['system', 'df', '--format', '{{.Type}}\t{{.TotalCount}}\t{{.Size}}']);
  const row = df.split('\n').find((l) => l.startsWith('Build Cache'));
  assert.ok(row && Number(row.split('\t')[1]) >= 3, df);
  assert.match(await env.ok(['system', 'df', '-v']), /Build cache usage: /);

  // Without -a, what an image still shares stays.
  const kept = await env.ok(['builder', 'prune', '-f']);
  assert.match(kept, /Total reclaimed space: /);
  assert.equal(mine(await buildCache()).length, records.length);
  // Bad filters are refused before anything goes.
  const bad = await docker(env.daemon, ['builder', 'prune', '-f', '--filter', 'colour=red']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid filter 'colour'/);
  const badUntil = await env.daemon.request('POST', `/build/prune?filters=${encodeURIComponent(JSON.stringify({ until: ['yesterday-ish'] }))}`);
  assert.equal(badUntil.status, 400);
  const badKeep = await env.daemon.request('POST', '/build/prune?keep-storage=lots');
  assert.equal(badKeep.status, 400);
  assert.equal(mine(await buildCache()).length, records.length);

  await env.ok(['rmi', 'steps:1']);
  records = mine(await buildCache());
  assert.ok(records.every((r) => !r.Shared), 'no image holds them now');
  // Used just now: `until=1h` keeps them; a big --keep-storage keeps them.
  await env.ok(['builder', 'prune', '-f', '--filter', 'until=1h']);
  await env.ok(['builder', 'prune', '-f', '--keep-storage', '1g']);
  assert.equal(mine(await buildCache()).length, records.length);
  const pruned = await env.ok(['builder', 'prune', '-f']);
  assert.match(pruned, /Deleted build cache objects:\n/);
  for (const r of records) assert.ok(pruned.includes(r.ID), `${r.ID} pruned: ${pruned}`);
  const reclaimed = /Total reclaimed space: ([\d.]+)(k?B|MB)/.exec(pruned);
  assert.ok(reclaimed && reclaimed[2] !== 'B' && Number(reclaimed[1]) > 0, pruned);
  assert.equal(mine(await buildCache()).length, 0);
  // The steps run again: their layers are gone.
  const rebuilt = await buildOk(['-t', 'steps:1', dir]);
  assert.match(rebuilt, /RUN echo steps-a > \/a\n ---> Running in/);
  await env.ok(['rmi', 'steps:1']);
  const all = await env.ok(['builder', 'prune', '-af']);
  assert.match(all, /Total reclaimed space/);
  assert.equal(mine(await buildCache()).length, 0);
});

test('RUN --mount: a bind mount\'s files are part of the step\'s key, a cache mount\'s content is not; cache mounts are build cache', { skip }, async () => {
  const dir = await context('mount-keys', {
    Dockerfile: [`FROM ${env.ref}`, 'RUN --mount=type=bind,source=in.txt,target=/in cat /in > /copy', 'RUN --mount=type=cache,target=/keys-cache date +%s%N >> /keys-cache/log', ''].join('\n'),
    'in.txt': 'one\n',
  });
  await buildOk(['-t', 'mount-keys:1', dir]);
  const cached = await buildOk(['-t', 'mount-keys:1', dir]);
  assert.equal(cached.match(/ ---> Using cache/g)?.length, 2, cached);
  await fsp.writeFile(path.join(dir, 'in.txt'), 'two\n');
  const changed = await buildOk(['-t', 'mount-keys:1', dir]);
  assert.match(changed, /cat \/in > \/copy\n ---> Running in/);
  assert.equal(await runIn('mount-keys:1', 'cat /copy'), 'two\n');
  const mounts = (await buildCache()).filter((r) => r.Type === 'exec.cachemount' && r.Description.includes('/keys-cache'));
  assert.equal(mounts.length, 1, 'one cache mount record');
  assert.ok((mounts[0] as CacheRecord).Size > 0);
  await env.ok(['rmi', 'mount-keys:1']);
  await env.ok(['builder', 'prune', '-f', '--filter', 'type=exec.cachemount']);
  assert.equal((await buildCache()).filter((r) => r.Type === 'exec.cachemount' && r.Description.includes('/keys-cache')).length, 0);
});

test('--cache-from: only the steps the named images were built from are taken from the cache', { skip }, async () => {
  const dir = await context('cache-from', { Dockerfile: `FROM ${env.ref}\nRUN echo cf-one > /1\nRUN echo cf-two > /2\n` });
  await buildOk(['-t', 'cache-from:1', dir]);
  const hit = await buildOk(['--cache-from', 'cache-from:1', '-t', 'cache-from:2', dir]);
  assert.equal(hit.match(/ ---> Using cache/g)?.length, 2, hit);
  const miss = await buildOk(['--cache-from', 'no-such-image:1', '-t', 'cache-from:3', dir]);
  assert.doesNotMatch(miss, /Using cache/);
  await env.ok(['rmi', 'cache-from:1', 'cache-from:2', 'cache-from:3']);
});

test('--cache-from an image pulled from a registry (no local build cache): its history stands in for the steps', { skip }, async () => {
  const dir = await context('cache-from-pulled', {
    Dockerfile: `FROM ${env.ref}\nENV STAGE=ci\nRUN echo pulled-one > /1\nCOPY f.txt /f.txt\nRUN cat /1 /f.txt > /both\nCMD ["cat", "/both"]\n`,
    'f.txt': 'f\n',
  });
  const remote = `${env.registry.host}/cache/app:1`;
  await buildOk(['-t', remote, dir]);
  const original = JSON.parse(await env.ok(['image', 'inspect', remote]))[0].Id as string;
  await env.ok(['push', remote]);
  await env.ok(['rmi', remote]);
  await env.ok(['builder', 'prune', '-af']);
  await env.ok(['pull', remote]);
  const out = await buildOk(['--cache-from', remote, '-t', 'cache-from-pulled:1', dir]);
  assert.equal(out.match(/ ---> Using cache/g)?.length, 5, out);
  assert.doesNotMatch(out, /Running in/);
  assert.equal(JSON.parse(await env.ok(['image', 'inspect', 'cache-from-pulled:1']))[0].Id, original, 'the same image as the one pulled');
  assert.equal(await env.ok(['run', '--rm', 'cache-from-pulled:1']), 'pulled-one\nf\n');
  // A change after the third step: the steps before it still come from the pulled image.
  await fsp.writeFile(path.join(dir, 'f.txt'), 'g\n');
  const changed = await buildOk(['--cache-from', remote, '-t', 'cache-from-pulled:2', dir]);
  assert.equal(changed.match(/ ---> Using cache/g)?.length, 2, changed);
  assert.equal(await env.ok(['run', '--rm', 'cache-from-pulled:2']), 'pulled-one\ng\n');
  await env.ok(['rmi', 'cache-from-pulled:1', 'cache-from-pulled:2']);
});

test('berth build --secret: RUN reads it; it reaches no layer, history, data-root file or log, and changing it keeps the cache', { skip }, async () => {
  const value = `s3cr3t-${randomBytes(8).toString('hex')}`;
  const dir = await context('secrets', {
    Dockerfile: [
      `FROM ${env.ref}`,
      'RUN --mount=type=secret,id=tok,uid=65534,mode=0440 stat -c "%u %a" /run/secrets/tok > /meta && sha256sum /run/secrets/tok | cut -c1-64 > /sum',
      'RUN --mount=type=secret,id=tok,target=/etc/app/token --mount=type=secret,id=fromenv sh -c "cat /etc/app/token /run/secrets/fromenv | wc -c" > /len',
      '',
    ].join('\n'),
  });
  const file = path.join(ctxRoot, 'tok.txt');
  await fsp.writeFile(file, value);
  const r = await berth(['build', '--secret', `id=tok,src=${file}`, '--secret', 'id=fromenv,env=BUILD_SECRET', '-t', 'secrets:1', dir], { BUILD_SECRET: value });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(
    await runIn('secrets:1', 'cat /meta /sum /len; test -e /run/secrets || echo no-secrets-dir; test -e /etc/app || echo no-app-dir'),
    `65534 440\n${createHash('sha256').update(value).digest('hex')}\n${value.length * 2}\nno-secrets-dir\nno-app-dir\n`,
  );
  assert.doesNotMatch(await env.ok(['history', '--no-trunc', 'secrets:1']), new RegExp(value));
  assert.doesNotMatch(await env.ok(['image', 'inspect', 'secrets:1']), new RegExp(value));
  const saved = path.join(ctxRoot, 'secrets.tar');
  await env.ok(['save', '-o', saved, 'secrets:1']);
  const grep = await run('grep', ['-rl', value, env.daemon.dataRoot, env.daemon.execRoot, saved, env.daemon.logFile]);
  assert.equal(grep.stdout.toString(), '', 'the value is in no file of the daemon');
  // The key names the secret, not its value (as BuildKit): another value is still a cache hit.
  await fsp.writeFile(file, 'another value');
  const again = await berth(['build', '--secret', `id=tok,src=${file}`, '--secret', 'id=fromenv,env=BUILD_SECRET', '-t', 'secrets:1', dir], { BUILD_SECRET: 'x' });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.match(/ ---> Using cache/g)?.length, 2, again.stdout);
  const missing = await berth(['build', '--secret', 'id=tok,src=/nonexistent/file', dir]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /secret tok: cannot read \/nonexistent\/file: no such file/);
  await env.ok(['rmi', 'secrets:1']);
});

test('upgrading: the intermediate images of the old builder become build cache; their builds stay cached', { skip }, async () => {
  await env.ok(['pull', env.ref]);
  const base = JSON.parse(await env.ok(['image', 'inspect', env.ref]))[0].Id as string;
  // What the old builder left: an untagged image per step, each the parent of the next.
  const one = (await env.ok(['run', '-d', env.ref, 'sh', '-c', 'echo legacy-one > /one'])).trim();
  await env.ok(['wait', one]);
  const middle = (await env.ok(['commit', one])).trim();
  const two = (await env.ok(['run', '-d', middle, 'sh', '-c', 'echo legacy-two > /two'])).trim();
  await env.ok(['wait', two]);
  const top = (await env.ok(['commit', two, 'legacy:1'])).trim();
  await env.ok(['rm', one, two]);
  assert.ok((await env.ok(['images', '-aq', '--no-trunc'])).includes(middle), 'the intermediate shows in images -a before');
  const key = (parent: string, createdBy: string): string => createHash('sha256').update(`${parent}\n${createdBy}`).digest('hex');
  await fsp.writeFile(
    path.join(env.daemon.dataRoot, 'builder', 'cache.json'),
    JSON.stringify({ entries: { [key(base, 'sh -c echo legacy-one > /one')]: middle, [key(middle, 'sh -c echo legacy-two > /two')]: top } }),
  );
  await env.daemon.restart();
  const ids = await env.ok(['images', '-aq', '--no-trunc']);
  assert.ok(!ids.includes(middle), 'the intermediate left images -a');
  assert.ok(ids.includes(top), 'the tagged image stays');
  assert.equal(await runIn('legacy:1', 'cat /one /two'), 'legacy-one\nlegacy-two\n', 'its layers are intact');
  const records = (await buildCache()).filter((r) => /echo legacy-(one|two)/.test(r.Description));
  assert.equal(records.length, 2, JSON.stringify(records));
  assert.ok(!existsSync(path.join(env.daemon.dataRoot, 'builder', 'cache.json')), 'the old index is gone');
  const dir = await context('legacy', { Dockerfile: `FROM ${env.ref}\nRUN ["sh", "-c", "echo legacy-one > /one"]\nRUN ["sh", "-c", "echo legacy-two > /two"]\n` });
  const out = await buildOk(['-t', 'legacy:2', dir]);
  assert.equal(out.match(/ ---> Using cache/g)?.length, 2, out);
  assert.equal(JSON.parse(await env.ok(['image', 'inspect', 'legacy:2']))[0].Id, top);
  await env.ok(['rmi', 'legacy:1', 'legacy:2']);
});

test('ADD <url> --checksum: the download is verified; a mismatch fails the build', { skip }, async () => {
  // The registry's /v2/ answers a small JSON document: a URL the daemon can reach offline.
  const url = `http://${env.registry.host}/v2/`;
  const body = Buffer.from(await (await fetch(url)).arrayBuffer());
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const dir = await context('add-checksum', { Dockerfile: `FROM ${env.ref}\nADD --checksum=${digest} ${url} /fetched.json\n` });
  await buildOk(['-t', 'add-checksum:1', dir]);
  assert.equal(await runIn('add-checksum:1', 'cat /fetched.json'), body.toString('utf8'));
  const wrong = await context('add-checksum-wrong', { Dockerfile: `FROM ${env.ref}\nADD --checksum=sha256:${'0'.repeat(64)} ${url} /fetched.json\n` });
  const r = await build([wrong]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`digest mismatch for ${url.replace(/[.]/g, '\\.')}: expected sha256:0{64}, got ${digest}`));
  await env.ok(['rmi', 'add-checksum:1']);
});
