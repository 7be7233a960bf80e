/**
 * The main process's side of the bridge: one invoke channel for calls, and a MessagePort per
 * stream (the preload sends the port with the open request; port-stream.ts carries the stream).
 * Every message is checked against the sender first. The bridge host does the work; this file
 * only moves messages.
 */
import { ipcMain } from 'electron';
import type { IpcMainEvent, IpcMainInvokeEvent, MessagePortMain } from 'electron';
import type { BridgeHost } from '../desktop/bridge/index.js';
import { INVOKE_CHANNEL, OPEN_CHANNEL } from './channels.js';
import { REFUSED, serveStreamPort } from './port-stream.js';
import type { StreamPort } from './port-stream.js';
import { isAllowedSender } from './security.js';

export interface IpcOptions {
  host: BridgeHost;
  rendererDir: string;
  /** The webContents id of our window (undefined while there is none). */
  windowId(): number | undefined;
}

/** Electron's MessagePortMain as a StreamPort (its message events wrap the data). */
function streamPort(port: MessagePortMain): StreamPort {
  return {
    postMessage: (msg) => port.postMessage(msg),
    onMessage: (listener) => port.on('message', (e) => listener(e.data)),
    onClose: (listener) => port.on('close', listener),
    start: () => port.start(),
    close: () => port.close(),
  };
}

export function registerIpc(opts: IpcOptions): () => void {
  const allowed = (e: IpcMainEvent | IpcMainInvokeEvent): boolean =>
    isAllowedSender({ senderId: e.sender.id, frameUrl: e.senderFrame?.url ?? null }, opts.windowId(), opts.rendererDir);

  ipcMain.handle(INVOKE_CHANNEL, async (e, method: unknown, params: unknown) => {
    if (!allowed(e)) return { ok: false, error: REFUSED };
    return opts.host.callWire(method, params);
  });

  const onOpen = (e: IpcMainEvent, request: unknown): void => {
    const port: MessagePortMain | undefined = e.ports[0];
    if (port) serveStreamPort(opts.host, streamPort(port), request, allowed(e));
  };
  ipcMain.on(OPEN_CHANNEL, onOpen);

  return () => {
    ipcMain.removeHandler(INVOKE_CHANNEL);
    ipcMain.off(OPEN_CHANNEL, onOpen);
  };
}
