/**
 * What the tray shows, as plain data: the engine's state in one line (tooltip and the menu's first
 * line), the fix when it is unreachable, and the quick actions (open the window, switch engines,
 * quit). No Electron here (only its types), so every state is tested without a tray.
 */
import type { MenuItemConstructorOptions } from 'electron';
import type { EngineEndpoint, EngineStatus } from '../types/desktop-api.js';

/** The one line that sums an engine status up. */
export function describeStatus(status: EngineStatus | undefined): string {
  if (!status) return 'Engine: checking…';
  if (status.state === 'running') return `${status.engine.name}: running (${status.version}, ${status.latencyMs} ms)`;
  if (status.state === 'starting') return `${status.engine.name}: starting…`;
  return `${status.engine.name}: unreachable (${status.reason})`;
}

export function trayTooltip(status: EngineStatus | undefined): string {
  return `Berth Desktop: ${describeStatus(status)}`;
}

export interface TrayActions {
  open(): void;
  useEngine(id: string): void;
  quit(): void;
}

export function trayMenuTemplate(
  status: EngineStatus | undefined,
  list: { engines: EngineEndpoint[]; active: string },
  actions: TrayActions,
): MenuItemConstructorOptions[] {
  const switchTo: MenuItemConstructorOptions[] = list.engines.map((e) => ({
    label: e.name,
    type: 'radio',
    checked: e.id === list.active,
    click: () => actions.useEngine(e.id),
  }));
  return [
    { label: describeStatus(status), enabled: false },
    ...(status?.state === 'unreachable' ? [{ label: status.fix, enabled: false }] : []),
    { type: 'separator' },
    { label: 'Open Berth Desktop', click: () => actions.open() },
    { label: 'Engine', submenu: switchTo, enabled: switchTo.length > 0 },
    { type: 'separator' },
    { label: 'Quit', click: () => actions.quit() },
  ];
}
