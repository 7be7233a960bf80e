/**
 * The container filesystem endpoints in one place: `docker cp` both ways (archive.ts,
 * extract.ts), `docker export`, `docker diff` (changes.ts) and `docker top` (top.ts). They
 * reach the container service only through ContainerFsHost, a narrow port the service
 * implements: where a container's files are, and its rootfs mounted for the duration of a call.
 */
import type { Readable, Writable } from 'node:stream';
import type { RootMount } from '../../hostfs/rooted.js';
import { conflict } from '../common/errors.js';
import { resolveUser } from '../runtime/user.js';
import { archivePath, exportRootfs, statPath, type PathStat } from './archive.js';
import { containerChanges, type Change } from './changes.js';
import { extractArchive } from './extract.js';
import { withContainerMounts } from './fs-view.js';
import { containerTop, type TopResult } from './top.js';
import type { MountPoint } from './types.js';
import type { VolumeMounter } from './volume-mounts.js';

export interface ContainerFsInfo {
  id: string;
  upperDir: string;
  /** Layer diff dirs, top layer first. */
  lowerDirs: string[];
  running: boolean;
  execDir: string;
  dataDir: string;
  /** Config.User (what `docker cp -a` chowns to). */
  user: string;
  readonlyRootfs: boolean;
  /** Volumes, binds and tmpfs (seen through by cp). */
  mounts: readonly MountPoint[];
  /** The init process while the container runs. */
  pid: number | undefined;
}

export interface ContainerFsHost {
  /** Throws notFound (404 "No such container: X"). */
  fsInfo(ref: string): ContainerFsInfo;
  /** Runs fn with the container's merged rootfs mounted (mounting it if the container is not running; refcounted). */
  withRootfs<T>(ref: string, fn: (rootfs: string) => Promise<T>): Promise<T>;
  /** Holds volumes while cp reads or writes them. */
  volumes: VolumeMounter;
  /** Publishes a container event with the attributes the service gives its other events. */
  publishEvent(id: string, action: string): void;
}

export class ContainerFiles {
  constructor(private readonly host: ContainerFsHost) {}

  /** Runs fn with the rootfs mounted and the container's mounts as cp sees them (volumes held). */
  private withView<T>(ref: string, fn: (rootfs: string, mounts: RootMount[], info: ContainerFsInfo) => Promise<T>): Promise<T> {
    const info = this.host.fsInfo(ref);
    return this.host.withRootfs(ref, (rootfs) =>
      withContainerMounts({ id: info.id, dataDir: info.dataDir, mounts: info.mounts, pid: info.pid }, this.host.volumes, (mounts) => fn(rootfs, mounts, info)),
    );
  }

  statPath(ref: string, path: string): Promise<PathStat> {
    return this.withView(ref, (rootfs, mounts) => statPath({ rootfs, mounts, ref }, path));
  }

  async getArchive(ref: string, path: string, start: (stat: PathStat) => Writable, signal?: AbortSignal): Promise<void> {
    const tar = await this.withView(ref, (rootfs, mounts) => archivePath({ rootfs, mounts, ref }, path, start, signal));
    this.host.publishEvent(this.host.fsInfo(ref).id, 'archive-path');
    await tar.finish();
  }

  async putArchive(ref: string, path: string, body: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean; signal?: AbortSignal }): Promise<void> {
    const id = await this.withView(ref, async (rootfs, mounts, info) => {
      const owner = opts.copyUIDGID && info.user !== '' ? await resolveUser(rootfs, info.user) : undefined;
      await extractArchive(rootfs, path, body, {
        ref,
        noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
        mounts,
        readOnly: info.readonlyRootfs,
        ...(owner ? { owner: { uid: owner.uid, gid: owner.gid } } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return info.id;
    });
    this.host.publishEvent(id, 'extract-to-dir');
  }

  async export(ref: string, start: () => Writable, signal?: AbortSignal): Promise<void> {
    const info = this.host.fsInfo(ref);
    const tar = await this.host.withRootfs(ref, (rootfs) => exportRootfs({ rootfs, mounts: [], ref }, start(), signal));
    this.host.publishEvent(info.id, 'export');
    await tar.finish();
  }

  changes(ref: string): Promise<Change[]> {
    const info = this.host.fsInfo(ref);
    return containerChanges(info.upperDir, info.lowerDirs);
  }

  async top(ref: string, psArgs: string): Promise<TopResult> {
    const info = this.host.fsInfo(ref);
    if (!info.running) throw conflict(`container ${info.id} is not running`);
    return containerTop(info.execDir, psArgs);
  }
}
