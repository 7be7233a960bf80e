/**
 * The containers list: every container, compose projects as collapsible groups (with their own
 * start/stop/restart/delete), searchable and filterable by state and project, sortable by
 * column, with columns that can be resized (and are remembered) and that fold into the row when
 * the window is narrow. Live CPU and memory for the running rows in view; per-row and bulk
 * actions; a keyboard model (arrows move, Enter opens, Space selects, Delete removes).
 * Virtualized so 500+ containers stay smooth; refreshed by container events.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactElement, type ReactNode, type RefObject } from 'react';
import { useIntent } from '../commands';
import { LastKnown } from '../components/EngineBanner';
import { useTableLayout } from '../components/table-layout';
import { Button, Empty, ErrorBanner } from '../components/ui';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { Pause, Play, Plus, RotateCw, Search, Square, Trash2 } from '../icons';
import { HELPER_LABEL } from '../labels';
import { navigate } from '../router';
import { useCall, useEngineDown } from '../state';
import { ConfirmRemove, runOnAll, useLiveStats, type ActionTarget } from './containerActions';
import { filterRows, prepareRows, PROJECT_LABEL, rowDomId, rowKey, type ContainerRow, type Row, type StateFilter } from './containerRows';
import { ContainerRowView, GroupRowView, target, type Fold } from './ContainerRows';
import { ConfirmProjectRemove, runProjectAction, type ProjectAction } from './projectActions';

/** Table widths (px) below which columns fold into the name cell. */
const FOLD_1_BELOW = 1060;
const FOLD_2_BELOW = 780;

function useWidth(): [RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(1280);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    setW(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  return [ref, w];
}

export function Containers(): ReactNode {
  const list = useCall('containers.list', { all: true }, ['container']);
  const down = useEngineDown();
  const [q, setQ] = useState('');
  const [stateFilter, setStateFilter] = useState<StateFilter>('all');
  const [project, setProject] = useState('*');
  const [collapsed, setCollapsed] = useState(() => new Set<string>());
  const [selected, setSelected] = useState(() => new Set<string>());
  const [active, setActive] = useState<string>();
  const [removing, setRemoving] = useState<ActionTarget[]>();
  const [removingProject, setRemovingProject] = useState<{ project: string; containers: string[] }>();
  const [visible, setVisible] = useState('');
  const search = useRef<HTMLInputElement>(null);
  const layout = useTableLayout('containers', { column: 'name', dir: 'asc' });
  const [box, width] = useWidth();
  const fold: Fold = width < FOLD_2_BELOW ? 2 : width < FOLD_1_BELOW ? 1 : 0;

  const all = list.data ?? [];
  const projects = useMemo(() => [...new Set(all.map((c) => c.Labels?.[PROJECT_LABEL]).filter((p): p is string => !!p))].sort(), [all]);
  const prepared = useMemo(() => prepareRows(all, layout.sort), [all, layout.sort]);
  const { rows, shown } = useMemo(() => filterRows(prepared, { q, state: stateFilter, project }, collapsed), [prepared, q, stateFilter, project, collapsed]);
  const stats = useLiveStats(down ? [] : visible ? visible.split(',') : []);

  const shownIds = new Set(shown.map((r) => r.c.Id));
  const selectedRows = shown.filter((r) => selected.has(r.c.Id));
  const activeIndex = rows.findIndex((r) => rowKey(r) === active);

  useIntent('containers:search', () => search.current?.focus());
  useIntent('containers:running', () => setStateFilter('running'));
  useIntent('containers:all', () => setStateFilter('all'));

  const toggleSelect = useCallback(
    (id: string): void =>
      setSelected((s) => {
        const n = new Set(s);
        if (n.has(id)) n.delete(id);
        else n.add(id);
        return n;
      }),
    [],
  );
  const toggleGroup = (proj: string, open?: boolean): void =>
    setCollapsed((s) => {
      const n = new Set(s);
      if (open ?? n.has(proj)) n.delete(proj);
      else n.add(proj);
      return n;
    });
  const projectAction = (proj: string, action: ProjectAction, members: ContainerRow[]): void => {
    if (action === 'remove') setRemovingProject({ project: proj, containers: members.map((m) => m.name) });
    else void runProjectAction(proj, action);
  };

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
        if (row?.kind === 'container' && !down) setRemoving([target(row)]);
        else return;
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const allShownSelected = shown.length > 0 && shown.every((r) => selected.has(r.c.Id));
  const columns: Column[] = [
    {
      id: 'select',
      width: 40,
      label: 'Select',
      header: <input type="checkbox" aria-label="Select all shown containers" checked={allShownSelected} onChange={() => setSelected(allShownSelected ? new Set() : new Set(shownIds))} />,
    },
    { id: 'state', header: 'State', width: 104, sortable: true },
    { id: 'name', header: 'Name', sortable: true, resizable: true },
    { id: 'image', header: 'Image', sortable: true, resizable: true },
    ...(fold === 0
      ? [
          { id: 'ports', header: 'Ports', width: 132, sortable: true, resizable: true },
          { id: 'status', header: 'Status', width: 168, sortable: true, resizable: true },
        ]
      : []),
    ...(fold < 2
      ? [
          { id: 'cpu', header: 'CPU', width: 72 },
          { id: 'mem', header: 'Memory', width: 92 },
        ]
      : []),
    { id: 'actions', header: <span className="visually-hidden">Actions</span>, label: 'Actions', width: 148 },
  ];

  const renderRow = (r: Row): ReactElement => {
    const isActive = rowKey(r) === active;
    if (r.kind === 'group') {
      return (
        <GroupRowView
          g={r}
          open={!collapsed.has(r.project)}
          active={isActive}
          columns={columns.length}
          onActivate={() => setActive(rowKey(r))}
          onToggle={() => toggleGroup(r.project)}
          onAction={(a) => projectAction(r.project, a, r.members)}
        />
      );
    }
    return (
      <ContainerRowView
        r={r}
        active={isActive}
        selected={selected.has(r.c.Id)}
        fold={fold}
        stats={stats.get(r.c.Id)}
        stale={down !== undefined}
        onActivate={setActive}
        onToggleSelect={toggleSelect}
      />
    );
  };

  const bulk = (verb: 'start' | 'stop' | 'restart' | 'pause' | 'unpause'): void => {
    void runOnAll(verb, selectedRows.map(target));
    setSelected(new Set());
  };

  return (
    <section className="screen-fill" aria-labelledby="containers-title">
      <div className="screen-head row">
        <h1 id="containers-title" tabIndex={-1}>
          Containers
        </h1>
        <LastKnown />
        <span className="spacer" />
        <Button kind="primary" icon={Plus} onClick={() => navigate('/images/run')}>
          Run a container
        </Button>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <div className="row toolbar" role="search">
        <label className="search-field">
          <Search size={15} aria-hidden="true" />
          <input ref={search} type="search" aria-label="Search containers" placeholder="Search name, image, id…" value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
        <label className="inline-field">
          State
          <select aria-label="Filter by state" value={stateFilter} onChange={(e) => setStateFilter(e.target.value as StateFilter)}>
            <option value="all">All</option>
            <option value="running">Running</option>
            <option value="stopped">Stopped</option>
          </select>
        </label>
        {projects.length > 0 && (
          <label className="inline-field">
            Project
            <select aria-label="Filter by compose project" value={project} onChange={(e) => setProject(e.target.value)}>
              <option value="*">All</option>
              <option value="">None</option>
              {projects.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="muted count" role="status">
          {shown.length} of {all.filter((c) => !c.Labels?.[HELPER_LABEL]).length} shown
        </span>
      </div>
      {selectedRows.length > 0 && (
        <div className="row bulk-bar" role="toolbar" aria-label="Actions on selected containers">
          <strong>{selectedRows.length} selected</strong>
          <Button icon={Play} engine onClick={() => bulk('start')}>
            Start
          </Button>
          <Button icon={Square} engine onClick={() => bulk('stop')}>
            Stop
          </Button>
          <Button icon={RotateCw} engine onClick={() => bulk('restart')}>
            Restart
          </Button>
          <Button icon={Pause} engine onClick={() => bulk('pause')}>
            Pause
          </Button>
          <Button icon={Play} engine onClick={() => bulk('unpause')}>
            Resume
          </Button>
          <Button kind="danger" icon={Trash2} engine onClick={() => setRemoving(selectedRows.map(target))}>
            Delete
          </Button>
          <Button kind="ghost" onClick={() => setSelected(new Set())}>
            Clear selection
          </Button>
        </div>
      )}
      <div ref={box} className="table-box">
        <VirtualTable
          label="Containers"
          columns={columns}
          rows={rows}
          rowKey={rowKey}
          renderRow={renderRow}
          rowHeight={fold > 0 ? 56 : 44}
          layout={layout}
          className={down ? 'stale' : undefined}
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
      </div>
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
      {removingProject && (
        <ConfirmProjectRemove
          project={removingProject.project}
          containers={removingProject.containers}
          onCancel={() => setRemovingProject(undefined)}
          onDone={() => setRemovingProject(undefined)}
        />
      )}
    </section>
  );
}
