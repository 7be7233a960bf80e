// Image management through berthd's API: system endpoints and versioning, tag,
// rmi (untag vs delete, conflicts), prune, filters, events, history, auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { docker } from './harness/docker.js';
import { makeTempDir, run } from './harness/util.js';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { startTokenServer } from './harness/token-server.js';
import { busyboxLayer, pushImage, type PushedImage } from './harness/images.js';
import { parseNdjson, pull, registryAuthHeader } from './harness/api.js';

let registry: TestRegistry;
let daemon: TestDaemon;
let base: PushedImage;
let app: PushedImage;

before(async () => {
  registry = await startRegistry();
  daemon = await startDaemon();
  const bb = await busyboxLayer();
  base = await pushImage(registry, 'lib/base:1', {
    layers: [bb],
    config: { Labels: { role: 'base' } },
    created: '2024-01-01T00:00:00Z',
    history: [{ created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD busybox' }],
  });
  app = await pushImage(registry, 'lib/app:2', {
    layers: [bb, { files: [{ type: 'file', path: 'app.txt', content: 'app\n' }] }],
    config: { Labels: { role: 'app' } },
    created: '2025-06-01T00:00:00Z',
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD busybox' },
      { created: '2025-06-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ENV X=1', empty_layer: true },
      { created: '2025-06-01T00:00:00Z', created_by: '/bin/sh -c #(nop) COPY app.txt' },
    ],
  });
  for (const [repo, tag] of [['lib/base', '1'], ['lib/app', '2']] as const) {
    const r = await pull(daemon, `${registry.host}/${repo}`, tag);
    assert.equal(r.error, undefined, r.error);
  }
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
});

test('/_ping answers GET and HEAD with the headers clients negotiate on', async () => {
  for (const method of ['GET', 'HEAD']) {
    const r = await daemon.request(method, '/_ping');
    assert.equal(r.status, 200);
    assert.equal(r.headers['api-version'], '1.47');
    assert.equal(r.headers['ostype'], 'linux');
    assert.equal(r.headers['docker-experimental'], 'false');
    assert.equal(r.headers['swarm'], 'inactive');
    assert.ok(r.headers['builder-version'] !== undefined);
    assert.equal(r.body.toString(), method === 'GET' ? 'OK' : '');
  }
});

test('versioned paths within range are served; outside it get 400', async () => {
  assert.equal((await daemon.request('GET', '/v1.24/version')).status, 200);
  assert.equal((await daemon.request('GET', '/v1.47/version')).status, 200);
  const tooNew = await daemon.request('GET', '/v1.99/version');
  assert.equal(tooNew.status, 400);
  assert.match(tooNew.json<{ message: string }>().message, /too new.*Maximum supported API version is 1\.47/);
  const tooOld = await daemon.request('GET', '/v1.12/version');
  assert.equal(tooOld.status, 400);
  assert.match(tooOld.json<{ message: string }>().message, /too old/);
  const unknown = await daemon.request('GET', '/v1.47/no/such/thing');
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.json(), { message: 'page not found' });
});

test('/version and /info describe the engine', async () => {
  const v = (await daemon.request('GET', '/version')).json<Record<string, any>>();
  assert.equal(v['ApiVersion'], '1.47');
  assert.equal(v['MinAPIVersion'], '1.24');
  assert.equal(v['Os'], 'linux');
  assert.ok(Array.isArray(v['Components']));
  const info = (await daemon.request('GET', '/info')).json<Record<string, any>>();
  assert.equal(info['Images'], 2);
  assert.equal(info['Driver'], 'overlay2');
  assert.equal(info['DockerRootDir'], daemon.dataRoot);
  assert.equal(info['Swarm']['LocalNodeState'], 'inactive');
  assert.ok(info['NCPU'] >= 1 && info['MemTotal'] > 0);
});

test('list filters: reference, label, dangling, before/since', async () => {
  const list = async (filters: Record<string, string[]>): Promise<string[]> =>
    (await daemon.request('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify(filters))}`))
      .json<Array<{ Id: string }>>()
      .map((i) => i.Id);
  assert.deepEqual(await list({ reference: [`${registry.host}/lib/app`] }), [app.configDigest]);
  assert.deepEqual(await list({ reference: [`${registry.host}/lib/*:1`] }), [base.configDigest]);
  assert.deepEqual(await list({ label: ['role=base'] }), [base.configDigest]);
  assert.deepEqual(await list({ label: ['role'] }).then((l) => l.length), 2);
  assert.deepEqual(await list({ dangling: ['true'] }), []);
  assert.deepEqual(await list({ before: [`${registry.host}/lib/app:2`] }), [base.configDigest]);
  assert.deepEqual(await list({ since: [`${registry.host}/lib/base:1`] }), [app.configDigest]);
  // Newest first, as docker lists them.
  assert.deepEqual(await list({}), [app.configDigest, base.configDigest]);
});

test('history lists layers newest first with sizes and the image ID on top', async () => {
  const h = (await daemon.request('GET', `/images/${registry.host}/lib/app:2/history`)).json<Array<Record<string, any>>>();
  assert.equal(h.length, 3);
  assert.equal(h[0]?.['Id'], app.configDigest);
  assert.deepEqual(h[0]?.['Tags'], [`${registry.host}/lib/app:2`]);
  assert.equal(h[0]?.['CreatedBy'], '/bin/sh -c #(nop) COPY app.txt');
  assert.equal(h[1]?.['Size'], 0);
  assert.ok((h[2]?.['Size'] as number) > 0);
  assert.equal(h[2]?.['Id'], '<missing>');
});

test('tag, untag and delete follow dockerd semantics', async () => {
  const t = await daemon.request('POST', `/images/${registry.host}/lib/base:1/tag?repo=mybase&tag=stable`);
  assert.equal(t.status, 201);
  const t2 = await daemon.request('POST', `/images/${base.configDigest.slice(7, 19)}/tag?repo=other/base`);
  assert.equal(t2.status, 201);
  const inspect = (await daemon.request('GET', '/images/mybase:stable/json')).json<{ Id: string; RepoTags: string[] }>();
  assert.equal(inspect.Id, base.configDigest);
  assert.deepEqual(inspect.RepoTags.sort(), [`${registry.host}/lib/base:1`, 'mybase:stable', 'other/base:latest'].sort());

  const badTag = await daemon.request('POST', `/images/mybase:stable/tag?repo=Bad_Repo`);
  assert.equal(badTag.status, 400);
  const missing = await daemon.request('POST', `/images/nothing:here/tag?repo=x`);
  assert.equal(missing.status, 404);

  // By ID with several names: 409 unless forced.
  const conflict = await daemon.request('DELETE', `/images/${base.configDigest.slice(7, 19)}`);
  assert.equal(conflict.status, 409);
  assert.match(conflict.json<{ message: string }>().message, /referenced in multiple repositories/);

  // By name: only that name goes.
  const untag = await daemon.request('DELETE', '/images/mybase:stable');
  assert.equal(untag.status, 200);
  assert.deepEqual(untag.json(), [{ Untagged: 'mybase:stable' }]);

  // Forced by ID: every name goes and the image with its unshared layer is deleted.
  const del = await daemon.request('DELETE', `/images/${base.configDigest}?force=1`);
  assert.equal(del.status, 200);
  const items = del.json<Array<Record<string, string>>>();
  assert.ok(items.some((i) => i['Untagged'] === 'other/base:latest'));
  assert.ok(items.some((i) => i['Untagged'] === `${registry.host}/lib/base@${base.manifestDigest}`));
  assert.ok(items.some((i) => i['Deleted'] === base.configDigest));
  // The busybox layer is still used by lib/app, so it must not have been deleted.
  assert.equal(items.filter((i) => i['Deleted']).length, 1);
  const appInspect = await daemon.request('GET', `/images/${registry.host}/lib/app:2/json`);
  assert.equal(appInspect.status, 200);
  assert.equal((await daemon.request('GET', `/images/${base.configDigest}/json`)).status, 404);
});

test('prune filters: bad ones are 400 and remove nothing; until and label/label! pick what goes', async () => {
  const prune = async (filters: unknown): Promise<{ status: number; deleted: string[]; body: string }> => {
    const r = await daemon.request('POST', `/images/prune?filters=${encodeURIComponent(JSON.stringify(filters))}`);
    const body = r.body.toString();
    const deleted = r.status === 200 ? r.json<{ ImagesDeleted: Array<Record<string, string>> | null }>().ImagesDeleted?.flatMap((i) => (i['Deleted'] ? [i['Deleted']] : [])) ?? [] : [];
    return { status: r.status, deleted, body };
  };
  const count = async (): Promise<number> => (await daemon.request('GET', '/images/json')).json<unknown[]>().length;
  // The test before deleted base: it comes back for this one.
  const pulled = await pull(daemon, `${registry.host}/lib/base`, '1');
  assert.equal(pulled.error, undefined, pulled.error);
  const before = await count();
  for (const bad of [{ until: ['abc'] }, { dangling: ['maybe'] }, { color: ['x'] }, { dangling: ['false'], until: ['1h', '2h'] }]) {
    const r = await prune(bad);
    assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.body}`);
  }
  assert.equal(await count(), before, 'a refused prune removes nothing');
  assert.deepEqual((await prune({ dangling: ['false'], until: ['2024-06-01T00:00:00Z'], label: ['role=app'] })).deleted, [], 'app was created after until');
  assert.deepEqual((await prune({ dangling: ['false'], 'label!': ['role=app'], label: ['role=app'] })).deleted, []);
  const gone = await prune({ dangling: ['false'], until: ['2024-06-01T00:00:00Z'], label: ['role'] });
  assert.deepEqual(gone.deleted, [base.configDigest], 'base: created before until, labelled');
});

test('prune removes dangling images only, or all unused with dangling=false', async () => {
  await daemon.request('POST', `/images/${registry.host}/lib/app:2/tag?repo=keepme&tag=1`);
  const r1 = await daemon.request('DELETE', `/images/${registry.host}/lib/app:2`);
  assert.equal(r1.status, 200);
  let pr = (await daemon.request('POST', '/images/prune')).json<{ ImagesDeleted: unknown[]; SpaceReclaimed: number }>();
  assert.deepEqual(pr.ImagesDeleted, []);
  // Removing the last tag drops the repo digests too and deletes the image, as dockerd does.
  const last = (await daemon.request('DELETE', '/images/keepme:1')).json<Array<Record<string, string>>>();
  assert.ok(last.some((i) => i['Deleted'] === app.configDigest), JSON.stringify(last));
  // Pulled by digest only: no tag, but named by its repo digest, so not dangling.
  const byDigest = await pull(daemon, `${registry.host}/lib/app@${app.manifestDigest}`, undefined);
  assert.equal(byDigest.error, undefined, byDigest.error);
  const danglingList = await daemon.request('GET', `/images/json?filters=${encodeURIComponent('{"dangling":["true"]}')}`);
  assert.deepEqual(danglingList.json(), []);
  pr = (await daemon.request('POST', '/images/prune')).json();
  assert.deepEqual(pr.ImagesDeleted, []);
  pr = (await daemon.request('POST', `/images/prune?filters=${encodeURIComponent('{"dangling":["false"]}')}`)).json();
  assert.ok(pr.ImagesDeleted.some((i) => (i as Record<string, string>)['Deleted'] === app.configDigest));
  assert.ok(pr.SpaceReclaimed > 0);
  assert.deepEqual((await daemon.request('GET', '/images/json')).json(), []);
  // Layers and blobs are gone too.
  const df = (await daemon.request('GET', '/system/df')).json<{ LayersSize: number; Images: unknown[] }>();
  assert.equal(df.LayersSize, 0);
  assert.deepEqual(df.Images, []);
});

test('load of something that is not an image archive: a 200 stream with errorDetail, as dockerd; the docker CLI and berth print it and fail', async () => {
  const r = await daemon.request('POST', '/images/load', Buffer.from('abc'), { 'Content-Type': 'application/x-tar' });
  assert.equal(r.status, 200);
  const msgs = parseNdjson(r.body) as Array<{ error?: string; errorDetail?: { message: string } }>;
  const last = msgs.at(-1);
  assert.match(last?.errorDetail?.message ?? '', /invalid image archive/);
  assert.equal(last?.error, last?.errorDetail?.message);
  const junk = path.join(await makeTempDir('berth-load-'), 'junk.tar');
  await fsp.writeFile(junk, 'abc');
  const cli = await docker(daemon, ['load', '-i', junk]);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /invalid image archive/);
  const b = await run(process.execPath, [fileURLToPath(new URL('../../bin/berth', import.meta.url)), 'load', '-i', junk], { env: { ...process.env, BERTH_HOST: daemon.dockerHost } });
  assert.notEqual(b.code, 0);
  assert.match(b.stderr.toString(), /invalid image archive/);
});

test('/events replays with since/until and filters, and streams live', async () => {
  const since = Date.now() / 1000 - 3600;
  const until = Date.now() / 1000 + 0.5;
  const past = parseNdjson(
    (await daemon.request('GET', `/events?since=${since}&until=${until}&filters=${encodeURIComponent('{"type":["image"],"event":["pull"]}')}`)).body,
  );
  assert.ok(past.length >= 2, JSON.stringify(past));
  assert.ok(past.every((e) => e['Type'] === 'image' && e['Action'] === 'pull'));
  assert.ok(past.some((e) => (e['Actor'] as { ID: string }).ID === `${registry.host}/lib/app:2`));

  // Live: subscribe, then cause an event.
  const got = new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = http.request({ socketPath: daemon.socket, path: `/events?filters=${encodeURIComponent('{"event":["tag"]}')}` }, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        const line = buf.split('\n')[0];
        if (buf.includes('\n') && line) {
          resolve(JSON.parse(line) as Record<string, unknown>);
          req.destroy();
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
  await new Promise((r) => setTimeout(r, 200));
  await pull(daemon, `${registry.host}/lib/base`, '1');
  await daemon.request('POST', `/images/${registry.host}/lib/base:1/tag?repo=live&tag=event`);
  const ev = await got;
  assert.equal(ev['Action'], 'tag');
  assert.equal((ev['Actor'] as { Attributes: Record<string, string> }).Attributes['name'], 'live:event');
});

test('registry auth: htpasswd basic and a bearer token server, through X-Registry-Auth and /auth', async () => {
  const basic = await startRegistry({ auth: { kind: 'htpasswd', username: 'alice', password: 's3cret' } });
  const tokens = await startTokenServer({ username: 'bob', password: 'hunter2' });
  const tokenReg = await startRegistry({
    auth: { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
  });
  try {
    const layer = await busyboxLayer();
    await pushImage(basic, 'private/img:1', { layers: [layer] }, { creds: 'alice:s3cret' });
    await pushImage(tokenReg, 'private/img:1', { layers: [layer] }, { creds: 'bob:hunter2' });

    for (const [reg, user, pass] of [[basic, 'alice', 's3cret'], [tokenReg, 'bob', 'hunter2']] as const) {
      const anon = await pull(daemon, `${reg.host}/private/img`, '1');
      assert.ok(anon.status === 401 || anon.status === 404 || anon.error, `anonymous pull must fail on ${reg.host}`);
      assert.match(String(anon.error), /denied|unauthorized|authentication required|may require/i);
      const wrong = await pull(daemon, `${reg.host}/private/img`, '1', { auth: { username: user, password: 'wrong', serveraddress: reg.host } });
      assert.ok(wrong.error, 'wrong password must fail');
      const ok = await pull(daemon, `${reg.host}/private/img`, '1', { auth: { username: user, password: pass, serveraddress: reg.host } });
      assert.equal(ok.error, undefined, ok.error);

      const login = await daemon.request('POST', '/auth', { username: user, password: pass, serveraddress: reg.host });
      assert.equal(login.status, 200);
      assert.equal(login.json<{ Status: string }>().Status, 'Login Succeeded');
      const badLogin = await daemon.request('POST', '/auth', { username: user, password: 'nope', serveraddress: reg.host });
      assert.equal(badLogin.status, 401);
    }
    assert.ok(tokens.requests.some((r) => r.authorized && r.account === 'bob'));

    const dist = await daemon.request('GET', `/distribution/${tokenReg.host}/private/img:1/json`, undefined, {
      'X-Registry-Auth': registryAuthHeader({ username: 'bob', password: 'hunter2' }),
    });
    assert.equal(dist.status, 200, dist.body.toString());
    const d = dist.json<{ Descriptor: { digest: string }; Platforms: Array<{ os: string }> }>();
    assert.match(d.Descriptor.digest, /^sha256:/);
    assert.equal(d.Platforms[0]?.os, 'linux');
  } finally {
    await basic.stop();
    await tokenReg.stop();
    await tokens.stop();
  }
});
