// A real OpenSSH server on a loopback port for the SSH transport tests: its own host key and
// authorized_keys in a temp dir, key login for root only, streamlocal forwarding allowed.
import type { ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, run, runOk, spawnTracked, stopChild, waitUntil } from './util.js';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  port: number;
  dir: string;
  /** The host key's public line (`ssh-ed25519 AAAA...`). */
  hostKey: string;
  stop(): Promise<void>;
  /** Starts it again on the same port, keys and config. */
  start(): Promise<void>;
  /** Cuts every open SSH connection (a network blip), leaving the server listening. */
  dropConnections(): Promise<void>;
}

export async function startSshd(dir: string, authorizedKeys: string[], opts: { allowStreamLocal?: boolean } = {}): Promise<TestSshd> {
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKeyFile = path.join(dir, 'ssh_host_ed25519_key');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKeyFile]);
  await fsp.writeFile(path.join(dir, 'authorized_keys'), `${authorizedKeys.join('\n')}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await fsp.writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyFile}`,
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
  let child: ChildProcess | undefined;
  const sshd: TestSshd = {
    port,
    dir,
    hostKey: (await fsp.readFile(`${hostKeyFile}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' '),
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
