// RegistryClient against a real Debian docker-registry (distribution 2.8): anonymous,
// htpasswd and token auth, manifest lists, redirects, retries, TLS and HTTP fallback.
// A few hostile behaviours (schema 1, redirects that must not leak credentials) are
// served by small local node servers.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFile, mkdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startTokenServer, type TokenServer } from './harness/token-server.js';
import { pushImage, pushIndex, type ImageSpec, type PushedImage } from './harness/images.js';
import { startFaultProxy } from './harness/proxy.js';
import {
  freePort,
  makeTempDir,
  removeDir,
  requireTool,
  runOk,
  sleep,
  spawnTracked,
  stopChild,
  trackDir,
  untrackDir,
} from './harness/util.js';
import { RegistryClient } from '../engine/registry/client.js';
import { isLoopbackHost, parseReference } from '../engine/registry/reference.js';
import {
  MEDIA_TYPE,
  isIndex,
  parseManifest,
  selectPlatform,
  hostPlatform,
  type ImageIndex,
} from '../engine/registry/manifest.js';
import { TokenCache, parseChallenges } from '../engine/registry/auth.js';
import { isBerthError, type ErrorKind } from '../engine/common/errors.js';
import type { Digest } from '../engine/common/digest.js';
import type { AuthConfig, RepositorySession } from '../engine/registry/types.js';

// ------------------------------------------------------------------ helpers

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function blob(session: RepositorySession, digest: string, offset?: number): Promise<Buffer> {
  const b = await session.fetchBlob(digest as Digest, offset !== undefined ? { offset } : {});
  const data = await readAll(b.stream);
  if (b.size !== undefined) assert.equal(data.length, b.size, 'size matches the bytes streamed');
  return data;
}

function berthError(kind: ErrorKind, code: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isBerthError(err), `expected a BerthError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const smallSpec = (text: string, platform?: ImageSpec['platform']): ImageSpec => ({
  layers: [
    {
      files: [
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/hello.txt', content: `${text}\n${'x'.repeat(5000)}\n` },
      ],
    },
  ],
  config: { Cmd: ['cat', '/etc/hello.txt'] },
  ...(platform ? { platform } : {}),
});

function listen(server: Server, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(`${host}:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

/**
 * The name the scheme/TLS tests use for their registries. It is not loopback by Berth's
 * rules (so HTTPS is required unless it is listed insecure), but the clients' `resolve`
 * hook maps it to 127.0.0.1: no traffic ever leaves loopback.
 */
const TEST_HOSTNAME = 'registry.berth.test';
const TEST_ADDRESS = '127.0.0.1';

/** A RegistryClient `resolve` hook: TEST_HOSTNAME -> 127.0.0.1; any other name is unknown (no DNS). */
function testResolver(): { resolve: (hostname: string) => Promise<string[]>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    resolve: (hostname) => {
      calls.push(hostname);
      if (hostname.toLowerCase() === TEST_HOSTNAME) return Promise.resolve([TEST_ADDRESS]);
      return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    },
  };
}

interface CustomRegistry {
  /** "registry.berth.test:PORT": how the client under test refers to it. */
  host: string;
  /** "127.0.0.1:PORT": where it listens (for the harness's skopeo pushes). */
  address: string;
  /** The self-signed certificate and key (TLS only), SAN DNS:registry.berth.test, IP:127.0.0.1. */
  tls?: { cert: Buffer; key: Buffer };
  stop(): Promise<void>;
}

/**
 * docker-registry on 127.0.0.1, optionally with TLS (the shared harness serves plain
 * HTTP only), known to the clients under test as registry.berth.test:PORT.
 */
async function startCustomRegistry(tls: boolean): Promise<CustomRegistry> {
  const dir = await makeTempDir('berth-regtls-');
  trackDir(dir);
  const port = await freePort();
  const address = `${TEST_ADDRESS}:${port}`;
  const lines = [
    'version: 0.1',
    'log: {level: warn}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(join(dir, 'data'))}}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: ${JSON.stringify(address)}`,
  ];
  let pems: { cert: Buffer; key: Buffer } | undefined;
  if (tls) {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await runOk(requireTool('openssl'), [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=berth-test-registry',
      '-addext', `subjectAltName=DNS:${TEST_HOSTNAME},IP:${TEST_ADDRESS}`,
    ]);
    pems = { cert: await readFile(cert), key: await readFile(key) };
    lines.push('  tls:', `    certificate: ${JSON.stringify(cert)}`, `    key: ${JSON.stringify(key)}`);
  }
  await mkdir(join(dir, 'data'), { recursive: true });
  const cfg = join(dir, 'config.yml');
  await writeFile(cfg, lines.join('\n') + '\n');
  const child = spawnTracked(requireTool('docker-registry'), ['serve', cfg], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (await canConnect(TEST_ADDRESS, port)) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('custom registry did not start');
    await sleep(50);
  }
  return {
    host: `${TEST_HOSTNAME}:${port}`,
    address,
    ...(pems ? { tls: pems } : {}),
    async stop() {
      await stopChild(child, 'SIGTERM', 5000);
      untrackDir(dir);
      await removeDir(dir);
    },
  };
}

/** pushImage through the registry's loopback address (skopeo knows nothing of our name mapping). */
function pushTo(reg: CustomRegistry, repoTag: string, spec: ImageSpec): Promise<PushedImage> {
  return pushImage({ host: reg.address } as TestRegistry, repoTag, spec);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Forward a request to `target` (host:port) unchanged and pipe the answer back. */
function forward(target: string, req: IncomingMessage, res: ServerResponse, extraHeaders: Record<string, string> = {}): void {
  const i = target.lastIndexOf(':');
  const up = httpRequest(
    { host: target.slice(0, i), port: Number(target.slice(i + 1)), method: req.method, path: req.url, headers: { ...req.headers, ...extraHeaders } },
    (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    },
  );
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
}

// ------------------------------------------------------------------ pure units

describe('units', () => {
  test('WWW-Authenticate parsing', () => {
    assert.deepEqual(
      parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'),
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
        },
      ],
    );
    assert.deepEqual(parseChallenges(['Basic realm="Registry Realm"', 'Bearer realm="r", error="invalid_token"']), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'r', error: 'invalid_token' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="a\\"b", Bearer realm=x'), [
      { scheme: 'basic', params: { realm: 'a"b' } },
      { scheme: 'bearer', params: { realm: 'x' } },
    ]);
    assert.deepEqual(parseChallenges(undefined), []);
  });

  test('token cache honours expiry with a margin and shares in-flight fetches', async () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      await sleep(5);
      return { token: `t${fetches}`, expiresIn: 60 };
    };
    const [a, b] = await Promise.all([cache.get('k', fetch), cache.get('k', fetch)]);
    assert.equal(a, 't1');
    assert.equal(b, 't1');
    assert.equal(fetches, 1);
    now += 49_000;
    assert.equal(await cache.get('k', fetch), 't1');
    now += 2_000; // 51 s: inside the 10 s margin of a 60 s token
    assert.equal(await cache.get('k', fetch), 't2');
    cache.invalidate('k', 't2');
    assert.equal(await cache.get('k', fetch), 't3');
  });

  test('selectPlatform', () => {
    const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}` as Digest;
    const idx: ImageIndex = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [
        { mediaType: MEDIA_TYPE.ociManifest, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MEDIA_TYPE.ociManifest, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MEDIA_TYPE.ociManifest, digest: d(3), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
        { mediaType: MEDIA_TYPE.ociManifest, digest: d(4), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
        {
          mediaType: MEDIA_TYPE.ociManifest,
          digest: d(5),
          size: 1,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': d(1) },
        },
      ],
    };
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'amd64' }).digest, d(1));
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, d(2));
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d(3)); // v6 runs on v7
    assert.equal(selectPlatform(idx, { os: 'windows', architecture: 'amd64' }).digest, d(4));
    assert.throws(
      () => selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v5' }),
      berthError('notFound', 'NO_MATCHING_MANIFEST', /^no matching manifest for linux\/arm\/v5 in the manifest list entries$/),
    );
    assert.throws(
      () => selectPlatform(idx, { os: 'linux', architecture: 's390x' }),
      berthError('notFound', 'NO_MATCHING_MANIFEST', /^no matching manifest for linux\/s390x in the manifest list entries$/),
    );
    // Exact variant beats a compatible older one, whatever the order.
    const arm: ImageIndex = {
      ...idx,
      manifests: [
        { mediaType: MEDIA_TYPE.ociManifest, digest: d(6), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
        { mediaType: MEDIA_TYPE.ociManifest, digest: d(7), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      ],
    };
    assert.equal(selectPlatform(arm, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d(7));
    assert.equal(selectPlatform(arm, { os: 'linux', architecture: 'arm' }).digest, d(7));
    assert.ok(['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64'].includes(hostPlatform().architecture));
  });

  test('parseManifest validates shape, falls back on generic content types, refuses schema 1', () => {
    const cfg = { mediaType: MEDIA_TYPE.ociConfig, digest: `sha256:${'1'.repeat(64)}`, size: 2 };
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, config: cfg, layers: [] }));
    const parsed = parseManifest('application/octet-stream', m);
    assert.equal(parsed.mediaType, MEDIA_TYPE.ociManifest);
    const dockerM = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifest, config: { ...cfg, mediaType: MEDIA_TYPE.dockerConfig }, layers: [] }),
    );
    assert.equal(parseManifest('application/json', dockerM).mediaType, MEDIA_TYPE.dockerManifest);
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    assert.ok(isIndex(parseManifest('text/plain; charset=utf-8', idx)));
    const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'latest', fsLayers: [] }));
    for (const ct of [MEDIA_TYPE.dockerSchema1Signed, MEDIA_TYPE.dockerSchema1, 'application/json', '']) {
      assert.throws(
        () => parseManifest(ct, schema1),
        berthError('invalid', 'SCHEMA1_UNSUPPORTED', /^schema 1 manifests are not supported; push the image again with a current client$/),
      );
    }
    assert.throws(() => parseManifest(MEDIA_TYPE.ociManifest, Buffer.from('{')), berthError('invalid', 'MANIFEST_INVALID'));
    assert.throws(
      () => parseManifest(MEDIA_TYPE.ociManifest, Buffer.from(JSON.stringify({ schemaVersion: 2, config: { ...cfg, digest: 'sha256:xx' }, layers: [] }))),
      berthError('invalid', 'MANIFEST_INVALID'),
    );
    assert.throws(
      () => parseManifest(MEDIA_TYPE.ociIndex, m),
      berthError('invalid', 'MANIFEST_INVALID'), // an index Content-Type with a manifest body
    );
  });
});

// ------------------------------------------------------------------ anonymous registry

describe('anonymous registry', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let app: PushedImage;
  let multi: { indexDigest: string; manifests: PushedImage[] };
  let multiDocker: { indexDigest: string; manifests: PushedImage[] };

  before(async () => {
    registry = await startRegistry();
    client = new RegistryClient({ retryBaseMs: 20 });
    app = await pushImage(registry, 'test/app:v1', smallSpec('hello'));
    const platforms = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ];
    multi = await pushIndex(registry, 'test/multi:v1', platforms.map((p) => smallSpec(`multi ${p.architecture}`, p)));
    multiDocker = await pushIndex(
      registry,
      'test/multi-docker:v1',
      platforms.map((p) => smallSpec(`docker ${p.architecture}`, p)),
      { format: 'docker' },
    );
  });

  after(async () => {
    await client?.close();
    await registry?.stop();
  });

  test('pulls a manifest by tag and by digest, then its blobs', async () => {
    const session = client.session(parseReference(`${registry.host}/test/app:v1`));
    const m = await session.getManifest('v1');
    assert.equal(m.digest, app.manifestDigest);
    assert.equal(m.mediaType, MEDIA_TYPE.ociManifest);
    assert.equal(sha(m.body), m.digest);
    const parsed = parseManifest(m.mediaType, m.body);
    assert.ok(!isIndex(parsed));
    assert.equal(parsed.config.digest, app.configDigest);

    const byDigest = await session.getManifest(app.manifestDigest);
    assert.deepEqual(byDigest.body, m.body);

    const config = await blob(session, app.configDigest);
    assert.equal(sha(config), app.configDigest);
    const layer = await blob(session, app.layerDigests[0]!);
    assert.equal(sha(layer), app.layerDigests[0]);

    // Resume from an offset: Range request, 206.
    const tail = await blob(session, app.layerDigests[0]!, 100);
    assert.deepEqual(tail, layer.subarray(100));
  });

  test('unknown tag, repository and blob map to notFound with Docker wording', async () => {
    const session = client.session(parseReference(`${registry.host}/test/app`));
    await assert.rejects(
      session.getManifest('nope'),
      berthError('notFound', 'REPO_NOT_FOUND', new RegExp(`^manifest for ${registry.host}/test/app:nope not found: manifest unknown: manifest unknown$`)),
    );
    const missing = client.session(parseReference(`${registry.host}/no/such`));
    await assert.rejects(missing.getManifest('latest'), berthError('notFound', 'REPO_NOT_FOUND'));
    await assert.rejects(
      session.fetchBlob(`sha256:${'0'.repeat(64)}`),
      berthError('notFound', 'BLOB_UNKNOWN', /blob unknown/),
    );
    await assert.rejects(session.getManifest('bad tag'), berthError('invalid', 'INVALID_REFERENCE'));
  });

  test('manifest list: platform selection and child manifests (OCI and Docker)', async () => {
    for (const [repo, pushed, listType] of [
      ['test/multi', multi, MEDIA_TYPE.ociIndex],
      ['test/multi-docker', multiDocker, MEDIA_TYPE.dockerManifestList],
    ] as const) {
      const session = client.session(parseReference(`${registry.host}/${repo}:v1`));
      const top = await session.getManifest('v1');
      assert.equal(top.digest, pushed.indexDigest);
      assert.equal(top.mediaType, listType);
      const idx = parseManifest(top.mediaType, top.body);
      assert.ok(isIndex(idx));
      const want = [
        { platform: { os: 'linux', architecture: 'amd64' }, i: 0 },
        { platform: { os: 'linux', architecture: 'arm64' }, i: 1 }, // no variant: v8 implied
        { platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, i: 2 },
      ];
      for (const w of want) {
        const desc = selectPlatform(idx, w.platform);
        const expected = pushed.manifests[w.i]!;
        assert.equal(desc.digest, expected.manifestDigest);
        const child = await session.getManifest(desc.digest);
        assert.equal(child.digest, desc.digest);
        const cm = parseManifest(child.mediaType, child.body);
        assert.ok(!isIndex(cm));
        assert.equal(sha(await blob(session, cm.config.digest)), expected.configDigest);
      }
      assert.throws(() => selectPlatform(idx, { os: 'linux', architecture: 'ppc64le' }), /no matching manifest for linux\/ppc64le/);
    }
  });

  test('retries 503s before the body starts, then gives up after maxRetries', async () => {
    const proxy = await startFaultProxy(registry.host, {
      failFirst: { pathIncludes: `/blobs/${app.layerDigests[0]}`, times: 2, status: 503 },
    });
    const c = new RegistryClient({ retryBaseMs: 20 });
    try {
      const session = c.session(parseReference(`${proxy.host}/test/app:v1`));
      const t0 = Date.now();
      const data = await blob(session, app.layerDigests[0]!);
      assert.equal(sha(data), app.layerDigests[0]);
      assert.equal(proxy.hits.get(`/v2/test/app/blobs/${app.layerDigests[0]}`), 3);
      assert.ok(Date.now() - t0 >= 20, 'backed off between attempts');
    } finally {
      await c.close();
      await proxy.stop();
    }

    const proxy2 = await startFaultProxy(registry.host, { failFirst: { pathIncludes: '/manifests/', times: 10, status: 503 } });
    const c2 = new RegistryClient({ retryBaseMs: 5, maxRetries: 1 });
    try {
      const session = c2.session(parseReference(`${proxy2.host}/test/app:v1`));
      await assert.rejects(session.getManifest('v1'), berthError('upstream', 'REGISTRY_UNAVAILABLE', /503 Service Unavailable/));
      assert.equal(proxy2.hits.get('/v2/test/app/manifests/v1'), 2);
    } finally {
      await c2.close();
      await proxy2.stop();
    }
  });

  test('follows a blob redirect to another host', async () => {
    const proxy = await startFaultProxy(registry.host, { redirectBlobs: true });
    try {
      const session = client.session(parseReference(`${proxy.host}/test/app:v1`));
      const data = await blob(session, app.layerDigests[0]!);
      assert.equal(sha(data), app.layerDigests[0]);
      assert.equal(proxy.hits.get(`/_storage/${app.layerDigests[0]}`), 1);
      const tail = await blob(session, app.layerDigests[0]!, 10);
      assert.deepEqual(tail, data.subarray(10));
    } finally {
      await proxy.stop();
    }
  });

  test('a registry that is down fails with REGISTRY_UNREACHABLE after retries', async () => {
    const port = await freePort();
    const c = new RegistryClient({ retryBaseMs: 5, maxRetries: 2 });
    try {
      await assert.rejects(
        c.session(parseReference(`127.0.0.1:${port}/x`)).getManifest('latest'),
        berthError('upstream', 'REGISTRY_UNREACHABLE', /ECONNREFUSED/),
      );
    } finally {
      await c.close();
    }
  });

  test('an aborted signal stops the request', async () => {
    const ac = new AbortController();
    ac.abort();
    const session = client.session(parseReference(`${registry.host}/test/app:v1`));
    await assert.rejects(session.getManifest('v1', ac.signal), (err: unknown) => (err as Error).name === 'AbortError');
  });
});

// ------------------------------------------------------------------ schema 1 and odd content types

describe('hostile registry (local node server)', () => {
  let server: Server;
  let host: string;
  const schema1 = Buffer.from(
    JSON.stringify({ schemaVersion: 1, name: 'old/img', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [], signatures: [] }),
  );
  const cfg = Buffer.from('{}');
  const generic = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha(cfg), size: cfg.length },
      layers: [],
    }),
  );
  const big = Buffer.alloc(4 * 1024 * 1024 + 10, 0x20);
  before(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } else if (url === '/v2/old/img/manifests/signed') {
        res.writeHead(200, { 'content-type': MEDIA_TYPE.dockerSchema1Signed });
        res.end(schema1);
      } else if (url === '/v2/old/img/manifests/json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(schema1);
      } else if (url === '/v2/odd/img/manifests/generic') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(generic);
      } else if (url.startsWith('/v2/odd/img/manifests/sha256:')) {
        res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest });
        res.end(generic); // whatever was asked, this body
      } else if (url === `/v2/odd/img/blobs/${sha(generic)}`) {
        // Ignores Range: always the whole blob with 200.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(generic.length) });
        res.end(generic);
      } else if (url === '/v2/odd/img/manifests/huge') {
        res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest });
        res.end(big);
      } else if (url === '/v2/odd/img/manifests/chunked-huge') {
        res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest, 'transfer-encoding': 'chunked' });
        res.write(big.subarray(0, 3 * 1024 * 1024));
        res.end(big.subarray(3 * 1024 * 1024));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
      }
    });
    host = await listen(server);
  });
  after(async () => {
    await closeServer(server);
  });

  test('schema 1 manifests are refused clearly', async () => {
    const c = new RegistryClient();
    try {
      const s = c.session(parseReference(`${host}/old/img`));
      for (const tag of ['signed', 'json']) {
        await assert.rejects(
          s.getManifest(tag),
          berthError('invalid', 'SCHEMA1_UNSUPPORTED', /^schema 1 manifests are not supported; push the image again with a current client$/),
        );
      }
    } finally {
      await c.close();
    }
  });

  test('a cached token the registry stops accepting is replaced once', async () => {
    let issued = 0;
    let minGeneration = 1;
    const seen: string[] = [];
    const srv = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        issued++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: `t-${issued}`, expires_in: 300 }));
        return;
      }
      const auth = req.headers.authorization ?? '';
      seen.push(auth);
      const gen = /^Bearer t-(\d+)$/.exec(auth);
      if (gen === null || Number(gen[1]) < minGeneration) {
        res.writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': `Bearer realm="http://${srvHost}/token",service="fake",scope="repository:r/x:pull"`,
        });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest });
      res.end(generic);
    });
    const srvHost = await listen(srv);
    const c = new RegistryClient();
    try {
      const s = c.session(parseReference(`${srvHost}/r/x`));
      await s.getManifest('a');
      await s.getManifest('b'); // cached token, no 401
      minGeneration = 2;
      await s.getManifest('c'); // cached token refused -> one new token
      assert.equal(issued, 2);
      assert.deepEqual(seen, ['', 'Bearer t-1', 'Bearer t-1', 'Bearer t-1', 'Bearer t-2']);
      minGeneration = 99;
      await assert.rejects(s.getManifest('d'), berthError('unauthorized', 'PULL_ACCESS_DENIED'));
      assert.equal(issued, 3, 'a fresh token that is refused is not fetched again');
    } finally {
      await c.close();
      await closeServer(srv);
    }
  });

  test('generic content type falls back to the body; digest and size are verified', async () => {
    const c = new RegistryClient();
    try {
      const s = c.session(parseReference(`${host}/odd/img`));
      const m = await s.getManifest('generic');
      assert.equal(m.mediaType, MEDIA_TYPE.ociManifest);
      assert.equal(m.digest, sha(generic));
      assert.equal((await s.getManifest(sha(generic))).digest, sha(generic));
      await assert.rejects(s.getManifest(`sha256:${'e'.repeat(64)}`), berthError('upstream', 'DIGEST_MISMATCH'));
      await assert.rejects(s.getManifest('huge'), berthError('upstream', 'MANIFEST_TOO_LARGE'));
      // A registry that ignores Range: the client drops the bytes the caller already has.
      const tail = await s.fetchBlob(sha(generic) as Digest, { offset: 7 });
      assert.equal(tail.size, generic.length - 7);
      assert.deepEqual(await readAll(tail.stream), generic.subarray(7));
      await assert.rejects(s.getManifest('chunked-huge'), berthError('upstream', 'MANIFEST_TOO_LARGE'));
    } finally {
      await c.close();
    }
  });
});

// ------------------------------------------------------------------ htpasswd (Basic)

describe('htpasswd registry', () => {
  const username = 'alice';
  const password = 's3cret!';
  let registry: TestRegistry;
  let app: PushedImage;

  before(async () => {
    registry = await startRegistry({ auth: { kind: 'htpasswd', username, password } });
    app = await pushImage(registry, 'private/app:v1', smallSpec('private'), { creds: `${username}:${password}` });
  });
  after(async () => {
    await registry?.stop();
  });

  test('good credentials (username/password and the auth field) pull', async () => {
    const c = new RegistryClient();
    try {
      for (const auth of [
        { username, password },
        { auth: Buffer.from(`${username}:${password}`).toString('base64') },
      ] satisfies AuthConfig[]) {
        const s = c.session(parseReference(`${registry.host}/private/app:v1`), auth);
        const m = await s.getManifest('v1');
        assert.equal(m.digest, app.manifestDigest);
        assert.equal(sha(await blob(s, app.layerDigests[0]!)), app.layerDigests[0]);
      }
    } finally {
      await c.close();
    }
  });

  test('bad or missing credentials are unauthorized', async () => {
    const c = new RegistryClient();
    try {
      const bad = c.session(parseReference(`${registry.host}/private/app:v1`), { username, password: 'wrong' });
      await assert.rejects(bad.getManifest('v1'), berthError('unauthorized', 'UNAUTHORIZED', /authentication required/));
      const none = c.session(parseReference(`${registry.host}/private/app:v1`));
      await assert.rejects(none.getManifest('v1'), berthError('unauthorized', 'UNAUTHORIZED', /no basic auth credentials/));
    } finally {
      await c.close();
    }
  });

  test('login checks credentials against /v2/', async () => {
    const c = new RegistryClient();
    try {
      assert.deepEqual(await c.login({ username, password, serveraddress: registry.host }), {});
      assert.deepEqual(await c.login({ username, password, serveraddress: `http://${registry.host}/v2/` }), {});
      await assert.rejects(
        c.login({ username, password: 'nope', serveraddress: registry.host }),
        berthError('unauthorized', 'UNAUTHORIZED', new RegExp(`^login attempt to http://${registry.host}/v2/ failed with status: 401 Unauthorized$`)),
      );
    } finally {
      await c.close();
    }
  });

  test('a blob redirect to another host does not carry the registry credentials', async () => {
    // front: forwards to the registry, but answers blob GETs with 307 to "storage".
    // storage: records what it received and fetches the blob with its own credentials.
    const storageSeen: (string | undefined)[] = [];
    const frontSeen: (string | undefined)[] = [];
    const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    const storage = createServer((req, res) => {
      storageSeen.push(req.headers.authorization);
      const digest = (req.url ?? '').split('/').pop() ?? '';
      req.url = `/v2/private/app/blobs/${digest}`;
      forward(registry.host, req, res, { authorization: basic, host: registry.host });
    });
    const storageHost = await listen(storage);
    const front = createServer((req, res) => {
      const m = /^\/v2\/private\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
      if (m && req.method === 'GET' && req.headers.authorization !== undefined) {
        frontSeen.push(req.headers.authorization);
        res.writeHead(307, { location: `http://${storageHost}/bucket/${m[1]}?X-Amz-Signature=abc` });
        res.end();
        return;
      }
      forward(registry.host, req, res);
    });
    const frontHost = await listen(front);
    const c = new RegistryClient();
    try {
      const s = c.session(parseReference(`${frontHost}/private/app:v1`), { username, password });
      const data = await blob(s, app.layerDigests[0]!);
      assert.equal(sha(data), app.layerDigests[0]);
      assert.deepEqual(frontSeen, [basic], 'the registry got the credentials');
      assert.deepEqual(storageSeen, [undefined], 'the other host did not');
    } finally {
      await c.close();
      await closeServer(front);
      await closeServer(storage);
    }
  });
});

// ------------------------------------------------------------------ token auth

describe('token-auth registry', () => {
  const username = 'bob';
  const password = 'hunter2';
  let tokens: TokenServer;
  let registry: TestRegistry;
  let app: PushedImage;

  before(async () => {
    tokens = await startTokenServer({ username, password });
    registry = await startRegistry({
      auth: { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
    });
    app = await pushImage(registry, 'team/app:v1', smallSpec('token'), { creds: `${username}:${password}` });
  });
  after(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  test('good credentials: one token per scope, reused across requests and sessions', async () => {
    const c = new RegistryClient();
    try {
      const before = tokens.requests.length;
      const ref = parseReference(`${registry.host}/team/app:v1`);
      const s = c.session(ref, { username, password });
      const m = await s.getManifest('v1');
      assert.equal(m.digest, app.manifestDigest);
      assert.equal(sha(await blob(s, app.configDigest)), app.configDigest);
      assert.equal(sha(await blob(s, app.layerDigests[0]!)), app.layerDigests[0]);
      // A second session for the same repository and credentials uses the cached token.
      const s2 = c.session(ref, { username, password });
      assert.equal((await s2.getManifest(app.manifestDigest)).digest, app.manifestDigest);
      const fetched = tokens.requests.slice(before);
      assert.equal(fetched.length, 1, JSON.stringify(fetched));
      assert.deepEqual(fetched[0], { scope: ['repository:team/app:pull'], account: username, authorized: true, method: 'GET' });
    } finally {
      await c.close();
    }
  });

  test('bad credentials are unauthorized; anonymous access is denied', async () => {
    const c = new RegistryClient();
    try {
      const ref = parseReference(`${registry.host}/team/app:v1`);
      await assert.rejects(
        c.session(ref, { username, password: 'wrong' }).getManifest('v1'),
        berthError('unauthorized', 'UNAUTHORIZED', /^unauthorized: /),
      );
      await assert.rejects(
        c.session(ref).getManifest('v1'),
        berthError(
          'unauthorized',
          'PULL_ACCESS_DENIED',
          new RegExp(`^pull access denied for ${registry.host}/team/app, repository does not exist or may require 'docker login': `),
        ),
      );
    } finally {
      await c.close();
    }
  });

  test('a registry token is sent as Bearer without asking the token server', async () => {
    const url = new URL(tokens.realm);
    url.searchParams.set('service', tokens.service);
    url.searchParams.set('scope', 'repository:team/app:pull');
    const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` } });
    const { token } = (await res.json()) as { token: string };
    const c = new RegistryClient();
    try {
      const before = tokens.requests.length;
      const s = c.session(parseReference(`${registry.host}/team/app:v1`), { registrytoken: token });
      assert.equal((await s.getManifest('v1')).digest, app.manifestDigest);
      assert.equal(sha(await blob(s, app.configDigest)), app.configDigest);
      assert.equal(tokens.requests.length, before);
    } finally {
      await c.close();
    }
  });

  test('login returns an identity token that later pulls use (OAuth2 refresh grant)', async () => {
    const c = new RegistryClient();
    try {
      const res = await c.login({ username, password, serveraddress: registry.host });
      assert.ok(res.identityToken, 'the token server issued a refresh token');
      await assert.rejects(
        c.login({ username, password: 'wrong', serveraddress: registry.host }),
        berthError('unauthorized', 'UNAUTHORIZED', /login attempt to .* failed with status: 401 Unauthorized/),
      );
      const before = tokens.requests.length;
      const s = c.session(parseReference(`${registry.host}/team/app:v1`), { username, identitytoken: res.identityToken! });
      assert.equal((await s.getManifest('v1')).digest, app.manifestDigest);
      const fetched = tokens.requests.slice(before);
      assert.equal(fetched.length, 1);
      assert.equal(fetched[0]!.method, 'POST');
      assert.equal(fetched[0]!.authorized, true);
    } finally {
      await c.close();
    }
  });
});

describe('short-lived tokens', () => {
  test('an expired token is replaced', async () => {
    const tokens = await startTokenServer({ username: 'carol', password: 'pw', expiresIn: 2 });
    const registry = await startRegistry({
      auth: { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
    });
    const c = new RegistryClient();
    try {
      const app = await pushImage(registry, 'short/app:v1', smallSpec('short'), { creds: 'carol:pw' });
      const s = c.session(parseReference(`${registry.host}/short/app:v1`), { username: 'carol', password: 'pw' });
      const before = tokens.requests.length;
      assert.equal((await s.getManifest('v1')).digest, app.manifestDigest);
      assert.equal(sha(await blob(s, app.configDigest)), app.configDigest);
      assert.equal(tokens.requests.length - before, 1);
      await sleep(2100);
      assert.equal(sha(await blob(s, app.configDigest)), app.configDigest);
      assert.equal(tokens.requests.length - before, 2, 'a new token after expiry');
    } finally {
      await c.close();
      await registry.stop();
      await tokens.stop();
    }
  });
});

// ------------------------------------------------------------------ TLS, insecure registries, HTTP fallback

describe('scheme and TLS rules (registry.berth.test mapped to 127.0.0.1)', () => {
  let tlsReg: CustomRegistry;
  let plainReg: CustomRegistry;
  let tlsImage: PushedImage;
  let plainImage: PushedImage;

  before(async () => {
    tlsReg = await startCustomRegistry(true);
    plainReg = await startCustomRegistry(false);
    tlsImage = await pushTo(tlsReg, 'tls/app:v1', smallSpec('tls'));
    plainImage = await pushTo(plainReg, 'plain/app:v1', smallSpec('plain'));
  });
  after(async () => {
    await tlsReg?.stop();
    await plainReg?.stop();
  });

  test('the test registries are not loopback by Berth\'s rules', () => {
    assert.equal(isLoopbackHost(tlsReg.host), false);
    assert.equal(isLoopbackHost(plainReg.host), false);
  });

  test('HTTPS with an untrusted certificate fails unless the registry is insecure', async () => {
    const r = testResolver();
    const strict = new RegistryClient({ maxRetries: 0, resolve: r.resolve });
    try {
      await assert.rejects(
        strict.session(parseReference(`${tlsReg.host}/tls/app:v1`)).getManifest('v1'),
        berthError('upstream', 'TLS_ERROR', /tls: failed to verify certificate/),
      );
      assert.ok(r.calls.includes(TEST_HOSTNAME), 'the connection went through the resolve hook');
    } finally {
      await strict.close();
    }
    // By host:port, by host, and by a CIDR that only the resolved address (127.0.0.1) matches.
    for (const entry of [tlsReg.host, TEST_HOSTNAME, '127.0.0.0/8']) {
      const c = new RegistryClient({ insecureRegistries: [entry], resolve: testResolver().resolve });
      try {
        const s = c.session(parseReference(`${tlsReg.host}/tls/app:v1`));
        assert.equal((await s.getManifest('v1')).digest, tlsImage.manifestDigest, entry);
        assert.equal(sha(await blob(s, tlsImage.layerDigests[0]!)), tlsImage.layerDigests[0]);
      } finally {
        await c.close();
      }
    }
    // A CIDR the resolved address is not in (still loopback space) does not make it insecure.
    const other = new RegistryClient({ maxRetries: 0, insecureRegistries: ['127.1.0.0/16'], resolve: testResolver().resolve });
    try {
      await assert.rejects(
        other.session(parseReference(`${tlsReg.host}/tls/app:v1`)).getManifest('v1'),
        berthError('upstream', 'TLS_ERROR'),
      );
    } finally {
      await other.close();
    }
  });

  test('TLS SNI carries the registry name, not the mapped address', async () => {
    const servernames: (string | false | undefined)[] = [];
    const srv = createHttpsServer({ cert: tlsReg.tls!.cert, key: tlsReg.tls!.key }, (req, res) => {
      servernames.push((req.socket as { servername?: string | false }).servername);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, TEST_ADDRESS, () => resolve());
    });
    const port = (srv.address() as AddressInfo).port;
    const c = new RegistryClient({ insecureRegistries: [TEST_HOSTNAME], resolve: testResolver().resolve });
    try {
      assert.deepEqual(await c.login({ username: 'u', password: 'p', serveraddress: `${TEST_HOSTNAME}:${port}` }), {});
      assert.deepEqual(servernames, [TEST_HOSTNAME]);
    } finally {
      await c.close();
      srv.closeAllConnections();
      await new Promise((r) => srv.close(() => r(undefined)));
    }
  });

  test('plain HTTP only for insecure registries', async () => {
    const strict = new RegistryClient({ maxRetries: 0, resolve: testResolver().resolve });
    try {
      await assert.rejects(
        strict.session(parseReference(`${plainReg.host}/plain/app:v1`)).getManifest('v1'),
        berthError('upstream', 'TLS_ERROR', /server gave HTTP response to HTTPS client/),
      );
    } finally {
      await strict.close();
    }
    for (const entry of [`http://${plainReg.host}/`, TEST_HOSTNAME, '127.0.0.0/8']) {
      const c = new RegistryClient({ insecureRegistries: [entry], resolve: testResolver().resolve });
      try {
        const s = c.session(parseReference(`${plainReg.host}/plain/app:v1`));
        assert.equal((await s.getManifest('v1')).digest, plainImage.manifestDigest, entry);
        assert.equal(sha(await blob(s, plainImage.layerDigests[0]!)), plainImage.layerDigests[0]);
      } finally {
        await c.close();
      }
    }
  });
});
