/**
 * Berth's per-user directory (`~/.berth`, or BERTH_HOME): what the CLI, the desktop app and the VM
 * supervisor share on the host.
 *
 *   ssh/id_ed25519, id_ed25519.pub   the installation's key pair (0600 / 0644, dir 0700)
 *   ssh/known_hosts                  pinned host keys (the VM's, remote engines')
 *   run/docker.sock                  the VM's engine socket, forwarded over SSH (0600, dir 0700)
 *   run/vm.sock                      the VM supervisor's control socket
 *   run/engine-<id>.sock             forwarded sockets of remote (ssh://) engines
 *   vm/                              the VM: settings, data disk, console log, QMP socket, pid
 */
import os from 'node:os';
import path from 'node:path';

export interface BerthHome {
  root: string;
  sshDir: string;
  knownHosts: string;
  runDir: string;
  vmSocket: string;
  vmControl: string;
  vmDir: string;
}

export function berthHome(env: NodeJS.ProcessEnv = process.env): BerthHome {
  const root = env['BERTH_HOME'] || path.join(env['HOME'] || os.homedir(), '.berth');
  const runDir = path.join(root, 'run');
  return {
    root,
    sshDir: path.join(root, 'ssh'),
    knownHosts: path.join(root, 'ssh', 'known_hosts'),
    runDir,
    vmSocket: path.join(runDir, 'docker.sock'),
    vmControl: path.join(runDir, 'vm.sock'),
    vmDir: path.join(root, 'vm'),
  };
}

/** The user's own OpenSSH files, read (never written) for remote engines. */
export function userSshDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env['HOME'] || os.homedir(), '.ssh');
}
