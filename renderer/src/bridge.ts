/**
 * The renderer's way to the bridge host. In Electron the preload puts a BridgeTransport on
 * `window.berth`; in web mode this module builds the same interface over a WebSocket to the
 * server that served the page (authenticated by its session cookie), reconnecting when the connection drops.
 * Everything else in the renderer sees only `BridgeTransport`.
 */
import type {
  BridgeError,
  BridgeTransport,
  MethodName,
  MethodParams,
  MethodResult,
  StreamHandle,
  StreamHandlers,
  StreamName,
  StreamParams,
  WireFrame,
} from '../../types/desktop-api';

declare global {
  interface Window {
    berth?: BridgeTransport;
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: BridgeError): void;
}

interface OpenStream {
  stream: StreamName;
  params: unknown;
  handlers: StreamHandlers<StreamName>;
}

/** An Error carrying the bridge's status (0: the engine or the bridge was not reached). */
export class BridgeCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

class WebSocketTransport implements BridgeTransport {
  readonly kind = 'web' as const;
  private ws?: WebSocket;
  private ready?: Promise<WebSocket>;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, OpenStream>();
  private retryMs = 250;

  constructor(private readonly url: string) {}

  private connect(): Promise<WebSocket> {
    this.ready ??= new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.onopen = () => {
        this.ws = ws;
        this.retryMs = 250;
        resolve(ws);
      };
      ws.onmessage = (ev) => this.onFrame(JSON.parse(String(ev.data)) as WireFrame);
      ws.onclose = () => {
        const lost: BridgeError = { message: 'the connection to Berth Desktop was lost', status: 0 };
        this.ws = undefined;
        this.ready = undefined;
        for (const p of this.pending.values()) p.reject(lost);
        this.pending.clear();
        for (const s of this.streams.values()) s.handlers.end(lost);
        this.streams.clear();
        reject(new BridgeCallError(lost.message, 0));
        // The page stays usable: the next call reconnects; retry in the background meanwhile.
        setTimeout(() => void this.connect().catch(() => undefined), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 5000);
      };
    });
    return this.ready;
  }

  private onFrame(f: WireFrame): void {
    if (f.t === 'result') {
      const p = this.pending.get(f.id);
      if (!p) return;
      this.pending.delete(f.id);
      if (f.ok) p.resolve(f.value);
      else p.reject(f.error);
    } else if (f.t === 'data') {
      this.streams.get(f.id)?.handlers.data(f.data as never);
    } else if (f.t === 'end') {
      const s = this.streams.get(f.id);
      this.streams.delete(f.id);
      s?.handlers.end(f.error);
    }
  }

  private send(frame: WireFrame): void {
    this.ws?.send(JSON.stringify(frame));
  }

  async invoke<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    await this.connect();
    const id = this.nextId++;
    return new Promise<MethodResult<M>>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (v) => resolve(v as MethodResult<M>),
        reject: (e) => reject(new BridgeCallError(e.message, e.status)),
      });
      this.send({ t: 'call', id, method, params });
    });
  }

  open<S extends StreamName>(stream: S, params: StreamParams<S>, handlers: StreamHandlers<S>): StreamHandle<S> {
    const id = this.nextId++;
    let closed = false;
    this.streams.set(id, { stream, params, handlers: handlers as unknown as StreamHandlers<StreamName> });
    this.connect().then(
      () => {
        if (!closed) this.send({ t: 'open', id, stream, params });
      },
      () => undefined, // onclose already ended the stream
    );
    return {
      send: (input) => {
        if (!closed) this.send({ t: 'input', id, data: input });
      },
      close: () => {
        if (closed) return;
        closed = true;
        if (this.streams.delete(id)) {
          this.send({ t: 'close', id });
          handlers.end();
        }
      },
    };
  }
}

let transport: BridgeTransport | undefined;

/** The bridge for this page: Electron's preload, else web mode's WebSocket. */
export function bridge(): BridgeTransport {
  if (transport) return transport;
  if (window.berth) return (transport = window.berth);
  // The server swapped the link's one-time token for an HttpOnly session cookie before this page
  // loaded; the browser sends that cookie with the WebSocket handshake.
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  transport = new WebSocketTransport(`${scheme}://${location.host}/bridge`);
  return transport;
}

/** A call's error as text for the user. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
