/**
 * A local file or directory as a tar stream (files, directories, symlinks; other kinds are
 * skipped): `cp` uploads and build contexts. Nothing is followed but, when asked, `src` itself.
 * The tree is walked through directory fds (hostfs/walk.ts), so trees of any depth pack.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { END_OF_ARCHIVE, entryChunks, type TarEntryType, type TarHeader } from '../common/tar/index.js';
import { closeFd, fdOpen, isErrno, readFd } from '../hostfs/fd.js';
import { RootedFs, type RootedDir } from '../hostfs/rooted.js';
import { walk } from '../hostfs/walk.js';

function headerFor(name: string, st: Stats, type: TarEntryType, linkname = ''): TarHeader {
  return {
    name,
    type,
    mode: st.mode & 0o7777,
    size: type === 'file' ? st.size : 0,
    mtime: Math.floor(st.mtimeMs / 1000),
    uid: st.uid,
    gid: st.gid,
    linkname,
  };
}

/** One entry's chunks: a directory, a symlink, or a file with its content (other kinds: nothing). */
async function* entry(name: string, st: Stats, where: { fs: RootedFs; dir: RootedDir; name: string } | { file: string }): AsyncGenerator<Uint8Array> {
  const hostPath = 'file' in where ? where.file : where.fs.filePath(where.dir, where.name).path;
  if (st.isDirectory()) {
    if (name !== '') yield* entryChunks(headerFor(name, st, 'dir'));
  } else if (st.isSymbolicLink()) {
    yield* entryChunks(headerFor(name, st, 'symlink', await fsp.readlink(hostPath)));
  } else if (st.isFile()) {
    let fd: number;
    try {
      fd = await fdOpen(hostPath, fsc.O_RDONLY | ('file' in where ? 0 : fsc.O_NOFOLLOW));
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ELOOP')) return; // gone meanwhile
      throw err;
    }
    try {
      // A file that changes while it is read is cut or zero-padded to the size in its header.
      yield* entryChunks(headerFor(name, st, 'file'), readFd(fd));
    } finally {
      await closeFd(fd);
    }
  }
}

/**
 * A tar of `src`. Its root entry is named `rootName`; with `contentsOnly`
 * (docker's `SRC/.`) a directory's children are the top-level entries instead.
 * `followLink` dereferences `src` itself when it is a symlink.
 */
export async function* packPath(
  src: string,
  opts: { rootName: string; contentsOnly?: boolean; followLink?: boolean },
): AsyncGenerator<Uint8Array, void, undefined> {
  const st = opts.followLink ? await fsp.stat(src) : await fsp.lstat(src);
  const rootName = opts.contentsOnly && st.isDirectory() ? '' : opts.rootName;
  yield* entry(rootName, st, { file: path.resolve(src) });
  if (st.isDirectory()) {
    const fs = await RootedFs.open(src);
    try {
      for await (const e of walk(fs, fs.root)) {
        yield* entry(rootName === '' ? e.rel : `${rootName}/${e.rel}`, e.st, { fs, dir: e.dir, name: e.name });
      }
    } finally {
      await fs.close();
    }
  }
  yield END_OF_ARCHIVE;
}
