/**
 * A layer tar from an unpacked layer directory, for pushing a layer whose original
 * blob is gone. Overlay markers go back to the tar forms of the image spec: a 0/0
 * character device is the whiteout `.wh.<name>`, a directory with
 * trusted.overlay.opaque=y gets a `.wh..wh..opq` entry. Entries are written in
 * sorted order with the files' own modes, owners and (whole-second) times, and a
 * second name of a hard-linked file becomes a link entry, so the same directory
 * always gives the same bytes, hence the same DiffID and blob digest.
 *
 * Not carried: extended attributes other than the opaque marker (e.g.
 * security.capability), which the tar writer does not encode.
 */
import { spawn } from 'node:child_process';
import { createReadStream, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { TarWriter, type TarEntryHeader } from '../common/tar-writer.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

export async function writeLayerTar(dir: string, out: Writable, signal?: AbortSignal): Promise<void> {
  const opaque = await opaqueDirs(dir);
  const tar = new TarWriter(out, signal);
  const links = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const names = (await fsp.readdir(path.join(dir, rel))).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(dir, r);
      const st = await fsp.lstat(abs);
      const base = header(r, st);
      if (st.isDirectory()) {
        await tar.add({ ...base, name: `${r}/`, type: 'dir' });
        if (opaque.has(abs)) await tar.add({ ...base, name: `${r}/${OPAQUE_MARKER}`, type: 'file', mode: 0, size: 0 });
        await walk(r);
      } else if (st.isCharacterDevice() && st.rdev === 0) {
        const whiteout = rel === '' ? `${WHITEOUT_PREFIX}${name}` : `${rel}/${WHITEOUT_PREFIX}${name}`;
        await tar.add({ ...base, name: whiteout, type: 'file', mode: 0, size: 0 });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await tar.add({ ...base, type: 'link', linkname: first });
        } else {
          if (st.nlink > 1) links.set(key, r);
          await tar.add({ ...base, type: 'file', size: st.size }, createReadStream(abs));
        }
      } else if (st.isSymbolicLink()) {
        await tar.add({ ...base, type: 'symlink', linkname: await fsp.readlink(abs) });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const type = st.isCharacterDevice() ? 'char' : 'block';
        await tar.add({ ...base, type, devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) });
      } else if (st.isFIFO()) {
        await tar.add({ ...base, type: 'fifo' });
      }
      // Sockets cannot be archived (Docker skips them too).
    }
  };
  await walk('');
  await tar.finish();
}

function header(name: string, st: Stats): TarEntryHeader {
  return { name, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
}

/** Absolute paths of the directories under `dir` marked opaque, read by one getfattr run. */
function opaqueDirs(dir: string): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const child = spawn('getfattr', ['-R', '-h', '--absolute-names', '-n', 'trusted.overlay.opaque', '-e', 'text', dir], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => (out += s));
    child.on('error', reject);
    // Exit status 1 only says some files lack the attribute.
    child.on('close', () => {
      const found = new Set<string>();
      let file: string | undefined;
      for (const line of out.split('\n')) {
        if (line.startsWith('# file: ')) file = line.slice('# file: '.length);
        else if (file !== undefined && line === 'trusted.overlay.opaque="y"') found.add(file);
      }
      resolve(found);
    });
  });
}
