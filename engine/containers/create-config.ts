/**
 * The Config a container gets at create: the request's over the image's, merged as dockerd
 * merges them (daemon/commit.go `merge`), and what `docker inspect` shows as Config. Pure.
 *
 * The image's config is not the user's input, but it is not trusted to be well-formed either
 * (any registry can serve any JSON): its lists and maps are read leniently, keeping only strings.
 */
import type { ContainerConfig, HealthConfig } from '../../types/engine-api.js';
import type { ContainerConfig as ImageContainerConfig } from '../images/config.js';
import { mergeHealthConfig } from './health.js';

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  return out;
}

const keysOf = (v: unknown): string[] => (typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v) : []);

const envKey = (kv: string): string => {
  const i = kv.indexOf('=');
  return i < 0 ? kv : kv.slice(0, i);
};

/** The create's Env first, then the image's entries for names it does not set. */
export function mergeEnv(create: readonly string[] | undefined, image: readonly string[] | undefined): string[] {
  const own = create ?? [];
  const keys = new Set(own.map(envKey));
  return [...own, ...(image ?? []).filter((e) => !keys.has(envKey(e)))];
}

/** "80" means "80/tcp". */
function portSet(...sources: unknown[]): Record<string, Record<string, never>> | undefined {
  const out: Record<string, Record<string, never>> = {};
  for (const src of sources) for (const k of keysOf(src)) out[k.includes('/') ? k : `${k}/tcp`] = {};
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Config as it is recorded and inspected. `hostname` is the one the container gets (the
 * request's, the host's for --network host, else the short ID). Entrypoint and Cmd follow
 * Docker: a non-empty Entrypoint replaces the image's and takes only the request's Cmd; an
 * explicit [] drops the image's Entrypoint; an empty Cmd falls back to the image's.
 */
export function mergeConfig(create: ContainerConfig, image: ImageContainerConfig | undefined, hostname: string): ContainerConfig {
  const img = image ?? {};
  const userEp = create.Entrypoint ?? undefined;
  const userCmd = create.Cmd ?? undefined;
  let entrypoint: string[] | null;
  let cmd: string[] | null;
  if (userEp !== undefined && userEp.length > 0) {
    entrypoint = userEp;
    cmd = userCmd ?? null;
  } else {
    entrypoint = userEp !== undefined ? null : (strings(img.Entrypoint) ?? null);
    cmd = userCmd !== undefined && userCmd.length > 0 ? userCmd : (strings(img.Cmd) ?? null);
  }
  const volumes: Record<string, Record<string, never>> = {};
  for (const k of [...keysOf(img.Volumes), ...keysOf(create.Volumes)]) volumes[k] = {};
  const health = mergeHealthConfig(create.Healthcheck ?? undefined, img.Healthcheck);
  const shell = create.Shell && create.Shell.length > 0 ? create.Shell : strings(img.Shell);
  const stopSignal = create.StopSignal || (typeof img.StopSignal === 'string' ? img.StopSignal : '');
  const exposed = portSet(img.ExposedPorts, create.ExposedPorts);
  const out: ContainerConfig = {
    Hostname: hostname,
    Domainname: create.Domainname ?? '',
    User: create.User || (typeof img.User === 'string' ? img.User : ''),
    AttachStdin: create.AttachStdin ?? false,
    AttachStdout: create.AttachStdout ?? false,
    AttachStderr: create.AttachStderr ?? false,
    ...(exposed ? { ExposedPorts: exposed } : {}),
    Tty: create.Tty ?? false,
    OpenStdin: create.OpenStdin ?? false,
    StdinOnce: create.StdinOnce ?? false,
    Env: mergeEnv(create.Env ?? undefined, strings(img.Env)),
    Cmd: cmd,
    ...(health ? { Healthcheck: health as HealthConfig } : {}),
    Image: create.Image ?? '',
    Volumes: Object.keys(volumes).length > 0 ? volumes : null,
    WorkingDir: create.WorkingDir || (typeof img.WorkingDir === 'string' ? img.WorkingDir : ''),
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: { ...stringMap(img.Labels), ...(create.Labels ?? {}) },
    ...(shell && shell.length > 0 ? { Shell: shell } : {}),
    ...(stopSignal ? { StopSignal: stopSignal } : {}),
    ...(typeof create.StopTimeout === 'number' ? { StopTimeout: create.StopTimeout } : {}),
  };
  return out;
}
