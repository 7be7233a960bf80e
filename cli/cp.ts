/**
 * `cp`: copy files between a container and the local file system through the
 * archive endpoints, with docker's path rules: into an existing directory the
 * source keeps its name; onto a missing path it takes that path's name; `SRC/.`
 * copies a directory's contents; `-` means a tar stream on stdin or stdout.
 */
import { promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { EngineError } from '../client/index.js';
import type { PathStat } from '../types/engine-api.js';
import { UsageError } from './args.js';
import type { Command, Context } from './command.js';
import { copyStream } from './command.js';
import { ArchiveError, extractTar, packPath } from './archive.js';
import { humanSize } from './format.js';

/** A cp argument: local path, or CONTAINER:PATH. Local paths starting with / or . never split. */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

const DIR_BIT = 2 ** 31;
const isDirMode = (mode: number): boolean => Math.floor(mode / DIR_BIT) % 2 === 1;

/** The base name cp gives a path (`/a/b/` → `b`, `/` → `/`-less ""). */
function baseName(p: string): string {
  return path.posix.basename(p.replace(/\/+$/, '')) || '';
}

/** True for `dir/.` (docker: copy the directory's contents). */
function contentsOnly(p: string): boolean {
  return p === '.' || p.endsWith('/.');
}

async function localStat(p: string): Promise<Stats | undefined> {
  return fsp.stat(p).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

function reportCopied(ctx: Context, quiet: boolean, bytes: number, dest: string): void {
  const stderr = ctx.io.stderr as Context['io']['stdout'];
  if (!quiet && stderr.isTTY) ctx.err(`Successfully copied ${humanSize(bytes)} to ${dest}\n`);
}

async function copyFromContainer(ctx: Context, container: string, srcPath: string, dest: string, a: { follow: boolean; quiet: boolean }): Promise<void> {
  let source = srcPath;
  if (a.follow) {
    const st = await ctx.client.containers.statPath(container, srcPath);
    if (st.linkTarget) source = st.linkTarget;
  }
  const { stat, tar } = await ctx.client.containers.getArchive(container, source);
  if (dest === '-') {
    await copyStream(tar, ctx.io.stdout);
    return;
  }
  const srcIsDir = stat ? isDirMode(stat.mode) : false;
  const from = stat?.name || baseName(source);
  const destStat = await localStat(dest);
  let bytes: number;
  try {
    if (destStat?.isDirectory()) {
      // Into an existing directory: keep the source's name, or its contents for SRC/.
      bytes = await extractTar(tar, dest, contentsOnly(srcPath) && srcIsDir ? { stripRoot: true } : { rename: { from, to: baseName(srcPath) || from } });
    } else {
      if (destStat && srcIsDir) throw new ArchiveError(`cannot copy a directory to a file: ${dest}`);
      if (!destStat && dest.endsWith('/')) throw new ArchiveError(`no such directory: ${dest}`);
      const parent = path.dirname(path.resolve(dest));
      const pst = await localStat(parent);
      if (!pst?.isDirectory()) throw new ArchiveError(`no such directory: ${parent}`);
      bytes = await extractTar(tar, parent, { rename: { from, to: path.basename(path.resolve(dest)) } });
    }
  } finally {
    tar.destroy();
  }
  reportCopied(ctx, a.quiet, bytes, dest);
}

async function destInfo(ctx: Context, container: string, destPath: string): Promise<PathStat | undefined> {
  try {
    return await ctx.client.containers.statPath(container, destPath);
  } catch (err) {
    if (err instanceof EngineError && err.code === 'NOT_FOUND' && !/no such container/i.test(err.message)) return undefined;
    throw err;
  }
}

async function copyToContainer(ctx: Context, src: string, container: string, destPath: string, a: { follow: boolean; quiet: boolean; archive: boolean }): Promise<void> {
  const put = (dir: string, body: Readable): Promise<void> =>
    ctx.client.containers.putArchive(container, dir, body, { noOverwriteDirNonDir: true, copyUIDGID: a.archive });
  if (src === '-') {
    await put(destPath, ctx.io.stdin as Readable);
    return;
  }
  const st = await (a.follow ? fsp.stat(src) : fsp.lstat(src)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new ArchiveError(`lstat ${path.resolve(src)}: no such file or directory`);
    throw err;
  });
  const dest = await destInfo(ctx, container, destPath);
  let dir: string;
  let rootName: string;
  let contents = false;
  if (dest && isDirMode(dest.mode)) {
    dir = destPath;
    rootName = path.basename(path.resolve(src));
    contents = contentsOnly(src) && st.isDirectory();
  } else {
    if (dest && st.isDirectory()) throw new ArchiveError(`cannot copy a directory to a file: ${container}:${destPath}`);
    if (!dest && destPath.endsWith('/')) throw new ArchiveError(`no such directory: ${container}:${destPath}`);
    dir = path.posix.dirname(destPath.replace(/\/+$/, '')) || '/';
    rootName = baseName(destPath);
  }
  let bytes = 0;
  const tar = Readable.from(
    (async function* () {
      for await (const chunk of packPath(src, { rootName, contentsOnly: contents, followLink: a.follow })) {
        bytes += chunk.length;
        yield chunk;
      }
    })(),
  );
  await put(dir, tar);
  reportCopied(ctx, a.quiet, bytes, `${container}:${destPath}`);
}

export const cpCommand: Command = {
  name: 'cp',
  usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  description: 'Copy files/folders between a container and the local filesystem',
  minArgs: 2,
  maxArgs: 2,
  notes: "Use '-' as the source to read a tar archive from stdin and extract it to a directory destination in a container.\nUse '-' as the destination to stream a tar archive of a container source to stdout.",
  flags: [
    { name: 'archive', short: 'a', type: 'bool', description: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', type: 'bool', description: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress progress output during copy' },
  ],
  async run(ctx, a) {
    const src = splitCpArg(a.args[0] as string);
    const dst = splitCpArg(a.args[1] as string);
    if (src.container !== undefined && dst.container !== undefined) throw new UsageError('copying between containers is not supported');
    if (src.container === undefined && dst.container === undefined) throw new UsageError('must specify at least one container source');
    const opts = { follow: a.bool('follow-link'), quiet: a.bool('quiet'), archive: a.bool('archive') };
    try {
      if (src.container !== undefined) await copyFromContainer(ctx, src.container, src.path, dst.path, opts);
      else await copyToContainer(ctx, src.path, dst.container as string, dst.path, opts);
    } catch (err) {
      if (err instanceof ArchiveError) throw new EngineError(err.message, 0, 'INVALID');
      throw err;
    }
    return 0;
  },
};
