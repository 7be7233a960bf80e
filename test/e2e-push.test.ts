// Pushes through berthd's API and the docker CLI into a real Debian docker-registry:
// cross-repository mounts, blobs the registry already has, uploads of loaded images
// (monolithic and chunked), layers re-created from their directories, token auth;
// then the pushed images pulled back into berthd and pulled and run by a real dockerd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { startTokenServer, type TokenServer } from './harness/token-server.js';
import { busyboxLayer, pushImage, type PushedImage } from './harness/images.js';
import { parseNdjson, pull, registryAuthHeader } from './harness/api.js';
import { docker } from './harness/docker.js';
import { run } from './harness/util.js';
import { startDockerd, which, type Engine } from '../bench/peers.js';

/** Small enough that the busybox layer (~1 MB gzipped) goes up in chunks, the others in one PUT. */
const CHUNK = 256 * 1024;

let registry: TestRegistry;
let daemon: TestDaemon;
let fresh: TestDaemon;
let base: PushedImage;
let wh: PushedImage;

before(async () => {
  registry = await startRegistry();
  daemon = await startDaemon({ extraArgs: ['--push-chunk-size', String(CHUNK)] });
  fresh = await startDaemon({ extraArgs: ['--push-chunk-size', String(CHUNK)] });
  const bb = await busyboxLayer();
  base = await pushImage(registry, 'lib/base:1', {
    layers: [bb, { files: [{ type: 'file', path: 'etc/motd', content: 'pushed by berth\n', mode: 0o644 }] }],
    config: { Cmd: ['cat', '/etc/motd'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
  });
  wh = await pushImage(registry, 'lib/wh:1', {
    layers: [
      bb,
      {
        files: [
          { type: 'dir', path: 'data' },
          { type: 'file', path: 'data/keep.txt', content: 'keep\n' },
          { type: 'file', path: 'data/gone.txt', content: 'gone\n' },
          { type: 'dir', path: 'opaque' },
          { type: 'file', path: 'opaque/old.txt', content: 'old\n' },
        ],
      },
      {
        files: [
          { type: 'file', path: 'data/.wh.gone.txt', content: '' },
          { type: 'dir', path: 'opaque' },
          { type: 'file', path: 'opaque/.wh..wh..opq', content: '' },
          { type: 'file', path: 'opaque/new.txt', content: 'new\n' },
        ],
      },
    ],
    config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
  });
  for (const ref of ['lib/base', 'lib/wh']) {
    const r = await pull(daemon, `${registry.host}/${ref}`, '1');
    assert.equal(r.error, undefined, r.error);
  }
});

after(async () => {
  await daemon?.cleanup();
  await fresh?.cleanup();
  await registry?.stop();
});

interface PushOutcome {
  status: number;
  messages: Array<Record<string, unknown>>;
  error?: string;
}

async function push(d: TestDaemon, name: string, tag: string, auth: Record<string, string> = {}): Promise<PushOutcome> {
  const res = await d.request('POST', `/v1.47/images/${name}/push?tag=${encodeURIComponent(tag)}`, undefined, {
    'X-Registry-Auth': registryAuthHeader(auth),
  });
  if (res.status !== 200) return { status: res.status, messages: [], error: res.json<{ message: string }>().message };
  const messages = parseNdjson(res.body);
  const failed = messages.find((m) => m['error']);
  return failed ? { status: res.status, messages, error: String(failed['error']) } : { status: res.status, messages };
}

async function tag(d: TestDaemon, source: string, repo: string, t: string): Promise<void> {
  const r = await d.request('POST', `/v1.47/images/${source}/tag?repo=${encodeURIComponent(repo)}&tag=${t}`);
  assert.equal(r.status, 201, r.body.toString());
}

/** Final status of each layer id (the last message that carried it). */
function layerOutcomes(messages: Array<Record<string, unknown>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of messages) if (typeof m['id'] === 'string' && typeof m['status'] === 'string') out.set(m['id'], m['status']);
  return out;
}

function aux(messages: Array<Record<string, unknown>>): { Tag: string; Digest: string; Size: number } {
  const a = messages.find((m) => m['aux'] !== undefined)?.['aux'];
  assert.ok(a, 'an aux message with the pushed digest');
  return a as { Tag: string; Digest: string; Size: number };
}

/** The registry's access log lines since `from` (byte offset), to see which requests a push made. */
function registryLog(from = 0): string {
  return readFileSync(registry.logFile, 'utf8').slice(from);
}

async function registryManifest(repo: string, ref: string): Promise<{ digest: string; body: Record<string, any> }> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, {
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(res.status, 200, `GET manifest ${repo}:${ref}`);
  return { digest: res.headers.get('docker-content-digest') ?? '', body: (await res.json()) as Record<string, any> };
}

const short = (d: string): string => d.replace(/^sha256:/, '').slice(0, 12);

test('pushing a pulled image to another repository mounts its layers and keeps its manifest digest', async () => {
  await tag(daemon, `${registry.host}/lib/base:1`, `${registry.host}/team/copy`, '1');
  const logAt = registryLog().length;
  const r = await push(daemon, `${registry.host}/team/copy`, '1');
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.messages[0]?.['status'], `The push refers to repository [${registry.host}/team/copy]`);
  const outcomes = layerOutcomes(r.messages);
  for (const diffId of base.diffIds) {
    assert.equal(outcomes.get(short(diffId)), 'Mounted from lib/base', `layer ${short(diffId)}`);
    const seen = r.messages.filter((m) => m['id'] === short(diffId)).map((m) => m['status']);
    assert.deepEqual(seen.slice(0, 2), ['Preparing', 'Waiting']);
  }
  const a = aux(r.messages);
  assert.equal(a.Digest, base.manifestDigest, 'the stored manifest went up unchanged');
  assert.equal(a.Tag, '1');
  assert.ok(r.messages.some((m) => m['status'] === `1: digest: ${base.manifestDigest} size: ${a.Size}`));
  assert.equal((await registryManifest('team/copy', '1')).digest, base.manifestDigest);
  const log = registryLog(logAt);
  assert.match(log, /POST \/v2\/team\/copy\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=lib%2Fbase/);
  assert.doesNotMatch(log, /PATCH \/v2\/team\/copy/);
  // Like a pull, the push leaves a repo digest behind.
  const img = (await daemon.request('GET', `/v1.47/images/${registry.host}/team/copy:1/json`)).json<{ RepoDigests: string[] }>();
  assert.ok(img.RepoDigests.includes(`${registry.host}/team/copy@${base.manifestDigest}`), img.RepoDigests.join(' '));
});

test('pushing again finds every layer already in the repository', async () => {
  const logAt = registryLog().length;
  const r = await push(daemon, `${registry.host}/team/copy`, '1');
  assert.equal(r.error, undefined, r.error);
  const outcomes = layerOutcomes(r.messages);
  for (const diffId of base.diffIds) assert.equal(outcomes.get(short(diffId)), 'Layer already exists');
  assert.equal(aux(r.messages).Digest, base.manifestDigest);
  const log = registryLog(logAt);
  assert.doesNotMatch(log, /POST \/v2\/team\/copy\/blobs\/uploads/);
  assert.doesNotMatch(log, /PATCH /);
});

test('a mount the registry cannot do falls back to the next repository holding the blob', async () => {
  // lib/base loses its link to the motd layer: mounting it from there opens an upload instead.
  const motd = base.layerDigests[1] as string;
  const del = await fetch(`${registry.url}/v2/lib/base/blobs/${motd}`, { method: 'DELETE' });
  assert.equal(del.status, 202);
  await tag(daemon, `${registry.host}/lib/base:1`, `${registry.host}/team/copy2`, '1');
  const logAt = registryLog().length;
  const r = await push(daemon, `${registry.host}/team/copy2`, '1');
  assert.equal(r.error, undefined, r.error);
  const outcomes = layerOutcomes(r.messages);
  assert.equal(outcomes.get(short(base.diffIds[0] as string)), 'Mounted from lib/base');
  assert.equal(outcomes.get(short(base.diffIds[1] as string)), 'Mounted from team/copy');
  const log = registryLog(logAt);
  assert.match(log, /"DELETE \/v2\/team\/copy2\/blobs\/uploads\//, 'the upload the failed mount opened is cancelled');
  assert.doesNotMatch(log, /PATCH /);
});

test('berth push shows the same progress, and names a missing image', async () => {
  const bin = fileURLToPath(new URL('../../bin/berth', import.meta.url));
  const env = { PATH: process.env['PATH'] ?? '', BERTH_HOST: daemon.dockerHost };
  const ok = await run(process.execPath, [bin, 'push', `${registry.host}/team/copy:1`], { env });
  assert.equal(ok.code, 0, ok.stderr.toString());
  const out = ok.stdout.toString();
  assert.match(out, new RegExp(`The push refers to repository \\[${registry.host}/team/copy\\]`));
  for (const diffId of base.diffIds) assert.match(out, new RegExp(`${short(diffId)}: Layer already exists`));
  assert.match(out, new RegExp(`1: digest: ${base.manifestDigest} size: \\d+`));
  const missing = await run(process.execPath, [bin, 'push', `${registry.host}/team/nothing`], { env });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr.toString(), /An image does not exist locally with the tag: .*team\/nothing/);
});

test('a loaded image is gzipped and uploaded (chunked above the threshold) and pulls back as the same image', async () => {
  const saved = await daemon.request('GET', `/v1.47/images/get?names=${encodeURIComponent(`${registry.host}/lib/base:1`)}`);
  assert.equal(saved.status, 200);
  const loaded = await fresh.request('POST', '/v1.47/images/load?quiet=1', saved.body, { 'Content-Type': 'application/x-tar' });
  assert.equal(loaded.status, 200, loaded.body.toString());
  await tag(fresh, `${registry.host}/lib/base:1`, `${registry.host}/team/loaded`, '1');
  const logAt = registryLog().length;
  const r = await push(fresh, `${registry.host}/team/loaded`, '1');
  assert.equal(r.error, undefined, r.error);
  const outcomes = layerOutcomes(r.messages);
  for (const diffId of base.diffIds) assert.equal(outcomes.get(short(diffId)), 'Pushed', `layer ${short(diffId)}`);
  const progress = r.messages.filter((m) => m['status'] === 'Pushing') as Array<{ progressDetail: { current: number; total: number } }>;
  assert.ok(progress.length > 0 && progress.every((m) => m.progressDetail.total > 0), 'Pushing carries byte progress');
  const log = registryLog(logAt);
  assert.match(log, /PATCH \/v2\/team\/loaded\/blobs\/uploads\//, 'the big layer went up in chunks');
  assert.match(log, /PUT \/v2\/team\/loaded\/blobs\/uploads\/[^ ]*digest=sha256/);
  const m = await registryManifest('team/loaded', '1');
  assert.equal(m.body['mediaType'], 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(m.body['config'].digest, base.configDigest);
  for (const l of m.body['layers'] as Array<{ mediaType: string }>) assert.equal(l.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');

  // Back into a berthd that has nothing of it: same image ID (the pull verifies every DiffID).
  const rm1 = await fresh.request('DELETE', `/v1.47/images/${base.configDigest}?force=1`);
  assert.equal(rm1.status, 200, rm1.body.toString());
  const back = await pull(fresh, `${registry.host}/team/loaded`, '1');
  assert.equal(back.error, undefined, back.error);
  const img = (await fresh.request('GET', `/v1.47/images/${registry.host}/team/loaded:1/json`)).json<{ Id: string }>();
  assert.equal(img.Id, base.configDigest);
});

test('the docker CLI pushes with token auth; without credentials the registry refuses', async () => {
  const tokens: TokenServer = await startTokenServer({ username: 'pusher', password: 'secret' });
  const authRegistry = await startRegistry({
    auth: { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
  });
  try {
    const target = `${authRegistry.host}/team/auth:1`;
    const tagged = await docker(daemon, ['tag', `${registry.host}/lib/base:1`, target]);
    assert.equal(tagged.code, 0, tagged.stderr);
    const refused = await push(daemon, `${authRegistry.host}/team/auth`, '1');
    assert.equal(refused.status, 200, 'the refusal comes after the first progress message, in the stream');
    const last = refused.messages.at(-1) as { error?: string; errorDetail?: { message?: string } };
    assert.match(last.error ?? '', /denied: requested access to the resource is denied/);
    assert.equal(last.errorDetail?.message, last.error);
    const anon = await docker({ dockerHost: daemon.dockerHost }, ['push', target]);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /denied|unauthorized/i);

    const login = await docker(daemon, ['login', authRegistry.host, '-u', 'pusher', '--password-stdin'], { input: 'secret\n' });
    assert.equal(login.code, 0, login.stderr);
    const pushed = await docker(daemon, ['push', target]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /The push refers to repository/);
    assert.match(pushed.stdout, /Pushed/);
    assert.match(pushed.stdout, /1: digest: sha256:[0-9a-f]{64} size: \d+/);
    assert.ok(
      tokens.requests.some((t) => t.authorized && t.scope.includes('repository:team/auth:pull,push')),
      JSON.stringify(tokens.requests.map((t) => t.scope)),
    );
  } finally {
    await authRegistry.stop();
    await tokens.stop();
  }
});

test('a layer whose blob is gone is re-created from its directory, whiteouts included', async () => {
  await tag(daemon, `${registry.host}/lib/wh:1`, `${registry.host}/team/recreated`, '1');
  // Drop the two layers only this image has from the content store.
  for (const digest of wh.layerDigests.slice(1)) {
    await rm(path.join(daemon.dataRoot, 'content', 'blobs', 'sha256', digest.slice(7)));
  }
  const r = await push(daemon, `${registry.host}/team/recreated`, '1');
  assert.equal(r.error, undefined, r.error);
  const m = await registryManifest('team/recreated', '1');
  const layers = m.body['layers'] as Array<{ digest: string }>;
  assert.equal(layers.length, 3);
  assert.equal(layers[0]?.digest, wh.layerDigests[0], 'the layer with a blob went up as it is');
  for (const [i, l] of layers.entries()) if (i > 0) assert.ok(!wh.layerDigests.includes(l.digest), 're-created blobs are new');
  const cfgRes = await fetch(`${registry.url}/v2/team/recreated/blobs/${m.body['config'].digest}`);
  const cfg = (await cfgRes.json()) as { rootfs: { diff_ids: string[] } };
  // A re-created tar is not byte for byte the original one: the config names its DiffIDs.
  assert.equal(cfg.rootfs.diff_ids.length, 3);
  assert.equal(cfg.rootfs.diff_ids[0], wh.diffIds[0]);
  // Deterministic: pushing again re-creates the very same blobs.
  const again = await push(daemon, `${registry.host}/team/recreated`, '1');
  assert.equal(again.error, undefined, again.error);
  assert.equal(aux(again.messages).Digest, m.digest);
  for (const s of layerOutcomes(again.messages).values()) assert.equal(s, 'Layer already exists');
  // Back into berthd: every DiffID the pushed config names checks out.
  const back = await pull(fresh, `${registry.host}/team/recreated`, '1');
  assert.equal(back.error, undefined, back.error);
});

test('images pushed by berthd pull and run on a real dockerd', { skip: dockerdSkip() }, async () => {
  const engine: Engine = await startDockerd();
  try {
    const runs: Array<[string, string[], string]> = [
      [`${registry.host}/team/copy:1`, [], 'pushed by berth\n'],
      [`${registry.host}/team/loaded:1`, [], 'pushed by berth\n'],
      [`${registry.host}/team/recreated:1`, ['sh', '-c', 'ls /data /opaque'], '/data:\nkeep.txt\n\n/opaque:\nnew.txt\n'],
    ];
    for (const [ref, cmd, expected] of runs) {
      const pulled = await docker(engine, ['pull', ref]);
      assert.equal(pulled.code, 0, `dockerd pull ${ref}: ${pulled.stderr}`);
      const ran = await docker(engine, ['run', '--rm', '--network', 'none', ref, ...cmd]);
      assert.equal(ran.code, 0, `dockerd run ${ref}: ${ran.stderr}`);
      assert.equal(ran.stdout, expected);
    }
  } finally {
    await engine.stop();
  }
});

function dockerdSkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const bin of ['dockerd', 'containerd', 'runc']) if (!which(bin)) return `${bin} is not installed`;
  return existsSync('/usr/local/bin/docker') || which('docker') ? false : 'no docker CLI';
}
