/**
 * Every screen of the app: its path, its title (for the sidebar, the window title and the
 * command palette) and its component. Screens are added here and nowhere else.
 */
import type { ReactNode } from 'react';
import { ContainerDetail } from './screens/ContainerDetail';
import { Containers } from './screens/Containers';
import { Dashboard } from './screens/Dashboard';

export interface RouteDef {
  /** Hash path pattern, e.g. "/containers/:id/:tab?". */
  path: string;
  title: string;
  /** Listed in the sidebar (in this order) when set. */
  nav?: boolean;
  /** Shortcut shown in the palette and bound globally, e.g. "g d". */
  keys?: string;
  render(params: Record<string, string>): ReactNode;
}

export const ROUTES: RouteDef[] = [
  { path: '/', title: 'Dashboard', nav: true, keys: 'g d', render: () => <Dashboard /> },
  { path: '/containers', title: 'Containers', nav: true, keys: 'g c', render: () => <Containers /> },
  { path: '/containers/:id/:tab?', title: 'Container', render: (p) => <ContainerDetail key={p['id']} id={p['id']!} tab={p['tab']} /> },
];
