/**
 * The container and exec endpoints of the Engine API (v1.47), as
 * `client.containers`: create, lifecycle, inspect, list, logs, attach and exec
 * (hijacked), archive (cp), top, rename, pause, prune. Streams are returned as
 * they come; demultiplexing is the caller's choice (client/stdcopy.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type {
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerSummary,
  ContainerTop,
  ContainerWaitResponse,
  ExecCreateBody,
  ExecInspect,
  Filters,
  PathStat,
  PruneContainersResponse,
} from '../types/engine-api.js';
import { EngineError } from './errors.js';
import { hijack } from './hijack.js';
import type { HijackedConnection } from './hijack.js';
import { encodePathName, readBody } from './http.js';
import type { HttpTransport } from './http.js';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';

export interface ListContainersOptions {
  all?: boolean;
  /** Only the N most recently created (includes stopped ones). */
  limit?: number;
  /** Compute SizeRw and SizeRootFs. */
  size?: boolean;
  filters?: Filters;
}

export interface LogsOptions {
  stdout?: boolean;
  stderr?: boolean;
  follow?: boolean;
  timestamps?: boolean;
  /** A number of lines or "all". */
  tail?: string;
  /** API timestamps ("seconds[.nanos]"), see toApiTimestamp(). */
  since?: string;
  until?: string;
  signal?: AbortSignal;
}

export interface AttachOptions {
  stream?: boolean;
  logs?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  detachKeys?: string;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** A logs or archive body with what its headers said. */
export interface StreamResponse {
  stream: IncomingMessage;
  /** True when the body is raw (TTY) rather than multiplexed. */
  raw: boolean;
}

function decodePathStat(header: string | string[] | undefined): PathStat | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  try {
    return JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as PathStat;
  } catch {
    throw new EngineError('malformed X-Docker-Container-Path-Stat header from the engine', 0, 'SERVER');
  }
}

export class ContainerApi {
  constructor(private readonly t: HttpTransport) {}

  private path(id: string, rest = ''): string {
    return `/containers/${encodePathName(id)}${rest}`;
  }

  /** GET /containers/json */
  list(opts: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    return this.t.json<ContainerSummary[]>({
      method: 'GET',
      path: '/containers/json',
      query: { all: opts.all, limit: opts.limit, size: opts.size, filters: opts.filters },
    });
  }

  /** POST /containers/create */
  create(body: ContainerCreateBody, opts: { name?: string; platform?: string } = {}): Promise<ContainerCreateResponse> {
    return this.t.json<ContainerCreateResponse>({
      method: 'POST',
      path: '/containers/create',
      query: { name: opts.name, platform: opts.platform },
      json: body,
    });
  }

  /** GET /containers/{id}/json */
  inspect(id: string, opts: { size?: boolean } = {}): Promise<ContainerInspect> {
    return this.t.json<ContainerInspect>({ method: 'GET', path: this.path(id, '/json'), query: { size: opts.size } });
  }

  async start(id: string, opts: { detachKeys?: string } = {}): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/start'), query: { detachKeys: opts.detachKeys } });
  }

  async stop(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/stop'), query: { t: opts.timeout, signal: opts.signal } });
  }

  async restart(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/restart'), query: { t: opts.timeout, signal: opts.signal } });
  }

  async kill(id: string, signal?: string): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/kill'), query: { signal } });
  }

  /** DELETE /containers/{id}; `volumes` removes anonymous volumes too. */
  async remove(id: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    await this.t.json({ method: 'DELETE', path: this.path(id), query: { force: opts.force, v: opts.volumes } });
  }

  /** POST /containers/{id}/update: resource limits and the restart policy. */
  update(id: string, body: Record<string, unknown>): Promise<{ Warnings: string[] | null }> {
    return this.t.json<{ Warnings: string[] | null }>({ method: 'POST', path: this.path(id, '/update'), json: body });
  }

  async rename(id: string, name: string): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/rename'), query: { name } });
  }

  async pause(id: string): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/pause') });
  }

  async unpause(id: string): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/unpause') });
  }

  /** POST /containers/{id}/resize (the TTY's size). */
  async resize(id: string, height: number, width: number): Promise<void> {
    await this.t.json({ method: 'POST', path: this.path(id, '/resize'), query: { h: height, w: width } });
  }

  /** GET /containers/{id}/top */
  top(id: string, psArgs?: string): Promise<ContainerTop> {
    return this.t.json<ContainerTop>({ method: 'GET', path: this.path(id, '/top'), query: { ps_args: psArgs } });
  }

  /** POST /containers/prune */
  prune(opts: { filters?: Filters } = {}): Promise<PruneContainersResponse> {
    return this.t.json<PruneContainersResponse>({ method: 'POST', path: '/containers/prune', query: { filters: opts.filters } });
  }

  /**
   * POST /containers/{id}/wait. Resolves once the engine has registered the
   * wait (its headers arrived), so a start that follows cannot race past it;
   * `result` settles when the condition is met.
   */
  async beginWait(
    id: string,
    condition: WaitCondition = 'not-running',
  ): Promise<{ result: Promise<ContainerWaitResponse>; cancel(): void }> {
    const res = await this.t.send({ method: 'POST', path: this.path(id, '/wait'), query: { condition }, stream: true });
    const result = readBody(res).then((body) => {
      const text = body.toString('utf8').trim();
      if (!text) throw new EngineError('the engine closed the wait without a status', 0, 'SERVER');
      return JSON.parse(text) as ContainerWaitResponse;
    });
    return {
      result,
      cancel: () => {
        result.catch(() => undefined);
        res.destroy();
      },
    };
  }

  async wait(id: string, condition: WaitCondition = 'not-running'): Promise<ContainerWaitResponse> {
    return (await this.beginWait(id, condition)).result;
  }

  /** GET /containers/{id}/logs: multiplexed unless the container has a TTY. */
  async logs(id: string, opts: LogsOptions): Promise<StreamResponse> {
    const stream = await this.t.send({
      method: 'GET',
      path: this.path(id, '/logs'),
      query: {
        stdout: opts.stdout,
        stderr: opts.stderr,
        follow: opts.follow,
        timestamps: opts.timestamps,
        tail: opts.tail,
        since: opts.since,
        until: opts.until,
      },
      stream: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { stream, raw: String(stream.headers['content-type'] ?? '') === RAW_STREAM };
  }

  /** POST /containers/{id}/attach, hijacked. */
  attach(id: string, opts: AttachOptions): Promise<HijackedConnection> {
    return hijack(this.t, {
      method: 'POST',
      path: this.path(id, '/attach'),
      query: {
        stream: opts.stream ?? true,
        logs: opts.logs,
        stdin: opts.stdin,
        stdout: opts.stdout,
        stderr: opts.stderr,
        detachKeys: opts.detachKeys,
      },
    });
  }

  /** HEAD /containers/{id}/archive?path=: what is at `path` in the container. */
  async statPath(id: string, path: string): Promise<PathStat> {
    const res = await this.t.send({ method: 'HEAD', path: this.path(id, '/archive'), query: { path } });
    res.resume();
    const stat = decodePathStat(res.headers['x-docker-container-path-stat']);
    if (!stat) throw new EngineError('the engine did not describe the path (no X-Docker-Container-Path-Stat)', 0, 'SERVER');
    return stat;
  }

  /** GET /containers/{id}/changes: what changed in the container's filesystem (Kind 0 modified, 1 added, 2 deleted). */
  changes(id: string): Promise<{ Path: string; Kind: number }[] | null> {
    return this.t.json<{ Path: string; Kind: number }[] | null>({ method: 'GET', path: this.path(id, '/changes') });
  }

  /** GET /containers/{id}/export: the container's filesystem as a tar stream. */
  export(id: string): Promise<IncomingMessage> {
    return this.t.send({ method: 'GET', path: this.path(id, '/export'), stream: true });
  }

  /** GET /containers/{id}/archive?path=: a tar of `path`, its root named after the path's base name. */
  async getArchive(id: string, path: string): Promise<{ stat: PathStat | undefined; tar: IncomingMessage }> {
    const tar = await this.t.send({ method: 'GET', path: this.path(id, '/archive'), query: { path }, stream: true });
    return { stat: decodePathStat(tar.headers['x-docker-container-path-stat']), tar };
  }

  /** PUT /containers/{id}/archive?path=: extract a tar into the directory `path`. */
  async putArchive(
    id: string,
    path: string,
    tar: Readable,
    opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {},
  ): Promise<void> {
    const res = await this.t.send({
      method: 'PUT',
      path: this.path(id, '/archive'),
      query: { path, noOverwriteDirNonDir: opts.noOverwriteDirNonDir, copyUIDGID: opts.copyUIDGID },
      headers: { 'Content-Type': 'application/x-tar' },
      body: tar,
    });
    await readBody(res);
  }

  // -------------------------------------------------------------------------
  // Exec

  /** POST /containers/{id}/exec */
  async execCreate(id: string, body: ExecCreateBody): Promise<string> {
    const r = await this.t.json<{ Id: string }>({ method: 'POST', path: this.path(id, '/exec'), json: body });
    return r.Id;
  }

  /** POST /exec/{id}/start with Detach: the process runs on its own. */
  async execStartDetached(execId: string, opts: { tty?: boolean } = {}): Promise<void> {
    await this.t.json({ method: 'POST', path: `/exec/${encodePathName(execId)}/start`, json: { Detach: true, Tty: opts.tty ?? false } });
  }

  /** POST /exec/{id}/start, hijacked: the process's stdio. */
  execStart(execId: string, opts: { tty?: boolean; consoleSize?: [number, number] } = {}): Promise<HijackedConnection> {
    return hijack(this.t, {
      method: 'POST',
      path: `/exec/${encodePathName(execId)}/start`,
      json: { Detach: false, Tty: opts.tty ?? false, ...(opts.consoleSize ? { ConsoleSize: opts.consoleSize } : {}) },
    });
  }

  /** GET /exec/{id}/json */
  execInspect(execId: string): Promise<ExecInspect> {
    return this.t.json<ExecInspect>({ method: 'GET', path: `/exec/${encodePathName(execId)}/json` });
  }

  async execResize(execId: string, height: number, width: number): Promise<void> {
    await this.t.json({ method: 'POST', path: `/exec/${encodePathName(execId)}/resize`, query: { h: height, w: width } });
  }
}
