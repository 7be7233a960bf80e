/**
 * `berth desktop`: opens Berth Desktop. The Electron app when its binary is installed; otherwise
 * (or with --web) web mode: the same renderer and bridge served on 127.0.0.1, with a URL holding
 * a one-time token to open in a browser. Runs until interrupted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createBridgeHost } from '../desktop/bridge/index.js';
import { startWebServer } from '../desktop/web/index.js';
import { UsageError } from './args.js';
import type { Command, Context } from './command.js';

const DIST = fileURLToPath(new URL('..', import.meta.url));
const RENDERER_DIR = fileURLToPath(new URL('../renderer', import.meta.url));
const ELECTRON_MAIN = fileURLToPath(new URL('../electron/main.js', import.meta.url));

/** The Electron executable, when the `electron` package has its binary here. */
export function electronBinary(): string | undefined {
  try {
    const found = createRequire(import.meta.url)('electron') as unknown;
    return typeof found === 'string' && existsSync(found) ? found : undefined;
  } catch {
    return undefined;
  }
}

function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
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

async function runElectron(ctx: Context, binary: string): Promise<number> {
  const child = spawn(binary, [ELECTRON_MAIN], { stdio: 'inherit', env: { ...ctx.io.env, BERTH_HOST: ctx.host } });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 0));
  });
}

async function runWeb(ctx: Context, port: number, open: boolean): Promise<number> {
  const bridge = await createBridgeHost({ kind: 'web', env: ctx.io.env, localHost: ctx.host });
  const web = await startWebServer({ host: '127.0.0.1', port, rendererDir: RENDERER_DIR, bridge });
  ctx.out(`Berth Desktop (web mode) is at:\n\n  ${web.url}\n\nThe link holds a one-time token; keep it to yourself. Press Ctrl-C to stop.\n`);
  if (!existsSync(`${RENDERER_DIR}/index.html`)) ctx.err(`note: the renderer is not built (${DIST}renderer/index.html is missing)\n`);
  if (open && hasProgram('xdg-open')) spawn('xdg-open', [web.url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  await interrupted();
  await web.close();
  await bridge.close();
  return 0;
}

export const desktopCommand: Command = {
  name: 'desktop',
  usage: '[OPTIONS]',
  description: 'Open Berth Desktop (the Electron app, or web mode in a browser)',
  // The app picks its engine from its own list (the contexts); -H / BERTH_HOST set its local one.
  noEngine: true,
  flags: [
    { name: 'web', type: 'bool', description: 'Serve the app to a browser on 127.0.0.1 instead of opening the Electron app' },
    { name: 'port', type: 'string', valueName: 'int', description: 'Web mode port (default: a free one)' },
    { name: 'no-open', type: 'bool', description: 'Print the web mode URL without opening a browser' },
  ],
  maxArgs: 0,
  async run(ctx, args) {
    const portText = args.string('port') ?? '0';
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`invalid port "${portText}"`);
    if (!args.bool('web')) {
      const binary = electronBinary();
      if (binary) return runElectron(ctx, binary);
      ctx.err("Electron's binary is not installed here (the electron package has no dist/), so Berth Desktop opens in web mode.\n");
    }
    return runWeb(ctx, port, !args.bool('no-open'));
  },
};
