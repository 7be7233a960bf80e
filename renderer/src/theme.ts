/** Light, dark or the system's choice, applied as data-theme on <html> (styles.css reads it). */
import { useSyncExternalStore } from 'react';
import type { Theme } from '../../types/desktop-api';

const media = window.matchMedia('(prefers-color-scheme: dark)');
let chosen: Theme = 'system';
const listeners = new Set<() => void>();

function apply(): void {
  const dark = chosen === 'dark' || (chosen === 'system' && media.matches);
  document.documentElement.dataset['theme'] = dark ? 'dark' : 'light';
}

media.addEventListener('change', apply);

export function applyTheme(t: Theme): void {
  chosen = t;
  apply();
  for (const l of listeners) l();
}

/** The chosen theme (light, dark or system), for whoever shows it. */
export function useTheme(): Theme {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => chosen,
  );
}

export function currentTheme(): 'light' | 'dark' {
  return document.documentElement.dataset['theme'] === 'dark' ? 'dark' : 'light';
}
