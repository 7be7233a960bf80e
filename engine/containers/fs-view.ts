/**
 * What `docker cp` sees of a container besides its rootfs: its volumes, binds and tmpfs mounts
 * and the /etc/hostname, /etc/hosts and /etc/resolv.conf the runtime bind-mounts from its data
 * directory, as Docker's view of a container has them (daemon/containerfs_linux.go mounts
 * them into a private namespace; here the rooted filesystem sees through them, nothing is
 * mounted). Works for running and stopped containers alike:
 *  - a volume is held for the duration of the copy, so a volume with driver options (a local
 *    tmpfs or NFS volume) is mounted even when its container is not running;
 *  - a tmpfs exists only while the container runs: its content is reached through the container's
 *    own mount namespace (/proc/<pid>/root, resolved in scope); a stopped container shows the
 *    directory below it, as Docker does.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { closeFd, isErrno } from '../../hostfs/fd.js';
import { openDirAt, RootedFs, type RootMount } from '../../hostfs/rooted.js';
import { pathExists } from '../common/fsutil.js';
import type { MountPoint } from './types.js';
import type { VolumeMounter } from './volume-mounts.js';

const TMPFS_MAGIC = 0x01021994;
const NETWORK_FILES = ['hostname', 'hosts', 'resolv.conf'];
let copies = 0;

export interface ViewedContainer {
  id: string;
  dataDir: string;
  mounts: readonly MountPoint[];
  /** The container's init process while it runs. */
  pid: number | undefined;
}

/** The tmpfs at `destination` in the running container's namespace, or undefined if it is not there. */
async function openTmpfs(pid: number, destination: string): Promise<number | undefined> {
  let view: RootedFs;
  try {
    view = await RootedFs.open(`/proc/${pid}/root`);
  } catch {
    return undefined; // exited meanwhile
  }
  try {
    const dir = await view.openDir(destination);
    if ((await statfs(`/proc/self/fd/${dir.fd}`)).type !== TMPFS_MAGIC) {
      await view.closeDir(dir);
      return undefined;
    }
    return dir.fd;
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP')) return undefined;
    throw err;
  } finally {
    await view.close();
  }
}

/** Runs fn with the mounts of the container's view; volumes and tmpfs fds are let go afterwards. */
export async function withContainerMounts<T>(c: ViewedContainer, volumes: VolumeMounter, fn: (mounts: RootMount[]) => Promise<T>): Promise<T> {
  const holder = `${c.id}\0cp\0${++copies}`;
  const held: MountPoint[] = [];
  const fds: number[] = [];
  try {
    const mounts: RootMount[] = [];
    for (const m of c.mounts) {
      if (m.Type === 'tmpfs') {
        if (c.pid === undefined) continue;
        const fd = await openTmpfs(c.pid, m.Destination);
        if (fd === undefined) continue;
        fds.push(fd);
        mounts.push({ destination: m.Destination, source: () => openDirAt(fd, ''), readOnly: !m.RW });
        continue;
      }
      let source = m.Source;
      if (m.Type === 'volume' && m.Name !== undefined) {
        source = await volumes.mount(m.Name, { container: c.id, destination: m.Destination, rw: m.RW, propagation: m.Propagation, holder });
        held.push(m);
      }
      if (source === '' || !(await pathExists(source))) continue;
      mounts.push({ destination: m.Destination, source, readOnly: !m.RW });
    }
    for (const name of NETWORK_FILES) {
      const destination = `/etc/${name}`;
      const file = path.join(c.dataDir, name);
      if (mounts.some((m) => m.destination === destination) || !(await pathExists(file))) continue;
      mounts.push({ destination, source: file, readOnly: false });
    }
    return await fn(mounts);
  } finally {
    for (const fd of fds) await closeFd(fd);
    for (const m of held) await volumes.unmount(m.Name!, { container: c.id, destination: m.Destination, holder }).catch(() => undefined);
  }
}
