/**
 * Terminal sessions that outlive the screen showing them: one xterm.js Terminal and one
 * `terminal` stream per container, kept here while the user switches tabs or screens. A view
 * attaches the session's element when it mounts and detaches it when it unmounts; the shell
 * keeps running and its output keeps landing in the terminal's buffer meanwhile.
 *
 * When the engine goes away under a session, the session waits for it and opens a new shell in
 * the same terminal once the engine (and the container) are back. Ctrl+Shift+E moves keyboard
 * focus out of the terminal (to the selected tab), since the terminal keeps Tab for the shell.
 */
import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { WebglAddon } from '@xterm/addon-webgl';
import { Terminal, type ITheme } from '@xterm/xterm';
import type { StreamHandle } from '../../types/desktop-api';
import { bridge, errorText } from './bridge';
import { whenEngineUp } from './state';
import { currentTheme } from './theme';

export type SessionState =
  | { kind: 'open' }
  | { kind: 'exited'; code: number }
  | { kind: 'failed'; message: string }
  | { kind: 'ended' }
  | { kind: 'reconnecting'; message: string };

/** The documented way out of the terminal for keyboard users. */
export const LEAVE_TERMINAL_KEYS = 'Ctrl+Shift+E';

function focusOutOfTerminal(from: HTMLElement): void {
  const target =
    document.querySelector<HTMLElement>('[role=tab][aria-selected=true]') ??
    from.closest('main')?.querySelector<HTMLElement>('h1') ??
    document.querySelector<HTMLElement>('main');
  target?.focus();
}

const THEMES: Record<'light' | 'dark', ITheme> = {
  light: { background: '#ffffff', foreground: '#1b1f24', cursor: '#1f6feb', selectionBackground: '#b6d3ff' },
  dark: { background: '#0b0f14', foreground: '#e6edf3', cursor: '#4493f8', selectionBackground: '#264f78' },
};

let nextSerial = 1;

export class TerminalSession {
  /** Distinguishes this session from the container's earlier ones (a React key). */
  readonly serial = nextSerial++;
  readonly term: Terminal;
  readonly search = new SearchAddon();
  /** The element xterm renders into; moved between views as they mount. */
  readonly element = document.createElement('div');
  private readonly fitAddon = new FitAddon();
  private stream?: StreamHandle<'terminal'>;
  private opened = false;
  private disposed = false;
  private stateValue: SessionState = { kind: 'open' };
  private readonly listeners = new Set<() => void>();

  constructor(readonly containerId: string) {
    this.element.className = 'terminal-host';
    this.term = new Terminal({
      allowProposedApi: true, // the search add-on's match decorations
      cursorBlink: true,
      fontFamily: "ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace",
      fontSize: 13,
      scrollback: 10_000,
    });
    this.term.loadAddon(this.fitAddon);
    this.term.loadAddon(this.search);
    this.term.onData((data) => {
      if (this.stateValue.kind === 'open') this.stream?.send({ type: 'data', data });
    });
    this.term.onResize(({ cols, rows }) => this.stream?.send({ type: 'resize', cols, rows }));
    this.term.attachCustomKeyEventHandler((e) => {
      if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === 'KeyE') {
        e.preventDefault();
        focusOutOfTerminal(this.element);
        return false;
      }
      if (e.code === 'KeyC') {
        const sel = this.term.getSelection();
        if (sel) void navigator.clipboard.writeText(sel);
        return false;
      }
      if (e.code === 'KeyV') {
        void navigator.clipboard.readText().then((t) => this.term.paste(t));
        return false;
      }
      return true;
    });
    // The browser's own copy (menu, Ctrl+C with a selection on macOS-style setups): give it the selection.
    this.element.addEventListener('copy', (e) => {
      const sel = this.term.getSelection();
      if (!sel) return;
      e.clipboardData?.setData('text/plain', sel);
      e.preventDefault();
    });
  }

  get state(): SessionState {
    return this.stateValue;
  }

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  private setState(s: SessionState): void {
    this.stateValue = s;
    for (const l of this.listeners) l();
  }

  /** Shows the terminal inside `parent`; the first attach opens xterm and starts the shell. */
  attach(parent: HTMLElement): void {
    if (this.disposed) return;
    parent.appendChild(this.element);
    this.term.options.theme = THEMES[currentTheme()];
    if (!this.opened) {
      this.opened = true;
      this.term.open(this.element);
      try {
        const gl = new WebglAddon();
        gl.onContextLoss(() => gl.dispose()); // back to the DOM renderer
        this.term.loadAddon(gl);
      } catch {
        // No WebGL2 here: xterm's DOM renderer draws instead.
      }
    }
    this.fit();
    if (!this.stream) this.connect();
    this.term.focus();
  }

  detach(): void {
    this.element.remove();
  }

  fit(): void {
    if (this.element.isConnected && this.element.clientWidth > 0) this.fitAddon.fit();
  }

  private connect(): void {
    const { cols, rows } = this.term;
    this.stream = bridge().open('terminal', { id: this.containerId, cols, rows }, {
      data: (m) => {
        if (m.type === 'data') this.term.write(m.data);
        else {
          this.term.write(`\r\n\x1b[2m[process exited with code ${m.code}]\x1b[0m\r\n`);
          this.setState({ kind: 'exited', code: m.code });
        }
      },
      end: (err) => {
        if (this.disposed || this.stateValue.kind === 'exited') return;
        if (!err) return this.setState({ kind: 'ended' });
        void this.reconnectWhenBack(errorText(err));
      },
    });
  }

  /** The stream broke: if the engine went away, wait for it and open a new shell here. */
  private async reconnectWhenBack(message: string): Promise<void> {
    this.stream = undefined;
    const status = await bridge().invoke('engine.status', {}).catch(() => undefined);
    if (status?.state === 'running') {
      const running = await bridge()
        .invoke('containers.inspect', { id: this.containerId })
        .then((c) => c.State.Running, () => false);
      if (!running) return this.setState({ kind: 'failed', message });
    }
    this.setState({ kind: 'reconnecting', message });
    this.term.write(`\r\n\x1b[2m[the engine went away: reconnecting when it is back]\x1b[0m\r\n`);
    await whenEngineUp();
    for (let attempt = 0; attempt < 20 && !this.disposed; attempt++) {
      const c = await bridge()
        .invoke('containers.inspect', { id: this.containerId })
        .catch(() => undefined);
      if (c?.State.Running) {
        this.term.write('\x1b[2m[reconnected: a new shell]\x1b[0m\r\n');
        this.setState({ kind: 'open' });
        this.connect();
        return;
      }
      if (c) break; // there, but not running: nothing to reconnect to
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!this.disposed) this.setState({ kind: 'failed', message: 'the container is not running any more' });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stream?.close();
    this.element.remove();
    this.term.dispose();
  }
}

const sessions = new Map<string, TerminalSession>();
const listeners = new Set<() => void>();
const changed = (): void => {
  for (const l of listeners) l();
};

export function subscribeSessions(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function getSession(containerId: string): TerminalSession | undefined {
  return sessions.get(containerId);
}

/** A fresh session for the container (ending the one it had). */
export function newSession(containerId: string): TerminalSession {
  sessions.get(containerId)?.dispose();
  const s = new TerminalSession(containerId);
  sessions.set(containerId, s);
  changed();
  return s;
}

export function closeSession(containerId: string): void {
  const s = sessions.get(containerId);
  if (!s) return;
  sessions.delete(containerId);
  s.dispose();
  changed();
}
