/**
 * POST /commit (`docker commit`) and the import half of POST /images/create
 * (`docker import`, `fromSrc=-` with the tar as the body).
 */
import type { Readable } from 'node:stream';
import type { ContainerConfig } from '../../types/engine-api.js';
import { invalid } from '../common/errors.js';
import { commitConfig, decodeBody, queryBool, type NoNull } from './decode/index.js';
import { JsonStream, sendJson, type Ctx, type Router } from './router.js';

export interface CommitRequestParams {
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  pause: boolean;
  changes: string[];
  /** The body: a container config to start from (Docker's `config`). */
  config?: NoNull<ContainerConfig>;
}

export interface ImportRequestParams {
  repo?: string;
  tag?: string;
  message?: string;
  changes: string[];
  /** What the tar came from, for the default message ("-" for the request body). */
  source: string;
}

/** What the routes need; the daemon wires the container commit and image import in. */
export interface CommitBackend {
  commit(container: string, params: CommitRequestParams): Promise<{ Id: string }>;
  importImage(tar: Readable, params: ImportRequestParams, signal: AbortSignal): Promise<{ id: string }>;
}

/** `changes` may come repeated or (older clients) as one newline-separated value. */
function changesParam(q: URLSearchParams): string[] {
  return q.getAll('changes').filter((c) => c !== '');
}

const optional = (q: URLSearchParams, name: string): string | undefined => q.get(name) || undefined;

export function commitRoutes(router: Router, backend: CommitBackend): void {
  router.add('POST', '/commit', async ({ req, res, query }) => {
    const container = query.get('container');
    if (!container) throw invalid('container must be given');
    const body = await decodeBody<NoNull<ContainerConfig> | undefined>(req, commitConfig, { empty: () => undefined });
    const repo = optional(query, 'repo');
    const tag = optional(query, 'tag');
    const comment = optional(query, 'comment');
    const author = optional(query, 'author');
    const result = await backend.commit(container, {
      ...(repo ? { repo } : {}),
      ...(tag ? { tag } : {}),
      ...(comment ? { comment } : {}),
      ...(author ? { author } : {}),
      pause: queryBool(query, 'pause', true),
      changes: changesParam(query),
      ...(body ? { config: body } : {}),
    });
    sendJson(res, 201, result);
  });
}

/**
 * POST /images/create?fromSrc=...: `-` reads the tar from the body; a URL would need the
 * network, which an engine may not have, and is refused. Answers dockerd's progress stream:
 * one status line with the new image's ID.
 */
export async function importFromRequest(ctx: Ctx, backend: Pick<CommitBackend, 'importImage'>): Promise<void> {
  const { req, res, query, log } = ctx;
  const src = query.get('fromSrc') ?? '';
  if (src !== '-') {
    req.resume();
    throw invalid(`importing from a URL (${src}) is not supported: send the archive as the request body (fromSrc=-)`);
  }
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  const out = new JsonStream(res);
  const repo = optional(query, 'repo');
  const tag = optional(query, 'tag');
  const message = optional(query, 'message');
  try {
    const { id } = await backend.importImage(
      req,
      { ...(repo ? { repo } : {}), ...(tag ? { tag } : {}), ...(message ? { message } : {}), changes: changesParam(query), source: src },
      ac.signal,
    );
    out.write({ status: id });
    out.end();
  } catch (err) {
    req.resume();
    out.fail(err, log);
  }
}
