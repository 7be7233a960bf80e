/**
 * Ctrl/Cmd+K: every command of the app (from any screen) and every container, image, volume,
 * network and compose project by name, ranked by a fuzzy match, the ones used recently first.
 * Arrows move, Enter runs, Escape closes. Screens may add commands about what they show (the
 * open container's tabs) with `registerCommands` while they are mounted.
 */
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { bridge } from '../bridge';
import { COMMANDS, type Command } from '../commands';
import { shortId, shortImage } from '../format';
import { fuzzyScore } from '../fuzzy';
import { Box, Boxes, HardDrive, Layers, Network, Sparkles, type LucideIcon } from '../icons';
import { HELPER_LABEL, PROJECT_LABEL } from '../labels';
import { navigate } from '../router';
import { useFocusTrap } from './focus';

export type PaletteCommand = Command;

const registered = new Map<string, Command[]>();

/** Adds commands under `owner` (replacing its earlier ones); returns the unregister function. */
export function registerCommands(owner: string, cmds: Command[]): () => void {
  registered.set(owner, cmds);
  return () => registered.delete(owner);
}

type Kind = 'command' | 'container' | 'image' | 'volume' | 'network' | 'project';

interface Item {
  id: string;
  kind: Kind;
  title: string;
  /** Extra text matched but not shown (ids, keywords). */
  match?: string;
  detail?: string;
  keys?: string;
  run(): void;
}

const KIND_LABEL: Record<Kind, string> = { command: 'Command', container: 'Container', image: 'Image', volume: 'Volume', network: 'Network', project: 'Compose project' };
const KIND_ICON: Record<Kind, LucideIcon> = { command: Sparkles, container: Box, image: Layers, volume: HardDrive, network: Network, project: Boxes };

// ---- recently used, newest first (kept in localStorage, so it survives restarts)

const RECENT_KEY = 'berth.palette.recent';
const RECENT_MAX = 20;

function recent(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function remember(id: string): void {
  localStorage.setItem(RECENT_KEY, JSON.stringify([id, ...recent().filter((x) => x !== id)].slice(0, RECENT_MAX)));
}

/** The engine's objects as palette items, read when the palette opens. */
async function loadEntities(): Promise<Item[]> {
  const b = bridge();
  const [containers, images, volumes, networks] = await Promise.allSettled([
    b.invoke('containers.list', { all: true }),
    b.invoke('images.list', {}),
    b.invoke('volumes.list', {}),
    b.invoke('networks.list', {}),
  ]);
  const out: Item[] = [];
  const projects = new Set<string>();
  if (containers.status === 'fulfilled') {
    for (const c of containers.value) {
      if (c.Labels?.[HELPER_LABEL]) continue;
      const name = c.Names[0]?.replace(/^\//, '') ?? shortId(c.Id);
      const project = c.Labels?.[PROJECT_LABEL];
      if (project) projects.add(project);
      out.push({ id: `container:${c.Id}`, kind: 'container', title: name, match: `${c.Id.slice(0, 12)} ${c.Image}`, detail: `${c.State} · ${shortImage(c.Image)}`, run: () => navigate(`/containers/${c.Id}/logs`) });
    }
  }
  for (const p of projects) out.push({ id: `project:${p}`, kind: 'project', title: p, run: () => navigate(`/projects/${encodeURIComponent(p)}`) });
  if (images.status === 'fulfilled') {
    for (const i of images.value) {
      const tags = i.RepoTags.filter((t) => t !== '<none>:<none>');
      const title = tags[0] ? shortImage(tags[0]) : `<none> ${shortId(i.Id)}`;
      out.push({ id: `image:${i.Id}`, kind: 'image', title, match: `${tags.join(' ')} ${shortId(i.Id)}`, detail: shortId(i.Id), run: () => navigate(`/images/${encodeURIComponent(i.Id)}`) });
    }
  }
  if (volumes.status === 'fulfilled') {
    for (const v of volumes.value) out.push({ id: `volume:${v.Name}`, kind: 'volume', title: v.Name, run: () => navigate(`/volumes?name=${encodeURIComponent(v.Name)}`) });
  }
  if (networks.status === 'fulfilled') {
    for (const n of networks.value) out.push({ id: `network:${n.Id}`, kind: 'network', title: n.Name, detail: n.Driver, run: () => navigate(`/networks?inspect=${encodeURIComponent(n.Id)}`) });
  }
  return out;
}

const MAX_SHOWN = 60;

export function rankItems(items: Item[], q: string, recentIds: string[]): Item[] {
  const rank = new Map(recentIds.map((id, i) => [id, i]));
  const query = q.trim();
  if (query === '') {
    const recents = recentIds.map((id) => items.find((x) => x.id === id)).filter((x): x is Item => x !== undefined);
    return [...recents, ...items.filter((x) => x.kind === 'command' && !rank.has(x.id))].slice(0, MAX_SHOWN);
  }
  const scored: { item: Item; score: number }[] = [];
  for (const item of items) {
    const best = Math.max(fuzzyScore(query, item.title) ?? -Infinity, (fuzzyScore(query, item.match ?? '') ?? -Infinity) - 50);
    if (best === -Infinity) continue;
    // Recently used ones rise: the latest most.
    const r = rank.get(item.id);
    scored.push({ item, score: best + (r === undefined ? 0 : 300 - r * 10) });
  }
  return scored.sort((a, b) => b.score - a.score).slice(0, MAX_SHOWN).map((x) => x.item);
}

export function CommandPalette(props: { onClose: () => void }): ReactNode {
  const [q, setQ] = useState('');
  const [sel, setSel] = useState(0);
  const [entities, setEntities] = useState<Item[]>([]);
  const box = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLUListElement>(null);
  useFocusTrap(box, props.onClose);
  useEffect(() => {
    let live = true;
    void loadEntities().then((e) => live && setEntities(e));
    return () => {
      live = false;
    };
  }, []);
  const commands = useMemo<Item[]>(
    () =>
      [...COMMANDS, ...[...registered.values()].flat()].map((c) => ({ id: `cmd:${c.id}`, kind: 'command' as const, title: c.title, ...(c.keywords ? { match: c.keywords } : {}), ...(c.keys ? { keys: c.keys } : {}), run: c.run })),
    [],
  );
  const shown = useMemo(() => rankItems([...commands, ...entities], q, recent()), [commands, entities, q]);
  useEffect(() => setSel(0), [q]);
  useEffect(() => {
    list.current?.querySelector(`[aria-selected="true"]`)?.scrollIntoView({ block: 'nearest' });
  }, [sel]);
  const run = (item: Item | undefined): void => {
    if (!item) return;
    remember(item.id);
    props.onClose();
    item.run();
  };
  const active = shown[sel];
  return (
    <div className="dialog-backdrop palette-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div className="palette" role="dialog" aria-modal="true" aria-label="Command palette" ref={box}>
        <input
          role="combobox"
          aria-expanded="true"
          aria-controls="palette-list"
          aria-activedescendant={active ? `pal-${encodeURIComponent(active.id)}` : undefined}
          aria-autocomplete="list"
          aria-label="Search commands, containers, images, volumes and networks"
          placeholder="Type a command, or a container, image, volume or network…"
          value={q}
          data-autofocus
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') setSel((s) => Math.min(s + 1, shown.length - 1));
            else if (e.key === 'ArrowUp') setSel((s) => Math.max(s - 1, 0));
            else if (e.key === 'Enter') run(active);
            else return;
            e.preventDefault();
          }}
        />
        <ul id="palette-list" role="listbox" aria-label="Results" ref={list}>
          {shown.map((item, i) => {
            const Icon = KIND_ICON[item.kind];
            return (
              <li key={item.id} id={`pal-${encodeURIComponent(item.id)}`} role="option" aria-selected={i === sel} onMouseDown={() => run(item)} onMouseMove={() => i !== sel && setSel(i)}>
                <Icon size={16} aria-hidden="true" className="palette-icon" />
                <span className="palette-title">{item.title}</span>
                {item.detail && <span className="palette-detail">{item.detail}</span>}
                <span className="palette-kind">{item.keys ? <kbd>{item.keys}</kbd> : KIND_LABEL[item.kind]}</span>
              </li>
            );
          })}
          {shown.length === 0 && <li className="palette-none">Nothing matches “{q}”</li>}
        </ul>
      </div>
    </div>
  );
}
