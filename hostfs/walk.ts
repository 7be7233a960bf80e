/**
 * Walking a tree inside a RootedFs: every entry below a directory, in lexical order, parents
 * before children, nothing followed, mounts seen through. The walk keeps a bounded number of
 * directory fds open (DirStack), so it works on trees of any depth; an entry that disappears or
 * is swapped for something else while it is walked is skipped, a directory that moved under the
 * walk fails it (ESTALE).
 */
import type { Stats } from 'node:fs';
import { isErrno } from './fd.js';
import { DirStack, joinPath, type RootedDir, type RootedFs } from './rooted.js';

export interface WalkEntry {
  /** The directory holding the entry; open until the walk is asked for the next entry. */
  dir: RootedDir;
  name: string;
  /** Path inside the root ("/etc/passwd"). */
  path: string;
  /** Path relative to where the walk started ("etc/passwd"). */
  rel: string;
  st: Stats;
  /** For a directory: do not walk into it. */
  skip(): void;
}

/** Every entry below `start` (not `start` itself). */
export async function* walk(fs: RootedFs, start: RootedDir): AsyncGenerator<WalkEntry> {
  const stack = new DirStack(start, await fs.dirIds(start));
  const levels: { names: string[]; i: number; rel: string }[] = [{ names: (await fs.readdir(start)).sort(), i: 0, rel: '' }];
  try {
    while (levels.length > 0) {
      const level = levels[levels.length - 1]!;
      if (level.i >= level.names.length) {
        levels.pop();
        if (levels.length > 0) await stack.pop();
        continue;
      }
      const name = level.names[level.i++]!;
      const dir = stack.top();
      const st = await fs.lstat(dir, name);
      if (st === undefined) continue; // removed meanwhile
      const rel = level.rel === '' ? name : `${level.rel}/${name}`;
      let descend = st.isDirectory();
      yield {
        dir,
        name,
        path: joinPath(dir.path, name),
        rel,
        st,
        skip: () => {
          descend = false;
        },
      };
      if (!descend) continue;
      let child: RootedDir;
      try {
        child = await fs.openChild(dir, name);
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) continue; // replaced meanwhile
        throw err;
      }
      try {
        const names = (await fs.readdir(child)).sort();
        stack.push(child, await fs.dirIds(child), child.mount !== dir.mount);
        levels.push({ names, i: 0, rel });
      } catch (err) {
        await fs.closeDir(child);
        throw err;
      }
    }
  } finally {
    await stack.popAll();
  }
}

/** Calls `visit` for every entry below `start`; returning false for a directory skips what is inside it. */
export async function walkTree(fs: RootedFs, start: RootedDir, visit: (e: WalkEntry) => Promise<boolean | void>): Promise<void> {
  for await (const e of walk(fs, start)) if ((await visit(e)) === false) e.skip();
}
