/**
 * Ctrl/Cmd+K: every screen and action by name, filtered as you type, arrows and Enter to run.
 * Screens register actions with `registerCommands` for as long as they are mounted.
 */
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

export interface PaletteCommand {
  id: string;
  title: string;
  keys?: string;
  run(): void;
}

const registered = new Map<string, PaletteCommand[]>();

/** Adds commands under `owner` (replacing its earlier ones); returns the unregister function. */
export function registerCommands(owner: string, cmds: PaletteCommand[]): () => void {
  registered.set(owner, cmds);
  return () => registered.delete(owner);
}

export function CommandPalette(props: { base: PaletteCommand[]; onClose: () => void }): ReactNode {
  const [q, setQ] = useState('');
  const [sel, setSel] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const all = useMemo(() => [...props.base, ...[...registered.values()].flat()], [props.base]);
  const shown = all.filter((c) => c.title.toLowerCase().includes(q.trim().toLowerCase()));
  useEffect(() => input.current?.focus(), []);
  useEffect(() => setSel(0), [q]);
  const run = (c: PaletteCommand | undefined): void => {
    if (!c) return;
    props.onClose();
    c.run();
  };
  return (
    <>
      <div className="dialog-backdrop" onMouseDown={props.onClose} />
      <div className="palette" role="dialog" aria-modal="true" aria-label="Command palette">
        <input
          ref={input}
          role="combobox"
          aria-expanded="true"
          aria-controls="palette-list"
          aria-activedescendant={shown[sel] ? `cmd-${shown[sel].id}` : undefined}
          aria-label="Type a command"
          placeholder="Type a command or screen…"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') setSel((s) => Math.min(s + 1, shown.length - 1));
            else if (e.key === 'ArrowUp') setSel((s) => Math.max(s - 1, 0));
            else if (e.key === 'Enter') run(shown[sel]);
            else if (e.key === 'Escape') props.onClose();
            else return;
            e.preventDefault();
          }}
        />
        <ul id="palette-list" role="listbox" aria-label="Commands">
          {shown.map((c, i) => (
            <li key={c.id} id={`cmd-${c.id}`} role="option" aria-selected={i === sel} onMouseDown={() => run(c)}>
              {c.title}
              {c.keys && <span className="muted"> — {c.keys}</span>}
            </li>
          ))}
          {shown.length === 0 && <li className="muted">No matching command</li>}
        </ul>
      </div>
    </>
  );
}
