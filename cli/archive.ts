/**
 * Local file trees from tar, for `cp` (packing lives in client/pack.ts). extractTar() writes a tar under a destination directory and treats
 * the archive as hostile: `..` and absolute names are refused, every ancestor
 * inside the destination must be a real directory (a symlink planted by the
 * archive is never followed), files are created with O_EXCL|O_NOFOLLOW after
 * removing what was there, and hardlinks must point inside the destination.
 */
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { TarReader } from '../client/index.js';
import type { TarHeader } from '../client/index.js';
export { packPath } from '../client/index.js';

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

/** Clean slash-separated parts of an entry name; refuses `..` (absolute names are made relative). */
function entryParts(name: string): string[] {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ArchiveError(`refusing to extract "${name}": it points outside the destination`);
  return parts;
}

export interface ExtractOptions {
  /** Rename the archive's top-level entry `from` to `to` (docker cp to a new name). */
  rename?: { from: string; to: string };
  /** Drop the top-level directory and extract its contents (docker's `SRC/.`). */
  stripRoot?: boolean;
}

/** Extract a tar stream under the existing directory `dest`. Returns the number of archive bytes read. */
export async function extractTar(src: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, dest: string, opts: ExtractOptions = {}): Promise<number> {
  const root = path.resolve(dest);
  const verified = new Set<string>([root]);
  const reader = new TarReader();
  let bytes = 0;
  let current: { fh: fsp.FileHandle; header: TarHeader; abs: string } | undefined;
  let skipping = false;

  const toAbs = (name: string): string | undefined => {
    let parts = entryParts(name);
    if (opts.rename && parts[0] === opts.rename.from) parts = [opts.rename.to, ...parts.slice(1)];
    if (opts.stripRoot) parts = parts.slice(1);
    return parts.length === 0 ? undefined : path.join(root, ...parts);
  };

  /** Make every ancestor of `abs` below the root a real directory (creating missing ones). */
  const ensureParents = async (abs: string): Promise<void> => {
    const rel = path.relative(root, path.dirname(abs));
    let cur = root;
    for (const part of rel === '' ? [] : rel.split(path.sep)) {
      cur = path.join(cur, part);
      if (verified.has(cur)) continue;
      const st = await fsp.lstat(cur).catch(() => undefined);
      if (!st) await fsp.mkdir(cur, 0o755);
      else if (!st.isDirectory()) throw new ArchiveError(`refusing to extract under "${path.relative(root, cur)}": not a directory`);
      verified.add(cur);
    }
  };

  /** Remove what is at `abs` unless it is a directory (which is kept when `keepDir`). */
  const clear = async (abs: string, keepDir: boolean): Promise<boolean> => {
    const st = await fsp.lstat(abs).catch(() => undefined);
    if (!st) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      throw new ArchiveError(`cannot overwrite directory "${abs}" with non-directory`);
    }
    await fsp.unlink(abs);
    return false;
  };

  const begin = async (h: TarHeader): Promise<void> => {
    const abs = toAbs(h.name);
    if (abs === undefined || h.type === 'other') {
      skipping = true;
      return;
    }
    await ensureParents(abs);
    verified.delete(abs);
    switch (h.type) {
      case 'directory':
        if (await clear(abs, true)) await fsp.chmod(abs, h.mode & 0o7777);
        else await fsp.mkdir(abs, h.mode & 0o7777);
        verified.add(abs);
        skipping = true;
        return;
      case 'symlink':
        await clear(abs, false);
        await fsp.symlink(h.linkname, abs);
        skipping = true;
        return;
      case 'hardlink': {
        const target = toAbs(h.linkname);
        if (target === undefined) throw new ArchiveError(`refusing hardlink "${h.name}" to the destination itself`);
        await ensureParents(target);
        const tst = await fsp.lstat(target).catch(() => undefined);
        if (!tst?.isFile()) throw new ArchiveError(`refusing hardlink "${h.name}": target "${h.linkname}" is not a file in the archive`);
        await clear(abs, false);
        await fsp.link(target, abs);
        skipping = true;
        return;
      }
      case 'file': {
        await clear(abs, false);
        const fh = await fsp.open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, h.mode & 0o7777);
        current = { fh, header: h, abs };
        skipping = false;
        return;
      }
    }
  };

  const finish = async (): Promise<void> => {
    if (!current) return;
    const { fh, header, abs } = current;
    current = undefined;
    await fh.chmod(header.mode & 0o7777);
    await fh.close();
    await fsp.utimes(abs, header.mtime, header.mtime);
  };

  try {
    for await (const chunk of src) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytes += buf.length;
      for (const ev of reader.push(buf)) {
        if (ev.kind === 'entry') await begin(ev.header);
        else if (ev.kind === 'data') {
          if (!skipping && current) await current.fh.write(ev.chunk);
        } else await finish();
      }
      if (reader.done) break;
    }
    if (!reader.done) reader.end();
  } finally {
    await current?.fh.close().catch(() => undefined);
  }
  return bytes;
}
