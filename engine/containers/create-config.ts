/**
 * What `docker create` derives from the create body and the image: the runtime view of the
 * image's config, the Config that inspect shows (create body over image config), and the
 * hostname, hosts and resolv.conf files the container gets.
 *
 * Kept apart from the lifecycle (service.ts): these are plain functions of their inputs, used
 * by create, start and stop alike.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { atomicWrite } from '../common/fsutil.js';
import type { ImageConfig } from '../images/config.js';
import type { ImageRuntimeConfig } from '../runtime/types.js';
import type { CreateBody } from './types.js';

export function imageRuntime(cfg: ImageConfig | undefined): ImageRuntimeConfig {
  const c = cfg?.config ?? {};
  return { Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint, WorkingDir: c.WorkingDir, User: c.User, StopSignal: c.StopSignal };
}

function strList(v: string[] | string | null | undefined): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? [v] : v;
}

/** Config as `docker inspect` shows it: the create body over the image's config. */
export function mergedConfig(create: CreateBody, image: ImageRuntimeConfig, cfg: ImageConfig, hostname: string): Record<string, unknown> {
  const createEnv = create.Env ?? [];
  const keys = new Set(createEnv.map((e) => e.split('=')[0]));
  const env = [...createEnv, ...(image.Env ?? []).filter((e) => !keys.has(e.split('=')[0]))];
  const userEp = strList(create.Entrypoint);
  const userCmd = strList(create.Cmd);
  let entrypoint: string[] | null;
  let cmd: string[] | null;
  if (userEp !== undefined && userEp.length > 0) {
    entrypoint = userEp;
    cmd = userCmd ?? null;
  } else {
    entrypoint = userEp !== undefined ? null : (strList(image.Entrypoint) ?? null);
    cmd = userCmd !== undefined && userCmd.length > 0 ? userCmd : (strList(image.Cmd) ?? null);
  }
  return {
    Hostname: hostname,
    Domainname: create.Domainname ?? '',
    User: create.User || image.User || '',
    AttachStdin: create.AttachStdin ?? false,
    AttachStdout: create.AttachStdout ?? false,
    AttachStderr: create.AttachStderr ?? false,
    Tty: create.Tty ?? false,
    OpenStdin: create.OpenStdin ?? false,
    StdinOnce: create.StdinOnce ?? false,
    Env: env,
    Cmd: cmd,
    Image: create.Image,
    Volumes: configVolumes(create, cfg),
    WorkingDir: create.WorkingDir || image.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: { ...(cfg.config?.Labels ?? {}), ...(create.Labels ?? {}) },
    ...(create.StopSignal || image.StopSignal ? { StopSignal: create.StopSignal || image.StopSignal } : {}),
    ...(typeof create.StopTimeout === 'number' ? { StopTimeout: create.StopTimeout } : {}),
  };
}

/** Config.Volumes as inspect shows it: the image's VOLUMEs and the create's (`-v /path`), or null. */
function configVolumes(create: CreateBody, cfg: ImageConfig): Record<string, object> | null {
  const given = create['Volumes'];
  const merged = { ...(cfg.config?.Volumes ?? {}), ...(typeof given === 'object' && given !== null ? given : {}) };
  return Object.keys(merged).length > 0 ? merged : null;
}

/** hostname, hosts and resolv.conf in the container's data dir (start hands them to the spec). */
export async function writeEtcFiles(dir: string, hostname: string, domain: string | undefined): Promise<void> {
  const fqdn = domain ? `${hostname}.${domain} ${hostname}` : hostname;
  await atomicWrite(path.join(dir, 'hostname'), `${hostname}\n`, 0o644);
  await atomicWrite(
    path.join(dir, 'hosts'),
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${fqdn}\n`,
    0o644,
  );
  let resolv = '';
  try {
    const host = await fsp.readFile('/etc/resolv.conf', 'utf8');
    // Loopback resolvers (systemd-resolved's stub) are unreachable from a container's namespace.
    resolv = host
      .split('\n')
      .filter((l) => /^\s*(nameserver|search|domain|options)\s/.test(l) && !/^\s*nameserver\s+(127\.|::1)/.test(l))
      .join('\n');
  } catch {
    resolv = '';
  }
  await atomicWrite(path.join(dir, 'resolv.conf'), resolv ? `${resolv}\n` : '', 0o644);
}
