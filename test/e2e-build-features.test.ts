// Dockerfile features written for BuildKit, built through the classic API (POST /build) twice
// each: by the real docker CLI with DOCKER_BUILDKIT=0, and by docker-py's images.build (the
// vendored client, as compose v1 and testcontainers build). RUN --mount (cache, bind from the
// context and from a stage, rw, tmpfs; secret and ssh refused with a clear message), COPY
// --exclude/--parents/--link, the automatic platform arguments and --platform, the predefined
// proxy arguments, ADD of bzip2/xz/zstd archives, ONBUILD, --pull, quiet builds, the network
// and extra hosts of RUN steps. Real registry, busybox, runc and conmon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { docker, type DockerResult } from './harness/docker.js';
import { assertNoContainerLeaks, containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { busyboxLayer, pushImage, pushIndex } from './harness/images.js';
import { makeTempDir, removeDir, repoRoot, run } from './harness/util.js';

let env: ContainerEnv;
let ctxRoot: string;
/** A two-platform base (amd64 and arm64 manifests over the same busybox layer). */
let multiRef: string;

before(async () => {
  if (skip) return;
  env = await startContainerEnv();
  ctxRoot = await makeTempDir('berth-build-features-');
  const bb = await busyboxLayer();
  const pushed = await pushIndex(env.registry, 'library/multi:1', [
    { layers: [bb], config: { Cmd: ['sh'], Labels: { arch: 'amd64' } }, platform: { os: 'linux', architecture: 'amd64' } },
    { layers: [bb], config: { Cmd: ['sh'], Labels: { arch: 'arm64' } }, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  multiRef = pushed.ref;
});

after(async () => {
  if (skip) return;
  await assertNoContainerLeaks(env.daemon);
  await removeDir(ctxRoot);
  await stopContainerEnv(env);
});

// ---------------------------------------------------------------- the two clients

interface BuildSpec {
  tag: string;
  buildArgs?: Record<string, string>;
  platform?: string;
  pull?: boolean;
  noCache?: boolean;
  network?: string;
  extraHosts?: Record<string, string>;
  dockerfile?: string;
}

interface BuildOutcome {
  ok: boolean;
  /** The build's output (the step lines, RUN output). */
  stream: string;
  /** The failure message, when !ok. */
  error: string;
}

type Builder = (dir: string, spec: BuildSpec) => Promise<BuildOutcome>;

const viaCli: Builder = async (dir, spec) => {
  const args = ['build', '-t', spec.tag];
  for (const [k, v] of Object.entries(spec.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
  if (spec.platform) args.push('--platform', spec.platform);
  if (spec.pull) args.push('--pull');
  if (spec.noCache) args.push('--no-cache');
  if (spec.network) args.push('--network', spec.network);
  for (const [h, ip] of Object.entries(spec.extraHosts ?? {})) args.push('--add-host', `${h}:${ip}`);
  if (spec.dockerfile) args.push('-f', path.join(dir, spec.dockerfile));
  const r: DockerResult = await docker(env.daemon, [...args, dir], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 300_000 });
  return { ok: r.code === 0, stream: r.stdout, error: r.stderr };
};

const viaDockerPy: Builder = async (dir, spec) => {
  const opts = {
    path: dir,
    tag: spec.tag,
    buildargs: spec.buildArgs,
    platform: spec.platform,
    pull: spec.pull,
    nocache: spec.noCache,
    network_mode: spec.network,
    extra_hosts: spec.extraHosts,
    dockerfile: spec.dockerfile,
  };
  const r = await run('/usr/bin/python3', [path.join(repoRoot(), 'test', 'dockerpy-build.py'), JSON.stringify(opts)], {
    env: { PATH: process.env['PATH'] ?? '', DOCKER_HOST: env.daemon.dockerHost, PYTHONDONTWRITEBYTECODE: '1' },
    timeoutMs: 300_000,
  });
  const line = r.stdout.toString().trim().split('\n').at(-1) ?? '';
  assert.equal(r.code, 0, `docker-py crashed: ${r.stderr.toString()}`);
  const out = JSON.parse(line) as { id?: string; error?: string; stream: string };
  return { ok: out.error === undefined, stream: out.stream, error: out.error ?? '' };
};

const CLIENTS: Array<[string, Builder]> = [
  ['docker CLI', viaCli],
  ['docker-py', viaDockerPy],
];

async function context(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(ctxRoot, name);
  await fsp.rm(dir, { recursive: true, force: true });
  for (const [f, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await fsp.writeFile(path.join(dir, f), content);
  }
  return dir;
}

async function mustBuild(builder: Builder, dir: string, spec: BuildSpec): Promise<string> {
  const r = await builder(dir, spec);
  assert.ok(r.ok, `build of ${spec.tag} failed: ${r.error}\n${r.stream}`);
  return r.stream;
}

/** Runs a shell command in a fresh container of `image`; returns stdout. */
const sh = (image: string, cmd: string): Promise<string> => env.ok(['run', '--rm', image, 'sh', '-c', cmd]);

/** A file of an image that has no shell (FROM scratch), read through a created container. */
async function readFromImage(image: string, file: string): Promise<string> {
  const id = (await env.ok(['create', image, '/none'])).trim();
  try {
    const out = path.join(ctxRoot, `read-${id.slice(0, 12)}`);
    await env.ok(['cp', `${id}:${file}`, out]);
    return await fsp.readFile(out, 'utf8');
  } finally {
    await env.ok(['rm', id]);
  }
}

// ---------------------------------------------------------------- the cases

for (const [client, build] of CLIENTS) {
  const tagOf = (name: string): string => `features-${name}:${client === 'docker CLI' ? 'cli' : 'py'}`;

  test(`RUN --mount=type=cache persists between builds by id, shared across targets, never in the image (${client})`, { skip }, async () => {
    const dir = await context(`cache-${client}`, {
      Dockerfile: [
        `FROM ${env.ref}`,
        'ARG RUNID',
        'RUN --mount=type=cache,target=/cache,id=features-cache-' + (client === 'docker CLI' ? 'cli' : 'py') + ' echo "$RUNID" >> /cache/runs && cat /cache/runs > /seen',
        'RUN --mount=type=cache,target=/other/place,id=features-cache-' + (client === 'docker CLI' ? 'cli' : 'py') + ' cat /other/place/runs > /seen-by-id',
        '',
      ].join('\n'),
    });
    await mustBuild(build, dir, { tag: tagOf('cache'), buildArgs: { RUNID: 'first' } });
    await mustBuild(build, dir, { tag: tagOf('cache'), buildArgs: { RUNID: 'second' } });
    assert.equal(await sh(tagOf('cache'), 'cat /seen'), 'first\nsecond\n', 'the second build saw what the first left in the cache');
    assert.equal(await sh(tagOf('cache'), 'cat /seen-by-id'), 'first\nsecond\n', 'one id, one cache, whatever the target');
    assert.equal(await sh(tagOf('cache'), 'ls -a /cache /other 2>&1 | grep -c "No such file"'), '2\n', 'neither the mount nor its mount point is in the image');
    await env.ok(['rmi', tagOf('cache')]);
  });

  test(`RUN --mount=type=bind from the context and from a stage, read-only by default, rw writes discarded (${client})`, { skip }, async () => {
    const dir = await context(`bind-${client}`, {
      Dockerfile: [
        `FROM ${env.ref} AS gen`,
        'RUN mkdir /out && echo generated > /out/g.txt',
        `FROM ${env.ref}`,
        'RUN --mount=type=bind,source=a.txt,target=/mnt/a.txt cat /mnt/a.txt > /from-context',
        'RUN --mount=type=bind,from=gen,source=/out,target=/gen cat /gen/g.txt > /from-stage',
        'RUN --mount=type=bind,target=/ctx sh -c "touch /ctx/new 2>/dev/null && echo writable || echo read-only" > /ro',
        'RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/a.txt && cat /ctx/a.txt > /rw',
        'RUN --mount=type=bind,source=sub,target=/again cat /again/b.txt > /after-rw',
        '',
      ].join('\n'),
      'a.txt': 'from the context\n',
      'sub/b.txt': 'b\n',
    });
    await mustBuild(build, dir, { tag: tagOf('bind') });
    assert.equal(
      await sh(tagOf('bind'), 'cat /from-context /from-stage /ro /rw /after-rw; ls /mnt /gen /ctx /again 2>&1 | grep -c "No such file"'),
      'from the context\ngenerated\nread-only\nchanged\nb\n4\n',
    );
    assert.equal(await fsp.readFile(path.join(dir, 'a.txt'), 'utf8'), 'from the context\n');
    await env.ok(['rmi', tagOf('bind')]);
  });

  test(`RUN --mount=type=tmpfs is a tmpfs that leaves nothing behind (${client})`, { skip }, async () => {
    const dir = await context(`tmpfs-${client}`, {
      Dockerfile: [`FROM ${env.ref}`, "RUN --mount=type=tmpfs,target=/scratch,size=1m grep ' /scratch ' /proc/mounts | cut -d' ' -f3 > /fstype && echo x > /scratch/f", ''].join('\n'),
    });
    await mustBuild(build, dir, { tag: tagOf('tmpfs') });
    assert.equal(await sh(tagOf('tmpfs'), 'cat /fstype; test -e /scratch || echo gone'), 'tmpfs\ngone\n');
    await env.ok(['rmi', tagOf('tmpfs')]);
  });

  test(`RUN --mount=type=secret without berth's secrets channel and type=ssh are refused with a clear message (${client})`, { skip }, async () => {
    const secret = await context(`secret-${client}`, { Dockerfile: `FROM ${env.ref}\nRUN --mount=type=secret,id=npmrc cat /run/secrets/npmrc\n` });
    const r = await build(secret, { tag: tagOf('secret') });
    assert.ok(!r.ok);
    assert.match(r.error, /secret npmrc is required by RUN --mount=type=secret but was not given/);
    assert.match(r.error, /berth build --secret id=npmrc,src=<file>/);
    const optional = await context(`secret-optional-${client}`, { Dockerfile: `FROM ${env.ref}\nRUN --mount=type=secret,id=npmrc,required=false test ! -e /run/secrets/npmrc\n` });
    await mustBuild(build, optional, { tag: tagOf('secret-optional') });
    await env.ok(['rmi', tagOf('secret-optional')]);
    const ssh = await context(`ssh-${client}`, { Dockerfile: `FROM ${env.ref}\nRUN --mount=type=ssh true\n` });
    const s = await build(ssh, { tag: tagOf('ssh') });
    assert.ok(!s.ok);
    assert.match(s.error, /RUN --mount=type=ssh is not supported: the classic build API \(POST \/build\) has no way to forward an SSH agent/);
  });

  test(`COPY --exclude, --parents (with a /./ pivot) and --link (${client})`, { skip }, async () => {
    const dir = await context(`copy-${client}`, {
      Dockerfile: [
        `FROM ${env.ref}`,
        'COPY --exclude=*.log --exclude=tmp . /all/',
        'COPY --exclude=**/*.md docs /docs/',
        'COPY --parents a/b/c.txt x/./y/z.txt /par/',
        'COPY --link a/b/c.txt /linked.txt',
        '',
      ].join('\n'),
      'keep.txt': 'k',
      'top.log': 'l',
      'a/b/c.txt': 'c\n',
      'a/b/deep.log': 'kept: only top-level *.log is excluded',
      'tmp/t.txt': 't',
      'x/y/z.txt': 'z\n',
      'docs/guide.md': 'g',
      'docs/sub/api.md': 'a',
      'docs/sub/keep.txt': 'k',
    });
    await mustBuild(build, dir, { tag: tagOf('copy') });
    assert.equal(
      await sh(tagOf('copy'), 'cd /all && find . | sort; cd /docs && find . -type f; cat /par/a/b/c.txt /par/y/z.txt /linked.txt'),
      ['.', './Dockerfile', './a', './a/b', './a/b/c.txt', './a/b/deep.log', './keep.txt', './x', './x/y', './x/y/z.txt', './docs', './docs/guide.md', './docs/sub', './docs/sub/api.md', './docs/sub/keep.txt']
        .sort()
        .concat(['./sub/keep.txt', 'c', 'z', 'c'])
        .join('\n') + '\n',
    );
    await env.ok(['rmi', tagOf('copy')]);
  });

  test(`ARG TARGETPLATFORM/TARGETOS/TARGETARCH/TARGETVARIANT and BUILD* filled in; --platform pulls the base for it (${client})`, { skip }, async () => {
    const dir = await context(`platform-${client}`, {
      Dockerfile: [
        `FROM --platform=$BUILDPLATFORM ${multiRef} AS build`,
        'RUN echo "[$TARGETARCH]" > /undeclared',
        'ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH',
        'RUN echo "$TARGETPLATFORM|$TARGETOS|$TARGETARCH|$TARGETVARIANT|$BUILDPLATFORM|$BUILDOS|$BUILDARCH" > /out && cat /undeclared >> /out',
        `FROM ${multiRef}`,
        'COPY --from=build /out /out',
        '',
      ].join('\n'),
    });
    await mustBuild(build, dir, { tag: tagOf('platform-arm'), platform: 'linux/arm64' });
    const inspect = JSON.parse(await env.ok(['image', 'inspect', tagOf('platform-arm')]))[0];
    assert.equal(inspect.Architecture, 'arm64', 'the final stage is the arm64 base');
    assert.equal(inspect.Config.Labels.arch, 'arm64');
    assert.equal(await readFromImage(tagOf('platform-arm'), '/out'), 'linux/arm64|linux|arm64||linux/amd64|linux|amd64\n[]\n');
    await mustBuild(build, dir, { tag: tagOf('platform-host') });
    assert.equal(await sh(tagOf('platform-host'), 'cat /out'), 'linux/amd64|linux|amd64||linux/amd64|linux|amd64\n[]\n');
    await env.ok(['rmi', tagOf('platform-arm'), tagOf('platform-host')]);
  });

  test(`proxy build args are predefined: RUN sees them, the history does not, no "not consumed" warning (${client})`, { skip }, async () => {
    const dir = await context(`proxy-${client}`, { Dockerfile: `FROM ${env.ref}\nRUN echo "$HTTP_PROXY|$no_proxy" > /proxy\n` });
    const out = await mustBuild(build, dir, { tag: tagOf('proxy'), buildArgs: { HTTP_PROXY: 'http://proxy.example:3128', no_proxy: 'localhost' } });
    assert.doesNotMatch(out, /not consumed/);
    assert.equal(await sh(tagOf('proxy'), 'cat /proxy'), 'http://proxy.example:3128|localhost\n');
    assert.doesNotMatch(await env.ok(['history', '--no-trunc', tagOf('proxy')]), /proxy\.example/);
    // Another proxy does not make the step run again.
    const again = await mustBuild(build, dir, { tag: tagOf('proxy'), buildArgs: { HTTP_PROXY: 'http://other.example:8080' } });
    assert.match(again, /RUN echo "\$HTTP_PROXY\|\$no_proxy" > \/proxy\n ---> Using cache/);
    await env.ok(['rmi', tagOf('proxy')]);
  });

  test(`ADD extracts tar archives compressed with bzip2, xz and zstd; other files are copied as they are (${client})`, { skip }, async () => {
    const dir = await context(`add-${client}`, {
      Dockerfile: [`FROM ${env.ref}`, 'ADD t.tar.bz2 /bz/', 'ADD t.tar.xz /xz/', 'ADD t.tar.zst /zst/', 'ADD notes.txt.xz /raw/', ''].join('\n'),
    });
    const src = path.join(ctxRoot, `add-src-${client}`);
    await fsp.mkdir(path.join(src, 'inner'), { recursive: true });
    await fsp.writeFile(path.join(src, 'inner', 'hello.txt'), 'hello from the archive\n');
    await run('tar', ['-cf', path.join(dir, 't.tar'), '-C', src, 'inner']);
    for (const [tool, ...args] of [['bzip2', '-k'], ['xz', '-k'], ['zstd', '-q', '-k']]) {
      assert.equal((await run(tool as string, [...args, path.join(dir, 't.tar')])).code, 0, tool);
    }
    await fsp.writeFile(path.join(dir, 'notes.txt'), 'not an archive\n');
    await run('xz', [path.join(dir, 'notes.txt')]);
    await mustBuild(build, dir, { tag: tagOf('add') });
    assert.equal(
      await sh(tagOf('add'), 'cat /bz/inner/hello.txt /xz/inner/hello.txt /zst/inner/hello.txt; ls /raw'),
      'hello from the archive\n'.repeat(3) + 'notes.txt.xz\n',
    );
    await env.ok(['rmi', tagOf('add')]);
  });

  test(`ONBUILD triggers run in the child build, once, and a rebuild is fully cached (${client})`, { skip }, async () => {
    const dir = await context(`onbuild-${client}`, {
      'base.Dockerfile': `FROM ${env.ref}\nONBUILD RUN echo triggered > /triggered\nONBUILD COPY a.txt /from-trigger\n`,
      Dockerfile: `FROM ${tagOf('onbuild-base')}\nRUN cat /triggered /from-trigger > /both\n`,
      'a.txt': 'copied by a trigger\n',
    });
    await mustBuild(build, dir, { tag: tagOf('onbuild-base'), dockerfile: 'base.Dockerfile' });
    const out = await mustBuild(build, dir, { tag: tagOf('onbuild-child') });
    assert.match(out, /# Executing 2 build triggers/);
    assert.equal(await sh(tagOf('onbuild-child'), 'cat /both'), 'triggered\ncopied by a trigger\n');
    const child = JSON.parse(await env.ok(['image', 'inspect', tagOf('onbuild-child')]))[0];
    assert.ok(!child.Config.OnBuild || child.Config.OnBuild.length === 0, 'the triggers are not passed on');
    const before = child.Id;
    const again = await mustBuild(build, dir, { tag: tagOf('onbuild-child') });
    assert.doesNotMatch(again, /Running in/);
    assert.equal(JSON.parse(await env.ok(['image', 'inspect', tagOf('onbuild-child')]))[0].Id, before);
    await env.ok(['rmi', tagOf('onbuild-child'), tagOf('onbuild-base')]);
  });

  test(`--pull takes a newer base from the registry; without it the local base is used (${client})`, { skip }, async () => {
    const bb = await busyboxLayer();
    const repo = `library/pulled-${client === 'docker CLI' ? 'cli' : 'py'}:1`;
    await pushImage(env.registry, repo, { layers: [bb], config: { Cmd: ['sh'], Labels: { base: 'v1' } } });
    const dir = await context(`pull-${client}`, { Dockerfile: `FROM ${env.registry.host}/${repo}\nLABEL built=yes\n` });
    const label = async (): Promise<string> => JSON.parse(await env.ok(['image', 'inspect', tagOf('pull')]))[0].Config.Labels.base;
    await mustBuild(build, dir, { tag: tagOf('pull') });
    assert.equal(await label(), 'v1', 'a base that is not here is pulled');
    await pushImage(env.registry, repo, { layers: [bb], config: { Cmd: ['sh'], Labels: { base: 'v2' } } });
    await mustBuild(build, dir, { tag: tagOf('pull') });
    assert.equal(await label(), 'v1', 'without --pull the local base stays');
    await mustBuild(build, dir, { tag: tagOf('pull'), pull: true });
    assert.equal(await label(), 'v2', '--pull fetched the new base');
    await env.ok(['rmi', tagOf('pull'), `${env.registry.host}/${repo}`]);
  });

  test(`RUN steps join the build's network, RUN --network=none has none, extra hosts reach /etc/hosts (${client})`, { skip }, async () => {
    const dir = await context(`network-${client}`, {
      // The build's network is not part of a step's key (as with dockerd): one chain per client.
      Dockerfile: [
        `FROM ${env.ref}`,
        `ENV CLIENT=${client === 'docker CLI' ? 'cli' : 'py'}`,
        'RUN ls /sys/class/net | sort | tr "\\n" " " > /nets',
        'RUN --network=none ls /sys/class/net | tr "\\n" " " > /nets-none',
        'RUN grep -h "build-host" /etc/hosts > /hosts',
        '',
      ].join('\n'),
    });
    await mustBuild(build, dir, { tag: tagOf('net'), extraHosts: { 'build-host.test': '10.1.2.3' } });
    assert.equal(await sh(tagOf('net'), 'cat /nets-none; echo; cat /hosts'), 'lo \n10.1.2.3\tbuild-host.test\n');
    assert.match(await sh(tagOf('net'), 'cat /nets'), /^eth0 lo $/);
    await mustBuild(build, dir, { tag: tagOf('net-none'), network: 'none', noCache: true, extraHosts: { 'build-host.test': '10.1.2.3' } });
    assert.equal(await sh(tagOf('net-none'), 'cat /nets'), 'lo ');
    await env.ok(['rmi', tagOf('net'), tagOf('net-none')]);
  });
}

test('a quiet build prints only the image ID; a failing quiet build shows the output it held back', { skip }, async () => {
  const dir = await context('quiet', { Dockerfile: `FROM ${env.ref}\nRUN echo building\n` });
  const r = await docker(env.daemon, ['build', '-q', '-t', 'features-quiet:1', dir], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const id = JSON.parse(await env.ok(['image', 'inspect', 'features-quiet:1']))[0].Id;
  assert.equal(r.stdout.trim(), id);
  const failing = await context('quiet-fail', { Dockerfile: `FROM ${env.ref}\nRUN echo held back && exit 5\n` });
  const f = await docker(env.daemon, ['build', '-q', failing], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 300_000 });
  assert.equal(f.code, 5);
  assert.match(f.stderr, /held back/);
  assert.match(f.stderr, /The command '\/bin\/sh -c echo held back && exit 5' returned a non-zero code: 5/);
  await env.ok(['rmi', 'features-quiet:1']);
  for (const c of (await env.ok(['ps', '-aq'])).trim().split('\n').filter((x) => x !== '')) await env.ok(['rm', '-f', c]);
});

test('a RUN step\'s stderr comes in red, as dockerd marks it', { skip }, async () => {
  const dir = await context('stderr', { Dockerfile: `FROM ${env.ref}\nRUN echo to-stderr >&2\n` });
  const r = await docker(env.daemon, ['build', '--no-cache', dir], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes('\x1b[91mto-stderr\n\x1b[0m'), JSON.stringify(r.stdout));
  await env.ok(['image', 'prune', '-f']);
});
