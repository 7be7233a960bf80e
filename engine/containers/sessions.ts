/**
 * The attach fan-out. The daemon holds one conmon attach session per running container (its
 * own, opened before `runc start` so nothing is missed) and copies the output to every
 * attached API client, stdcopy-framed unless the container has a TTY. Client stdin goes
 * into that session, or is held until the container starts (`docker start -a` attaches first).
 *
 * Kept apart from the lifecycle (service.ts): this is stream plumbing on a LiveContainer and
 * knows nothing of conmon's files, the runtime or the records on disk.
 */
import { Writable } from 'node:stream';
import type { AttachSession } from '../runtime/monitor.js';
import type { LiveContainer } from './records.js';
import { encodeOutput, type OutputStream } from './stdcopy.js';
import type { AttachOptions, AttachSink, LogsOptions } from './types.js';

/** What a client gets from attach: how to let go, and (when asked for) its stdin. */
export interface ClientAttachment {
  detach(): void;
  stdin?: Writable;
  stdinOnce: boolean;
}

/** The daemon's own attach session: fans output out to attached clients. */
export function pump(c: LiveContainer, s: AttachSession): void {
  const tty = c.rec.Config.Tty === true;
  const send = (stream: OutputStream) => (b: Buffer) => {
    if (c.sinks.size === 0) return;
    const data = encodeOutput(tty, stream, b);
    for (const sink of c.sinks) sink.write(data);
  };
  s.stdout.on('data', send('stdout'));
  s.stderr.on('data', send('stderr'));
}

/** Hands the stdin clients sent before the start to the new session. */
export function flushPendingStdin(c: LiveContainer, s: AttachSession): void {
  for (const b of c.pendingStdin.splice(0)) s.stdin.write(b);
  if (c.pendingStdinEnd) s.stdin.end();
  c.pendingStdinEnd = false;
}

export function endSinks(c: LiveContainer): void {
  for (const s of c.sinks) s.end();
  c.sinks.clear();
}

/**
 * Attaches a client. `open` is called once the request is known to be good (so errors can
 * still be plain HTTP errors) and returns the sink for the output; `logChunks` replays the
 * log first when the client asked for `logs`.
 */
export async function attachClient(
  c: LiveContainer,
  opts: AttachOptions,
  open: (tty: boolean) => AttachSink,
  logChunks: (opts: LogsOptions) => AsyncGenerator<Buffer>,
): Promise<ClientAttachment> {
  const tty = c.rec.Config.Tty === true;
  const raw = open(tty);
  const filtered: AttachSink = tty
    ? raw
    : {
        write: (d) => {
          const stream = d[0] === 1 ? opts.stdout : opts.stderr;
          if (stream) raw.write(d);
        },
        end: () => raw.end(),
      };
  if (opts.logs) {
    for await (const chunk of logChunks({ stdout: opts.stdout, stderr: opts.stderr, follow: false, timestamps: false })) {
      raw.write(chunk);
    }
  }
  // A stopped container may be started next (`docker start -a` attaches first): keep listening.
  if (!opts.stream || c.removing) {
    raw.end();
    return { detach: () => undefined, stdinOnce: false };
  }
  c.sinks.add(filtered);
  const stdin = opts.stdin && c.rec.Config.OpenStdin === true ? stdinFor(c) : undefined;
  return {
    detach: () => {
      if (c.sinks.delete(filtered)) filtered.end();
    },
    ...(stdin ? { stdin } : {}),
    stdinOnce: c.rec.Config.StdinOnce === true,
  };
}

/** A client's stdin: straight to the daemon's attach session, or held until the container starts. */
function stdinFor(c: LiveContainer): Writable {
  return new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      if (c.session) c.session.stdin.write(chunk, () => cb());
      else {
        c.pendingStdin.push(chunk);
        cb();
      }
    },
    final: (cb) => {
      if (c.session) c.session.stdin.end();
      else c.pendingStdinEnd = true;
      cb();
    },
  });
}
