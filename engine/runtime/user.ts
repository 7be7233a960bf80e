/**
 * Reading and preparing things inside a container's root filesystem before it starts: the user
 * ("name", "uid", "name:group", "uid:gid") resolved against the image's /etc/passwd and
 * /etc/group, and the working directory.
 *
 * The rootfs is untrusted (an image, or a container that ran before): any path in it may be a
 * symlink pointing anywhere. Paths are therefore resolved the way the container itself would see
 * them, with the rootfs as "/" (absolute links are re-rooted, ".." stops at the root), and every
 * file we open is checked afterwards to really lie inside the rootfs (/proc/self/fd), which closes
 * the window between resolving and opening.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import { invalid, isBerthError, isErrno } from '../common/errors.js';
import type { ResolvedUser } from './types.js';

/** Linux follows at most 40 symlinks in one lookup. */
const MAX_SYMLINKS = 40;
/** /etc/passwd and /etc/group larger than this are refused (a hostile image could ship gigabytes). */
const MAX_DB_BYTES = 16 * 1024 * 1024;
/** Docker's and runc's range for uids and gids. */
const MAX_ID = 2147483647;

// ------------------------------------------------------------------------------ paths in the rootfs

/**
 * Resolves `p` (a path inside the container) to a host path under `root`, following symlinks as
 * the container would: absolute targets are taken relative to `root`, ".." never climbs above it.
 * Components that don't exist are appended as they are (callers may create them). The result is
 * always `root` or below it, lexically; see openInRoot() for opening it safely.
 */
export async function resolveInRoot(root: string, p: string): Promise<string> {
  const rootAbs = path.resolve(root);
  const pending = splitPath(p);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(rootAbs, ...resolved, part);
    let st;
    try {
      st = await fsp.lstat(candidate);
    } catch (err) {
      // A missing component (or a file used as a directory): keep the rest as written.
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        resolved.push(part);
        continue;
      }
      throw err;
    }
    if (!st.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw invalid(`too many levels of symbolic links resolving ${p} in the container`, 'ELOOP');
    }
    const target = await fsp.readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...splitPath(target));
  }
  return path.join(rootAbs, ...resolved);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

function isWithin(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith('/') ? root : root + '/');
}

/**
 * Opens a regular file inside the rootfs read-only, or returns undefined if it doesn't exist.
 * The final component is opened with O_NOFOLLOW, FIFOs don't block the open (O_NONBLOCK), and the
 * opened file's real path is checked to lie inside the rootfs.
 */
async function openInRoot(root: string, p: string): Promise<fsp.FileHandle | undefined> {
  const realRoot = await fsp.realpath(root);
  const hostPath = await resolveInRoot(realRoot, p);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(hostPath, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    if (isErrno(err, 'ELOOP')) throw invalid(`${p} in the container is a symbolic link that changed while it was being read`);
    throw err;
  }
  try {
    const actual = await fsp.readlink(`/proc/self/fd/${fh.fd}`);
    if (!isWithin(realRoot, actual)) {
      throw invalid(`${p} in the container resolves outside the container's root filesystem`);
    }
    const st = await fh.stat();
    if (!st.isFile()) throw invalid(`${p} in the container is not a regular file`);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Reads a small text file inside the rootfs (see openInRoot); undefined if it doesn't exist. */
export async function readFileInRoot(root: string, p: string, maxBytes = MAX_DB_BYTES): Promise<string | undefined> {
  const fh = await openInRoot(root, p);
  if (fh === undefined) return undefined;
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw invalid(`${p} in the container is too large (${size} bytes)`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * Creates the working directory inside the rootfs if it is missing, as Docker does at start: mode
 * 0755, owned by root (`owner`, 0:0 unless given). An existing directory is
 * left alone; an existing non-directory is an error ("Cannot mkdir: /x is not a directory").
 * Returns the host path of the directory.
 */
export async function ensureWorkingDir(root: string, dir: string, owner: { uid: number; gid: number } = { uid: 0, gid: 0 }): Promise<string> {
  if (!dir.startsWith('/')) throw invalid(`the working directory '${dir}' is invalid, it needs to be an absolute path`);
  const realRoot = await fsp.realpath(root);
  const hostPath = await resolveInRoot(realRoot, dir);
  const rel = path.relative(realRoot, hostPath);
  let cur = realRoot;
  for (const part of rel === '' ? [] : rel.split('/')) {
    cur = path.join(cur, part);
    try {
      await fsp.mkdir(cur, 0o755);
      await fsp.chmod(cur, 0o755); // whatever the daemon's umask
      // Only root can give a directory away (and a non-root daemon's containers run as itself).
      if (process.getuid?.() === 0) await fsp.chown(cur, owner.uid, owner.gid);
      continue;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) {
        if (isErrno(err, 'ENOTDIR')) throw invalid(`Cannot mkdir: ${dir} is not a directory`);
        throw err;
      }
    }
    // Exists: resolveInRoot followed any symlink already, so anything but a directory here is
    // either a file in the way or a symlink swapped in since; refuse both.
    const st = await fsp.lstat(cur);
    if (!st.isDirectory()) throw invalid(`Cannot mkdir: ${dir} is not a directory`);
  }
  const actual = await fsp.realpath(hostPath);
  if (!isWithin(realRoot, actual)) {
    throw invalid(`the working directory ${dir} resolves outside the container's root filesystem`);
  }
  return hostPath;
}

// ------------------------------------------------------------------------------ passwd and group

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Strict decimal id in Docker's range; undefined for anything else. */
function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** name:password:uid:gid:gecos:home:shell; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (f[0] === undefined || f[0] === '' || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

/** name:password:gid:member,member; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2]);
    if (f[0] === undefined || f[0] === '' || gid === undefined) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    out.push({ name: f[0], gid, members });
  }
  return out;
}

/** "123", "+123", "-1" are numeric (as Go's Atoi sees them); out-of-range numbers are an error. */
function numericArg(arg: string): number | undefined {
  if (!/^[+-]?\d+$/.test(arg)) return undefined;
  const n = Number(arg);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ID) {
    throw invalid(`uids and gids must be in range 0-${MAX_ID}`);
  }
  return n;
}

/**
 * Resolves Docker's User field against the rootfs's /etc/passwd and /etc/group, with Docker's
 * (runc's libcontainer/user) semantics:
 * - "" is root (uid 0); "name" must exist in passwd; a numeric uid may be absent from it (gid 0,
 *   HOME "/"); a numeric argument is always a uid, never a name.
 * - ":group" / "user:group" sets the primary group (a name must exist in /etc/group, a number
 *   need not); with an explicit group there are no supplementary groups, otherwise they are the
 *   groups whose member list names the user.
 */
export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ResolvedUser> {
  const userSpec = spec ?? '';
  const colon = userSpec.indexOf(':');
  const userArg = colon < 0 ? userSpec : userSpec.slice(0, colon);
  const groupArg = colon < 0 ? '' : userSpec.slice(colon + 1);
  const uidArg = userArg === '' ? 0 : numericArg(userArg);
  const gidArg = groupArg === '' ? undefined : numericArg(groupArg);

  const passwdText = await readDb(rootfs, '/etc/passwd');
  let name = '';
  let uid: number;
  let gid = 0;
  let home = '/';
  const entry =
    passwdText === undefined ? undefined : parsePasswd(passwdText).find((e) => (uidArg !== undefined ? e.uid === uidArg : e.name === userArg));
  if (entry !== undefined) {
    ({ name, uid, gid } = entry);
    if (entry.home !== '') home = entry.home;
  } else if (uidArg !== undefined) {
    uid = uidArg;
  } else {
    throw invalid(`unable to find user ${userArg}: no matching entries in passwd file`, 'USER_NOT_FOUND');
  }

  let additionalGids: number[] = [];
  if (groupArg !== '' || name !== '') {
    const groupText = await readDb(rootfs, '/etc/group');
    const groups = groupText === undefined ? [] : parseGroup(groupText);
    if (groupArg !== '') {
      const match = groups.find((g) => (gidArg !== undefined ? g.gid === gidArg : g.name === groupArg));
      if (match !== undefined) gid = match.gid;
      else if (gidArg !== undefined) gid = gidArg;
      else throw invalid(`unable to find group ${groupArg}: no matching entries in group file`, 'GROUP_NOT_FOUND');
    } else {
      additionalGids = [...new Set(groups.filter((g) => g.members.includes(name)).map((g) => g.gid))];
    }
  }
  return { uid, gid, additionalGids, home };
}

async function readDb(rootfs: string, file: string): Promise<string | undefined> {
  try {
    return await readFileInRoot(rootfs, file);
  } catch (err) {
    if (isBerthError(err)) throw err;
    throw invalid(`unable to read ${file} in the container: ${(err as Error).message}`);
  }
}

/**
 * HostConfig.GroupAdd against the rootfs's /etc/group, as runc's GetAdditionalGroups does it:
 * an entry is a group name or gid found in the file, else a numeric gid (which need not exist);
 * anything else is "Unable to find group". Returns the gids in order, without duplicates.
 */
export async function resolveGroupAdd(rootfs: string, groups: readonly string[] | null | undefined): Promise<number[]> {
  if (!groups || groups.length === 0) return [];
  const text = await readDb(rootfs, '/etc/group');
  const entries = text === undefined ? [] : parseGroup(text);
  const out: number[] = [];
  for (const g of groups) {
    const found = entries.find((e) => e.name === g || String(e.gid) === g);
    let gid = found?.gid;
    if (gid === undefined) {
      if (!/^[+-]?\d+$/.test(g)) throw invalid(`Unable to find group ${g}: no matching entries in group file`, 'GROUP_NOT_FOUND');
      gid = numericArg(g) as number;
    }
    if (!out.includes(gid)) out.push(gid);
  }
  return out;
}
