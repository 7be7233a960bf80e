/**
 * POST /build, Docker's classic builder protocol (what `DOCKER_BUILDKIT=0 docker build`,
 * docker-compose and the SDKs send): the body is the build context as a tar (maybe gzip), the
 * query carries the options, X-Registry-Config the credentials for base image pulls. The answer
 * is a newline-delimited JSON stream ({"stream": ...}, {"aux": {"ID": ...}}); a failure after
 * output has started is a last {"error", "errorDetail": {"message", "code"}} message, one before
 * it a plain HTTP error.
 */
import type { Readable } from 'node:stream';
import { errorMessage, invalid } from '../common/errors.js';
import type { ProgressMsg } from './images.js';
import { boolParam, JsonStream, type Router } from './router.js';

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
  registryAuth: Record<string, unknown>;
  signal: AbortSignal;
  progress(m: ProgressMsg): void;
}

/** What the build route needs; engine/builder implements it, the daemon wires it. */
export interface BuildBackend {
  build(context: Readable, req: BuildRequest): Promise<string>;
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

export function buildRoutes(router: Router, backend: BuildBackend): void {
  router.add('POST', '/build', async (ctx) => {
    const { req, res, query, log } = ctx;
    if (query.get('remote')) throw invalid('building from a remote context (remote=) is not supported; send the context as a tar');
    if (query.get('version') === '2') throw invalid('BuildKit (version=2) is not supported by this daemon; use the classic builder (DOCKER_BUILDKIT=0)');
    const target = query.get('target') || undefined;
    const platform = query.get('platform') || undefined;
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
      registryAuth: registryConfig(req.headers['x-registry-config']),
      ...(target ? { target } : {}),
      ...(platform ? { platform } : {}),
    };
    const ac = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const out = new JsonStream(res);
    try {
      await backend.build(req, { ...request, signal: ac.signal, progress: (m) => out.write(m) });
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
