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
import { makeTempDir, removeDir } from './harness/util.js';

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
  const { run } = await import('./harness/util.js');
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
