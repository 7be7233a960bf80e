/**
 * Remote engines: `ssh://user@host[:port][/socket]`, reached like the VM, through a local socket
 * forwarded over SSH. Credentials are tried in the order OpenSSH users expect: the identity file
 * named for this engine, the SSH agent, Berth's own key, then the user's default keys in ~/.ssh.
 * Host keys must already be known (Berth's pins or ~/.ssh/known_hosts); adding an engine is the one
 * step that may pin a new one, and it reports the fingerprint it pinned. A key that differs from a
 * trusted one is refused on every path, adding included, unless replacing it was asked for.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { BerthHome } from '../home.js';
import { userSshDir } from '../home.js';
import { readPrivateKey } from './keys.js';
import { HostKeyChangedError, KnownHosts, knownHostName } from './known-hosts.js';
import type { HostKeyCheck } from './known-hosts.js';
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
  /**
   * Replace the pinned key when the host presents a different one: `true` for whatever it presents
   * (`berth context create --replace-host-key`), or the `type SHA256:...` the user confirmed (the
   * app), so a third key showing up between the question and the answer is still refused.
   * Only with onNewHostKey.
   */
  replaceHostKey?: boolean | string;
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
      hostKeyAlgorithms: await known.preferredHostKeyAlgorithms(target.host, target.port),
      verifyHostKey: async (blob) => {
        const checked = await known.check(target.host, target.port, blob);
        const fp = checked.presented;
        if (checked.verdict === 'match') {
          opts.onKnownHostKey?.(target, fp);
          return true;
        }
        if (checked.verdict === 'revoked') throw new Error(`it presented ${fp}, which is marked @revoked in known_hosts`);
        if (checked.verdict === 'mismatch') {
          const replace = opts.onNewHostKey && (opts.replaceHostKey === true || opts.replaceHostKey === fp);
          if (!replace) {
            const advice = opts.onNewHostKey ? '' : '. If the change is expected, trust the new key explicitly: berth context create NAME --host ADDRESS --replace-host-key (or add the engine again in Berth Desktop, which asks)';
            throw new HostKeyChangedError(knownHostName(target.host, target.port), fp, checked.listed, advice);
          }
          await known.pin(target.host, target.port, blob, { replace: true });
          opts.onNewHostKey?.(target, fp);
          return true;
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

/** What an ssh:// engine's host presents, checked against the trusted keys (nothing is pinned or sent). */
export async function probeHostKey(address: string, opts: { home: BerthHome; env?: NodeJS.ProcessEnv }): Promise<{ name: string; blob: Buffer; check: HostKeyCheck }> {
  const env = opts.env ?? process.env;
  const target = parseSshHost(address, env['USER'] || 'root');
  const known = new KnownHosts(opts.home.knownHosts, [path.join(userSshDir(env), 'known_hosts')]);
  let seen: Buffer | undefined;
  let failure: unknown;
  // The handshake stops at the host key: no credential is offered.
  await SshSession.connect({
    host: target.host,
    port: target.port,
    username: target.user,
    keys: [],
    hostKeyAlgorithms: await known.preferredHostKeyAlgorithms(target.host, target.port),
    verifyHostKey: async (blob) => {
      seen = blob;
      return false;
    },
  }).then(
    (session) => session.close(),
    (err: unknown) => (failure = err),
  );
  if (!seen) throw failure instanceof Error ? failure : new Error(`cannot reach ${address} over SSH`);
  return { name: knownHostName(target.host, target.port), blob: seen, check: await known.check(target.host, target.port, seen) };
}
