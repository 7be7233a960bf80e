import type { Writable } from 'node:stream';
import { errorMessage, invalid, notFound } from '../common/errors.js';
import { PRUNE_FILTER_KEYS } from '../common/prune-filters.js';
import { DEFAULT_DETACH_KEYS, detachFilter, parseDetachKeys } from './detach-keys.js';
import { MULTIPLEXED_STREAM, openStream, RAW_STREAM, type StreamConn } from './stream.js';
import { boolParam, parseFilters, readBody, readJson, sendJson, sendNoContent, type Router } from './router.js';

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
  create(name: string | undefined, body: unknown): Promise<{ Id: string; Warnings: string[] }>;
  list(opts: { all: boolean; limit?: number; size?: boolean; filters: Record<string, string[]> }): Promise<unknown[]>;
  inspect(ref: string): unknown;
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
  update(ref: string, body: unknown): Promise<{ Warnings: string[] }>;
  stats(ref: string, opts: { stream: boolean; oneShot: boolean; signal?: AbortSignal }): AsyncIterable<Record<string, unknown>>;
}

const LIST_FILTERS = [
  'ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name',
  'network', 'publish', 'since', 'status', 'volume',
] as const;

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalid(`invalid value for ${name}: ${v}`);
  return Math.trunc(n);
}

function timeParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '' || v === '0') return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return n;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid value for ${name}: ${v}`);
  return t / 1000;
}

export function containerRoutes(router: Router, backend: ContainersBackend): void {
  router.add('GET', '/containers/json', async ({ res, query }) => {
    const limit = intParam(query, 'limit');
    sendJson(
      res,
      200,
      await backend.list({
        all: boolParam(query, 'all') || (limit !== undefined && limit > 0),
        ...(limit !== undefined ? { limit } : {}),
        size: boolParam(query, 'size'),
        filters: parseFilters(query, LIST_FILTERS),
      }),
    );
  });

  router.add('POST', '/containers/create', async ({ req, res, query }) => {
    const body = await readJson<unknown>(req);
    sendJson(res, 201, await backend.create(query.get('name') || undefined, body));
  });

  router.add('POST', '/containers/prune', async ({ req, res, query }) => {
    await readBody(req);
    sendJson(res, 200, await backend.prune(parseFilters(query, PRUNE_FILTER_KEYS)));
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
    await backend.stop(params['id'] ?? '', intParam(query, 't'), query.get('signal') || undefined);
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/restart', async ({ req, res, params, query }) => {
    await readBody(req);
    await backend.restart(params['id'] ?? '', intParam(query, 't'), query.get('signal') || undefined);
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/resize', async ({ req, res, params, query }) => {
    await readBody(req);
    const h = intParam(query, 'h') ?? 0;
    const w = intParam(query, 'w') ?? 0;
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
    const name = query.get('name');
    if (!name) throw invalid('Neither old nor new names may be empty');
    await backend.rename(params['id'] ?? '', name);
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/update', async ({ req, res, params }) => {
    sendJson(res, 200, await backend.update(params['id'] ?? '', await readJson<unknown>(req)));
  });

  router.add('GET', '/containers/{id}/stats', async ({ res, params, query }) => {
    const stream = query.get('stream') === null ? true : boolParam(query, 'stream');
    const ac = new AbortController();
    const iter = backend.stats(params['id'] ?? '', { stream, oneShot: boolParam(query, 'one-shot'), signal: ac.signal });
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
    await backend.kill(params['id'] ?? '', query.get('signal') || undefined);
    sendNoContent(res);
  });

  router.add('DELETE', '/containers/{id}', async ({ res, params, query }) => {
    if (boolParam(query, 'link')) await backend.removeLink(params['id'] ?? '');
    else await backend.remove(params['id'] ?? '', { force: boolParam(query, 'force'), volumes: boolParam(query, 'v') });
    sendNoContent(res);
  });

  // A link's name is "<parent>/<alias>" (docker rm --link parent/alias).
  router.add('DELETE', '/containers/{parent}/{alias}', async ({ res, params, query }) => {
    const name = `${params['parent'] ?? ''}/${params['alias'] ?? ''}`;
    if (!boolParam(query, 'link')) throw notFound(`No such container: ${name}`);
    await backend.removeLink(name);
    sendNoContent(res);
  });

  router.add('POST', '/containers/{id}/wait', async ({ req, res, params, query }) => {
    await readBody(req);
    const condition = (query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalid(`invalid condition: "${condition}"`);
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
    const stdout = boolParam(query, 'stdout');
    const stderr = boolParam(query, 'stderr');
    if (!stdout && !stderr) throw invalid('Bad parameters: you must choose at least one stream');
    const id = params['id'] ?? '';
    const tailRaw = query.get('tail');
    let tail: number | undefined;
    if (tailRaw !== null && tailRaw !== '' && tailRaw !== 'all') {
      tail = Number(tailRaw);
      if (!Number.isInteger(tail)) throw invalid(`invalid value for tail: ${tailRaw}`);
      if (tail < 0) tail = undefined;
    }
    const tty = backend.isTty(id);
    const ac = new AbortController();
    const since = timeParam(query, 'since');
    const until = timeParam(query, 'until');
    const iter = backend.logs(id, {
      stdout,
      stderr,
      follow: boolParam(query, 'follow'),
      timestamps: boolParam(query, 'timestamps'),
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
      stream: boolParam(query, 'stream'),
      logs: boolParam(query, 'logs'),
      stdin: boolParam(query, 'stdin'),
      stdout: boolParam(query, 'stdout'),
      stderr: boolParam(query, 'stderr'),
    };
    let conn: StreamConn | undefined;
    const open = (tty: boolean): OutputSink => {
      const c = (conn = openStream(req, res, hijack, tty));
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
