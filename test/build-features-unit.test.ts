// Unit tests of the builder's parts that need no daemon: RUN --mount parsing, the automatic
// platform arguments, COPY's entry planning (--exclude, --parents, the lone-file rule), ADD's
// archive detection (tar plain and gzip/bzip2/xz/zstd, by content), the removal of mount points
// from a RUN's upper dir, and the build cache store. Real files and Debian's tools, no mocks.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseBuildPlatform, platformArgs } from '../engine/builder/build-args.js';
import { archiveKind, isTarHeader, plainTar } from '../engine/builder/archives.js';
import { CacheMounts } from '../engine/builder/cache-mounts.js';
import { BuildCacheStore } from '../engine/builder/cache-store.js';
import { ignoreMatcher, parseDockerignore } from '../engine/builder/dockerignore.js';
import type { StageState } from '../engine/builder/metadata.js';
import { csvFields, parseRunMounts } from '../engine/builder/run-mounts.js';
import { pruneMountPoints } from '../engine/builder/run-step.js';
import { copyEntries, findSources, placeEntries } from '../engine/builder/sources.js';
import { isBerthError } from '../engine/common/errors.js';
import { makeTempDir, removeDir, run } from './harness/util.js';

const dirs: string[] = [];
const temp = async (): Promise<string> => {
  const d = await makeTempDir('berth-build-unit-');
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await removeDir(d);
});

const stage = (workdir = '/', args: Record<string, string> = {}): StageState => ({
  config: { WorkingDir: workdir },
  args: new Map(Object.entries(args)),
  cmdSet: false,
  escape: '\\',
});

const fails = (fn: () => unknown, message: RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), `not a BerthError: ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
};

test('--mount values: CSV with quotes, defaults per type, targets below WORKDIR, variables substituted', () => {
  assert.deepEqual(csvFields('type=bind,"source=a,b",target=/x'), ['type=bind', 'source=a,b', 'target=/x']);
  const [bind, cache, tmpfs, secret] = parseRunMounts(
    ['target=rel', 'type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=1000,gid=$G', 'type=tmpfs,dst=/t,size=64m', 'type=secret,id=tok'],
    stage('/app', { G: '50' }),
  );
  assert.deepEqual(bind, { type: 'bind', target: '/app/rel', source: '.', readonly: true });
  assert.deepEqual(cache, { type: 'cache', target: '/root/.cache', id: '/root/.cache', sharing: 'locked', readonly: false, mode: 0o700, uid: 1000, gid: 50 });
  assert.deepEqual(tmpfs, { type: 'tmpfs', target: '/t', size: 64 * 1024 * 1024 });
  assert.deepEqual(secret, { type: 'secret', target: '/run/secrets/tok', id: 'tok', required: true, mode: 0o400, uid: 0, gid: 0 });
  const [rw, named] = parseRunMounts(['type=bind,from=build,src=/out,target=/in,rw', 'type=secret,target=/etc/npmrc,required=false'], stage());
  assert.deepEqual(rw, { type: 'bind', target: '/in', source: '/out', from: 'build', readonly: false });
  assert.deepEqual(named, { type: 'secret', target: '/etc/npmrc', id: 'npmrc', required: false, mode: 0o400, uid: 0, gid: 0 });
  fails(() => parseRunMounts(['type=ssh'], stage()), /type=ssh is not supported: the classic build API/);
  fails(() => parseRunMounts(['type=cache,target=/c,colour=red'], stage()), /unexpected key 'colour'/);
  fails(() => parseRunMounts(['type=nfs,target=/c'], stage()), /unsupported mount type "nfs"/);
  fails(() => parseRunMounts(['type=cache'], stage()), /needs a target/);
  fails(() => parseRunMounts(['type=cache,target=/c,sharing=sometimes'], stage()), /unsupported sharing value/);
  fails(() => parseRunMounts(['type=secret,id=a,env=A'], stage()), /env=\) are not supported/);
  fails(() => parseRunMounts(['type=tmpfs,target=/a', 'type=cache,target=/a'], stage()), /duplicate mount target \/a/);
  fails(() => parseRunMounts(['type=cache,target=/a,mode=999'], stage()), /invalid value for mode/);
});

test('platform arguments: --platform normalised as BuildKit does; BUILD* are the host', () => {
  assert.deepEqual(parseBuildPlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parseBuildPlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parseBuildPlatform('Linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  fails(() => parseBuildPlatform('linux'), /invalid platform "linux"/);
  const args = platformArgs({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(Object.fromEntries(args), {
    TARGETPLATFORM: 'linux/arm/v6', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v6',
    BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '',
  });
});

async function tree(files: Record<string, string>): Promise<string> {
  const root = await temp();
  for (const [f, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(root, f)), { recursive: true });
    await fsp.writeFile(path.join(root, f), content);
  }
  return root;
}

test('COPY entries: --exclude against a directory source and file sources, --parents with a /./ pivot, the lone-file rule', async () => {
  const root = await tree({ 'a.log': 'l', 'b.txt': 'b', 'sub/c.log': 'c', 'sub/d.txt': 'd', 'x/y/z.txt': 'z', 'x/w/z.txt': 'w' });
  const names = (e: Array<{ name: string }>): string[] => e.map((x) => x.name).sort();
  const exclude = ignoreMatcher(parseDockerignore('*.log'));
  const all = copyEntries(await findSources(root, '.'), [], { keepOwners: false, exclude }, root);
  assert.deepEqual(names(all), ['b.txt', 'sub', 'sub/c.log', 'sub/d.txt', 'x', 'x/w', 'x/w/z.txt', 'x/y', 'x/y/z.txt'], 'top-level *.log only');
  const deep = copyEntries(await findSources(root, '.'), [], { keepOwners: false, exclude: ignoreMatcher(parseDockerignore('**/*.log\nx')) }, root);
  assert.deepEqual(names(deep), ['b.txt', 'sub', 'sub/d.txt'], '** crosses directories; an excluded directory takes its content along');
  const globbed = copyEntries(await findSources(root, '*.*'), [], { keepOwners: false, exclude }, root);
  assert.deepEqual(names(globbed), ['b.txt']);
  const parents = copyEntries([...(await findSources(root, 'x/*/z.txt')), ...(await findSources(root, 'sub'))], [], { keepOwners: false, parents: true }, root);
  assert.deepEqual(names(parents), ['sub', 'sub/c.log', 'sub/d.txt', 'x/w/z.txt', 'x/y/z.txt']);
  const pivot = copyEntries(await findSources(root, 'x/./y/z.txt'), [], { keepOwners: false, parents: true }, root);
  assert.deepEqual(names(pivot), ['y/z.txt']);
  const lone = copyEntries(await findSources(root, 'b.txt'), [], { keepOwners: false }, root);
  assert.deepEqual(names(placeEntries(lone, '/dst/name.txt', false, true)), ['dst/name.txt']);
  assert.deepEqual(names(placeEntries(lone, '/dst', true, true)), ['dst/b.txt']);
  fails(() => placeEntries(lone, '/', false, true), /cannot copy a file onto the root directory/);
});

test('ADD archives: tar plain or compressed (gzip, bzip2, xz, zstd) by content; a compressed non-tar is a file', async () => {
  const root = await tree({ 'in/hello.txt': 'hello\n', 'plain.txt': 'just text\n' });
  await run('tar', ['-cf', path.join(root, 'a.tar'), '-C', path.join(root, 'in'), '.']);
  const compressors = [['gzip', '-k'], ['bzip2', '-k'], ['xz', '-k'], ['zstd', '-q', '-k']];
  assert.equal(await archiveKind(path.join(root, 'a.tar')), 'tar');
  for (const [tool, ...args] of compressors) {
    const r = await run(tool as string, [...args, path.join(root, 'a.tar')]);
    assert.equal(r.code, 0, r.stderr.toString());
  }
  for (const [file, kind] of [['a.tar.gz', 'gzip'], ['a.tar.bz2', 'bzip2'], ['a.tar.xz', 'xz'], ['a.tar.zst', 'zstd']] as const) {
    assert.equal(await archiveKind(path.join(root, file)), kind, file);
    // The decompressed stream is the tar itself.
    const chunks: Buffer[] = [];
    for await (const c of plainTar((async function* () { yield await fsp.readFile(path.join(root, file)); })(), kind)) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), await fsp.readFile(path.join(root, 'a.tar')), file);
  }
  await run('xz', ['-k', path.join(root, 'plain.txt')]);
  assert.equal(await archiveKind(path.join(root, 'plain.txt')), undefined);
  assert.equal(await archiveKind(path.join(root, 'plain.txt.xz')), undefined, 'an xz file that is not a tar is copied as it is');
  assert.equal(isTarHeader(Buffer.alloc(512)), false);
  // A corrupt archive fails with a clear message.
  await fsp.writeFile(path.join(root, 'bad.xz'), Buffer.concat([(await fsp.readFile(path.join(root, 'a.tar.xz'))).subarray(0, 40), Buffer.alloc(64, 7)]));
  await assert.rejects(async () => {
    for await (const _ of plainTar((async function* () { yield await fsp.readFile(path.join(root, 'bad.xz')); })(), 'xz')) void _;
  }, /the xz archive is corrupt/);
});

test('mount points leave the upper dir: stubs and empty parents go, copied-up parents with unchanged metadata go, written files stay', async () => {
  const lower = await tree({ 'run/keep': 'k', 'var/lib/x': 'x' });
  const upper = await temp();
  // What runc made for /run/secrets/tok and /cache/deep, and what the command wrote.
  await fsp.mkdir(path.join(upper, 'run/secrets'), { recursive: true });
  await fsp.chmod(path.join(upper, 'run'), (await fsp.stat(path.join(lower, 'run'))).mode & 0o7777);
  await fsp.writeFile(path.join(upper, 'run/secrets/tok'), '');
  await fsp.mkdir(path.join(upper, 'cache/deep'), { recursive: true });
  await fsp.mkdir(path.join(upper, 'var/lib/mnt'), { recursive: true });
  await fsp.writeFile(path.join(upper, 'var/lib/written.txt'), 'by the command');
  await fsp.mkdir(path.join(upper, 'data'));
  await fsp.writeFile(path.join(upper, 'data/file'), 'content under a mount target path');
  await pruneMountPoints(upper, [lower], ['/run/secrets/tok', '/cache/deep', '/var/lib/mnt', '/data']);
  const left = (await run('find', [upper, '-mindepth', '1'])).stdout.toString().trim().split('\n').map((p) => p.slice(upper.length + 1)).sort();
  assert.deepEqual(left, ['data', 'data/file', 'var', 'var/lib', 'var/lib/written.txt']);
});

test('build cache store: records survive a reload, the newest record answers a key, usage is written on flush', async () => {
  const dir = await temp();
  const store = new BuildCacheStore(dir);
  await store.load();
  const state = { id: `sha256:${'a'.repeat(64)}` as const, diffIds: [], layerBlobs: [] };
  const first = await store.add({ type: 'regular', key: 'k1', description: 'RUN one', state });
  assert.match(first.id, /^[a-z0-9]{25}$/);
  const again = await store.add({ type: 'regular', key: 'k1', description: 'RUN one (again)', state: { ...state, id: `sha256:${'b'.repeat(64)}` } });
  store.touch(again);
  await store.flush();
  const reloaded = new BuildCacheStore(dir);
  await reloaded.load();
  assert.equal(reloaded.lookup('k1')?.id, again.id, 'the newest record answers the key');
  assert.equal(reloaded.lookup('k1')?.usageCount, 2);
  assert.equal(reloaded.list().length, 2, 'the older record stays until pruned');
  assert.equal(reloaded.state(state.id)?.id, state.id);
  assert.equal(reloaded.states().length, 2);
  await reloaded.remove([first.id]);
  const last = new BuildCacheStore(dir);
  await last.load();
  assert.deepEqual(last.list().map((r) => r.id), [again.id]);
});

test('cache mounts: shared steps use one directory, private ones get their own while it is busy, locked ones wait', async () => {
  const dir = await temp();
  const store = new BuildCacheStore(dir);
  await store.load();
  const mounts = new CacheMounts(path.join(dir, 'cache-mounts'), store);
  const spec = { id: '/root/.npm', mode: 0o700, uid: 1000, gid: 1000 };
  const a = await mounts.acquire({ ...spec, sharing: 'shared' }, 'cached mount /root/.npm from exec npm ci');
  const b = await mounts.acquire({ ...spec, sharing: 'shared' }, 'x');
  assert.equal(a.dir, b.dir);
  const st = await fsp.stat(a.dir);
  assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o700, 1000, 1000], 'the root gets the mode and owner asked for');
  const p = await mounts.acquire({ ...spec, sharing: 'private' }, 'x');
  assert.notEqual(p.dir, a.dir, 'a private step does not share a busy directory');
  assert.equal(store.list().filter((r) => r.type === 'exec.cachemount').length, 2);
  assert.ok(mounts.inUse(a.record));
  a.release();
  b.release();
  p.release();
  assert.ok(!mounts.inUse(a.record));
  const again = await mounts.acquire({ ...spec, sharing: 'private' }, 'x');
  assert.equal(again.dir, a.dir, 'a free instance is reused');
  again.release();

  const order: string[] = [];
  const first = await mounts.acquire({ ...spec, sharing: 'locked' }, 'x');
  const second = mounts.acquire({ ...spec, sharing: 'locked' }, 'x').then((h) => {
    order.push('second acquired');
    return h;
  });
  await new Promise((r) => setTimeout(r, 50));
  order.push('first released');
  first.release();
  (await second).release();
  assert.deepEqual(order, ['first released', 'second acquired']);
  assert.equal(store.lookup(`exec.cachemount\0/root/.npm\x000`)?.usageCount, 5, 'each use is counted');
});
