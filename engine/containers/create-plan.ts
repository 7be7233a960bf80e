/**
 * `docker create`, step two of three: a decoded request (engine/api/decode) becomes a plan.
 *
 *   decode (api) → validate + plan (here, pure) → settle against live state (networks, other
 *   containers, volumes: service.ts with networking.ts and mounts.ts) → persist (the record)
 *
 * planCreate() is a pure function of the request, the image's config, the daemon's defaults and
 * the host's facts: no I/O, no clock, nothing changed in place. It checks everything that can be
 * checked without the rest of the engine, with dockerd's messages (400), and returns what the
 * container will be: Config as inspect shows it, HostConfig with the defaults filled in, the
 * endpoints it asks for, and the command. A request that passes here can still be refused by
 * the settling step (no such network, a volume that cannot be made), and nothing has been
 * written by then either.
 */
import type { ContainerConfig, ContainerCreateRequest, EndpointSettings, HostConfig } from '../../types/engine-api.js';
import { invalid } from '../common/errors.js';
import type { ContainerConfig as ImageContainerConfig } from '../images/config.js';
import { buildEnv, buildRlimits, normalizeCapability, parseSecurityOpts, resolveCommand, resolveWorkingDir } from '../runtime/spec.js';
import type { HostFacts, ImageRuntimeConfig, RuntimeCreateConfig } from '../runtime/types.js';
import { mergeConfig } from './create-config.js';
import { parseHealthConfig } from './health.js';
import { planLimits } from './limits.js';
import { resolveLogConfig, type LogConfig } from './logrotate.js';
import { validateRestartPolicy } from './restart.js';
import { ZERO_TIME, type ContainerRecord, type MountPoint, type PlannedHostConfig } from './types.js';
import type { Digest } from '../common/digest.js';

/** What the daemon decides for containers that do not say (its flags), and what it can run. */
export interface DaemonDefaults {
  /** --log-driver / --log-opt. */
  logConfig: LogConfig;
  /** The OCI runtimes by name; `unusable` says why one cannot run containers here. */
  runtimes: Record<string, { unusable?: string }>;
  defaultRuntime: string;
  /** The static init binary (docker-init, i.e. tini) for HostConfig.Init; absent: none installed. */
  initPath?: string;
  /** false with --bridge none: containers without a network mode get "none". */
  defaultBridge: boolean;
  /** The host's name: what --network host containers are called. */
  hostname: string;
}

export interface PlanInput {
  /** The new container's ID (its short form is the default hostname). */
  id: string;
  request: ContainerCreateRequest;
  /** The image's config ("config" of the image's JSON). */
  image: ImageContainerConfig | undefined;
  daemon: DaemonDefaults;
  host: HostFacts;
  /** The API version the client spoke (some fields came later). */
  apiVersion?: string;
}

export interface CreatePlan {
  Config: ContainerConfig;
  HostConfig: PlannedHostConfig;
  /** NetworkingConfig.EndpointsConfig as asked for (the "default" key is settled later, with the network mode). */
  Endpoints: Record<string, EndpointSettings>;
  Path: string;
  Args: string[];
  Warnings: string[];
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

const isContainerMode = (mode: string): boolean => mode.startsWith('container:');
const isUserOrBridge = (mode: string): boolean => mode !== 'host' && mode !== 'none' && !isContainerMode(mode);

function atLeast(version: string | undefined, want: string): boolean {
  if (version === undefined) return true;
  const [a = 0, b = 0] = version.split('.').map(Number);
  const [c = 0, d = 0] = want.split('.').map(Number);
  return a !== c ? a > c : b >= d;
}

/** dockerd's validateNetMode: what the container's own network mode rules out. */
function checkNetworkMode(req: ContainerCreateRequest, hc: HostConfig, mode: string): void {
  const conflict = (msg: string): never => {
    throw invalid(`conflicting options: ${msg}`);
  };
  const container = isContainerMode(mode);
  if (container && mode === 'container:') throw invalid('Invalid network mode: invalid container format container:<name|id>');
  if (container && req.Hostname) conflict('hostname and the network mode');
  if (container && (hc.Links?.length ?? 0) > 0) conflict("container type network can't be used with links. This would result in undefined behavior");
  if (container && (hc.Dns?.length ?? 0) > 0) conflict('dns and the network mode');
  if (container && (hc.ExtraHosts?.length ?? 0) > 0) conflict('custom host-to-IP mapping and the network mode');
  if ((container || mode === 'host') && req.MacAddress) conflict('mac-address and the network mode');
  if (container && (Object.keys(hc.PortBindings ?? {}).length > 0 || hc.PublishAllPorts === true)) conflict('port publishing and the container type network mode');
  if (container && Object.keys(req.ExposedPorts ?? {}).length > 0) conflict('port exposing and the container type network mode');
  if (mode === 'host' && (hc.Links?.length ?? 0) > 0) conflict("host type networking can't be used with links. This would result in undefined behavior");
}

/**
 * The endpoints asked for, with the container-wide MacAddress (deprecated in API 1.44) moved
 * onto the main network's endpoint as dockerd does.
 */
function planEndpoints(req: ContainerCreateRequest, mode: string, apiVersion: string | undefined, warnings: string[]): Record<string, EndpointSettings> {
  const endpoints: Record<string, EndpointSettings> = {};
  for (const [name, e] of Object.entries(req.NetworkingConfig?.EndpointsConfig ?? {})) endpoints[name] = { ...(e ?? {}) };
  const legacyMac = req.MacAddress ?? '';
  if (!atLeast(apiVersion, '1.44')) {
    // Older clients could not set an endpoint's MAC: whatever is there came from nowhere.
    for (const e of Object.values(endpoints)) delete e.MacAddress;
  }
  if (legacyMac !== '' && isUserOrBridge(mode)) {
    const key = mode === '' ? 'default' : mode;
    const own = endpoints[key]?.MacAddress ?? '';
    if (own !== '' && own !== legacyMac) {
      throw invalid('the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty');
    }
    endpoints[key] = { ...(endpoints[key] ?? {}), MacAddress: legacyMac };
    if (atLeast(apiVersion, '1.44')) warnings.push('The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.');
  }
  for (const e of [legacyMac, ...Object.values(endpoints).map((x) => x.MacAddress ?? '')]) {
    if (e !== '' && (!MAC_RE.test(e) || (parseInt(e.slice(0, 2), 16) & 1) === 1)) throw invalid(`invalid MAC address: ${e}`);
  }
  return endpoints;
}

function checkName(what: string, v: string): void {
  // sethostname/setdomainname take at most 64 bytes (HOST_NAME_MAX).
  if (Buffer.byteLength(v) > 64 || v.includes('\0') || /\s/.test(v)) throw invalid(`invalid ${what}: ${JSON.stringify(v)}`, 'INVALID_HOSTNAME');
}

/** Checks the parts of HostConfig the runtime spec turns into settings, so a bad value is a 400 now, not at start. */
function checkRuntimeFields(hc: HostConfig, host: HostFacts, warnings: string[]): void {
  for (const c of [...(hc.CapAdd ?? []), ...(hc.CapDrop ?? [])]) normalizeCapability(c);
  buildRlimits(hc.Ulimits, host, (w) => warnings.push(w));
  parseSecurityOpts(hc.SecurityOpt);
  const adj = hc.OomScoreAdj ?? 0;
  if (adj < -1000 || adj > 1000) throw invalid(`Invalid value ${adj}, range for oom score adj is [-1000, 1000]`, 'INVALID_OOM_SCORE_ADJ');
  if ((hc.ShmSize ?? 0) < 0) throw invalid('SHM size can not be less than 0');
  const size = hc.ConsoleSize;
  if (size && (size[0] > 0xffff || size[1] > 0xffff)) throw invalid(`invalid console size: ${size[0]}x${size[1]}`);
  for (const g of hc.GroupAdd ?? []) if (g === '' || g.includes(':') || g.includes('\0')) throw invalid(`invalid group: ${JSON.stringify(g)}`);
  for (const [k, v] of Object.entries(hc.Tmpfs ?? {})) if (k.includes('\0') || v.includes('\0')) throw invalid('HostConfig.Tmpfs entries must not contain NUL bytes');
}

/** The runtime a container asks for (or the daemon's), which must be able to run containers here. */
function planRuntime(name: string | undefined, daemon: DaemonDefaults): string {
  const runtime = name || daemon.defaultRuntime;
  const info = daemon.runtimes[runtime];
  if (!info) throw invalid(`unknown or invalid runtime name: ${runtime}`);
  if (info.unusable) throw invalid(`runtime ${runtime} cannot run containers on this host: ${info.unusable}`);
  return runtime;
}

/** Validates and plans a create request. Throws a BerthError ('invalid', 400) with dockerd's wording. */
export function planCreate(input: PlanInput): CreatePlan {
  const { request: req, daemon, host } = input;
  const warnings: string[] = [];
  const given: HostConfig = req.HostConfig ?? {};
  const rawMode = given.NetworkMode ?? '';
  checkNetworkMode(req, given, rawMode);
  const mode = rawMode === '' || rawMode === 'default' ? (daemon.defaultBridge ? rawMode || 'default' : 'none') : rawMode;

  const hostname = req.Hostname || (mode === 'host' ? daemon.hostname : input.id.slice(0, 12));
  checkName('hostname', hostname);
  if (req.Domainname) checkName('domainname', req.Domainname);

  const image = input.image;
  const Config = mergeConfig(req, image, hostname);
  const args = resolveCommand({ Entrypoint: image?.Entrypoint ?? null, Cmd: image?.Cmd ?? null }, req);
  resolveWorkingDir({ WorkingDir: typeof image?.WorkingDir === 'string' ? image.WorkingDir : '' }, req);
  // The environment the process will get (HOME comes from the image's passwd at start).
  buildEnv({ createEnv: Config.Env ?? [], hostname, tty: Config.Tty === true, home: '/' });
  parseHealthConfig(req.Healthcheck ?? undefined);
  if (req.StopTimeout !== undefined && req.StopTimeout !== null && req.StopTimeout < -1) {
    throw invalid(`invalid stop timeout: ${req.StopTimeout}`);
  }

  const Endpoints = planEndpoints(req, mode, input.apiVersion, warnings);
  checkRuntimeFields(given, host, warnings);
  const restart = validateRestartPolicy(given.RestartPolicy ?? undefined, given.AutoRemove === true);
  const log = resolveLogConfig(given.LogConfig ?? undefined, daemon.logConfig).config;
  const runtime = planRuntime(given.Runtime, daemon);
  if (given.Init === true && daemon.initPath === undefined) {
    throw invalid('--init needs an init binary and this daemon has none: install Debian\'s tini (tini-static), or give --init-path');
  }
  for (const m of given.Mounts ?? []) {
    if (m.VolumeOptions?.Subpath && !atLeast(input.apiVersion, '1.45')) throw invalid('VolumeOptions.Subpath needs API v1.45 or newer');
  }
  const limits = planLimits(given, host);
  warnings.push(...limits.warnings);
  const HostConfig: PlannedHostConfig = {
    ...limits.hostConfig,
    NetworkMode: mode,
    RestartPolicy: restart,
    LogConfig: log,
    Runtime: runtime,
    AutoRemove: given.AutoRemove === true,
  };
  return { Config, HostConfig, Endpoints, Path: args[0] as string, Args: args.slice(1), Warnings: warnings };
}

/**
 * A planned container in the shape the runtime spec takes (runtime/spec.ts buildSpec): the
 * command already resolved (Path and Args), Config's Env already merged with the image's, the
 * image's WorkingDir already in Config. So the image is not read again at start, and a
 * container runs as it was planned even if its image's tag moved since.
 */
export function runtimeProcess(p: Pick<ContainerRecord, 'Config' | 'HostConfig' | 'Path' | 'Args'>): { image: ImageRuntimeConfig; create: RuntimeCreateConfig } {
  const cfg = p.Config;
  return {
    image: { WorkingDir: cfg.WorkingDir ?? '' },
    create: {
      ...(cfg.Hostname ? { Hostname: cfg.Hostname } : {}),
      ...(cfg.Domainname ? { Domainname: cfg.Domainname } : {}),
      User: cfg.User ?? '',
      Env: cfg.Env ?? [],
      Entrypoint: [p.Path],
      Cmd: p.Args,
      Tty: cfg.Tty === true,
      OpenStdin: cfg.OpenStdin === true,
      ...(cfg.StopSignal ? { StopSignal: cfg.StopSignal } : {}),
      HostConfig: p.HostConfig,
    },
  };
}

/** The record a new container is persisted as: the plan, with what settling it decided. */
export function recordOf(
  plan: CreatePlan,
  o: { id: string; name: string; created: string; image: string; imageId: Digest; network: { NetworkMode: string; Endpoints: Record<string, EndpointSettings> }; mounts: MountPoint[] },
): ContainerRecord {
  return {
    version: 2,
    Id: o.id,
    Name: o.name,
    Created: o.created,
    Image: o.image,
    ImageID: o.imageId,
    Config: plan.Config,
    HostConfig: { ...plan.HostConfig, NetworkMode: o.network.NetworkMode },
    Endpoints: o.network.Endpoints,
    Path: plan.Path,
    Args: plan.Args,
    State: { Status: 'created', Pid: 0, ExitCode: 0, Error: '', OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME },
    RestartCount: 0,
    MountPoints: o.mounts,
  };
}
