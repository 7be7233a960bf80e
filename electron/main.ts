/**
 * Berth Desktop's main process: a thin shell around the bridge host. One instance at a time (a
 * second launch focuses the first), one window whose size and place are remembered, the renderer
 * served from our own `berth://app` scheme with a strict CSP, a locked-down window (context
 * isolation, sandbox, no Node in pages, no navigation away in any frame, no new windows, no
 * permissions but the clipboard), IPC checked per sender, a tray with the engine's state, the
 * native menu, notifications for finished jobs, and at launch an engine that runs
 * (engine-launch.ts: the VM, or the host engine on Linux).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, app, nativeImage, protocol, screen, session, shell } from 'electron';
import { createBridgeHost } from '../desktop/bridge/index.js';
import type { BridgeHost } from '../desktop/bridge/index.js';
import { resolveStatic } from '../desktop/web/index.js';
import { ensureEngine } from './engine-launch.js';
import { ICON_DATA_URL } from './icon.js';
import { registerIpc } from './ipc.js';
import { buildAppMenu } from './menu.js';
import { notifyJobs } from './notifications.js';
import { APP_CSP, APP_ORIGIN, APP_SCHEME, APP_URL, isNavigationAllowed, isPermissionGranted } from './security.js';
import { createTray } from './tray.js';
import { loadWindowState, saveWindowState } from './window-state.js';
import type { WindowState } from './window-state.js';

const RENDERER_DIR = fileURLToPath(new URL('../renderer', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./preload.cjs', import.meta.url));
const DEV = !app.isPackaged;

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let win: BrowserWindow | undefined;
  let host: BridgeHost | undefined;
  let quitting = false;
  const cleanups: (() => void)[] = [];
  const stateFile = (): string => path.join(app.getPath('userData'), 'window-state.json');

  const show = (): void => {
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  };

  const createWindow = async (): Promise<void> => {
    const displays = screen.getAllDisplays().map((d) => d.workArea);
    const state = await loadWindowState(stateFile(), displays);
    win = new BrowserWindow({
      ...state,
      minWidth: 640,
      minHeight: 400,
      show: false,
      title: 'Berth Desktop',
      icon: nativeImage.createFromDataURL(ICON_DATA_URL),
      webPreferences: {
        preload: PRELOAD,
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        webSecurity: true,
        spellcheck: false,
      },
    });
    if (state.maximized) win.maximize();
    win.once('ready-to-show', () => win?.show());

    const remember = (): void => {
      if (!win || win.isDestroyed()) return;
      const b = win.getNormalBounds();
      const next: WindowState = { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() };
      void saveWindowState(stateFile(), next).catch(() => undefined);
    };
    win.on('close', (e) => {
      remember();
      // Closing the window keeps the app in the tray; Quit (menu or tray) ends it.
      if (!quitting && process.platform !== 'linux') {
        e.preventDefault();
        win?.hide();
      }
    });
    win.on('closed', () => {
      win = undefined;
    });

    const contents = win.webContents;
    contents.setWindowOpenHandler(({ url }) => {
      if (/^https?:\/\//.test(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
    // Our pages never navigate away, and no frame of theirs navigates at all.
    contents.on('will-navigate', (e, url) => {
      if (!isNavigationAllowed(url, true, RENDERER_DIR)) e.preventDefault();
    });
    contents.on('will-frame-navigate', (e) => {
      if (!isNavigationAllowed(e.url, e.isMainFrame, RENDERER_DIR)) e.preventDefault();
    });
    contents.on('will-redirect', (e) => {
      if (!isNavigationAllowed(e.url, e.isMainFrame, RENDERER_DIR)) e.preventDefault();
    });
    contents.on('will-attach-webview', (e) => e.preventDefault());
    await win.loadURL(APP_URL);
  };

  app.on('second-instance', show);
  app.on('activate', () => {
    if (win) show();
    else void createWindow();
  });
  app.on('before-quit', () => {
    quitting = true;
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('will-quit', () => {
    for (const c of cleanups.splice(0)) c();
    void host?.close();
  });

  void app.whenReady().then(async () => {
    // Only the permissions our pages use (the clipboard), only for our pages; no devices at all.
    session.defaultSession.setPermissionRequestHandler((_contents, permission, callback, details) => {
      callback(isPermissionGranted({ permission, requestingUrl: details.requestingUrl, isMainFrame: details.isMainFrame }, RENDERER_DIR));
    });
    session.defaultSession.setPermissionCheckHandler((_contents, permission, requestingOrigin, details) =>
      isPermissionGranted({ permission, requestingUrl: details.requestingUrl ?? requestingOrigin, isMainFrame: details.isMainFrame }, RENDERER_DIR),
    );
    session.defaultSession.setDevicePermissionHandler(() => false);
    protocol.handle(APP_SCHEME, async (request) => {
      const url = new URL(request.url);
      if (url.origin !== APP_ORIGIN) return new Response('not found', { status: 404 });
      const file = await resolveStatic(RENDERER_DIR, url.pathname);
      return new Response(new Uint8Array(file.body), {
        status: file.status,
        headers: { 'Content-Type': file.contentType, 'Content-Security-Policy': APP_CSP, 'X-Content-Type-Options': 'nosniff' },
      });
    });
    host = await createBridgeHost({ kind: 'electron', appVersion: app.getVersion() });
    const bridge = host;
    cleanups.push(registerIpc({ host: bridge, rendererDir: RENDERER_DIR, windowId: () => win?.webContents.id }));
    Menu.setApplicationMenu(buildAppMenu({ dev: DEV, show }));
    const quit = (): void => {
      quitting = true;
      app.quit();
    };
    cleanups.push(createTray({ host: bridge, show, quit }));
    cleanups.push(notifyJobs({ host: bridge, windowFocused: () => win?.isFocused() ?? false }));
    await createWindow();
    // The first launch (and every one after) ends at a running engine: where it is the VM (macOS,
    // Windows) opening the app boots it, with progress on the Dashboard, and the VM outlives the
    // app so the docker CLI keeps working; on Linux the host engine is started on request.
    await ensureEngine({ host: bridge, window: () => win }).catch(() => undefined);
  });
}
