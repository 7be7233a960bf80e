/**
 * `berth desktop`: opens Berth Desktop. The native app (Electron) where it can run, else web mode:
 * the same renderer and bridge served on 127.0.0.1, with a URL holding a one-time token to open in
 * a browser. Which one, and why, is decided by `chooseLaunch` (desktop-launch.ts). Runs until
 * interrupted, or until the app quits.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseHost } from '../client/index.js';
import { createBridgeHost } from '../desktop/bridge/index.js';
import { startWebServer } from '../desktop/web/index.js';
import { UsageError } from './args.js';
import type { Command, Context } from './command.js';
import { chooseLaunch, electronBinary, hasDisplay, isSshSession, sshForwardHint, socketDeniedTo, userSessionEnv, webModeReason } from './desktop-launch.js';
import type { RunAs, WebReason } from './desktop-launch.js';

const DIST = fileURLToPath(new URL('..', import.meta.url));
const RENDERER_DIR = fileURLToPath(new URL('../renderer', import.meta.url));
const ELECTRON_MAIN = fileURLToPath(new URL('../electron/main.js', import.meta.url));

function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0;
}

/** Resolves on SIGINT or SIGTERM (and stops listening for them). */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** A user's home directory from the passwd database (getent also sees LDAP and the like). */
function homeOf(uid: number): string | undefined {
  const r = spawnSync('getent', ['passwd', String(uid)], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(':')[5] || undefined : undefined;
}

function groupsOf(user: string): number[] {
  const r = spawnSync('id', ['-G', user], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(/\s+/).map(Number).filter(Number.isInteger) : [];
}

/**
 * Started from root for a sudo user, the app runs as that user; if they could not open the local
 * engine's socket, they get an ACL entry on it (as if in its group) for as long as the socket lives.
 */
function grantSocket(ctx: Context, runAs: RunAs): void {
  let socketPath: string;
  try {
    const ep = parseHost(ctx.host);
    if (ep.protocol !== 'unix') return;
    socketPath = ep.socketPath;
  } catch {
    return;
  }
  let st;
  try {
    st = statSync(socketPath);
  } catch {
    return; // no engine yet: the app says how to start one
  }
  if (!socketDeniedTo({ uid: st.uid, gid: st.gid, mode: st.mode }, runAs, groupsOf(runAs.user))) return;
  const r = hasProgram('setfacl') ? spawnSync('setfacl', ['-m', `u:${runAs.uid}:rw`, socketPath], { encoding: 'utf8' }) : undefined;
  if (r?.status === 0) ctx.err(`Gave ${runAs.user} access to ${socketPath} (until the engine restarts).\n`);
  else ctx.err(`note: ${runAs.user} may not open ${socketPath}; add them to its group (sudo usermod -aG docker ${runAs.user}, then log in again)\n`);
}

/** Runs the app until it quits. True when it ran and quit normally, false when it failed. */
async function runElectron(ctx: Context, binary: string, runAs: RunAs | undefined): Promise<boolean> {
  let env: NodeJS.ProcessEnv = { ...ctx.io.env, BERTH_HOST: ctx.host };
  if (runAs) {
    const runtimeDir = `/run/user/${runAs.uid}`;
    env = userSessionEnv(env, runAs, homeOf(runAs.uid), existsSync(runtimeDir) ? runtimeDir : undefined);
    grantSocket(ctx, runAs);
  }
  const child = spawn(binary, [ELECTRON_MAIN], { stdio: 'inherit', env, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) });
  let stopping = false;
  // Stopping `berth desktop` (Ctrl-C, or build/start.sh ending) stops the app too.
  const forward = (signal: NodeJS.Signals): void => {
    stopping = true;
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<boolean>((resolve) => {
      child.once('error', (err) => {
        ctx.err(`could not start Berth Desktop's app (${binary}): ${err.message}\n`);
        resolve(false);
      });
      child.once('exit', (code, signal) => {
        if (code === 0 || stopping) return resolve(true);
        ctx.err(`Berth Desktop's app exited (${signal ?? `code ${code}`}; its messages are above).\n`);
        resolve(false);
      });
    });
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}

async function runWeb(ctx: Context, port: number, open: boolean, reason: WebReason): Promise<number> {
  const bridge = await createBridgeHost({ kind: 'web', env: ctx.io.env, localHost: ctx.host });
  const web = await startWebServer({ host: '127.0.0.1', port, rendererDir: RENDERER_DIR, bridge });
  ctx.out(`Berth Desktop (web mode) is at:\n\n  ${web.url}\n\nThe link holds a one-time token; keep it to yourself. Press Ctrl-C to stop.\n`);
  if (reason === 'ssh') ctx.out(`${sshForwardHint(ctx.io.env, Number(new URL(web.url).port))}\n`);
  if (!existsSync(`${RENDERER_DIR}/index.html`)) ctx.err(`note: the renderer is not built (${DIST}renderer/index.html is missing)\n`);
  // A browser only where one can show: not over SSH, not without a display.
  const canShow = !isSshSession(ctx.io.env) && hasDisplay(process.platform, ctx.io.env);
  if (open && canShow && process.platform === 'linux' && hasProgram('xdg-open')) {
    spawn('xdg-open', [web.url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  }
  await interrupted();
  await web.close();
  await bridge.close();
  return 0;
}

export const desktopCommand: Command = {
  name: 'desktop',
  usage: '[OPTIONS]',
  description: 'Open Berth Desktop (the native app, or web mode in a browser)',
  notes:
    'The native app opens when Electron is installed and there is a display; over SSH, without a display, or\n' +
    'without the app, Berth Desktop is served to a browser on 127.0.0.1 instead (web mode), and says why.',
  // The app picks its engine from its own list (the contexts); -H / BERTH_HOST set its local one.
  noEngine: true,
  flags: [
    { name: 'web', type: 'bool', description: 'Serve the app to a browser on 127.0.0.1 instead of opening the native app' },
    { name: 'port', type: 'string', valueName: 'int', description: 'Web mode port (default: a free one)' },
    { name: 'no-open', type: 'bool', description: 'Print the web mode URL without opening a browser' },
  ],
  maxArgs: 0,
  async run(ctx, args) {
    const portText = args.string('port') ?? '0';
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`invalid port "${portText}"`);
    const choice = chooseLaunch({
      platform: process.platform,
      env: ctx.io.env,
      uid: process.getuid?.(),
      electron: electronBinary(ctx.io.env),
      webRequested: args.bool('web'),
    });
    let reason: WebReason;
    if (choice.mode === 'native') {
      if (await runElectron(ctx, choice.binary, choice.runAs)) return 0;
      ctx.err('Opening Berth Desktop in web mode instead.\n');
      reason = 'asked';
    } else {
      reason = choice.reason;
      const why = webModeReason(reason);
      if (why) ctx.err(`${why}\n`);
    }
    return runWeb(ctx, port, !args.bool('no-open'), reason);
  },
};
