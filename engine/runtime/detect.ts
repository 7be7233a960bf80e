/**
 * Which OCI runtimes this host has and which of them work here. runc and crun are looked up on
 * the usual paths; more can be named with `--add-runtime name=path`. crun refuses hybrid cgroups
 * (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified) at container creation, so on
 * such a host it is listed but not usable, and not picked as the default. detectInit finds the
 * init binary containers get with --init.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants, existsSync, promises as fsp } from 'node:fs';
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

/** Where Docker's packages put docker-init besides PATH. */
const INIT_DIRS = ['/usr/local/libexec/docker', '/usr/libexec/docker'];

export interface InitBinary {
  path: string;
  /** What `<init> --version` says ("tini version 0.19.0"), or "" when it did not run. */
  version: string;
}

/**
 * The init for HostConfig.Init: --init-path, else Docker's docker-init, else Debian's static
 * tini (Docker ships tini as docker-init). It is bind-mounted into containers whose images may
 * have no libc, so the dynamically linked `tini` is not a fallback. Undefined when none is found.
 */
export async function detectInit(explicit?: string): Promise<InitBinary | undefined> {
  const candidates = explicit
    ? [explicit]
    : [which('docker-init'), ...INIT_DIRS.map((d) => path.join(d, 'docker-init')), which('tini-static')].filter((p): p is string => p !== undefined);
  for (const p of candidates) {
    const ok = await fsp.access(p, fsConstants.X_OK).then(() => true, () => false);
    if (!ok) continue;
    const version = await new Promise<string>((resolve) => {
      execFile(p, ['--version'], { timeout: 5000 }, (err, stdout) => resolve(err ? '' : stdout.trim()));
    });
    return { path: p, version };
  }
  return undefined;
}
