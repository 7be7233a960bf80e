/**
 * Exec routes: create an exec instance in a running container, start it (attached over a
 * hijacked connection, or detached), resize its TTY, inspect it.
 */
import type { Writable } from 'node:stream';
import { errorMessage, invalid } from '../common/errors.js';
import { DEFAULT_DETACH_KEYS, detachFilter, parseDetachKeys } from './detach-keys.js';
import { openStream, type StreamConn } from './stream.js';
import { readBody, readJson, sendJson, type Router } from './router.js';

export interface ExecStartRequest {
  detach: boolean;
  /** Raw output when true, stdcopy framing otherwise. */
  tty: boolean;
  consoleSize?: [number, number];
}

export interface ExecOutputSink {
  write(data: Buffer): void;
  end(): void;
}

/** What the exec routes need; the daemon wires the exec manager in. */
export interface ExecBackend {
  create(containerRef: string, body: unknown): { Id: string };
  /**
   * Detached: resolves (undefined) once the process runs. Attached: calls `open` once the request
   * is known to be good, then streams into the sink until the exec is over.
   */
  start(
    id: string,
    opts: ExecStartRequest,
    open: (tty: boolean) => ExecOutputSink,
  ): Promise<{ stdin?: Writable; detachKeys?: string; detach(): void } | undefined>;
  resize(id: string, height: number, width: number): Promise<void>;
  inspect(id: string): unknown;
}

function sizeParam(q: URLSearchParams, name: string): number {
  const v = q.get(name) ?? '';
  const n = Number(v);
  if (v === '' || !Number.isInteger(n) || n < 0) throw invalid(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return n;
}

function parseStart(body: unknown): ExecStartRequest {
  if (body === undefined) return { detach: false, tty: false };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('exec start config must be a JSON object');
  const b = body as { Detach?: unknown; Tty?: unknown; ConsoleSize?: unknown };
  const out: ExecStartRequest = { detach: b.Detach === true, tty: b.Tty === true };
  const size = b.ConsoleSize;
  if (size !== undefined && size !== null) {
    if (!Array.isArray(size) || size.length !== 2 || !size.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) {
      throw invalid('ConsoleSize must be [height, width]');
    }
    out.consoleSize = [size[0] as number, size[1] as number];
  }
  return out;
}

export function execRoutes(router: Router, backend: ExecBackend): void {
  router.add('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    const body = await readJson<unknown>(req);
    sendJson(res, 201, backend.create(params['id'] ?? '', body));
  });

  router.add('POST', '/exec/{id}/start', async ({ req, res, params, hijack, log }) => {
    const opts = parseStart(await readJson<unknown>(req, { optional: true }));
    let conn: StreamConn | undefined;
    const open = (tty: boolean): ExecOutputSink => {
      const c = (conn = openStream(req, res, hijack, tty));
      return { write: (b) => c.write(b), end: () => c.end() };
    };
    const handle = await backend.start(params['id'] ?? '', opts, open);
    if (!handle) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end();
      return;
    }
    try {
      const c = conn!;
      c.onClose(() => handle.detach());
      const stdin = handle.stdin;
      if (stdin && handle.detachKeys !== undefined) {
        // The sequence ends this client's attachment; the exec goes on (as with docker attach).
        let detached = false;
        const filter = detachFilter(parseDetachKeys(handle.detachKeys || DEFAULT_DETACH_KEYS), () => (detached = true));
        const leave = (): void => {
          handle.detach();
          c.end();
        };
        c.onInput(
          (b) => {
            if (detached) return;
            const data = filter(b);
            // What was typed before the keys goes in before the client is let go.
            if (detached) {
              if (data.length > 0) stdin.write(data, leave);
              else leave();
            } else if (data.length > 0) stdin.write(data);
          },
          // A detached client's hang-up leaves the process's terminal open, as in dockerd.
          () => {
            if (!detached) stdin.end();
          },
        );
      } else if (stdin) c.onInput((b) => stdin.write(b), () => stdin.end());
      else c.onInput(() => undefined, () => undefined);
    } catch (err) {
      log.warn('exec start failed', { err: errorMessage(err) });
      handle.detach();
    }
  });

  router.add('POST', '/exec/{id}/resize', async ({ req, res, params, query }) => {
    await readBody(req);
    await backend.resize(params['id'] ?? '', sizeParam(query, 'h'), sizeParam(query, 'w'));
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end();
  });

  router.add('GET', '/exec/{id}/json', ({ res, params }) => {
    sendJson(res, 200, backend.inspect(params['id'] ?? ''));
  });
}
