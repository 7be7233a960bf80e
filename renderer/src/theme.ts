/** Light, dark or the system's choice, applied as data-theme on <html> (styles.css reads it). */
import type { Theme } from '../../types/desktop-api';

const media = window.matchMedia('(prefers-color-scheme: dark)');
let chosen: Theme = 'system';

function apply(): void {
  const dark = chosen === 'dark' || (chosen === 'system' && media.matches);
  document.documentElement.dataset['theme'] = dark ? 'dark' : 'light';
}

media.addEventListener('change', apply);

export function applyTheme(t: Theme): void {
  chosen = t;
  apply();
}

export function currentTheme(): 'light' | 'dark' {
  return document.documentElement.dataset['theme'] === 'dark' ? 'dark' : 'light';
}
