/**
 * Remote engines: `ssh://user@host[:port][/socket]`, reached like the VM, through a local socket
 * forwarded over SSH. Credentials are tried in the order OpenSSH users expect: the identity file
 * named for this engine, the SSH agent, Berth's own key, then the user's default keys in ~/.ssh.
 * Host keys must already be known (Berth's pins or ~/.ssh/known_hosts); adding an engine is the one
 * step that may pin a new one, and it reports the fingerprint it pinned.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { BerthHome } from '../home.js';
import { userSshDir } from '../home.js';
import { readPrivateKey } from './keys.js';
import { KnownHosts, fingerprint, keyTypeOf } from './known-hosts.js';
import { SshSession, parseSshHost } from './session.js';
import type { SshTarget } from './session.js';
import { SocketForwarder } from './forwarder.js';

export interface RemoteEngine {
  /** ssh://user@host[:port][/socket] */
  host: string;
  identityFile?: string;
}

export interface RemoteOptions {
  home: BerthHome;
  env?: NodeJS.ProcessEnv;
  /** Pin an unknown host key instead of refusing it (adding an engine). Called with what was pinned. */
  onNewHostKey?: (target: SshTarget, fingerprint: string) => void;
  /** Told the key of a host that was already trusted (pinned, or in ~/.ssh/known_hosts). */
  onKnownHostKey?: (target: SshTarget, fingerprint: string) => void;
}

async function candidateKeys(engine: RemoteEngine, home: BerthHome, env: NodeJS.ProcessEnv): Promise<Buffer[]> {
  if (engine.identityFile) return [await readPrivateKey(engine.identityFile)];
  const keys: Buffer[] = [];
  const files = [path.join(home.sshDir, 'id_ed25519'), ...['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(userSshDir(env), f))];
  for (const file of files) {
    const exists = await fsp.stat(file).then(() => true, () => false);
    if (!exists) continue;
    // A default key that is unreadable, encrypted or too open is skipped, as ssh skips it.
    const key = await readPrivateKey(file).catch(() => undefined);
    if (key) keys.push(key);
  }
  return keys;
}

/** A function that opens an SSH session to the engine's host (each call, a new one). */
export function remoteConnector(engine: RemoteEngine, opts: RemoteOptions): { target: SshTarget; connect: () => Promise<SshSession> } {
  const env = opts.env ?? process.env;
  const target = parseSshHost(engine.host, env['USER'] || 'root');
  const known = new KnownHosts(opts.home.knownHosts, [path.join(userSshDir(env), 'known_hosts')]);
  const connect = async (): Promise<SshSession> => {
    const keys = await candidateKeys(engine, opts.home, env);
    const agent = engine.identityFile ? undefined : env['SSH_AUTH_SOCK'];
    if (keys.length === 0 && !agent) {
      throw new Error(`no SSH credentials for ${engine.host}: name an identity file, start an SSH agent, or create ~/.ssh/id_ed25519`);
    }
    return SshSession.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      keys,
      ...(agent ? { agent } : {}),
      verifyHostKey: async (blob) => {
        const verdict = await known.verify(target.host, target.port, blob);
        const fp = `${keyTypeOf(blob)} ${fingerprint(blob)}`;
        if (verdict === 'match') {
          opts.onKnownHostKey?.(target, fp);
          return true;
        }
        if (verdict === 'mismatch') {
          throw new Error(`it presented ${fp}, which differs from the pinned key: the host was reinstalled, or someone is intercepting the connection. If the change is expected, remove the engine and add it again`);
        }
        if (!opts.onNewHostKey) {
          throw new Error(`its key (${fp}) is not known: add the engine again (berth context create) to review and pin it, or add it to ~/.ssh/known_hosts`);
        }
        await known.pin(target.host, target.port, blob);
        opts.onNewHostKey(target, fp);
        return true;
      },
    });
  };
  return { target, connect };
}

/** A forwarder serving the remote engine's socket at `listenPath`. */
export function remoteForwarder(engine: RemoteEngine, listenPath: string, opts: RemoteOptions & { keepConnected?: boolean }): SocketForwarder {
  const { target, connect } = remoteConnector(engine, opts);
  return new SocketForwarder({ listenPath, remotePath: target.socketPath, connect, keepConnected: opts.keepConnected ?? false });
}
