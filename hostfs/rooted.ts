/**
 * The rooted filesystem: file operations inside a directory tree as if chrooted into it. Layer
 * unpack, `docker cp` both ways, `docker export` / `diff` / `commit`, the builder's context and
 * COPY, and the CLI's local extraction all reach their files through here.
 *
 * The tree is not trusted: a running container can turn any directory into a symlink at any
 * moment (`/target -> /etc`, `/evil -> /`), and an archive can plant one. So a path is never
 * handed to the kernel as `<root>/<path>`. Directories are opened one component at a time with
 * O_NOFOLLOW|O_DIRECTORY, and every operation names its target as `/proc/self/fd/<dirfd>/<name>`
 * (fd.ts): the kernel resolves only `<name>`, which is never followed (lstat, O_NOFOLLOW, unlink,
 * mkdir, symlink, link). Symlinks met while resolving a path are followed in the root's scope:
 * absolute targets restart at the root and ".." never climbs above it (Docker's
 * FollowSymlinkInScope, without the window between resolving and using the result). Paths stay
 * short however deep the tree is, so trees deeper than PATH_MAX work.
 *
 * Mounts (RootMount) are seen through as Docker's container view does: when resolving or walking
 * reaches a mount's destination, it continues in the mount's source (a volume, a bind source, a
 * tmpfs, a single file such as /etc/hosts). Nothing is mounted for this: the view is virtual, so
 * it works the same for running and stopped containers, and read-only mounts are enforced here.
 */
import { spawn } from 'node:child_process';
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import { at, closeFd, DIR_NOFOLLOW, errnoError, fdFstat, fdOpen, isErrno } from './fd.js';

/** Linux follows at most 40 symlinks in one lookup. */
const MAX_SYMLINKS = 40;
/** Directory fds one resolution or walk keeps open; above this, ancestors are reopened through "..". */
const MAX_OPEN_DIRS = 256;

export { at, closeFd, errnoError };

/** How missing directories are created while resolving (extraction creates parents, like MkdirAll). */
export interface CreateDirs {
  mode: number;
  uid: number;
  gid: number;
}

/** Something mounted inside the root. */
export interface RootMount {
  /** Clean absolute path inside the root where it appears ("/vol1", "/etc/hosts"). */
  destination: string;
  /**
   * What is mounted: a host path the caller trusts (a volume's data directory, a bind source, a
   * file), or a function that opens the directory and returns its fd (the RootedFs closes it).
   */
  source: string | (() => Promise<number>);
  readOnly: boolean;
}

/** An open directory inside the root. */
export interface RootedDir {
  readonly fd: number;
  /** Its path inside the root, symlinks resolved ("/" for the root). */
  readonly path: string;
  /** The innermost mount it lies in. */
  readonly mount: RootMount | undefined;
}

export const joinPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const splitPath = (p: string): string[] => p.split('/').filter((s) => s !== '' && s !== '.');

/** Cleans a path to an absolute one, keeping a trailing "/." or "/" (they mean something to docker cp). */
export function cleanAbsPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  let abs = '/' + parts.join('/');
  if (abs !== '/') {
    if (p.endsWith('/.') || p === '.') abs += '/.';
    else if (p.endsWith('/')) abs += '/';
  }
  return abs;
}

// ---------------------------------------------------------------------------
// Primitives on directory fds.

/** Opens a trusted host directory (a rootfs mount point, a layer directory, a destination the user named). */
export function openTrustedDir(dir: string): Promise<number> {
  return fdOpen(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
}

/** Opens the directory `name` inside `dirFd` ('' reopens `dirFd` itself); never follows a symlink. */
export function openDirAt(dirFd: number, name: string): Promise<number> {
  // The magic link itself is a symlink: reopening `dirFd` must follow it (and only it).
  return fdOpen(at(dirFd, name), name === '' ? fsc.O_RDONLY | fsc.O_DIRECTORY : DIR_NOFOLLOW);
}

export async function lstatAt(dirFd: number, name: string): Promise<Stats | undefined> {
  try {
    return await fsp.lstat(at(dirFd, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** mkdir + ownership, tolerating a racing creator; the result is checked by the caller's lstat. */
export async function makeDir(dirFd: number, name: string, c: CreateDirs): Promise<void> {
  try {
    await fsp.mkdir(at(dirFd, name), c.mode);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return;
    throw err;
  }
  await fsp.lchown(at(dirFd, name), c.uid, c.gid);
}

/**
 * Removes `name` in `dirFd` and everything below it, never following a symlink. Deep trees go to
 * coreutils' rm, which walks with openat(2) and so is not limited by PATH_MAX; it gets the
 * directory as its fd 3, and --one-file-system keeps it out of anything mounted below.
 */
export async function removeAt(dirFd: number, name: string): Promise<void> {
  const st = await lstatAt(dirFd, name);
  if (st === undefined) return;
  if (!st.isDirectory()) {
    await fsp.unlink(at(dirFd, name)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
    return;
  }
  try {
    await fsp.rmdir(at(dirFd, name));
    return;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    if (!isErrno(err, 'ENOTEMPTY', 'EEXIST')) throw err;
  }
  await runRm(`/proc/self/fd/3/${name}`, dirFd);
}

/** Removes a trusted host directory tree of any depth (a container's data directory, a scratch dir). */
export async function removeTree(dir: string): Promise<void> {
  try {
    await fsp.lstat(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  await runRm(dir, undefined);
}

function runRm(target: string, fd3: number | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'ignore', 'pipe'];
    if (fd3 !== undefined) stdio.push(fd3);
    const child = spawn('rm', ['-rf', '--one-file-system', '--', target], { stdio });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(Object.assign(new Error(`removing ${target} failed: ${stderr.trim() || `rm exited ${code}`}`), { code: 'EREMOVE' }));
    });
  });
}

// ---------------------------------------------------------------------------
// The rooted view.

interface Frame {
  /** undefined while released (reopened through ".." from the frame above when needed). */
  dir: RootedDir | undefined;
  path: string;
  mount: RootMount | undefined;
  dev: number;
  ino: number;
  /** Owned by the stack (closed by it); the bottom frame is borrowed. */
  owned: boolean;
  /** Never released: ".." from the frame above does not lead back to it (a mount root is above). */
  pinned: boolean;
}

/**
 * A chain of open directories from a start directory down, as resolving and walking need it. At
 * most MAX_OPEN_DIRS stay open: deeper chains release their upper ancestors and reopen them
 * through ".." on the way back, checking that it is still the same directory.
 */
export class DirStack {
  private readonly frames: Frame[] = [];
  private open = 0;

  constructor(bottom: RootedDir, st: { dev: number; ino: number }) {
    this.frames.push({ dir: bottom, path: bottom.path, mount: bottom.mount, dev: st.dev, ino: st.ino, owned: false, pinned: true });
  }

  get depth(): number {
    return this.frames.length;
  }

  top(): RootedDir {
    return this.frames[this.frames.length - 1]!.dir!;
  }

  /** Pushes an owned directory. `viaMount`: it is a mount root, so ".." from it does not lead to the current top. */
  push(dir: RootedDir, st: { dev: number; ino: number }, viaMount: boolean): void {
    if (viaMount) this.frames[this.frames.length - 1]!.pinned = true;
    this.frames.push({ dir, path: dir.path, mount: dir.mount, dev: st.dev, ino: st.ino, owned: true, pinned: false });
    this.open++;
    if (this.open > MAX_OPEN_DIRS) {
      const victim = this.frames.find((f, i) => i < this.frames.length - 1 && f.owned && !f.pinned && f.dir !== undefined);
      if (victim) {
        void closeFd(victim.dir!.fd);
        victim.dir = undefined;
        this.open--;
      }
    }
  }

  /** Back to the parent (reopened if it was released). Returns false at the bottom. */
  async pop(): Promise<boolean> {
    if (this.frames.length <= 1) return false;
    const child = this.frames.pop()!;
    const parent = this.frames[this.frames.length - 1]!;
    try {
      if (parent.dir === undefined) {
        const fd = await openDirAt(child.dir!.fd, '..');
        const st = await fdFstat(fd);
        if (st.dev !== parent.dev || st.ino !== parent.ino) {
          await closeFd(fd);
          throw errnoError('ESTALE', `${parent.path} changed while it was being read`);
        }
        parent.dir = { fd, path: parent.path, mount: parent.mount };
        this.open++;
      }
    } finally {
      await closeFd(child.dir!.fd);
      this.open--;
    }
    return true;
  }

  /** Back to the bottom frame. */
  async popAll(): Promise<void> {
    while (this.frames.length > 1) {
      const f = this.frames.pop()!;
      if (f.dir !== undefined) await closeFd(f.dir.fd);
    }
    this.open = 0;
  }

  /** Takes the top directory out (the caller owns it now) and closes the rest. */
  async detachTop(): Promise<RootedDir> {
    const top = this.frames[this.frames.length - 1]!;
    if (!top.owned) {
      await this.popAll();
      return top.dir!;
    }
    this.frames.pop();
    this.open--;
    await this.popAll();
    return top.dir!;
  }
}

export class RootedFs {
  private readonly mounts = new Map<string, RootMount>();
  /** Directories that have a mount destination directly inside them, and those names. */
  private readonly mountChildren = new Map<string, string[]>();
  private readonly mountFds = new Map<string, Promise<number>>();
  readonly root: RootedDir;
  private rootStat: { dev: number; ino: number } | undefined;

  private constructor(
    rootFd: number,
    private readonly ownsRoot: boolean,
    /** Writes outside every mount are refused (a read-only rootfs). */
    readonly readOnly: boolean,
  ) {
    this.root = { fd: rootFd, path: '/', mount: undefined };
  }

  private addMount(m: RootMount): void {
    const dest = m.destination;
    if (dest === '/' || this.mounts.has(dest)) return;
    this.mounts.set(dest, m);
    const i = dest.lastIndexOf('/');
    const parent = i === 0 ? '/' : dest.slice(0, i);
    const list = this.mountChildren.get(parent) ?? [];
    list.push(dest.slice(i + 1));
    this.mountChildren.set(parent, list);
  }

  /**
   * A view of the trusted directory `root`. Mount destinations are resolved in scope, shallowest
   * first and each through the mounts before it, as they were when mounted (a volume at
   * /var/run/x of an image whose /var/run -> /run appears at /run/x).
   */
  static async open(root: string, opts: { mounts?: readonly RootMount[]; readOnly?: boolean } = {}): Promise<RootedFs> {
    const fs = new RootedFs(await openTrustedDir(root), true, opts.readOnly === true);
    const depth = (p: string): number => splitPath(p).length;
    try {
      for (const m of [...(opts.mounts ?? [])].sort((a, b) => depth(a.destination) - depth(b.destination))) {
        fs.addMount({ ...m, destination: await fs.resolve(m.destination) });
      }
    } catch (err) {
      await fs.close();
      throw err;
    }
    return fs;
  }

  /** A view of an already open directory (the caller keeps owning the fd). */
  static borrow(rootFd: number): RootedFs {
    return new RootedFs(rootFd, false, false);
  }

  async close(): Promise<void> {
    for (const p of this.mountFds.values()) await p.then(closeFd, () => undefined);
    this.mountFds.clear();
    if (this.ownsRoot) await closeFd(this.root.fd);
  }

  /** Runs fn with a view of `root`, closed afterwards. */
  static async with<T>(root: string, opts: { mounts?: readonly RootMount[]; readOnly?: boolean }, fn: (fs: RootedFs) => Promise<T>): Promise<T> {
    const fs = await RootedFs.open(root, opts);
    try {
      return await fn(fs);
    } finally {
      await fs.close();
    }
  }

  async closeDir(d: RootedDir | undefined): Promise<void> {
    if (d !== undefined && d.fd !== this.root.fd) await closeFd(d.fd);
  }

  // ------------------------------------------------------------- mounts

  private childMount(dir: RootedDir, name: string): RootMount | undefined {
    if (this.mounts.size === 0 || !this.mountChildren.get(dir.path)?.includes(name)) return undefined;
    return this.mounts.get(joinPath(dir.path, name));
  }

  /** Whether a mount lies at or below `path` (such a path cannot be removed or replaced). */
  hasMountAtOrBelow(path: string): boolean {
    for (const dest of this.mounts.keys()) if (dest === path || dest.startsWith(path === '/' ? '/' : `${path}/`)) return true;
    return false;
  }

  /** Whether writing inside `dir` is refused, and why (Docker's words). */
  readOnlyReason(dir: RootedDir): string | undefined {
    if (dir.mount) return dir.mount.readOnly ? 'mounted volume is marked read-only' : undefined;
    return this.readOnly ? 'container rootfs is marked read-only' : undefined;
  }

  private mountFd(m: RootMount): Promise<number> {
    let p = this.mountFds.get(m.destination);
    if (!p) {
      p = typeof m.source === 'string' ? openTrustedDir(m.source) : m.source();
      this.mountFds.set(m.destination, p);
    }
    return p;
  }

  private async mountStat(m: RootMount): Promise<Stats> {
    if (typeof m.source === 'string') return fsp.stat(m.source);
    return fdFstat(await this.mountFd(m));
  }

  // ------------------------------------------------------------- lookups

  /** lstat of `name` in `dir` (a mount's source when one is there); undefined when it does not exist. */
  async lstat(dir: RootedDir, name: string): Promise<Stats | undefined> {
    const m = this.childMount(dir, name);
    if (m) return this.mountStat(m);
    return lstatAt(dir.fd, name);
  }

  /** The names in `dir`, mount destinations included. */
  async readdir(dir: RootedDir): Promise<string[]> {
    const names = await fsp.readdir(at(dir.fd));
    const extra = this.mounts.size === 0 ? undefined : this.mountChildren.get(dir.path);
    if (extra) for (const n of extra) if (!names.includes(n)) names.push(n);
    return names;
  }

  /** Where to open the file `name` of `dir`: a path that never follows a symlink at its end, or a file mount's source. */
  filePath(dir: RootedDir, name: string): { path: string; mounted: boolean } {
    const m = this.childMount(dir, name);
    if (m && typeof m.source === 'string') return { path: m.source, mounted: true };
    return { path: at(dir.fd, name), mounted: false };
  }

  /** Opens the child directory `name` of `dir` (a mount's source when one is there); never follows a symlink. */
  async openChild(dir: RootedDir, name: string): Promise<RootedDir> {
    const path = joinPath(dir.path, name);
    const m = this.childMount(dir, name);
    if (m) {
      const st = await this.mountStat(m);
      if (!st.isDirectory()) throw errnoError('ENOTDIR', `not a directory: ${path}`);
      return { fd: await openDirAt(await this.mountFd(m), ''), path, mount: m };
    }
    return { fd: await openDirAt(dir.fd, name), path, mount: dir.mount };
  }

  private async rootIds(): Promise<{ dev: number; ino: number }> {
    this.rootStat ??= await fdFstat(this.root.fd);
    return this.rootStat;
  }

  /** Stats of an open directory, for the ".." check of DirStack. */
  async dirIds(d: RootedDir): Promise<{ dev: number; ino: number }> {
    return d.fd === this.root.fd ? this.rootIds() : fdFstat(d.fd);
  }

  /**
   * Opens the directory that `p` names (relative to `from`, the root by default), following
   * symlinks in scope and `create`-ing missing directories. The caller owns the result
   * (closeDir). Fails with ENOENT, ENOTDIR, ELOOP or EROFS (errno-style errors) like a lookup
   * inside a chroot would.
   */
  async openDir(p: string, create?: CreateDirs, from: RootedDir = this.root): Promise<RootedDir> {
    const stack = new DirStack(from, await this.dirIds(from));
    const pending = splitPath(p);
    const restartFromRoot = async (rest: string[]): Promise<RootedDir> => {
      await stack.popAll();
      return this.openDir(rest.join('/'), create);
    };
    let links = 0;
    try {
      while (pending.length > 0) {
        const part = pending.shift()!;
        if (part === '..') {
          // Above the start directory: the same walk from the root, by the start's resolved path.
          if (stack.depth === 1 && from !== this.root) return await restartFromRoot([from.path, '..', ...pending]);
          await stack.pop();
          continue;
        }
        const top = stack.top();
        let st = await this.lstat(top, part);
        if (st === undefined) {
          if (!create) throw errnoError('ENOENT', `no such file or directory: ${p}`);
          const why = this.readOnlyReason(top);
          if (why) throw errnoError('EROFS', why);
          await makeDir(top.fd, part, create);
          st = await this.lstat(top, part);
          if (st === undefined) throw errnoError('ENOENT', `no such file or directory: ${p}`);
        }
        if (st.isSymbolicLink()) {
          if (++links > MAX_SYMLINKS) throw errnoError('ELOOP', `too many levels of symbolic links: ${p}`);
          const target = await fsp.readlink(at(top.fd, part));
          if (target.startsWith('/')) {
            if (from !== this.root) return await restartFromRoot([target, ...pending]);
            await stack.popAll();
          }
          pending.unshift(...splitPath(target));
          continue;
        }
        if (!st.isDirectory()) throw errnoError('ENOTDIR', `not a directory: ${p}`);
        const child = await this.openChild(top, part);
        stack.push(child, await fdFstat(child.fd), child.mount !== top.mount);
      }
      if (stack.depth > 1) return await stack.detachTop();
      await stack.popAll();
      return { fd: await openDirAt(from.fd, ''), path: from.path, mount: from.mount };
    } catch (err) {
      await stack.popAll();
      throw err;
    }
  }

  /**
   * Splits a path the way Docker's ResolvePath does: the directory (resolved in scope) and the last
   * name, not followed; '' when the path names the directory itself ("/", "/a/.", "/a/link/").
   */
  async locate(absPath: string): Promise<{ dir: RootedDir; name: string }> {
    if (absPath === '/' || absPath.endsWith('/') || absPath.endsWith('/.')) return { dir: await this.openDir(absPath), name: '' };
    const i = absPath.lastIndexOf('/');
    return { dir: await this.openDir(absPath.slice(0, i + 1)), name: absPath.slice(i + 1) };
  }

  /**
   * The path `p` names with every symlink evaluated in scope, as far as it exists (the rest kept as
   * written): Docker's FollowSymlinkInScope, for X-Docker-Container-Path-Stat's linkTarget.
   */
  async resolve(p: string): Promise<string> {
    const resolved: string[] = [];
    const pending = splitPath(p);
    let links = 0;
    let dir: RootedDir | undefined = await this.openDir('/');
    try {
      while (pending.length > 0) {
        const part = pending.shift()!;
        if (part === '..') {
          resolved.pop();
          await this.closeDir(dir);
          dir = await this.openDir('/' + resolved.join('/')).catch(() => undefined);
          continue;
        }
        const st = dir ? await this.lstat(dir, part) : undefined;
        if (st?.isSymbolicLink() && dir) {
          if (++links > MAX_SYMLINKS) throw errnoError('ELOOP', `too many levels of symbolic links: ${p}`);
          const target = await fsp.readlink(at(dir.fd, part));
          if (target.startsWith('/')) {
            resolved.length = 0;
            await this.closeDir(dir);
            dir = await this.openDir('/');
          }
          pending.unshift(...splitPath(target));
          continue;
        }
        resolved.push(part);
        const next: RootedDir | undefined = dir && st?.isDirectory() ? await this.openChild(dir, part).catch(() => undefined) : undefined;
        await this.closeDir(dir);
        dir = next;
      }
    } finally {
      await this.closeDir(dir);
    }
    return '/' + resolved.join('/');
  }

  // ------------------------------------------------------------- changes

  /** Removes `name` in `dir` and everything below it; a mount (or what holds one) is busy, as in Docker. */
  async remove(dir: RootedDir, name: string): Promise<void> {
    const path = joinPath(dir.path, name);
    if (this.hasMountAtOrBelow(path)) throw errnoError('EBUSY', `${path} is a mount point`);
    await removeAt(dir.fd, name);
  }
}

// ---------------------------------------------------------------------------
// Function forms over a root fd without mounts (the builder's context and COPY --from roots).

/**
 * Opens the directory that the path `p` names inside `rootFd`, following symlinks in scope. The
 * caller owns the returned fd.
 */
export async function openDirIn(rootFd: number, p: string, create?: CreateDirs): Promise<number> {
  return (await RootedFs.borrow(rootFd).openDir(p, create)).fd;
}

/** Docker's ResolvePath over a root fd: the directory fd (owned by the caller) and the last name. */
export async function locate(rootFd: number, absPath: string): Promise<{ dirFd: number; name: string }> {
  const { dir, name } = await RootedFs.borrow(rootFd).locate(absPath);
  return { dirFd: dir.fd, name };
}

/** The path of an open directory below `root`, from the kernel's view of it. */
export async function pathInRoot(root: string, dirFd: number): Promise<string> {
  const real = await fsp.readlink(at(dirFd));
  if (real === root) return '/';
  return real.startsWith(root + '/') ? real.slice(root.length) : real;
}

/** The former name of pathInRoot (the builder's sources use it). */
export const containerPathOf = pathInRoot;
