/**
 * EngineClient: the typed Docker Engine API (v1.47) client shared by the CLI,
 * the Electron main process and the tests. Speaks to berthd (or any
 * Docker-compatible engine) over a unix socket or TCP with node:http.
 */
import type { Readable } from 'node:stream';
import type {
  AuthConfig,
  AuthResponse,
  DistributionInspect,
  EventMessage,
  Filters,
  HistoryItem,
  ImageDeleteItem,
  ImageInspect,
  ImageSummary,
  PingInfo,
  ProgressMessage,
  PruneImagesResponse,
  PruneBuildCacheResponse,
  SystemDf,
  SystemDfType,
  SystemInfo,
  SystemVersion,
} from '../types/engine-api.js';
import { ContainerApi } from './containers.js';
import { VolumeApi } from './volumes.js';
import { NetworkApi } from './networks.js';
import { EngineError, codeForStatus } from './errors.js';
import {
  DEFAULT_API_VERSION,
  HttpTransport,
  defaultHost,
  encodePathName,
  encodeRegistryAuth,
  iterateJson,
  readBody,
} from './http.js';
import type { TlsOptions } from './http.js';
import { familiarName, parseReference } from './reference.js';

export interface EngineClientOptions {
  /** unix:///path.sock | tcp://host:port | http://host:port. Default: BERTH_HOST, DOCKER_HOST, unix:///run/berth/docker.sock */
  host?: string;
  /** Default '1.47'. */
  apiVersion?: string;
  /**
   * Idle timeout per request in ms (default: none). Streaming calls (events,
   * pull, load, save) only time out while waiting for the response headers.
   */
  timeoutMs?: number;
  /** TLS for a tcp:// host (see client/tls.ts for docker's flags and environment). */
  tls?: TlsOptions;
}

/** A point in time for `events`: a Date, Unix seconds, or a string Docker accepts. */
export type TimeSpec = Date | number | string;

export interface EventsOptions {
  /** Date, Unix seconds, RFC 3339 / date string, or a Go duration ("10m", "1h30m") meaning "that long ago". */
  since?: TimeSpec;
  until?: TimeSpec;
  filters?: Filters;
  signal?: AbortSignal;
}

export interface ListImagesOptions {
  /** Include intermediate images. */
  all?: boolean;
  filters?: Filters;
  /** Include digest information in RepoDigests. */
  digests?: boolean;
  /** Compute SharedSize. */
  sharedSize?: boolean;
}

export interface PullOptions {
  /** "os/arch[/variant]" */
  platform?: string;
  auth?: AuthConfig;
  signal?: AbortSignal;
}

export interface PushOptions {
  auth?: AuthConfig;
  signal?: AbortSignal;
}

export interface RemoveImageOptions {
  force?: boolean;
  noprune?: boolean;
}

export class EngineClient {
  readonly host: string;
  readonly apiVersion: string;
  /** The request plumbing, for endpoints that are not wrapped yet (and for hijacking). */
  readonly transport: HttpTransport;
  /** Container and exec endpoints. */
  readonly containers: ContainerApi;
  /** Volume endpoints. */
  readonly volumes: VolumeApi;
  /** Network endpoints. */
  readonly networks: NetworkApi;

  constructor(opts: EngineClientOptions = {}) {
    this.host = opts.host || defaultHost();
    this.apiVersion = opts.apiVersion || DEFAULT_API_VERSION;
    this.transport = new HttpTransport({
      host: this.host,
      apiVersion: this.apiVersion,
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    this.containers = new ContainerApi(this.transport);
    this.volumes = new VolumeApi(this.transport);
    this.networks = new NetworkApi(this.transport);
  }

  /** Close idle keep-alive connections (the process can exit without it: idle sockets are unref'd). */
  close(): void {
    this.transport.close();
  }

  // -------------------------------------------------------------------------
  // System

  /** GET /_ping (unversioned, like Docker's client). */
  async ping(signal?: AbortSignal): Promise<PingInfo> {
    const { res, text } = await this.transport.text({
      method: 'GET',
      path: '/_ping',
      versioned: false,
      ...(signal ? { signal } : {}),
    });
    const header = (name: string): string | undefined => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const info: PingInfo = { status: text.trim() };
    const apiVersion = header('api-version');
    const osType = header('ostype');
    const experimental = header('docker-experimental');
    const builderVersion = header('builder-version');
    if (apiVersion) info.apiVersion = apiVersion;
    if (osType) info.osType = osType;
    if (experimental) info.experimental = experimental === 'true';
    if (builderVersion) info.builderVersion = builderVersion;
    return info;
  }

  /** GET /version */
  version(): Promise<SystemVersion> {
    return this.transport.json<SystemVersion>({ method: 'GET', path: '/version' });
  }

  /** GET /info */
  info(): Promise<SystemInfo> {
    return this.transport.json<SystemInfo>({ method: 'GET', path: '/info' });
  }

  /** GET /system/df */
  systemDf(opts: { types?: SystemDfType[] } = {}): Promise<SystemDf> {
    return this.transport.json<SystemDf>({ method: 'GET', path: '/system/df', query: { type: opts.types } });
  }

  /**
   * GET /events: yields events as they happen. Without `until` the stream is
   * endless; abort `signal` to stop (the iteration then throws the abort reason).
   */
  async *events(opts: EventsOptions = {}): AsyncGenerator<EventMessage, void, undefined> {
    const now = Date.now();
    yield* this.transport.jsonStream<EventMessage>({
      method: 'GET',
      path: '/events',
      query: {
        since: opts.since === undefined ? undefined : toApiTimestamp(opts.since, now),
        until: opts.until === undefined ? undefined : toApiTimestamp(opts.until, now),
        filters: opts.filters,
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  // -------------------------------------------------------------------------
  // Images

  /** GET /images/json */
  listImages(opts: ListImagesOptions = {}): Promise<ImageSummary[]> {
    return this.transport.json<ImageSummary[]>({
      method: 'GET',
      path: '/images/json',
      query: { all: opts.all, filters: opts.filters, digests: opts.digests, 'shared-size': opts.sharedSize },
    });
  }

  /** GET /images/{name}/json */
  inspectImage(name: string): Promise<ImageInspect> {
    return this.transport.json<ImageInspect>({ method: 'GET', path: `/images/${encodePathName(name)}/json` });
  }

  /** GET /images/{name}/history */
  imageHistory(name: string): Promise<HistoryItem[]> {
    return this.transport.json<HistoryItem[]>({ method: 'GET', path: `/images/${encodePathName(name)}/history` });
  }

  /** POST /images/{name}/tag?repo=&tag= */
  async tagImage(name: string, repo: string, tag?: string): Promise<void> {
    await this.transport.json<unknown>({
      method: 'POST',
      path: `/images/${encodePathName(name)}/tag`,
      query: { repo, tag },
    });
  }

  /** DELETE /images/{name} */
  removeImage(name: string, opts: RemoveImageOptions = {}): Promise<ImageDeleteItem[]> {
    return this.transport.json<ImageDeleteItem[]>({
      method: 'DELETE',
      path: `/images/${encodePathName(name)}`,
      query: { force: opts.force, noprune: opts.noprune },
    });
  }

  /** POST /build/prune: reclaims the build cache (`all` also takes what images still share). */
  pruneBuildCache(opts: { all?: boolean; filters?: Filters; keepStorage?: number } = {}): Promise<PruneBuildCacheResponse> {
    return this.transport.json<PruneBuildCacheResponse>({
      method: 'POST',
      path: '/build/prune',
      query: { all: opts.all ? '1' : undefined, filters: opts.filters, 'keep-storage': opts.keepStorage ? String(opts.keepStorage) : undefined },
    });
  }

  /** POST /images/prune */
  pruneImages(opts: { filters?: Filters } = {}): Promise<PruneImagesResponse> {
    return this.transport.json<PruneImagesResponse>({
      method: 'POST',
      path: '/images/prune',
      query: { filters: opts.filters },
    });
  }

  /**
   * POST /images/create?fromImage=&tag=: yields the engine's progress messages.
   * A reference without tag or digest pulls ":latest". Messages carrying
   * `error` are yielded like the others: use followProgress() to turn them into
   * an exception at the end of the stream.
   */
  async *pullImage(ref: string, opts: PullOptions = {}): AsyncGenerator<ProgressMessage, void, undefined> {
    const parsed = parseReference(ref);
    const headers: Record<string, string> = {};
    if (opts.auth) headers['X-Registry-Auth'] = encodeRegistryAuth(opts.auth);
    yield* this.transport.jsonStream<ProgressMessage>({
      method: 'POST',
      path: '/images/create',
      query: {
        fromImage: familiarName(parsed),
        tag: parsed.digest ?? parsed.tag ?? 'latest',
        platform: opts.platform,
      },
      headers,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /**
   * POST /images/{name}/push?tag=: yields the engine's progress messages. `ref`
   * with a tag pushes that tag; without one, every local tag of the repository.
   * The last message of each pushed tag carries aux {Tag, Digest, Size}.
   */
  async *pushImage(ref: string, opts: PushOptions = {}): AsyncGenerator<ProgressMessage, void, undefined> {
    const parsed = parseReference(ref);
    if (parsed.digest) throw new EngineError('cannot push a digest reference', 0, 'INVALID');
    // dockerd before API 1.42 refuses a push without the header: send an empty one.
    const headers = { 'X-Registry-Auth': encodeRegistryAuth(opts.auth ?? {}) };
    yield* this.transport.jsonStream<ProgressMessage>({
      method: 'POST',
      path: `/images/${encodePathName(familiarName(parsed))}/push`,
      query: { tag: parsed.tag },
      headers,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** GET /images/get?names=...: a tar stream of the images (docker save). */
  async saveImages(names: string[], opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    if (names.length === 0) throw new EngineError('no images given to save', 0, 'INVALID');
    return this.transport.send({
      method: 'GET',
      path: '/images/get',
      query: { names },
      stream: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** POST /images/load: sends a tar stream (docker save format) and yields the engine's messages. */
  async *loadImages(
    tar: Readable,
    opts: { quiet?: boolean; signal?: AbortSignal } = {},
  ): AsyncGenerator<ProgressMessage, void, undefined> {
    const res = await this.transport.send({
      method: 'POST',
      path: '/images/load',
      query: { quiet: opts.quiet },
      headers: { 'Content-Type': 'application/x-tar' },
      body: tar,
      stream: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const type = String(res.headers['content-type'] ?? '');
    if (type.includes('json')) {
      yield* iterateJson<ProgressMessage>(res, opts.signal);
      return;
    }
    // Older engines answer with plain text.
    const text = (await readBody(res)).toString('utf8');
    if (text) yield { stream: text };
  }

  /** POST /commit: a new image from a container's changes; answers the new image's ID. */
  async commitContainer(
    container: string,
    opts: { repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string[] } = {},
  ): Promise<{ Id: string }> {
    return this.transport.json<{ Id: string }>({
      method: 'POST',
      path: '/commit',
      query: { container, repo: opts.repo, tag: opts.tag, comment: opts.comment, author: opts.author, pause: opts.pause === false ? '0' : undefined, changes: opts.changes },
    });
  }

  /** POST /images/create?fromSrc=-: sends a filesystem tar (plain or compressed) and yields the engine's messages (the new ID as a status). */
  async *importImage(
    tar: Readable,
    opts: { repo?: string; tag?: string; message?: string; changes?: string[]; signal?: AbortSignal } = {},
  ): AsyncGenerator<ProgressMessage, void, undefined> {
    const res = await this.transport.send({
      method: 'POST',
      path: '/images/create',
      query: { fromSrc: '-', repo: opts.repo, tag: opts.tag, message: opts.message, changes: opts.changes },
      headers: { 'Content-Type': 'application/x-tar' },
      body: tar,
      stream: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    yield* iterateJson<ProgressMessage>(res, opts.signal);
  }

  /**
   * POST /build (the classic builder): sends the context tar and yields the engine's messages
   * (`stream` lines, `aux` with the image ID, `error` on failure).
   */
  async *buildImage(
    context: Readable,
    opts: {
      tags?: string[];
      dockerfile?: string;
      buildArgs?: Record<string, string>;
      labels?: Record<string, string>;
      target?: string;
      noCache?: boolean;
      pull?: boolean;
      quiet?: boolean;
      forceRm?: boolean;
      rm?: boolean;
      platform?: string;
      cacheFrom?: string[];
      /** The network RUN steps join. */
      networkMode?: string;
      /** "host:ip" entries for RUN steps' /etc/hosts. */
      extraHosts?: string[];
      /**
       * Build secrets by id, for `RUN --mount=type=secret` (Berth's X-Berth-Build-Secrets header:
       * the classic API has no secrets channel of its own).
       */
      secrets?: Record<string, Buffer>;
      signal?: AbortSignal;
    } = {},
  ): AsyncGenerator<ProgressMessage & { stream?: string }, void, undefined> {
    const secrets = opts.secrets && Object.keys(opts.secrets).length > 0
      ? Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(opts.secrets).map(([id, v]) => [id, v.toString('base64')])))).toString('base64')
      : undefined;
    const res = await this.transport.send({
      method: 'POST',
      path: '/build',
      query: {
        t: opts.tags,
        dockerfile: opts.dockerfile,
        buildargs: opts.buildArgs ? JSON.stringify(opts.buildArgs) : undefined,
        labels: opts.labels ? JSON.stringify(opts.labels) : undefined,
        target: opts.target,
        nocache: opts.noCache ? '1' : undefined,
        pull: opts.pull ? '1' : undefined,
        q: opts.quiet ? '1' : undefined,
        forcerm: opts.forceRm ? '1' : undefined,
        rm: opts.rm === false ? '0' : undefined,
        platform: opts.platform,
        cachefrom: opts.cacheFrom && opts.cacheFrom.length > 0 ? JSON.stringify(opts.cacheFrom) : undefined,
        networkmode: opts.networkMode,
        extrahosts: opts.extraHosts && opts.extraHosts.length > 0 ? opts.extraHosts : undefined,
      },
      headers: { 'Content-Type': 'application/x-tar', ...(secrets ? { 'X-Berth-Build-Secrets': secrets } : {}) },
      body: context,
      stream: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    yield* iterateJson<ProgressMessage & { stream?: string }>(res, opts.signal);
  }

  /** GET /distribution/{name}/json: the registry's descriptor for a reference. */
  distributionInspect(name: string, auth?: AuthConfig): Promise<DistributionInspect> {
    return this.transport.json<DistributionInspect>({
      method: 'GET',
      path: `/distribution/${encodePathName(name)}/json`,
      ...(auth ? { headers: { 'X-Registry-Auth': encodeRegistryAuth(auth) } } : {}),
    });
  }

  /** POST /auth: check credentials with a registry. */
  auth(config: AuthConfig): Promise<AuthResponse> {
    return this.transport.json<AuthResponse>({ method: 'POST', path: '/auth', json: config });
  }
}

/**
 * Consume a progress stream, calling `onMessage` for each message (including
 * error messages), and throw an EngineError at the end if any message carried
 * an error. Returns every message.
 */
export async function followProgress(
  iter: AsyncIterable<ProgressMessage>,
  onMessage?: (msg: ProgressMessage) => void,
): Promise<ProgressMessage[]> {
  const all: ProgressMessage[] = [];
  let failure: ProgressMessage | undefined;
  for await (const msg of iter) {
    all.push(msg);
    if ((msg.error || msg.errorDetail) && !failure) failure = msg;
    onMessage?.(msg);
  }
  if (failure) {
    const text = failure.errorDetail?.message || failure.error || 'unknown error';
    const status = failure.errorDetail?.code ?? 500;
    throw new EngineError(text, status, codeForStatus(status), { inStream: true });
  }
  return all;
}

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in a Go duration string ("1h30m", "90s"), or undefined if it isn't one. */
export function parseGoDuration(s: string): number | undefined {
  if (!GO_DURATION.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    ms += Number(m[1]) * (DURATION_UNITS[m[2] ?? 's'] ?? 0);
  }
  return ms;
}

/**
 * Convert a time to the API's timestamp format ("seconds[.nanoseconds]"), the
 * way Docker's CLI does: durations are relative to `now`.
 */
export function toApiTimestamp(t: TimeSpec, now: number = Date.now()): string {
  const fromMs = (ms: number): string => {
    const sec = Math.floor(ms / 1000);
    const nanos = Math.round((ms - sec * 1000) * 1e6);
    return nanos === 0 ? String(sec) : `${sec}.${String(nanos).padStart(9, '0')}`;
  };
  if (t instanceof Date) {
    if (Number.isNaN(t.getTime())) throw new EngineError('invalid date', 0, 'INVALID');
    return fromMs(t.getTime());
  }
  if (typeof t === 'number') return String(t);
  const s = t.trim();
  if (/^\d+(?:\.\d+)?$/.test(s)) return s;
  const dur = parseGoDuration(s);
  if (dur !== undefined) return fromMs(now - dur);
  const parsed = Date.parse(s);
  if (Number.isNaN(parsed)) throw new EngineError(`invalid timestamp or duration: "${t}"`, 0, 'INVALID');
  return fromMs(parsed);
}
