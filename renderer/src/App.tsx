/**
 * The app shell: a skip link, the top bar (brand, running jobs, engine status, theme, the
 * command palette), the sidebar of screens, the engine-down banner and the routed screen.
 * Global keys: Ctrl/Cmd+K opens the palette from anywhere (the terminal included), and "g"
 * followed by a screen's letter goes there.
 */
import { useEffect, useState, type ReactNode } from 'react';
import type { Theme } from '../../types/desktop-api';
import { bridge } from './bridge';
import { CommandPalette } from './components/CommandPalette';
import { EngineBanner } from './components/EngineBanner';
import { Toasts } from './components/ui';
import { Monitor, Moon, Search, Sun } from './icons';
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
          : ['bad', 'Engine stopped'];
  return (
    <a href="#/troubleshoot" className="status-pill" role="status" aria-label={`Engine status: ${text}`} title={s?.state === 'unreachable' ? `${s.reason}. ${s.fix}` : s?.state === 'running' ? s.engine.host : undefined}>
      <span className={`status-dot ${tone}`} aria-hidden="true" />
      {text}
    </a>
  );
}

function JobsIndicator(): ReactNode {
  const running = useJobs().filter((j) => j.state === 'running');
  if (running.length === 0) return null;
  return (
    <a href="#/images" className="jobs-indicator" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {running.length === 1 ? running[0]!.title : `${running.length} jobs running`}
    </a>
  );
}

const THEME_ICON = { light: Sun, dark: Moon, system: Monitor } as const;
const THEME_NEXT: Record<Theme, Theme> = { system: 'light', light: 'dark', dark: 'system' };

function ThemeButton(): ReactNode {
  const theme = useTheme();
  const Icon = THEME_ICON[theme];
  const cycle = (): void => {
    const next = THEME_NEXT[theme];
    applyTheme(next);
    void bridge().invoke('settings.set', { theme: next }).catch(() => undefined);
  };
  return (
    <button type="button" className="btn btn-ghost" onClick={cycle} aria-label={`Theme: ${theme}. Switch to ${THEME_NEXT[theme]}`} title={`Theme: ${theme}`}>
      <Icon size={16} aria-hidden="true" />
      <span className="topbar-label">{theme === 'system' ? 'System' : theme === 'light' ? 'Light' : 'Dark'}</span>
    </button>
  );
}

const isMac = /Mac|iPhone|iPad/.test(navigator.platform);

export function App(): ReactNode {
  const path = useRoute();
  const [palette, setPalette] = useState(false);

  useEffect(() => {
    startFeeds();
    bridge()
      .invoke('settings.get', {})
      .then((s) => {
        applyTheme(s.theme);
        // A fresh profile opens the tour; one left half-way is offered on the dashboard instead of reopening at every launch.
        const atStart = ['', '/'].includes(location.hash.replace(/^#/, ''));
        if (!s.onboardingDone && s.tour.step === 0 && atStart) navigate('/welcome');
      })
      .catch(() => applyTheme('system'));
  }, []);

  useEffect(() => {
    let pendingG = false;
    const onKey = (e: KeyboardEvent): void => {
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        e.stopPropagation();
        setPalette((p) => !p);
        return;
      }
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || t.closest('.xterm, [role=dialog]'))) return;
      if (pendingG) {
        pendingG = false;
        const r = ROUTES.find((x) => x.keys === `g ${e.key}`);
        if (r) navigate(r.path);
        return;
      }
      if (e.key === 'g' && !e.ctrlKey && !e.metaKey && !e.altKey) pendingG = true;
    };
    // Capture: the terminal would otherwise take Ctrl+K for itself.
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
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
  const navPath = '/' + (path.split(/[/?]/)[1] ?? '');

  return (
    <div className="app">
      <a className="skip-link" href="#main" onClick={(e) => {
        e.preventDefault();
        const main = document.getElementById('main');
        (main?.querySelector<HTMLElement>('h1') ?? main)?.focus();
      }}>
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href="#/" aria-label="Berth Desktop, dashboard">
          <img src="./icon.svg" alt="" width={24} height={24} />
          <span>Berth</span>
        </a>
        <button type="button" className="palette-trigger" onClick={() => setPalette(true)} aria-keyshortcuts={isMac ? 'Meta+K' : 'Control+K'}>
          <Search size={15} aria-hidden="true" />
          <span>Search or run a command</span>
          <kbd>{isMac ? '⌘K' : 'Ctrl K'}</kbd>
        </button>
        <span className="spacer" />
        <JobsIndicator />
        <EngineStatusPill />
        <ThemeButton />
      </header>
      <nav className="sidebar" aria-label="Screens">
        {ROUTES.filter((r) => r.nav).map((r) => {
          const Icon = r.icon;
          return (
            <a key={r.path} href={`#${r.path}`} aria-current={navPath === r.path || (r.path === '/' && path === '/') ? 'page' : undefined}>
              {Icon && <Icon size={18} aria-hidden="true" />}
              <span>{r.title}</span>
            </a>
          );
        })}
      </nav>
      <main id="main" tabIndex={-1}>
        <EngineBanner />
        {screen ?? (
          <p>
            Nothing here. <a href="#/">Back to the dashboard</a>
          </p>
        )}
      </main>
      {palette && <CommandPalette onClose={() => setPalette(false)} />}
      <Toasts />
    </div>
  );
}
