import type { Readable, Writable } from 'node:stream';
import { errorMessage, invalid, statusForError } from '../common/errors.js';
import type { AuthConfig, Platform } from '../registry/types.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { boolParam, JsonStream, parseFilters, readBody, sendJson, type Ctx, type Router } from './router.js';
import { importFromRequest, type CommitBackend } from './commit.js';

/** Docker's JSONMessage; the API layer only serialises it. */
export interface ProgressMsg {
  status?: string;
  id?: string;
  stream?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: unknown;
  error?: string;
  errorDetail?: { code?: number; message: string };
}

/** What the image routes need; engine/images implements it, the daemon wires it. */
export interface ImagesBackend {
  list(opts: { all: boolean; digests: boolean; filters: Record<string, string[]> }): Promise<unknown[]>;
  inspect(name: string): Promise<unknown>;
  history(name: string): Promise<unknown[]>;
  tag(name: string, repo: string, tag: string | undefined): Promise<void>;
  remove(name: string, opts: { force: boolean; noprune: boolean }): Promise<unknown[]>;
  prune(filters: Record<string, string[]>): Promise<unknown>;
  pull(
    fromImage: string,
    tag: string | undefined,
    opts: { auth?: AuthConfig; platform?: Platform; signal: AbortSignal; progress: (m: ProgressMsg) => void },
  ): Promise<void>;
  save(names: string[], out: Writable, signal: AbortSignal): Promise<void>;
  /** Resolve names before any byte of a save is written, so a bad name is a clean 404. */
  checkNames(names: string[]): Promise<void>;
  load(input: Readable, progress: (m: ProgressMsg) => void, opts: { quiet: boolean; signal: AbortSignal }): Promise<void>;
  distribution(name: string, auth?: AuthConfig): Promise<unknown>;
}

export const IMAGE_LIST_FILTERS = ['reference', 'dangling', 'label', 'before', 'since', 'until'] as const;

/** X-Registry-Auth: base64url JSON AuthConfig ("" or "{}" means anonymous). */
export function decodeRegistryAuth(header: string | string[] | undefined): AuthConfig | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  let json: string;
  try {
    json = Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    const parsed = JSON.parse(json) as AuthConfig;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    return Object.values(parsed).some((v) => typeof v === 'string' && v !== '') ? parsed : undefined;
  } catch {
    throw invalid('invalid X-Registry-Auth header: not base64-encoded JSON');
  }
}

/** "linux/arm64/v8", "linux/amd64" or "" as Docker's `platform` parameter. */
export function parsePlatform(v: string | null): Platform | undefined {
  if (!v) return undefined;
  const parts = v.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw invalid(`invalid platform: "${v}": expected os/arch[/variant]`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

function abortOnClose(ctx: { req: IncomingMessage; res: ServerResponse }): AbortSignal {
  const ac = new AbortController();
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) ac.abort();
  });
  return ac.signal;
}

export function imageRoutes(router: Router, backend: ImagesBackend, imports: Pick<CommitBackend, 'importImage'>): void {
  router.add('GET', '/images/json', async ({ res, query }) => {
    const filters = parseFilters(query, IMAGE_LIST_FILTERS);
    // Old clients send `filter=<reference>`.
    const legacy = query.get('filter');
    if (legacy) (filters['reference'] ??= []).push(legacy);
    sendJson(
      res,
      200,
      await backend.list({ all: boolParam(query, 'all'), digests: boolParam(query, 'digests'), filters }),
    );
  });

  router.add('POST', '/images/create', async (ctx) => {
    const { req, res, query, log } = ctx;
    if (query.get('fromSrc') !== null) {
      await importFromRequest(ctx, imports);
      return;
    }
    const fromImage = query.get('fromImage');
    if (!fromImage) throw invalid('fromImage must be given');
    const auth = decodeRegistryAuth(req.headers['x-registry-auth']);
    const platform = parsePlatform(query.get('platform'));
    const out = new JsonStream(res);
    const signal = abortOnClose(ctx);
    try {
      await backend.pull(fromImage, query.get('tag') ?? undefined, {
        ...(auth ? { auth } : {}),
        ...(platform ? { platform } : {}),
        signal,
        progress: (m) => out.write(m),
      });
      out.end();
    } catch (err) {
      out.fail(err, log);
    }
  });

  router.add('GET', '/images/get', async (ctx) => {
    const names = ctx.query.getAll('names').flatMap((n) => n.split(',')).filter((n) => n !== '');
    if (names.length === 0) throw invalid('no image names given');
    await sendArchive(ctx, backend, names);
  });

  router.add('POST', '/images/load', async (ctx) => {
    const { req, res, query, log } = ctx;
    const quiet = boolParam(query, 'quiet');
    const out = new JsonStream(res);
    try {
      await backend.load(req, (m) => out.write(m), { quiet, signal: abortOnClose(ctx) });
      out.end();
    } catch (err) {
      // Drain what the client still sends so it can read our answer.
      req.resume();
      // As dockerd: a failed load is reported in the stream (200, errorDetail), even before any
      // progress; docker-py raises ImageLoadError from it, the docker CLI prints it.
      if (statusForError(err) >= 500) log.error('image load failed', { err: errorMessage(err) });
      const message = errorMessage(err);
      out.write({ errorDetail: { message }, error: message });
      out.end();
    }
  });

  router.add('POST', '/images/prune', async ({ res, query }) => {
    sendJson(res, 200, await backend.prune(parseFilters(query, ['dangling', 'label', 'label!', 'until'])));
  });

  router.add('GET', '/images/search', () => {
    throw invalid('image search needs a registry search API, which is not available here');
  });

  router.add('GET', '/images/{name*}/json', async ({ res, params }) => {
    sendJson(res, 200, await backend.inspect(params['name'] ?? ''));
  });
  router.add('GET', '/images/{name*}/history', async ({ res, params }) => {
    sendJson(res, 200, await backend.history(params['name'] ?? ''));
  });
  router.add('GET', '/images/{name*}/get', async (ctx) => {
    await sendArchive(ctx, backend, [ctx.params['name'] ?? '']);
  });
  router.add('POST', '/images/{name*}/tag', async ({ req, res, params, query }) => {
    await readBody(req);
    const repo = query.get('repo');
    if (!repo) throw invalid('repo must be given');
    await backend.tag(params['name'] ?? '', repo, query.get('tag') || undefined);
    res.writeHead(201);
    res.end();
  });
  router.add('DELETE', '/images/{name*}', async ({ res, params, query }) => {
    sendJson(
      res,
      200,
      await backend.remove(params['name'] ?? '', { force: boolParam(query, 'force'), noprune: boolParam(query, 'noprune') }),
    );
  });
  router.add('GET', '/distribution/{name*}/json', async ({ req, res, params }) => {
    sendJson(res, 200, await backend.distribution(params['name'] ?? '', decodeRegistryAuth(req.headers['x-registry-auth'])));
  });
}

/** What the push route needs; engine/images/push.ts implements it, the daemon wires it. */
export interface ImagePushBackend {
  push(
    name: string,
    tag: string | undefined,
    opts: { auth?: AuthConfig; signal: AbortSignal; progress: (m: ProgressMsg) => void },
  ): Promise<void>;
}

/** POST /images/{name}/push?tag=: progress as newline-delimited JSON, like a pull. */
export function imagePushRoutes(router: Router, backend: ImagePushBackend): void {
  router.add('POST', '/images/{name*}/push', async (ctx) => {
    const { req, res, query, params, log } = ctx;
    await readBody(req);
    const auth = decodeRegistryAuth(req.headers['x-registry-auth']);
    const out = new JsonStream(res);
    try {
      await backend.push(params['name'] ?? '', query.get('tag') || undefined, {
        ...(auth ? { auth } : {}),
        signal: abortOnClose(ctx),
        progress: (m) => out.write(m),
      });
      out.end();
    } catch (err) {
      out.fail(err, log);
    }
  });
}

async function sendArchive(
  ctx: Ctx,
  backend: ImagesBackend,
  names: string[],
): Promise<void> {
  await backend.checkNames(names);
  const signal = abortOnClose(ctx);
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    await backend.save(names, ctx.res, signal);
    ctx.res.end();
  } catch (err) {
    // Headers are gone; cutting the connection is the only honest signal left. A client that
    // stopped reading (docker save interrupted) is not a failure of ours.
    if (signal.aborted) ctx.log.debug('save cancelled by the client');
    else ctx.log.error('save failed', { err: errorMessage(err) });
    ctx.res.destroy();
  }
}
