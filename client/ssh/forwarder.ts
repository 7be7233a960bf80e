/**
 * A local unix socket whose every connection is carried over SSH to a unix socket on the far side
 * (the engine's). This is how the docker CLI, SDKs, `berth` and the desktop reach an engine in the
 * VM or on a remote host: they see an ordinary `unix://` endpoint.
 *
 * The SSH connection is made on demand and shared by all forwarded connections. When it drops
 * (VM restart, network blip, sleep) the connections riding on it end, and the next one triggers a
 * reconnect; with `keepConnected`, the forwarder also reconnects in the background with backoff so
 * the first request after a blip does not pay for the handshake.
 *
 * The socket is created inside a 0700 directory and chmod 0600: anyone who can open it can run
 * containers as root on the far side.
 */
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ClientChannel } from 'ssh2';
import { SshError } from './session.js';
import type { SshSession } from './session.js';
import { isPipe } from '../home.js';

export interface ForwarderOptions {
  /** The local socket to create. */
  listenPath: string;
  /** The socket on the far side. */
  remotePath: string;
  /** Opens a new SSH session (called again after the previous one is lost). */
  connect: () => Promise<SshSession>;
  /** Reconnect in the background after a loss instead of waiting for the next client. */
  keepConnected?: boolean;
}

export type ForwarderState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

export class SocketForwarder extends EventEmitter {
  private server: net.Server | undefined;
  private session: SshSession | undefined;
  private pending: Promise<SshSession> | undefined;
  private readonly sockets = new Set<net.Socket>();
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 250;
  state: ForwarderState = 'idle';
  /** Why the last connection attempt failed (cleared by a success). */
  lastError: Error | undefined;

  constructor(private readonly opts: ForwarderOptions) {
    super();
  }

  get listenPath(): string {
    return this.opts.listenPath;
  }

  /** Creates the socket. Fails if another live process serves the same path. */
  async listen(): Promise<void> {
    const pipe = isPipe(this.opts.listenPath);
    if (!pipe) {
      await fsp.mkdir(path.dirname(this.opts.listenPath), { recursive: true, mode: 0o700 });
      await removeStaleSocket(this.opts.listenPath);
    }
    const server = net.createServer({ allowHalfOpen: true }, (sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listenPath, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    // A pipe is created with its owner's default ACL; a socket file gets its mode here.
    if (!pipe) await fsp.chmod(this.opts.listenPath, 0o600);
    this.server = server;
  }

  /** The current session, connecting if there is none. Concurrent callers share one attempt. */
  ensureSession(): Promise<SshSession> {
    if (this.session && !this.session.closed) return Promise.resolve(this.session);
    if (this.pending) return this.pending;
    if (this.state === 'closed') return Promise.reject(new Error('the forwarder is closed'));
    this.setState('connecting');
    const attempt = this.opts.connect().then(
      (session) => {
        this.pending = undefined;
        if (this.state === 'closed') {
          session.close();
          throw new Error('the forwarder is closed');
        }
        this.session = session;
        this.lastError = undefined;
        this.backoffMs = 250;
        session.once('close', () => this.lost(session));
        this.setState('connected');
        return session;
      },
      (err: unknown) => {
        this.pending = undefined;
        this.lastError = err instanceof Error ? err : new Error(String(err));
        if (this.state !== 'closed') {
          this.setState('disconnected');
          this.scheduleRetry();
        }
        throw this.lastError;
      },
    );
    this.pending = attempt;
    return attempt;
  }

  private lost(session: SshSession): void {
    if (this.session !== session) return;
    this.session = undefined;
    if (this.state === 'closed') return;
    this.setState('disconnected');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (!this.opts.keepConnected || this.retryTimer || this.state === 'closed') return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.ensureSession().catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
  }

  private setState(state: ForwarderState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /**
   * A channel to the far socket. A session that died without us noticing yet (a blip, the peer
   * restarted) fails the open: it is dropped and one new session is tried, so the first request
   * after a blip works instead of failing.
   */
  private async openChannel(): Promise<ClientChannel> {
    const session = await this.ensureSession();
    try {
      return await session.streamLocal(this.opts.remotePath);
    } catch (err) {
      if (err instanceof SshError && err.refused) throw err;
      session.close();
      this.lost(session);
      return (await this.ensureSession()).streamLocal(this.opts.remotePath);
    }
  }

  private accept(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.pause();
    this.openChannel().then(
        (channel) => {
          if (sock.destroyed) {
            channel.close();
            return;
          }
          // Half-close travels both ways: docker's attach ends stdin with a write shutdown.
          sock.pipe(channel);
          channel.pipe(sock);
          channel.on('error', () => sock.destroy());
          channel.on('close', () => {
            if (!sock.destroyed) sock.end();
          });
          sock.once('close', () => channel.close());
          sock.resume();
        },
        (err: unknown) => {
          this.emit('connection-error', err);
          sock.destroy();
        },
      );
  }

  /** No more background reconnects (the far side is shutting down on purpose). */
  quiesce(): void {
    this.opts.keepConnected = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Stops listening, ends every forwarded connection and the SSH session, removes the socket. */
  async close(): Promise<void> {
    this.setState('closed');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const s of this.sockets) s.destroy();
    this.session?.close();
    this.session = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!isPipe(this.opts.listenPath)) await fsp.rm(this.opts.listenPath, { force: true });
  }
}

/**
 * A socket file left by a process that died is removed; one that still answers belongs to a live
 * forwarder and is an error (two would fight over the path).
 */
export async function removeStaleSocket(file: string): Promise<void> {
  // A pipe goes away with the process that served it: nothing can be stale.
  if (isPipe(file)) return;
  const st = await fsp.lstat(file).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${file} exists and is not a socket; move it out of the way`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${file} is already served by another process`);
  await fsp.rm(file, { force: true });
}
