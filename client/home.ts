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
 *
 * On Windows the sockets are named pipes (`\\.\pipe\berth-<hash of the root>-docker`, ...): the
 * docker CLI there speaks `npipe://`, and Node serves pipes where other systems have unix sockets.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
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

export function berthHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): BerthHome {
  const join = platform === 'win32' ? path.win32.join : path.posix.join;
  const root = env['BERTH_HOME'] || join(env['HOME'] || env['USERPROFILE'] || os.homedir(), '.berth');
  const runDir = join(root, 'run');
  const home = { root, runDir, platform };
  return {
    root,
    sshDir: join(root, 'ssh'),
    knownHosts: join(root, 'ssh', 'known_hosts'),
    runDir,
    vmSocket: socketIn(home, 'docker'),
    vmControl: socketIn(home, 'vm'),
    vmDir: join(root, 'vm'),
  };
}

const PIPE_PREFIX = '\\\\.\\pipe\\';

/** A named pipe's path (`\\.\pipe\name`) rather than a file. */
export function isPipe(p: string): boolean {
  return p.startsWith(PIPE_PREFIX);
}

/**
 * Where a socket called `name` lives: `<run>/<name>.sock`, or on Windows a pipe whose name carries
 * a hash of the Berth root, so two roots (two users, tests) never share one.
 */
export function socketIn(home: { root: string; runDir: string; platform?: NodeJS.Platform }, name: string): string {
  if ((home.platform ?? process.platform) !== 'win32') return path.posix.join(home.runDir, `${name}.sock`);
  return `${PIPE_PREFIX}berth-${createHash('sha256').update(home.root).digest('hex').slice(0, 8)}-${name}`;
}

/** The DOCKER_HOST value for a socket: `unix:///path`, or `npipe:////./pipe/name` for a pipe. */
export function hostFor(socket: string): string {
  return isPipe(socket) ? `npipe:////./pipe/${socket.slice(PIPE_PREFIX.length)}` : `unix://${socket}`;
}

/** The user's own OpenSSH files, read (never written) for remote engines. */
export function userSshDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env['HOME'] || os.homedir(), '.ssh');
}

/**
 * Creates one of Berth's own directories (run/, ssh/, vm/) or takes back one that exists with a
 * wider mode: what is inside (sockets that reach an engine as root, keys) is for its owner only.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') await fsp.chmod(dir, 0o700);
}

/** Write a file so readers see either the old or the new content, never a mix (mode 0600:
 * Berth's files hold settings, pins and engine addresses of one user). */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}
