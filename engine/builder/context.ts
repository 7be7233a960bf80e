/**
 * The build context: the tar (plain or gzip) the client uploads with POST /build, extracted
 * into a private temporary directory, and the Dockerfile read from it.
 *
 * Extraction goes through containers/extract.ts, the hostile-tar-safe extractor of `docker cp`:
 * the temporary directory is treated as a root, so names with ".." and symlinks planted by the
 * tar can never make a write land outside it. After extraction, what `.dockerignore` excludes is
 * deleted, so no later step can see it (Docker never sends it to the builder at all; the
 * Dockerfile and .dockerignore themselves are read before that).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { invalid, isErrno } from '../common/errors.js';
import { extractArchive } from '../containers/extract.js';
import { at, closeFd, locate, openDirAt, openTrustedDir, removeTree } from '../../hostfs/rooted.js';
import { ignoreMatcher, parseDockerignore } from './dockerignore.js';

export interface BuildContext {
  /** The extracted context (a directory only the builder uses). */
  dir: string;
  dockerfile: string;
  remove(): Promise<void>;
}

const MAX_DOCKERFILE_BYTES = 4 << 20;

/** Extracts the context into a fresh directory under `tmpRoot`, reads the Dockerfile, applies .dockerignore. */
export async function openContext(body: Readable, tmpRoot: string, dockerfilePath: string, signal: AbortSignal): Promise<BuildContext> {
  await fsp.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
  const dir = await fsp.mkdtemp(path.join(tmpRoot, 'context-'));
  const remove = (): Promise<void> => removeTree(dir);
  try {
    await extractArchive(dir, '/', body, { ref: 'the build context', noOverwriteDirNonDir: false, signal });
    const name = dockerfilePath === '' ? 'Dockerfile' : dockerfilePath;
    const dockerfile = await readInContext(dir, name);
    if (dockerfile === undefined) {
      throw invalid(`Cannot locate specified Dockerfile: ${name}`);
    }
    const ignore = await readInContext(dir, '.dockerignore');
    if (ignore !== undefined) {
      const patterns = parseDockerignore(ignore);
      if (patterns.length > 0) await pruneIgnored(dir, ignoreMatcher(patterns));
    }
    return { dir, dockerfile, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A regular file in the context, its path resolved inside the context (symlinks stay in scope). */
async function readInContext(dir: string, rel: string): Promise<string | undefined> {
  const rootFd = await openTrustedDir(dir);
  try {
    let loc;
    try {
      loc = await locate(rootFd, '/' + rel.replace(/^\/+/, ''));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) return undefined;
      throw err;
    }
    try {
      const file = at(loc.dirFd, loc.name);
      const st = await fsp.lstat(file).catch(() => undefined);
      if (!st?.isFile()) return undefined;
      if (st.size > MAX_DOCKERFILE_BYTES) throw invalid(`${rel} is larger than ${MAX_DOCKERFILE_BYTES} bytes`);
      return await fsp.readFile(file, 'utf8');
    } finally {
      await closeFd(loc.dirFd);
    }
  } finally {
    await closeFd(rootFd);
  }
}

/**
 * Deletes every excluded path. A directory is descended even when it is excluded, because a
 * later "!" pattern may re-include something inside it; it goes when it is excluded and ends up
 * empty. Walking is by directory fd, never following a symlink.
 */
async function pruneIgnored(dir: string, ignored: (rel: string) => boolean): Promise<void> {
  const walk = async (fd: number, prefix: string): Promise<void> => {
    for (const ent of await fsp.readdir(at(fd), { withFileTypes: true })) {
      const rel = prefix + ent.name;
      if (ent.isDirectory()) {
        const sub = await openDirAt(fd, ent.name);
        try {
          await walk(sub, rel + '/');
        } finally {
          await closeFd(sub);
        }
        if (ignored(rel) && (await fsp.readdir(at(fd, ent.name))).length === 0) await fsp.rmdir(at(fd, ent.name));
      } else if (ignored(rel)) {
        await fsp.unlink(at(fd, ent.name));
      }
    }
  };
  const root = await openTrustedDir(dir);
  try {
    await walk(root, '');
  } finally {
    await closeFd(root);
  }
}
