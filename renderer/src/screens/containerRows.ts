/**
 * The containers list as rows: standalone containers and one group per compose project
 * (collapsible; its members below it), filtered by the search, state and project, and sorted by
 * the chosen column — groups take their place among the containers by the same key, so a
 * project sits where its name (or state, or age) puts it, not at the end.
 */
import type { ContainerSummary } from '../../../types/engine-api';
import type { SortState } from '../components/table-layout';
import { shortImage } from '../format';
import { containerName, isUp } from './containerActions';

import { HELPER_LABEL, NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL } from '../labels';

export { PROJECT_LABEL, SERVICE_LABEL };

export type StateFilter = 'all' | 'running' | 'stopped';

export interface ContainerRow {
  kind: 'container';
  c: ContainerSummary;
  /** The container's name. */
  name: string;
  /** What the row shows: the compose service ("api", "api #2" for replicas), else the name. */
  display: string;
  project: string;
  /** Every field the search looks in, lower-cased once. */
  haystack: string;
}

export interface GroupRow {
  kind: 'group';
  project: string;
  members: ContainerRow[];
  running: number;
}

export type Row = GroupRow | ContainerRow;

export const rowKey = (r: Row): string => (r.kind === 'group' ? `g:${r.project}` : r.c.Id);
export const rowDomId = (r: Row): string => (r.kind === 'group' ? `cgroup-${encodeURIComponent(r.project)}` : `crow-${r.c.Id}`);

const STATE_ORDER: Record<string, number> = { running: 0, restarting: 1, paused: 2, created: 3, exited: 4, removing: 5, dead: 6 };

/** The app's sort order for names: a collator is much faster than localeCompare per call. */
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function toRow(c: ContainerSummary, replicas: Map<string, number>): ContainerRow {
  const name = containerName(c.Names, c.Id);
  const project = c.Labels?.[PROJECT_LABEL] ?? '';
  const service = c.Labels?.[SERVICE_LABEL];
  let display = name;
  if (project && service) {
    const n = c.Labels?.[NUMBER_LABEL];
    display = (replicas.get(`${project}/${service}`) ?? 0) > 1 && n ? `${service} #${n}` : service;
  }
  const haystack = [name, display, c.Image, c.Id.slice(0, 12), project].join('\n').toLowerCase();
  return { kind: 'container', c, name, display, project, haystack };
}

type SortKey = string | number;

function containerKey(r: ContainerRow, column: string): SortKey {
  switch (column) {
    case 'state':
      return STATE_ORDER[r.c.State] ?? 9;
    case 'image':
      return shortImage(r.c.Image);
    case 'ports':
      return r.c.Ports.find((p) => p.PublicPort)?.PublicPort ?? 1e6;
    case 'status':
      return -r.c.Created;
    default:
      return r.display;
  }
}

function compare(a: SortKey, b: SortKey): number {
  return typeof a === 'number' && typeof b === 'number' ? a - b : collator.compare(String(a), String(b));
}

export function matches(r: ContainerRow, needle: string): boolean {
  return r.haystack.includes(needle);
}

/** A project and its members in order (all of them; the filter picks later). */
interface Prepared {
  kind: 'group';
  project: string;
  members: ContainerRow[];
}

/**
 * Every container as a row, in display order for `sort`: done once per list and sort, so a
 * keystroke in the search only filters (rows keep their identity, and unchanged rows do not re-render).
 */
export function prepareRows(list: ContainerSummary[], sort: SortState): (Prepared | ContainerRow)[] {
  const replicas = new Map<string, number>();
  for (const c of list) {
    const key = `${c.Labels?.[PROJECT_LABEL] ?? ''}/${c.Labels?.[SERVICE_LABEL] ?? ''}`;
    replicas.set(key, (replicas.get(key) ?? 0) + 1);
  }
  const groups = new Map<string, Prepared>();
  const top: (Prepared | ContainerRow)[] = [];
  for (const c of list) {
    if (c.Labels?.[HELPER_LABEL]) continue;
    const r = toRow(c, replicas);
    if (!r.project) {
      top.push(r);
      continue;
    }
    let g = groups.get(r.project);
    if (!g) {
      g = { kind: 'group', project: r.project, members: [] };
      groups.set(r.project, g);
      top.push(g);
    }
    g.members.push(r);
  }
  const sign = sort.dir === 'asc' ? 1 : -1;
  const keyOf = (x: Prepared | ContainerRow): SortKey => {
    if (x.kind === 'container') return containerKey(x, sort.column);
    if (sort.column === 'name' || sort.column === 'image') return x.project;
    return x.members.map((m) => containerKey(m, sort.column)).reduce((a, b) => (compare(a, b) <= 0 ? a : b));
  };
  const nameOf = (x: Prepared | ContainerRow): string => (x.kind === 'group' ? x.project : x.name);
  const keys = new Map(top.map((x) => [x, keyOf(x)]));
  top.sort((a, b) => sign * compare(keys.get(a)!, keys.get(b)!) || collator.compare(nameOf(a), nameOf(b)));
  for (const g of groups.values()) {
    const mk = new Map(g.members.map((m) => [m, containerKey(m, sort.column)]));
    g.members.sort((a, b) => sign * compare(mk.get(a)!, mk.get(b)!) || collator.compare(a.name, b.name));
  }
  return top;
}

/** The rows shown for the filters, from prepared rows (cheap: a keystroke only filters). */
export function filterRows(
  prepared: (Prepared | ContainerRow)[],
  f: { q: string; state: StateFilter; project: string },
  collapsed: Set<string>,
): { rows: Row[]; shown: ContainerRow[] } {
  const needle = f.q.trim().toLowerCase();
  const keep = (r: ContainerRow): boolean =>
    (f.state === 'all' || (f.state === 'running') === isUp(r.c.State)) && (f.project === '*' || r.project === f.project) && (!needle || matches(r, needle));
  const rows: Row[] = [];
  const shown: ContainerRow[] = [];
  for (const item of prepared) {
    if (item.kind === 'container') {
      if (!keep(item)) continue;
      rows.push(item);
      shown.push(item);
      continue;
    }
    const members = item.members.filter(keep);
    if (members.length === 0) continue;
    rows.push({ kind: 'group', project: item.project, members, running: members.filter((m) => m.c.State === 'running').length });
    shown.push(...members);
    if (!collapsed.has(item.project)) rows.push(...members);
  }
  return { rows, shown };
}

export function buildRows(list: ContainerSummary[], f: { q: string; state: StateFilter; project: string }, sort: SortState, collapsed: Set<string>): { rows: Row[]; shown: ContainerRow[] } {
  return filterRows(prepareRows(list, sort), f, collapsed);
}
