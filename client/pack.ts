/**
 * A local file or directory as a tar stream (files, directories, symlinks; other kinds are
 * skipped): `cp` uploads and build contexts. Nothing is followed but, when asked, `src` itself.
 */
import { constants, promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { TAR_END, encodeHeader, tarPadding, type TarHeader } from './tar.js';

function headerFor(name: string, st: Stats, type: TarHeader['type'], linkname = ''): TarHeader {
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

/**
 * A tar of `src`. Its root entry is named `rootName`; with `contentsOnly`
 * (docker's `SRC/.`) a directory's children are the top-level entries instead.
 * `followLink` dereferences `src` itself when it is a symlink.
 */
export async function* packPath(
  src: string,
  opts: { rootName: string; contentsOnly?: boolean; followLink?: boolean },
): AsyncGenerator<Buffer, void, undefined> {
  async function* walk(abs: string, name: string, st: Stats): AsyncGenerator<Buffer, void, undefined> {
    if (st.isSymbolicLink()) {
      yield encodeHeader(headerFor(name, st, 'symlink', await fsp.readlink(abs)));
    } else if (st.isDirectory()) {
      if (name !== '') yield encodeHeader(headerFor(name, st, 'directory'));
      const children = (await fsp.readdir(abs)).sort();
      for (const child of children) {
        const childAbs = path.join(abs, child);
        yield* walk(childAbs, name === '' ? child : `${name}/${child}`, await fsp.lstat(childAbs));
      }
    } else if (st.isFile()) {
      yield encodeHeader(headerFor(name, st, 'file'));
      const fh = await fsp.open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
      let written = 0;
      try {
        const buf = Buffer.alloc(256 * 1024);
        while (written < st.size) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, st.size - written), written);
          if (bytesRead === 0) break;
          written += bytesRead;
          yield Buffer.from(buf.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
      // A file that shrank while we read it is padded, so the archive stays well formed.
      if (written < st.size) yield Buffer.alloc(st.size - written);
      yield tarPadding(st.size);
    }
  }
  const st = opts.followLink ? await fsp.stat(src) : await fsp.lstat(src);
  yield* walk(src, opts.contentsOnly && st.isDirectory() ? '' : opts.rootName, st);
  yield TAR_END;
}

