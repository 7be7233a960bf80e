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
 * (scoped-fs.ts) and nothing in it is followed.
 */
import { spawn } from 'node:child_process';
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../common/errors.js';
import { at, closeFd, lstatAt, openDirAt, openTrustedDir } from './scoped-fs.js';

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
async function inLowers(lowerDirs: string[], p: string): Promise<Stats | undefined> {
  for (const dir of lowerDirs) {
    const st = await fsp.lstat(path.join(dir, p)).catch(() => undefined);
    if (st === undefined) continue;
    return isWhiteout(st) ? undefined : st;
  }
  return undefined;
}

/** Reads trusted.overlay.opaque of `name` in `dirFd` (getfattr gets the directory as its fd 3). */
function isOpaque(dirFd: number, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('getfattr', ['-h', '--only-values', '-n', 'trusted.overlay.opaque', `/proc/self/fd/3/${name}`], {
      stdio: ['ignore', 'pipe', 'ignore', dirFd],
    });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString('latin1')));
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0 && out === 'y'));
  });
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

  const walk = async (dirFd: number, dirPath: string, hidden: boolean): Promise<void> => {
    for (const name of (await fsp.readdir(at(dirFd))).sort()) {
      const p = dirPath === '/' ? `/${name}` : `${dirPath}/${name}`;
      if (RUNTIME_PATHS.has(p)) continue;
      const st = await lstatAt(dirFd, name);
      if (st === undefined) continue;
      if (isWhiteout(st)) {
        record(p, CHANGE_DELETED);
        continue;
      }
      // Below an opaque directory the lower layers are hidden: everything there is new.
      const lower = hidden ? undefined : await inLowers(lowerDirs, p);
      let hide = hidden;
      if (st.isDirectory()) {
        if (lower !== undefined && (await isOpaque(dirFd, name))) {
          record(p, CHANGE_DELETED);
          hide = true;
        } else if (lower?.isDirectory()) {
          // Copied up because of what is inside: a change only if its own metadata differs.
          if (lower.mode !== st.mode || lower.uid !== st.uid || lower.gid !== st.gid) {
            record(p, CHANGE_MODIFIED);
            changedDirs.add(p);
          }
        } else if (lower === undefined && RUNTIME_PARENTS.has(p) && !(await holdsOwnChanges(dirFd, name, p))) {
          continue;
        } else {
          record(p, lower === undefined ? CHANGE_ADDED : CHANGE_MODIFIED);
          changedDirs.add(p);
        }
        const sub = await openDirAt(dirFd, name);
        try {
          await walk(sub, p, hide);
        } finally {
          await closeFd(sub);
        }
        continue;
      }
      record(p, lower === undefined ? CHANGE_ADDED : CHANGE_MODIFIED);
    }
  };

  /** Whether a directory holds anything besides the runtime's paths. */
  const holdsOwnChanges = async (dirFd: number, name: string, p: string): Promise<boolean> => {
    const sub = await openDirAt(dirFd, name);
    try {
      return (await fsp.readdir(at(sub))).some((c) => !RUNTIME_PATHS.has(`${p}/${c}`));
    } finally {
      await closeFd(sub);
    }
  };

  const rootFd = await openTrustedDir(upperDir).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return undefined; // never started: nothing changed
    throw err;
  });
  if (rootFd === undefined) return changes;
  try {
    await walk(rootFd, '/', false);
  } finally {
    await closeFd(rootFd);
  }
  return changes;
}
