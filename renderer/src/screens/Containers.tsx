/**
 * The containers list: every container grouped by compose project (collapsible), searchable
 * and filterable by state and project, with live CPU and memory for the running rows in view,
 * per-row and bulk actions, and a keyboard model (arrows move, Enter opens, Space selects,
 * Delete removes). Virtualized so 500+ containers stay smooth; refreshed by container events.
 */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactElement, type ReactNode } from 'react';
import type { ContainerSummary } from '../../../types/engine-api';
import { registerCommands } from '../components/CommandPalette';
import { Button, Empty, ErrorBanner, StateBadge } from '../components/ui';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { formatBytes, percent } from '../format';
import { navigate } from '../router';
import { useCall } from '../state';
import { ConfirmRemove, ContainerActions, containerName, isUp, PortLinks, runOnAll, useLiveStats, type ActionTarget } from './containerActions';

const PROJECT_LABEL = 'com.docker.compose.project';
type StateFilter = 'all' | 'running' | 'stopped';

type Row = { kind: 'group'; project: string; count: number; running: number } | { kind: 'container'; c: ContainerSummary; name: string; project: string };

const rowKey = (r: Row): string => (r.kind === 'group' ? `g:${r.project}` : r.c.Id);
const rowDomId = (r: Row): string => (r.kind === 'group' ? `cgroup-${encodeURIComponent(r.project)}` : `crow-${r.c.Id}`);

function target(r: Extract<Row, { kind: 'container' }>): ActionTarget {
  return { id: r.c.Id, name: r.name, state: r.c.State };
}

/** Containers without a project first (no header), then one group per project, by name. */
function buildRows(list: ContainerSummary[], q: string, state: StateFilter, project: string, collapsed: Set<string>): Row[] {
  const needle = q.trim().toLowerCase();
  const byProject = new Map<string, Extract<Row, { kind: 'container' }>[]>();
  for (const c of list) {
    const name = containerName(c.Names, c.Id);
    const proj = c.Labels?.[PROJECT_LABEL] ?? '';
    if (state === 'running' && !isUp(c.State)) continue;
    if (state === 'stopped' && isUp(c.State)) continue;
    if (project !== '*' && proj !== project) continue;
    if (needle && ![name, c.Image, c.Id.slice(0, 12), proj].some((s) => s.toLowerCase().includes(needle))) continue;
    const rows = byProject.get(proj) ?? [];
    rows.push({ kind: 'container', c, name, project: proj });
    byProject.set(proj, rows);
  }
  const out: Row[] = [];
  for (const proj of [...byProject.keys()].sort()) {
    const rows = byProject.get(proj)!.sort((a, b) => a.name.localeCompare(b.name));
    if (proj) out.push({ kind: 'group', project: proj, count: rows.length, running: rows.filter((r) => r.c.State === 'running').length });
    if (!proj || !collapsed.has(proj)) out.push(...rows);
  }
  return out;
}

export function Containers(): ReactNode {
  const list = useCall('containers.list', { all: true }, ['container']);
  const [q, setQ] = useState('');
  const [stateFilter, setStateFilter] = useState<StateFilter>('all');
  const [project, setProject] = useState('*');
  const [collapsed, setCollapsed] = useState(() => new Set<string>());
  const [selected, setSelected] = useState(() => new Set<string>());
  const [active, setActive] = useState<string>();
  const [removing, setRemoving] = useState<ActionTarget[]>();
  const [visible, setVisible] = useState('');
  const search = useRef<HTMLInputElement>(null);

  const all = list.data ?? [];
  const projects = useMemo(() => [...new Set(all.map((c) => c.Labels?.[PROJECT_LABEL]).filter((p): p is string => !!p))].sort(), [all]);
  const rows = useMemo(() => buildRows(all, q, stateFilter, project, collapsed), [all, q, stateFilter, project, collapsed]);
  const containerRows = rows.filter((r): r is Extract<Row, { kind: 'container' }> => r.kind === 'container');
  const stats = useLiveStats(visible ? visible.split(',') : []);

  // Selection only keeps containers that still exist and are shown.
  const shownIds = new Set(containerRows.map((r) => r.c.Id));
  const selectedRows = containerRows.filter((r) => selected.has(r.c.Id));
  const activeIndex = rows.findIndex((r) => rowKey(r) === active);

  useEffect(
    () =>
      registerCommands('containers', [
        { id: 'containers-search', title: 'Containers: search', run: () => search.current?.focus() },
        { id: 'containers-running', title: 'Containers: show running only', run: () => setStateFilter('running') },
        { id: 'containers-all', title: 'Containers: show all', run: () => setStateFilter('all') },
      ]),
    [],
  );

  const toggleSelect = (id: string): void =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const toggleGroup = (proj: string, open?: boolean): void =>
    setCollapsed((s) => {
      const n = new Set(s);
      if (open ?? n.has(proj)) n.delete(proj);
      else n.add(proj);
      return n;
    });

  const onKeyDown = (e: KeyboardEvent<HTMLTableElement>): void => {
    if (e.target !== e.currentTarget || rows.length === 0) return;
    const i = activeIndex < 0 ? -1 : activeIndex;
    const row = rows[i];
    const move = (to: number): void => setActive(rowKey(rows[Math.max(0, Math.min(rows.length - 1, to))]!));
    switch (e.key) {
      case 'ArrowDown':
        move(i + 1);
        break;
      case 'ArrowUp':
        move(i < 0 ? 0 : i - 1);
        break;
      case 'Home':
        move(0);
        break;
      case 'End':
        move(rows.length - 1);
        break;
      case 'Enter':
        if (row?.kind === 'group') toggleGroup(row.project);
        else if (row) navigate(`/containers/${row.c.Id}/logs`);
        break;
      case ' ':
        if (row?.kind === 'group') toggleGroup(row.project);
        else if (row) toggleSelect(row.c.Id);
        break;
      case 'ArrowLeft':
      case 'ArrowRight':
        if (row?.kind === 'group') toggleGroup(row.project, e.key === 'ArrowRight');
        else return;
        break;
      case 'Delete':
        if (row?.kind === 'container') setRemoving([target(row)]);
        else return;
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const allShownSelected = containerRows.length > 0 && containerRows.every((r) => selected.has(r.c.Id));
  const columns: Column[] = [
    {
      id: 'select',
      width: 36,
      header: (
        <input
          type="checkbox"
          aria-label="Select all shown containers"
          checked={allShownSelected}
          onChange={() => setSelected(allShownSelected ? new Set() : new Set(shownIds))}
        />
      ),
    },
    { id: 'state', header: 'State', width: 100 },
    { id: 'name', header: 'Name' },
    { id: 'image', header: 'Image' },
    { id: 'ports', header: 'Ports' },
    { id: 'uptime', header: 'Status', width: 170 },
    { id: 'cpu', header: 'CPU', width: 70 },
    { id: 'mem', header: 'Memory', width: 90 },
    { id: 'actions', header: 'Actions', width: 230 },
  ];

  const renderRow = (r: Row): ReactElement => {
    const isActive = rowKey(r) === active;
    if (r.kind === 'group') {
      const open = !collapsed.has(r.project);
      return (
        <tr id={rowDomId(r)} className={`group-row${isActive ? ' active' : ''}`} aria-selected={isActive} onClick={() => setActive(rowKey(r))}>
          <td colSpan={columns.length}>
            <button type="button" className="group-toggle" aria-expanded={open} onClick={() => toggleGroup(r.project)}>
              <span aria-hidden="true">{open ? '▾' : '▸'}</span> {r.project}
            </button>{' '}
            <span className="muted">
              {r.count} container{r.count === 1 ? '' : 's'}, {r.running} running
            </span>
          </td>
        </tr>
      );
    }
    const s = stats.get(r.c.Id);
    const running = r.c.State === 'running';
    return (
      <tr id={rowDomId(r)} className={`${isActive ? 'active' : ''}${r.project ? ' in-group' : ''}`} aria-selected={isActive} onClick={() => setActive(rowKey(r))}>
        <td>
          <input type="checkbox" aria-label={`Select ${r.name}`} checked={selected.has(r.c.Id)} onChange={() => toggleSelect(r.c.Id)} />
        </td>
        <td>
          <StateBadge state={r.c.State} />
        </td>
        <td>
          <a href={`#/containers/${r.c.Id}/logs`}>{r.name}</a>
        </td>
        <td title={r.c.Image}>{r.c.Image}</td>
        <td>
          <PortLinks ports={r.c.Ports} />
        </td>
        <td className="muted">{r.c.Status}</td>
        <td>{running ? percent(s?.cpuPercent) : '—'}</td>
        <td>{running ? formatBytes(s?.memoryBytes) : '—'}</td>
        <td>
          <ContainerActions target={target(r)} compact />
        </td>
      </tr>
    );
  };

  const bulk = (verb: 'start' | 'stop' | 'restart' | 'pause' | 'unpause'): void => {
    void runOnAll(verb, selectedRows.map(target));
    setSelected(new Set());
  };

  return (
    <section className="screen-fill" aria-labelledby="containers-title">
      <div className="row">
        <h1 id="containers-title">Containers</h1>
        <span className="spacer" />
        <Button kind="primary" onClick={() => navigate('/images/run')}>
          Run a container
        </Button>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <div className="row toolbar" role="search">
        <input ref={search} type="search" aria-label="Search containers" placeholder="Search by name, image, id or project" value={q} onChange={(e) => setQ(e.target.value)} />
        <label>
          State{' '}
          <select aria-label="Filter by state" value={stateFilter} onChange={(e) => setStateFilter(e.target.value as StateFilter)}>
            <option value="all">All</option>
            <option value="running">Running</option>
            <option value="stopped">Stopped</option>
          </select>
        </label>
        <label>
          Project{' '}
          <select aria-label="Filter by compose project" value={project} onChange={(e) => setProject(e.target.value)}>
            <option value="*">All projects</option>
            <option value="">No project</option>
            {projects.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <span className="muted" role="status">
          {containerRows.length} of {all.length} shown
        </span>
      </div>
      {selectedRows.length > 0 && (
        <div className="row bulk-bar" role="toolbar" aria-label="Actions on selected containers">
          <strong>{selectedRows.length} selected</strong>
          <Button onClick={() => bulk('start')}>Start</Button>
          <Button onClick={() => bulk('stop')}>Stop</Button>
          <Button onClick={() => bulk('restart')}>Restart</Button>
          <Button onClick={() => bulk('pause')}>Pause</Button>
          <Button onClick={() => bulk('unpause')}>Resume</Button>
          <Button kind="danger" onClick={() => setRemoving(selectedRows.map(target))}>
            Delete
          </Button>
          <Button onClick={() => setSelected(new Set())}>Clear selection</Button>
        </div>
      )}
      <VirtualTable
        label="Containers"
        columns={columns}
        rows={rows}
        rowKey={rowKey}
        renderRow={renderRow}
        activeIndex={activeIndex}
        activeId={activeIndex >= 0 ? rowDomId(rows[activeIndex]!) : undefined}
        onKeyDown={onKeyDown}
        onVisibleRows={(vis) => setVisible(vis.flatMap((r) => (r.kind === 'container' && r.c.State === 'running' ? [r.c.Id] : [])).join(','))}
        empty={
          list.data && (
            <Empty title={all.length === 0 ? 'No containers yet' : 'No container matches'}>
              {all.length === 0 ? <a href="#/images/run">Run your first container</a> : <Button onClick={() => setQ('')}>Clear the search</Button>}
            </Empty>
          )
        }
      />
      {removing && (
        <ConfirmRemove
          targets={removing}
          onCancel={() => setRemoving(undefined)}
          onDone={() => {
            setRemoving(undefined);
            setSelected(new Set());
          }}
        />
      )}
    </section>
  );
}
