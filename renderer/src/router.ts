/**
 * Hash routes (#/containers/abc/logs): they work the same from Electron's file:// page and from
 * web mode's HTTP server, and survive reloads.
 */
import { useSyncExternalStore } from 'react';

function current(): string {
  return location.hash.replace(/^#/, '') || '/';
}

function subscribe(l: () => void): () => void {
  window.addEventListener('hashchange', l);
  return () => window.removeEventListener('hashchange', l);
}

/** The route shown before the current one (so a dialog with its own route can close back to it). */
let previous: string | undefined;
let shown = current();
window.addEventListener('hashchange', () => {
  previous = shown;
  shown = current();
});

/** Back to the screen that was showing before, or to `fallback` when there is none (a deep link). */
export function navigateBack(fallback: string): void {
  if (previous !== undefined && previous !== current() && !previous.startsWith(current().split('?')[0]!)) history.back();
  else navigate(fallback);
}

export function useRoute(): string {
  return useSyncExternalStore(subscribe, current);
}

export function navigate(path: string): void {
  if (current() !== path) location.hash = path;
}

/** Matches "/containers/:id/:tab" against a path; undefined when it does not match. */
export function matchRoute(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/').filter(Boolean);
  const a = path.split('?')[0]!.split('/').filter(Boolean);
  const out: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    const val = a[i];
    if (seg.startsWith(':')) {
      if (seg.endsWith('?')) {
        if (val !== undefined) out[seg.slice(1, -1)] = decodeURIComponent(val);
        continue;
      }
      if (val === undefined) return undefined;
      out[seg.slice(1)] = decodeURIComponent(val);
    } else if (seg !== val) return undefined;
  }
  return a.length <= p.length ? out : undefined;
}
