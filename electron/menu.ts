/** The native application menu (menu-template.ts says what is in it). */
import { Menu, app, dialog } from 'electron';
import { aboutText, appMenuTemplate } from './menu-template.js';

export function buildAppMenu(opts: { dev: boolean; show(): void }): Menu {
  return Menu.buildFromTemplate(
    appMenuTemplate({
      platform: process.platform,
      dev: opts.dev,
      show: opts.show,
      about: () => void dialog.showMessageBox(aboutText(app.getVersion(), process.versions.electron)),
    }),
  );
}
