/**
 * One bridge stream carried over a MessagePort, without Electron: the main process hands each
 * port the renderer sent (electron/ipc.ts adapts Electron's MessagePortMain to `StreamPort`), and
 * tests hand Node's own MessagePort. Data and the end go out over the port; input and close come
 * in over it. A sender that is not ours gets a 403 end and a closed port. The stream ends exactly
 * once, and the port closing (the page went away) closes the stream.
 */
import type { BridgeError } from '../types/desktop-api.js';
import type { PortInput, PortMessage } from './channels.js';

export interface StreamPort {
  postMessage(msg: PortMessage): void;
  onMessage(listener: (data: unknown) => void): void;
  onClose(listener: () => void): void;
  start(): void;
  close(): void;
}

/** The part of the bridge host a stream needs (BridgeHost.openWire). */
export interface StreamOpener {
  openWire(stream: unknown, params: unknown, sink: { data(msg: unknown): void; end(error?: BridgeError): void }): { input(data: unknown): void; close(): void };
}

export const REFUSED: BridgeError = { message: 'refused: not a Berth Desktop page', status: 403 };

export function serveStreamPort(host: StreamOpener, port: StreamPort, request: unknown, allowed: boolean): void {
  if (!allowed) {
    port.postMessage({ t: 'end', error: REFUSED });
    port.close();
    return;
  }
  const r = (request && typeof request === 'object' ? request : {}) as { stream?: unknown; params?: unknown };
  let ended = false;
  const control = host.openWire(r.stream, r.params, {
    data: (data) => {
      if (!ended) port.postMessage({ t: 'data', data });
    },
    end: (error) => {
      if (ended) return;
      ended = true;
      port.postMessage(error ? { t: 'end', error } : { t: 'end' });
      port.close();
    },
  });
  port.onMessage((m) => {
    if (ended || !m || typeof m !== 'object') return;
    const msg = m as PortInput;
    if (msg.t === 'input') control.input(msg.data);
    else if (msg.t === 'close') {
      // The page is done with it: nothing more goes out, and the port's own close is not a second one.
      ended = true;
      control.close();
      port.close();
    }
  });
  port.onClose(() => {
    if (!ended) control.close();
  });
  port.start();
}
