/**
 * A table that renders only the rows in view (TanStack Virtual), so a list of thousands stays
 * fast, while staying a real <table> for assistive tech: column headers, aria-rowcount and each
 * row's aria-rowindex say where the visible rows sit. Spacer rows above and below keep the
 * scroll height. The caller renders each <tr> (so group headers can span columns) and learns
 * which rows are in view (to stream live data for those only). Columns can be sortable (a
 * header button, aria-sort) and resizable (drag the edge, or focus it and use the arrow keys).
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { cloneElement, useEffect, useMemo, useRef, type KeyboardEvent, type PointerEvent, type ReactElement, type ReactNode } from 'react';
import { ArrowDown, ArrowUp, ArrowUpDown } from '../icons';
import { Glyph } from './Glyph';
import type { TableLayout } from './table-layout';

export interface Column {
  id: string;
  header: ReactNode;
  /** Fixed width (px or CSS); resized widths from the layout win. */
  width?: number | string;
  /** Sortable by this column (needs `layout`). */
  sortable?: boolean;
  /** Resizable (needs `layout`). */
  resizable?: boolean;
  /** The header's text for screen readers when `header` is not plain text. */
  label?: string;
}

export interface VirtualTableProps<T> {
  label: string;
  columns: Column[];
  rows: T[];
  rowKey(row: T): string;
  /** One <tr>, or a component that puts its `aria-rowindex` and `style` props on its <tr>. */
  renderRow(row: T, index: number): ReactElement;
  rowHeight?: number;
  /** Row kept in view (keyboard selection). */
  activeIndex?: number;
  /** The id of the active row's element, for aria-activedescendant. */
  activeId?: string;
  onKeyDown?(e: KeyboardEvent<HTMLTableElement>): void;
  /** Called with the rows in view whenever that set changes. */
  onVisibleRows?(rows: T[]): void;
  empty?: ReactNode;
  layout?: TableLayout;
  className?: string;
}

const RESIZE_STEP = 16;

function HeaderCell(props: { column: Column; layout: TableLayout | undefined }): ReactNode {
  const { column: c, layout } = props;
  const th = useRef<HTMLTableCellElement>(null);
  const width = layout?.widths[c.id] ?? c.width;
  const sorted = layout && layout.sort.column === c.id ? layout.sort.dir : undefined;
  const startDrag = (e: PointerEvent<HTMLSpanElement>): void => {
    if (!layout || !th.current) return;
    e.preventDefault();
    const startX = e.clientX;
    const startW = th.current.getBoundingClientRect().width;
    const move = (ev: globalThis.PointerEvent): void => layout.setWidth(c.id, startW + ev.clientX - startX);
    const up = (): void => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };
  const resizeKey = (e: KeyboardEvent<HTMLSpanElement>): void => {
    if (!layout || !th.current) return;
    const now = th.current.getBoundingClientRect().width;
    if (e.key === 'ArrowLeft') layout.setWidth(c.id, now - RESIZE_STEP);
    else if (e.key === 'ArrowRight') layout.setWidth(c.id, now + RESIZE_STEP);
    else if (e.key === 'Home' || e.key === 'Delete') layout.setWidth(c.id, undefined);
    else return;
    e.preventDefault();
  };
  const Arrow = sorted === 'asc' ? ArrowUp : sorted === 'desc' ? ArrowDown : ArrowUpDown;
  return (
    <th
      ref={th}
      scope="col"
      style={width !== undefined ? { width } : undefined}
      aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : c.sortable ? 'none' : undefined}
      className={[c.sortable ? 'sortable' : '', c.resizable ? 'resizable' : ''].filter(Boolean).join(' ') || undefined}
    >
      {c.sortable && layout ? (
        <button type="button" className="th-sort" onClick={() => layout.sortBy(c.id)}>
          {c.header}
          <Glyph icon={Arrow} size={13} className={sorted ? 'sort-on' : 'sort-off'} />
        </button>
      ) : (
        c.header
      )}
      {c.resizable && layout && (
        <span
          className="col-resize"
          role="separator"
          aria-orientation="vertical"
          aria-label={`Resize the ${c.label ?? (typeof c.header === 'string' ? c.header : c.id)} column`}
          aria-valuenow={typeof width === 'number' ? Math.round(width) : undefined}
          tabIndex={0}
          onPointerDown={startDrag}
          onKeyDown={resizeKey}
          onDoubleClick={() => layout.setWidth(c.id, undefined)}
          title="Drag to resize; double-click to reset"
        />
      )}
    </th>
  );
}

export function VirtualTable<T>(props: VirtualTableProps<T>): ReactNode {
  const scroller = useRef<HTMLDivElement>(null);
  const rowHeight = props.rowHeight ?? 40;
  const v = useVirtualizer({
    count: props.rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowHeight,
    overscan: 8,
    getItemKey: (i) => props.rowKey(props.rows[i]!),
  });
  useEffect(() => v.measure(), [rowHeight]);
  // One style object per height, so memoized rows see the same props and skip re-rendering.
  const rowStyle = useMemo(() => ({ height: rowHeight }), [rowHeight]);
  const items = v.getVirtualItems();

  useEffect(() => {
    if (props.activeIndex !== undefined && props.activeIndex >= 0) v.scrollToIndex(props.activeIndex, { align: 'auto' });
  }, [props.activeIndex]);

  const visibleKey = items.map((i) => i.key).join(',');
  const onVisible = useRef(props.onVisibleRows);
  onVisible.current = props.onVisibleRows;
  useEffect(() => {
    onVisible.current?.(items.map((i) => props.rows[i.index]!).filter(Boolean));
  }, [visibleKey, props.rows]);

  const top = items[0]?.start ?? 0;
  const bottom = items.length ? v.getTotalSize() - items[items.length - 1]!.end : 0;
  return (
    <div className={`vtable${props.className ? ` ${props.className}` : ''}`} ref={scroller}>
      <table
        className="grid"
        role="grid"
        aria-label={props.label}
        aria-rowcount={props.rows.length + 1}
        aria-activedescendant={props.activeId}
        tabIndex={0}
        onKeyDown={props.onKeyDown}
      >
        <thead>
          <tr aria-rowindex={1}>
            {props.columns.map((c) => (
              <HeaderCell key={c.id} column={c} layout={props.layout} />
            ))}
          </tr>
        </thead>
        <tbody>
          {top > 0 && <tr aria-hidden="true" style={{ height: top }} />}
          {items.map((item) => {
            const row = props.renderRow(props.rows[item.index]!, item.index);
            return cloneElement(row as ReactElement<Record<string, unknown>>, { key: item.key, 'aria-rowindex': item.index + 2, style: rowStyle });
          })}
          {bottom > 0 && <tr aria-hidden="true" style={{ height: bottom }} />}
        </tbody>
      </table>
      {props.rows.length === 0 && props.empty}
    </div>
  );
}
