/**
 * `RUN --mount=...` as BuildKit's Dockerfile frontend defines it, for the classic builder:
 *
 * - `type=bind` (the default): a file or directory from the context, or from another stage or
 *   an image (`from=`), at `target`; read-only unless `rw`, and with `rw` writes go to a
 *   throw-away overlay (or copy, for a file) and are discarded after the step.
 * - `type=cache`: a persistent directory (cache-mounts.ts) by `id` (default: the target), with
 *   `sharing=shared|private|locked`, `mode`, `uid`, `gid`, `ro`.
 * - `type=tmpfs`: an empty tmpfs, `size=` bytes (k/m/g suffixes) if given.
 * - `type=secret`: a build secret (secrets.ts) as a read-only file at `target` (default
 *   /run/secrets/<id>), `mode` (default 0400), `uid`, `gid`. A secret that was not given fails
 *   the step with a message saying how to give it (BuildKit mounts nothing instead, but through
 *   the classic API that would hide the mistake), unless the mount says `required=false`.
 * - `type=ssh` is refused: the classic API has no way to forward an SSH agent.
 *
 * Each mount adds to the step's cache key what its content depends on: a bind's files by hash
 * (context) or by the state they come from (from=); a cache or tmpfs mount only its settings
 * (its content is meant to vary); a secret only its id. Relative targets are below WORKDIR.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../common/digest.js';
import { invalid } from '../common/errors.js';
import { unmount } from '../common/mounts.js';
import { mountOverlay } from '../containers/rootfs.js';
import type { CacheMounts, CacheSharing, HeldCacheMount } from './cache-mounts.js';
import { expandWord } from './dockerfile.js';
import { lookupIn, type StageState } from './metadata.js';
import type { BuildSecrets } from './secrets.js';
import { copyEntries, findSources, hashPlan, type FoundSource } from './sources.js';

export type RunMount =
  | { type: 'bind'; target: string; source: string; from?: string; readonly: boolean }
  | { type: 'cache'; target: string; id: string; sharing: CacheSharing; readonly: boolean; mode: number; uid: number; gid: number }
  | { type: 'tmpfs'; target: string; size?: number }
  | { type: 'secret'; target: string; id: string; required: boolean; mode: number; uid: number; gid: number };

/** Splits one --mount value at commas, honouring double quotes ("a,b" stays one field), as BuildKit's CSV reader does. */
export function csvFields(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"') {
      if (quoted && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw invalid(`invalid --mount value: unterminated quote in ${text}`);
  out.push(cur);
  return out.map((f) => f.trim()).filter((f) => f !== '');
}

const BOOL_TRUE = new Set(['', 'true', '1']);
const BOOL_FALSE = new Set(['false', '0']);

function parseBool(key: string, v: string): boolean {
  if (BOOL_TRUE.has(v.toLowerCase())) return true;
  if (BOOL_FALSE.has(v.toLowerCase())) return false;
  throw invalid(`invalid value for ${key}: ${v}`);
}

function parseOctal(key: string, v: string): number {
  if (!/^[0-7]{1,4}$/.test(v)) throw invalid(`invalid value for ${key}: ${v} (an octal mode such as 0755)`);
  return parseInt(v, 8);
}

function parseId(key: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 2147483647) throw invalid(`invalid value for ${key}: ${v}`);
  return Number(v);
}

function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v);
  if (!m) throw invalid(`invalid value for size: ${v}`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return Math.floor(Number(m[1]) * (mult[(m[2] ?? '').toLowerCase()] ?? 1));
}

/** Parses the --mount flags of a RUN, variables substituted, targets made absolute. */
export function parseRunMounts(values: string[], s: StageState): RunMount[] {
  const lookup = lookupIn(s);
  const workdir = s.config.WorkingDir || '/';
  const mounts: RunMount[] = [];
  for (const raw of values) {
    const fields = new Map<string, string>();
    for (const field of csvFields(raw)) {
      const eq = field.indexOf('=');
      let key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? '' : expandWord(field.slice(eq + 1), lookup, s.escape);
      key = { src: 'source', dst: 'target', destination: 'target', ro: 'readonly', rw: 'readwrite' }[key] ?? key;
      fields.set(key, value);
    }
    const type = (fields.get('type') ?? 'bind').toLowerCase();
    fields.delete('type');
    const allowed: Record<string, string[]> = {
      bind: ['target', 'source', 'from', 'readonly', 'readwrite'],
      cache: ['target', 'id', 'sharing', 'readonly', 'readwrite', 'mode', 'uid', 'gid', 'from', 'source'],
      tmpfs: ['target', 'size'],
      secret: ['target', 'id', 'required', 'mode', 'uid', 'gid', 'env'],
    };
    if (type === 'ssh') {
      throw invalid('RUN --mount=type=ssh is not supported: the classic build API (POST /build) has no way to forward an SSH agent; copy what the step needs in a build secret (berth build --secret) instead');
    }
    const keys = allowed[type];
    if (!keys) throw invalid(`unsupported mount type "${type}" in --mount=${raw}`);
    for (const k of fields.keys()) if (!keys.includes(k)) throw invalid(`unexpected key '${k}' in --mount=${raw}`);
    const given = fields.get('target');
    const abs = (t: string): string => path.posix.resolve(workdir, t);
    const readonly = (dflt: boolean): boolean => {
      if (fields.has('readwrite')) return !parseBool('rw', fields.get('readwrite') as string);
      if (fields.has('readonly')) return parseBool('readonly', fields.get('readonly') as string);
      return dflt;
    };
    const num = (key: string, dflt: number, parse: (k: string, v: string) => number): number =>
      fields.has(key) ? parse(key, fields.get(key) as string) : dflt;
    switch (type) {
      case 'bind': {
        if (!given) throw invalid(`--mount=${raw}: a bind mount needs a target`);
        const from = fields.get('from');
        mounts.push({ type: 'bind', target: abs(given), source: fields.get('source') || '.', ...(from ? { from } : {}), readonly: readonly(true) });
        break;
      }
      case 'cache': {
        if (!given) throw invalid(`--mount=${raw}: a cache mount needs a target`);
        if (fields.has('from') || fields.has('source')) {
          throw invalid(`--mount=${raw}: seeding a cache mount from another stage (from=, source=) is not supported by this builder`);
        }
        const sharing = (fields.get('sharing') ?? 'shared').toLowerCase();
        if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') throw invalid(`unsupported sharing value "${sharing}"`);
        mounts.push({
          type: 'cache',
          target: abs(given),
          id: fields.get('id') || abs(given),
          sharing,
          readonly: readonly(false),
          mode: num('mode', 0o755, parseOctal),
          uid: num('uid', 0, parseId),
          gid: num('gid', 0, parseId),
        });
        break;
      }
      case 'tmpfs': {
        if (!given) throw invalid(`--mount=${raw}: a tmpfs mount needs a target`);
        const size = fields.get('size');
        mounts.push({ type: 'tmpfs', target: abs(given), ...(size ? { size: parseSize(size) } : {}) });
        break;
      }
      case 'secret': {
        if (fields.has('env')) throw invalid(`--mount=${raw}: secrets as environment variables (env=) are not supported; mount the secret as a file`);
        const id = fields.get('id') || (given ? path.posix.basename(given) : '');
        if (id === '') throw invalid(`--mount=${raw}: a secret mount needs an id or a target`);
        mounts.push({
          type: 'secret',
          target: given ? abs(given) : `/run/secrets/${id}`,
          id,
          required: fields.has('required') ? parseBool('required', fields.get('required') as string) : true,
          mode: num('mode', 0o400, parseOctal),
          uid: num('uid', 0, parseId),
          gid: num('gid', 0, parseId),
        });
        break;
      }
    }
  }
  const targets = new Set<string>();
  for (const m of mounts) {
    if (targets.has(m.target)) throw invalid(`duplicate mount target ${m.target}`);
    targets.add(m.target);
  }
  return mounts;
}

/** What the build offers the mounts of a step. */
export interface MountRoots {
  context: string;
  /** The state or image `from=` names (an earlier stage, or an image, pulled if need be). */
  resolveFrom(from: string): Promise<Digest>;
  /** Runs `fn` with that state's rootfs mounted read-only. */
  withRootfs<T>(id: Digest, fn: (rootfs: string) => Promise<T>): Promise<T>;
  cacheMounts: CacheMounts;
  secrets: BuildSecrets;
  /** A private scratch directory (for rw bind overlays). */
  tmpDir: string;
}

/** A single source path found in a root (the context or a mounted rootfs), resolved in its scope. */
async function oneSource(root: string, source: string): Promise<FoundSource> {
  const found = await findSources(root, source);
  if (found.length !== 1) throw invalid(`--mount source ${source} must name exactly one file or directory, not ${found.length}`);
  return found[0] as FoundSource;
}

/** The cache-key part of the step's mounts; `from=` binds are named by the state they come from. */
export async function mountsKey(mounts: RunMount[], roots: Pick<MountRoots, 'context' | 'resolveFrom'>): Promise<string> {
  const parts: string[] = [];
  for (const m of mounts) {
    switch (m.type) {
      case 'bind': {
        if (m.from !== undefined) {
          parts.push(`bind ${m.target} from=${await roots.resolveFrom(m.from)} source=${m.source} ro=${m.readonly}`);
        } else {
          const src = await oneSource(roots.context, m.source);
          const hash = await hashPlan(copyEntries([src], [], { keepOwners: true }, roots.context));
          parts.push(`bind ${m.target} context:${src.isDir ? 'dir' : 'file'}:${hash} ro=${m.readonly}`);
        }
        break;
      }
      case 'cache':
        parts.push(`cache ${m.target} id=${m.id} sharing=${m.sharing} ro=${m.readonly} mode=${m.mode.toString(8)} uid=${m.uid} gid=${m.gid}`);
        break;
      case 'tmpfs':
        parts.push(`tmpfs ${m.target} size=${m.size ?? ''}`);
        break;
      case 'secret':
        parts.push(`secret ${m.target} id=${m.id} mode=${m.mode.toString(8)} uid=${m.uid} gid=${m.gid}`);
        break;
    }
  }
  return parts.join('\n');
}

/** The mounts of one step, ready for HostConfig.Mounts; `release` undoes everything. */
export interface PreparedMounts {
  hostMounts: Array<Record<string, unknown>>;
  targets: string[];
  release(): Promise<void>;
}

/**
 * Prepares the step's mounts and runs `fn` with them: `from=` sources stay mounted for the
 * length of `fn`, cache directories are held, secrets written to the build's tmpfs.
 */
export async function withRunMounts<T>(mounts: RunMount[], roots: MountRoots, description: string, fn: (p: PreparedMounts) => Promise<T>): Promise<T> {
  const hostMounts: Array<Record<string, unknown>> = [];
  const targets: string[] = [];
  const undo: Array<() => Promise<void>> = [];
  const held: HeldCacheMount[] = [];
  const release = async (): Promise<void> => {
    for (const h of held.splice(0)) h.release();
    for (const u of undo.splice(0).reverse()) await u();
  };
  const bindOf = (source: string, target: string, readonly: boolean): Record<string, unknown> => ({
    Type: 'bind',
    Source: source,
    Target: target,
    ReadOnly: readonly,
    BindOptions: { Propagation: 'rprivate' },
  });

  /** A writable view whose writes are thrown away: an overlay for a directory, a copy for a file. */
  const scratchView = async (src: string, isDir: boolean): Promise<string> => {
    await fsp.mkdir(roots.tmpDir, { recursive: true, mode: 0o700 });
    const base = path.join(roots.tmpDir, `rw-${randomBytes(6).toString('hex')}`);
    undo.push(() => fsp.rm(base, { recursive: true, force: true }));
    if (!isDir) {
      await fsp.mkdir(base, { mode: 0o700 });
      const copy = path.join(base, 'file');
      await fsp.copyFile(src, copy);
      return copy;
    }
    const dirs = { lowers: [src], upper: path.join(base, 'upper'), work: path.join(base, 'work'), merged: path.join(base, 'merged') };
    await mountOverlay(dirs);
    undo.push(() => unmount(dirs.merged));
    return dirs.merged;
  };

  const bindFrom = async (root: string, m: Extract<RunMount, { type: 'bind' }>): Promise<void> => {
    const src = await oneSource(root, m.source);
    // `real` has no symlink left in it: the host path names what the scoped lookup found.
    const hostPath = path.join(root, src.real);
    const source = m.readonly ? hostPath : await scratchView(hostPath, src.isDir);
    hostMounts.push(bindOf(source, m.target, m.readonly));
    targets.push(m.target);
  };

  const run = async (i: number): Promise<T> => {
    const m = mounts[i];
    if (!m) return fn({ hostMounts, targets, release });
    switch (m.type) {
      case 'bind':
        if (m.from !== undefined) {
          const id = await roots.resolveFrom(m.from);
          return roots.withRootfs(id, async (rootfs) => {
            await bindFrom(rootfs, m);
            return run(i + 1);
          });
        }
        await bindFrom(roots.context, m);
        return run(i + 1);
      case 'cache': {
        const h = await roots.cacheMounts.acquire(m, `cached mount ${m.target} from exec ${description}`);
        held.push(h);
        hostMounts.push(bindOf(h.dir, m.target, m.readonly));
        targets.push(m.target);
        return run(i + 1);
      }
      case 'tmpfs':
        hostMounts.push({ Type: 'tmpfs', Target: m.target, ...(m.size ? { TmpfsOptions: { SizeBytes: m.size } } : {}) });
        targets.push(m.target);
        return run(i + 1);
      case 'secret': {
        if (!roots.secrets.has(m.id)) {
          if (!m.required) return run(i + 1);
          throw invalid(missingSecret(m.id));
        }
        hostMounts.push(bindOf(await roots.secrets.file(m.id, m.mode, m.uid, m.gid), m.target, true));
        targets.push(m.target);
        return run(i + 1);
      }
    }
  };
  try {
    return await run(0);
  } finally {
    await release();
  }
}

export function missingSecret(id: string): string {
  return (
    `secret ${id} is required by RUN --mount=type=secret but was not given. The classic build API (POST /build) has no secrets ` +
    `channel of its own: build with \`berth build --secret id=${id},src=<file>\` (the docker CLI cannot pass secrets to this builder)`
  );
}
