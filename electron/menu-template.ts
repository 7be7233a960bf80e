/**
 * The native application menu as a template (no Electron here, only its types): the usual Edit and
 * Window roles (so copy, paste and shortcuts work in the renderer), View with reload and zoom
 * (developer tools only in development), File with "Show Berth Desktop", and Help with the version.
 * macOS gets its application menu and closes windows from File; elsewhere File quits.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface AppMenuOptions {
  platform: NodeJS.Platform;
  dev: boolean;
  show(): void;
  about(): void;
}

export function appMenuTemplate(opts: AppMenuOptions): MenuItemConstructorOptions[] {
  const isMac = opts.platform === 'darwin';
  return [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [{ label: 'Show Berth Desktop', accelerator: 'CmdOrCtrl+Shift+B', click: () => opts.show() }, { type: 'separator' }, isMac ? { role: 'close' } : { role: 'quit' }],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        ...(opts.dev ? [{ role: 'toggleDevTools' as const }] : []),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'About Berth Desktop', click: () => opts.about() }] },
  ];
}

/** What Help → About says. */
export function aboutText(appVersion: string, electronVersion: string | undefined): { message: string; detail: string } {
  return { message: 'Berth Desktop', detail: `Version ${appVersion}${electronVersion ? `\nElectron ${electronVersion}` : ''}` };
}
