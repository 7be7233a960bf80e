/**
 * The tray icon: the engine's state at a glance and quick actions (tray-menu.ts says what it
 * shows). It follows the bridge host's events stream, the same one the renderer uses, so it
 * changes the moment the engine goes up or down.
 */
import { Menu, Tray, nativeImage } from 'electron';
import type { BridgeHost } from '../desktop/bridge/index.js';
import type { EngineStatus } from '../types/desktop-api.js';
import { ICON_DATA_URL } from './icon.js';
import { trayMenuTemplate, trayTooltip } from './tray-menu.js';

export function createTray(opts: { host: BridgeHost; show(): void; quit(): void }): () => void {
  const tray = new Tray(nativeImage.createFromDataURL(ICON_DATA_URL));
  let status: EngineStatus | undefined;

  const refresh = async (): Promise<void> => {
    const list = await opts.host.call('engine.list', {}).catch(() => ({ engines: [], active: '' }));
    const template = trayMenuTemplate(status, list, {
      open: opts.show,
      useEngine: (id) => void opts.host.call('engine.use', { id }).catch(() => undefined),
      quit: opts.quit,
    });
    tray.setToolTip(trayTooltip(status));
    tray.setContextMenu(Menu.buildFromTemplate(template));
  };

  const events = opts.host.open('events', {}, {
    data(msg) {
      if (msg.type !== 'engine') return;
      status = msg.status;
      void refresh();
    },
    end() {
      // the host is closing
    },
  });
  tray.on('click', opts.show);
  void refresh();
  return () => {
    events.close();
    tray.destroy();
  };
}
