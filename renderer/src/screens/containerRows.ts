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

function toRow(c: ContainerSummary, replicas: Map<string, number>): ContainerRow {
  const name = containerName(c.Names, c.Id);
  const project = c.Labels?.[PROJECT_LABEL] ?? '';
  const service = c.Labels?.[SERVICE_LABEL];
  let display = name;
  if (project && service) {
    const n = c.Labels?.[NUMBER_LABEL];
    display = (replicas.get(`${project}/${service}`) ?? 0) > 1 && n ? `${service} #${n}` : service;
  }
  return { kind: 'container', c, name, display, project };
}

type SortKey = string | number;

function containerKey(r: ContainerRow, column: string): SortKey {
  switch (column) {
    case 'state':
      return STATE_ORDER[r.c.State] ?? 9;
    case 'image':
      return shortImage(r.c.Image).toLowerCase();
    case 'ports':
      return r.c.Ports.find((p) => p.PublicPort)?.PublicPort ?? 1e6;
    case 'status':
      return -r.c.Created;
    default:
      return r.display.toLowerCase();
  }
}

function groupKey(g: GroupRow, column: string): SortKey {
  if (g.members.length === 0 || column === 'name' || column === 'image') return g.project.toLowerCase();
  const keys = g.members.map((m) => containerKey(m, column));
  return keys.reduce((a, b) => (a < b ? a : b));
}

function compare(a: SortKey, b: SortKey): number {
  return typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
}

export function matches(r: ContainerRow, needle: string): boolean {
  return [r.name, r.display, r.c.Image, r.c.Id.slice(0, 12), r.project].some((s) => s.toLowerCase().includes(needle));
}

export function buildRows(
  list: ContainerSummary[],
  f: { q: string; state: StateFilter; project: string },
  sort: SortState,
  collapsed: Set<string>,
): { rows: Row[]; shown: ContainerRow[] } {
  const needle = f.q.trim().toLowerCase();
  const replicas = new Map<string, number>();
  for (const c of list) {
    const key = `${c.Labels?.[PROJECT_LABEL] ?? ''}/${c.Labels?.[SERVICE_LABEL] ?? ''}`;
    replicas.set(key, (replicas.get(key) ?? 0) + 1);
  }
  const groups = new Map<string, GroupRow>();
  const top: (GroupRow | ContainerRow)[] = [];
  const shown: ContainerRow[] = [];
  for (const c of list) {
    if (c.Labels?.[HELPER_LABEL]) continue;
    const r = toRow(c, replicas);
    if (f.state === 'running' && !isUp(c.State)) continue;
    if (f.state === 'stopped' && isUp(c.State)) continue;
    if (f.project !== '*' && r.project !== f.project) continue;
    if (needle && !matches(r, needle)) continue;
    shown.push(r);
    if (!r.project) {
      top.push(r);
      continue;
    }
    let g = groups.get(r.project);
    if (!g) {
      g = { kind: 'group', project: r.project, members: [], running: 0 };
      groups.set(r.project, g);
      top.push(g);
    }
    g.members.push(r);
    if (c.State === 'running') g.running++;
  }
  const sign = sort.dir === 'asc' ? 1 : -1;
  const byKey = (a: ContainerRow, b: ContainerRow): number => sign * compare(containerKey(a, sort.column), containerKey(b, sort.column)) || a.name.localeCompare(b.name);
  top.sort((a, b) => {
    const ka = a.kind === 'group' ? groupKey(a, sort.column) : containerKey(a, sort.column);
    const kb = b.kind === 'group' ? groupKey(b, sort.column) : containerKey(b, sort.column);
    return sign * compare(ka, kb) || (a.kind === 'group' ? a.project : a.name).localeCompare(b.kind === 'group' ? b.project : b.name);
  });
  const rows: Row[] = [];
  for (const item of top) {
    rows.push(item);
    if (item.kind === 'group') {
      item.members.sort(byKey);
      if (!collapsed.has(item.project)) rows.push(...item.members);
    }
  }
  return { rows, shown };
}
