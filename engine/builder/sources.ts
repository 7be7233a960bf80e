/**
 * COPY and ADD sources: finding them (paths and globs, resolved inside a root the way Docker
 * does), hashing them for the build cache, and turning them into the tar stream that
 * containers/extract.ts writes into the step's rootfs.
 *
 * A root is the extracted build context or the mounted rootfs of another image (COPY --from).
 * The source path is resolved in the root's scope (hostfs/rooted.ts: symlinks followed but never out
 * of the root); below it, walking never follows a symlink — links are copied as links. Nothing
 * writes to a root while a step reads it (the context is the builder's own, and a --from rootfs
 * belongs to a container that never runs), so the real paths recorded while walking still name
 * the same files when they are read again for the tar.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { invalid, isErrno } from '../common/errors.js';
import type { TarEntryType } from '../../common/tar/index.js';
import { TarSink as TarWriter } from '../../hostfs/tar-sink.js';
import { at, closeFd, containerPathOf, locate, openDirAt, openTrustedDir } from '../../hostfs/rooted.js';

/** One thing to copy, named relative to the source it came from. */
interface FoundEntry {
  /** Path below the matched source ('' = the source itself when it is not a directory). */
  rel: string;
  /** Real path below the root (no symlinks on the way). */
  real: string;
  st: Stats;
  linkname?: string;
}

export interface FoundSource {
  /** The source as matched, relative to the root. */
  path: string;
  /** The source as written in the instruction (a glob gives several matches of one pattern). */
  pattern: string;
  /** Its real path below the root, symlinks resolved in scope ('' = the root itself). */
  real: string;
  /** Its own metadata (a directory's: the entries are what is below it). */
  st: Stats;
  isDir: boolean;
  entries: FoundEntry[];
}

const GLOB_META = /[*?[\\]/;

/** Go's filepath.Match for one path element: * ? [class] and backslash escapes. */
export function segmentMatcher(pattern: string): (name: string) => boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i] as string);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw invalid(`syntax error in pattern: ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '!' + cls.slice(1);
      re += '[' + (cls.startsWith('!') ? '^' + cls.slice(1) : cls).replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += escapeRe(c);
  }
  const rx = new RegExp(`^${re}$`, 's');
  return (name) => rx.test(name);
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Resolves `src` (relative to the root; globs allowed in any element) to the sources it names.
 * No match for a glob is an error, as in Docker ("no source files were specified").
 */
export async function findSources(root: string, src: string): Promise<FoundSource[]> {
  const clean = path.posix.normalize('/' + src).replace(/(.)\/+$/, '$1');
  if (!GLOB_META.test(clean)) return [{ ...(await findOne(root, clean, src)), pattern: src }];
  // Expand element by element; each match is resolved in scope afterwards.
  let candidates = ['/'];
  for (const part of clean.split('/').filter((p) => p !== '')) {
    if (!GLOB_META.test(part)) {
      candidates = candidates.map((c) => path.posix.join(c, part));
      continue;
    }
    const match = segmentMatcher(part);
    const next: string[] = [];
    for (const c of candidates) {
      for (const name of await listDir(root, c)) if (match(name)) next.push(path.posix.join(c, name));
    }
    candidates = next.sort();
  }
  const found: FoundSource[] = [];
  for (const c of candidates) {
    try {
      found.push({ ...(await findOne(root, c, c.slice(1))), pattern: src });
    } catch (err) {
      if (!(err instanceof Error && /no such file/.test(err.message))) throw err;
    }
  }
  if (found.length === 0) throw invalid(`COPY failed: no source files were specified (${src} matched nothing)`);
  return found;
}

async function listDir(root: string, dir: string): Promise<string[]> {
  const rootFd = await openTrustedDir(root);
  try {
    const loc = await locate(rootFd, dir.endsWith('/') ? dir : dir + '/').catch(() => undefined);
    if (!loc) return [];
    try {
      return await fsp.readdir(at(loc.dirFd));
    } finally {
      await closeFd(loc.dirFd);
    }
  } finally {
    await closeFd(rootFd);
  }
}

const MAX_LINKS = 40;

/** One source path: symlinks on the way and at its end are followed in scope; below a directory nothing is. */
async function findOne(root: string, abs: string, shown: string): Promise<Omit<FoundSource, 'pattern'>> {
  const rootFd = await openTrustedDir(root);
  try {
    let p = abs;
    for (let hops = 0; ; hops++) {
      if (hops > MAX_LINKS) throw invalid(`COPY failed: too many levels of symbolic links: ${shown}`);
      let loc;
      try {
        loc = await locate(rootFd, p);
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw invalid(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${shown}: no such file or directory`);
        throw err;
      }
      try {
        const dirPath = await containerPathOf(root, loc.dirFd);
        // name '' is the directory itself: its magic link must be followed (stat, not lstat).
        const st = await (loc.name === '' ? fsp.stat(at(loc.dirFd)) : fsp.lstat(at(loc.dirFd, loc.name))).catch((err: unknown) => {
          if (isErrno(err, 'ENOENT')) throw invalid(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${shown}: no such file or directory`);
          throw err;
        });
        if (st.isSymbolicLink()) {
          const target = await fsp.readlink(at(loc.dirFd, loc.name));
          p = target.startsWith('/') ? target : path.posix.join(dirPath, target);
          continue;
        }
        const real = path.posix.join(dirPath, loc.name).replace(/^\/+/, '');
        if (!st.isDirectory()) return { path: shown, real, st, isDir: false, entries: [{ rel: '', real, st }] };
        const entries: FoundEntry[] = [];
        const sub = loc.name === '' ? await openDirAt(loc.dirFd, '') : await openDirAt(loc.dirFd, loc.name);
        try {
          await walk(sub, '', real, entries);
        } finally {
          await closeFd(sub);
        }
        return { path: shown, real, st, isDir: true, entries };
      } finally {
        await closeFd(loc.dirFd);
      }
    }
  } finally {
    await closeFd(rootFd);
  }
}

/** Runs `fn` over `items` with at most `limit` at once; results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** File-system calls in flight at once while walking or hashing (libuv's pool has 16 threads in berthd). */
const IO_PARALLEL = 8;

async function walk(fd: number, rel: string, real: string, out: FoundEntry[]): Promise<void> {
  const names = (await fsp.readdir(at(fd))).sort();
  // The stats of a directory's entries are asked for at once; the order of `out` stays sorted.
  const stats = await mapLimit(names, IO_PARALLEL, async (name) => {
    const st = await fsp.lstat(at(fd, name));
    return { name, st, linkname: st.isSymbolicLink() ? await fsp.readlink(at(fd, name)) : undefined };
  });
  for (const { name, st, linkname } of stats) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const rp = real === '' ? name : `${real}/${name}`;
    if (st.isSocket()) continue;
    const e: FoundEntry = { rel: r, real: rp, st };
    if (linkname !== undefined) e.linkname = linkname;
    out.push(e);
    if (st.isDirectory()) {
      const sub = await openDirAt(fd, name);
      try {
        await walk(sub, r, rp, out);
      } finally {
        await closeFd(sub);
      }
    }
  }
}

/** A file from outside any root (ADD <url>, COPY <<heredoc): its bytes are at hand. */
export interface InlineFile {
  name: string;
  data: Buffer;
  mode: number;
  mtime: number;
}

/** An entry of the tar to extract at "/": its name is the destination path without the leading slash. */
export interface PlannedEntry {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Where its content is: a real path below the root, or bytes. */
  from?: { root: string; real: string } | { data: Buffer };
}

export interface CopyOptions {
  /** Keep the owners from the root (COPY --from); otherwise everything is root's, as in Docker. */
  keepOwners: boolean;
  /** --chmod: applied to files and directories alike. */
  chmod?: number;
  /** --exclude: true for a path to leave out (relative to a directory source, or a file source's path). */
  exclude?: (rel: string) => boolean;
  /** --parents: keep each source's parent directories below the destination (after a `/./` pivot only). */
  parents?: boolean;
}

function typeOf(st: Stats): TarEntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined;
}

const joinRel = (a: string, b: string): string => (a === '' ? b : b === '' ? a : `${a}/${b}`);

/** The directories --parents keeps for a source: its parent path, cut at a `/./` pivot in the pattern. */
function keptParents(src: FoundSource): string {
  const matched = path.posix.normalize('/' + src.path).slice(1);
  const dir = path.posix.dirname(matched);
  const segs = dir === '.' || dir === '' ? [] : dir.split('/');
  const pivot = src.pattern.indexOf('/./');
  if (pivot < 0) return segs.join('/');
  const before = path.posix.normalize('/' + src.pattern.slice(0, pivot)).slice(1);
  return segs.slice(before === '' ? 0 : before.split('/').length).join('/');
}

/**
 * The entries a copy writes, named relative to the destination directory: a directory source
 * copies its contents, a file goes in under its base name (with --parents, both below their
 * parent path), heredocs and URLs under their own names. Where a lone file lands exactly is
 * decided later (placeEntries), since that depends on the destination in the image.
 */
export function copyEntries(sources: FoundSource[], inline: InlineFile[], o: CopyOptions, root: string): PlannedEntry[] {
  const out: PlannedEntry[] = [];
  const mode = (st: Stats): number => (o.chmod !== undefined && !st.isSymbolicLink() ? o.chmod : st.mode & 0o7777);
  for (const s of sources) {
    const parents = o.parents ? keptParents(s) : '';
    const base = s.isDir ? (o.parents ? joinRel(parents, path.posix.basename(path.posix.normalize('/' + s.path))) : '') : joinRel(parents, path.posix.basename(s.path));
    // --parents copies a directory source as itself (with its metadata), not only its content.
    const own: FoundEntry[] = s.isDir && base !== '' ? [{ rel: '', real: s.real, st: s.st }] : [];
    for (const e of [...own, ...s.entries]) {
      const type = typeOf(e.st);
      if (!type) continue;
      if (o.exclude && (s.isDir ? e.rel !== '' && o.exclude(e.rel) : o.exclude(path.posix.normalize(s.path).replace(/^\.?\/+/, '')))) continue;
      const name = s.isDir ? joinRel(base, e.rel) : base;
      const major = Math.floor(e.st.rdev / 256);
      out.push({
        name,
        type,
        mode: mode(e.st),
        uid: o.keepOwners ? e.st.uid : 0,
        gid: o.keepOwners ? e.st.gid : 0,
        size: type === 'file' ? e.st.size : 0,
        mtime: Math.floor(e.st.mtimeMs / 1000),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(type === 'char' || type === 'block' ? { devmajor: major, devminor: e.st.rdev % 256 } : {}),
        ...(type === 'file' ? { from: { root, real: e.real } } : {}),
      });
    }
  }
  for (const f of inline) {
    out.push({ name: f.name, type: 'file', mode: o.chmod ?? f.mode, uid: 0, gid: 0, size: f.data.length, mtime: f.mtime, from: { data: f.data } });
  }
  return out;
}

/**
 * Docker's COPY destination rules applied to copyEntries' names: everything goes below `dest`,
 * except a lone file copied to a destination that is not a directory (no trailing "/", not an
 * existing directory), which becomes `dest` itself.
 */
export function placeEntries(entries: PlannedEntry[], dest: string, destIsDir: boolean, loneFile: boolean): PlannedEntry[] {
  const d = dest.replace(/^\/+/, '').replace(/\/+$/, '');
  return entries.map((e) => {
    const name = loneFile && !destIsDir ? d : joinRel(d, e.name);
    if (name === '') throw invalid('COPY failed: cannot copy a file onto the root directory');
    return { ...e, name };
  });
}

/** A file's bytes, opened without following a symlink at its last element. */
export async function* readNoFollow(file: string): AsyncGenerator<Buffer> {
  const fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 })) yield chunk as Buffer;
  } finally {
    await fh.close();
  }
}

function content(from: NonNullable<PlannedEntry['from']>): AsyncIterable<Buffer> {
  if ('data' in from) return (async function* () { yield from.data; })();
  // The walk found no symlink on the way to it; O_NOFOLLOW covers the last element.
  return readNoFollow(path.join(from.root, from.real));
}

/** Files up to this size are hashed from one read; bigger ones are streamed. */
const SMALL_FILE = 1 << 20;

/** The sha256 of a file's content (read without following a link at its last element). */
async function contentDigest(from: NonNullable<PlannedEntry['from']>, size: number): Promise<string> {
  const h = createHash('sha256');
  if ('data' in from) return h.update(from.data).digest('hex');
  if (size <= SMALL_FILE) return h.update(await fsp.readFile(path.join(from.root, from.real), { flag: fsc.O_RDONLY | fsc.O_NOFOLLOW })).digest('hex');
  for await (const chunk of readNoFollow(path.join(from.root, from.real))) h.update(chunk);
  return h.digest('hex');
}

/**
 * The cache key of a copy: names, types, modes, owners and contents (not times, as in Docker).
 * The files are read several at a time: a cached build costs little more than this hashing.
 */
export async function hashPlan(plan: PlannedEntry[]): Promise<string> {
  const contents = await mapLimit(plan, IO_PARALLEL, (e) => (e.type === 'file' && e.from ? contentDigest(e.from, e.size) : Promise.resolve('')));
  const h = createHash('sha256');
  plan.forEach((e, i) => {
    h.update(JSON.stringify([e.name, e.type, e.mode, e.uid, e.gid, e.linkname ?? '', contents[i]]));
    h.update('\0');
  });
  return h.digest('hex');
}

/** The plan as a tar stream (written as it is read, memory bounded). */
export function planTar(plan: PlannedEntry[], signal?: AbortSignal): Readable {
  const out = new PassThrough();
  const tar = new TarWriter(out, signal);
  void (async () => {
    for (const e of plan) {
      const body = e.from ? content(e.from) : undefined;
      await tar.add({ name: e.type === 'dir' ? `${e.name}/` : e.name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}), ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}) }, body);
    }
    await tar.finish();
    out.end();
  })().catch((err: unknown) => out.destroy(err as Error));
  return out;
}
