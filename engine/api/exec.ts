/**
 * Exec routes: create an exec instance in a running container, start it (attached over a
 * hijacked connection, or detached), resize its TTY, inspect it.
 */
import type { Writable } from 'node:stream';
import type { ExecCreateRequest, ExecStartRequest as ExecStartBody } from '../../types/engine-api.js';
import { errorMessage, invalid } from '../common/errors.js';
import { decodeBody, execCreateRequest, execStartRequest, queryInt } from './decode/index.js';
import { DEFAULT_DETACH_KEYS, detachFilter, parseDetachKeys } from './detach-keys.js';
import { openStream, type StreamConn } from './stream.js';
import { readBody, sendJson, type Router } from './router.js';

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
  create(containerRef: string, body: ExecCreateRequest): { Id: string };
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

/** A TTY dimension: a number 0..65535, required. */
function sizeParam(q: URLSearchParams, name: string): number {
  const n = queryInt(q, name, { min: 0, max: 0xffff });
  if (n === undefined) throw invalid(`invalid value for ${name}: ""`);
  return n;
}

function startOptions(body: ExecStartBody): ExecStartRequest {
  const size = body.ConsoleSize;
  if (size && (size[0] > 0xffff || size[1] > 0xffff)) throw invalid(`invalid console size: ${size[0]}x${size[1]}`);
  return { detach: body.Detach === true, tty: body.Tty === true, ...(size && size[0] > 0 && size[1] > 0 ? { consoleSize: size } : {}) };
}

export function execRoutes(router: Router, backend: ExecBackend): void {
  router.add('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    const body = await decodeBody(req, execCreateRequest);
    sendJson(res, 201, backend.create(params['id'] ?? '', body));
  });

  router.add('POST', '/exec/{id}/start', async ({ req, res, params, hijack, log }) => {
    const opts = startOptions(await decodeBody(req, execStartRequest, { empty: () => ({}) }));
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
