/**
 * Extracting a tar into a directory of a RootedFs, treating the archive as hostile: `docker cp`
 * into a container, the build context, the builder's COPY/ADD, and `berth cp` to the local disk.
 * (Image layers have their own policy, with whiteouts: engine/store/unpack.ts.)
 *
 * Entry names are relative to the destination; one whose ".." would leave it is refused. Missing
 * parents are created (0755). Parents are resolved in the root's scope, so a symlink the archive
 * (or the container) planted is followed without ever leaving the root. An existing entry is
 * replaced, except that a directory stays a directory when the archive has one too; with
 * `noOverwriteDirNonDir` replacing a directory by a non-directory (or the reverse) is refused. Files
 * are created O_EXCL|O_NOFOLLOW after removing what was there; a hard link must point at an
 * existing non-directory inside the destination, checked before anything is removed. Like Docker,
 * extraction streams: entries before a refused one stay extracted.
 */
import { spawn } from 'node:child_process';
import fs, { constants as fsc, promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import type { TarEntry, TarReader } from '../common/tar/index.js';
import { at, closeFd, fdOpen, isErrno } from './fd.js';
import { joinPath, type CreateDirs, type RootedDir, type RootedFs } from './rooted.js';

const fdWrite = promisify(fs.write);
const fdChown = promisify(fs.fchown);
const fdChmod = promisify(fs.fchmod);
const fdUtimes = promisify(fs.futimes);
const WRITE_CHUNK = 1024 * 1024;
/** Open directories kept for the entries that follow (the ancestors of the last one, up to this many). */
const MAX_CACHED_DIRS = 512;

export interface ExtractOptions {
  /** Ownership: the archive's ids, fixed ids (docker cp -a), or whatever the process creates (the CLI). */
  owner: 'archive' | 'process' | { uid: number; gid: number };
  noOverwriteDirNonDir: boolean;
  /** Rewrites an entry's clean relative name (docker cp's renaming of the top entry); undefined skips the entry. */
  rename?: (rel: string) => string | undefined;
  /** Device nodes, fifos and unknown types: created, or refused for unknown types (the engine); skipped (the CLI). */
  specialFiles: 'create' | 'skip';
  /** How the root is named in messages (the CLI's local directory); paths inside the root otherwise. */
  displayRoot?: string;
  signal?: AbortSignal;
}

/** What the archive asks for and may not have: a bad request, not a failure of the host. */
export class ExtractError extends Error {
  override readonly name = 'ExtractError';
  readonly code = 'EXTRACT_REFUSED';
}

export const isExtractError = (err: unknown): err is ExtractError => err instanceof ExtractError;

const q = (s: string): string => JSON.stringify(s);

/** Lexically normalises an entry name relative to the destination; null if ".." would leave it (or a NUL is in it). */
export function relName(raw: string): string | null {
  if (raw.includes('\0')) return null;
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join('/');
}

const parentOf = (rel: string): string => {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
};

/**
 * Open directories by their path relative to the destination: the ancestors of the directory
 * used last. Archives list entries depth-first, so most lookups reuse what is open.
 */
class DirChain {
  private readonly chain: { rel: string; dir: RootedDir | undefined }[];
  private open = 0;

  constructor(
    private readonly fs: RootedFs,
    dest: RootedDir,
    private readonly create: CreateDirs | undefined,
  ) {
    this.chain = [{ rel: '', dir: dest }];
  }

  async get(rel: string, create = true): Promise<RootedDir> {
    const segs = rel === '' ? [] : rel.split('/');
    // Keep the longest prefix of the chain that is an ancestor of rel.
    let k = 0;
    while (k + 1 < this.chain.length && k < segs.length && this.chain[k + 1]!.rel === segs.slice(0, k + 1).join('/')) k++;
    await this.truncate(k + 1);
    // The deepest open ancestor, from which the rest is opened.
    let s = k;
    while (this.chain[s]!.dir === undefined) s--;
    for (let i = s + 1; i <= segs.length; i++) {
      const from = this.chain[i - 1]!.dir!;
      const dir = await this.fs.openDir(segs[i - 1]!, create ? this.create : undefined, from);
      if (i < this.chain.length) {
        this.chain[i]!.dir = dir;
      } else {
        this.chain.push({ rel: segs.slice(0, i).join('/'), dir });
      }
      this.open++;
      this.limit();
    }
    return this.chain[segs.length]!.dir!;
  }

  /** Forgets `rel` and everything below it (it was removed or replaced). */
  async forget(rel: string): Promise<void> {
    const i = this.chain.findIndex((c, j) => j > 0 && (c.rel === rel || c.rel.startsWith(`${rel}/`)));
    if (i > 0) await this.truncate(i);
  }

  private limit(): void {
    if (this.open <= MAX_CACHED_DIRS) return;
    const victim = this.chain.find((c, j) => j > 0 && j < this.chain.length - 1 && c.dir !== undefined);
    if (victim) {
      void this.fs.closeDir(victim.dir);
      victim.dir = undefined;
      this.open--;
    }
  }

  private async truncate(len: number): Promise<void> {
    while (this.chain.length > len) {
      const c = this.chain.pop()!;
      if (c.dir !== undefined) {
        await this.fs.closeDir(c.dir);
        this.open--;
      }
    }
  }

  async close(): Promise<void> {
    await this.truncate(1);
  }
}

/** Extracts every entry `reader` yields into `dest`; returns how many were written. */
export async function extractTar(fs: RootedFs, dest: RootedDir, reader: TarReader, o: ExtractOptions): Promise<number> {
  const x = new Extractor(fs, dest, o);
  try {
    return await x.run(reader);
  } finally {
    await x.close();
  }
}

class Extractor {
  private readonly dirs: DirChain;
  /** Directories whose times are set at the end (creating entries inside them changes them). */
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  private readonly parentDirs: CreateDirs | undefined;

  constructor(
    private readonly fs: RootedFs,
    private readonly dest: RootedDir,
    private readonly o: ExtractOptions,
  ) {
    this.parentDirs = o.owner === 'process' ? { mode: 0o755, uid: -1, gid: -1 } : { mode: 0o755, uid: 0, gid: 0 };
    this.dirs = new DirChain(fs, dest, this.parentDirs);
  }

  async close(): Promise<void> {
    await this.dirs.close();
  }

  private shown(rel: string): string {
    const p = rel === '' ? this.dest.path : joinPath(this.dest.path, rel);
    if (this.o.displayRoot === undefined) return p;
    return p === '/' ? this.o.displayRoot : `${this.o.displayRoot.replace(/\/+$/, '')}${p}`;
  }

  private mapName(raw: string): string | null | undefined {
    const rel = relName(raw);
    if (rel === null) return null;
    return this.o.rename ? this.o.rename(rel) : rel;
  }

  async run(reader: TarReader): Promise<number> {
    let n = 0;
    for (let e = await reader.next(); e !== null; e = await reader.next()) {
      this.o.signal?.throwIfAborted();
      const rel = this.mapName(e.name);
      if (rel === null) throw new ExtractError(`${q(e.name)} is outside of ${q(this.shown(''))}`);
      if (rel === undefined || rel === '') continue;
      if (await this.entry(reader, e, rel)) n++;
    }
    // Deepest first is not needed: setting a directory's times never touches its parent's.
    for (const [rel, t] of [...this.dirTimes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const dir = await this.dirs.get(rel, false).catch(() => undefined);
      if (dir) await fdUtimes(dir.fd, t.atime, t.mtime).catch(() => undefined);
    }
    return n;
  }

  private ids(e: TarEntry): { uid: number; gid: number } | undefined {
    if (this.o.owner === 'process') return undefined;
    if (this.o.owner === 'archive') return { uid: e.uid, gid: e.gid };
    return this.o.owner;
  }

  private refuseIfReadOnly(dir: RootedDir): void {
    const why = this.fs.readOnlyReason(dir);
    if (why) throw new ExtractError(why);
  }

  /** Checks a hard link's target before anything is changed: the directory holding it and its name. */
  private async linkTarget(e: TarEntry): Promise<{ dir: RootedDir; name: string }> {
    const to = this.mapName(e.linkname);
    if (to === null || to === undefined || to === '') throw new ExtractError(`invalid hardlink ${q(e.name)} -> ${q(e.linkname)}`);
    const missing = (): ExtractError => new ExtractError(`invalid hardlink ${q(e.name)} -> ${q(e.linkname)}: ${this.shown(to)}: no such file or directory`);
    const dir = await this.fs.openDir(parentOf(to), undefined, this.dest).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) throw missing();
      throw err;
    });
    const name = to.slice(to.lastIndexOf('/') + 1);
    const st = await this.fs.lstat(dir, name).catch(() => undefined);
    if (st === undefined || this.fs.filePath(dir, name).mounted) {
      await this.fs.closeDir(dir);
      throw missing();
    }
    if (st.isDirectory()) {
      await this.fs.closeDir(dir);
      throw new ExtractError(`invalid hardlink ${q(e.name)} -> ${q(e.linkname)}: hard links to directories are not allowed`);
    }
    return { dir, name };
  }

  /** Writes one entry; false when it was skipped. */
  private async entry(reader: TarReader, e: TarEntry, rel: string): Promise<boolean> {
    const special = e.type === 'char' || e.type === 'block' || e.type === 'fifo' || e.type === 'other';
    if (special && this.o.specialFiles === 'skip') return false;
    if (e.type === 'other') throw new ExtractError(`unsupported tar entry type ${q(e.typeflag)} for ${q(e.name)}`);
    if (e.type === 'link' && this.mapName(e.linkname) === rel) return false; // a link to itself: nothing to do
    const target = e.type === 'link' ? await this.linkTarget(e) : undefined;
    try {
      const parent = parentOf(rel);
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      const dir = await this.dirs.get(parent).catch((err: unknown) => {
        if (isErrno(err, 'EROFS')) throw new ExtractError((err as Error).message.replace(/^EROFS: /, ''));
        if (isErrno(err, 'ENOTDIR')) throw new ExtractError(`cannot extract ${q(e.name)}: ${this.shown(parent)} is not a directory`);
        throw err;
      });
      this.refuseIfReadOnly(dir);
      const ids = this.ids(e);
      const existing = await this.fs.lstat(dir, name);
      if (existing) {
        const shown = this.shown(rel);
        if (this.o.noOverwriteDirNonDir && existing.isDirectory() && e.type !== 'dir') {
          throw new ExtractError(`cannot overwrite directory ${q(shown)} with non-directory ${q(shown)}`);
        }
        if (this.o.noOverwriteDirNonDir && !existing.isDirectory() && e.type === 'dir') {
          throw new ExtractError(`cannot overwrite non-directory ${q(shown)} with directory ${q(shown)}`);
        }
        if (!(existing.isDirectory() && e.type === 'dir')) {
          await this.fs.remove(dir, name).catch((err: unknown) => {
            if (isErrno(err, 'EBUSY')) throw new ExtractError(`cannot replace ${q(shown)}: it is a mount point`);
            throw err;
          });
          if (existing.isDirectory()) await this.dirs.forget(rel);
        }
      }
      const path = at(dir.fd, name);
      switch (e.type) {
        case 'dir': {
          if (!existing?.isDirectory()) await fsp.mkdir(path, 0o700);
          const sub = await this.fs.openChild(dir, name);
          try {
            if (ids) await fdChown(sub.fd, ids.uid, ids.gid);
            await fdChmod(sub.fd, e.mode);
          } finally {
            await this.fs.closeDir(sub);
          }
          this.dirTimes.set(rel, { atime: e.atime, mtime: e.mtime });
          return true;
        }
        case 'file': {
          const fd = await fdOpen(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
          try {
            for (let chunk = await reader.read(WRITE_CHUNK); chunk !== null; chunk = await reader.read(WRITE_CHUNK)) {
              let off = 0;
              while (off < chunk.length) off += (await fdWrite(fd, chunk, off, chunk.length - off)).bytesWritten;
            }
            if (ids) await fdChown(fd, ids.uid, ids.gid);
            await fdChmod(fd, e.mode);
            await fdUtimes(fd, e.atime, e.mtime);
          } finally {
            await closeFd(fd);
          }
          return true;
        }
        case 'symlink':
          await fsp.symlink(e.linkname, path);
          break;
        case 'link':
          try {
            await fsp.link(at(target!.dir.fd, target!.name), path);
          } catch (err) {
            if (isErrno(err, 'EXDEV')) throw new ExtractError(`invalid hardlink ${q(e.name)} -> ${q(e.linkname)}: the target is on another mount`);
            throw err;
          }
          return true; // a hard link shares its target's owner, mode and times
        default:
          await mknodAt(dir.fd, name, e);
          break;
      }
      if (ids) await fsp.lchown(path, ids.uid, ids.gid);
      await fsp.lutimes(path, e.atime, e.mtime);
      return true;
    } finally {
      if (target) await this.fs.closeDir(target.dir);
    }
  }
}

/** Node cannot mknod: mknod(1) gets the directory as its fd 3 and creates the node inside it. */
function mknodAt(dirFd: number, name: string, e: TarEntry): Promise<void> {
  const kind = e.type === 'fifo' ? ['p'] : [e.type === 'char' ? 'c' : 'b', String(e.devmajor), String(e.devminor)];
  const mode = (e.mode & 0o7777).toString(8);
  return new Promise((resolve, reject) => {
    const child = spawn('mknod', ['-m', mode, `/proc/self/fd/3/${name}`, ...kind], { stdio: ['ignore', 'ignore', 'pipe', dirFd] });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`creating ${q(e.name)} failed: ${err.trim() || `exit ${code}`}`))));
  });
}
