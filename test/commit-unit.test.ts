/**
 * ImageCommitter against real stores on disk (root: device nodes, trusted.* xattrs): the layer
 * tar it writes (whiteouts, opaque dirs, hard links, xattrs), the DiffID and blob it records,
 * the config and history, metadata-only steps, imports, and all-or-nothing on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { chainIds, sha256, type Digest } from '../engine/common/digest.js';
import { silentLogger } from '../engine/common/log.js';
import { TarReader, type TarEntry } from '../common/tar/index.js';
import { EventBus } from '../engine/events/bus.js';
import { ImageCommitter, LAYER_MEDIA_TYPE } from '../engine/images/commit.js';
import { ImageDb } from '../engine/images/imagedb.js';
import { parseGetfattr } from '../engine/images/layer-tar.js';
import { ImageService } from '../engine/images/service.js';
import { LocalContentStore } from '../engine/store/content.js';
import { OverlayLayerStore } from '../engine/store/layers.js';

const IS_ROOT = process.getuid?.() === 0;
const rootOnly = { skip: IS_ROOT ? false : 'needs root (device nodes, trusted.* xattrs)' } as const;

interface World {
  root: string;
  images: ImageService;
  content: LocalContentStore;
  layers: OverlayLayerStore;
  committer: ImageCommitter;
}

async function world(): Promise<World> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-commit-'));
  const content = new LocalContentStore(path.join(root, 'content'));
  const layers = new OverlayLayerStore(path.join(root, 'layers'));
  await content.init();
  await layers.init();
  const db = new ImageDb(path.join(root, 'images'));
  await db.load();
  const images = new ImageService(db, content, layers, new EventBus(), silentLogger);
  return { root, images, content, layers, committer: new ImageCommitter(images, layers, content, silentLogger) };
}

type BufferEntry = Omit<TarEntry, 'xattrs'> & { body: Buffer; xattrs: Map<string, Buffer> | undefined };

async function tarEntries(tar: Buffer): Promise<BufferEntry[]> {
  const reader = new TarReader(Readable.from([tar]));
  const out: BufferEntry[] = [];
  for (let e = await reader.next(); e !== null; e = await reader.next()) {
    const body = Buffer.from(await reader.readAll());
    const xattrs = e.xattrs && new Map([...e.xattrs].map(([k, v]) => [k, Buffer.from(v)] as [string, Buffer]));
    out.push({ ...e, body, xattrs });
  }
  return out;
}

const sh = (cmd: string): void => void execFileSync('sh', ['-c', cmd]);

describe('parseGetfattr', () => {
  test('maps escaped paths to relative ones and decodes base64 values', () => {
    const text = '# file: /x/up/a\\040b\nuser.k=0sdg==\ntrusted.overlay.opaque=0seQ==\n\n# file: /x/up\nuser.r=0x6869\n\n';
    const m = parseGetfattr(text, '/x/up/');
    assert.equal(m.get('a b')?.get('user.k')?.toString(), 'v');
    assert.equal(m.get('a b')?.get('trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(m.get('')?.get('user.r')?.toString(), 'hi');
  });
});

describe('ImageCommitter', rootOnly, () => {
  let w: World;
  let base: Digest;
  before(async () => {
    w = await world();
    // A base layer from a plain directory (FROM scratch).
    const dir = path.join(w.root, 'base');
    sh(`mkdir -p ${dir}/etc ${dir}/opq/sub ${dir}/bin && echo old > ${dir}/etc/motd && echo gone > ${dir}/etc/gone &&
        echo hidden > ${dir}/opq/sub/h && echo x > ${dir}/bin/tool && ln ${dir}/bin/tool ${dir}/bin/tool2 &&
        ln -s tool ${dir}/bin/link && mkfifo ${dir}/bin/fifo && chown 12:34 ${dir}/etc/motd && chmod 4755 ${dir}/bin/tool`);
    base = (
      await w.committer.commit({
        layerDir: dir,
        config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
        history: { created_by: 'base layer' },
        tags: ['base:1'],
      })
    ).id;
  });
  after(async () => {
    if (w) await fsp.rm(w.root, { recursive: true, force: true });
  });

  test('a plain directory becomes a gzip layer whose DiffID, blob and unpacked copy all agree', async () => {
    const rec = w.images.db.image(base);
    assert.ok(rec);
    assert.equal(rec.diffIds.length, 1);
    const blob = rec.layerBlobs[0];
    assert.ok(blob);
    assert.equal(blob.mediaType, LAYER_MEDIA_TYPE);
    const gz = await w.content.readBuffer(blob.digest);
    assert.equal(sha256(gz), blob.digest);
    assert.equal(gz.length, blob.size);
    const tar = gunzipSync(gz);
    assert.equal(sha256(tar), rec.diffIds[0]);
    const entries = await tarEntries(tar);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual(
      entries.map((e) => e.name),
      ['bin/', 'bin/fifo', 'bin/link', 'bin/tool', 'bin/tool2', 'etc/', 'etc/gone', 'etc/motd', 'opq/', 'opq/sub/', 'opq/sub/h'],
    );
    assert.equal(byName.get('bin/tool2')?.type, 'link');
    assert.equal(byName.get('bin/tool2')?.linkname, 'bin/tool');
    assert.equal(byName.get('bin/tool')?.mode, 0o4755);
    assert.equal(byName.get('bin/link')?.linkname, 'tool');
    assert.equal(byName.get('bin/fifo')?.type, 'fifo');
    assert.equal(byName.get('etc/motd')?.uid, 12);
    assert.equal(byName.get('etc/motd')?.gid, 34);
    assert.equal(byName.get('etc/motd')?.body.toString(), 'old\n');
    const layer = await w.layers.get(chainIds(rec.diffIds)[0] as Digest);
    assert.equal(layer?.size, tar.length);
    const st = await fsp.lstat(path.join(w.layers.diffDir(rec.diffIds[0] as Digest), 'bin/tool2'));
    assert.equal(st.nlink, 2);
    const cfg = await w.images.config(base);
    assert.deepEqual(cfg.config, { Cmd: ['sh'], Env: ['PATH=/bin'] });
    assert.equal(cfg.history?.length, 1);
    assert.equal(cfg.history?.[0]?.created_by, 'base layer');
    assert.equal(cfg.os, 'linux');
    assert.equal(w.images.db.tag('docker.io/library/base:1'), base);
  });

  test('an overlay upper dir: whiteouts, opaque dirs and xattrs become Docker layer entries', async () => {
    const up = path.join(w.root, 'upper1');
    sh(`mkdir -p ${up}/etc ${up}/opq ${up}/proc ${up}/new && echo new > ${up}/etc/motd && mknod ${up}/etc/gone c 0 0 &&
        setfattr -n trusted.overlay.opaque -v y ${up}/opq && echo fresh > ${up}/opq/f && touch ${up}/etc/hosts &&
        setfattr -n user.note -v hello ${up}/new && setfattr -n trusted.overlay.origin -v junk ${up}/new &&
        printf 'x' > ${up}/new/cap && setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= ${up}/new/cap`);
    const { id } = await w.committer.commit({
      parent: base,
      layerDir: up,
      config: { Cmd: ['cat', '/etc/motd'] },
      history: { created_by: 'step two', comment: 'msg' },
      author: 'me',
      comment: 'msg',
      tags: ['child:2', 'other:3'],
    });
    const rec = w.images.db.image(id);
    assert.ok(rec);
    assert.equal(rec.parent, base);
    assert.equal(rec.diffIds.length, 2);
    const tar = gunzipSync(await w.content.readBuffer(rec.layerBlobs[1]?.digest as Digest));
    const entries = await tarEntries(tar);
    assert.deepEqual(
      entries.map((e) => e.name),
      ['etc/', 'etc/.wh.gone', 'etc/motd', 'new/', 'new/cap', 'opq/', 'opq/.wh..wh..opq', 'opq/f'],
      'runtime paths (/proc, /etc/hosts) absent from the parent are left out',
    );
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get('etc/.wh.gone')?.type, 'file');
    assert.equal(byName.get('etc/.wh.gone')?.mode, 0o600);
    assert.equal(byName.get('opq/')?.xattrs, undefined, 'the opaque xattr is not carried as an xattr');
    assert.equal(byName.get('new/')?.xattrs?.get('user.note')?.toString(), 'hello');
    assert.equal(byName.get('new/')?.xattrs?.has('trusted.overlay.origin'), false);
    assert.equal(byName.get('new/cap')?.xattrs?.get('security.capability')?.toString('base64'), 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=');
    // The unpacked layer is in overlay form again: a 0/0 device and an opaque directory.
    const diff = w.layers.diffDir(chainIds(rec.diffIds)[1] as Digest);
    const wh = await fsp.lstat(path.join(diff, 'etc/gone'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    assert.equal(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', path.join(diff, 'opq')]).toString(), 'y');

    const cfg = await w.images.config(id);
    assert.equal(cfg.author, 'me');
    assert.equal(cfg.comment, 'msg');
    assert.deepEqual(
      cfg.history?.map((h) => [h.created_by, h.comment, h.empty_layer]),
      [
        ['base layer', undefined, undefined],
        ['step two', 'msg', undefined],
      ],
    );
    assert.deepEqual(cfg.rootfs.diff_ids, rec.diffIds);
    assert.equal(w.images.db.tag('docker.io/library/child:2'), id);
    assert.equal(w.images.db.tag('docker.io/library/other:3'), id);
  });

  test('nothing changed (empty dir or no dir): a metadata-only step with empty_layer', async () => {
    const empty = path.join(w.root, 'empty');
    sh(`mkdir -p ${empty}/proc ${empty}/etc && touch ${empty}/etc/resolv.conf`);
    const blobsBefore = (await w.content.list()).length;
    const layersBefore = (await w.layers.list()).length;
    for (const layerDir of [empty, undefined]) {
      const { id } = await w.committer.commit({
        parent: base,
        ...(layerDir ? { layerDir } : {}),
        config: { Cmd: ['true'], Env: [String(layerDir)] },
        history: { created_by: 'ENV' },
      });
      const rec = w.images.db.image(id);
      assert.deepEqual(rec?.diffIds, w.images.db.image(base)?.diffIds);
      const cfg = await w.images.config(id);
      assert.equal(cfg.history?.at(-1)?.empty_layer, true);
      assert.equal(cfg.history?.length, 2);
    }
    assert.equal((await w.content.list()).length, blobsBefore + 2, 'only the two configs were added');
    assert.equal((await w.layers.list()).length, layersBefore);
  });

  test('import: a compressed tar stream becomes a one-layer image with that exact DiffID', async () => {
    const src = path.join(w.root, 'imp');
    sh(`mkdir -p ${src}/bin && echo hi > ${src}/bin/hello`);
    const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.']);
    const { id } = await w.committer.commit({
      layerTar: Readable.from([gzipSync(tar)]),
      config: { Cmd: ['/bin/hello'] },
      history: { comment: 'imported' },
      tags: ['imp:latest'],
    });
    const rec = w.images.db.image(id);
    assert.deepEqual(rec?.diffIds, [createHash('sha256').update(tar).digest('hex')].map((h) => `sha256:${h}`));
    assert.equal(rec?.parent, undefined);
    const diff = w.layers.diffDir(rec?.diffIds[0] as Digest);
    assert.equal(await fsp.readFile(path.join(diff, 'bin/hello'), 'utf8'), 'hi\n');
  });

  test('failures leave nothing behind: a missing dir, a hostile tar, a missing parent', async () => {
    const snapshot = async (): Promise<string> =>
      JSON.stringify([
        (await w.content.list()).map((b) => b.digest).sort(),
        (await w.layers.list()).map((l) => l.chainId).sort(),
        w.images.list().map((i) => i.id).sort(),
        w.images.db.tags(),
        await fsp.readdir(path.join(w.root, 'layers', 'tmp')),
        await fsp.readdir(path.join(w.root, 'content', 'ingest')),
      ]);
    const before = await snapshot();
    await assert.rejects(
      w.committer.commit({ parent: base, layerDir: path.join(w.root, 'nope'), config: {}, history: {}, tags: ['x:1'] }),
    );
    const hostile = execFileSync('sh', ['-c', `cd ${w.root} && tar -cf - -P /etc/hostname --transform 's,^/etc,../../x,'`]);
    await assert.rejects(w.committer.commit({ layerTar: Readable.from([hostile]), config: {}, history: {}, tags: ['x:1'] }), /\.\./);
    await assert.rejects(
      w.committer.commit({ parent: `sha256:${'0'.repeat(64)}`, config: {}, history: {} }),
      /No such image/,
    );
    assert.equal(await snapshot(), before);
  });
});
