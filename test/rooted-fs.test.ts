/**
 * The rooted filesystem (hostfs/) against the real kernel: symlinks and ".." never leave the
 * root, trees deeper than PATH_MAX are resolved, walked, extracted and removed with a bounded
 * number of open fds, a directory moved under a walk fails it, and mounts are seen through (and
 * read-only ones refused) without mounting anything.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tarBytes, TarReader, type TarHeader } from '../common/tar/index.js';
import { extractTar, isExtractError } from '../hostfs/extract.js';
import { at } from '../hostfs/fd.js';
import { removeAt, removeTree, RootedFs } from '../hostfs/rooted.js';
import { walk, walkTree } from '../hostfs/walk.js';

const LEVEL = 'nested-directory';
const DEPTH = 1500; // 1500 × 17 bytes: far beyond PATH_MAX (4096)

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-rooted-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await removeTree(d);
});

/** A chain of `depth` directories below `root`, made through fds (no long path ever used); a file at the bottom. */
function makeDeep(root: string, depth: number): void {
  let fd = fs.openSync(root, 'r');
  for (let i = 0; i < depth; i++) {
    fs.mkdirSync(at(fd, LEVEL));
    const next = fs.openSync(at(fd, LEVEL), 'r');
    fs.closeSync(fd);
    fd = next;
  }
  fs.writeFileSync(at(fd, 'leaf'), 'bottom');
  fs.closeSync(fd);
}

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;
const deepPath = (depth: number): string => Array.from({ length: depth }, () => LEVEL).join('/');

describe('resolving inside the root', () => {
  test('absolute and relative symlinks and ".." stay inside the root', async () => {
    const root = await tmp();
    await fsp.mkdir(path.join(root, 'etc'));
    await fsp.writeFile(path.join(root, 'etc/passwd'), 'inside');
    await fsp.symlink('/', path.join(root, 'evil'));
    await fsp.symlink('../../../../etc', path.join(root, 'up'));
    await fsp.symlink('/etc', path.join(root, 'abs'));
    await fsp.symlink('loop2', path.join(root, 'loop1'));
    await fsp.symlink('loop1', path.join(root, 'loop2'));
    await RootedFs.with(root, {}, async (rfs) => {
      for (const p of ['/evil/etc', '/up', '/abs', '/../../../etc', '/evil/evil/../abs/.']) {
        const d = await rfs.openDir(p);
        try {
          assert.equal(d.path, '/etc', p);
          assert.equal(await fsp.readFile(at(d.fd, 'passwd'), 'utf8'), 'inside', p);
        } finally {
          await rfs.closeDir(d);
        }
      }
      await assert.rejects(rfs.openDir('/loop1'), { code: 'ELOOP' });
      await assert.rejects(rfs.openDir('/etc/passwd'), { code: 'ENOTDIR' });
      await assert.rejects(rfs.openDir('/nope'), { code: 'ENOENT' });
      // locate leaves the last name unresolved; resolve evaluates it in scope.
      const { dir, name } = await rfs.locate('/abs');
      assert.deepEqual([dir.path, name], ['/', 'abs']);
      await rfs.closeDir(dir);
      assert.equal(await rfs.resolve('/evil/abs/passwd'), '/etc/passwd');
      assert.equal(await rfs.resolve('/abs/missing/x'), '/etc/missing/x');
    });
  });

  test('creating missing directories never follows a planted symlink out', async () => {
    const root = await tmp();
    const outside = await tmp();
    await fsp.symlink(outside, path.join(root, 'planted'));
    await RootedFs.with(root, {}, async (rfs) => {
      const d = await rfs.openDir('/planted/a/b', { mode: 0o755, uid: 0, gid: 0 });
      assert.equal(d.path, `${outside}/a/b`);
      await rfs.closeDir(d);
    });
    assert.deepEqual(await fsp.readdir(outside), []);
    assert.ok(fs.statSync(path.join(root, outside, 'a/b')).isDirectory());
  });
});

describe('trees deeper than PATH_MAX', () => {
  test('resolved, walked with few fds open, and removed', async () => {
    const root = await tmp();
    makeDeep(root, DEPTH);
    const before = openFds();
    await RootedFs.with(root, {}, async (rfs) => {
      const bottom = await rfs.openDir(`/${deepPath(DEPTH)}`);
      assert.equal(await fsp.readFile(at(bottom.fd, 'leaf'), 'utf8'), 'bottom');
      await rfs.closeDir(bottom);
      let entries = 0;
      let maxFds = 0;
      let leaf = '';
      await walkTree(rfs, rfs.root, async (e) => {
        entries++;
        if (entries % 100 === 0) maxFds = Math.max(maxFds, openFds());
        if (e.name === 'leaf') leaf = e.rel;
      });
      assert.equal(entries, DEPTH + 1);
      assert.equal(leaf, `${deepPath(DEPTH)}/leaf`);
      assert.ok(maxFds - before < 300, `at most a few hundred fds open during the walk (${maxFds - before})`);
    });
    assert.equal(openFds(), before, 'no fd leaked');
    const parent = fs.openSync(root, 'r');
    try {
      await removeAt(parent, LEVEL);
    } finally {
      fs.closeSync(parent);
    }
    assert.deepEqual(await fsp.readdir(root), []);
    makeDeep(root, DEPTH);
    await removeTree(root);
    assert.equal(fs.existsSync(root), false);
  });

  test('a directory moved while it is walked fails the walk (ESTALE) instead of leading elsewhere', async () => {
    const root = await tmp();
    makeDeep(root, 400);
    await fsp.mkdir(path.join(root, 'elsewhere'));
    await RootedFs.with(root, {}, async (rfs) => {
      let moved = false;
      await assert.rejects(
        walkTree(rfs, rfs.root, async (e) => {
          if (!moved && e.name === 'leaf') {
            // Deep down: move a directory near the top away, under everything the walk released.
            await fsp.rename(path.join(root, LEVEL, LEVEL), path.join(root, 'elsewhere', LEVEL));
            moved = true;
          }
        }),
        { code: 'ESTALE' },
      );
      assert.ok(moved);
    });
  });

  test('a deep archive extracts, and its hard links and symlinks too', async () => {
    const root = await tmp();
    const name = deepPath(DEPTH);
    const h = (x: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>): TarHeader => ({ mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000, ...x });
    const archive = tarBytes([
      { header: h({ name: `${name}/file`, type: 'file', mode: 0o644 }), data: 'deep' },
      { header: h({ name: `${name}/hard`, type: 'link', linkname: `${name}/file` }) },
      { header: h({ name: `${name}/sym`, type: 'symlink', linkname: 'file' }) },
    ]);
    await RootedFs.with(root, {}, async (rfs) => {
      await extractTar(rfs, rfs.root, new TarReader([archive]), { owner: 'archive', noOverwriteDirNonDir: false, specialFiles: 'create' });
      const bottom = await rfs.openDir(name);
      try {
        assert.equal(await fsp.readFile(at(bottom.fd, 'hard'), 'utf8'), 'deep');
        assert.equal(await fsp.readlink(at(bottom.fd, 'sym')), 'file');
        assert.equal((await fsp.stat(at(bottom.fd, 'file'))).nlink, 2);
      } finally {
        await rfs.closeDir(bottom);
      }
    });
  });
});

describe('extracting a hostile archive', () => {
  const h = (x: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>): TarHeader => ({ mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000, ...x });
  const extract = (root: string, archive: Uint8Array, o: { noOverwriteDirNonDir?: boolean } = {}): Promise<number> =>
    RootedFs.with(root, {}, (rfs) =>
      extractTar(rfs, rfs.root, new TarReader([archive]), { owner: 'archive', noOverwriteDirNonDir: o.noOverwriteDirNonDir ?? false, specialFiles: 'create' }),
    );

  test('".." out of the root and hard links out of it or to nothing are refused', async () => {
    const root = await tmp();
    await assert.rejects(extract(root, tarBytes([{ header: h({ name: '../x', type: 'file' }), data: 'x' }])), (e: unknown) => isExtractError(e) && /outside of/.test(e.message));
    await assert.rejects(extract(root, tarBytes([{ header: h({ name: 'l', type: 'link', linkname: '../../etc/passwd' }) }])), /invalid hardlink/);
  });

  test('a hard link to a missing target is refused before anything at its name is removed', async () => {
    const root = await tmp();
    await fsp.writeFile(path.join(root, 'keep'), 'precious');
    const archive = tarBytes([
      { header: h({ name: 'first', type: 'file' }), data: '1' },
      { header: h({ name: 'keep', type: 'link', linkname: 'missing' }) },
      { header: h({ name: 'never', type: 'file' }), data: '2' },
    ]);
    await assert.rejects(extract(root, archive), (e: unknown) => isExtractError(e) && /invalid hardlink "keep" -> "missing": \/missing: no such file or directory/.test(e.message));
    assert.equal(await fsp.readFile(path.join(root, 'keep'), 'utf8'), 'precious');
    assert.deepEqual((await fsp.readdir(root)).sort(), ['first', 'keep'], 'entries before the bad one stay, as in Docker');
  });

  test('a symlink planted by the archive is followed inside the root only', async () => {
    const root = await tmp();
    const outside = await tmp();
    await extract(root, tarBytes([{ header: h({ name: 'ln', type: 'symlink', linkname: outside }) }, { header: h({ name: 'ln/owned', type: 'file' }), data: 'x' }]));
    assert.deepEqual(await fsp.readdir(outside), []);
    assert.equal(await fsp.readFile(path.join(root, outside, 'owned'), 'utf8'), 'x');
  });

  test('noOverwriteDirNonDir refuses to replace a directory by a file and the reverse', async () => {
    const root = await tmp();
    await fsp.mkdir(path.join(root, 'd'));
    await fsp.writeFile(path.join(root, 'f'), '');
    await assert.rejects(extract(root, tarBytes([{ header: h({ name: 'd', type: 'file' }), data: '' }]), { noOverwriteDirNonDir: true }), /cannot overwrite directory/);
    await assert.rejects(extract(root, tarBytes([{ header: h({ name: 'f', type: 'dir' }) }]), { noOverwriteDirNonDir: true }), /cannot overwrite non-directory/);
    await extract(root, tarBytes([{ header: h({ name: 'd', type: 'file' }), data: 'now a file' }]));
    assert.equal(await fsp.readFile(path.join(root, 'd'), 'utf8'), 'now a file');
  });
});

describe('mounts seen through', () => {
  test('directory and file mounts, behind a symlink, read-only refusals, busy mount points', async () => {
    const root = await tmp();
    const vol = await tmp();
    const ro = await tmp();
    const hosts = path.join(await tmp(), 'hosts');
    await fsp.writeFile(path.join(vol, 'data.txt'), 'in the volume');
    await fsp.writeFile(path.join(ro, 'r'), 'read only');
    await fsp.writeFile(hosts, '127.0.0.1 here\n');
    await fsp.mkdir(path.join(root, 'etc'));
    await fsp.writeFile(path.join(root, 'etc/hosts'), 'the image file');
    await fsp.mkdir(path.join(root, 'run'));
    await fsp.mkdir(path.join(root, 'var'));
    await fsp.symlink('/run', path.join(root, 'var/run'));
    const mounts = [
      { destination: '/vol1', source: vol, readOnly: false },
      { destination: '/var/run/ro', source: ro, readOnly: true },
      { destination: '/etc/hosts', source: hosts, readOnly: false },
    ];
    await RootedFs.with(root, { mounts, readOnly: true }, async (rfs) => {
      // /vol1 does not exist in the root: it appears anyway, as a mount point does.
      assert.ok((await rfs.readdir(rfs.root)).includes('vol1'));
      const v = await rfs.openDir('/vol1');
      assert.equal(await fsp.readFile(at(v.fd, 'data.txt'), 'utf8'), 'in the volume');
      assert.equal(rfs.readOnlyReason(v), undefined);
      await rfs.closeDir(v);
      // The destination behind /var/run -> /run is where the mount is.
      const r = await rfs.openDir('/var/run/ro');
      assert.equal(r.path, '/run/ro');
      assert.equal(rfs.readOnlyReason(r), 'mounted volume is marked read-only');
      await assert.rejects(rfs.openDir('/run/ro/new', { mode: 0o755, uid: 0, gid: 0 }), { code: 'EROFS' });
      await rfs.closeDir(r);
      assert.equal(rfs.readOnlyReason(rfs.root), 'container rootfs is marked read-only');
      const { dir, name } = await rfs.locate('/etc/hosts');
      assert.equal(await fsp.readFile(rfs.filePath(dir, name).path, 'utf8'), '127.0.0.1 here\n');
      await rfs.closeDir(dir);
      await assert.rejects(rfs.remove(rfs.root, 'vol1'), { code: 'EBUSY' });
      await assert.rejects(rfs.remove(rfs.root, 'run'), { code: 'EBUSY' });
      const seen: string[] = [];
      for await (const e of walk(rfs, rfs.root)) seen.push(e.path);
      for (const p of ['/vol1/data.txt', '/run/ro/r', '/etc/hosts']) assert.ok(seen.includes(p), p);
    });
  });
});
