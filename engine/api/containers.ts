import type { Writable } from 'node:stream';
import type { ContainerCreateRequest, ContainerInspect, ContainerUpdateRequest } from '../../types/engine-api.js';
import { errorMessage, invalid, notFound } from '../common/errors.js';
import { PRUNE_FILTER_KEYS } from '../common/prune-filters.js';
import { createRequest, decodeBody, queryBool, queryEnum, queryFilters, queryInt, queryString, queryTime, updateRequest } from './decode/index.js';
import { DEFAULT_DETACH_KEYS, detachFilter, parseDetachKeys } from './detach-keys.js';
import { MULTIPLEXED_STREAM, openStream, RAW_STREAM, type StreamConn } from './stream.js';
import { readBody, sendJson, sendNoContent, type Router } from './router.js';

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface AttachRequest {
  stream: boolean;
  logs: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface OutputSink {
  write(data: Buffer): void;
  end(): void;
}

export interface LogsRequest {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  tail?: number;
  timestamps: boolean;
  since?: number;
  until?: number;
  signal?: AbortSignal;
}

/** What the container routes need; the daemon wires the container service in. */
export interface ContainersBackend {
  create(name: string | undefined, body: ContainerCreateRequest, opts: { apiVersion?: string }): Promise<{ Id: string; Warnings: string[] }>;
  list(opts: { all: boolean; limit?: number; size?: boolean; filters: Record<string, string[]> }): Promise<unknown[]>;
  inspect(ref: string): ContainerInspect;
  start(ref: string): Promise<void>;
  stop(ref: string, timeoutSec?: number, signal?: string): Promise<void>;
  kill(ref: string, signal?: string): Promise<void>;
  remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void>;
  /** Drops the legacy link "parent/alias" (DELETE /containers/{parent}/{alias}?link=1). */
  removeLink(linkName: string): Promise<void>;
  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): { result: Promise<number> };
  attach(
    ref: string,
    opts: AttachRequest,
    open: (tty: boolean) => OutputSink,
  ): Promise<{ detach(): void; stdin?: Writable; stdinOnce: boolean }>;
  isTty(ref: string): boolean;
  restart(ref: string, timeoutSec?: number, signal?: string): Promise<void>;
  resize(ref: string, height: number, width: number): Promise<void>;
  prune(filters: Record<string, string[]>): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }>;
  logs(ref: string, opts: LogsRequest): AsyncIterable<Buffer>;
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  rename(ref: string, name: string): Promise<void>;
  update(ref: string, body: ContainerUpdateRequest): Promise<{ Warnings: string[] }>;
  stats(ref: string, opts: { stream: boolean; oneShot: boolean; signal?: AbortSignal }): AsyncIterable<Record<string, unknown>>;
}

const LIST_FILTERS = [
  'ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name',
  'network', 'publish', 'since', 'status', 'volume',
] as const;

export function containerRoutes(router: Router, backend: ContainersBackend): void {
  router.add('GET', '/containers/json', async ({ res, query }) => {
    const limit = queryInt(query, 'limit');
    sendJson(
      res,
      200,
      await backend.list({
        all: queryBool(query, 'all') || (limit !== undefined && limit > 0),
        ...(limit !== undefined ? { limit } : {}),
        size: queryBool(query, 'size'),
        filters: queryFilters(query, LIST_FILTERS),
      }),
    );
  });

  router.add('POST', '/containers/create', async ({ req, res, query, version }) => {
    const body = await decodeBody(req, createRequest);
    sendJson(res, 201, await backend.create(queryString(query, 'name'), body, { apiVersion: version }));
  });

  router.add('POST', '/containers/prune', async ({ req, res, query }) => {
    await readBody(req);
    sendJson(res, 200, await backend.prune(queryFilters(query, PRUNE_FILTER_KEYS)));
  });

  router.add('GET', '/containers/{id}/json', ({ res, params }) => {
    sendJson(res, 200, backend.inspect(params['id'] ?? ''));
  });

  router.add('POST', '/containers/{id}/start', async ({ req, res, params }) => {
    await readBody(req);
    await backend.start(params['id'] ?? '');
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/stop', async ({ req, res, params, query }) => {
    await readBody(req);
    await backend.stop(params['id'] ?? '', queryInt(query, 't'), queryString(query, 'signal'));
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/restart', async ({ req, res, params, query }) => {
    await readBody(req);
    await backend.restart(params['id'] ?? '', queryInt(query, 't'), queryString(query, 'signal'));
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/resize', async ({ req, res, params, query }) => {
    await readBody(req);
    const h = queryInt(query, 'h', { min: 0, max: 0xffff }) ?? 0;
    const w = queryInt(query, 'w', { min: 0, max: 0xffff }) ?? 0;
    await backend.resize(params['id'] ?? '', h, w);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end();
  });

  for (const verb of ['pause', 'unpause'] as const) {
    router.add('POST', `/containers/{id}/${verb}`, async ({ req, res, params }) => {
      await readBody(req);
      await backend[verb](params['id'] ?? '');
      sendNoContent(res);
    });
  }

  router.add('POST', '/containers/{id}/rename', async ({ req, res, params, query }) => {
    await readBody(req);
    const name = queryString(query, 'name');
    if (!name) throw invalid('Neither old nor new names may be empty');
    await backend.rename(params['id'] ?? '', name);
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/update', async ({ req, res, params }) => {
    const body = await decodeBody(req, updateRequest, { empty: () => ({}) });
    sendJson(res, 200, await backend.update(params['id'] ?? '', body));
  });

  router.add('GET', '/containers/{id}/stats', async ({ res, params, query }) => {
    const stream = queryBool(query, 'stream', true);
    const ac = new AbortController();
    const iter = backend.stats(params['id'] ?? '', { stream, oneShot: queryBool(query, 'one-shot'), signal: ac.signal });
    const onClose = (): void => ac.abort();
    res.on('close', onClose);
    let started = false;
    try {
      for await (const sample of iter) {
        if (!started) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          started = true;
        }
        res.write(JSON.stringify(sample) + '\n');
      }
    } finally {
      res.off('close', onClose);
      ac.abort();
    }
    res.end();
  });

  router.add('POST', '/containers/{id}/kill', async ({ req, res, params, query }) => {
    await readBody(req);
    await backend.kill(params['id'] ?? '', queryString(query, 'signal'));
    sendNoContent(res);
  });

  router.add('DELETE', '/containers/{id}', async ({ res, params, query }) => {
    if (queryBool(query, 'link')) await backend.removeLink(params['id'] ?? '');
    else await backend.remove(params['id'] ?? '', { force: queryBool(query, 'force'), volumes: queryBool(query, 'v') });
    sendNoContent(res);
  });

  // A link's name is "<parent>/<alias>" (docker rm --link parent/alias).
  router.add('DELETE', '/containers/{parent}/{alias}', async ({ res, params, query }) => {
    const name = `${params['parent'] ?? ''}/${params['alias'] ?? ''}`;
    if (!queryBool(query, 'link')) throw notFound(`No such container: ${name}`);
    await backend.removeLink(name);
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/wait', async ({ req, res, params, query }) => {
    await readBody(req);
    const condition = queryEnum<WaitCondition>(query, 'condition', ['not-running', 'next-exit', 'removed'], (v) => `invalid condition: ${JSON.stringify(v)}`) ?? 'not-running';
    const ac = new AbortController();
    const { result } = backend.wait(params['id'] ?? '', condition, ac.signal);
    // The CLI needs the status line before the container exits (docker run waits, then starts).
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const onClose = (): void => ac.abort();
    res.on('close', onClose);
    try {
      const code = await result;
      res.end(JSON.stringify({ StatusCode: code, Error: null }) + '\n');
    } catch (err) {
      if (!ac.signal.aborted) res.end(JSON.stringify({ StatusCode: -1, Error: { Message: errorMessage(err) } }) + '\n');
    } finally {
      res.off('close', onClose);
    }
  });

  router.add('GET', '/containers/{id}/logs', async ({ res, params, query, log }) => {
    const stdout = queryBool(query, 'stdout');
    const stderr = queryBool(query, 'stderr');
    if (!stdout && !stderr) throw invalid('Bad parameters: you must choose at least one stream');
    const id = params['id'] ?? '';
    // "all", or a number of lines; a negative number means all, as in dockerd.
    const tailRaw = queryString(query, 'tail');
    const tailLines = tailRaw === undefined || tailRaw === 'all' ? undefined : queryInt(query, 'tail');
    const tail = tailLines !== undefined && tailLines >= 0 ? tailLines : undefined;
    const tty = backend.isTty(id);
    const ac = new AbortController();
    const since = queryTime(query, 'since');
    const until = queryTime(query, 'until');
    const iter = backend.logs(id, {
      stdout,
      stderr,
      follow: queryBool(query, 'follow'),
      timestamps: queryBool(query, 'timestamps'),
      ...(tail !== undefined ? { tail } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      signal: ac.signal,
    });
    res.writeHead(200, {
      'Content-Type': tty ? RAW_STREAM : MULTIPLEXED_STREAM,
    });
    res.flushHeaders();
    const onClose = (): void => ac.abort();
    res.on('close', onClose);
    try {
      for await (const chunk of iter) {
        if (ac.signal.aborted) break;
        if (!res.write(chunk)) await new Promise<void>((r) => res.once('drain', () => r()).once('close', () => r()));
      }
    } catch (err) {
      log.warn('log stream failed', { err: errorMessage(err) });
    } finally {
      res.off('close', onClose);
      res.end();
    }
  });

  router.add('POST', '/containers/{id}/attach', async ({ req, res, params, query, hijack, log }) => {
    const opts: AttachRequest = {
      stream: queryBool(query, 'stream'),
      logs: queryBool(query, 'logs'),
      stdin: queryBool(query, 'stdin'),
      stdout: queryBool(query, 'stdout'),
      stderr: queryBool(query, 'stderr'),
    };
    let conn: StreamConn | undefined;
    const open = (tty: boolean): OutputSink => {
      const c = (conn = openStream(req, res, hijack, tty, opts.logs));
      return { write: (b) => c.write(b), end: () => c.end() };
    };
    const detachKeys = parseDetachKeys(query.get('detachKeys') || DEFAULT_DETACH_KEYS);
    const handle = await backend.attach(params['id'] ?? '', opts, open);
    try {
      const c = conn!;
      c.onClose(() => handle.detach());
      const stdin = handle.stdin;
      if (stdin) {
        let detached = false;
        const filter = detachFilter(detachKeys, () => {
          // The client leaves; the container (and its stdin) stays as it is.
          detached = true;
          handle.detach();
          c.end();
        });
        c.onInput(
          (b) => {
            const data = filter(b);
            if (data.length > 0) stdin.write(data);
          },
          () => {
            if (handle.stdinOnce && !detached) stdin.end();
          },
        );
      } else {
        c.onInput(() => undefined, () => undefined);
      }
    } catch (err) {
      log.warn('attach failed', { err: errorMessage(err) });
      handle.detach();
    }
  });
}
