// EngineClient against a real node:http server on a unix socket (a fake engine
// started by each test): request paths and query encoding, NDJSON streams cut
// at arbitrary byte boundaries, error mapping, X-Registry-Auth, unreachable
// engines, streaming bodies and keep-alive.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  EngineClient,
  EngineError,
  JsonStreamParser,
  defaultHost,
  encodeQuery,
  encodeRegistryAuth,
  familiarName,
  followProgress,
  normalizedString,
  parseHost,
  parseReference,
  toApiTimestamp,
} from '../client/index.js';
import type { ProgressMessage } from '../types/engine-api.js';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Handler = (req: Recorded, res: ServerResponse) => void | Promise<void>;

interface FakeEngine {
  host: string;
  socketPath: string;
  requests: Recorded[];
  /** Connections accepted so far. */
  connections: () => number;
  handle(h: Handler): void;
  close(): Promise<void>;
}

let tmpDir: string;

before(async () => {
  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'berth-client-test-'));
});

after(async () => {
  await rm(tmpDir, { recursive: true, force: true });
});

let socketCounter = 0;

async function startFake(handler: Handler): Promise<FakeEngine> {
  const socketPath = path.join(tmpDir, `engine-${++socketCounter}.sock`);
  const requests: Recorded[] = [];
  let current = handler;
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(rec);
      Promise.resolve(current(rec, res)).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    host: `unix://${socketPath}`,
    socketPath,
    requests,
    connections: () => connections,
    handle: (h) => {
      current = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of iter) out.push(v);
  return out;
}

describe('request paths and query encoding', () => {
  test('every versioned call carries the /v1.47 prefix; _ping does not', async () => {
    const fake = await startFake((req, res) => {
      if (req.url === '/_ping') {
        res.setHeader('Api-Version', '1.47');
        res.setHeader('Ostype', 'linux');
        res.end('OK');
        return;
      }
      json(res, 200, req.url.includes('/images/json') ? [] : {});
    });
    const client = new EngineClient({ host: fake.host });
    try {
      const ping = await client.ping();
      assert.deepEqual(ping, { status: 'OK', apiVersion: '1.47', osType: 'linux' });
      await client.version();
      await client.info();
      await client.listImages();
      await client.systemDf();
      assert.deepEqual(
        fake.requests.map((r) => `${r.method} ${r.url}`),
        ['GET /_ping', 'GET /v1.47/version', 'GET /v1.47/info', 'GET /v1.47/images/json', 'GET /v1.47/system/df'],
      );
      const other = new EngineClient({ host: fake.host, apiVersion: '1.44' });
      await other.version();
      other.close();
      assert.equal(fake.requests.at(-1)?.url, '/v1.44/version');
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('query parameters are encoded like Docker (1 for true, JSON filters, repeated names)', async () => {
    const fake = await startFake((req, res) => {
      if (req.method === 'DELETE') return json(res, 200, [{ Untagged: 'busybox:latest' }, { Deleted: 'sha256:abc' }]);
      if (req.url.startsWith('/v1.47/images/prune')) return json(res, 200, { ImagesDeleted: null, SpaceReclaimed: 0 });
      if (req.url.includes('/tag')) {
        res.statusCode = 201;
        res.end();
        return;
      }
      if (req.url.startsWith('/v1.47/images/get')) {
        res.setHeader('Content-Type', 'application/x-tar');
        res.end('TARDATA');
        return;
      }
      json(res, 200, []);
    });
    const client = new EngineClient({ host: fake.host });
    try {
      await client.listImages({ all: true, digests: true, filters: { dangling: ['true'], reference: ['busy*'] } });
      await client.listImages({ all: false, filters: {} });
      const removed = await client.removeImage('docker.io/library/busybox:latest', { force: true, noprune: false });
      assert.deepEqual(removed, [{ Untagged: 'busybox:latest' }, { Deleted: 'sha256:abc' }]);
      await client.tagImage('busybox', 'docker.io/me/box', 'v1');
      await client.pruneImages({ filters: { dangling: ['false'] } });
      const tar = await client.saveImages(['busybox:latest', 'alpine']);
      const chunks: Buffer[] = [];
      for await (const c of tar) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'TARDATA');

      const urls = fake.requests.map((r) => new URL(r.url, 'http://x'));
      const [list1, list2, del, tag, prune, save] = urls as [URL, URL, URL, URL, URL, URL];
      assert.equal(list1.pathname, '/v1.47/images/json');
      assert.equal(list1.searchParams.get('all'), '1');
      assert.equal(list1.searchParams.get('digests'), '1');
      assert.deepEqual(JSON.parse(list1.searchParams.get('filters') ?? ''), { dangling: ['true'], reference: ['busy*'] });
      assert.equal(list2.search, '', 'false and empty filters are left out');
      assert.equal(del.pathname, '/v1.47/images/docker.io/library/busybox:latest');
      assert.equal(del.search, '?force=1');
      assert.equal(tag.pathname, '/v1.47/images/busybox/tag');
      assert.equal(tag.searchParams.get('repo'), 'docker.io/me/box');
      assert.equal(tag.searchParams.get('tag'), 'v1');
      assert.deepEqual(JSON.parse(prune.searchParams.get('filters') ?? ''), { dangling: ['false'] });
      assert.equal(fake.requests[4]?.method, 'POST');
      assert.deepEqual(save.searchParams.getAll('names'), ['busybox:latest', 'alpine']);
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('pull sends fromImage and tag split from the reference, default tag latest', async () => {
    const fake = await startFake((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"status":"ok"}\n');
    });
    const client = new EngineClient({ host: fake.host });
    try {
      await collect(client.pullImage('busybox'));
      await collect(client.pullImage('ghcr.io/org/app:1.2', { platform: 'linux/arm64' }));
      await collect(client.pullImage(`alpine@sha256:${'a'.repeat(64)}`));
      const qs = fake.requests.map((r) => Object.fromEntries(new URL(r.url, 'http://x').searchParams));
      assert.deepEqual(qs[0], { fromImage: 'busybox', tag: 'latest' });
      assert.deepEqual(qs[1], { fromImage: 'ghcr.io/org/app', tag: '1.2', platform: 'linux/arm64' });
      assert.deepEqual(qs[2], { fromImage: 'alpine', tag: `sha256:${'a'.repeat(64)}` });
      assert.ok(fake.requests.every((r) => r.method === 'POST' && r.url.startsWith('/v1.47/images/create?')));
      assert.equal(fake.requests[0]?.headers['x-registry-auth'], undefined);
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('events converts since/until to API timestamps and passes filters', async () => {
    const fake = await startFake((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end();
    });
    const client = new EngineClient({ host: fake.host });
    try {
      const before = Math.floor(Date.now() / 1000);
      await collect(client.events({ since: '10m', until: 1700000000, filters: { type: ['image'] } }));
      const q = new URL(fake.requests[0]?.url ?? '', 'http://x').searchParams;
      const since = Number(q.get('since'));
      assert.ok(Math.abs(since - (before - 600)) <= 2, `since ${since} should be ~10 minutes ago`);
      assert.equal(q.get('until'), '1700000000');
      assert.deepEqual(JSON.parse(q.get('filters') ?? ''), { type: ['image'] });
    } finally {
      client.close();
      await fake.close();
    }
  });
});

describe('NDJSON streams', () => {
  const messages: ProgressMessage[] = [
    { status: 'Pulling from library/busybox', id: 'latest' },
    { status: 'Pulling fs layer', id: 'a3ed95caeb02', progressDetail: {} },
    { status: 'Downloading', id: 'a3ed95caeb02', progressDetail: { current: 1024, total: 2048 }, progress: '[==>  ] {braces} "quoted" \\ back' },
    { status: 'Extracting ünïcödé ✓ 🐳', id: 'a3ed95caeb02', progressDetail: { current: 2048, total: 2048 } },
    { status: 'Digest: sha256:' + 'f'.repeat(64) },
    { status: 'Status: Downloaded newer image for busybox:latest' },
  ];
  const wire = Buffer.from(messages.map((m) => JSON.stringify(m) + '\n').join(''), 'utf8');

  test('messages split at every possible byte boundary are parsed intact', async () => {
    // Feed the parser (through parseJsonStream's decoder) two chunks split at each byte.
    const { parseJsonStream } = await import('../client/index.js');
    for (let cut = 0; cut <= wire.length; cut++) {
      const parts = [wire.subarray(0, cut), wire.subarray(cut)];
      const got = await collect(parseJsonStream(Readable.from(parts)));
      assert.deepEqual(got, messages, `cut at byte ${cut}`);
    }
  });

  test('a pull stream written in small, delayed chunks arrives as whole messages', async () => {
    const fake = await startFake(async (_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      // 7-byte chunks cut through JSON tokens and multi-byte UTF-8 characters.
      for (let i = 0; i < wire.length; i += 7) {
        res.write(wire.subarray(i, i + 7));
        await sleep(1);
      }
      res.end();
    });
    const client = new EngineClient({ host: fake.host });
    try {
      const got = await collect(client.pullImage('busybox'));
      assert.deepEqual(got, messages);
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('concatenated objects without newlines (Go json.Encoder style) and CRLF are accepted', () => {
    const p = new JsonStreamParser();
    const out = [
      ...p.push('{"a":1}{"b":"}{"}\r\n{"c":[1,{"d":2}]}  '),
      ...p.push('\n{"e":'),
      ...p.push('"x\\""}'),
      ...p.end(),
    ];
    assert.deepEqual(out, [{ a: 1 }, { b: '}{' }, { c: [1, { d: 2 }] }, { e: 'x"' }]);
  });

  test('a truncated or malformed stream is an EngineError', () => {
    const p = new JsonStreamParser();
    p.push('{"status":"half');
    assert.throws(() => p.end(), (e: unknown) => e instanceof EngineError && e.code === 'SERVER' && /truncated/.test(e.message));
    assert.throws(
      () => new JsonStreamParser().push('{"a":nope}'),
      (e: unknown) => e instanceof EngineError && /malformed JSON/.test(e.message),
    );
  });

  test('followProgress yields every message, then throws the stream error at the end', async () => {
    const fake = await startFake((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.write('{"status":"Pulling fs layer","id":"a3ed95caeb02","progressDetail":{}}\n');
      res.write('{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}\n');
      res.end('{"status":"trailing message"}\n');
    });
    const client = new EngineClient({ host: fake.host });
    try {
      const seen: ProgressMessage[] = [];
      await assert.rejects(
        followProgress(client.pullImage('busybox'), (m) => seen.push(m)),
        (e: unknown) => e instanceof EngineError && e.message === 'unexpected EOF' && e.inStream && e.code === 'SERVER',
      );
      assert.equal(seen.length, 3, 'messages after the error are still delivered');
      assert.equal(seen[1]?.error, 'unexpected EOF');
      const ok = await followProgress(
        (async function* () {
          yield { status: 'a' };
          yield { status: 'b' };
        })(),
      );
      assert.deepEqual(ok, [{ status: 'a' }, { status: 'b' }]);
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('events: endless stream stops when the signal aborts', async () => {
    let closed = false;
    const fake = await startFake((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.on('close', () => {
        closed = true;
      });
      let n = 0;
      const timer = setInterval(() => {
        res.write(
          JSON.stringify({ Type: 'image', Action: 'pull', Actor: { ID: `img${n++}`, Attributes: {} }, time: 1, timeNano: 1e9 }) + '\n',
        );
      }, 5);
      res.on('close', () => clearInterval(timer));
    });
    const client = new EngineClient({ host: fake.host });
    try {
      const ac = new AbortController();
      const got: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const e of client.events({ signal: ac.signal })) {
            got.push(e.Actor.ID);
            if (got.length === 3) ac.abort();
          }
        })(),
        (e: unknown) => (e as Error).name === 'AbortError',
      );
      assert.deepEqual(got, ['img0', 'img1', 'img2']);
      for (let i = 0; i < 50 && !closed; i++) await sleep(10);
      assert.ok(closed, 'the server saw the connection close');
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('loadImages streams the tar body and yields the engine messages', async () => {
    const fake = await startFake((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"stream":"Loaded image: busybox:latest\\n"}\n');
    });
    const client = new EngineClient({ host: fake.host });
    try {
      const tar = Readable.from([Buffer.alloc(512, 1), Buffer.alloc(1024, 2)]);
      const got = await collect(client.loadImages(tar, { quiet: true }));
      assert.deepEqual(got, [{ stream: 'Loaded image: busybox:latest\n' }]);
      const req = fake.requests[0];
      assert.equal(req?.method, 'POST');
      assert.equal(req?.url, '/v1.47/images/load?quiet=1');
      assert.equal(req?.headers['content-type'], 'application/x-tar');
      assert.equal(req?.body.length, 1536);
    } finally {
      client.close();
      await fake.close();
    }
  });
});

describe('errors', () => {
  test('HTTP errors map to EngineError codes with the server message', async () => {
    const fake = await startFake((req, res) => {
      const status = Number(new URL(req.url, 'http://x').pathname.split('/')[3]);
      if (status === 502) {
        res.statusCode = 502;
        res.end('bad gateway text');
        return;
      }
      if (status === 503) {
        res.statusCode = 503;
        res.end();
        return;
      }
      json(res, status, { message: `message for ${status}` });
    });
    const client = new EngineClient({ host: fake.host });
    const cases: [number, string][] = [
      [400, 'INVALID'],
      [401, 'UNAUTHORIZED'],
      [403, 'UNAUTHORIZED'],
      [404, 'NOT_FOUND'],
      [409, 'CONFLICT'],
      [500, 'SERVER'],
    ];
    try {
      for (const [status, code] of cases) {
        await assert.rejects(client.inspectImage(String(status)), (e: unknown) => {
          assert.ok(e instanceof EngineError);
          assert.equal(e.statusCode, status);
          assert.equal(e.code, code);
          assert.equal(e.message, `message for ${status}`);
          assert.equal(e.inStream, false);
          return true;
        });
      }
      await assert.rejects(client.inspectImage('502'), { code: 'SERVER', statusCode: 502, message: 'bad gateway text' });
      await assert.rejects(client.inspectImage('503'), { code: 'SERVER', statusCode: 503, message: '503 Service Unavailable' });
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('an error status on a streaming endpoint is thrown on the first iteration', async () => {
    const fake = await startFake((_req, res) => json(res, 404, { message: 'pull access denied for nope, repository does not exist' }));
    const client = new EngineClient({ host: fake.host });
    try {
      await assert.rejects(collect(client.pullImage('nope')), {
        code: 'NOT_FOUND',
        statusCode: 404,
        message: 'pull access denied for nope, repository does not exist',
      });
      await assert.rejects(client.saveImages(['nope']), { code: 'NOT_FOUND' });
      // The tar body of a refused load is not an unhandled error.
      await assert.rejects(collect(client.loadImages(Readable.from([Buffer.alloc(64 * 1024)]))), { code: 'NOT_FOUND' });
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('a missing socket is UNREACHABLE with advice on starting the engine', async () => {
    const host = `unix://${path.join(tmpDir, 'nobody-here.sock')}`;
    const client = new EngineClient({ host });
    try {
      await assert.rejects(client.version(), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        assert.equal(e.code, 'UNREACHABLE');
        assert.equal(e.statusCode, 0);
        assert.ok(e.message.includes(host), e.message);
        assert.match(e.message, /isn't running/);
        assert.match(e.message, /berthd/);
        assert.match(e.message, /bash build\/start\.sh/);
        return true;
      });
      await assert.rejects(collect(client.events()), { code: 'UNREACHABLE' });
    } finally {
      client.close();
    }
  });

  test('a path that is not a listening socket (ECONNREFUSED) is UNREACHABLE too', async () => {
    const file = path.join(tmpDir, 'not-a-socket.sock');
    await writeFile(file, '');
    const client = new EngineClient({ host: `unix://${file}` });
    try {
      await assert.rejects(client.ping(), (e: unknown) => e instanceof EngineError && e.code === 'UNREACHABLE' && /ECONNREFUSED/.test(e.message));
    } finally {
      client.close();
    }
  });

  test('timeoutMs bounds the wait for an answer', async () => {
    const fake = await startFake(() => undefined); // never answers
    const client = new EngineClient({ host: fake.host, timeoutMs: 100 });
    try {
      await assert.rejects(client.version(), (e: unknown) => e instanceof EngineError && e.code === 'UNREACHABLE' && /timed out/.test(e.message));
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('an invalid reference is rejected before any request', async () => {
    const client = new EngineClient({ host: 'unix:///nonexistent.sock' });
    await assert.rejects(collect(client.pullImage('Busybox')), {
      code: 'INVALID',
      message: 'invalid reference format: repository name (library/Busybox) must be lowercase',
    });
    client.close();
  });
});

describe('X-Registry-Auth', () => {
  test('auth is sent as URL-safe base64 JSON on pull and distribution inspect', async () => {
    const fake = await startFake((req, res) => {
      if (req.url.startsWith('/v1.47/distribution/')) {
        return json(res, 200, {
          Descriptor: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: 'sha256:abc', size: 1 },
          Platforms: [{ architecture: 'amd64', os: 'linux' }],
        });
      }
      res.setHeader('Content-Type', 'application/json');
      res.end('{"status":"done"}\n');
    });
    const client = new EngineClient({ host: fake.host });
    try {
      // Find a password whose JSON encodes to standard base64 with '+' or '/'.
      let password = '';
      for (let i = 0; i < 4096 && !password; i++) {
        const candidate = `p?>~${String.fromCharCode(0x3e + (i % 64))}${i}`;
        const std = Buffer.from(JSON.stringify({ username: 'me', password: candidate, serveraddress: 'registry.example.com' })).toString('base64');
        if (/[+/]/.test(std)) password = candidate;
      }
      assert.ok(password, 'found a password that exercises the URL-safe alphabet');
      const auth = { username: 'me', password, serveraddress: 'registry.example.com' };
      await collect(client.pullImage('registry.example.com/team/app:1', { auth }));
      const header = String(fake.requests[0]?.headers['x-registry-auth']);
      assert.doesNotMatch(header, /[+/]/);
      assert.equal(header, encodeRegistryAuth(auth));
      assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString('utf8')), auth);

      const di = await client.distributionInspect('registry.example.com/team/app:1', auth);
      assert.equal(di.Platforms[0]?.os, 'linux');
      assert.equal(fake.requests[1]?.url, '/v1.47/distribution/registry.example.com/team/app:1/json');
      assert.equal(fake.requests[1]?.headers['x-registry-auth'], header);
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('POST /auth sends the AuthConfig as JSON', async () => {
    const fake = await startFake((_req, res) => json(res, 200, { Status: 'Login Succeeded', IdentityToken: '' }));
    const client = new EngineClient({ host: fake.host });
    try {
      const res = await client.auth({ username: 'u', password: 'p', serveraddress: 'https://index.docker.io/v1/' });
      assert.equal(res.Status, 'Login Succeeded');
      assert.equal(fake.requests[0]?.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(fake.requests[0]?.body.toString() ?? ''), {
        username: 'u',
        password: 'p',
        serveraddress: 'https://index.docker.io/v1/',
      });
    } finally {
      client.close();
      await fake.close();
    }
  });
});

describe('connection handling', () => {
  test('sequential requests reuse one keep-alive connection', async () => {
    const fake = await startFake((_req, res) => json(res, 200, { Version: '0.1.0' }));
    const client = new EngineClient({ host: fake.host });
    try {
      for (let i = 0; i < 5; i++) await client.version();
      assert.equal(fake.connections(), 1);
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('a connection dropped mid-stream is an EngineError', async () => {
    const fake = await startFake((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.write('{"status":"one"}\n{"status":"tw');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const client = new EngineClient({ host: fake.host });
    try {
      const seen: ProgressMessage[] = [];
      await assert.rejects(
        (async () => {
          for await (const m of client.pullImage('busybox')) seen.push(m);
        })(),
        (e: unknown) => e instanceof EngineError && e.code === 'SERVER',
      );
      assert.deepEqual(seen, [{ status: 'one' }]);
    } finally {
      client.close();
      await fake.close();
    }
  });
});

describe('helpers', () => {
  test('parseHost and defaultHost', () => {
    assert.deepEqual(parseHost('unix:///run/berth/docker.sock'), { protocol: 'unix', socketPath: '/run/berth/docker.sock' });
    assert.deepEqual(parseHost('/tmp/x.sock'), { protocol: 'unix', socketPath: '/tmp/x.sock' });
    assert.deepEqual(parseHost('tcp://127.0.0.1:2376'), { protocol: 'tcp', hostname: '127.0.0.1', port: 2376 });
    assert.deepEqual(parseHost('tcp://engine'), { protocol: 'tcp', hostname: 'engine', port: 2375 });
    assert.deepEqual(parseHost('http://[::1]:8080'), { protocol: 'tcp', hostname: '::1', port: 8080 });
    assert.throws(() => parseHost('ssh://me@host'), { code: 'INVALID' });
    assert.deepEqual(parseHost('https://host:2376'), { protocol: 'tcp', hostname: 'host', port: 2376, https: true }, 'https:// is TLS');
    assert.equal(defaultHost({}), 'unix:///run/berth/docker.sock');
    assert.equal(defaultHost({ DOCKER_HOST: 'tcp://d:1' }), 'tcp://d:1');
    assert.equal(defaultHost({ DOCKER_HOST: 'tcp://d:1', BERTH_HOST: 'unix:///b.sock' }), 'unix:///b.sock');
  });

  test('encodeQuery', () => {
    assert.equal(encodeQuery({ a: true, b: false, c: undefined, d: 'x y', e: 3, f: ['1', '2'], g: {} }), '?a=1&d=x+y&e=3&f=1&f=2');
    assert.equal(encodeQuery({}), '');
  });

  test('parseReference normalises like Docker', () => {
    assert.deepEqual(parseReference('busybox'), { domain: 'docker.io', path: 'library/busybox' });
    assert.deepEqual(parseReference('me/app:1.0'), { domain: 'docker.io', path: 'me/app', tag: '1.0' });
    assert.deepEqual(parseReference('localhost:5000/app'), { domain: 'localhost:5000', path: 'app' });
    assert.deepEqual(parseReference('index.docker.io/library/alpine:3'), { domain: 'docker.io', path: 'library/alpine', tag: '3' });
    const d = `sha256:${'0'.repeat(64)}`;
    assert.deepEqual(parseReference(`ghcr.io/a/b/c:t@${d}`), { domain: 'ghcr.io', path: 'a/b/c', tag: 't', digest: d });
    assert.equal(familiarName(parseReference('docker.io/library/busybox')), 'busybox');
    assert.equal(familiarName(parseReference('docker.io/library/a/b')), 'library/a/b');
    assert.equal(normalizedString(parseReference('busybox:1')), 'docker.io/library/busybox:1');
    for (const bad of ['', 'UPPER', 'a:b:c', 'a@sha256:xyz', 'a/-b', 'x:'.padEnd(200, 'y'), '0'.repeat(64)]) {
      assert.throws(() => parseReference(bad), { code: 'INVALID' }, bad);
    }
  });

  test('toApiTimestamp', () => {
    const now = Date.UTC(2024, 0, 1, 0, 0, 0);
    assert.equal(toApiTimestamp('1h', now), String(now / 1000 - 3600));
    assert.equal(toApiTimestamp('1h30m', now), String(now / 1000 - 5400));
    assert.equal(toApiTimestamp('1700000000.5', now), '1700000000.5');
    assert.equal(toApiTimestamp(new Date(1500), now), '1.500000000');
    assert.equal(toApiTimestamp('2024-01-01T00:00:10Z', now), String(now / 1000 + 10));
    assert.throws(() => toApiTimestamp('yesterday-ish', now), { code: 'INVALID' });
  });
});
