/**
 * One renderer connection in web mode: WireFrame JSON in, WireFrame JSON out. Calls answer with a
 * `result` frame; streams push `data` frames and finish with one `end` frame; `input` and `close`
 * go to the open stream with that id. Malformed frames are answered (when they carry an id) and
 * otherwise dropped: the connection, like the host, survives bad input.
 */
import type { BridgeHost } from '../bridge/index.js';
import type { WireFrame } from '../../types/desktop-api.js';

export interface WireSession {
  /** One text message from the renderer. */
  receive(text: string): void;
  /** The connection went away: close its streams. */
  close(): void;
}

export function createWireSession(host: BridgeHost, send: (frame: WireFrame) => void): WireSession {
  const streams = new Map<number, { input(data: unknown): void; close(): void }>();
  let closed = false;
  const out = (frame: WireFrame): void => {
    if (!closed) send(frame);
  };

  return {
    receive(text) {
      let frame: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(text);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return;
        frame = parsed as Record<string, unknown>;
      } catch {
        return;
      }
      const id = frame['id'];
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) return;
      switch (frame['t']) {
        case 'call':
          void host.callWire(frame['method'], frame['params']).then((r) =>
            out(r.ok ? { t: 'result', id, ok: true, value: r.value } : { t: 'result', id, ok: false, error: r.error }),
          );
          return;
        case 'open': {
          if (streams.has(id)) {
            out({ t: 'end', id, error: { message: `stream id ${id} is already open`, status: 400 } });
            return;
          }
          let ended = false;
          const control = host.openWire(frame['stream'], frame['params'], {
            data: (data) => out({ t: 'data', id, data }),
            end: (error) => {
              ended = true;
              streams.delete(id);
              out(error ? { t: 'end', id, error } : { t: 'end', id });
            },
          });
          if (!ended) streams.set(id, control);
          return;
        }
        case 'input':
          streams.get(id)?.input(frame['data']);
          return;
        case 'close':
          streams.get(id)?.close();
          return;
        default:
          return;
      }
    },
    close() {
      closed = true;
      for (const s of streams.values()) s.close();
      streams.clear();
    },
  };
}
