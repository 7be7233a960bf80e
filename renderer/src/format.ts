/** Text for sizes, times and ids, as a person reads them (and as Docker's CLI prints sizes). */

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n) || n < 0) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function toMs(t: number | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = typeof t === 'number' ? t * 1000 : Date.parse(t);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'} ago`;

/** "3 minutes ago", "2 days ago", "3 years ago" from unix seconds or an ISO date. */
export function formatAgo(t: number | string | undefined, now = Date.now()): string {
  const ms = toMs(t);
  if (ms === undefined) return '—';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return plural(m, 'minute');
  const h = Math.round(m / 60);
  if (h < 24) return plural(h, 'hour');
  const d = Math.round(h / 24);
  if (d < 30) return plural(d, 'day');
  const months = Math.round(d / 30.44);
  if (months < 12) return plural(months, 'month');
  return plural(Math.max(1, Math.round(d / 365.25)), 'year');
}

/** The full local date and time, for a hover over a relative age. */
export function formatDate(t: number | string | undefined): string {
  const ms = toMs(t);
  return ms === undefined ? '' : new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A clock time for chart axes and "last known at": 14:02:05. */
export function formatClock(ms: number, seconds = true): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}), hour12: false });
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

export function percent(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '—' : `${n.toFixed(1)}%`;
}

/**
 * An image reference as people say it: no "docker.io/library/", no registry for Docker Hub, and
 * no ":latest" ("nginx" for docker.io/library/nginx:latest); other registries keep their host.
 */
export function shortImage(ref: string): string {
  if (ref.startsWith('sha256:')) return shortId(ref);
  let s = ref.replace(/^docker\.io\//, '').replace(/^library\//, '');
  if (s.includes('@')) s = s.replace(/@sha256:([0-9a-f]{12})[0-9a-f]*$/, '@$1');
  return s.replace(/:latest$/, '');
}
