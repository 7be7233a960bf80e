/**
 * COPY and ADD in two phases, so that a cached step costs no container and no mount:
 *
 * - plan (no rootfs needed): the sources found and hashed (context files, heredocs, ADD's URLs
 *   and local archives), or for --from the ID of the stage result or image they come from, which
 *   already pins their content; the destination resolved against WORKDIR. The plan's `key` is
 *   what the step's result depends on besides the state it runs on; `createdBy` names the
 *   content hash as Docker's history does (`COPY file:<sha256> in /app/`).
 * - apply (a cache miss): the step's rootfs is mounted; whether the destination is an existing
 *   directory decides where a lone file lands (the state the step runs on is part of the cache
 *   key, so that answer is too); --chown names are looked up in the image's passwd/group; the
 *   files go in through containers/extract.ts like `docker cp`, so the image's own symlinks are
 *   resolved inside it and nothing lands outside.
 *
 * COPY --exclude (dockerignore patterns, relative to a directory source or a file's path) and
 * --parents (the `/./` pivot included) change what is copied; --link is accepted and copies as
 * a plain COPY does (the classic builder stacks every step on the one before anyway).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Digest } from '../common/digest.js';
import { invalid } from '../common/errors.js';
import { extractArchive } from '../containers/extract.js';
import { closeFd, openDirIn, openTrustedDir } from '../../hostfs/rooted.js';
import { resolveUser } from '../runtime/user.js';
import { archiveKind, plainTar, type ArchiveKind } from './archives.js';
import { expandWord, expandWords, type Instruction } from './dockerfile.js';
import { ignoreMatcher, parseDockerignore } from './dockerignore.js';
import { lookupIn, type StageState } from './metadata.js';
import { copyEntries, findSources, hashPlan, placeEntries, planTar, readNoFollow, type FoundSource, type InlineFile, type PlannedEntry } from './sources.js';

export interface CopyPlan {
  /** Everything the result depends on besides the state the step runs on. */
  key: string;
  createdBy: string;
  /** Writes the copy into `rootfs`; `isDir` tells whether a path is a directory there now. */
  apply(rootfs: string, isDir: (p: string) => Promise<boolean>, signal: AbortSignal): Promise<void>;
}

/** Where the files come from: the context, or a stage result or image for --from. */
export interface CopyRoots {
  context: string;
  /** The state or image --from names (an earlier stage, or an image, pulled if need be). */
  resolveFrom(from: string): Promise<Digest>;
  /** Runs `fn` with that state's rootfs mounted read-only. */
  withRootfs<T>(id: Digest, fn: (rootfs: string) => Promise<T>): Promise<T>;
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
const isGit = (s: string): boolean => /^git@|^git:\/\/|^(https?|ssh):\/\/.*\.git(#.*)?$/i.test(s);

async function fetchUrl(url: string, checksum: string | undefined, signal: AbortSignal): Promise<InlineFile> {
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
  const data = Buffer.concat(chunks);
  if (checksum !== undefined) {
    const got = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (got !== checksum) throw invalid(`ADD failed: digest mismatch for ${url}: expected ${checksum}, got ${got}`);
  }
  const base = path.posix.basename(new URL(url).pathname) || 'index.html';
  const lm = res.headers.get('last-modified');
  return { name: base, data, mode: 0o600, mtime: lm ? Math.floor(Date.parse(lm) / 1000) || 0 : 0 };
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
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return false;
    throw err;
  } finally {
    await closeFd(root);
  }
}

interface Gathered {
  found: FoundSource[];
  /** ADD's local archives (extracted, not copied) with their compression. */
  archives: Array<{ source: FoundSource; kind: ArchiveKind }>;
}

/**
 * Plans a COPY/ADD without touching the step's rootfs. Context sources are read and hashed now;
 * --from sources are named by the ID of the state they come from.
 */
export async function planCopyStep(ins: Instruction, s: StageState, roots: CopyRoots, signal: AbortSignal): Promise<CopyPlan> {
  const add = ins.keyword === 'ADD';
  const all = words(ins, s);
  const rawDest = all[all.length - 1] as string;
  const srcs = all.slice(0, -1);
  const lookup = lookupIn(s);
  const flag = (name: string): string | undefined => (ins.flags[name] !== undefined ? expandWord(ins.flags[name], lookup, s.escape) : undefined);
  const from = flag('from');
  if (from !== undefined && add) throw invalid('ADD does not support --from; use COPY --from');
  const chmod = parseChmod(flag('chmod'));
  const chown = flag('chown');
  const checksum = flag('checksum');
  if (checksum !== undefined && !/^sha256:[a-f0-9]{64}$/.test(checksum)) throw invalid(`invalid checksum digest format: ${checksum}`);
  if (checksum !== undefined && !(srcs.length === 1 && isUrl(srcs[0] as string))) throw invalid('ADD --checksum is only supported with a single HTTP(S) source');
  const parents = ins.flags['parents'] === 'true';
  const excludes = (ins.listFlags['exclude'] ?? []).map((p) => expandWord(p, lookup, s.escape));
  const exclude = excludes.length > 0 ? ignoreMatcher(parseDockerignore(excludes.join('\n'))) : undefined;

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
    } else if (add && isGit(src)) {
      throw invalid(`ADD ${src}: adding a Git repository is not supported by this builder; clone it into the context first`);
    } else if (isUrl(src)) {
      if (!add) throw invalid(`COPY does not support URLs (${src}); use ADD`);
      inline.push(await fetchUrl(src, checksum, signal));
    } else localSrcs.push(src);
  }

  const gather = async (root: string): Promise<Gathered> => {
    const out: Gathered = { found: [], archives: [] };
    for (const src of localSrcs) {
      for (const f of await findSources(root, src)) {
        const only = f.entries[0];
        const kind = add && !f.isDir && only?.st.isFile() ? await archiveKind(path.join(root, only.real)) : undefined;
        if (kind) out.archives.push({ source: f, kind });
        else out.found.push(f);
      }
    }
    return out;
  };
  const entriesOf = (root: string, g: Gathered, keepOwners: boolean): PlannedEntry[] =>
    copyEntries(g.found, inline, { keepOwners, parents, ...(chmod !== undefined ? { chmod } : {}), ...(exclude ? { exclude } : {}) }, root);
  const checkCount = (g: Gathered): number => {
    const count = g.found.length + g.archives.length + inline.length;
    if (count > 1 && !trailing) {
      throw invalid(`When using ${ins.keyword} with more than one source file, the destination must be a directory and end with a /`);
    }
    return count;
  };

  const write = async (root: string, rootfs: string, g: Gathered, keepOwners: boolean, isDir: (p: string) => Promise<boolean>, sig: AbortSignal): Promise<void> => {
    const count = checkCount(g);
    const loneFile = count === 1 && g.found.length + inline.length === 1 && !(g.found[0]?.isDir ?? false);
    const destIsDir = trailing || count > 1 || parents || (await isDir(dest));
    const plan = placeEntries(entriesOf(root, g, keepOwners), dest, destIsDir, loneFile);
    const owner = chown !== undefined ? await chownOwner(rootfs, chown) : undefined;
    const ref = 'the build step';
    if (plan.length > 0) {
      await extractArchive(rootfs, '/', planTar(plan, sig), { ref, noOverwriteDirNonDir: false, signal: sig, ...(owner ? { owner } : {}) });
    }
    for (const a of g.archives) {
      await ensureDir(rootfs, dest);
      const body = plainTar(readNoFollow(path.join(root, (a.source.entries[0] as { real: string }).real)), a.kind);
      await extractArchive(rootfs, dest, body, { ref, noOverwriteDirNonDir: false, signal: sig, ...(owner ? { owner } : {}) });
    }
  };

  const flags = [
    chown !== undefined ? `--chown=${chown}` : '',
    chmod !== undefined ? `--chmod=${ins.flags['chmod']}` : '',
    parents ? '--parents' : '',
    ...excludes.map((e) => `--exclude=${e}`),
  ].filter((f) => f !== '');
  const flagText = flags.length > 0 ? `${flags.join(' ')} ` : '';

  if (from === undefined) {
    const g = await gather(roots.context);
    const count = checkCount(g);
    const h = createHash('sha256').update(await hashPlan(entriesOf(roots.context, g, false)));
    for (const a of g.archives) {
      h.update(`\0archive ${a.source.path}\0`);
      for await (const c of readNoFollow(path.join(roots.context, (a.source.entries[0] as { real: string }).real))) h.update(c);
    }
    const kind = count > 1 ? 'multi' : g.found[0]?.isDir ? 'dir' : 'file';
    const createdBy = `/bin/sh -c #(nop) ${ins.keyword} ${flagText}${kind}:${h.digest('hex')} in ${dest}${trailing && dest !== '/' ? '/' : ''} `;
    return { key: createdBy, createdBy, apply: (rootfs, isDir, sig) => write(roots.context, rootfs, g, false, isDir, sig) };
  }
  // --from: the source state's ID pins the content, so nothing is mounted to plan it.
  const fromId = await roots.resolveFrom(from);
  const shown = `${srcs.join(' ')} in ${dest}${trailing && dest !== '/' ? '/' : ''}`;
  return {
    key: `/bin/sh -c #(nop) COPY --from=${fromId} ${flagText}${JSON.stringify(srcs)} in ${JSON.stringify(rawDest)} at ${dest}`,
    createdBy: `/bin/sh -c #(nop) COPY --from=${from} ${flagText}${shown} `,
    apply: (rootfs, isDir, sig) => roots.withRootfs(fromId, async (root) => write(root, rootfs, await gather(root), true, isDir, sig)),
  };
}

/** Makes sure `dest` exists in `rootfs` as a directory (for ADD's archives). */
async function ensureDir(rootfs: string, dest: string): Promise<void> {
  const r = await openTrustedDir(rootfs);
  try {
    await closeFd(await openDirIn(r, dest, { mode: 0o755, uid: 0, gid: 0 }));
  } finally {
    await closeFd(r);
  }
}
