/**
 * What Berth Desktop does at launch so the user ends up at a running engine without a terminal.
 * Plain decisions from facts the main process gathers (engine-launch.ts), tested without Electron:
 *
 * - The Berth VM (the default engine on macOS and Windows): start it if it is not running; first
 *   make sure the guest image and QEMU are there, else say what is missing and how to get it.
 *   QEMU is looked for on PATH and where its installers put it, since an app opened from the
 *   Finder does not get the shell's PATH (Homebrew's /opt/homebrew/bin is not on it).
 * - The local engine on Linux: if nothing answers at its socket and berthd.service is installed
 *   (the deb ships it), offer to start it (now and at boot) through pkexec, which asks for the
 *   password in the desktop's own dialog. If the socket is there but the user may not open it,
 *   offer to let them in (the socket's group for later logins, an ACL entry right away). Without
 *   the service (the AppImage, a source checkout), explain how to get an engine, and offer the VM
 *   when it can run.
 * - Any other engine (ssh, socket): nothing; the app's status screens say what is wrong.
 */
import net from 'node:net';
import path from 'node:path';
import type { EngineEndpoint } from '../types/desktop-api.js';

/** What connecting to a unix socket gave. */
export type SocketProbe = 'answers' | 'absent' | 'refused' | 'denied' | 'other';

export function socketProbeFromError(code: string | undefined): SocketProbe {
  if (code === 'ENOENT') return 'absent';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'EACCES' || code === 'EPERM') return 'denied';
  return 'other';
}

/** Connects to a unix socket once: something listening, nothing there, or refused to us. */
export function probeSocket(socketPath: string, timeoutMs = 3000): Promise<SocketProbe> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    conn.setTimeout(timeoutMs, () => {
      conn.destroy();
      resolve('other');
    });
    conn.once('connect', () => {
      conn.end();
      resolve('answers');
    });
    conn.once('error', (err: NodeJS.ErrnoException) => resolve(socketProbeFromError(err.code)));
  });
}

export interface EngineFacts {
  platform: NodeJS.Platform;
  activeKind: EngineEndpoint['kind'];
  /** The local engine's unix socket and what connecting to it gave (Linux, local engine). */
  localSocket?: { path: string; probe: SocketProbe };
  /** berthd.service is installed (the deb). */
  serviceInstalled: boolean;
  /** pkexec is there to ask for the password. */
  canElevate: boolean;
  /** QEMU's executable, when found. */
  qemu: string | undefined;
  /** The VM's guest image is installed (bundled with the app, or built). */
  vmImage: boolean;
  /** The VM is running or starting already. */
  vmUp: boolean;
}

export type EnginePlan =
  | { action: 'none' }
  | { action: 'start-vm'; qemu: string }
  | { action: 'need-qemu' }
  | { action: 'need-vm-image' }
  /** Linux: ask, then run the privileged steps (start the service and/or let the user in). */
  | { action: 'offer-service'; start: boolean; socket: string }
  /** Linux, no engine and no service to start: say how to get one (and offer the VM when it can run). */
  | { action: 'explain-no-engine'; vmPossible: boolean }
  /** Linux, the socket refuses this user and there is no pkexec to fix it. */
  | { action: 'explain-denied'; socket: string };

export function planEngine(f: EngineFacts): EnginePlan {
  if (f.activeKind === 'vm') {
    if (f.vmUp) return { action: 'none' };
    if (!f.vmImage) return { action: 'need-vm-image' };
    if (!f.qemu) return { action: 'need-qemu' };
    return { action: 'start-vm', qemu: f.qemu };
  }
  if (f.activeKind !== 'local' || f.platform !== 'linux' || !f.localSocket) return { action: 'none' };
  const { probe, path: socket } = f.localSocket;
  if (probe === 'answers') return { action: 'none' };
  if (probe === 'denied') return f.canElevate ? { action: 'offer-service', start: false, socket } : { action: 'explain-denied', socket };
  if (f.serviceInstalled && f.canElevate) return { action: 'offer-service', start: true, socket };
  return { action: 'explain-no-engine', vmPossible: f.vmImage && f.qemu !== undefined };
}

export const SERVICE = 'berthd.service';

/**
 * The privileged steps as one shell script (one password prompt), with the user and socket as
 * arguments, never spliced into the text: start and enable the service (when asked), wait for its
 * socket, add the user to the socket's group (takes effect at their next login) and give them an
 * ACL entry on the socket (takes effect now).
 */
export const PRIVILEGED_SCRIPT = [
  'set -e',
  `if [ "$3" = start ]; then systemctl enable --now ${SERVICE}; fi`,
  'i=0; while [ ! -S "$2" ] && [ "$i" -lt 150 ]; do sleep 0.2; i=$((i + 1)); done',
  '[ -S "$2" ] || { echo "the engine did not create $2" >&2; exit 1; }',
  'g=$(stat -c %G "$2")',
  'if [ "$g" != root ]; then usermod -aG "$g" "$1"; fi',
  'if command -v setfacl >/dev/null; then setfacl -m "u:$1:rw" "$2"; fi',
].join('\n');

/** The command line that runs the steps as root: pkexec shows the desktop's password dialog. */
export function privilegedCommand(plan: { start: boolean; socket: string }, user: string): { cmd: string; args: string[] } {
  return { cmd: 'pkexec', args: ['/bin/sh', '-c', PRIVILEGED_SCRIPT, 'berth-engine', user, plan.socket, plan.start ? 'start' : 'access'] };
}

/** Where systemd looks for a packaged unit (the deb puts it in /lib/systemd/system). */
export const SERVICE_PATHS = [`/etc/systemd/system/${SERVICE}`, `/lib/systemd/system/${SERVICE}`, `/usr/lib/systemd/system/${SERVICE}`];

/** Where to look for QEMU: BERTH_QEMU, PATH, then where its installers put it on this OS. */
export function qemuCandidates(binary: string, platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (env['BERTH_QEMU']) return [env['BERTH_QEMU']];
  const p = platform === 'win32' ? path.win32 : path.posix;
  const dirs = (env['PATH'] ?? env['Path'] ?? '').split(platform === 'win32' ? ';' : ':').filter(Boolean);
  if (platform === 'darwin') dirs.push('/opt/homebrew/bin', '/usr/local/bin', '/opt/local/bin');
  if (platform === 'win32') {
    for (const base of [env['ProgramFiles'], env['ProgramW6432'], 'C:\\Program Files']) if (base) dirs.push(p.join(base, 'qemu'));
  }
  if (platform === 'linux') dirs.push('/usr/bin', '/usr/local/bin');
  return [...new Set(dirs.map((d) => p.join(d, binary)))];
}

/** What the user reads when QEMU is missing. */
export function qemuAdvice(platform: NodeJS.Platform): { detail: string; url: string } {
  const url = 'https://www.qemu.org/download/';
  if (platform === 'darwin') {
    return { url, detail: 'Berth Desktop runs its engine in a small Linux VM, which needs QEMU. Install it with Homebrew (brew install qemu) or MacPorts (sudo port install qemu), then choose Retry.' };
  }
  if (platform === 'win32') {
    return { url, detail: 'Berth Desktop runs its engine in a small Linux VM, which needs QEMU. Install QEMU for Windows (the installer linked from qemu.org, into C:\\Program Files\\qemu), then choose Retry.' };
  }
  return { url, detail: 'The Berth VM needs QEMU: install your distribution\'s qemu-system package (Debian and Ubuntu: sudo apt install qemu-system), then choose Retry.' };
}
