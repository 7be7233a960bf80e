/**
 * The bridge host: everything Berth Desktop's renderer can ask for, in one object shared by the
 * Electron main process (over IPC) and web mode (over a WebSocket). It owns the engines registry
 * and settings, one client for the active engine, the jobs, and the open streams.
 *
 * Two ways in: `call`/`open` are typed for code in this repository (tests, the tray); the `wire`
 * variants take untrusted names and parameters from a transport, and check them.
 */
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { EngineRegistry, defaultConfigPath } from '../../client/contexts/index.js';
import { EngineClient } from '../../client/index.js';
import { openEngineLink } from '../../client/engine-link.js';
import type { EngineLink } from '../../client/engine-link.js';
import { berthHome, hostFor, socketIn } from '../../client/home.js';
import type {
  BridgeError,
  EngineEndpoint,
  MethodName,
  MethodParams,
  MethodResult,
  StreamInput,
  StreamMessage,
  StreamName,
  StreamParams,
} from '../../types/desktop-api.js';
import type { HostContext } from './context.js';
import { BridgeFailure, toBridgeError } from './errors.js';
import { JobManager } from './jobs.js';
import { methods } from './methods.js';
import { DesktopSettings } from './settings.js';
import { probeEngine } from './status.js';
import { streams } from './streams.js';
import type { StreamOut } from './streams.js';

export interface BridgeHostOptions {
  kind: 'electron' | 'web';
  /** Environment for BERTH_HOST / DOCKER_HOST, BERTH_DESKTOP_CONFIG, XDG_CONFIG_HOME, BERTH_DAEMON_LOG (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The config file (default: BERTH_DESKTOP_CONFIG or $XDG_CONFIG_HOME/berth/desktop.json). */
  configPath?: string;
  /** The local engine's address (default: BERTH_HOST, DOCKER_HOST, unix:///run/berth/docker.sock). */
  localHost?: string;
  /** Shown in diagnostics (default: package.json's version). */
  appVersion?: string;
}

/** Where a stream's messages go. `end` is called exactly once, with an error when it failed. */
export interface StreamSink<S extends StreamName = StreamName> {
  data(msg: StreamMessage<S>): void;
  end(error?: BridgeError): void;
}

export interface StreamControl<S extends StreamName = StreamName> {
  input(data: StreamInput<S>): void;
  close(): void;
}

export interface BridgeHost {
  readonly kind: 'electron' | 'web';
  /** The file the engines and settings are kept in. */
  readonly configPath: string;
  readonly methodNames: readonly MethodName[];
  readonly streamNames: readonly StreamName[];
  /** A typed call; rejects with a BridgeFailure ({message, status}). */
  call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>>;
  /** A call from a transport: never rejects, answers the result or the error. */
  callWire(method: unknown, params: unknown): Promise<{ ok: true; value: unknown } | { ok: false; error: BridgeError }>;
  open<S extends StreamName>(stream: S, params: StreamParams<S>, sink: StreamSink<S>): StreamControl<S>;
  /** A stream from a transport: an unknown name or bad input ends the stream with an error. */
  openWire(stream: unknown, params: unknown, sink: { data(msg: unknown): void; end(error?: BridgeError): void }): { input(data: unknown): void; close(): void };
  /** Ends every stream, cancels running jobs, closes engine connections. */
  close(): Promise<void>;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Input messages kept for a stream that is still being set up (or that takes none). */
const MAX_EARLY_INPUT = 1000;

const isMethod = (name: unknown): name is MethodName => typeof name === 'string' && Object.hasOwn(methods, name);
const isStream = (name: unknown): name is StreamName => typeof name === 'string' && Object.hasOwn(streams, name);

export async function createBridgeHost(opts: BridgeHostOptions): Promise<BridgeHost> {
  const env = opts.env ?? process.env;
  const configPath = opts.configPath ?? defaultConfigPath(env);
  const registry = await EngineRegistry.load(configPath, env, opts.localHost);
  const jobs = new JobManager();
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const home = berthHome(env);
  // ssh engines get a forwarded socket; the link lives while its engine is the active one.
  const connect = async (engine: EngineEndpoint): Promise<{ link: EngineLink; client: EngineClient }> => {
    const link = await openEngineLink(engine, { home, env, keepConnected: true }).catch(
      (err: unknown): EngineLink => ({
        host: hostFor(socketIn(home, `engine-${engine.id}`)),
        close: async () => undefined,
        error: err instanceof Error ? err : new Error(String(err)),
      }),
    );
    return { link, client: new EngineClient({ host: link.host, ...(link.tls ? { tls: link.tls } : {}) }) };
  };
  let { link, client } = await connect(registry.active());
  let closed = false;
  const open = new Set<() => void>();

  const ctx: HostContext = {
    kind: opts.kind,
    appVersion: opts.appVersion ?? packageVersion(),
    env,
    registry,
    settings: new DesktopSettings(registry),
    jobs,
    client: () => client,
    activeEngine: () => registry.active(),
    probe: () => probeEngine(registry.active(), client, link),
    async useEngine(id) {
      const engine = await registry.use(id);
      const [oldClient, oldLink] = [client, link];
      ({ link, client } = await connect(engine));
      oldClient.close();
      await oldLink.close();
      changes.emit('change');
      return probeEngine(engine, client, link);
    },
    onEngineChange(fn) {
      changes.on('change', fn);
      return () => changes.off('change', fn);
    },
  };

  const run = async (method: MethodName, params: unknown): Promise<unknown> => {
    if (closed) throw new BridgeFailure('the bridge is closed', 503);
    return (methods[method] as (c: HostContext, p: unknown) => Promise<unknown>)(ctx, params);
  };

  const start = (stream: StreamName, params: unknown, sink: { data(msg: unknown): void; end(error?: BridgeError): void }) => {
    const abort = new AbortController();
    let ended = false;
    let inputFn: ((data: unknown) => void) | undefined;
    // Input sent before the stream is set up (a terminal's first keys) waits for it.
    let early: unknown[] = [];
    const finish = (error?: BridgeError): void => {
      if (ended) return;
      ended = true;
      open.delete(stop);
      sink.end(error);
    };
    const stop = (): void => abort.abort();
    const out: StreamOut<StreamName> = {
      push: (msg) => {
        if (!ended && !abort.signal.aborted) sink.data(msg);
      },
      signal: abort.signal,
      onInput: (fn) => {
        inputFn = fn;
        const queued = early;
        early = [];
        for (const data of queued) control.input(data);
      },
    };
    open.add(stop);
    if (closed) {
      finish({ message: 'the bridge is closed', status: 503 });
    } else {
      (streams[stream] as (c: HostContext, p: unknown, o: StreamOut<StreamName>) => Promise<void>)(ctx, params, out).then(
        () => finish(),
        (err: unknown) => finish(abort.signal.aborted ? undefined : toBridgeError(err)),
      );
    }
    const control = {
      input(data: unknown) {
        if (ended || abort.signal.aborted) return;
        try {
          if (!inputFn) {
            if (early.length >= MAX_EARLY_INPUT) throw new BridgeFailure(`the ${stream} stream is not taking input`, 400);
            early.push(data);
            return;
          }
          inputFn(data);
        } catch (err) {
          abort.abort();
          finish(toBridgeError(err));
        }
      },
      close: stop,
    };
    return control;
  };

  return {
    kind: opts.kind,
    configPath,
    methodNames: Object.keys(methods) as MethodName[],
    streamNames: Object.keys(streams) as StreamName[],
    async call(method, params) {
      if (!isMethod(method)) throw new BridgeFailure(`unknown method "${String(method)}"`, 404);
      try {
        return (await run(method, params)) as never;
      } catch (err) {
        const e = toBridgeError(err);
        throw new BridgeFailure(e.message, e.status);
      }
    },
    async callWire(method, params) {
      if (!isMethod(method)) return { ok: false, error: { message: `unknown method "${String(method)}"`, status: 404 } };
      try {
        return { ok: true, value: (await run(method, params)) ?? null };
      } catch (err) {
        return { ok: false, error: toBridgeError(err) };
      }
    },
    open(stream, params, sink) {
      return start(stream, params, sink as StreamSink) as StreamControl<typeof stream>;
    },
    openWire(stream, params, sink) {
      if (!isStream(stream)) {
        queueMicrotask(() => sink.end({ message: `unknown stream "${String(stream)}"`, status: 404 }));
        return { input: () => undefined, close: () => undefined };
      }
      return start(stream, params, sink);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const stop of [...open]) stop();
      jobs.close();
      changes.removeAllListeners();
      client.close();
      await link.close();
    },
  };
}
