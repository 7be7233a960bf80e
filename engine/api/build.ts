/**
 * POST /build, Docker's classic builder protocol (what `DOCKER_BUILDKIT=0 docker build`,
 * docker-compose and the SDKs send): the body is the build context as a tar (maybe gzip), the
 * query carries the options, X-Registry-Config the credentials for base image pulls, and
 * X-Berth-Build-Secrets (Berth's own, sent by `berth build --secret`) the build secrets. The
 * answer is a newline-delimited JSON stream ({"stream": ...}, {"aux": {"ID": ...}}); a failure
 * after output has started is a last {"error", "errorDetail": {"message", "code"}} message, one
 * before it a plain HTTP error. POST /build/prune reclaims the build cache.
 */
import type { Readable } from 'node:stream';
import { errorMessage, invalid } from '../common/errors.js';
import type { ProgressMsg } from './images.js';
import { boolParam, JsonStream, parseFilters, sendJson, type Router } from './router.js';

/** The header `berth build --secret` fills: base64 of JSON {"id": "<base64 of the value>"}. */
export const SECRETS_HEADER = 'x-berth-build-secrets';
const SECRET_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_SECRET_BYTES = 500 * 1024;
const BUILD_PRUNE_FILTERS = ['until', 'unused-for', 'id', 'parent', 'type', 'description', 'inuse', 'shared', 'private', 'label', 'label!'];

export interface BuildRequest {
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string | null>;
  target?: string;
  labels: Record<string, string>;
  noCache: boolean;
  pull: boolean;
  remove: boolean;
  forceRemove: boolean;
  quiet: boolean;
  platform?: string;
  cacheFrom: string[];
  networkMode?: string;
  extraHosts: string[];
  /** HostConfig resource settings for RUN steps. */
  runLimits: Record<string, unknown>;
  secrets: Map<string, Buffer>;
  registryAuth: Record<string, unknown>;
  signal: AbortSignal;
  progress(m: ProgressMsg): void;
}

export interface BuildPruneRequest {
  all: boolean;
  filters: Record<string, string[]>;
  keepStorage: number;
}

/** What the build routes need; engine/builder implements it, the daemon wires it. */
export interface BuildBackend {
  build(context: Readable, req: BuildRequest): Promise<string>;
  prune(req: BuildPruneRequest): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }>;
}

function jsonParam<T>(q: URLSearchParams, name: string, check: (v: unknown) => v is T): T | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(`invalid ${name}: not JSON: ${raw}`);
  }
  if (!check(v)) throw invalid(`invalid ${name}: ${raw}`);
  return v;
}

const isStringMap = (nullable: boolean) =>
  (v: unknown): v is Record<string, string> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || (nullable && x === null));

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** X-Registry-Config: base64 JSON {registry: AuthConfig}. */
function registryConfig(header: string | string[] | undefined): Record<string, unknown> {
  if (typeof header !== 'string' || header.trim() === '') return {};
  try {
    const v = JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    throw invalid('invalid X-Registry-Config header: not base64-encoded JSON');
  }
}

/** X-Berth-Build-Secrets: the values stay in memory; the header is never logged. */
export function parseSecretsHeader(header: string | string[] | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (typeof header !== 'string' || header.trim() === '') return out;
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw invalid('invalid X-Berth-Build-Secrets header: not base64-encoded JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('invalid X-Berth-Build-Secrets header: expected an object of id to base64 value');
  for (const [id, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!SECRET_ID.test(id)) throw invalid(`invalid secret id "${id}": letters, digits, '.', '_' and '-' only`);
    if (typeof v !== 'string') throw invalid(`invalid value for secret ${id}: expected base64`);
    const value = Buffer.from(v, 'base64');
    if (value.length > MAX_SECRET_BYTES) throw invalid(`secret ${id} is larger than ${MAX_SECRET_BYTES} bytes`);
    out.set(id, value);
  }
  return out;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw invalid(`invalid value for ${name}: ${v}: not an integer`);
  return Number(v);
}

const isUlimits = (v: unknown): v is Array<{ Name: string; Soft: number; Hard: number }> =>
  Array.isArray(v) && v.every((u) => typeof u === 'object' && u !== null && typeof (u as { Name?: unknown }).Name === 'string');

/** The HostConfig fields Docker applies to the build's RUN containers. */
function runLimits(q: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const ints: Array<[string, string]> = [
    ['memory', 'Memory'],
    ['memswap', 'MemorySwap'],
    ['cpushares', 'CpuShares'],
    ['cpuperiod', 'CpuPeriod'],
    ['cpuquota', 'CpuQuota'],
    ['shmsize', 'ShmSize'],
  ];
  for (const [param, field] of ints) {
    const n = intParam(q, param);
    if (n !== undefined && n !== 0) out[field] = n;
  }
  for (const [param, field] of [
    ['cpusetcpus', 'CpusetCpus'],
    ['cpusetmems', 'CpusetMems'],
    ['cgroupparent', 'CgroupParent'],
  ] as const) {
    const v = q.get(param);
    if (v) out[field] = v;
  }
  const ulimits = jsonParam(q, 'ulimits', isUlimits);
  if (ulimits && ulimits.length > 0) out['Ulimits'] = ulimits;
  return out;
}

export function buildRoutes(router: Router, backend: BuildBackend): void {
  router.add('POST', '/build/prune', async ({ res, query }) => {
    const keep = query.get('reserved-space') || query.get('keep-storage') || '';
    if (keep !== '' && !/^\d+$/.test(keep)) throw invalid(`keep-storage is in bytes and expects an integer, got ${keep}`);
    const result = await backend.prune({ all: boolParam(query, 'all'), filters: parseFilters(query, BUILD_PRUNE_FILTERS), keepStorage: keep === '' ? 0 : Number(keep) });
    sendJson(res, 200, { CachesDeleted: result.CachesDeleted.length > 0 ? result.CachesDeleted : null, SpaceReclaimed: result.SpaceReclaimed });
  });

  router.add('POST', '/build', async (ctx) => {
    const { req, res, query, log } = ctx;
    if (query.get('remote')) throw invalid('building from a remote context (remote=) is not supported; send the context as a tar');
    if (query.get('version') === '2') throw invalid('BuildKit (version=2) is not supported by this daemon; use the classic builder (DOCKER_BUILDKIT=0)');
    if (boolParam(query, 'squash')) throw invalid('squash is only supported with experimental mode');
    const target = query.get('target') || undefined;
    const platform = query.get('platform') || undefined;
    const networkMode = query.get('networkmode') || undefined;
    const request: Omit<BuildRequest, 'signal' | 'progress'> = {
      dockerfile: query.get('dockerfile') ?? 'Dockerfile',
      tags: query.getAll('t').filter((t) => t !== ''),
      buildArgs: jsonParam(query, 'buildargs', isStringMap(true)) ?? {},
      labels: jsonParam(query, 'labels', isStringMap(false)) ?? {},
      noCache: boolParam(query, 'nocache'),
      pull: boolParam(query, 'pull'),
      remove: boolParam(query, 'rm', true),
      forceRemove: boolParam(query, 'forcerm'),
      quiet: boolParam(query, 'q'),
      cacheFrom: jsonParam(query, 'cachefrom', isStringList) ?? [],
      extraHosts: query.getAll('extrahosts').flatMap((h) => h.split(',')).filter((h) => h !== ''),
      runLimits: runLimits(query),
      secrets: parseSecretsHeader(req.headers[SECRETS_HEADER]),
      registryAuth: registryConfig(req.headers['x-registry-config']),
      ...(networkMode && networkMode !== 'default' ? { networkMode } : {}),
      ...(target ? { target } : {}),
      ...(platform ? { platform } : {}),
    };
    const ac = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const out = new JsonStream(res);
    // A cached build sends its lines in bursts: one socket write per burst, not per line.
    let corked = false;
    const progress = (m: ProgressMsg): void => {
      if (!corked && out.flushed) {
        corked = true;
        res.cork();
        process.nextTick(() => {
          corked = false;
          res.uncork();
        });
      }
      out.write(m);
    };
    try {
      await backend.build(req, { ...request, signal: ac.signal, progress });
      out.end();
    } catch (err) {
      req.resume();
      if (!out.flushed) {
        out.fail(err, log);
        return;
      }
      const message = errorMessage(err);
      const code = (err as { exitCode?: unknown }).exitCode;
      out.write({ errorDetail: { message, ...(typeof code === 'number' ? { code } : {}) }, error: message });
      res.end();
    }
  });
}
