/**
 * A JSON document as an ARIA tree: collapsible objects and arrays, a search that shows only the
 * matching keys or values (and the path to them) with the matches highlighted, keyboard
 * navigation as the tree pattern describes (arrows, Home/End, Enter/Space), and copying any
 * node's value (button, or "c" on the focused node).
 */
import { useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { errorText } from '../bridge';
import { Button, toast } from './ui';

interface Node {
  path: string;
  key: string;
  value: unknown;
  level: number;
  kids: [string, unknown][] | null;
  expanded: boolean;
  setsize: number;
  posinset: number;
  parent: string | undefined;
}

function children(v: unknown): [string, unknown][] | null {
  if (Array.isArray(v)) return v.map((x, i) => [String(i), x]);
  if (v !== null && typeof v === 'object') return Object.entries(v as Record<string, unknown>);
  return null;
}

const childPath = (path: string, key: string): string => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

function scalarText(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Paths whose key or scalar value contains `q`, and every ancestor of one. */
function searchPaths(root: unknown, q: string): { hits: Set<string>; ancestors: Set<string> } {
  const hits = new Set<string>();
  const ancestors = new Set<string>();
  const visit = (v: unknown, path: string, key: string): boolean => {
    const kids = children(v);
    let found = key.toLowerCase().includes(q) || (kids === null && scalarText(v).toLowerCase().includes(q));
    if (found) hits.add(path);
    let below = false;
    for (const [k, x] of kids ?? []) if (visit(x, childPath(path, k), k)) below = true;
    if (below) ancestors.add(path);
    found ||= below;
    return found;
  };
  for (const [k, x] of children(root) ?? []) visit(x, childPath('', k), k);
  return { hits, ancestors };
}

function visibleNodes(root: unknown, expanded: Set<string>, search: ReturnType<typeof searchPaths> | undefined): Node[] {
  const out: Node[] = [];
  const visit = (entries: [string, unknown][], parent: string, level: number, showAll: boolean): void => {
    const shown = showAll || !search ? entries : entries.filter(([k]) => search.hits.has(childPath(parent, k)) || search.ancestors.has(childPath(parent, k)));
    shown.forEach(([key, value], i) => {
      const path = childPath(parent, key);
      const kids = children(value);
      const isExpanded = kids !== null && (expanded.has(path) || (!!search && search.ancestors.has(path)));
      out.push({ path, key, value, level, kids, expanded: isExpanded, setsize: shown.length, posinset: i + 1, parent: parent || undefined });
      if (isExpanded) visit(kids, path, level + 1, expanded.has(path) || (!!search && search.hits.has(path) && !search.ancestors.has(path)));
    });
  };
  visit(children(root) ?? [], '', 1, false);
  return out;
}

function Mark(props: { text: string; q: string }): ReactNode {
  if (!props.q) return props.text;
  const i = props.text.toLowerCase().indexOf(props.q);
  if (i < 0) return props.text;
  return (
    <>
      {props.text.slice(0, i)}
      <mark>{props.text.slice(i, i + props.q.length)}</mark>
      {props.text.slice(i + props.q.length)}
    </>
  );
}

function summary(n: Node): string {
  if (Array.isArray(n.value)) return `[${n.value.length} item${n.value.length === 1 ? '' : 's'}]`;
  return `{${n.kids!.length} key${n.kids!.length === 1 ? '' : 's'}}`;
}

export function JsonTree(props: { value: unknown; label: string }): ReactNode {
  const [expanded, setExpanded] = useState(() => new Set<string>());
  const [query, setQuery] = useState('');
  const [focused, setFocused] = useState<string>();
  const tree = useRef<HTMLUListElement>(null);
  const q = query.trim().toLowerCase();
  const search = useMemo(() => (q ? searchPaths(props.value, q) : undefined), [props.value, q]);
  const nodes = useMemo(() => visibleNodes(props.value, expanded, search), [props.value, expanded, search]);
  const focusIdx = Math.max(0, nodes.findIndex((n) => n.path === focused));

  const setOpen = (path: string, open: boolean): void =>
    setExpanded((s) => {
      const n = new Set(s);
      if (open) n.add(path);
      else n.delete(path);
      return n;
    });
  const focusNode = (path: string | undefined): void => {
    if (path === undefined) return;
    setFocused(path);
    tree.current?.querySelector<HTMLElement>(`[data-path="${CSS.escape(path)}"]`)?.focus();
  };
  const copy = (n: Node): void => {
    const text = n.kids ? JSON.stringify(n.value, null, 2) : typeof n.value === 'string' ? n.value : JSON.stringify(n.value);
    navigator.clipboard.writeText(text).then(
      () => toast(`Copied ${n.key}`),
      (e: unknown) => toast(`Copy failed: ${errorText(e)}`, 'bad'),
    );
  };

  const onKey = (e: KeyboardEvent<HTMLUListElement>): void => {
    const n = nodes[focusIdx];
    if (!n) return;
    switch (e.key) {
      case 'ArrowDown':
        focusNode(nodes[focusIdx + 1]?.path);
        break;
      case 'ArrowUp':
        focusNode(nodes[focusIdx - 1]?.path);
        break;
      case 'Home':
        focusNode(nodes[0]?.path);
        break;
      case 'End':
        focusNode(nodes[nodes.length - 1]?.path);
        break;
      case 'ArrowRight':
        if (n.kids && !n.expanded) setOpen(n.path, true);
        else if (n.kids) focusNode(nodes[focusIdx + 1]?.path);
        break;
      case 'ArrowLeft':
        if (n.kids && n.expanded) setOpen(n.path, false);
        else focusNode(n.parent);
        break;
      case 'Enter':
      case ' ':
        if (n.kids) setOpen(n.path, !n.expanded);
        break;
      case 'c':
        copy(n);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  return (
    <div className="jsontree">
      <div className="row toolbar">
        <input type="search" aria-label="Search inspect data" placeholder="Search keys and values" value={query} onChange={(e) => setQuery(e.target.value)} />
        <span className="muted" role="status" aria-live="polite">
          {search ? `${search.hits.size} match${search.hits.size === 1 ? '' : 'es'}` : ''}
        </span>
        <span className="spacer" />
        <Button onClick={() => setExpanded(new Set(nodes.filter((n) => n.kids).map((n) => n.path)))}>Expand shown</Button>
        <Button onClick={() => setExpanded(new Set())}>Collapse all</Button>
        <Button
          onClick={() =>
            navigator.clipboard.writeText(JSON.stringify(props.value, null, 2)).then(
              () => toast('Copied the JSON'),
              (e: unknown) => toast(`Copy failed: ${errorText(e)}`, 'bad'),
            )
          }
        >
          Copy JSON
        </Button>
      </div>
      <ul role="tree" aria-label={props.label} className="tree mono" ref={tree} onKeyDown={onKey}>
        {nodes.map((n, i) => (
          <li
            key={n.path}
            role="treeitem"
            data-path={n.path}
            aria-level={n.level}
            aria-setsize={n.setsize}
            aria-posinset={n.posinset}
            aria-expanded={n.kids ? n.expanded : undefined}
            aria-selected={i === focusIdx}
            tabIndex={i === focusIdx ? 0 : -1}
            style={{ paddingLeft: (n.level - 1) * 16 + 4 }}
            onFocus={() => setFocused(n.path)}
            onClick={(e) => {
              e.stopPropagation();
              focusNode(n.path);
              if (n.kids) setOpen(n.path, !n.expanded);
            }}
          >
            <span className="tree-twisty" aria-hidden="true">
              {n.kids ? (n.expanded ? '▾' : '▸') : ''}
            </span>
            <span className="tree-key">
              <Mark text={n.key} q={q} />
            </span>
            :{' '}
            <span className={`tree-value tv-${n.value === null ? 'null' : typeof n.value}`}>{n.kids ? summary(n) : <Mark text={scalarText(n.value)} q={q} />}</span>
            <button
              type="button"
              className="tree-copy"
              tabIndex={-1}
              aria-label={`Copy value of ${n.key}`}
              onClick={(e) => {
                e.stopPropagation();
                copy(n);
              }}
            >
              Copy
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
