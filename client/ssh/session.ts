/**
 * One SSH connection (ssh2) to an engine host: the VM's guest on a loopback port, or a remote
 * Linux machine. It authenticates with a key (Berth's own, a file the user named, or the SSH agent),
 * verifies the host key through the caller's policy before any credential is sent, notices a dead
 * peer through keepalives, and opens the channels the rest of Berth uses: a stream to a unix socket
 * on the far side (OpenSSH's streamlocal forwarding, how the engine socket is reached), a command
 * with its output, or an interactive shell.
 */
import { EventEmitter } from 'node:events';
import ssh2 from 'ssh2';
import type { AgentAuthMethod, ClientChannel, PseudoTtyOptions, PublicKeyAuthMethod } from 'ssh2';
import { fingerprint, keyTypeOf } from './known-hosts.js';

/** Where an `ssh://[user@]host[:port][/socket]` engine lives. */
export interface SshTarget {
  user: string;
  host: string;
  port: number;
  /** The engine's socket on the far side. */
  socketPath: string;
}

export const REMOTE_ENGINE_SOCKET = '/var/run/docker.sock';

/** Parses an ssh:// engine address. The user defaults to the local user name, the port to 22. */
export function parseSshHost(address: string, defaultUser = process.env['USER'] || 'root'): SshTarget {
  const bad = (why: string): Error => new Error(`invalid ssh engine address "${address}": ${why} (use ssh://user@host[:port][/path/to/docker.sock])`);
  if (!address.startsWith('ssh://')) throw bad('it must start with ssh://');
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw bad('malformed address');
  }
  if (!url.hostname) throw bad('missing host name');
  if (url.password) throw bad('passwords are not supported; use a key or the SSH agent');
  if (url.search || url.hash) throw bad('query strings and fragments are not supported');
  const port = url.port ? Number(url.port) : 22;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const socketPath = url.pathname && url.pathname !== '/' ? decodeURIComponent(url.pathname) : REMOTE_ENGINE_SOCKET;
  return { user: decodeURIComponent(url.username) || defaultUser, host, port, socketPath };
}

export interface SshConnectOptions {
  host: string;
  port: number;
  username: string;
  /** Unencrypted private keys (OpenSSH or PEM), offered in order. */
  keys?: Buffer[];
  /** Path of an SSH agent socket (SSH_AUTH_SOCK). */
  agent?: string;
  /**
   * Decides whether the host key is acceptable. Rejecting (false, or a thrown Error whose message
   * explains why) fails the connection before any credential is sent.
   */
  verifyHostKey: (blob: Buffer) => Promise<boolean>;
  /** Host key algorithms in order of preference (default ssh2's): the known key types first. */
  hostKeyAlgorithms?: string[];
  /** Abandon the handshake after this long (default 10 s). */
  readyTimeoutMs?: number;
  /** Keepalive probe interval; the connection is declared dead after 3 missed (default 5 s). */
  keepaliveMs?: number;
}

export class SshError extends Error {
  /** The server refused the channel (the connection itself is fine). */
  refused = false;
}

/** ssh2 marks a channel the server refused with a numeric `reason`; other failures are the connection's. */
function channelError(message: string, err: Error): SshError {
  const e = new SshError(message, { cause: err });
  e.refused = typeof (err as Error & { reason?: unknown }).reason === 'number';
  return e;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export class SshSession extends EventEmitter {
  private closedFlag = false;

  private constructor(
    private readonly client: ssh2.Client,
    readonly label: string,
  ) {
    super();
    client.on('close', () => {
      this.closedFlag = true;
      this.emit('close');
    });
    client.on('error', (err) => {
      // After the handshake an error ends the connection; 'close' follows.
      this.emit('lost', err);
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  static connect(opts: SshConnectOptions): Promise<SshSession> {
    const label = `${opts.username}@${opts.host}:${opts.port}`;
    // Each key, then the agent: the first the server accepts wins.
    const methods: (PublicKeyAuthMethod | AgentAuthMethod)[] = [
      ...(opts.keys ?? []).map((key): PublicKeyAuthMethod => ({ type: 'publickey', username: opts.username, key })),
      ...(opts.agent ? [{ type: 'agent', username: opts.username, agent: opts.agent } satisfies AgentAuthMethod] : []),
    ];
    return new Promise((resolve, reject) => {
      const client = new ssh2.Client();
      let verifyError: Error | undefined;
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        client.end();
        reject(verifyError ?? new SshError(`cannot connect to ${label} over SSH: ${describe(err)}`));
      };
      client.once('ready', () => {
        settled = true;
        client.removeListener('error', fail);
        resolve(new SshSession(client, label));
      });
      // ssh2 may report more than one error for one failed handshake: all go here.
      client.on('error', fail);
      client.once('close', () => fail(new Error('connection closed during the handshake')));
      client.connect({
        host: opts.host,
        port: opts.port,
        username: opts.username,
        authHandler: methods,
        readyTimeout: opts.readyTimeoutMs ?? 10_000,
        keepaliveInterval: opts.keepaliveMs ?? 5_000,
        keepaliveCountMax: 3,
        ...(opts.hostKeyAlgorithms ? { algorithms: { serverHostKey: opts.hostKeyAlgorithms as ssh2.ServerHostKeyAlgorithm[] } } : {}),
        hostVerifier: (blob: Buffer, done: (ok: boolean) => void) => {
          opts.verifyHostKey(blob).then(done, (err: unknown) => {
            // The cause stays attached: a HostKeyChangedError carries both fingerprints for the app.
            verifyError = new SshError(`host key of ${label} refused: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
            done(false);
          });
        },
      });
    });
  }

  /** A bidirectional stream to the unix socket `socketPath` on the far side. */
  streamLocal(socketPath: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.openssh_forwardOutStreamLocal(socketPath, (err, channel) => {
        if (err) reject(channelError(`cannot open ${socketPath} on ${this.label}: ${describe(err)}`, err));
        else resolve(channel);
      });
    });
  }

  /** A bidirectional stream to host:port as seen from the far side. */
  streamTcp(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, channel) => {
        if (err) reject(channelError(`cannot reach ${host}:${port} from ${this.label}: ${describe(err)}`, err));
        else resolve(channel);
      });
    });
  }

  /** Runs a command and collects its output (for small outputs: status checks, log tails). */
  async exec(command: string, timeoutMs = 30_000): Promise<ExecResult> {
    const channel = await this.channel(command);
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => {
        channel.close();
        reject(new SshError(`"${command}" on ${this.label} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      channel.on('data', (d: Buffer) => out.push(d));
      channel.stderr.on('data', (d: Buffer) => err.push(d));
      channel.on('close', (code: number | null, signal?: string) => {
        clearTimeout(timer);
        resolve({ code, ...(signal ? { signal } : {}), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    });
  }

  /** A command (or, without one, the login shell) with its channel for the caller to pipe. */
  channel(command?: string, pty?: PseudoTtyOptions): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, channel: ClientChannel): void => {
        if (err) reject(new SshError(`cannot start ${command ? `"${command}"` : 'a shell'} on ${this.label}: ${describe(err)}`));
        else resolve(channel);
      };
      if (command === undefined) this.client.shell(pty ?? {}, done);
      else if (pty) this.client.exec(command, { pty }, done);
      else this.client.exec(command, done);
    });
  }

  close(): void {
    this.client.end();
  }
}

/** A host-key policy for a single key known in advance (the VM's, read off its console). */
export function expectKey(expected: Buffer): (blob: Buffer) => Promise<boolean> {
  return async (blob) => {
    if (blob.equals(expected)) return true;
    throw new Error(
      `the host presented ${keyTypeOf(blob)} ${fingerprint(blob)}, but ${keyTypeOf(expected)} ${fingerprint(expected)} is pinned`,
    );
  };
}

function describe(err: Error): string {
  const level = (err as Error & { level?: string }).level;
  if (level === 'client-authentication') return 'authentication failed (no key was accepted)';
  if (level === 'client-timeout') return 'timed out waiting for the SSH handshake';
  return err.message;
}
