/**
 * Talking to the VM supervisor, for `berth vm` and the desktop app. The supervisor listens on
 * `~/.berth/run/vm.sock`; a client sends one JSON line — {"op":"status"}, {"op":"watch"} or
 * {"op":"stop"} — and reads statuses back, one JSON line each. With no supervisor running, the
 * status is worked out from the files (is there a data disk, why did the last start fail).
 *
 * `startVm` starts a supervisor (a detached process, so the VM outlives the command or the app
 * window that started it) unless one runs, then follows its progress until the engine is ready.
 */
import { spawn } from 'node:child_process';
import { promises as fsp, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { BerthHome } from '../../client/home.js';
import { ensurePrivateDir, hostFor } from '../../client/home.js';
import { KnownHosts, SshSession, ensureKeyPair, removeStaleSocket } from '../../client/ssh/index.js';
import type { VmSettings, VmStatus } from '../../types/desktop-api.js';
import { findImage, wantedGuestArch } from './image.js';
import { loadVmSettings, mergeVmSettings, saveVmSettings } from './settings.js';
import { VM_HOST_NAME, stopStrayQemu, vmPaths } from './supervisor.js';

const SUPERVISOR_MAIN = fileURLToPath(new URL('./supervisor-main.js', import.meta.url));

export type ControlOp = 'status' | 'watch' | 'stop';

/** The status error when qemu outlived its supervisor. */
export const ORPHANED_VM = 'a VM process is running without its supervisor (it died); berth vm stop ends it';

/** Opens a control connection; undefined when no supervisor answers. */
function connectControl(home: BerthHome): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect(home.vmControl);
    sock.once('connect', () => resolve(sock));
    sock.once('error', () => resolve(undefined));
  });
}

/** Waits (100 ms steps, up to `ms`) until a supervisor answers or no longer does; answers whether it got there. */
async function untilSupervisor(home: BerthHome, present: boolean, ms: number): Promise<boolean> {
  for (let waited = 0; ; waited += 100) {
    const sock = await connectControl(home);
    sock?.destroy();
    if (!!sock === present) return true;
    if (waited >= ms) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends `op` and calls `onStatus` for each status line until the supervisor closes or `until` says so. */
async function converse(home: BerthHome, op: ControlOp, onStatus: (s: VmStatus) => boolean | void, signal?: AbortSignal): Promise<VmStatus | undefined> {
  const sock = await connectControl(home);
  if (!sock) return undefined;
  return new Promise((resolve) => {
    let last: VmStatus | undefined;
    let buf = '';
    const finish = (): void => {
      sock.destroy();
      resolve(last);
    };
    signal?.addEventListener('abort', finish, { once: true });
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        last = JSON.parse(line) as VmStatus;
        if (onStatus(last) === true) finish();
      }
    });
    sock.once('close', finish);
    sock.once('error', finish);
    sock.write(`${JSON.stringify({ op })}\n`);
  });
}

/** The status from the files, when no supervisor runs. */
async function offlineStatus(home: BerthHome, env: NodeJS.ProcessEnv): Promise<VmStatus> {
  const p = vmPaths(home);
  const hasDisk = await fsp.access(p.dataDisk).then(() => true, () => false);
  const stray = await stopStrayQemu(home, true);
  const error = stray
    ? ORPHANED_VM
    : (await fsp.readFile(p.lastError, 'utf8').catch(() => '')).trim();
  const image = await findImage(wantedGuestArch(env), env).catch(() => undefined);
  return {
    state: hasDisk ? 'stopped' : 'absent',
    socket: home.vmSocket,
    dockerHost: hostFor(home.vmSocket),
    ports: [],
    settings: await loadVmSettings(home, env),
    required: process.platform !== 'linux',
    ...(error ? { error } : {}),
    ...(image ? { image: { version: image.version, arch: image.arch, ...(image.compressedBytes ? { compressedBytes: image.compressedBytes } : {}) } } : {}),
  };
}

export async function vmStatus(home: BerthHome, env: NodeJS.ProcessEnv = process.env): Promise<VmStatus> {
  return (await converse(home, 'status', () => true)) ?? offlineStatus(home, env);
}

/** Follows the status until `signal` aborts; with no supervisor, reports the offline status once. */
export async function watchVm(home: BerthHome, onStatus: (s: VmStatus) => void, signal: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const last = await converse(home, 'watch', (s) => void onStatus(s), signal);
  if (!last && !signal.aborted) onStatus(await offlineStatus(home, env));
}

/**
 * Starts the VM (unless it runs) and follows it until the engine answers or the start fails.
 * Resolves with the final status; a failed start is a status with state 'stopped' and `error`.
 */
export async function startVm(home: BerthHome, onStatus: (s: VmStatus) => void = () => undefined, env: NodeJS.ProcessEnv = process.env): Promise<VmStatus> {
  const current = await converse(home, 'status', () => true);
  if (!current || current.state === 'stopped' || current.state === 'absent') {
    // A supervisor that is on its way out (stopped): wait for it to go.
    if (current) await untilSupervisor(home, false, 5_000);
    await spawnSupervisor(home, env);
  }
  let underWay = false;
  const final = await converse(home, 'watch', (s) => {
    onStatus(s);
    underWay ||= s.state === 'starting';
    // A supervisor on its way out from an earlier run says "stopped" before this start is under way.
    return s.state === 'running' || (s.state === 'stopped' && (underWay || s.error !== undefined));
  });
  return final ?? offlineStatus(home, env);
}

async function spawnSupervisor(home: BerthHome, env: NodeJS.ProcessEnv): Promise<void> {
  await ensurePrivateDir(home.vmDir);
  await ensurePrivateDir(home.runDir);
  const log = openSync(vmPaths(home).supervisorLog, 'a', 0o600);
  try {
    // ELECTRON_RUN_AS_NODE: started from the app, execPath is Electron's binary.
    const child = spawn(process.execPath, [SUPERVISOR_MAIN], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...env, BERTH_HOME: home.root, ELECTRON_RUN_AS_NODE: '1' },
    });
    child.unref();
  } finally {
    closeSync(log);
  }
  // The supervisor creates its control socket first thing.
  if (await untilSupervisor(home, true, 10_000)) return;
  throw new Error(`the VM supervisor did not start; see ${vmPaths(home).supervisorLog}`);
}

/** Stops the VM cleanly; resolves with the final status (offline if none was running). */
export async function stopVm(home: BerthHome, onStatus: (s: VmStatus) => void = () => undefined, env: NodeJS.ProcessEnv = process.env): Promise<VmStatus> {
  const answered = await converse(home, 'stop', (s) => void onStatus(s));
  // No supervisor, but its qemu may have outlived it: nothing else would ever stop that one.
  if (!answered) {
    await stopStrayQemu(home);
    // What the dead supervisor left: sockets nobody serves, its pid file.
    for (const sock of [home.vmSocket, home.vmControl]) await removeStaleSocket(sock).catch(() => undefined);
    await fsp.rm(vmPaths(home).supervisorPid, { force: true });
  }
  // The supervisor exits after answering; its socket goes with it.
  await untilSupervisor(home, false, 5_000);
  return offlineStatus(home, env);
}

/** Deletes the VM's data disk, logs and host key pin (the settings and the SSH key stay). */
export async function removeVm(home: BerthHome): Promise<void> {
  if (await converse(home, 'status', () => true)) throw new Error('the VM is running: stop it first (berth vm stop), or use --force');
  const p = vmPaths(home);
  for (const f of [p.dataDisk, p.consoleLog, p.supervisorLog, p.lastError, p.accelFile, p.qmpSocket, p.qemuPid, p.supervisorPid]) await fsp.rm(f, { force: true });
  await new KnownHosts(home.knownHosts).unpin(VM_HOST_NAME, 22);
}

/** Saves settings (applied at the next start). */
export async function configureVm(home: BerthHome, patch: Partial<VmSettings>, env: NodeJS.ProcessEnv = process.env): Promise<VmSettings> {
  const next = mergeVmSettings(await loadVmSettings(home, env), patch);
  await saveVmSettings(home, next);
  return next;
}

/** An SSH session to the running guest as root, with the installation key and the pinned host key. */
export async function openGuestSession(home: BerthHome, prog = 'berth', env: NodeJS.ProcessEnv = process.env): Promise<SshSession> {
  const s = await vmStatus(home, env);
  if (s.state !== 'running' || !s.sshPort) throw new Error(`the Berth VM is ${s.state}: start it with ${prog} vm start`);
  const keys = await ensureKeyPair(home.sshDir);
  const known = new KnownHosts(home.knownHosts);
  return SshSession.connect({
    host: '127.0.0.1',
    port: s.sshPort,
    username: 'root',
    keys: [keys.privateKey],
    verifyHostKey: async (blob) => {
      if ((await known.verify(VM_HOST_NAME, 22, blob)) === 'match') return true;
      throw new Error("it is not the key pinned at the VM's first boot");
    },
  });
}
