/**
 * A table's column layout that the person shapes and the app remembers: widths set by dragging
 * (or the arrow keys) on a column's edge, and the sort column and direction, kept in
 * localStorage per table. Columns without a width share what is left.
 */
import { useCallback, useState } from 'react';

export type SortDir = 'asc' | 'desc';
export interface SortState {
  column: string;
  dir: SortDir;
}

export interface TableLayout {
  widths: Record<string, number>;
  sort: SortState;
  setWidth(column: string, px: number | undefined): void;
  /** Sorts by `column`; the same column again flips the direction. */
  sortBy(column: string): void;
}

const KEY = (table: string): string => `berth.table.${table}`;

interface Stored {
  widths?: Record<string, number>;
  sort?: SortState;
}

function load(table: string): Stored {
  try {
    const v = JSON.parse(localStorage.getItem(KEY(table)) ?? '{}') as Stored;
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

export const MIN_COLUMN_PX = 48;
export const MAX_COLUMN_PX = 1200;

export function useTableLayout(table: string, defaultSort: SortState): TableLayout {
  const [state, setState] = useState(() => {
    const s = load(table);
    return { widths: s.widths ?? {}, sort: s.sort ?? defaultSort };
  });
  const save = (next: { widths: Record<string, number>; sort: SortState }): void => {
    localStorage.setItem(KEY(table), JSON.stringify(next));
  };
  const setWidth = useCallback(
    (column: string, px: number | undefined) =>
      setState((s) => {
        const widths = { ...s.widths };
        if (px === undefined) delete widths[column];
        else widths[column] = Math.round(Math.max(MIN_COLUMN_PX, Math.min(MAX_COLUMN_PX, px)));
        const next = { ...s, widths };
        save(next);
        return next;
      }),
    [table],
  );
  const sortBy = useCallback(
    (column: string) =>
      setState((s) => {
        const dir: SortDir = s.sort.column === column && s.sort.dir === 'asc' ? 'desc' : 'asc';
        const next = { ...s, sort: { column, dir } };
        save(next);
        return next;
      }),
    [table],
  );
  return { widths: state.widths, sort: state.sort, setWidth, sortBy };
}
