/**
 * How `berth desktop` opens Berth Desktop: the native app (Electron) or web mode, and why. The
 * choice is a pure function of a few facts (the platform, the environment, the user, whether
 * Electron's binary is here), so each way it can go is tested without a display or an app.
 *
 * - `--web` always means web mode.
 * - Over SSH a window would open on the far machine's display, if anywhere: web mode, with the
 *   port forward that reaches it.
 * - On Linux without DISPLAY or WAYLAND_DISPLAY there is nothing to draw a window on: web mode.
 * - Without Electron's binary (installed with ELECTRON_SKIP_BINARY_DOWNLOAD, or offline): web
 *   mode, with the command that fetches the app.
 * - Chromium's sandbox refuses to run as root on Linux. Under sudo (as `sudo bash build/start.sh`
 *   runs) the app runs as the user who typed sudo; as plain root, web mode.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface LaunchFacts {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** The effective uid (undefined where there are none, on Windows). */
  uid: number | undefined;
  /** Electron's executable, when its binary is installed. */
  electron: string | undefined;
  webRequested: boolean;
}

/** The account the app runs as when `berth desktop` itself runs as root under sudo. */
export interface RunAs {
  uid: number;
  gid: number;
  user: string;
}

export type WebReason = 'asked' | 'ssh' | 'no-display' | 'no-binary' | 'root';

export type LaunchChoice = { mode: 'native'; binary: string; runAs?: RunAs } | { mode: 'web'; reason: WebReason };

/** The command that fetches Electron's binary later, from a source checkout. */
export const DESKTOP_INSTALL_COMMAND = 'npm run desktop:install';

export function isSshSession(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env['SSH_CONNECTION'] || env['SSH_TTY'] || env['SSH_CLIENT']);
}

/** macOS and Windows always have a display (outside SSH); X11 and Wayland say where theirs is. */
export function hasDisplay(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): boolean {
  if (platform === 'darwin' || platform === 'win32') return true;
  return Boolean(env['DISPLAY'] || env['WAYLAND_DISPLAY']);
}

function sudoUser(env: NodeJS.ProcessEnv): RunAs | undefined {
  const uid = Number(env['SUDO_UID']);
  const gid = Number(env['SUDO_GID']);
  if (!env['SUDO_UID'] || !env['SUDO_GID'] || !Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) return undefined;
  return { uid, gid, user: env['SUDO_USER'] || String(uid) };
}

export function chooseLaunch(facts: LaunchFacts): LaunchChoice {
  if (facts.webRequested) return { mode: 'web', reason: 'asked' };
  if (isSshSession(facts.env)) return { mode: 'web', reason: 'ssh' };
  if (!hasDisplay(facts.platform, facts.env)) return { mode: 'web', reason: 'no-display' };
  if (!facts.electron) return { mode: 'web', reason: 'no-binary' };
  if (facts.platform === 'linux' && facts.uid === 0) {
    const runAs = sudoUser(facts.env);
    return runAs ? { mode: 'native', binary: facts.electron, runAs } : { mode: 'web', reason: 'root' };
  }
  return { mode: 'native', binary: facts.electron };
}

/** The one line that says why it is web mode (nothing when the user asked for it). */
export function webModeReason(reason: WebReason): string | undefined {
  switch (reason) {
    case 'asked':
      return undefined;
    case 'ssh':
      return 'This is an SSH session, so Berth Desktop opens in web mode here: reach it through a port forward (below).';
    case 'no-display':
      return 'No display here (DISPLAY and WAYLAND_DISPLAY are not set), so Berth Desktop opens in web mode.';
    case 'no-binary':
      return `Berth Desktop's app is not installed here (Electron's binary was not downloaded), so it opens in web mode. To get the app: ${DESKTOP_INSTALL_COMMAND}`;
    case 'root':
      return "Electron's sandbox does not run as root, so Berth Desktop opens in web mode. Run `berth desktop` as your own user (or through sudo) to get the app.";
  }
}

/** For web mode over SSH: the forward that makes the far end's 127.0.0.1 port reachable here. */
export function sshForwardHint(env: NodeJS.ProcessEnv, port: number): string {
  // SSH_CONNECTION is "client-ip client-port server-ip server-port".
  const server = (env['SSH_CONNECTION'] ?? '').split(' ')[2];
  const user = env['USER'] || env['LOGNAME'];
  const target = server ? `${user ? `${user}@` : ''}${server.includes(':') ? `[${server}]` : server}` : 'THIS-HOST';
  return `From your own machine: ssh -N -L ${port}:127.0.0.1:${port} ${target}   then open the link there.`;
}

/** What the app's process needs to find the user's session when it is started from root. */
export function userSessionEnv(base: NodeJS.ProcessEnv, runAs: RunAs, home: string | undefined, runtimeDir: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, USER: runAs.user, LOGNAME: runAs.user };
  // root's own config and runtime places must not leak into the user's app.
  for (const k of ['XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'DBUS_SESSION_BUS_ADDRESS', 'MAIL']) delete env[k];
  if (home) env['HOME'] = home;
  if (runtimeDir) {
    // The user's session bus carries the tray (StatusNotifier) and notifications.
    env['XDG_RUNTIME_DIR'] = runtimeDir;
    env['DBUS_SESSION_BUS_ADDRESS'] = `unix:path=${runtimeDir}/bus`;
  }
  return env;
}

/** Whether `runAs` lacks read-write access to a unix socket with this owner, group and mode. */
export function socketDeniedTo(socket: { uid: number; gid: number; mode: number }, runAs: RunAs, groups: readonly number[]): boolean {
  if (socket.uid === runAs.uid) return (socket.mode & 0o600) !== 0o600;
  if (socket.gid === runAs.gid || groups.includes(socket.gid)) return (socket.mode & 0o060) !== 0o060;
  return (socket.mode & 0o006) !== 0o006;
}

/**
 * Electron's executable when the `electron` package has its binary here. The same lookup as the
 * package's own index.js (dist/ + path.txt, or ELECTRON_OVERRIDE_DIST_PATH), read from `env` so a
 * caller can point it elsewhere.
 */
export function electronBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  let pkgDir: string;
  try {
    pkgDir = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return undefined;
  }
  const pathFile = path.join(pkgDir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : undefined;
  const override = env['ELECTRON_OVERRIDE_DIST_PATH'];
  const binary = override ? path.join(override, relative || 'electron') : relative ? path.join(pkgDir, 'dist', relative) : undefined;
  return binary && existsSync(binary) ? binary : undefined;
}
