import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RootedFs } from '../../hostfs/rooted.js';
import { walk } from '../../hostfs/walk.js';
import { isErrno } from './errors.js';

/**
 * Crash-safe replacement of a small file: write a sibling temp file, fsync it,
 * rename over the target, fsync the directory. A reader (or the next daemon
 * start after kill -9) sees either the old or the new content, never a mix.
 */
/**
 * Replaces `file` by rename, so readers see the old or the new content, never a mix. With
 * `durable` (the default) the data and the rename are fsynced: use `durable: false` only for
 * state under the exec root, which does not outlive a reboot (tmpfs in production) and so needs
 * no protection against power loss, only against a crash of the daemon.
 */
export async function atomicWrite(file: string, data: string | Uint8Array, mode = 0o600, opts: { durable?: boolean } = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.tmp-${path.basename(file)}-${randomBytes(6).toString('hex')}`);
  const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  if (durable) await fsyncDir(dir);
}

export async function atomicWriteJson(file: string, value: unknown, opts: { durable?: boolean } = {}): Promise<void> {
  await atomicWrite(file, JSON.stringify(value), 0o600, opts);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/** Size in bytes of everything under dir (apparent size, hardlinks counted once; trees of any depth). */
export async function diskUsage(dir: string): Promise<number> {
  let fs: RootedFs;
  try {
    fs = await RootedFs.open(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
  let total = 0;
  const seen = new Set<string>();
  try {
    for await (const { st } of walk(fs, fs.root)) {
      if (st.isDirectory()) continue;
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
  } finally {
    await fs.close();
  }
  return total;
}
