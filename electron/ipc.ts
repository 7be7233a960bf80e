/**
 * The main process's side of the bridge: one invoke channel for calls, and a MessagePort per
 * stream (the preload sends the port with the open request; data and the end go back over it,
 * input and close come in over it). Every message is checked against the sender first. The bridge
 * host does the work; this file only moves messages.
 */
import { ipcMain } from 'electron';
import type { IpcMainEvent, IpcMainInvokeEvent, MessagePortMain } from 'electron';
import type { BridgeHost } from '../desktop/bridge/index.js';
import { INVOKE_CHANNEL, OPEN_CHANNEL } from './channels.js';
import type { PortInput, PortMessage } from './channels.js';
import { isAllowedSender } from './security.js';

export interface IpcOptions {
  host: BridgeHost;
  rendererDir: string;
  /** The webContents id of our window (undefined while there is none). */
  windowId(): number | undefined;
}

export function registerIpc(opts: IpcOptions): () => void {
  const allowed = (e: IpcMainEvent | IpcMainInvokeEvent): boolean =>
    isAllowedSender({ senderId: e.sender.id, frameUrl: e.senderFrame?.url ?? null }, opts.windowId(), opts.rendererDir);

  ipcMain.handle(INVOKE_CHANNEL, async (e, method: unknown, params: unknown) => {
    if (!allowed(e)) return { ok: false, error: { message: 'refused: not a Berth Desktop page', status: 403 } };
    return opts.host.callWire(method, params);
  });

  const onOpen = (e: IpcMainEvent, request: unknown): void => {
    const port: MessagePortMain | undefined = e.ports[0];
    if (!port) return;
    const send = (msg: PortMessage): void => port.postMessage(msg);
    if (!allowed(e)) {
      send({ t: 'end', error: { message: 'refused: not a Berth Desktop page', status: 403 } });
      port.close();
      return;
    }
    const r = (request ?? {}) as { stream?: unknown; params?: unknown };
    let ended = false;
    const control = opts.host.openWire(r.stream, r.params, {
      data: (data) => send({ t: 'data', data }),
      end: (error) => {
        ended = true;
        send(error ? { t: 'end', error } : { t: 'end' });
        port.close();
      },
    });
    port.on('message', (m) => {
      const msg = (m.data ?? {}) as PortInput;
      if (msg.t === 'input') control.input(msg.data);
      else if (msg.t === 'close') control.close();
    });
    port.on('close', () => {
      if (!ended) control.close();
    });
    port.start();
  };
  ipcMain.on(OPEN_CHANNEL, onOpen);

  return () => {
    ipcMain.removeHandler(INVOKE_CHANNEL);
    ipcMain.off(OPEN_CHANNEL, onOpen);
  };
}
