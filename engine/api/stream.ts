/**
 * The two-way streams of attach and exec start. A client that asked for an upgrade gets the raw
 * socket (`101 UPGRADED`, ctx.hijack); one that did not gets a 200 response whose body carries
 * the output while the request body carries stdin. Either way the route sees one StreamConn.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export interface StreamConn {
  write(b: Buffer): void;
  end(): void;
  /** Client input (stdin) and its end (half-close). */
  onInput(fn: (b: Buffer) => void, end: () => void): void;
  onClose(fn: () => void): void;
}

/**
 * Output waiting for a slow client, past which more is dropped (whole frames, so the stream stays
 * well-formed). conmon's attach socket cannot be paused, so the alternative would be buffering
 * without bound; Docker blocks the container instead.
 */
export const MAX_PENDING_OUTPUT = 16 * 1024 * 1024;

/** How long output waits after a 101 answer (see openStream). */
export const UPGRADE_SETTLE_MS = 20;

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/** Opens the output side (headers go out now); `tty` picks raw or multiplexed framing. */
export function openStream(
  req: IncomingMessage,
  res: ServerResponse,
  hijack: ((headers: Record<string, string>) => Duplex) | undefined,
  tty: boolean,
  /** Output may be ready the moment the 101 is sent (attach's log replay): hold it briefly (below). */
  replaysAtOnce = false,
): StreamConn {
  const type = tty ? RAW_STREAM : MULTIPLEXED_STREAM;
  if (hijack) {
    const sock = hijack({ 'Content-Type': type });
    // Output that is ready at once (attach's log replay) waits a moment after the 101 answer:
    // clients that read the answer through a buffered HTTP parser and then switch to the raw
    // socket (docker-py) lose whatever arrived together with the answer. dockerd's own latency
    // gives them that gap; ours would not.
    // Live output (docker run's attach, exec) comes after a start the client has yet to send, so
    // only a replay is held.
    let held: Buffer[] | undefined = replaysAtOnce ? [] : undefined;
    let endHeld = false;
    const send = (b: Buffer): void => void (sock.writable && sock.writableLength < MAX_PENDING_OUTPUT && sock.write(b));
    if (held) {
      setTimeout(() => {
        for (const b of held ?? []) send(b);
        held = undefined;
        if (endHeld) sock.end();
      }, UPGRADE_SETTLE_MS).unref();
    }
    return {
      write: (b) => (held ? void held.push(b) : send(b)),
      end: () => (held ? void (endHeld = true) : void sock.end()),
      onInput: (fn, end) => sock.on('data', fn).on('end', end),
      onClose: (fn) => sock.on('close', fn),
    };
  }
  res.writeHead(200, { 'Content-Type': type });
  res.flushHeaders();
  return {
    write: (b) => void (!res.writableEnded && res.writableLength < MAX_PENDING_OUTPUT && res.write(b)),
    end: () => res.end(),
    onInput: (fn, end) => req.on('data', fn).on('end', end),
    onClose: (fn) => res.on('close', fn),
  };
}
