/**
 * A container's mounts, resolved at create with Docker's rules and messages from
 * HostConfig.VolumesFrom, HostConfig.Binds (`src:dst[:mode]`: a host path or a volume name),
 * HostConfig.Mounts (`--mount`), HostConfig.Tmpfs, and Config.Volumes plus the image's VOLUMEs
 * (anonymous volumes).
 *
 * Precedence, as in dockerd: the user's binds, mounts and tmpfs may not share a destination
 * ("Duplicate mount point"); they replace a VolumesFrom mount at the same destination; the
 * anonymous volumes of Config.Volumes and the image fill only destinations nobody else took.
 *
 * planMounts() validates and reads (does a --mount bind source exist?) but creates nothing: the
 * volumes it asks for are created by the caller once the whole create is known to be good, so
 * a bad create leaves no volume behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { invalid, isErrno } from '../common/errors.js';
import type { VolumeCreateRequest } from '../volumes/types.js';
import type { HostConfig, MountSpec } from '../../types/engine-api.js';
import type { MountPoint } from './types.js';

/** A volume the create needs that does not exist yet. */
export interface VolumeToCreate {
  request: VolumeCreateRequest & { Name: string };
  anonymous: boolean;
}

export interface MountPlan {
  mounts: MountPoint[];
  volumes: VolumeToCreate[];
}

/** What planning needs to know of the rest of the engine. */
export interface MountPlanHost {
  /** Another container's mounts (VolumesFrom); 404 when there is no such container. */
  mountsOf(ref: string): MountPoint[];
  volumeExists(name: string): boolean;
  /** Throws what creating this volume would throw (bad name, unknown driver, bad options). */
  checkVolume(req: VolumeCreateRequest): void;
  volumePath(name: string): string;
}

const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
const CONSISTENCY = new Set(['consistent', 'cached', 'delegated', 'default']);
const TMPFS_FLAGS = new Set(['rw', 'ro', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'sync', 'async', 'atime', 'noatime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'diratime', 'nodiratime', 'dirsync', 'mand', 'nomand']);
const TMPFS_KEYS = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol', 'huge']);
/** Flags that cancel each other: the later one wins (Docker's MergeTmpfsOptions). */
const TMPFS_OPPOSITE: Record<string, string> = { rw: 'ro', exec: 'noexec', suid: 'nosuid', dev: 'nodev', sync: 'async', atime: 'noatime', diratime: 'nodiratime', relatime: 'norelatime', strictatime: 'nostrictatime', mand: 'nomand' };
for (const [a, b] of Object.entries({ ...TMPFS_OPPOSITE })) TMPFS_OPPOSITE[b] = a;

function mountPath(p: unknown, type: string): string {
  if (typeof p !== 'string' || p === '') throw invalid(`invalid mount config for type "${type}": field Target must not be empty`);
  if (!p.startsWith('/')) throw invalid(`invalid mount config for type "${type}": invalid mount path: '${p}' mount path must be absolute`);
  const clean = path.posix.normalize(p).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw invalid(`invalid specification: destination can't be '/'`);
  return clean;
}

/** Docker's default tmpfs flags, then the given options; later flags and keys win. */
export function tmpfsOptions(given: string[]): string[] {
  const out: string[] = [];
  for (const opt of ['noexec', 'nosuid', 'nodev', ...given]) {
    if (opt === '') continue;
    const eq = opt.indexOf('=');
    if (eq < 0 ? !TMPFS_FLAGS.has(opt) : !TMPFS_KEYS.has(opt.slice(0, eq))) throw invalid(`invalid tmpfs option ${JSON.stringify(opt)}`);
    if (eq > 0 && opt.startsWith('mode=') && !/^[0-7]{1,4}$/.test(opt.slice(5))) throw invalid(`invalid tmpfs option ${JSON.stringify(opt)}`);
    const key = eq < 0 ? opt : opt.slice(0, eq + 1);
    const drop = (o: string): boolean => (eq < 0 ? o === opt || o === TMPFS_OPPOSITE[opt] : o.startsWith(key));
    for (let i = out.length - 1; i >= 0; i--) if (drop(out[i] as string)) out.splice(i, 1);
    out.push(opt);
  }
  return out;
}

// ------------------------------------------------------------------ HostConfig.Binds

/** `src:dst[:mode]` (or `dst` alone: an anonymous volume). */
function parseBind(spec: string, host: MountPlanHost): MountPoint {
  const bad = (): never => {
    throw invalid(`invalid volume specification: '${spec}'`);
  };
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) bad();
  const [first, second, mode = ''] = parts as [string, string | undefined, string | undefined];
  const src = second === undefined ? '' : first;
  const isBind = src.startsWith('/');
  const type = isBind ? 'bind' : 'volume';
  const dst = mountPath(second ?? first, type);
  let rw = true;
  let propagation = '';
  let nocopy = false;
  let seen = { rwro: false, label: false, copy: false, prop: false, cons: false };
  for (const m of mode === '' ? [] : mode.split(',')) {
    const once = (k: keyof typeof seen): void => {
      if (seen[k]) throw invalid(`invalid mode: ${mode}`);
      seen = { ...seen, [k]: true };
    };
    if (m === 'ro' || m === 'rw') {
      once('rwro');
      rw = m === 'rw';
    } else if (m === 'z' || m === 'Z') once('label');
    else if (m === 'nocopy' && !isBind) {
      once('copy');
      nocopy = true;
    } else if (PROPAGATION.has(m) && isBind) {
      once('prop');
      propagation = m;
    } else if (CONSISTENCY.has(m)) once('cons');
    else throw invalid(`invalid mode: ${mode}`);
  }
  if (isBind) {
    return { Type: 'bind', Source: mountPath(src, 'bind'), Destination: dst, Mode: mode, RW: rw, Propagation: propagation || 'rprivate', CreateSource: true };
  }
  if (src !== '') host.checkVolume({ Name: src });
  return { Type: 'volume', ...(src !== '' ? { Name: src } : {}), Source: '', Destination: dst, Driver: 'local', Mode: src !== '' ? mode || 'z' : mode, RW: rw, Propagation: '', CopyUp: !nocopy };
}

// ------------------------------------------------------------------ HostConfig.Mounts

/**
 * VolumeOptions.Subpath: a path inside the volume, lexically (Go's filepath.IsLocal: relative,
 * not empty, never above the volume). Symlinks inside the volume are refused when it is mounted.
 */
function checkSubpath(sub: string, named: boolean, err: (msg: string) => never): string {
  if (!named) err('must not set Subpath when using anonymous volumes');
  const clean = path.posix.normalize(sub);
  if (sub.startsWith('/') || sub.includes('\0') || clean === '..' || clean.startsWith('../')) err('subpath must be a relative path within the volume');
  return clean.replace(/\/+$/, '');
}

async function parseMount(m: MountSpec, host: MountPlanHost): Promise<{ mount: MountPoint; request?: VolumeCreateRequest }> {
  const type = m.Type;
  if (type === '') throw invalid('invalid mount config: mount type must be given');
  const err = (msg: string): never => {
    throw invalid(`invalid mount config for type "${type}": ${msg}`);
  };
  const dst = mountPath(m.Target, type);
  const source = m.Source ?? '';
  const rw = m.ReadOnly !== true;
  const bindOpts = m.BindOptions ?? undefined;
  const volOpts = m.VolumeOptions ?? undefined;
  const tmpfsOpts = m.TmpfsOptions ?? undefined;
  switch (type) {
    case 'bind': {
      if (volOpts) err('field VolumeOptions must not be specified');
      if (tmpfsOpts) err('field TmpfsOptions must not be specified');
      if (source === '') err('field Source must not be empty');
      if (!source.startsWith('/')) err(`invalid mount path: '${source}' mount path must be absolute`);
      const src = path.posix.normalize(source);
      const propagation = bindOpts?.Propagation ?? '';
      if (propagation !== '' && !PROPAGATION.has(propagation)) err(`invalid propagation mode: ${propagation}`);
      const create = bindOpts?.CreateMountpoint === true;
      try {
        await fsp.stat(src);
      } catch (e) {
        if (!isErrno(e, 'ENOENT') || !create) err(`bind source path does not exist: ${src}`);
      }
      return {
        mount: {
          Type: 'bind', Source: src, Destination: dst, Mode: '', RW: rw, Propagation: propagation || 'rprivate',
          ...(create ? { CreateSource: true } : {}),
          ...(bindOpts?.NonRecursive === true ? { NonRecursive: true } : {}),
        },
      };
    }
    case 'volume': {
      if (bindOpts) err('field BindOptions must not be specified');
      if (tmpfsOpts) err('field TmpfsOptions must not be specified');
      const subpath = volOpts?.Subpath ? checkSubpath(volOpts.Subpath, source !== '', err) : undefined;
      const driver = volOpts?.DriverConfig ?? undefined;
      const request: VolumeCreateRequest = {
        ...(source !== '' ? { Name: source } : {}),
        ...(driver?.Name ? { Driver: driver.Name } : {}),
        ...(driver?.Options ? { DriverOpts: driver.Options } : {}),
        ...(volOpts?.Labels ? { Labels: volOpts.Labels } : {}),
      };
      host.checkVolume(request);
      return {
        mount: {
          Type: 'volume', ...(source !== '' ? { Name: source } : {}), Source: '', Destination: dst, Driver: 'local', Mode: '', RW: rw, Propagation: '',
          // A sub-directory is mounted as it is: the image's content is copied only into a whole, new volume.
          CopyUp: volOpts?.NoCopy !== true && subpath === undefined,
          ...(subpath !== undefined && subpath !== '.' ? { Subpath: subpath } : {}),
        },
        request,
      };
    }
    case 'tmpfs': {
      if (source !== '') err('field Source must not be specified');
      if (bindOpts) err('field BindOptions must not be specified');
      if (volOpts) err('field VolumeOptions must not be specified');
      const given: string[] = [];
      const size = tmpfsOpts?.SizeBytes ?? 0;
      if (size !== 0) {
        if (!Number.isSafeInteger(size) || size < 0) err(`invalid tmpfs size: ${size}`);
        given.push(`size=${size}`);
      }
      const mode = tmpfsOpts?.Mode ?? 0;
      if (mode !== 0) {
        if (mode < 0 || mode > 0o7777) err(`invalid tmpfs mode: ${mode}`);
        given.push(`mode=${mode.toString(8)}`);
      }
      if (!rw) given.push('ro');
      return { mount: { Type: 'tmpfs', Source: '', Destination: dst, Mode: '', RW: rw, Propagation: '', TmpfsOptions: tmpfsOptions(given) } };
    }
    default:
      return err('mount type unknown');
  }
}

// ------------------------------------------------------------------ VolumesFrom

function volumesFrom(spec: string, host: MountPlanHost): MountPoint[] {
  if (spec === '') throw invalid('HostConfig.VolumesFrom must be a list of container names');
  const colon = spec.lastIndexOf(':');
  const ref = colon < 0 ? spec : spec.slice(0, colon);
  const mode = colon < 0 ? '' : spec.slice(colon + 1);
  const modes = mode === '' ? [] : mode.split(',');
  if (modes.some((m) => !['ro', 'rw', 'z', 'Z'].includes(m))) throw invalid(`invalid mode: ${mode}`);
  const ro = modes.includes('ro') ? true : modes.includes('rw') ? false : undefined;
  return host.mountsOf(ref).map((m) => {
    const { CopyUp: _copy, Anonymous: _anon, CreateSource: _create, ...rest } = m;
    return ro === undefined ? rest : { ...rest, RW: !ro, Mode: ro ? 'ro' : 'rw' };
  });
}

// ------------------------------------------------------------------ the plan

/**
 * Resolves every mount of a create (see the header for the rules). `volumes` are the anonymous
 * volume destinations Config asks for (the request's `-v /path` and the image's VOLUMEs).
 */
export async function planMounts(hc: HostConfig, volumes: readonly string[], host: MountPlanHost): Promise<MountPlan> {
  const inherited = new Map<string, MountPoint>();
  for (const spec of hc.VolumesFrom ?? []) {
    for (const m of volumesFrom(spec, host)) inherited.set(m.Destination, m);
  }

  const user = new Map<string, MountPoint>();
  const requests = new Map<string, VolumeCreateRequest>();
  const add = (m: MountPoint): void => {
    if (user.has(m.Destination)) throw invalid(`Duplicate mount point: ${m.Destination}`);
    user.set(m.Destination, m);
  };
  for (const spec of hc.Binds ?? []) add(parseBind(spec, host));
  for (const raw of hc.Mounts ?? []) {
    const { mount, request } = await parseMount(raw, host);
    add(mount);
    // Keyed by name, or by destination for an anonymous one (names never start with "/").
    const key = mount.Name ?? mount.Destination;
    if (request && !requests.has(key)) requests.set(key, request);
  }
  for (const [dst, opts] of Object.entries(hc.Tmpfs ?? {})) {
    add({ Type: 'tmpfs', Source: '', Destination: mountPath(dst, 'tmpfs'), Mode: '', RW: true, Propagation: '', TmpfsOptions: tmpfsOptions(opts.split(',')), Hidden: true });
  }

  const mounts = [...[...inherited.values()].filter((m) => !user.has(m.Destination)), ...user.values()];
  const taken = new Set(mounts.map((m) => m.Destination));
  for (const v of volumes) {
    const dst = mountPath(v, 'volume');
    if (taken.has(dst)) continue;
    taken.add(dst);
    mounts.push({ Type: 'volume', Source: '', Destination: dst, Driver: 'local', Mode: '', RW: true, Propagation: '', CopyUp: true });
  }

  const toCreate: VolumeToCreate[] = [];
  for (const m of mounts) {
    if (m.Type !== 'volume') continue;
    if (m.Name === undefined) {
      m.Name = randomBytes(32).toString('hex');
      m.Anonymous = true;
      const request = { ...requests.get(m.Destination), Name: m.Name };
      toCreate.push({ request, anonymous: true });
    } else if (!host.volumeExists(m.Name) && !toCreate.some((v) => v.request.Name === m.Name)) {
      toCreate.push({ request: { ...requests.get(m.Name), Name: m.Name }, anonymous: false });
    }
    m.Source = host.volumePath(m.Name);
  }
  return { mounts, volumes: toCreate };
}
