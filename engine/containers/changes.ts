/**
 * `docker diff` (GET /containers/{id}/changes): what the container changed, read from its
 * overlay upper directory, with dockerd's rules for overlay:
 *  - a character device 0:0 in upper is a whiteout: the path was deleted (Kind 2);
 *  - a directory marked opaque (xattr trusted.overlay.opaque=y) that exists in a lower layer
 *    was deleted and made again: it is reported deleted, and what it holds now is added;
 *  - anything else in upper is added (1), or modified (0) when a lower layer has it; a
 *    directory that is only in upper because something inside it changed is not itself a
 *    change, but the parent of every added or deleted path is reported modified.
 * Paths the runtime creates for every container (mount points for /proc, /sys, /dev and the
 * three /etc files bind-mounted from the container's directory, /.dockerenv) are left out, as
 * dockerd's init layer keeps them out of its diff.
 *
 * The upper directory is written by the container, so it is walked through directory fds
 * (hostfs/walk.ts) and nothing in it is followed; the lower layers are looked up the same way.
 */
import type { Stats } from 'node:fs';
import path from 'node:path';
import { TreeLookup } from '../../hostfs/deep.js';
import { isErrno } from '../../hostfs/fd.js';
import { RootedFs, type RootedDir } from '../../hostfs/rooted.js';
import { walkTree } from '../../hostfs/walk.js';
import { readXattr } from '../../hostfs/xattrs.js';

export const CHANGE_MODIFIED = 0;
export const CHANGE_ADDED = 1;
export const CHANGE_DELETED = 2;

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

const RUNTIME_PATHS = new Set(['/proc', '/sys', '/dev', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/.dockerenv']);
/** Directories that may exist in upper only to hold the runtime's paths. */
const RUNTIME_PARENTS = new Set(['/etc']);

const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

/** The lower layers' view of a path: the first layer that has it, or a whiteout above it, decides. */
async function inLowers(lowers: TreeLookup[], p: string): Promise<Stats | undefined> {
  for (const lower of lowers) {
    const st = await lower.lstat(p.slice(1));
    if (st === undefined) continue;
    return isWhiteout(st) ? undefined : st;
  }
  return undefined;
}

export async function containerChanges(upperDir: string, lowerDirs: string[]): Promise<Change[]> {
  const changes: Change[] = [];
  const changedDirs = new Set<string>();
  const record = (p: string, kind: Change['Kind']): void => {
    const parent = path.posix.dirname(p);
    if (kind !== CHANGE_MODIFIED && parent !== '/' && !changedDirs.has(parent)) {
      changes.push({ Path: parent, Kind: CHANGE_MODIFIED });
      changedDirs.add(parent);
    }
    changes.push({ Path: p, Kind: kind });
  };

  let fs: RootedFs;
  try {
    fs = await RootedFs.open(upperDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return changes; // never started: nothing changed
    throw err;
  }
  const lowers: TreeLookup[] = [];
  try {
    for (const dir of lowerDirs) lowers.push(await TreeLookup.open(dir));
    /** Paths below an opaque directory: the lower layers are hidden there, everything is new. */
    const hidden: string[] = [];
    const isHidden = (p: string): boolean => hidden.some((h) => p.startsWith(`${h}/`));
    await walkTree(fs, fs.root, async (e) => {
      const p = e.path;
      if (RUNTIME_PATHS.has(p)) return false;
      const st = e.st;
      if (isWhiteout(st)) {
        record(p, CHANGE_DELETED);
        return false;
      }
      const lower = isHidden(p) ? undefined : await inLowers(lowers, p);
      if (!st.isDirectory()) {
        record(p, lower === undefined ? CHANGE_ADDED : CHANGE_MODIFIED);
        return;
      }
      if (lower !== undefined && (await readXattr(e.dir.fd, e.name, 'trusted.overlay.opaque'))?.toString() === 'y') {
        record(p, CHANGE_DELETED);
        hidden.push(p);
      } else if (lower?.isDirectory()) {
        // Copied up because of what is inside: a change only if its own metadata differs.
        if (lower.mode !== st.mode || lower.uid !== st.uid || lower.gid !== st.gid) {
          record(p, CHANGE_MODIFIED);
          changedDirs.add(p);
        }
      } else if (lower === undefined && RUNTIME_PARENTS.has(p) && !(await holdsOwnChanges(fs, e.dir, e.name, p))) {
        return false;
      } else {
        record(p, lower === undefined ? CHANGE_ADDED : CHANGE_MODIFIED);
        changedDirs.add(p);
      }
    });
  } finally {
    for (const l of lowers) await l.close();
    await fs.close();
  }
  return changes;
}

/** Whether a directory holds anything besides the runtime's paths. */
async function holdsOwnChanges(fs: RootedFs, dir: RootedDir, name: string, p: string): Promise<boolean> {
  const sub = await fs.openChild(dir, name);
  try {
    return (await fs.readdir(sub)).some((c) => !RUNTIME_PATHS.has(`${p}/${c}`));
  } finally {
    await fs.closeDir(sub);
  }
}
