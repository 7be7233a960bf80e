/**
 * COPY and ADD, planned before anything is written so the cache can be asked first: sources
 * found (context, another stage or image, heredocs, ADD's URLs and local archives), the
 * destination resolved against WORKDIR and the image's own directories, and a created_by text
 * that names the content hash (`COPY dir:<sha256> in /app/`), as Docker's history does.
 * Writing goes through containers/extract.ts into the step's rootfs, like `docker cp`, so the
 * image's own symlinks are resolved inside it and nothing lands outside.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { invalid, isErrno } from '../common/errors.js';
import { extractArchive } from '../containers/extract.js';
import { closeFd, openDirIn, openTrustedDir } from '../../hostfs/rooted.js';
import { resolveUser } from '../runtime/user.js';
import { expandWord, expandWords, type Instruction } from './dockerfile.js';
import { lookupIn, type StageState } from './metadata.js';
import { findSources, hashPlan, readNoFollow, planCopy, planTar, type FoundSource, type InlineFile, type PlannedEntry } from './sources.js';

export interface CopyPlan {
  createdBy: string;
  /** Writes the copy into `rootfs` (the step container's mounted rootfs or a scratch layer dir). */
  apply(rootfs: string, signal: AbortSignal): Promise<void>;
}

/** Where the files come from: the context, or a mounted rootfs for --from (released by the caller). */
export interface CopyRoots {
  context: string;
  /** Mounts the named stage or image and runs `fn` with its rootfs. */
  withFrom<T>(from: string, fn: (rootfs: string, imageId: string) => Promise<T>): Promise<T>;
}

const MAX_URL_BYTES = 1 << 30;

/** Splits the instruction into its sources and destination, substituted. */
function words(ins: Instruction, s: StageState): string[] {
  const lookup = lookupIn(s);
  const w = ins.json ? ins.args.map((a) => expandWord(a, lookup, s.escape)) : expandWords(ins.args.join(' '), lookup, s.escape);
  if (w.length < 2) throw invalid(`${ins.keyword} requires at least two arguments, but only ${w.length} was provided. Destination could not be determined.`);
  return w;
}

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

async function fetchUrl(url: string, signal: AbortSignal): Promise<InlineFile> {
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    throw invalid(`ADD failed: cannot fetch ${url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  if (!res.ok) throw invalid(`ADD failed: fetching ${url}: ${res.status} ${res.statusText}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += c.length;
    if (size > MAX_URL_BYTES) throw invalid(`ADD failed: ${url} is larger than ${MAX_URL_BYTES} bytes`);
    chunks.push(Buffer.from(c));
  }
  const base = path.posix.basename(new URL(url).pathname) || 'index.html';
  const lm = res.headers.get('last-modified');
  return { name: base, data: Buffer.concat(chunks), mode: 0o600, mtime: lm ? Math.floor(Date.parse(lm) / 1000) || 0 : 0 };
}

/** A local tar (plain or gzip) that ADD extracts instead of copying. */
async function isArchive(file: string): Promise<boolean> {
  const fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const b = Buffer.alloc(262);
    const { bytesRead } = await fh.read(b, 0, 262, 0);
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    return bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    await fh.close();
  }
}

function parseChmod(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-7]{3,4}$/.test(v)) throw invalid(`invalid chmod parameter: ${v}`);
  return parseInt(v, 8);
}

/** --chown: "user[:group]", names looked up in the image's own passwd/group; a lone user is also the group. */
async function chownOwner(rootfs: string, spec: string): Promise<{ uid: number; gid: number }> {
  const u = await resolveUser(rootfs, spec);
  if (spec.includes(':')) return { uid: u.uid, gid: u.gid };
  return /^\d+$/.test(spec) ? { uid: u.uid, gid: u.uid } : { uid: u.uid, gid: u.gid };
}

export async function isDirIn(rootfs: string, p: string): Promise<boolean> {
  const root = await openTrustedDir(rootfs);
  try {
    await closeFd(await openDirIn(root, p));
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) return false;
    throw err;
  } finally {
    await closeFd(root);
  }
}

/**
 * Plans a COPY/ADD. The sources are read (and hashed) now; `apply` writes them. `rootfsForDest`
 * is the step's current rootfs, used to tell whether the destination is an existing directory.
 */
export async function planCopyStep(
  ins: Instruction,
  s: StageState,
  roots: CopyRoots,
  destProbe: (p: string) => Promise<boolean>,
  signal: AbortSignal,
): Promise<CopyPlan> {
  const add = ins.keyword === 'ADD';
  const all = words(ins, s);
  const rawDest = all[all.length - 1] as string;
  const srcs = all.slice(0, -1);
  const lookup = lookupIn(s);
  const from = ins.flags['from'] !== undefined ? expandWord(ins.flags['from'], lookup, s.escape) : undefined;
  if (from !== undefined && add) throw invalid('ADD does not support --from; use COPY --from');
  const chmod = parseChmod(ins.flags['chmod']);
  const chown = ins.flags['chown'] !== undefined ? expandWord(ins.flags['chown'], lookup, s.escape) : undefined;

  const workdir = s.config.WorkingDir || '/';
  const trailing = rawDest.endsWith('/') || rawDest.endsWith('/.') || rawDest === '.';
  const dest = path.posix.resolve(workdir, rawDest);

  const inline: InlineFile[] = [];
  const localSrcs: string[] = [];
  for (const src of srcs) {
    const hd = /^<<-?["']?([A-Za-z0-9_]+)["']?$/.exec(src);
    const doc = hd ? ins.heredocs.find((h) => h.name === hd[1]) : undefined;
    if (doc) {
      const body = doc.expand ? expandWord(doc.body, lookup, s.escape) : doc.body;
      inline.push({ name: doc.name, data: Buffer.from(body), mode: 0o644, mtime: 0 });
    } else if (isUrl(src)) {
      if (!add) throw invalid(`COPY does not support URLs (${src}); use ADD`);
      inline.push(await fetchUrl(src, signal));
    } else localSrcs.push(src);
  }

  const gather = async (root: string): Promise<{ found: FoundSource[]; archives: FoundSource[] }> => {
    const found: FoundSource[] = [];
    const archives: FoundSource[] = [];
    for (const src of localSrcs) {
      for (const f of await findSources(root, src)) {
        const only = f.entries[0];
        if (add && !f.isDir && only && only.st.isFile() && (await isArchive(path.join(root, only.real)))) archives.push(f);
        else found.push(f);
      }
    }
    return { found, archives };
  };

  const describe = async (root: string, fromId?: string): Promise<{ plan: PlannedEntry[]; archives: FoundSource[]; createdBy: string }> => {
    const { found, archives } = await gather(root);
    const count = found.length + archives.length + inline.length;
    if (count > 1 && !trailing) {
      throw invalid(`When using ${ins.keyword} with more than one source file, the destination must be a directory and end with a /`);
    }
    const destIsDir = trailing || count > 1 || (await destProbe(dest));
    const plan = planCopy(root, found, inline, dest, destIsDir, { keepOwners: fromId !== undefined, ...(chmod !== undefined ? { chmod } : {}) });
    const h = createHash('sha256').update(await hashPlan(plan));
    for (const a of archives) {
      for await (const c of readNoFollow(path.join(root, (a.entries[0] as { real: string }).real))) h.update(c);
    }
    const kind = count > 1 ? 'multi' : found[0]?.isDir ? 'dir' : 'file';
    const flags = [fromId ? `--from=${fromId}` : '', chown !== undefined ? `--chown=${chown}` : '', chmod !== undefined ? `--chmod=${ins.flags['chmod']}` : '']
      .filter((f) => f !== '')
      .join(' ');
    const createdBy = `/bin/sh -c #(nop) ${ins.keyword} ${flags ? flags + ' ' : ''}${kind}:${h.digest('hex')} in ${dest}${trailing ? '/' : ''} `;
    return { plan, archives, createdBy };
  };

  const write = async (root: string, rootfs: string, plan: PlannedEntry[], archives: FoundSource[], sig: AbortSignal): Promise<void> => {
    const owner = chown !== undefined ? await chownOwner(rootfs, chown) : undefined;
    const ref = 'the build step';
    if (plan.length > 0) {
      await extractArchive(rootfs, '/', planTar(plan, sig), { ref, noOverwriteDirNonDir: false, signal: sig, ...(owner ? { owner } : {}) });
    }
    for (const a of archives) {
      const r = await openTrustedDir(rootfs);
      try {
        await closeFd(await openDirIn(r, dest, { mode: 0o755, uid: 0, gid: 0 }));
      } finally {
        await closeFd(r);
      }
      const body = readNoFollow(path.join(root, (a.entries[0] as { real: string }).real));
      await extractArchive(rootfs, dest, Readable.from(body), { ref, noOverwriteDirNonDir: false, signal: sig, ...(owner ? { owner } : {}) });
    }
  };

  if (from === undefined) {
    const d = await describe(roots.context);
    return { createdBy: d.createdBy, apply: (rootfs, sig) => write(roots.context, rootfs, d.plan, d.archives, sig) };
  }
  // --from: the source rootfs is mounted twice (to plan, then to write); planning only reads it.
  const described = await roots.withFrom(from, (root, id) => describe(root, id));
  return {
    createdBy: described.createdBy,
    apply: (rootfs, sig) => roots.withFrom(from, async (root) => write(root, rootfs, (await describe(root, 'x')).plan, described.archives, sig)),
  };
}
