/**
 * One row of the containers list (a container, or a compose project's group header), as the
 * table's layout asks: at narrow widths the columns that do not fit fold into a second line
 * under the name, so names stay readable from 1024 px up.
 */
import { memo, type CSSProperties, type ReactElement } from 'react';
import type { StatsSample } from '../../../types/desktop-api';
import { Glyph } from '../components/Glyph';
import { Button, StateBadge } from '../components/ui';
import { formatBytes, percent, shortImage } from '../format';
import { ChevronDown, ChevronRight, Play, RotateCw, ScrollText, Square, Trash2 } from '../icons';
import { ContainerActions, PortLinks, type ActionTarget } from './containerActions';
import { rowDomId, type ContainerRow, type GroupRow } from './containerRows';

/** How much folds into the name cell: 0 none, 1 ports and status, 2 also CPU and memory. */
export type Fold = 0 | 1 | 2;

export const target = (r: ContainerRow): ActionTarget => ({ id: r.c.Id, name: r.name, state: r.c.State });

/** Memoized: a keystroke in the search re-renders only the rows that changed. */
export const ContainerRowView = memo(function ContainerRowView(props: {
  r: ContainerRow;
  active: boolean;
  selected: boolean;
  fold: Fold;
  stats: StatsSample | undefined;
  stale: boolean;
  /** Called with the row's id (stable callbacks keep the memo effective). */
  onActivate(id: string): void;
  onToggleSelect(id: string): void;
  /** From the virtual table: the row's position and height. */
  'aria-rowindex'?: number;
  style?: CSSProperties;
}): ReactElement {
  const { r, fold, stats } = props;
  const running = r.c.State === 'running' && !props.stale;
  const cpu = running ? percent(stats?.cpuPercent) : '—';
  const mem = running ? formatBytes(stats?.memoryBytes) : '—';
  const image = shortImage(r.c.Image);
  return (
    <tr
      id={rowDomId(r)}
      className={`${props.active ? 'active' : ''}${r.project ? ' in-group' : ''}`}
      aria-selected={props.active}
      aria-rowindex={props['aria-rowindex']}
      style={props.style}
      onClick={() => props.onActivate(r.c.Id)}
    >
      <td>
        <input type="checkbox" aria-label={`Select ${r.name}`} checked={props.selected} onChange={() => props.onToggleSelect(r.c.Id)} />
      </td>
      <td>
        <StateBadge state={r.c.State} />
      </td>
      <td className="cell-name">
        <a href={`#/containers/${r.c.Id}/logs`} title={r.display === r.name ? r.name : `${r.display} (container ${r.name})`}>
          {r.display}
        </a>
        {r.display !== r.name && fold === 0 && <span className="muted name-aside"> {r.name}</span>}
        {fold > 0 && (
          <div className="row-fold muted">
            {r.display !== r.name && <span>{r.name}</span>}
            <span>{r.c.Status}</span>
            <PortLinks ports={r.c.Ports} hideEmpty />
            {fold === 2 && running && (
              <span>
                {cpu} · {mem}
              </span>
            )}
          </div>
        )}
      </td>
      <td className="cell-image" title={r.c.Image}>
        {image}
      </td>
      {fold === 0 && (
        <td>
          <PortLinks ports={r.c.Ports} />
        </td>
      )}
      {fold === 0 && <td className="muted">{r.c.Status}</td>}
      {fold < 2 && <td className="num">{cpu}</td>}
      {fold < 2 && <td className="num">{mem}</td>}
      <td>
        <ContainerActions target={target(r)} compact />
      </td>
    </tr>
  );
});

export function GroupRowView(props: {
  g: GroupRow;
  open: boolean;
  active: boolean;
  columns: number;
  onActivate(): void;
  onToggle(): void;
  onAction(action: 'start' | 'stop' | 'restart' | 'remove'): void;
  'aria-rowindex'?: number;
  style?: CSSProperties;
}): ReactElement {
  const { g } = props;
  const Chevron = props.open ? ChevronDown : ChevronRight;
  const up = g.running > 0;
  return (
    <tr
      id={rowDomId(g)}
      className={`group-row${props.active ? ' active' : ''}`}
      aria-selected={props.active}
      aria-rowindex={props['aria-rowindex']}
      style={props.style}
      onClick={props.onActivate}
    >
      <td colSpan={props.columns}>
        <div className="group-line">
          <button type="button" className="group-toggle" aria-expanded={props.open} aria-label={g.project} onClick={props.onToggle}>
            <Glyph icon={Chevron} />
            <span>{g.project}</span>
          </button>
          <span className="muted">
            compose · {g.members.length} container{g.members.length === 1 ? '' : 's'}, {g.running} running
          </span>
          <span className="spacer" />
          <span className="row actions actions-compact" onClick={(e) => e.stopPropagation()}>
            <a className="btn btn-ghost btn-icon" href={`#/projects/${encodeURIComponent(g.project)}`} aria-label={`Logs of project ${g.project}`} title="Project logs">
              <Glyph icon={ScrollText} />
            </a>
            {!up || g.running < g.members.length ? <Button icon={Play} iconOnly engine label={`Start project ${g.project}`} onClick={() => props.onAction('start')} /> : null}
            {up && <Button icon={Square} iconOnly engine label={`Stop project ${g.project}`} onClick={() => props.onAction('stop')} />}
            <Button icon={RotateCw} iconOnly engine label={`Restart project ${g.project}`} onClick={() => props.onAction('restart')} />
            <Button icon={Trash2} iconOnly kind="ghost" engine label={`Delete project ${g.project}`} onClick={() => props.onAction('remove')} />
          </span>
        </div>
      </td>
    </tr>
  );
}
