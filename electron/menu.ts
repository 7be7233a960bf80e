/**
 * The native application menu: the usual Edit and Window roles (so copy, paste and shortcuts
 * work in the renderer), View with reload and zoom (developer tools only in development), and
 * Help with the app's version.
 */
import { Menu, app, dialog } from 'electron';
import type { MenuItemConstructorOptions } from 'electron';

export function buildAppMenu(opts: { dev: boolean; show(): void }): Menu {
  const isMac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    { label: 'File', submenu: [{ label: 'Show Berth Desktop', accelerator: 'CmdOrCtrl+Shift+B', click: opts.show }, { type: 'separator' }, isMac ? { role: 'close' } : { role: 'quit' }] },
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
    {
      role: 'help',
      submenu: [
        {
          label: 'About Berth Desktop',
          click: () => void dialog.showMessageBox({ message: 'Berth Desktop', detail: `Version ${app.getVersion()}\nElectron ${process.versions.electron}` }),
        },
      ],
    },
  ];
  return Menu.buildFromTemplate(template);
}
