/**
 * Extended attributes, which Node cannot read: getfattr(1) does it, given directories as
 * inherited fds, so no path it sees is longer than PATH_MAX. A tree is read with one recursive
 * run (a physical walk that follows no symlink); a subtree too deep for that run's relative paths
 * is read by a run of its own from its directory (TreeXattrs.enterDir).
 */
import { spawn } from 'node:child_process';
import { openDirAt } from './rooted.js';
import { closeFd } from './fd.js';

/** Below this many bytes of relative path, a recursive run still reaches everything (PATH_MAX is 4096). */
const DEEP_SCAN_BYTES = 2048;

export type XattrMap = Map<string, Map<string, Buffer>>;

/** Runs getfattr with `dirFd` as its working directory; resolves stdout, stderr and the exit code. */
function getfattr(dirFd: number, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('getfattr', args, { cwd: '/proc/self/fd/3', stdio: ['ignore', 'pipe', 'pipe', dirFd] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => {
      if (err.length < 64 * 1024) err += b.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out: Buffer.concat(out).toString('latin1'), err: err.trim() }));
  });
}

/** Every xattr of the tree `dirFd` holds, by path relative to it ('' for the directory itself). */
async function scanTree(dirFd: number): Promise<{ attrs: XattrMap; tooDeep: boolean }> {
  const r = await getfattr(dirFd, ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '.']);
  const lines = r.err === '' ? [] : r.err.split('\n');
  // Paths beyond PATH_MAX fail on their own; the caller reads those subtrees from closer up.
  const tooDeep = lines.length > 0 && lines.every((l) => /File name too long/.test(l));
  if (r.code !== 0 && !tooDeep) throw new Error(`reading extended attributes failed: ${r.err || `getfattr exited ${r.code}`}`);
  return { attrs: parseGetfattr(r.out, '.'), tooDeep };
}

/** The xattrs of a tree as a walker meets it. */
export class TreeXattrs {
  /** Scans by the relative path of their top directory, longest first when looked up. */
  private readonly scans = new Map<string, XattrMap>();
  private deep = false;

  static async scan(dirFd: number): Promise<TreeXattrs> {
    const t = new TreeXattrs();
    const { attrs, tooDeep } = await scanTree(dirFd);
    t.scans.set('', attrs);
    t.deep = tooDeep;
    return t;
  }

  private baseOf(rel: string): string {
    let best = '';
    for (const base of this.scans.keys()) if (base.length > best.length && (rel === base || rel.startsWith(`${base}/`))) best = base;
    return best;
  }

  /** The xattrs of the entry at `rel` (relative to the scanned directory). */
  get(rel: string): Map<string, Buffer> | undefined {
    const base = this.baseOf(rel);
    return this.scans.get(base)!.get(base === '' ? rel : rel === base ? '' : rel.slice(base.length + 1));
  }

  /** Before a walker goes into the directory `rel` (`name` in `parentFd`): reads its subtree on its own if it is deep. */
  async enterDir(rel: string, parentFd: number, name: string): Promise<void> {
    if (!this.deep) return;
    const base = this.baseOf(rel);
    const below = base === '' ? rel : rel.slice(base.length + 1);
    if (Buffer.byteLength(below) < DEEP_SCAN_BYTES) return;
    const fd = await openDirAt(parentFd, name);
    try {
      this.scans.set(rel, (await scanTree(fd)).attrs);
    } finally {
      await closeFd(fd);
    }
  }
}

/** One attribute of `name` in `dirFd` (never following a symlink), or undefined. */
export async function readXattr(dirFd: number, name: string, attr: string): Promise<Buffer | undefined> {
  const r = await getfattr(dirFd, ['-h', '--only-values', '-n', attr, '--', name]).catch(() => undefined);
  return r && r.code === 0 ? Buffer.from(r.out, 'latin1') : undefined;
}

/**
 * Parses `getfattr -d -e base64` output ("# file: <escaped path>" then "name=0s<base64>" lines)
 * into paths relative to `dir`; '.' for a run on "." (getfattr prints those paths without "./").
 */
export function parseGetfattr(text: string, dir: string): XattrMap {
  const root = dir.replace(/\/+$/, '');
  const relative = root === '.';
  const result: XattrMap = new Map();
  let current: Map<string, Buffer> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const file = Buffer.from(unescapeOctal(line.slice(8)), 'latin1').toString('utf8');
      const rel = file === root ? '' : file.startsWith(`${root}/`) ? file.slice(root.length + 1) : relative ? file : undefined;
      current = rel === undefined ? undefined : new Map();
      if (current && rel !== undefined) result.set(rel, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const name = Buffer.from(unescapeOctal(line.slice(0, eq)), 'latin1').toString('utf8');
    current.set(name, decodeValue(line.slice(eq + 1)));
  }
  return result;
}

/** getfattr escapes control characters, '=' and '\' in names as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function decodeValue(raw: string): Buffer {
  if (raw.startsWith('0s')) return Buffer.from(raw.slice(2), 'base64');
  if (raw.startsWith('0x')) return Buffer.from(raw.slice(2), 'hex');
  if (raw.startsWith('"') && raw.endsWith('"')) return Buffer.from(unescapeOctal(raw.slice(1, -1)), 'latin1');
  return Buffer.from(raw, 'latin1');
}
