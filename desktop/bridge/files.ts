/**
 * A container's files through the archive API, the same endpoints `docker cp` uses, so it works
 * on any Docker-compatible engine and on stopped containers. Listing a directory reads the tar of
 * that directory and keeps the headers of its direct children (their data is skipped); reading a
 * file takes the tar of the file; writing builds a one-file tar and PUTs it into the directory.
 */
import { Readable } from 'node:stream';
import { TAR_END, TarReader, encodeHeader, tarPadding } from '../../client/index.js';
import type { EngineClient, TarHeader } from '../../client/index.js';
import type { FileEntry } from '../../types/desktop-api.js';
import { BridgeFailure, invalid } from './errors.js';

/** Largest file readFile hands over (the bytes cross IPC as base64). */
export const MAX_READ_BYTES = 64 * 1024 * 1024;

const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;

function entryType(t: TarHeader['type']): FileEntry['type'] {
  if (t === 'file' || t === 'hardlink') return 'file';
  if (t === 'directory') return 'dir';
  if (t === 'symlink') return 'symlink';
  return 'other';
}

/**
 * The direct children of the archive's root, from its headers. The first entry is the root itself,
 * named after the path ("srv/", "./" for "dir/.", "/" for the root directory); children are the
 * entries one level below it.
 */
export function childrenOf(headers: TarHeader[]): FileEntry[] {
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
    if (h.type === 'symlink' || h.type === 'hardlink') entry.linkTarget = h.linkname;
    out.set(name, entry);
  }
  const dirsFirst = (e: FileEntry): number => (e.type === 'dir' ? 0 : 1);
  return [...out.values()].sort((a, b) => dirsFirst(a) - dirsFirst(b) || a.name.localeCompare(b.name));
}

async function readHeaders(tar: AsyncIterable<Buffer>, onData?: (header: TarHeader, chunk: Buffer) => void): Promise<TarHeader[]> {
  const reader = new TarReader();
  const headers: TarHeader[] = [];
  let current: TarHeader | undefined;
  for await (const chunk of tar) {
    for (const ev of reader.push(chunk)) {
      if (ev.kind === 'entry') {
        current = ev.header;
        headers.push(ev.header);
      } else if (ev.kind === 'data' && current && onData) onData(current, ev.chunk);
    }
    if (reader.done) break;
  }
  if (!reader.done) reader.end();
  return headers;
}

export async function listDir(client: EngineClient, id: string, dir: string): Promise<FileEntry[]> {
  const stat = await client.containers.statPath(id, dir);
  if ((stat.mode & GO_MODE_DIR) === 0 && !((stat.mode & GO_MODE_SYMLINK) !== 0 && stat.linkTarget)) throw invalid(`${dir} is not a directory`);
  // A trailing "/." makes the engine follow a symlinked directory and name the root "."
  const path = dir === '/' ? '/' : `${dir.replace(/\/+$/, '')}/.`;
  const { tar } = await client.containers.getArchive(id, path);
  try {
    return childrenOf(await readHeaders(tar as AsyncIterable<Buffer>));
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
  const parts: Buffer[] = [];
  let size = 0;
  let first: TarHeader | undefined;
  try {
    await readHeaders(tar as AsyncIterable<Buffer>, (h, chunk) => {
      first ??= h;
      if (h !== first) return;
      size += chunk.length;
      if (size > MAX_READ_BYTES) throw new BridgeFailure(`${path} grew above ${MAX_READ_BYTES} bytes while it was read`, 413);
      parts.push(chunk);
    });
  } finally {
    tar.destroy();
  }
  return { name: path.split('/').filter(Boolean).pop() ?? path, base64: Buffer.concat(parts).toString('base64'), size };
}

/** A tar holding one regular file. */
export function oneFileTar(name: string, data: Buffer, mtime = Math.floor(Date.now() / 1000)): Buffer {
  const header = encodeHeader({ name, type: 'file', mode: 0o644, size: data.length, mtime, uid: 0, gid: 0, linkname: '' });
  return Buffer.concat([header, data, tarPadding(data.length), TAR_END]);
}

export async function writeFile(client: EngineClient, id: string, dir: string, name: string, base64: string): Promise<void> {
  if (name.includes('/') || name === '.' || name === '..' || name.includes('\0')) throw invalid(`"${name}" is not a file name`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw invalid('"base64" is not base64');
  const data = Buffer.from(base64, 'base64');
  await client.containers.putArchive(id, dir, Readable.from([oneFileTar(name, data)]));
}
