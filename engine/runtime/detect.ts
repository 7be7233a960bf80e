/**
 * Which OCI runtimes this host has and which of them work here. runc and crun are looked up on
 * the usual paths; more can be named with `--add-runtime name=path`. crun refuses hybrid cgroups
 * (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified) at container creation, so on
 * such a host it is listed but not usable, and not picked as the default.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { probeCgroupVersion } from './spec.js';

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
/** Preference when no --default-runtime is given: Docker's default first. */
const PREFERENCE = ['runc', 'crun'];

export interface RuntimeInfo {
  path: string;
  /** Why it cannot run containers here (undefined: it can). */
  unusable?: string;
}

async function isHybridCgroups(): Promise<boolean> {
  if ((await probeCgroupVersion().catch(() => 2)) === 2) return false;
  try {
    return (await probeCgroupVersion('/sys/fs/cgroup/unified')) === 2;
  } catch {
    return false;
  }
}

function which(name: string): string | undefined {
  return SEARCH.map((d) => path.join(d, name)).find((p) => existsSync(p));
}

/** The runtimes by name: the well-known ones found on this host plus the ones given. */
export async function detectRuntimes(added: Record<string, string> = {}): Promise<Record<string, RuntimeInfo>> {
  const out: Record<string, RuntimeInfo> = {};
  const hybrid = await isHybridCgroups();
  for (const name of PREFERENCE) {
    const p = which(name);
    if (p) out[name] = { path: p };
  }
  for (const [name, p] of Object.entries(added)) {
    const ok = await fsp.access(p).then(() => true, () => false);
    out[name] = ok ? { path: p } : { path: p, unusable: `${p} does not exist` };
  }
  for (const [name, info] of Object.entries(out)) {
    if (!info.unusable && hybrid && path.basename(info.path) === 'crun') {
      out[name] = { ...info, unusable: 'crun does not support hybrid cgroups (v1 controllers with a cgroup2 mount), which this host has' };
    }
  }
  return out;
}

/** The default runtime: the one asked for (it must be usable), else the first usable by preference. */
export function pickDefaultRuntime(runtimes: Record<string, RuntimeInfo>, wanted?: string): string {
  if (wanted) {
    const info = runtimes[wanted];
    if (!info) throw new Error(`default runtime "${wanted}" is not known: found ${Object.keys(runtimes).join(', ') || 'none'}`);
    if (info.unusable) throw new Error(`default runtime "${wanted}" cannot run containers here: ${info.unusable}`);
    return wanted;
  }
  const usable = [...PREFERENCE, ...Object.keys(runtimes)].find((n) => runtimes[n] && !runtimes[n].unusable);
  if (!usable) throw new Error('no usable OCI runtime found: install runc (apt install runc) or crun');
  return usable;
}
