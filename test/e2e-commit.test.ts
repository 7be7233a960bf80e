// docker commit, history, import and export through the real docker CLI against berthd: a
// container's changed file, deleted file (whiteout) and replaced directory (opaque) survive a
// commit and show in the committed image's layer tar; --change applies; a running container is
// paused while read and runs on afterwards; history lists the steps; import and an
// export→import round trip make images that run; bad input leaves nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { docker } from './harness/docker.js';
import { containerSkip as skip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';

let env: ContainerEnv;
let work: string;
const ok = (args: string[], input?: string | Buffer): Promise<string> =>
  input === undefined ? env.ok(args) : docker(env.daemon, args, { input }).then((r) => {
    assert.equal(r.code, 0, `docker ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  });

const BIN = fileURLToPath(new URL('../../bin/berth', import.meta.url));

/** bin/berth against the test daemon; asserts exit 0 and returns stdout. */
function berth(args: string[], input: string | Buffer = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'] ?? '', BERTH_HOST: env.daemon.dockerHost } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString()) : reject(new Error(`berth ${args.join(' ')}: ${code}: ${err}`))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

before(async () => {
  if (skip) return;
  env = await startContainerEnv({ pull: true });
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-commit-e2e-'));
  // Changed file, new file, deleted file (a whiteout), and /usr replaced by a new directory (opaque).
  await ok(['run', '--name', 'src', env.ref, 'sh', '-c', 'echo new > /etc/motd && rm /etc/group && rm -rf /usr && mkdir -p /usr/lib && echo fresh > /usr/lib/f']);
});

after(async () => {
  if (skip) return;
  try {
    await stopContainerEnv(env);
  } finally {
    if (work) await fsp.rm(work, { recursive: true, force: true });
  }
});

/** Entries of a tar (names → contents). */
async function readTar(buf: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: unknown) => parts.push(c as Buffer));
    stream.on('end', () => {
      out.set(h.name, Buffer.concat(parts));
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  Readable.from([buf]).pipe(ex);
  await done;
  return out;
}

test('commit: changes, whiteouts and opaque dirs survive; --change, author and message apply', { skip }, async () => {
  const id = (await ok(['commit', '-a', 'Ann <ann@example.com>', '-m', 'first commit', '-c', 'CMD ["cat", "/etc/motd"]', '-c', 'ENV FOO=bar', 'src', 'committed:1'])).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  assert.equal(await ok(['run', '--rm', 'committed:1']), 'new\n');
  assert.equal(
    await ok(['run', '--rm', 'committed:1', 'sh', '-c', 'test ! -e /etc/group && test ! -e /usr/bin/env && cat /usr/lib/f /etc/passwd | head -2 && echo $FOO']),
    'fresh\nroot:x:0:0:root:/root:/bin/sh\nbar\n',
  );
  const [img] = JSON.parse(await ok(['image', 'inspect', 'committed:1'])) as any[];
  assert.equal(img.Id, id);
  assert.equal(img.Author, 'Ann <ann@example.com>');
  assert.equal(img.Comment, 'first commit');
  assert.equal(img.Parent, env.imageId);
  assert.deepEqual(img.Config.Cmd, ['cat', '/etc/motd']);
  assert.ok(img.Config.Env.includes('FOO=bar'));
  assert.equal(img.RootFS.Layers.length, 2);
  // docker diff of the source still reads the same changes.
  const diff = await ok(['diff', 'src']);
  assert.match(diff, /^D \/etc\/group$/m);
  assert.match(diff, /^A \/etc\/motd$/m);

  const hist = (await ok(['history', '--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Comment}}|{{.Size}}', 'committed:1'])).trim().split('\n');
  assert.equal(hist.length, 2);
  const [top, base] = hist.map((l) => l.split('|'));
  assert.equal(top?.[0], id);
  assert.match(top?.[1] ?? '', /^sh -c echo new/);
  assert.equal(top?.[2], 'first commit');
  assert.notEqual(top?.[3], '0B');
  assert.equal(base?.[0], env.imageId);

  // The layer as saved: Docker's whiteout and opaque entries, no runtime mount points.
  const saved = path.join(work, 'committed.tar');
  await ok(['save', '-o', saved, 'committed:1']);
  const files = await readTar(await fsp.readFile(saved));
  const manifest = JSON.parse(files.get('manifest.json')?.toString() ?? '[]') as Array<{ Layers: string[] }>;
  const layerName = manifest[0]?.Layers.at(-1) as string;
  const layer = await readTar(files.get(layerName) as Buffer);
  const names = [...layer.keys()].sort();
  assert.ok(names.includes('etc/.wh.group'), names.join(' '));
  assert.ok(names.includes('usr/.wh..wh..opq'), names.join(' '));
  assert.equal(layer.get('etc/motd')?.toString(), 'new\n');
  assert.equal(layer.get('usr/lib/f')?.toString(), 'fresh\n');
  assert.ok(!names.some((n) => /^(proc|sys|dev)\/?$|^etc\/(hosts|hostname|resolv\.conf)$/.test(n)), names.join(' '));
});

test('commit of a running container pauses it while reading, then it runs on', { skip }, async () => {
  await ok(['run', '-d', '--name', 'live', env.ref, 'sleep', '1000']);
  try {
    await ok(['exec', 'live', 'sh', '-c', 'echo hi > /hello']);
    await ok(['commit', 'live', 'live:1']);
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'live'])).trim(), 'running false');
    assert.equal(await ok(['run', '--rm', 'live:1', 'cat', '/hello']), 'hi\n');
    // Docker keeps the container's Cmd as the image's.
    assert.equal((await ok(['image', 'inspect', '-f', '{{json .Config.Cmd}}', 'live:1'])).trim(), '["sleep","1000"]');
    // Nothing changed since: a metadata-only commit adds no layer.
    await ok(['exec', 'live', 'rm', '/hello']);
    const again = await ok(['image', 'inspect', '-f', '{{len .RootFS.Layers}}', (await ok(['commit', '--pause=false', 'src'])).trim()]);
    assert.equal(again.trim(), '2');
  } finally {
    await ok(['rm', '-f', 'live']);
  }
});

test('commit (pause=true) right after starting a short command: the container that exits meanwhile is committed, not refused', { skip }, async () => {
  const d = env.daemon;
  const images: string[] = [];
  const ids: string[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const id = (await d.request('POST', '/containers/create', { Image: env.ref, Cmd: ['touch', `/made-${i}`] })).json<{ Id: string }>().Id;
      ids.push(id);
      assert.equal((await d.request('POST', `/containers/${id}/start`)).status, 204);
      const c = await d.request('POST', `/commit?container=${id}&pause=true&changes=EXPOSE+8000`);
      assert.equal(c.status, 201, `round ${i}: ${c.body.toString()}`);
      images.push(c.json<{ Id: string }>().Id);
    }
    // A stopped container with pause=true (docker-py's default) commits too.
    const stopped = await d.request('POST', `/commit?container=${ids[0]}&pause=true`);
    assert.equal(stopped.status, 201, stopped.body.toString());
    images.push(stopped.json<{ Id: string }>().Id);
    assert.equal(await ok(['run', '--rm', stopped.json<{ Id: string }>().Id, 'ls', '/made-0']), '/made-0\n');
  } finally {
    for (const id of ids) await d.request('DELETE', `/containers/${id}?force=1`);
    for (const img of images) await d.request('DELETE', `/images/${img}?force=1`);
  }
});

test('bad commits are refused and leave no image', { skip }, async () => {
  const before = await ok(['images', '-aq', '--no-trunc']);
  const bad = await docker(env.daemon, ['commit', '-c', 'RUN rm -rf /', 'src', 'bad:1']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /run is not a valid change command/);
  const noSuch = await docker(env.daemon, ['commit', 'no-such-container']);
  assert.match(noSuch.stderr, /No such container/);
  const badRef = await env.daemon.request('POST', '/commit?container=src&repo=bad::x');
  assert.equal(badRef.status, 400);
  const badBody = await env.daemon.request('POST', '/commit?container=src', [1, 2]);
  assert.equal(badBody.status, 400);
  assert.equal(await ok(['images', '-aq', '--no-trunc']), before);
});

test('import: export → import round trip runs; stdin import with changes and message; URLs refused', { skip }, async () => {
  const exported = path.join(work, 'export.tar');
  await ok(['export', '-o', exported, 'src']);
  const id = (await ok(['import', '-c', 'CMD ["cat", "/etc/motd"]', exported, 'imported:1'])).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  assert.equal(await ok(['run', '--rm', 'imported:1']), 'new\n');
  assert.equal(await ok(['run', '--rm', 'imported:1', 'cat', '/usr/lib/f']), 'fresh\n');
  const hist = (await ok(['history', '--format', '{{.ID}}|{{.Comment}}', 'imported:1'])).trim().split('\n');
  assert.deepEqual(hist, [`${id.slice(7, 19)}|Imported from -`]);
  const [img] = JSON.parse(await ok(['image', 'inspect', 'imported:1'])) as any[];
  assert.equal(img.Parent, '');
  assert.equal(img.RootFS.Layers.length, 1);

  // A gzip'd tar on stdin, with a message and ENV/WORKDIR changes.
  const gz = gzipSync(await fsp.readFile(exported));
  await ok(['import', '-m', 'from stdin', '-c', 'ENV A=1', '-c', 'WORKDIR /usr/lib', '-', 'imported:2'], gz);
  assert.equal(await ok(['run', '--rm', 'imported:2', 'sh', '-c', 'echo $A; pwd; cat f']), '1\n/usr/lib\nfresh\n');
  assert.equal((await ok(['history', '--format', '{{.Comment}}', 'imported:2'])).trim(), 'from stdin');

  const url = await docker(env.daemon, ['import', 'http://127.0.0.1:9/x.tar']);
  assert.notEqual(url.code, 0);
  assert.match(url.stderr, /not supported/);
  const garbage = await docker(env.daemon, ['import', '-', 'garbage:1'], { input: Buffer.from('this is not a tar archive at all'.repeat(40)) });
  assert.notEqual(garbage.code, 0);
  assert.equal((await docker(env.daemon, ['image', 'inspect', 'garbage:1'])).code, 1);
});

test('berth commit, history and import', { skip }, async () => {
  const id = (await berth(['commit', '-m', 'by berth', '-c', 'ENV WHO=berth', 'src', 'berth-made:1'])).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  assert.equal(await ok(['run', '--rm', 'berth-made:1', 'sh', '-c', 'echo $WHO; cat /etc/motd']), 'berth\nnew\n');
  const hist = (await berth(['history', '--format', '{{.ID}}|{{.Comment}}', 'berth-made:1'])).trim().split('\n');
  assert.deepEqual(hist, [`${id.slice(7, 19)}|by berth`, `${env.imageId.slice(7, 19)}|`]);
  const exported = path.join(work, 'export.tar');
  const imported = (await berth(['import', '-m', 'berth import', '-', 'berth-imported:1'], await fsp.readFile(exported))).trim();
  assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', 'berth-imported:1'])).trim(), imported);
  assert.equal(await ok(['run', '--rm', 'berth-imported:1', 'cat', '/etc/motd']), 'new\n');
  await ok(['rmi', 'berth-made:1', 'berth-imported:1']);
});

test('cleanup: committed and imported images go with rmi', { skip }, async () => {
  await ok(['rm', 'src']);
  await ok(['rmi', 'committed:1', 'live:1', 'imported:1', 'imported:2']);
});
