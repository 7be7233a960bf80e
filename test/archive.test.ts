// docker save / docker load (engine/images/archive.ts) against real stores in a temp dir.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { chainIds, sha256, type Digest } from '../engine/common/digest.js';
import { isBerthError } from '../engine/common/errors.js';
import { silentLogger } from '../engine/common/log.js';
import { EventBus, type EngineEvent } from '../engine/events/bus.js';
import { ImageArchiver } from '../engine/images/archive.js';
import { ImageDb } from '../engine/images/imagedb.js';
import type { ProgressMessage } from '../engine/images/progress.js';
import { ImageService } from '../engine/images/service.js';
import { hostPlatform, MEDIA_TYPE } from '../engine/registry/manifest.js';
import { parseReference, refString } from '../engine/registry/reference.js';
import { LocalContentStore } from '../engine/store/content.js';
import { OverlayLayerStore } from '../engine/store/layers.js';
import { unpackLayer } from '../engine/store/unpack.js';

// ---------------------------------------------------------------- fixtures

interface Env {
  dir: string;
  content: LocalContentStore;
  layers: OverlayLayerStore;
  db: ImageDb;
  events: EngineEvent[];
  images: ImageService;
  archiver: ImageArchiver;
}

const dirs: string[] = [];

async function makeEnv(): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-archive-'));
  dirs.push(dir);
  const content = new LocalContentStore(join(dir, 'content'));
  await content.init();
  const layers = new OverlayLayerStore(join(dir, 'layers'));
  await layers.init();
  const db = new ImageDb(join(dir, 'images'));
  await db.load();
  const bus = new EventBus();
  const events: EngineEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const images = new ImageService(db, content, layers, bus, silentLogger);
  return { dir, content, layers, db, events, images, archiver: new ImageArchiver(images, layers, silentLogger) };
}

type FileSpec = { name: string; content?: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string };

async function makeTar(entries: Array<{ name: string; data?: Buffer | string; type?: 'file' | 'directory' | 'symlink'; linkname?: string }>): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const mtime = new Date('2024-01-02T03:04:05Z');
    if (type === 'file') pack.entry({ name: e.name, mode: 0o644, mtime }, e.data ?? '');
    else if (type === 'directory') pack.entry({ name: e.name, type, mode: 0o755, mtime });
    else pack.entry({ name: e.name, type, linkname: e.linkname ?? '', mtime });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const layerTar = (files: FileSpec[]): Promise<Buffer> =>
  makeTar(files.map((f) => ({ name: f.name, data: f.content, type: f.type, linkname: f.linkname })));

const hex = (d: string): string => d.slice('sha256:'.length);

/**
 * A valid zstd frame made of raw (stored) blocks (RFC 8878 §3.1.1): magic, a frame
 * header with only a 128 KiB window descriptor, then 3-byte block headers. Enough
 * to exercise zstd decoding without a zstd compressor.
 */
function zstdRaw(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])];
  const max = 128 * 1024;
  let off = 0;
  do {
    const n = Math.min(max, data.length - off);
    const h = (n << 3) | (off + n >= data.length ? 1 : 0);
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), data.subarray(off, off + n));
    off += n;
  } while (off < data.length);
  return Buffer.concat(parts);
}
const full = (name: string): string => refString(parseReference(name));

function configFor(diffIds: string[], extra: Record<string, unknown> = {}): Buffer {
  const p = hostPlatform();
  return Buffer.from(
    JSON.stringify({
      architecture: p.architecture,
      os: 'linux',
      created: '2024-01-02T03:04:05Z',
      config: { Cmd: ['sh'], Env: ['PATH=/usr/bin:/bin'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'test' })),
      ...extra,
    }),
  );
}

/** Store an image the way a pull would: gzip blobs in the content store, unpacked layers, config, tags. */
async function seedImage(
  env: Env,
  layerSpecs: FileSpec[][],
  tags: string[],
  extra: Record<string, unknown> = {},
): Promise<{ id: Digest; diffIds: Digest[]; tars: Buffer[] }> {
  const tars = await Promise.all(layerSpecs.map(layerTar));
  const diffIds = tars.map((t) => sha256(t));
  const chains = chainIds(diffIds);
  const layerBlobs = [];
  for (const [i, t] of tars.entries()) {
    const gz = gzipSync(t);
    const blob = await env.content.putBuffer(gz);
    const desc = { ...blob, mediaType: MEDIA_TYPE.ociLayerGzip };
    layerBlobs.push(desc);
    const chainId = chains[i] as Digest;
    if (await env.layers.has(chainId)) continue;
    const prepared = await env.layers.prepare();
    await unpackLayer(Readable.from([t]), prepared.dir);
    await prepared.commit({
      chainId,
      diffId: diffIds[i] as Digest,
      ...(i > 0 ? { parent: chains[i - 1] as Digest } : {}),
      size: t.length,
      blob: desc,
    });
  }
  const { digest: id } = await env.content.putBuffer(configFor(diffIds, extra));
  if (tags.length === 0) await env.images.commitImage({ id, diffIds, layerBlobs }, undefined);
  for (const t of tags) await env.images.commitImage({ id, diffIds, layerBlobs }, full(t));
  return { id, diffIds, tars };
}

function collector(): { out: Writable; data: () => Buffer } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { out, data: () => Buffer.concat(chunks) };
}

async function saveToBuffer(env: Env, names: string[]): Promise<Buffer> {
  const c = collector();
  await env.archiver.save(names, c.out);
  return c.data();
}

async function untar(buf: Buffer): Promise<Map<string, { type: string; data: Buffer; linkname?: string }>> {
  const out = new Map<string, { type: string; data: Buffer; linkname?: string }>();
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      const parts: Buffer[] = [];
      for await (const c of e) parts.push(c as Buffer);
      out.set(e.header.name, { type: e.header.type, data: Buffer.concat(parts), linkname: e.header.linkname ?? undefined });
    }
  })();
  ex.end(buf);
  await done;
  return out;
}

async function load(env: Env, archive: Buffer, quiet = false): Promise<{ loaded: string[]; messages: ProgressMessage[] }> {
  const messages: ProgressMessage[] = [];
  const { loaded } = await env.archiver.load(Readable.from([archive]), (m) => messages.push(m), { quiet });
  return { loaded, messages };
}

interface Snapshot {
  layers: string[];
  blobs: string[];
  images: string[];
  tags: string[];
  tmp: string[];
  ingest: string[];
}

async function snapshot(env: Env): Promise<Snapshot> {
  return {
    layers: (await env.layers.list()).map((l) => l.chainId).sort(),
    blobs: (await env.content.list()).map((b) => b.digest).sort(),
    images: env.db.images().map((i) => i.id).sort(),
    tags: env.db.tags().map(([t, id]) => `${t}=${id}`).sort(),
    tmp: (await readdir(join(env.dir, 'layers', 'tmp'))).sort(),
    ingest: (await readdir(join(env.dir, 'content', 'ingest'))).sort(),
  };
}

async function expectInvalid(p: Promise<unknown>, pattern: RegExp, code?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isBerthError(err), `expected a BerthError, got ${String(err)}`);
    assert.equal(err.kind, 'invalid', err.message);
    assert.match(err.message, pattern);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

const BASE: FileSpec[] = [
  { name: 'bin/', type: 'directory' },
  { name: 'bin/sh', content: '#!/bin/true\n' },
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hello', content: 'hello from the base layer\n' },
  { name: 'etc/gone', content: 'to be deleted\n' },
];
const TOP: FileSpec[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hello', content: 'hello from the top layer\n' },
  { name: 'etc/.wh.gone' },
  { name: 'etc/link', type: 'symlink', linkname: 'hello' },
];
const MUSL: FileSpec[] = [{ name: 'lib/', type: 'directory' }, { name: 'lib/musl.so', content: 'musl\n' }];

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------- save

describe('ImageArchiver.save', () => {
  let env: Env;
  let img1: Awaited<ReturnType<typeof seedImage>>;
  let img2: Awaited<ReturnType<typeof seedImage>>;
  let img3: Awaited<ReturnType<typeof seedImage>>;

  before(async () => {
    env = await makeEnv();
    img1 = await seedImage(env, [BASE, TOP], ['busybox:latest', 'busybox:1.0']);
    img2 = await seedImage(env, [BASE, MUSL], ['busybox:musl']);
    img3 = await seedImage(env, [MUSL], ['localhost:5000/team/other:x']);
  });

  it('writes a well-formed Docker + OCI layout whose layer blobs hash to the DiffIDs', async () => {
    const files = await untar(await saveToBuffer(env, ['busybox:latest']));
    assert.deepEqual(JSON.parse(files.get('oci-layout')!.data.toString()), { imageLayoutVersion: '1.0.0' });

    const manifest = JSON.parse(files.get('manifest.json')!.data.toString()) as Array<Record<string, unknown>>;
    assert.equal(manifest.length, 1);
    const m = manifest[0]!;
    assert.equal(m.Config, `blobs/sha256/${hex(img1.id)}`);
    assert.deepEqual(m.RepoTags, ['busybox:latest']);
    assert.deepEqual(m.Layers, img1.diffIds.map((d) => `blobs/sha256/${hex(d)}`));

    const config = files.get(m.Config as string)!.data;
    assert.equal(sha256(config), img1.id);
    for (const [i, d] of img1.diffIds.entries()) {
      const layer = files.get(`blobs/sha256/${hex(d)}`)!;
      assert.equal(sha256(layer.data), d, 'layer blob hashes to its DiffID');
      assert.ok(layer.data.equals(img1.tars[i]!), 'layer blob is the original uncompressed tar');
    }

    const index = JSON.parse(files.get('index.json')!.data.toString()) as {
      schemaVersion: number;
      mediaType: string;
      manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
    };
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, MEDIA_TYPE.ociIndex);
    assert.equal(index.manifests.length, 1);
    const desc = index.manifests[0]!;
    assert.equal(desc.mediaType, MEDIA_TYPE.ociManifest);
    assert.deepEqual(desc.annotations, {
      'io.containerd.image.name': 'docker.io/library/busybox:latest',
      'org.opencontainers.image.ref.name': 'latest',
    });
    const mblob = files.get(`blobs/sha256/${hex(desc.digest)}`)!.data;
    assert.equal(sha256(mblob), desc.digest);
    assert.equal(mblob.length, desc.size);
    const ociManifest = JSON.parse(mblob.toString()) as {
      config: { digest: string; size: number; mediaType: string };
      layers: Array<{ digest: string; size: number; mediaType: string }>;
    };
    assert.equal(ociManifest.config.digest, img1.id);
    assert.equal(ociManifest.config.size, config.length);
    assert.deepEqual(
      ociManifest.layers.map((l) => [l.mediaType, l.digest, l.size]),
      img1.diffIds.map((d, i) => [MEDIA_TYPE.ociLayer, d, img1.tars[i]!.length]),
    );

    assert.deepEqual(JSON.parse(files.get('repositories')!.data.toString()), {
      busybox: { latest: hex(img1.diffIds[1]!) },
    });
    assert.ok(env.events.some((e) => e.Action === 'save' && e.Actor.ID === img1.id));
  });

  it('saves by ID without tags, by tag with that tag only, by repository with all its tags', async () => {
    // By ID prefix: no RepoTags, no annotations, no repositories file.
    let files = await untar(await saveToBuffer(env, [hex(img1.id).slice(0, 12)]));
    let manifest = JSON.parse(files.get('manifest.json')!.data.toString()) as Array<Record<string, unknown>>;
    assert.equal(manifest.length, 1);
    assert.equal(manifest[0]!.RepoTags, null);
    assert.equal(files.has('repositories'), false);
    let index = JSON.parse(files.get('index.json')!.data.toString()) as { manifests: Array<{ annotations?: unknown }> };
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0]!.annotations, undefined);

    // Full ID.
    files = await untar(await saveToBuffer(env, [img3.id]));
    manifest = JSON.parse(files.get('manifest.json')!.data.toString()) as Array<Record<string, unknown>>;
    assert.equal(manifest[0]!.Config, `blobs/sha256/${hex(img3.id)}`);
    assert.equal(manifest[0]!.RepoTags, null);

    // One tag.
    files = await untar(await saveToBuffer(env, ['busybox:1.0']));
    manifest = JSON.parse(files.get('manifest.json')!.data.toString()) as Array<Record<string, unknown>>;
    assert.deepEqual(manifest[0]!.RepoTags, ['busybox:1.0']);
    assert.deepEqual(JSON.parse(files.get('repositories')!.data.toString()), { busybox: { '1.0': hex(img1.diffIds[1]!) } });

    // Repository name: every tag, two images, the shared base layer written once.
    const archive = await saveToBuffer(env, ['busybox']);
    files = await untar(archive);
    manifest = JSON.parse(files.get('manifest.json')!.data.toString()) as Array<Record<string, unknown>>;
    const byConfig = new Map(manifest.map((e) => [e.Config as string, e.RepoTags]));
    assert.equal(manifest.length, 2);
    assert.deepEqual(byConfig.get(`blobs/sha256/${hex(img1.id)}`), ['busybox:1.0', 'busybox:latest']);
    assert.deepEqual(byConfig.get(`blobs/sha256/${hex(img2.id)}`), ['busybox:musl']);
    index = JSON.parse(files.get('index.json')!.data.toString()) as { manifests: Array<{ annotations?: unknown }> };
    assert.equal(index.manifests.length, 3);
    const names = [...(await untarNames(archive))];
    assert.equal(names.filter((n) => n === `blobs/sha256/${hex(img1.diffIds[0]!)}`).length, 1, 'shared layer written once');

    // The same image by tag and by ID: once, with the tag.
    files = await untar(await saveToBuffer(env, ['busybox:latest', img1.id, 'localhost:5000/team/other:x']));
    manifest = JSON.parse(files.get('manifest.json')!.data.toString()) as Array<Record<string, unknown>>;
    assert.equal(manifest.length, 2);
    assert.deepEqual(manifest[0]!.RepoTags, ['busybox:latest']);
    assert.deepEqual(manifest[1]!.RepoTags, ['localhost:5000/team/other:x']);
    assert.deepEqual(JSON.parse(files.get('repositories')!.data.toString()), {
      busybox: { latest: hex(img1.diffIds[1]!) },
      'localhost:5000/team/other': { x: hex(img3.diffIds[0]!) },
    });
  });

  it('stops cleanly when the client goes away, and streams with back-pressure', async () => {
    const big = await seedImage(env, [[{ name: 'blob', content: randomBytes(3 << 20).toString('base64') }]], ['big:1']);
    let n = 0;
    const closing = new Writable({
      write(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        if (n > 1 << 20) this.destroy();
        cb();
      },
    });
    await assert.rejects(env.archiver.save(['big:1'], closing), (err: unknown) => isBerthError(err) && err.code === 'CANCELLED');
    const ac = new AbortController();
    const slowChunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        slowChunks.push(chunk);
        setImmediate(cb);
      },
    });
    await env.archiver.save(['big:1'], slow, { signal: ac.signal });
    const files = await untar(Buffer.concat(slowChunks));
    assert.ok(files.get(`blobs/sha256/${hex(big.diffIds[0]!)}`)!.data.equals(big.tars[0]!));
    const ac2 = new AbortController();
    const dribble = new Writable({
      highWaterMark: 1024,
      write(_chunk: Buffer, _enc, cb) {
        ac2.abort();
        setImmediate(cb);
      },
    });
    await assert.rejects(env.archiver.save(['big:1'], dribble, { signal: ac2.signal }), (err: unknown) => isBerthError(err) && err.code === 'CANCELLED');
  });

  it('writes archives skopeo reads as docker-archive and as oci-archive', async (t) => {
    if (spawnSync('skopeo', ['--version']).status !== 0) {
      t.skip('skopeo not installed');
      return;
    }
    const file = join(dirs[0]!, 'skopeo.tar');
    await writeFile(file, await saveToBuffer(env, ['busybox', 'localhost:5000/team/other:x']));
    const inspect = (ref: string): { Layers: string[] } => {
      const r = spawnSync('skopeo', ['inspect', ref], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { Layers: string[] };
    };
    assert.deepEqual(inspect(`docker-archive:${file}:busybox:musl`).Layers, img2.diffIds);
    assert.deepEqual(inspect(`docker-archive:${file}:localhost:5000/team/other:x`).Layers, img3.diffIds);
    assert.deepEqual(inspect(`oci-archive:${file}:1.0`).Layers, img1.diffIds);
    const cfg = spawnSync('skopeo', ['inspect', '--raw', '--config', `oci-archive:${file}:latest`]);
    assert.equal(cfg.status, 0, cfg.stderr.toString());
    assert.equal(sha256(cfg.stdout), img1.id);
  });

  it('fails with 404 before writing a byte when a name is unknown', async () => {
    for (const bad of ['nosuch:latest', 'nosuch', 'busybox:nosuchtag', 'sha256:' + 'f'.repeat(64)]) {
      const c = collector();
      await assert.rejects(env.archiver.save(['busybox:latest', bad], c.out), (err: unknown) => {
        assert.ok(isBerthError(err));
        assert.equal(err.kind, 'notFound');
        assert.equal(err.message, `No such image: ${bad}`);
        return true;
      });
      assert.equal(c.data().length, 0, `nothing written for ${bad}`);
      assert.throws(() => env.archiver.checkNames([bad]), /No such image/);
    }
    // A repository with tags but no "latest" is still a valid save name.
    env.archiver.checkNames(['localhost:5000/team/other']);
  });
});

async function untarNames(buf: Buffer): Promise<string[]> {
  const names: string[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      names.push(e.header.name);
      for await (const _ of e) {
        // drain
      }
    }
  })();
  ex.end(buf);
  await done;
  return names;
}

// ---------------------------------------------------------------- load

describe('ImageArchiver.load', () => {
  let src: Env;
  let img: Awaited<ReturnType<typeof seedImage>>;
  let saved: Buffer;

  before(async () => {
    src = await makeEnv();
    img = await seedImage(src, [BASE, TOP], ['busybox:latest', 'busybox:1.0']);
    saved = await saveToBuffer(src, ['busybox']);
  });

  it('round-trips a saved archive into an empty store', async () => {
    const dst = await makeEnv();
    const { loaded, messages } = await load(dst, saved);
    assert.deepEqual(loaded.sort(), ['busybox:1.0', 'busybox:latest']);
    assert.ok(dst.db.image(img.id), 'same image ID');
    assert.equal(dst.db.tag(full('busybox:latest')), img.id);
    assert.equal(dst.db.tag(full('busybox:1.0')), img.id);
    assert.ok(messages.some((m) => m.stream === 'Loaded image: busybox:latest\n'));
    const loading = messages.filter((m) => m.status === 'Loading layer');
    assert.ok(loading.length >= 2, 'progress per layer');
    for (const m of loading) {
      assert.match(m.id ?? '', /^[a-f0-9]{12}$/);
      assert.equal(typeof m.progressDetail?.total, 'number');
      assert.equal(typeof m.progress, 'string');
    }
    assert.ok(dst.events.some((e) => e.Action === 'load' && e.Actor.ID === img.id));

    const chains = chainIds(img.diffIds);
    const base = dst.layers.diffDir(chains[0]!);
    const top = dst.layers.diffDir(chains[1]!);
    assert.equal(await readFile(join(base, 'etc/hello'), 'utf8'), 'hello from the base layer\n');
    assert.equal(await readFile(join(top, 'etc/hello'), 'utf8'), 'hello from the top layer\n');
    assert.equal(await readFile(join(base, 'bin/sh'), 'utf8'), '#!/bin/true\n');
    const cfg = await dst.images.config(img.id);
    assert.deepEqual(cfg.rootfs.diff_ids, img.diffIds);

    // Blobs were recorded, so the loaded image can be saved again, identically.
    const rec = dst.db.image(img.id)!;
    assert.ok(rec.layerBlobs.every((b) => b !== null && b.mediaType === MEDIA_TYPE.ociLayer));
    const again = await untar(await saveToBuffer(dst, ['busybox:latest']));
    for (const d of img.diffIds) assert.equal(sha256(again.get(`blobs/sha256/${hex(d)}`)!.data), d);

    // Loading again: nothing to unpack, tags unchanged.
    const second = await load(dst, saved);
    assert.equal(second.messages.filter((m) => m.status === 'Loading layer').length, 0);
    assert.deepEqual(second.loaded.sort(), ['busybox:1.0', 'busybox:latest']);
    const snap = await snapshot(dst);
    assert.deepEqual(snap.tmp, []);
    assert.deepEqual(snap.ingest, []);
  });

  it('loads a gzip-compressed archive, and quietly', async () => {
    const dst = await makeEnv();
    const { loaded, messages } = await load(dst, gzipSync(saved), true);
    assert.deepEqual(loaded.sort(), ['busybox:1.0', 'busybox:latest']);
    assert.equal(messages.filter((m) => m.status !== undefined).length, 0, 'quiet: no layer progress');
    assert.ok(messages.some((m) => m.stream === 'Loaded image: busybox:1.0\n'));
    assert.equal(dst.db.tag(full('busybox:latest')), img.id);
  });

  it('loads an old repositories-only archive', async () => {
    const dst = await makeEnv();
    const id1 = 'a'.repeat(64);
    const id2 = 'b'.repeat(64);
    const t1 = await layerTar(BASE);
    const t2 = await layerTar(TOP);
    const v1 = (id: string, parent: string | undefined, cmd: string): string =>
      JSON.stringify({
        id,
        ...(parent ? { parent } : {}),
        created: '2015-06-01T00:00:00Z',
        container_config: { Cmd: ['/bin/sh', '-c', cmd] },
        config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
        architecture: 'amd64',
        os: 'linux',
        Size: 123,
      });
    const archive = await makeTar([
      { name: 'repositories', data: JSON.stringify({ legacy: { v1: id2 } }) },
      { name: `${id2}/`, type: 'directory' },
      { name: `${id2}/VERSION`, data: '1.0' },
      { name: `${id2}/json`, data: v1(id2, id1, 'echo top') },
      { name: `${id2}/layer.tar`, data: t2 },
      { name: `${id1}/`, type: 'directory' },
      { name: `${id1}/VERSION`, data: '1.0' },
      { name: `${id1}/json`, data: v1(id1, undefined, 'echo base') },
      { name: `${id1}/layer.tar`, data: t1 },
    ]);
    const { loaded } = await load(dst, archive);
    assert.deepEqual(loaded, ['legacy:v1']);
    const id = dst.db.tag(full('legacy:v1'))!;
    assert.ok(id);
    const cfg = await dst.images.config(id);
    assert.deepEqual(cfg.rootfs, { type: 'layers', diff_ids: [sha256(t1), sha256(t2)] });
    assert.deepEqual(
      cfg.history?.map((h) => h.created_by),
      ['/bin/sh -c echo base', '/bin/sh -c echo top'],
    );
    assert.deepEqual(cfg.config?.Cmd, ['sh']);
    assert.equal(cfg.id, undefined);
    assert.equal(cfg.parent, undefined);
    assert.equal(sha256(await dst.content.readBuffer(id)), id);
    const chains = chainIds([sha256(t1), sha256(t2)]);
    assert.equal(await readFile(join(dst.layers.diffDir(chains[1]!), 'etc/hello'), 'utf8'), 'hello from the top layer\n');
    assert.equal(await readFile(join(dst.layers.diffDir(chains[0]!), 'etc/gone'), 'utf8'), 'to be deleted\n');
  });

  it('loads an OCI image layout with gzip layers and a nested index', async () => {
    const dst = await makeEnv();
    const t1 = await layerTar(BASE);
    const t2 = await layerTar(MUSL);
    const g1 = gzipSync(t1);
    const g2 = gzipSync(t2);
    const config = configFor([sha256(t1), sha256(t2)]);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociManifest,
        config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha256(config), size: config.length },
        layers: [
          { mediaType: MEDIA_TYPE.ociLayerGzip, digest: sha256(g1), size: g1.length },
          { mediaType: MEDIA_TYPE.ociLayerGzip, digest: sha256(g2), size: g2.length },
        ],
      }),
    );
    const host = hostPlatform();
    const other = host.architecture === 's390x' ? 'riscv64' : 's390x';
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociIndex,
        manifests: [
          // Another platform whose blobs are not in the archive: must not be chosen.
          { mediaType: MEDIA_TYPE.ociManifest, digest: sha256('elsewhere'), size: 9, platform: { os: 'linux', architecture: other } },
          { mediaType: MEDIA_TYPE.ociManifest, digest: sha256(manifest), size: manifest.length, platform: host },
        ],
      }),
    );
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [
        {
          mediaType: MEDIA_TYPE.ociIndex,
          digest: sha256(nested),
          size: nested.length,
          annotations: { 'io.containerd.image.name': 'example.com/team/app:2', 'org.opencontainers.image.ref.name': '2' },
        },
        // A bare tag names no repository: the same image is listed once more, untagged.
        {
          mediaType: MEDIA_TYPE.ociManifest,
          digest: sha256(manifest),
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    };
    const blob = (b: Buffer): { name: string; data: Buffer } => ({ name: `blobs/sha256/${hex(sha256(b))}`, data: b });
    // Blobs first, index last: order must not matter.
    const archive = await makeTar([
      blob(g2),
      blob(g1),
      blob(config),
      blob(manifest),
      blob(nested),
      { name: 'index.json', data: JSON.stringify(index) },
      { name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    ]);
    const { loaded, messages } = await load(dst, archive);
    const id = sha256(config);
    assert.deepEqual(loaded, ['example.com/team/app:2']);
    assert.ok(messages.some((m) => m.stream === 'Loaded image: example.com/team/app:2\n'));
    assert.equal(dst.db.tag('example.com/team/app:2'), id);
    const rec = dst.db.image(id)!;
    assert.deepEqual(rec.layerBlobs, [
      { digest: sha256(g1), size: g1.length, mediaType: MEDIA_TYPE.ociLayerGzip },
      { digest: sha256(g2), size: g2.length, mediaType: MEDIA_TYPE.ociLayerGzip },
    ]);
    assert.ok(await dst.content.has(sha256(g1)));
    const chains = chainIds([sha256(t1), sha256(t2)]);
    assert.equal(await readFile(join(dst.layers.diffDir(chains[1]!), 'lib/musl.so'), 'utf8'), 'musl\n');

    // Only a bare ref.name: loaded untagged.
    const dst2 = await makeEnv();
    const untaggedIndex = { ...index, manifests: [index.manifests[1]] };
    const archive2 = await makeTar([
      { name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
      { name: 'index.json', data: JSON.stringify(untaggedIndex) },
      blob(config),
      blob(manifest),
      blob(g1),
      blob(g2),
    ]);
    const r2 = await load(dst2, archive2);
    assert.deepEqual(r2.loaded, [id]);
    assert.ok(r2.messages.some((m) => m.stream === `Loaded image ID: ${id}\n`));
    assert.ok(dst2.db.image(id));
    assert.equal(dst2.db.tags().length, 0);
  });

  it('loads a zstd-compressed archive and an OCI layout with zstd layers', async () => {
    const dst = await makeEnv();
    const r = await load(dst, zstdRaw(saved));
    assert.deepEqual(r.loaded.sort(), ['busybox:1.0', 'busybox:latest']);
    assert.equal(dst.db.tag(full('busybox:latest')), img.id);

    const t1 = await layerTar(MUSL);
    const z1 = zstdRaw(t1);
    const config = configFor([sha256(t1)]);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociManifest,
        config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MEDIA_TYPE.ociLayerZstd, digest: sha256(z1), size: z1.length }],
      }),
    );
    const index = {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MEDIA_TYPE.ociManifest,
          digest: sha256(manifest),
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'zst/app:1' },
        },
      ],
    };
    const archive = await makeTar([
      { name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
      { name: 'index.json', data: JSON.stringify(index) },
      ...[config, manifest, z1].map((b) => ({ name: `blobs/sha256/${hex(sha256(b))}`, data: b })),
    ]);
    const r2 = await load(dst, archive);
    assert.deepEqual(r2.loaded, ['zst/app:1']);
    const rec = dst.db.image(sha256(config))!;
    assert.deepEqual(rec.layerBlobs, [{ digest: sha256(z1), size: z1.length, mediaType: MEDIA_TYPE.ociLayerZstd }]);
    assert.equal(await readFile(join(dst.layers.diffDir(sha256(t1)), 'lib/musl.so'), 'utf8'), 'musl\n');
    // ...and it saves back to the uncompressed layer.
    const files = await untar(await saveToBuffer(dst, ['zst/app:1']));
    assert.ok(files.get(`blobs/sha256/${hex(sha256(t1))}`)!.data.equals(t1));
  });

  it('loads a Docker 1.10-24 style archive: <id>.json config, <v1id>/layer.tar, symlinked layers, Parent', async () => {
    const dst = await makeEnv();
    const t1 = await layerTar(BASE);
    const t2 = await layerTar(MUSL);
    const baseCfg = configFor([sha256(t1)]);
    const childCfg = configFor([sha256(t1), sha256(t2)], { config: { Cmd: ['child'] } });
    const [v1a, v1b, v1c] = ['a', 'b', 'c'].map((c) => c.repeat(64)) as [string, string, string];
    const archive = await makeTar([
      { name: `${v1a}/`, type: 'directory' },
      { name: `${v1a}/layer.tar`, data: t1 },
      { name: `${v1b}/`, type: 'directory' },
      { name: `${v1b}/layer.tar`, data: t2 },
      // The same base layer under another v1 ID, as a symlink (what dockerd writes).
      { name: `${v1c}/`, type: 'directory' },
      { name: `${v1c}/layer.tar`, type: 'symlink', linkname: `../${v1a}/layer.tar` },
      { name: `${hex(sha256(baseCfg))}.json`, data: baseCfg },
      { name: `${hex(sha256(childCfg))}.json`, data: childCfg },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          { Config: `${hex(sha256(baseCfg))}.json`, RepoTags: ['base:1'], Layers: [`${v1c}/layer.tar`] },
          {
            Config: `${hex(sha256(childCfg))}.json`,
            RepoTags: ['child:1', 'child:latest'],
            Layers: [`${v1a}/layer.tar`, `${v1b}/layer.tar`],
            Parent: sha256(baseCfg),
          },
        ]),
      },
      { name: 'repositories', data: JSON.stringify({ base: { '1': v1c }, child: { '1': v1b, latest: v1b } }) },
    ]);
    const { loaded, messages } = await load(dst, archive);
    assert.deepEqual(loaded, ['base:1', 'child:1', 'child:latest']);
    // Two distinct layers (the base one is shared by both images and listed under two paths).
    assert.equal(new Set(messages.filter((m) => m.status === 'Loading layer').map((m) => m.id)).size, 2);
    assert.equal(dst.db.tag(full('child:latest')), sha256(childCfg));
    assert.equal(dst.db.image(sha256(childCfg))!.parent, sha256(baseCfg));
    assert.equal(dst.db.image(sha256(baseCfg))!.parent, undefined);
  });

  it('synthesises the image ID dockerd computes for an old-layout archive', async () => {
    // Known answer from dockerd 20.10 `docker load` of this exact archive. The layers
    // are empty tars (1024 zero bytes), so nothing depends on how tar-stream encodes headers.
    const id1 = '1'.repeat(64);
    const id2 = '2'.repeat(64);
    const j1 = JSON.stringify({
      id: id1,
      created: '2020-01-02T03:04:05.120000000Z',
      container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ADD file:abc in / '] },
      config: { Env: ['PATH=/bin'] },
      docker_version: '20.10.24',
      architecture: 'amd64',
      os: 'linux',
      Size: 0,
    });
    const j2 = JSON.stringify({
      id: id2,
      parent: id1,
      created: '2020-01-02T03:04:06Z',
      author: 'Berth <berth@example.com>',
      comment: 'a & b',
      container_config: { Cmd: ['/bin/sh', '-c', 'echo "<hi>" > /x'] },
      config: { Cmd: ['sh'], Env: ['PATH=/bin'], Labels: { 'x<y': 'a&b' } },
      docker_version: '20.10.24',
      architecture: 'amd64',
      os: 'linux',
      Size: 0,
    });
    const archive = await makeTar([
      { name: 'repositories', data: JSON.stringify({ kat: { v1: id2 } }) },
      { name: `${id1}/json`, data: j1 },
      { name: `${id1}/layer.tar`, data: Buffer.alloc(1024) },
      { name: `${id2}/json`, data: j2 },
      { name: `${id2}/layer.tar`, data: Buffer.alloc(1024) },
    ]);
    const dst = await makeEnv();
    await load(dst, archive);
    assert.equal(dst.db.tag(full('kat:v1')), 'sha256:71acff48901ae932749668909c152db1feacd09e569b4e057346bb6ce436a201');
  });

  it('a cancelled load leaves nothing behind', async () => {
    const big = await makeEnv();
    await seedImage(big, [[{ name: 'blob', content: randomBytes(3 << 20).toString('base64') }], MUSL], ['big:1']);
    const archive = await saveToBuffer(big, ['big:1']);
    const dst = await makeEnv();
    const baseline = await snapshot(dst);
    const ac = new AbortController();
    await assert.rejects(
      dst.archiver.load(Readable.from([archive]), (m) => m.status === 'Loading layer' && ac.abort(), { signal: ac.signal }),
      (err: unknown) => isBerthError(err) && err.code === 'CANCELLED',
    );
    assert.deepEqual(await snapshot(dst), baseline);
    // Cancelled while still reading the archive.
    const ac2 = new AbortController();
    const slow = Readable.from(
      (async function* () {
        for (let off = 0; off < archive.length; off += 65536) {
          if (off > 65536) ac2.abort();
          yield archive.subarray(off, off + 65536);
          await new Promise((r) => setImmediate(r));
        }
      })(),
    );
    await assert.rejects(dst.archiver.load(slow, () => undefined, { signal: ac2.signal }), (err: unknown) => isBerthError(err) && err.code === 'CANCELLED');
    assert.deepEqual(await snapshot(dst), baseline);
  });

  it('moves a tag that pointed at another image and says so', async () => {
    const dst = await makeEnv();
    const old = await seedImage(dst, [MUSL], ['busybox:latest']);
    const { messages } = await load(dst, saved);
    assert.ok(
      messages.some(
        (m) =>
          m.stream ===
          `The image busybox:latest already exists, renaming the old one with ID ${old.id} to empty string\n`,
      ),
    );
    assert.equal(dst.db.tag(full('busybox:latest')), img.id);
    assert.ok(dst.db.image(old.id), 'the old image stays, untagged');
  });

  describe('bad archives leave nothing behind', () => {
    let dst: Env;
    let baseline: Snapshot;

    const dockerArchive = async (layers: Buffer[], diffIds: string[], extra: Array<{ name: string; data: Buffer | string }> = []) => {
      const config = configFor(diffIds);
      return makeTar([
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'config.json', RepoTags: ['evil:latest'], Layers: layers.map((_, i) => `l${i}/layer.tar`) }]) },
        { name: 'config.json', data: config },
        ...layers.map((l, i) => ({ name: `l${i}/layer.tar`, data: l })),
        ...extra,
      ]);
    };

    const assertUnchanged = async (): Promise<void> => {
      assert.deepEqual(await snapshot(dst), baseline);
    };

    before(async () => {
      dst = await makeEnv();
      await seedImage(dst, [BASE], ['existing:1']);
      baseline = await snapshot(dst);
    });

    it('DiffID mismatch', async () => {
      const good = await layerTar(MUSL);
      const other = await layerTar(TOP);
      // Second layer does not hash to what the config says; the first is fine (and gets unpacked).
      const archive = await dockerArchive([good, other], [sha256(good), sha256(Buffer.from('something else'))]);
      await expectInvalid(load(dst, archive), /diff ID/, 'DIFFID_MISMATCH');
      await assertUnchanged();
      // gzip'd layer inside the archive: same.
      const archive2 = await dockerArchive([gzipSync(good), gzipSync(other)], [sha256(good), sha256(good)]);
      await expectInvalid(load(dst, archive2), /diff ID/, 'DIFFID_MISMATCH');
      await assertUnchanged();
    });

    it('hostile layer', async () => {
      const evil = await makeTar([{ name: '../../escape', data: 'x' }]);
      await expectInvalid(load(dst, await dockerArchive([evil], [sha256(evil)])), /layer/);
      const viaLink = await makeTar([
        { name: 'lnk', type: 'symlink', linkname: '/etc' },
        { name: 'lnk/passwd', data: 'root::0:0::/:/bin/sh\n' },
      ]);
      await expectInvalid(load(dst, await dockerArchive([viaLink], [sha256(viaLink)])), /symlink/);
      await assertUnchanged();
    });

    it('not a tar, empty, truncated', async () => {
      await expectInvalid(load(dst, Buffer.from('this is not a tar archive '.repeat(50))), /invalid image archive/);
      await expectInvalid(load(dst, Buffer.alloc(0)), /no manifest\.json/);
      await expectInvalid(load(dst, gzipSync(Buffer.from('garbage'.repeat(100)))), /invalid image archive/);
      await expectInvalid(load(dst, saved.subarray(0, 3000)), /invalid image archive/);
      await expectInvalid(load(dst, gzipSync(saved).subarray(0, 200)), /invalid image archive/);
      await assertUnchanged();
    });

    it('missing config, missing layer, bad JSON, bad tags, layer count mismatch', async () => {
      const good = await layerTar(MUSL);
      const m = (entry: Record<string, unknown>): { name: string; data: string } => ({ name: 'manifest.json', data: JSON.stringify([entry]) });
      await expectInvalid(load(dst, await makeTar([m({ Config: 'nope.json', RepoTags: [], Layers: [] })])), /nope\.json is missing/);
      await expectInvalid(
        load(dst, await makeTar([m({ Config: 'c.json', RepoTags: [], Layers: ['x/layer.tar'] }), { name: 'c.json', data: configFor([sha256(good)]) }])),
        /x\/layer\.tar .*missing/,
      );
      await expectInvalid(load(dst, await makeTar([{ name: 'manifest.json', data: '{not json' }])), /not valid JSON/);
      await expectInvalid(
        load(dst, await makeTar([m({ Config: 'c.json', RepoTags: ['Bad:Tag!'], Layers: ['l'] }), { name: 'c.json', data: configFor([sha256(good)]) }, { name: 'l', data: good }])),
        /invalid tag/,
      );
      await expectInvalid(
        load(dst, await makeTar([m({ Config: 'c.json', RepoTags: [], Layers: [] }), { name: 'c.json', data: configFor([sha256(good)]) }])),
        /1 diff IDs but manifest\.json lists 0 layers/,
      );
      await expectInvalid(load(dst, await makeTar([{ name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [] }) }])), /no image manifests/);
      await assertUnchanged();
    });

    it('the store still works afterwards', async () => {
      const { loaded } = await load(dst, saved);
      assert.deepEqual(loaded.sort(), ['busybox:1.0', 'busybox:latest']);
      assert.equal(dst.db.tag(full('existing:1')) !== undefined, true);
      const snap = await snapshot(dst);
      assert.deepEqual(snap.tmp, []);
      assert.deepEqual(snap.ingest, []);
    });
  });
});
