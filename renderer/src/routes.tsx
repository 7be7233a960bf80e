/**
 * Every screen of the app: its path, its title (for the sidebar, the window title and the
 * command palette), its icon and its component. Screens are added here and nowhere else.
 */
import type { ReactNode } from 'react';
import { Box, HardDrive, Layers, LayoutDashboard, LifeBuoy, Network, Settings as SettingsIcon, type LucideIcon } from './icons';
import { ContainerDetail } from './screens/ContainerDetail';
import { Containers } from './screens/Containers';
import { Dashboard } from './screens/Dashboard';
import { ImageDetail } from './screens/ImageDetail';
import { Images } from './screens/Images';
import { Networks } from './screens/Networks';
import { Onboarding } from './screens/Onboarding';
import { ProjectDetail } from './screens/ProjectDetail';
import { Settings } from './screens/Settings';
import { Troubleshoot } from './screens/Troubleshoot';
import { Volumes } from './screens/Volumes';

export interface RouteDef {
  /** Hash path pattern, e.g. "/containers/:id/:tab?". */
  path: string;
  title: string;
  /** Listed in the sidebar (in this order) when set. */
  nav?: boolean;
  icon?: LucideIcon;
  /** Shortcut shown in the palette and bound globally, e.g. "g d". */
  keys?: string;
  render(params: Record<string, string>): ReactNode;
}

/** The current route's query (#/images/run?image=alpine → image=alpine). */
function query(): URLSearchParams {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}

export const ROUTES: RouteDef[] = [
  { path: '/', title: 'Dashboard', nav: true, icon: LayoutDashboard, keys: 'g d', render: () => <Dashboard /> },
  { path: '/containers', title: 'Containers', nav: true, icon: Box, keys: 'g c', render: () => <Containers /> },
  { path: '/containers/:id/:tab?', title: 'Container', render: (p) => <ContainerDetail key={p['id']} id={p['id']!} tab={p['tab']} /> },
  { path: '/projects/:name', title: 'Compose project', render: (p) => <ProjectDetail key={p['name']} name={p['name']!} /> },
  { path: '/images', title: 'Images', nav: true, icon: Layers, keys: 'g i', render: () => <Images query={query()} /> },
  { path: '/images/pull', title: 'Pull an image', render: () => <Images dialog="pull" query={query()} /> },
  { path: '/images/run', title: 'Run a container', render: () => <Images dialog="run" query={query()} /> },
  { path: '/images/build', title: 'Build an image', render: () => <Images dialog="build" query={query()} /> },
  { path: '/images/:id', title: 'Image', render: (p) => <ImageDetail key={p['id']} id={p['id']!} /> },
  { path: '/volumes', title: 'Volumes', nav: true, icon: HardDrive, keys: 'g v', render: () => <Volumes query={query()} /> },
  { path: '/networks', title: 'Networks', nav: true, icon: Network, keys: 'g n', render: () => <Networks /> },
  { path: '/settings', title: 'Settings', nav: true, icon: SettingsIcon, keys: 'g s', render: () => <Settings /> },
  { path: '/troubleshoot', title: 'Troubleshoot', nav: true, icon: LifeBuoy, keys: 'g t', render: () => <Troubleshoot /> },
  { path: '/welcome', title: 'Welcome', render: () => <Onboarding /> },
];
