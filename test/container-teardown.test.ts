// removeContainerDir: in-process removal for the common small tree, rm -rf --one-file-system for
// a tree with a mount point inside (never crossed) or deeper than PATH_MAX.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeContainerDir } from '../engine/containers/teardown.js';

async function scratch(): Promise<string> {
  return fsp.mkdtemp(path.join(tmpdir(), 'berth-teardown-'));
}

test('a container directory of small files is removed', async () => {
  const dir = await scratch();
  await fsp.mkdir(path.join(dir, 'upper', 'etc'), { recursive: true });
  await fsp.writeFile(path.join(dir, 'config.json'), '{}');
  await fsp.writeFile(path.join(dir, 'upper', 'etc', 'hostname'), 'x\n');
  await fsp.symlink('/nonexistent', path.join(dir, 'upper', 'dangling'));
  await removeContainerDir(dir);
  assert.equal(existsSync(dir), false);
  await removeContainerDir(dir); // already gone: fine
});

test('a tree deeper than PATH_MAX is removed', async () => {
  const dir = await scratch();
  // Two chains of 150 levels of 20 characters (each ~3,150 bytes of path, under PATH_MAX), one
  // moved to the bottom of the other: ~6,300 bytes deep, past PATH_MAX (4096).
  const chain = Array.from({ length: 150 }, () => 'd'.repeat(20)).join('/');
  await fsp.mkdir(path.join(dir, 'a', chain), { recursive: true });
  await fsp.mkdir(path.join(dir, 'b', chain), { recursive: true });
  await fsp.writeFile(path.join(dir, 'b', chain, 'deep'), 'deep\n');
  await fsp.rename(path.join(dir, 'b'), path.join(dir, 'a', chain, 'b'));
  await removeContainerDir(dir);
  assert.equal(existsSync(dir), false);
});

test('a mount point inside is never crossed', { skip: process.getuid?.() !== 0 ? 'needs root to mount' : false }, async () => {
  const dir = await scratch();
  const mnt = path.join(dir, 'merged');
  await fsp.mkdir(mnt);
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]);
  try {
    await fsp.writeFile(path.join(mnt, 'precious'), 'keep\n');
    await fsp.writeFile(path.join(dir, 'config.json'), '{}');
    await assert.rejects(removeContainerDir(dir));
    assert.equal(await fsp.readFile(path.join(mnt, 'precious'), 'utf8'), 'keep\n');
  } finally {
    execFileSync('umount', [mnt]);
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
