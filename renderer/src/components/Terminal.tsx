/**
 * The terminal tab: the container's session from terminals.ts (created on first visit, kept
 * across tabs and screens), fitted to the panel as it resizes, with find-in-terminal, new and
 * close session controls, and the shell's exit shown when it ends.
 */
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import { Keyboard, Plus, X } from '../icons';
import { closeSession, getSession, LEAVE_TERMINAL_KEYS, newSession, subscribeSessions, type TerminalSession } from '../terminals';
import { Button } from './ui';

const FIND_DECORATIONS = {
  matchBackground: '#f2cc60',
  activeMatchBackground: '#ff9632',
  matchOverviewRuler: '#f2cc60',
  activeMatchColorOverviewRuler: '#ff9632',
};

function SessionPane(props: { session: TerminalSession; name: string }): ReactNode {
  const s = props.session;
  const host = useRef<HTMLDivElement>(null);
  const state = useSyncExternalStore(s.subscribe, () => s.state);
  const [find, setFind] = useState('');
  const [results, setResults] = useState<{ index: number; count: number }>();

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    s.attach(el);
    const ro = new ResizeObserver(() => s.fit());
    ro.observe(el);
    const sub = s.search.onDidChangeResults((r) => setResults({ index: r.resultIndex, count: r.resultCount }));
    return () => {
      sub.dispose();
      ro.disconnect();
      s.detach();
    };
  }, [s]);

  const search = (dir: 1 | -1, term = find): void => {
    if (!term) {
      s.search.clearDecorations();
      setResults(undefined);
      return;
    }
    const opts = { decorations: FIND_DECORATIONS, incremental: dir === 1 };
    if (dir === 1) s.search.findNext(term, opts);
    else s.search.findPrevious(term, opts);
  };

  return (
    <>
      <div className="row toolbar">
        <input
          type="search"
          aria-label="Find in terminal"
          placeholder="Find in terminal"
          value={find}
          onChange={(e) => {
            setFind(e.target.value);
            search(1, e.target.value);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              search(e.shiftKey ? -1 : 1);
            } else if (e.key === 'Escape') s.term.focus();
          }}
        />
        <span className="muted" role="status" aria-live="polite">
          {find && results ? (results.count ? `${results.index + 1} of ${results.count} found` : 'Not found') : ''}
        </span>
        <span className="spacer" />
        <span role="status" className="muted">
          {state.kind === 'open' && `Shell in ${props.name}`}
          {state.kind === 'exited' && `The shell exited with code ${state.code}`}
          {state.kind === 'failed' && `The terminal failed: ${state.message}`}
          {state.kind === 'ended' && 'The terminal session ended'}
          {state.kind === 'reconnecting' && 'The engine went away: the terminal reconnects when it is back…'}
        </span>
      </div>
      <p className="terminal-keys muted" id="terminal-keys">
        <Keyboard size={14} aria-hidden="true" /> <kbd>{LEAVE_TERMINAL_KEYS}</kbd> leaves the terminal · <kbd>Ctrl+Shift+C</kbd> / <kbd>Ctrl+Shift+V</kbd> copy and paste ·{' '}
        <kbd>Ctrl+K</kbd> commands
      </p>
      <div className="terminal-frame" ref={host} aria-label={`Terminal of ${props.name}`} aria-describedby="terminal-keys" role="region" />
    </>
  );
}

export function TerminalView(props: { id: string; name: string }): ReactNode {
  const session = useSyncExternalStore(subscribeSessions, () => getSession(props.id));
  const [wanted, setWanted] = useState(true);
  useEffect(() => {
    if (wanted && !getSession(props.id)) newSession(props.id);
  }, [props.id, wanted]);
  return (
    <div className="terminal-view">
      <div className="row toolbar">
        <Button
          icon={Plus}
          engine
          onClick={() => {
            setWanted(true);
            newSession(props.id);
          }}
        >
          New session
        </Button>
        <Button
          icon={X}
          disabled={!session}
          onClick={() => {
            setWanted(false);
            closeSession(props.id);
          }}
        >
          Close session
        </Button>
      </div>
      {session ? (
        <SessionPane key={session.serial} session={session} name={props.name} />
      ) : (
        <p className="muted">No terminal session. Start one with “New session”.</p>
      )}
    </div>
  );
}
