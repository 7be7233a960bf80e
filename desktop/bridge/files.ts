/**
 * A container's files through the archive API, the same endpoints `docker cp` uses, so it works
 * on any Docker-compatible engine and on stopped containers. Listing a directory reads the tar of
 * that directory and keeps the headers of its direct children (their data is skipped); reading a
 * file takes the tar of the file; writing builds a one-file tar and PUTs it into the directory.
 */
import { Readable } from 'node:stream';
import { TarReader, tarBytes } from '../../client/index.js';
import type { EngineClient, TarEntry } from '../../client/index.js';
import type { FileEntry } from '../../types/desktop-api.js';
import { BridgeFailure, invalid } from './errors.js';

/** Largest file readFile hands over (the bytes cross IPC as base64). */
export const MAX_READ_BYTES = 64 * 1024 * 1024;

const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;

function entryType(t: TarEntry['type']): FileEntry['type'] {
  if (t === 'file' || t === 'link') return 'file';
  if (t === 'dir') return 'dir';
  if (t === 'symlink') return 'symlink';
  return 'other';
}

/**
 * The direct children of the archive's root, from its headers. The first entry is the root itself,
 * named after the path ("srv/", "./" for "dir/.", "/" for the root directory); children are the
 * entries one level below it.
 */
export function childrenOf(headers: TarEntry[]): FileEntry[] {
  const root = headers[0];
  if (!root) return [];
  const prefix = root.name.endsWith('/') ? root.name : `${root.name}/`;
  const out = new Map<string, FileEntry>();
  for (const h of headers.slice(1)) {
    if (!h.name.startsWith(prefix)) continue;
    const name = h.name.slice(prefix.length).replace(/\/$/, '');
    if (!name || name.includes('/')) continue;
    const entry: FileEntry = {
      name,
      type: entryType(h.type),
      size: h.type === 'file' ? h.size : 0,
      mode: h.mode,
      mtime: new Date(h.mtime * 1000).toISOString(),
    };
    if (h.type === 'symlink' || h.type === 'link') entry.linkTarget = h.linkname;
    out.set(name, entry);
  }
  const dirsFirst = (e: FileEntry): number => (e.type === 'dir' ? 0 : 1);
  return [...out.values()].sort((a, b) => dirsFirst(a) - dirsFirst(b) || a.name.localeCompare(b.name));
}

async function readHeaders(tar: AsyncIterable<Uint8Array>, onData?: (header: TarEntry, chunk: Uint8Array) => void): Promise<TarEntry[]> {
  const reader = new TarReader(tar);
  const headers: TarEntry[] = [];
  for (let e = await reader.next(); e !== null; e = await reader.next()) {
    headers.push(e);
    if (onData) for await (const chunk of reader.body()) onData(e, chunk);
  }
  return headers;
}

export async function listDir(client: EngineClient, id: string, dir: string): Promise<FileEntry[]> {
  const stat = await client.containers.statPath(id, dir);
  if ((stat.mode & GO_MODE_DIR) === 0 && !((stat.mode & GO_MODE_SYMLINK) !== 0 && stat.linkTarget)) throw invalid(`${dir} is not a directory`);
  // A trailing "/." makes the engine follow a symlinked directory and name the root "."
  const path = dir === '/' ? '/' : `${dir.replace(/\/+$/, '')}/.`;
  const { tar } = await client.containers.getArchive(id, path);
  try {
    return childrenOf(await readHeaders(tar as AsyncIterable<Uint8Array>));
  } finally {
    tar.destroy();
  }
}

export async function readFile(client: EngineClient, id: string, path: string): Promise<{ name: string; base64: string; size: number }> {
  let stat = await client.containers.statPath(id, path);
  let target = path;
  if ((stat.mode & GO_MODE_SYMLINK) !== 0 && stat.linkTarget) {
    target = stat.linkTarget.startsWith('/') ? stat.linkTarget : `${path.replace(/[^/]*$/, '')}${stat.linkTarget}`;
    stat = await client.containers.statPath(id, target);
  }
  if ((stat.mode & GO_MODE_DIR) !== 0) throw invalid(`${path} is a directory`);
  if (stat.size > MAX_READ_BYTES) throw new BridgeFailure(`${path} is ${stat.size} bytes; files above ${MAX_READ_BYTES} bytes are not opened here`, 413);
  const { tar } = await client.containers.getArchive(id, target);
  const parts: Uint8Array[] = [];
  let size = 0;
  let first: TarEntry | undefined;
  try {
    await readHeaders(tar as AsyncIterable<Uint8Array>, (h, chunk) => {
      first ??= h;
      if (h !== first) return;
      size += chunk.length;
      if (size > MAX_READ_BYTES) throw new BridgeFailure(`${path} grew above ${MAX_READ_BYTES} bytes while it was read`, 413);
      parts.push(chunk.slice());
    });
  } finally {
    tar.destroy();
  }
  return { name: path.split('/').filter(Boolean).pop() ?? path, base64: Buffer.concat(parts).toString('base64'), size };
}

/** A tar holding one regular file. */
export function oneFileTar(name: string, data: Buffer, mtime = Math.floor(Date.now() / 1000)): Buffer {
  const tar = tarBytes([{ header: { name, type: 'file', mode: 0o644, size: data.length, mtime, uid: 0, gid: 0 }, data }]);
  return Buffer.from(tar.buffer, tar.byteOffset, tar.length);
}

export async function writeFile(client: EngineClient, id: string, dir: string, name: string, base64: string): Promise<void> {
  if (name.includes('/') || name === '.' || name === '..' || name.includes('\0')) throw invalid(`"${name}" is not a file name`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw invalid('"base64" is not base64');
  const data = Buffer.from(base64, 'base64');
  await client.containers.putArchive(id, dir, Readable.from([oneFileTar(name, data)]));
}
