/**
 * The tray icon: the engine's state at a glance (in the tooltip and the menu's first line) and
 * quick actions (open the window, switch engines, quit). It follows the bridge host's events
 * stream, the same one the renderer uses, so it changes the moment the engine goes up or down.
 */
import { Menu, Tray, nativeImage } from 'electron';
import type { MenuItemConstructorOptions } from 'electron';
import type { BridgeHost } from '../desktop/bridge/index.js';
import type { EngineStatus } from '../types/desktop-api.js';
import { ICON_DATA_URL } from './icon.js';

/** The one line that sums an engine status up. */
export function describeStatus(status: EngineStatus | undefined): string {
  if (!status) return 'Engine: checking…';
  if (status.state === 'running') return `${status.engine.name}: running (${status.version}, ${status.latencyMs} ms)`;
  if (status.state === 'starting') return `${status.engine.name}: starting…`;
  return `${status.engine.name}: unreachable (${status.reason})`;
}

export function createTray(opts: { host: BridgeHost; show(): void; quit(): void }): () => void {
  const tray = new Tray(nativeImage.createFromDataURL(ICON_DATA_URL));
  let status: EngineStatus | undefined;

  const refresh = async (): Promise<void> => {
    const { engines, active } = await opts.host.call('engine.list', {}).catch(() => ({ engines: [], active: '' }));
    const switchTo: MenuItemConstructorOptions[] = engines.map((e) => ({
      label: e.name,
      type: 'radio',
      checked: e.id === active,
      click: () => void opts.host.call('engine.use', { id: e.id }).catch(() => undefined),
    }));
    const items: MenuItemConstructorOptions[] = [
      { label: describeStatus(status), enabled: false },
      ...(status?.state === 'unreachable' ? [{ label: status.fix, enabled: false }] : []),
      { type: 'separator' },
      { label: 'Open Berth Desktop', click: opts.show },
      { label: 'Engine', submenu: switchTo },
      { type: 'separator' },
      { label: 'Quit', click: opts.quit },
    ];
    tray.setToolTip(`Berth Desktop: ${describeStatus(status)}`);
    tray.setContextMenu(Menu.buildFromTemplate(items));
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
