/**
 * Berth Desktop's preload: exposes the BridgeTransport of types/desktop-api.ts as `window.berth`
 * and nothing else. It runs sandboxed (only `electron` can be required), so it is CommonJS and
 * self-contained; the channel names repeat electron/channels.ts (a test keeps them in step).
 * Calls go over ipcRenderer.invoke; each stream gets its own MessageChannel, whose other port is
 * handed to the main process with the open request.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { BridgeError, BridgeTransport, StreamHandlers, StreamName } from '../types/desktop-api.js';

const INVOKE_CHANNEL = 'berth:invoke';
const OPEN_CHANNEL = 'berth:open';

type Answer = { ok: true; value: unknown } | { ok: false; error: BridgeError };
type PortMessage = { t: 'data'; data: unknown } | { t: 'end'; error?: BridgeError };

/** The page's MessagePort (the DOM one: this project type-checks against Node's lib, not the DOM's). */
interface PagePort {
  onmessage: ((ev: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

const transport: BridgeTransport = {
  kind: 'electron',
  async invoke(method, params) {
    const answer = (await ipcRenderer.invoke(INVOKE_CHANNEL, method, params)) as Answer;
    if (answer.ok) return answer.value as never;
    throw { message: answer.error.message, status: answer.error.status };
  },
  open<S extends StreamName>(stream: S, params: unknown, handlers: StreamHandlers<S>) {
    const channel = new MessageChannel();
    const port1 = channel.port1 as unknown as PagePort;
    let ended = false;
    const end = (error?: BridgeError): void => {
      if (ended) return;
      ended = true;
      port1.close();
      handlers.end(error);
    };
    port1.onmessage = (ev) => {
      const msg = ev.data as PortMessage;
      if (msg.t === 'data' && !ended) handlers.data(msg.data as never);
      else if (msg.t === 'end') end(msg.error);
    };
    ipcRenderer.postMessage(OPEN_CHANNEL, { stream, params }, [channel.port2]);
    return {
      send(input) {
        if (!ended) port1.postMessage({ t: 'input', data: input });
      },
      close() {
        if (ended) return;
        port1.postMessage({ t: 'close' });
        end();
      },
    };
  },
};

contextBridge.exposeInMainWorld('berth', transport);
