/**
 * The host side of a container's mounts at start and exit: -v bind sources that are missing
 * are created (Docker does), volumes are acquired from the volume service (which mounts a
 * volume with driver options on first use and publishes the `mount` event), a fresh volume gets
 * the image's content at its destination (copy-up), and every mount point becomes an OCI mount.
 *
 * Copy-up reads the container's rootfs, which the image (or the container) controls: the
 * destination is resolved in the rootfs's scope with hostfs/rooted.ts, and `cp -a` gets it as an
 * inherited directory descriptor (`/proc/self/fd/3/.`), so no symlink in the image can make it
 * read the host. cp copies physically (symlinks as symlinks), with modes, owners and times.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { errorMessage, invalid, isErrno, system } from '../common/errors.js';
import type { OciMount } from '../runtime/types.js';
import type { VolumeCreateRequest } from '../volumes/types.js';
import path from 'node:path';
import { closeFd, openDirIn, openTrustedDir } from '../../hostfs/rooted.js';
import { mountSubpath, releaseSubpaths } from './subpath.js';
import type { MountPoint } from './types.js';

/** What containers need of the volume service at start and exit. */
export interface VolumeMounter {
  /** `holder` tells apart uses by the same container (docker cp on a stopped one holds it too). */
  mount(name: string, use: { container: string; destination: string; rw: boolean; propagation: string; holder?: string }): Promise<string>;
  unmount(name: string, use: { container: string; destination: string; holder?: string }): Promise<void>;
}

/** Everything containers ask of the volume service (the daemon wires the VolumeService in). */
export interface ContainerVolumes extends VolumeMounter {
  exists(name: string): boolean;
  dataPath(name: string): string;
  /** Throws what creating this volume would throw, creating nothing. */
  check(req: VolumeCreateRequest): void;
  create(req: VolumeCreateRequest, opts: { anonymous: boolean }): Promise<unknown>;
  /** Removes the volume if it is anonymous and no container uses it any more. */
  removeAnonymous(name: string): Promise<void>;
  /** Counts a running container found at daemon start as a holder again. */
  adopt(name: string, use: { container: string; destination: string }): Promise<void>;
}

/** The OCI mount for a resolved mount point (its host source prepared). */
export function ociMount(m: MountPoint): OciMount {
  const ro = m.RW ? [] : ['ro'];
  if (m.Type === 'tmpfs') return { destination: m.Destination, type: 'tmpfs', source: 'tmpfs', options: [...(m.TmpfsOptions ?? []), ...ro] };
  const bind = m.NonRecursive ? 'bind' : 'rbind';
  return { destination: m.Destination, type: 'bind', source: m.Source, options: [bind, m.Propagation || 'rprivate', ...ro] };
}

/** Copies the directory at `dest` in the rootfs into an empty volume directory (nothing if it is not a directory). */
export async function copyUp(rootfs: string, dest: string, volumeDir: string): Promise<boolean> {
  if ((await fsp.readdir(volumeDir)).length > 0) return false;
  const rootFd = await openTrustedDir(rootfs);
  let dirFd: number | undefined;
  try {
    try {
      dirFd = await openDirIn(rootFd, dest);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
      throw err;
    }
    const fd = dirFd;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('cp', ['-a', '/proc/self/fd/3/.', `${volumeDir}/`], { stdio: ['ignore', 'ignore', 'pipe', fd] });
      const errs: Buffer[] = [];
      child.stderr?.on('data', (b: Buffer) => errs.push(b));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(system(`copying the image's ${dest} into its volume failed: ${Buffer.concat(errs).toString('utf8').trim()}`)),
      );
    });
    return true;
  } finally {
    if (dirFd !== undefined) await closeFd(dirFd);
    await closeFd(rootFd);
  }
}

/**
 * Prepares every mount of a starting container and returns its OCI mounts. A volume's copy-up
 * is attempted once: its CopyUp flag is cleared here and the caller saves the record. Volume
 * subpaths are mounted under `subpathDir` (subpath.ts), which the caller releases with
 * releaseSubpaths() once the runtime has made the container's mounts. On failure, the volumes
 * acquired so far are released again.
 */
export async function attachMounts(
  id: string,
  rootfs: string,
  mounts: readonly MountPoint[],
  volumes: VolumeMounter,
  subpathDir: string,
): Promise<OciMount[]> {
  const acquired: MountPoint[] = [];
  const sources = new Map<MountPoint, string>();
  await releaseSubpaths(subpathDir);
  try {
    for (const [i, m] of mounts.entries()) {
      if (m.Type === 'bind') {
        try {
          await fsp.stat(m.Source);
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
          if (!m.CreateSource) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
          await fsp.mkdir(m.Source, { recursive: true, mode: 0o755 });
        }
      } else if (m.Type === 'volume' && m.Name !== undefined) {
        const data = await volumes.mount(m.Name, { container: id, destination: m.Destination, rw: m.RW, propagation: m.Propagation });
        acquired.push(m);
        if (m.CopyUp) {
          await copyUp(rootfs, m.Destination, data);
          m.CopyUp = false;
        }
        if (m.Subpath !== undefined) {
          const target = path.join(subpathDir, String(i));
          await mountSubpath(data, m.Subpath, target);
          sources.set(m, target);
        }
      }
    }
    return mounts.map((m) => {
      const source = sources.get(m);
      return ociMount(source === undefined ? m : { ...m, Source: source });
    });
  } catch (err) {
    await releaseSubpaths(subpathDir).catch(() => undefined);
    await detachMounts(id, acquired, volumes).catch(() => undefined);
    throw err;
  }
}

/** The container has exited (or failed to start): release its volumes. */
export async function detachMounts(id: string, mounts: readonly MountPoint[], volumes: VolumeMounter, onError?: (msg: string) => void): Promise<void> {
  for (const m of mounts) {
    if (m.Type !== 'volume' || m.Name === undefined) continue;
    await volumes.unmount(m.Name, { container: id, destination: m.Destination }).catch((err: unknown) => onError?.(errorMessage(err)));
  }
}
