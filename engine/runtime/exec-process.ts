/**
 * The OCI process spec of a `docker exec`, derived the way dockerd derives it: start from the
 * container's own process (its config.json: capabilities, rlimits, noNewPrivileges, oom score,
 * umask, user), then apply the exec's command, environment, working directory, user, terminal
 * and privilege.
 *
 * Environment (dockerd's CreateDaemonEnvironment + ReplaceOrAppendEnvValues): PATH, HOSTNAME and
 * TERM=xterm (with a TTY), then the container's Config.Env, then the exec's Env; an entry without
 * "=" removes the variable. HOME is left to runc, which sets it from the user's passwd entry when
 * it is unset (as for dockerd's execs).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { invalid } from '../common/errors.js';
import { capabilitiesFromMask, DEFAULT_PATH_ENV, RLIM_INFINITY } from './spec.js';
import type { OciCapabilities, OciProcess, OciRlimit, ResolvedUser } from './types.js';

export interface ExecProcessInput {
  /** The container's process (readContainerProcess). */
  container: OciProcess;
  /** The container's hostname (HOSTNAME). */
  hostname: string;
  /** The container's Config.Env (what inspect shows, not the runtime's final list). */
  containerEnv: readonly string[];
  /** Command and arguments; args[0] is looked up in PATH by runc. */
  args: readonly string[];
  /** The exec's Env. */
  env: readonly string[];
  tty: boolean;
  /** The exec's WorkingDir; "" keeps the container's. */
  workingDir: string;
  /** The exec's user, resolved; undefined keeps the container's. */
  user?: ResolvedUser;
  /** Every capability the daemon can grant (like a --privileged container). */
  privileged: boolean;
  /** The daemon's capability bounding set (CapBnd). */
  boundingSet: bigint;
  consoleSize?: { height: number; width: number };
}

export function buildExecProcess(i: ExecProcessInput): OciProcess {
  if (i.args.length === 0 || i.args[0] === '') throw invalid('No exec command specified');
  const base = [`PATH=${DEFAULT_PATH_ENV}`, `HOSTNAME=${i.hostname}`, ...(i.tty ? ['TERM=xterm'] : [])];
  const env = replaceOrAppendEnv(replaceOrAppendEnv(base, i.containerEnv), i.env);
  const c = i.container;
  const user = i.user
    ? {
        uid: i.user.uid,
        gid: i.user.gid,
        ...(c.user.umask !== undefined ? { umask: c.user.umask } : {}),
        ...(i.user.additionalGids.length > 0 ? { additionalGids: [...i.user.additionalGids] } : {}),
      }
    : { ...c.user };
  let capabilities: OciCapabilities;
  if (i.privileged) {
    const all = capabilitiesFromMask(i.boundingSet);
    capabilities = { bounding: all, effective: [...all], permitted: [...all], inheritable: [], ambient: [] };
  } else if (i.user) {
    // As for the container: a non-root user gets no effective or permitted capabilities.
    const bounding = [...c.capabilities.bounding];
    const root = i.user.uid === 0;
    capabilities = { bounding, effective: root ? [...bounding] : [], permitted: root ? [...bounding] : [], inheritable: [], ambient: [] };
  } else {
    capabilities = structuredClone(c.capabilities);
  }
  const p: OciProcess = {
    terminal: i.tty,
    user,
    args: [...i.args],
    env,
    cwd: i.workingDir || c.cwd || '/',
    capabilities,
    noNewPrivileges: c.noNewPrivileges,
  };
  if (c.rlimits && c.rlimits.length > 0) p.rlimits = c.rlimits.map(exactRlimit);
  if (c.oomScoreAdj !== undefined) p.oomScoreAdj = c.oomScoreAdj;
  if (c.apparmorProfile !== undefined) p.apparmorProfile = c.apparmorProfile;
  if (c.selinuxLabel !== undefined) p.selinuxLabel = c.selinuxLabel;
  if (i.tty && i.consoleSize && i.consoleSize.height > 0 && i.consoleSize.width > 0) p.consoleSize = { ...i.consoleSize };
  return p;
}

/** dockerd's ReplaceOrAppendEnvValues: same key replaced in place, new keys appended, "KEY" alone removes. */
export function replaceOrAppendEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const env = new Map<string, string>();
  for (const kv of base) env.set(envKey(kv), kv);
  for (const kv of overrides) {
    if (kv.includes('\0')) throw invalid(`invalid environment variable: ${JSON.stringify(kv)} contains a NUL byte`);
    const key = envKey(kv);
    if (key === '') throw invalid(`invalid environment variable: ${kv}`, 'INVALID_ENV');
    if (kv.includes('=')) env.set(key, kv);
    else env.delete(key);
  }
  return [...env.values()];
}

function envKey(kv: string): string {
  const eq = kv.indexOf('=');
  return eq < 0 ? kv : kv.slice(0, eq);
}

/**
 * config.json is read with JSON.parse, which rounds uint64 limits: a value past 2^53 can only be
 * RLIM_INFINITY (buildRlimits clamps everything else to the host's limits), so it is restored.
 */
function exactRlimit(r: OciRlimit): OciRlimit {
  const fix = (v: number | bigint): number | bigint => (typeof v === 'number' && v > Number.MAX_SAFE_INTEGER ? RLIM_INFINITY : v);
  return { type: r.type, hard: fix(r.hard), soft: fix(r.soft) };
}

/** The process section and hostname of the container's OCI config (<bundle>/config.json). */
export async function readContainerProcess(bundle: string): Promise<{ process: OciProcess; hostname: string }> {
  const spec = JSON.parse(await fsp.readFile(path.join(bundle, 'config.json'), 'utf8')) as { process?: OciProcess; hostname?: string };
  if (!spec.process) throw new Error(`${bundle}/config.json has no process section`);
  return { process: spec.process, hostname: spec.hostname ?? '' };
}
