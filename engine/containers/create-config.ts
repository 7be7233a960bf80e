/**
 * What `docker create` derives from the create body and the image: the runtime view of the
 * image's config and the Config that inspect shows (create body over image config).
 *
 * Kept apart from the lifecycle (service.ts): these are plain functions of their inputs, used
 * by create, start and stop alike.
 */
import type { ImageConfig } from '../images/config.js';
import type { ImageRuntimeConfig } from '../runtime/types.js';
import { mergeHealthConfig, parseHealthConfig } from './health.js';
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
    ...exposed(cfg.config?.ExposedPorts, create['ExposedPorts']),
    Volumes: configVolumes(create, cfg),
    WorkingDir: create.WorkingDir || image.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: { ...(cfg.config?.Labels ?? {}), ...(create.Labels ?? {}) },
    ...healthcheck(create, cfg),
    ...(Array.isArray(cfg.config?.Shell) && cfg.config.Shell.length > 0 ? { Shell: cfg.config.Shell } : {}),
    ...(create.StopSignal || image.StopSignal ? { StopSignal: create.StopSignal || image.StopSignal } : {}),
    ...(typeof create.StopTimeout === 'number' ? { StopTimeout: create.StopTimeout } : {}),
  };
}

/** Config.Healthcheck: the create body's (400 when malformed) over the image's; absent when neither has one. */
function healthcheck(create: CreateBody, cfg: ImageConfig): { Healthcheck?: object } {
  const merged = mergeHealthConfig(parseHealthConfig(create['Healthcheck']), cfg.config?.Healthcheck);
  return merged ? { Healthcheck: merged } : {};
}

/** Config.Volumes as inspect shows it: the image's VOLUMEs and the create's (`-v /path`), or null. */
function configVolumes(create: CreateBody, cfg: ImageConfig): Record<string, object> | null {
  const given = create['Volumes'];
  const merged = { ...(cfg.config?.Volumes ?? {}), ...(typeof given === 'object' && given !== null ? given : {}) };
  return Object.keys(merged).length > 0 ? merged : null;
}

/** ExposedPorts of image and create body together ("80" means "80/tcp"); absent when there are none. */
function exposed(image: Record<string, object> | undefined, create: unknown): { ExposedPorts?: Record<string, object> } {
  const out: Record<string, object> = {};
  for (const src of [image, create as Record<string, object> | null | undefined]) {
    for (const k of Object.keys(src ?? {})) out[k.includes('/') ? k : `${k}/tcp`] = {};
  }
  return Object.keys(out).length > 0 ? { ExposedPorts: out } : {};
}
