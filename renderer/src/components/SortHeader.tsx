/** A sortable column header for plain (not virtualized) tables, with aria-sort. */
import type { ReactNode } from 'react';
import { ArrowDown, ArrowUp, ArrowUpDown } from '../icons';
import type { SortState } from './table-layout';

export function SortHeader(props: { id: string; sort: SortState; onSort(id: string): void; children: ReactNode; className?: string }): ReactNode {
  const on = props.sort.column === props.id ? props.sort.dir : undefined;
  const Arrow = on === 'asc' ? ArrowUp : on === 'desc' ? ArrowDown : ArrowUpDown;
  return (
    <th scope="col" aria-sort={on === 'asc' ? 'ascending' : on === 'desc' ? 'descending' : 'none'} className={`sortable${props.className ? ` ${props.className}` : ''}`}>
      <button type="button" className="th-sort" onClick={() => props.onSort(props.id)}>
        {props.children}
        <Arrow size={13} aria-hidden="true" className={on ? 'sort-on' : 'sort-off'} />
      </button>
    </th>
  );
}
