/**
 * The app shell: the top bar (engine status, running jobs, theme, command palette), the
 * sidebar of screens, and the routed screen. Global keys: Ctrl/Cmd+K opens the palette, and
 * "g" followed by a screen's letter goes there.
 */
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import type { Theme } from '../../types/desktop-api';
import { bridge } from './bridge';
import { CommandPalette, type PaletteCommand } from './components/CommandPalette';
import { Toasts } from './components/ui';
import { ROUTES } from './routes';
import { matchRoute, navigate, useRoute } from './router';
import { startFeeds, useEngineStatus, useJobs } from './state';
import { applyTheme, useTheme } from './theme';

function EngineStatusPill(): ReactNode {
  const s = useEngineStatus();
  const [tone, text] =
    s === undefined
      ? ['', 'Connecting…']
      : s.state === 'running'
        ? ['ok', `Engine running · ${s.version}`]
        : s.state === 'starting'
          ? ['warn', 'Engine starting…']
          : ['bad', 'Engine unreachable'];
  return (
    <span className="status-pill" role="status" aria-label={`Engine status: ${text}`} title={s?.state === 'unreachable' ? `${s.reason}. ${s.fix}` : undefined}>
      <span className={`status-dot ${tone}`} aria-hidden="true" />
      {text}
    </span>
  );
}

function JobsIndicator(): ReactNode {
  const running = useJobs().filter((j) => j.state === 'running');
  if (running.length === 0) return null;
  return (
    <a href="#/images" className="muted" aria-live="polite">
      {running.length === 1 ? running[0]!.title : `${running.length} jobs running`}
    </a>
  );
}

export function App(): ReactNode {
  const path = useRoute();
  const [palette, setPalette] = useState(false);
  const theme = useTheme();

  useEffect(() => {
    startFeeds();
    bridge()
      .invoke('settings.get', {})
      .then((s) => {
        applyTheme(s.theme);
        if (!s.onboardingDone && ROUTES.some((r) => r.path === '/welcome')) navigate('/welcome');
      })
      .catch(() => applyTheme('system'));
  }, []);

  const cycleTheme = (): void => {
    const next: Theme = theme === 'system' ? 'light' : theme === 'light' ? 'dark' : 'system';
    applyTheme(next);
    void bridge().invoke('settings.set', { theme: next }).catch(() => undefined);
  };

  const base = useMemo<PaletteCommand[]>(
    () => [
      ...ROUTES.filter((r) => r.nav).map((r) => ({ id: `go-${r.path}`, title: `Go to ${r.title}`, ...(r.keys ? { keys: r.keys } : {}), run: () => navigate(r.path) })),
      { id: 'theme', title: 'Switch theme (light, dark, system)', run: cycleTheme },
    ],
    [theme],
  );

  useEffect(() => {
    let pendingG = false;
    const onKey = (e: KeyboardEvent): void => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setPalette((p) => !p);
        return;
      }
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || t.closest('.xterm'))) return;
      if (pendingG) {
        pendingG = false;
        const r = ROUTES.find((x) => x.keys === `g ${e.key}`);
        if (r) navigate(r.path);
        return;
      }
      if (e.key === 'g' && !e.ctrlKey && !e.metaKey && !e.altKey) pendingG = true;
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  let screen: ReactNode = null;
  let title = 'Berth Desktop';
  for (const r of ROUTES) {
    const params = matchRoute(r.path, path);
    if (params) {
      screen = r.render(params);
      title = `${r.title} — Berth Desktop`;
      break;
    }
  }
  useEffect(() => {
    document.title = title;
  }, [title]);
  const navPath = '/' + (path.split('/')[1] ?? '');

  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Berth Desktop</span>
        <JobsIndicator />
        <EngineStatusPill />
        <button type="button" className="btn" onClick={cycleTheme} aria-label={`Theme: ${theme}. Switch theme`}>
          Theme: {theme}
        </button>
        <button type="button" className="btn" onClick={() => setPalette(true)} aria-label="Open the command palette" title="Ctrl+K">
          ⌘K
        </button>
      </header>
      <nav className="sidebar" aria-label="Screens">
        {ROUTES.filter((r) => r.nav).map((r) => (
          <a key={r.path} href={`#${r.path}`} aria-current={navPath === r.path || (r.path === '/' && path === '/') ? 'page' : undefined}>
            {r.title}
          </a>
        ))}
      </nav>
      <main id="main">{screen ?? <p>Nothing here. <a href="#/">Back to the dashboard</a></p>}</main>
      {palette && <CommandPalette base={base} onClose={() => setPalette(false)} />}
      <Toasts />
    </div>
  );
}
