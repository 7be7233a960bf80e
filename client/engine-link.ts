/**
 * From an engine entry (a "context") to an address the HTTP client can use. Local, socket and VM
 * engines already are one (the VM supervisor serves the forwarded socket); an ssh:// engine gets a
 * forwarder of its own, a local socket carried over SSH, which lives as long as the link.
 */
import type { EngineEndpoint } from '../types/desktop-api.js';
import type { TlsOptions } from './http.js';
import type { BerthHome } from './home.js';
import { ensurePrivateDir, hostFor, isPipe, socketIn } from './home.js';
import type { SocketForwarder } from './ssh/forwarder.js';
import { remoteForwarder } from './ssh/remote.js';
import type { SshTarget } from './ssh/session.js';
import { loadTls } from './tls.js';

export interface EngineLink {
  /** unix://, tcp:// or http:// address for EngineClient. */
  host: string;
  /** TLS for a tcp:// engine (the context's files, read). */
  tls?: TlsOptions;
  /** The SSH forwarder behind `host`, for ssh:// engines. */
  forwarder?: SocketForwarder;
  /** Why the link could not be set up (its socket could not be created); `host` then leads nowhere. */
  error?: Error;
  close(): Promise<void>;
}

export interface LinkOptions {
  home: BerthHome;
  env?: NodeJS.ProcessEnv;
  /** Where the forwarded socket goes (default `<home>/run/engine-<id>.sock`, a pipe on Windows). */
  socketPath?: string;
  /** Connect now, so a wrong address or key fails here with the SSH reason. */
  connectNow?: boolean;
  /** Reconnect in the background after a loss (long-lived links: the desktop). */
  keepConnected?: boolean;
  /** Allow pinning an unknown host key (adding an engine). */
  onNewHostKey?: (target: SshTarget, fingerprint: string) => void;
  /** Replace a pinned key that differs (see RemoteOptions.replaceHostKey). */
  replaceHostKey?: boolean | string;
  onKnownHostKey?: (target: SshTarget, fingerprint: string) => void;
}

export async function openEngineLink(engine: EngineEndpoint, opts: LinkOptions): Promise<EngineLink> {
  if (engine.kind !== 'ssh') {
    const tls = engine.tls && /^(tcp|https):\/\//.test(engine.host) ? await loadTls(engine.tls) : undefined;
    return { host: engine.host, ...(tls ? { tls } : {}), close: async () => undefined };
  }
  const socketPath = opts.socketPath ?? socketIn(opts.home, `engine-${engine.id}`);
  if (!isPipe(socketPath)) await ensurePrivateDir(opts.home.runDir);
  const forwarder = remoteForwarder({ host: engine.host, ...(engine.identityFile ? { identityFile: engine.identityFile } : {}) }, socketPath, {
    home: opts.home,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.onNewHostKey ? { onNewHostKey: opts.onNewHostKey } : {}),
    ...(opts.onKnownHostKey ? { onKnownHostKey: opts.onKnownHostKey } : {}),
    ...(opts.replaceHostKey !== undefined ? { replaceHostKey: opts.replaceHostKey } : {}),
    keepConnected: opts.keepConnected ?? false,
  });
  await forwarder.listen();
  if (opts.connectNow) {
    try {
      await forwarder.ensureSession();
    } catch (err) {
      await forwarder.close();
      throw err;
    }
  }
  return { host: hostFor(socketPath), forwarder, close: () => forwarder.close() };
}
