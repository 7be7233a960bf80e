/**
 * Local file trees from tar, for `cp` (packing lives in client/pack.ts). extractTar() writes a
 * tar under a destination directory with the same hostile-archive-safe extractor the engine uses
 * (hostfs/extract.ts): names are relative to the destination and `..` that would leave it is
 * refused, every path is resolved inside the destination (a symlink planted by the archive is
 * followed only within it), files are created O_EXCL|O_NOFOLLOW, hard links must point at files
 * inside the destination, and trees of any depth work. Devices and fifos are skipped, ownership
 * is the user's, a directory is never replaced by a file or the reverse (as the docker CLI does).
 */
import path from 'node:path';
import { isTarFormatError, TarReader } from '../common/tar/index.js';
import { extractTar as extractInto, isExtractError } from '../hostfs/extract.js';
import { RootedFs } from '../hostfs/rooted.js';
export { packPath } from '../client/index.js';

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

export interface ExtractOptions {
  /** Rename the archive's top-level entry `from` to `to` (docker cp to a new name). */
  rename?: { from: string; to: string };
  /** Drop the top-level directory and extract its contents (docker's `SRC/.`). */
  stripRoot?: boolean;
}

/** Extract a tar stream under the existing directory `dest`. Returns the number of archive bytes read. */
export async function extractTar(src: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, dest: string, opts: ExtractOptions = {}): Promise<number> {
  const reader = new TarReader(src);
  const root = path.resolve(dest);
  const rename = (rel: string): string | undefined => {
    let parts = rel.split('/');
    if (opts.rename && parts[0] === opts.rename.from) parts = [opts.rename.to, ...parts.slice(1)];
    if (opts.stripRoot) parts = parts.slice(1);
    return parts.length === 0 ? undefined : parts.join('/');
  };
  await RootedFs.with(root, {}, async (fs) => {
    try {
      await extractInto(fs, fs.root, reader, { owner: 'process', noOverwriteDirNonDir: true, specialFiles: 'skip', rename, displayRoot: root });
    } catch (err) {
      if (isExtractError(err) || isTarFormatError(err)) throw new ArchiveError(err.message);
      throw err;
    }
  });
  return reader.bytes;
}
