/**
 * The app's commands, available from every screen (the command palette lists them all):
 * going to a screen, opening a dialog, acting on the engine, switching the theme. Commands that
 * act inside a screen navigate to it and post an intent the screen takes when it mounts
 * (`useIntent`), so "Prune unused images" works from the Containers screen too.
 */
import { useEffect, useRef } from 'react';
import type { Theme } from '../../types/desktop-api';
import { bridge, errorText } from './bridge';
import { toast } from './components/ui';
import { navigate } from './router';
import { engineStatus } from './state';
import { applyTheme } from './theme';

export interface Command {
  id: string;
  title: string;
  /** Words that should also find it ("remove" for delete...). */
  keywords?: string;
  /** Shortcut shown next to it. */
  keys?: string;
  run(): void;
}

// ---- intents: "do X once you are showing"

const pending = new Set<string>();
const intentListeners = new Set<() => void>();

/** Goes to `path` and asks the screen there to do `intent` (e.g. "images:prune"). */
export function navigateWithIntent(path: string, intent: string): void {
  pending.add(intent);
  navigate(path);
  for (const l of intentListeners) l();
}

/** Runs `fn` when `intent` was asked for (now or later, while mounted). */
export function useIntent(intent: string, fn: () => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const check = (): void => {
      if (!pending.delete(intent)) return;
      // After the navigation's render, so the screen's own state is in place.
      setTimeout(() => ref.current(), 0);
    };
    intentListeners.add(check);
    check();
    return () => {
      intentListeners.delete(check);
    };
  }, [intent]);
}

// ---- engine actions shared by the banner, Troubleshoot and the palette

/** What the person has to do when the app could not do it (the command ready to copy). */
export interface EngineHelp {
  instructions: string;
  command?: string;
}

async function control(method: 'engine.start' | 'engine.restart', what: string): Promise<EngineHelp | undefined> {
  try {
    const r = await bridge().invoke(method, {});
    if (!r.done) return { instructions: r.instructions, ...(r.command ? { command: r.command } : {}) };
    toast(r.how);
    engineStatus.set(await bridge().invoke('engine.status', {}));
    return undefined;
  } catch (err) {
    return { instructions: `${what} failed: ${errorText(err)}` };
  }
}

export const startEngine = (): Promise<EngineHelp | undefined> => control('engine.start', 'Starting the engine');
export const restartEngine = (): Promise<EngineHelp | undefined> => control('engine.restart', 'Restarting the engine');

function setTheme(t: Theme): void {
  applyTheme(t);
  void bridge().invoke('settings.set', { theme: t }).catch(() => undefined);
}

const go = (path: string): (() => void) => () => navigate(path);

export const COMMANDS: Command[] = [
  { id: 'go-dashboard', title: 'Go to Dashboard', keys: 'g d', run: go('/') },
  { id: 'go-containers', title: 'Go to Containers', keys: 'g c', run: go('/containers') },
  { id: 'go-images', title: 'Go to Images', keys: 'g i', run: go('/images') },
  { id: 'go-volumes', title: 'Go to Volumes', keys: 'g v', run: go('/volumes') },
  { id: 'go-networks', title: 'Go to Networks', keys: 'g n', run: go('/networks') },
  { id: 'go-settings', title: 'Go to Settings', keys: 'g s', run: go('/settings') },
  { id: 'go-troubleshoot', title: 'Go to Troubleshoot', keys: 'g t', run: go('/troubleshoot') },
  { id: 'pull', title: 'Pull an image', keywords: 'download fetch registry', run: go('/images/pull') },
  { id: 'run', title: 'Run a container', keywords: 'start new create', run: go('/images/run') },
  { id: 'build', title: 'Build an image from a folder', keywords: 'dockerfile', run: go('/images/build') },
  { id: 'images-prune', title: 'Prune unused images', keywords: 'clean delete remove dangling', run: () => navigateWithIntent('/images', 'images:prune') },
  { id: 'images-search', title: 'Search images', run: () => navigateWithIntent('/images', 'images:search') },
  { id: 'images-dangling', title: 'Show dangling images', keywords: 'untagged none', run: () => navigateWithIntent('/images', 'images:dangling') },
  {
    id: 'jobs-clear',
    title: 'Clear finished pulls, pushes and builds',
    keywords: 'jobs',
    run: () =>
      void bridge()
        .invoke('jobs.clearFinished', {})
        .then((r) => toast(`Cleared ${r.removed} finished job${r.removed === 1 ? '' : 's'}`)),
  },
  { id: 'containers-search', title: 'Search containers', run: () => navigateWithIntent('/containers', 'containers:search') },
  { id: 'containers-running', title: 'Show running containers only', run: () => navigateWithIntent('/containers', 'containers:running') },
  { id: 'containers-all', title: 'Show all containers', run: () => navigateWithIntent('/containers', 'containers:all') },
  { id: 'volumes-create', title: 'Create a volume', keywords: 'new', run: () => navigateWithIntent('/volumes', 'volumes:create') },
  { id: 'volumes-prune', title: 'Prune unused volumes', keywords: 'clean delete remove', run: () => navigateWithIntent('/volumes', 'volumes:prune') },
  { id: 'networks-create', title: 'Create a network', keywords: 'new', run: () => navigateWithIntent('/networks', 'networks:create') },
  { id: 'engine-start', title: 'Start the engine', keywords: 'berthd daemon', run: () => void startEngine().then((h) => h && toast(h.instructions, 'bad')) },
  { id: 'engine-restart', title: 'Restart the engine', keywords: 'berthd daemon reload', run: () => void restartEngine().then((h) => h && toast(h.instructions, 'bad')) },
  { id: 'diagnostics', title: 'Export diagnostics', keywords: 'bug report troubleshoot', run: () => navigateWithIntent('/troubleshoot', 'troubleshoot:export') },
  { id: 'reset', title: 'Reset to defaults…', keywords: 'factory wipe clean everything', run: () => navigateWithIntent('/troubleshoot', 'troubleshoot:reset') },
  { id: 'engines-add', title: 'Add an engine', keywords: 'remote ssh context', run: () => navigateWithIntent('/settings', 'settings:add-engine') },
  { id: 'tour', title: 'Start the tour', keywords: 'welcome onboarding help', run: go('/welcome') },
  { id: 'theme-light', title: 'Theme: light', run: () => setTheme('light') },
  { id: 'theme-dark', title: 'Theme: dark', run: () => setTheme('dark') },
  { id: 'theme-system', title: "Theme: follow the system's", run: () => setTheme('system') },
];
