// Proves the test harness works against real parts: Debian's docker-registry, skopeo, openssl,
// the docker CLI and Debian's busybox-static.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import {
  busyboxLayer,
  busyboxStaticBinary,
  buildTar,
  docker,
  inspectRaw,
  pushImage,
  pushIndex,
  pushRawLayers,
  randomLayer,
  startDaemon,
  startFaultProxy,
  startRegistry,
  startTokenServer,
  type LayerSpec,
  type PushedImage,
  type TestRegistry,
} from './harness/index.js';
import { goArch, run, runOk } from './harness/util.js';

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  error?: Error;
}

/** GET with node:http; a socket dropped mid-body resolves with what arrived plus `error`. */
function get(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      const done = (error?: Error): void =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (e) => done(e));
      res.on('aborted', () => done(new Error('aborted')));
    });
    req.on('error', reject);
    req.end();
  });
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

async function manifestOf(ref: string, creds?: string): Promise<{ digest: string; json: Record<string, unknown> }> {
  const raw = await inspectRaw(ref, creds);
  return { digest: sha256(raw), json: JSON.parse(raw.toString()) as Record<string, unknown> };
}

describe('harness: images', () => {
  let reg: TestRegistry;
  let bb: LayerSpec;
  before(async () => {
    reg = await startRegistry();
    bb = await busyboxLayer();
  });
  after(async () => {
    await reg.stop();
  });

  it('extracts a working static busybox from the Debian package', async () => {
    const bin = await busyboxStaticBinary();
    const out = await runOk(bin, ['echo', 'hello from busybox']);
    assert.equal(out.toString(), 'hello from busybox\n');
    const names = bb.files.map((f) => f.path);
    for (const applet of ['bin/sh', 'bin/ls', 'bin/cat', 'bin/echo', 'bin/true', 'bin/sleep', 'bin/env', 'bin/id', 'bin/wget']) {
      assert.ok(names.includes(applet), `busybox layer has ${applet}`);
    }
    const tmp = bb.files.find((f) => f.path === 'tmp');
    assert.ok(tmp && tmp.type === 'dir' && tmp.mode === 0o1777);
  });

  it('pushes a busybox image whose digests match what the registry serves', async () => {
    const pushed = await pushImage(reg, 'library/busybox:latest', { layers: [bb], config: { Cmd: ['sh'], Env: ['PATH=/bin'] } });
    assert.equal(pushed.ref, `${reg.host}/library/busybox:latest`);
    const m = await manifestOf(pushed.ref);
    assert.equal(m.digest, pushed.manifestDigest);
    assert.equal(m.json.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const layers = m.json.layers as Array<{ digest: string; mediaType: string }>;
    assert.deepEqual(
      layers.map((l) => l.digest),
      pushed.layerDigests,
    );
    assert.equal(layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');

    // The config as served: platform, config section, diff_ids.
    const cfgRes = await get(`${reg.url}/v2/library/busybox/blobs/${pushed.configDigest}`);
    assert.equal(cfgRes.status, 200);
    assert.equal(sha256(cfgRes.body), pushed.configDigest);
    const cfg = JSON.parse(cfgRes.body.toString()) as { architecture: string; os: string; config: unknown; rootfs: { diff_ids: string[] } };
    assert.equal(cfg.architecture, goArch());
    assert.equal(cfg.os, 'linux');
    assert.deepEqual(cfg.config, { Cmd: ['sh'], Env: ['PATH=/bin'] });
    assert.deepEqual(cfg.rootfs.diff_ids, pushed.diffIds);

    // diff_id is the sha256 of the uncompressed layer.
    const layerRes = await get(`${reg.url}/v2/library/busybox/blobs/${pushed.layerDigests[0]}`);
    assert.equal(sha256(layerRes.body), pushed.layerDigests[0]);
    assert.equal(sha256(gunzipSync(layerRes.body)), pushed.diffIds[0]);

    // The layer is a working root filesystem.
    const root = await mkdtemp(join(tmpdir(), 'berth-harness-rootfs-'));
    try {
      await runOk('tar', ['-xzf', '-', '-C', root], { input: layerRes.body });
      const sh = await runOk('/usr/sbin/chroot', [root, '/bin/sh', '-c', 'id; stat -c %a /tmp; echo ok | cat'], { env: { PATH: '/bin' } });
      assert.equal(sh.toString(), 'uid=0(root) gid=0(root)\n1777\nok\n');
    } finally {
      await rm(root, { recursive: true, force: true });
    }

    // A plain GET with Accept headers agrees with skopeo.
    const direct = await get(`${reg.url}/v2/library/busybox/manifests/latest`, { Accept: MANIFEST_ACCEPT });
    assert.equal(direct.headers['docker-content-digest'], pushed.manifestDigest);
  });

  it('pushes a 2-platform index', async () => {
    const res = await pushIndex(reg, 'multi/busybox:v1', [
      { layers: [bb], platform: { os: 'linux', architecture: 'amd64' } },
      { layers: [bb, randomLayer('data', 4096)], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
    const idx = await manifestOf(res.ref);
    assert.equal(idx.digest, res.indexDigest);
    assert.equal(idx.json.mediaType, 'application/vnd.oci.image.index.v1+json');
    const entries = idx.json.manifests as Array<{ digest: string; platform: { architecture: string; variant?: string } }>;
    assert.deepEqual(
      entries.map((e) => [e.digest, e.platform.architecture, e.platform.variant]),
      [
        [res.manifests[0]?.manifestDigest, 'amd64', undefined],
        [res.manifests[1]?.manifestDigest, 'arm64', 'v8'],
      ],
    );
    for (const child of res.manifests) {
      const m = await manifestOf(child.ref);
      assert.equal(m.digest, child.manifestDigest);
    }
    assert.equal(res.manifests[1]?.layerDigests.length, 2);
  });

  it('pushes zstd, uncompressed and Docker-format images, and raw hostile tars', async () => {
    const z = await pushImage(reg, 'formats/zstd:1', {
      layers: [
        { ...bb, compression: 'zstd' },
        { files: [{ type: 'file', path: 'plain.txt', content: 'plain' }], compression: 'none' },
      ],
    });
    const zm = await manifestOf(z.ref);
    assert.equal(zm.digest, z.manifestDigest);
    assert.deepEqual(
      (zm.json.layers as Array<{ mediaType: string }>).map((l) => l.mediaType),
      ['application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.oci.image.layer.v1.tar'],
    );
    assert.equal(z.layerDigests[1], z.diffIds[1]);

    const d = await pushIndex(reg, 'formats/docker:1', [{ layers: [bb] }, { layers: [bb], platform: { os: 'linux', architecture: 'arm64' } }], {
      format: 'docker',
    });
    const dm = await manifestOf(d.ref);
    assert.equal(dm.digest, d.indexDigest);
    assert.equal(dm.json.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const child = await manifestOf(d.manifests[0]?.ref as string);
    assert.equal(child.json.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');

    const hostile = await buildTar([{ type: 'file', path: '../escape', content: 'x' }]);
    const raw = await pushRawLayers(reg, 'hostile/dotdot:1', [hostile], { Cmd: ['/bin/sh'] });
    assert.equal(raw.diffIds[0], sha256(hostile));
    assert.equal((await manifestOf(raw.ref)).digest, raw.manifestDigest);
  });

  it('buildTar gives exact entries: hostile names, PAX xattrs, devices, mode 0, long names', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
    const data = await buildTar([
      { type: 'dir', path: 'etc', mode: 0o700, uid: 5, gid: 6, mtime: new Date('2001-02-03T04:05:06Z') },
      { type: 'file', path: 'etc/secret', content: 'pw', mode: 0, xattrs: { 'user.foo': 'bar', 'security.capability': 'cap' } },
      { type: 'file', path: '../outside', content: 'x' },
      { type: 'file', path: '/abs/path', content: 'y' },
      { type: 'symlink', path: 'link', target: '/etc/secret' },
      { type: 'hardlink', path: 'hard', target: 'etc/secret' },
      { type: 'char', path: 'dev/null', major: 1, minor: 3 },
      { type: 'block', path: 'dev/loop0', major: 7, minor: 0 },
      { type: 'fifo', path: 'pipe' },
      { type: 'file', path: long, content: 'long' },
    ]);
    const seen: Array<{ name: string; type: string; mode: number; uid: number; linkname: string | null; pax: unknown; major: number; minor: number }> = [];
    const ex = tar.extract();
    const done = (async () => {
      for await (const entry of ex) {
        const h = entry.header;
        seen.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, linkname: h.linkname ?? null, pax: h.pax, major: h.devmajor, minor: h.devminor });
        entry.resume();
      }
    })();
    ex.end(data);
    await done;
    assert.deepEqual(
      seen.map((s) => s.name),
      ['etc/', 'etc/secret', '../outside', '/abs/path', 'link', 'hard', 'dev/null', 'dev/loop0', 'pipe', long],
    );
    assert.equal(seen[0]?.mode, 0o700);
    assert.equal(seen[0]?.uid, 5);
    assert.equal(seen[1]?.mode, 0);
    assert.deepEqual(seen[1]?.pax, { path: 'etc/secret', 'SCHILY.xattr.user.foo': 'bar', 'SCHILY.xattr.security.capability': 'cap' });
    assert.equal(seen[4]?.type, 'symlink');
    assert.equal(seen[4]?.linkname, '/etc/secret');
    assert.equal(seen[5]?.type, 'link');
    assert.deepEqual([seen[6]?.type, seen[6]?.major, seen[6]?.minor], ['character-device', 1, 3]);
    assert.deepEqual([seen[7]?.type, seen[7]?.major, seen[7]?.minor], ['block-device', 7, 0]);
    assert.equal(seen[8]?.type, 'fifo');
  });
});

describe('harness: registry auth', () => {
  it('htpasswd registry refuses anonymous and accepts credentials via skopeo', async () => {
    const reg = await startRegistry({ auth: { kind: 'htpasswd', username: 'alice', password: 'wonder land' } });
    try {
      const anonymous = await get(`${reg.url}/v2/`);
      assert.equal(anonymous.status, 401);
      const spec = { layers: [await busyboxLayer()] };
      await assert.rejects(pushImage(reg, 'private/bb:1', spec), /unauthorized|authentication required/);
      const pushed = await pushImage(reg, 'private/bb:1', spec, { creds: 'alice:wonder land' });
      assert.equal((await manifestOf(pushed.ref, 'alice:wonder land')).digest, pushed.manifestDigest);
      await assert.rejects(inspectRaw(pushed.ref), /unauthorized|authentication required/);
      await assert.rejects(inspectRaw(pushed.ref, 'alice:nope'), /unauthorized|authentication required|invalid/);
    } finally {
      await reg.stop();
    }
  });

  it('token server + registry work end to end via skopeo', async () => {
    const ts = await startTokenServer({ username: 'bob', password: 'hunter2' });
    const reg = await startRegistry({
      auth: { kind: 'token', realm: ts.realm, service: ts.service, issuer: ts.issuer, rootCertBundle: ts.rootCertBundle },
    });
    try {
      const challenge = await get(`${reg.url}/v2/`);
      assert.equal(challenge.status, 401);
      assert.match(String(challenge.headers['www-authenticate']), new RegExp(`^Bearer realm="${ts.realm}"`));

      const pushed = await pushImage(reg, 'team/app:1', { layers: [await busyboxLayer()] }, { creds: 'bob:hunter2' });
      assert.equal((await manifestOf(pushed.ref, 'bob:hunter2')).digest, pushed.manifestDigest);
      await assert.rejects(inspectRaw(pushed.ref), /denied|unauthorized/);
      await assert.rejects(inspectRaw(pushed.ref, 'bob:wrong'), /invalid username\/password|unauthorized/);

      const granted = ts.requests.find((r) => r.authorized && r.scope.includes('repository:team/app:pull,push'));
      assert.ok(granted, 'a push token was requested with credentials');
      assert.equal(granted.account, 'bob');
      assert.ok(ts.requests.some((r) => !r.authorized && r.account === undefined), 'anonymous token request recorded');
      assert.ok(ts.requests.some((r) => !r.authorized && r.account === 'bob'), 'wrong-password request recorded');

      // The token itself: ES256 JWT with x5c and the claims the registry checks.
      const tok = await get(`${ts.realm}?service=${encodeURIComponent(ts.service)}&scope=repository:team/app:pull`, {
        Authorization: `Basic ${Buffer.from('bob:hunter2').toString('base64')}`,
      });
      const body = JSON.parse(tok.body.toString()) as { token: string; access_token: string; expires_in: number; issued_at: string };
      assert.equal(body.token, body.access_token);
      const [h, c] = body.token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
      assert.equal(h?.alg, 'ES256');
      assert.ok(Array.isArray(h?.x5c));
      assert.equal(c?.aud, ts.service);
      assert.equal(c?.iss, ts.issuer);
      assert.deepEqual(c?.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
      // The registry accepts it directly.
      const m = await get(`${reg.url}/v2/team/app/manifests/1`, { Authorization: `Bearer ${body.token}`, Accept: MANIFEST_ACCEPT });
      assert.equal(m.status, 200);
      assert.equal(m.headers['docker-content-digest'], pushed.manifestDigest);
    } finally {
      await reg.stop();
      await ts.stop();
    }
  });
});

describe('harness: fault proxy', () => {
  let reg: TestRegistry;
  let img: PushedImage;
  let small: string;
  let big: string;
  before(async () => {
    reg = await startRegistry();
    img = await pushImage(reg, 'faults/img:1', {
      layers: [randomLayer('a', 64 * 1024, { compression: 'none' }), randomLayer('b', 256 * 1024, { compression: 'none' })],
    });
    small = img.layerDigests[0] as string;
    big = img.layerDigests[1] as string;
  });
  after(async () => {
    await reg.stop();
  });

  it('corrupts exactly the named blob', async () => {
    const proxy = await startFaultProxy(reg.host, { corruptBlob: big });
    try {
      const bad = await get(`http://${proxy.host}/v2/faults/img/blobs/${big}`);
      const good = await get(`http://${proxy.host}/v2/faults/img/blobs/${small}`);
      assert.equal(bad.status, 200);
      const direct = await get(`${reg.url}/v2/faults/img/blobs/${big}`);
      assert.equal(bad.body.length, direct.body.length);
      assert.notEqual(sha256(bad.body), big);
      assert.equal(sha256(direct.body), big);
      assert.equal(sha256(good.body), small);
      const diff = [...bad.body].filter((b, i) => b !== direct.body[i]).length;
      assert.equal(diff, 1);
      assert.equal(proxy.hits.get(`/v2/faults/img/blobs/${big}`), 1);

      // A real client notices.
      const out = await mkdtemp(join(tmpdir(), 'berth-harness-pull-'));
      try {
        const r = await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${proxy.host}/faults/img:1`, `oci:${out}:x`]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr.toString(), /digest/i);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    } finally {
      await proxy.stop();
    }
  });

  it('truncates, fails first, redirects to blob storage and throttles', async () => {
    const trunc = await startFaultProxy(reg.host, { truncateBlob: big });
    try {
      const r = await get(`http://${trunc.host}/v2/faults/img/blobs/${big}`);
      assert.ok(r.error, 'socket closed mid-body');
      assert.ok(r.body.length < 256 * 1024);
    } finally {
      await trunc.stop();
    }

    const proxy = await startFaultProxy(reg.host, {
      redirectBlobs: true,
      failFirst: { pathIncludes: '/manifests/', times: 2, status: 503 },
      slowBlob: { digest: small, bytesPerSec: 256 * 1024 },
    });
    try {
      assert.equal((await get(`http://${proxy.host}/v2/faults/img/manifests/1`, { Accept: MANIFEST_ACCEPT })).status, 503);
      assert.equal((await get(`http://${proxy.host}/v2/faults/img/manifests/1`, { Accept: MANIFEST_ACCEPT })).status, 503);
      const m = await get(`http://${proxy.host}/v2/faults/img/manifests/1`, { Accept: MANIFEST_ACCEPT });
      assert.equal(m.status, 200);
      assert.equal(sha256(m.body), img.manifestDigest);

      const redirect = await get(`http://${proxy.host}/v2/faults/img/blobs/${big}`);
      assert.equal(redirect.status, 307);
      const location = String(redirect.headers.location);
      assert.ok(location.startsWith(`http://${proxy.storageHost}/`));
      const blob = await get(location);
      assert.equal(sha256(blob.body), big);

      const t0 = Date.now();
      const slow = await get(String((await get(`http://${proxy.host}/v2/faults/img/blobs/${small}`)).headers.location));
      assert.equal(sha256(slow.body), small);
      assert.ok(Date.now() - t0 >= 150, `64 KiB at 256 KiB/s took ${Date.now() - t0} ms`);

      // skopeo follows the redirects to the blob storage listener.
      const out = await mkdtemp(join(tmpdir(), 'berth-harness-pull-'));
      try {
        await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--src-tls-verify=false', `docker://${proxy.host}/faults/img:1`, `oci:${out}:x`]);
        const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        assert.equal(index.manifests[0]?.digest, img.manifestDigest);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
      assert.equal(proxy.hits.get('/v2/faults/img/manifests/1'), 4);
      assert.ok((proxy.hits.get(`/_storage/${big}`) ?? 0) >= 2);
    } finally {
      await proxy.stop();
    }
  });
});

// A stand-in daemon (a node script, not executable, so the harness runs it with node) that
// speaks just enough of the Engine API for the docker CLI's `version`.
const FAKE_DAEMON = `
import { createServer } from 'node:http';
import { writeFileSync, rmSync } from 'node:fs';
const args = process.argv.slice(2);
const sock = args[args.indexOf('-H') + 1].replace('unix://', '');
writeFileSync(args[args.indexOf('--pidfile') + 1], String(process.pid));
const seen = [];
const srv = createServer((req, res) => {
  seen.push(req.method + ' ' + req.url);
  console.error(JSON.stringify({ level: 'debug', msg: 'request', method: req.method, url: req.url }));
  const headers = { 'Api-Version': '1.43', 'Content-Type': 'text/plain' };
  if (req.url === '/_ping') { res.writeHead(200, headers); res.end(req.method === 'HEAD' ? undefined : 'OK'); return; }
  if (req.url === '/args') { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ args, env: process.env.FAKE_ENV, seen })); return; }
  if (/^\\/v[0-9.]+\\/version$/.test(req.url)) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ Version: 'fake-0.1', ApiVersion: '1.43', MinAPIVersion: '1.24', Os: 'linux', Arch: 'amd64', GoVersion: 'none', GitCommit: 'x', KernelVersion: 'x', BuildTime: 'x', Components: [] }));
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' }); res.end('{"message":"page not found"}');
});
srv.listen(sock);
process.on('SIGTERM', () => { srv.close(); try { rmSync(sock); } catch {} process.exit(3); });
`;

describe('harness: daemon + docker CLI', () => {
  it('starts, talks to, restarts, stops and cleans up a daemon; docker CLI reaches it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-fake-daemon-'));
    const bin = join(dir, 'fake-berthd.mjs');
    await writeFile(bin, FAKE_DAEMON, { mode: 0o644 });
    try {
      const d = await startDaemon({ bin, insecureRegistries: ['127.0.0.1:5000'], env: { FAKE_ENV: 'yes' } });
      try {
        assert.equal(d.dockerHost, `unix://${d.socket}`);
        const info = (await d.request('GET', '/args')).json<{ args: string[]; env: string }>();
        assert.deepEqual(info.args.slice(0, 2), ['-H', d.dockerHost]);
        assert.ok(info.args.includes('--insecure-registry') && info.args.includes('127.0.0.1:5000'));
        assert.ok(info.args.includes(d.dataRoot) && info.args.includes(d.execRoot));
        assert.equal(info.env, 'yes');

        const v = await docker(d, ['version', '--format', '{{.Server.Version}}']);
        assert.equal(v.code, 0, v.stderr);
        assert.equal(v.stdout.trim(), 'fake-0.1');
        const bad = await docker(d, ['definitely-not-a-command']);
        assert.notEqual(bad.code, 0);

        const firstPid = d.pid;
        await d.restart();
        assert.notEqual(d.pid, firstPid);
        assert.equal((await d.request('GET', '/_ping')).body.toString(), 'OK');
        assert.equal(await d.stop(), 3);
        await d.restart();
        await d.kill9();
        assert.match(await readFile(d.logFile, 'utf8'), /"url":"\/_ping"/);
      } finally {
        await d.cleanup();
      }
      await assert.rejects(readFile(d.logFile), /ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a daemon that never becomes ready, with its log tail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-fake-daemon-'));
    const bin = join(dir, 'broken.mjs');
    await writeFile(bin, "console.error('boom: cannot start'); process.exit(1);\n");
    try {
      await assert.rejects(startDaemon({ bin }), /exited before it was ready[\s\S]*boom: cannot start/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
