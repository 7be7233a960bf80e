// A real OpenSSH server on a loopback port for the SSH transport tests: its own host key and
// authorized_keys in a temp dir, key login for root only, streamlocal forwarding allowed.
import type { ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, run, runOk, spawnTracked, stopChild, waitUntil } from './util.js';

export const SSHD = '/usr/sbin/sshd';

export type HostKeyType = 'ed25519' | 'ecdsa' | 'rsa';

export interface TestSshd {
  port: number;
  dir: string;
  /** The (first) host key's public line (`ssh-ed25519 AAAA...`). */
  hostKey: string;
  /** Every host key's public line, in the order of `hostKeyTypes`. */
  hostKeys: string[];
  /**
   * Gives the server new host keys of these types (made by ssh-keygen) and restarts it on the same
   * port: a reinstalled host, or someone else answering on its address.
   */
  replaceHostKeys(types: HostKeyType[]): Promise<void>;
  stop(): Promise<void>;
  /** Starts it again on the same port, keys and config. */
  start(): Promise<void>;
  /** Cuts every open SSH connection (a network blip), leaving the server listening. */
  dropConnections(): Promise<void>;
}

let generation = 0;

/** New host keys of `types` under `dir`; their private key files and public lines. */
async function makeHostKeys(dir: string, types: HostKeyType[]): Promise<{ files: string[]; lines: string[] }> {
  const tag = generation++;
  const files: string[] = [];
  const lines: string[] = [];
  for (const t of types) {
    const file = path.join(dir, `ssh_host_${t}_key.${tag}`);
    await runOk('ssh-keygen', ['-q', '-t', t, ...(t === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-f', file]);
    files.push(file);
    lines.push((await fsp.readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' '));
  }
  return { files, lines };
}

export async function startSshd(
  dir: string,
  authorizedKeys: string[],
  opts: { allowStreamLocal?: boolean; hostKeyTypes?: HostKeyType[] } = {},
): Promise<TestSshd> {
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  let keys = await makeHostKeys(dir, opts.hostKeyTypes ?? ['ed25519']);
  await fsp.writeFile(path.join(dir, 'authorized_keys'), `${authorizedKeys.join('\n')}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  const writeConfig = (): Promise<void> =>
    fsp.writeFile(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        ...keys.files.map((f) => `HostKey ${f}`),
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        `AllowStreamLocalForwarding ${opts.allowStreamLocal === false ? 'no' : 'yes'}`,
        'AllowTcpForwarding yes',
        'UseDNS no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
  await writeConfig();
  let child: ChildProcess | undefined;
  const sshd: TestSshd = {
    port,
    dir,
    get hostKey(): string {
      return keys.lines[0] as string;
    },
    get hostKeys(): string[] {
      return [...keys.lines];
    },
    async replaceHostKeys(types) {
      await sshd.stop();
      keys = await makeHostKeys(dir, types);
      await writeConfig();
      await sshd.start();
    },
    async start() {
      const log = await fsp.open(path.join(dir, 'sshd.log'), 'a');
      child = spawnTracked(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', log.fd, log.fd] });
      await log.close();
      const up = await waitUntil(
        () =>
          new Promise<boolean>((resolve) => {
            const s = net.connect(port, '127.0.0.1');
            s.once('connect', () => (s.destroy(), resolve(true)));
            s.once('error', () => resolve(false));
          }),
        10_000,
      );
      if (!up) throw new Error(`sshd did not listen on ${port}: ${await fsp.readFile(path.join(dir, 'sshd.log'), 'utf8')}`);
    },
    async stop() {
      await sshd.dropConnections();
      if (child) await stopChild(child);
      child = undefined;
    },
    async dropConnections() {
      // Each connection is served by a process forked from the listener.
      if (child?.pid) await run('pkill', ['-KILL', '-P', String(child.pid)]);
    },
  };
  await sshd.start();
  return sshd;
}
