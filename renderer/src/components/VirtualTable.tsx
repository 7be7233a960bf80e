/**
 * A table that renders only the rows in view (TanStack Virtual), so a list of thousands stays
 * fast, while staying a real <table> for assistive tech: column headers, aria-rowcount and each
 * row's aria-rowindex say where the visible rows sit. Spacer rows above and below keep the
 * scroll height. The caller renders each <tr> (so group headers can span columns) and learns
 * which rows are in view (to stream live data for those only).
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { cloneElement, useEffect, useRef, type KeyboardEvent, type ReactElement, type ReactNode } from 'react';

export interface Column {
  id: string;
  header: ReactNode;
  width?: number | string;
}

export interface VirtualTableProps<T> {
  label: string;
  columns: Column[];
  rows: T[];
  rowKey(row: T): string;
  /** One <tr>; `aria-rowindex` is filled in from `index`. */
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
    <div className="vtable" ref={scroller}>
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
              <th key={c.id} scope="col" style={c.width !== undefined ? { width: c.width } : undefined}>
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {top > 0 && <tr aria-hidden="true" style={{ height: top }} />}
          {items.map((item) => {
            const row = props.renderRow(props.rows[item.index]!, item.index);
            return cloneElement(row as ReactElement<Record<string, unknown>>, { key: item.key, 'aria-rowindex': item.index + 2, style: { height: rowHeight } });
          })}
          {bottom > 0 && <tr aria-hidden="true" style={{ height: bottom }} />}
        </tbody>
      </table>
      {props.rows.length === 0 && props.empty}
    </div>
  );
}
