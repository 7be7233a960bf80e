/**
 * One container: a header (name, state, image, ports, actions) over five tabs — logs, terminal,
 * inspect, stats, files. The tab is part of the route (/containers/:id/:tab), so links and
 * reloads land on it; arrow keys move between tabs as the ARIA tabs pattern asks.
 */
import { useEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';
import type { ContainerInspect, Port } from '../../../types/engine-api';
import { FileBrowser } from '../components/FileBrowser';
import { JsonTree } from '../components/JsonTree';
import { LogView } from '../components/LogView';
import { StatsCharts } from '../components/StatsCharts';
import { TerminalView } from '../components/Terminal';
import { registerCommands } from '../components/CommandPalette';
import { ErrorBanner, StateBadge } from '../components/ui';
import { LastKnown } from '../components/EngineBanner';
import { formatAgo, shortId, shortImage } from '../format';
import { Activity, Folder, Info, ScrollText, SquareTerminal } from '../icons';
import { navigate } from '../router';
import { useCall } from '../state';
import { ContainerActions, PortLinks } from './containerActions';

const TABS = [
  { id: 'logs', title: 'Logs', icon: ScrollText },
  { id: 'terminal', title: 'Terminal', icon: SquareTerminal },
  { id: 'inspect', title: 'Inspect', icon: Info },
  { id: 'stats', title: 'Stats', icon: Activity },
  { id: 'files', title: 'Files', icon: Folder },
] as const;
type TabId = (typeof TABS)[number]['id'];

/** Inspect's "80/tcp" → bindings map as the list's Port entries. */
function inspectPorts(c: ContainerInspect): Port[] {
  const out: Port[] = [];
  for (const [spec, bindings] of Object.entries(c.NetworkSettings?.Ports ?? {})) {
    const [port, proto] = spec.split('/');
    for (const b of bindings ?? []) {
      out.push({ PrivatePort: Number(port), PublicPort: Number(b.HostPort), IP: b.HostIp, Type: (proto ?? 'tcp') as Port['Type'] });
    }
  }
  return out;
}

export function ContainerDetail(props: { id: string; tab?: string }): ReactNode {
  const tab: TabId = TABS.some((t) => t.id === props.tab) ? (props.tab as TabId) : 'logs';
  const info = useCall('containers.inspect', { id: props.id }, ['container']);
  const c = info.data;
  const name = c ? c.Name.replace(/^\//, '') : shortId(props.id);
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});
  const go = (t: TabId): void => navigate(`/containers/${encodeURIComponent(props.id)}/${t}`);

  useEffect(
    () =>
      registerCommands(
        'container-detail',
        TABS.map((t) => ({ id: `container-tab-${t.id}`, title: `Container ${name}: ${t.title}`, run: () => go(t.id) })),
      ),
    [name],
  );

  const onTabKey = (e: KeyboardEvent<HTMLDivElement>): void => {
    const i = TABS.findIndex((t) => t.id === tab);
    let next: number;
    if (e.key === 'ArrowRight') next = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') next = (i - 1 + TABS.length) % TABS.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = TABS.length - 1;
    else return;
    e.preventDefault();
    const t = TABS[next]!.id;
    go(t);
    tabRefs.current[t]?.focus();
  };

  const state = c?.State.Status ?? '';
  return (
    <section className="screen-fill" aria-labelledby="container-title">
      <p className="crumbs">
        <a href="#/containers">Containers</a> / {name}
      </p>
      <header className="detail-header">
        <h1 id="container-title" tabIndex={-1}>
          {name}
        </h1>
        {c && <StateBadge state={state} />}
        {c && (
          <span className="muted">
            <span title={c.Config.Image}>{shortImage(c.Config.Image)}</span> · {shortId(c.Id)} · {c.State.Running ? `started ${formatAgo(c.State.StartedAt)}` : `exit code ${c.State.ExitCode}`}
          </span>
        )}
        {c && <PortLinks ports={inspectPorts(c)} hideEmpty />}
        <LastKnown />
        <span className="spacer" />
        {c && <ContainerActions target={{ id: c.Id, name, state }} onRemoved={() => navigate('/containers')} />}
      </header>
      <ErrorBanner error={info.error} onRetry={info.reload} />
      <div className="tabs" role="tablist" aria-label={`${name} views`} onKeyDown={onTabKey}>
        {TABS.map((t) => (
          <button
            key={t.id}
            ref={(el) => {
              tabRefs.current[t.id] = el;
            }}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={t.id === tab}
            aria-controls={`panel-${t.id}`}
            tabIndex={t.id === tab ? 0 : -1}
            onClick={() => go(t.id)}
          >
            <t.icon size={15} aria-hidden="true" />
            {t.title}
          </button>
        ))}
      </div>
      <div className="tab-panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'logs' && <LogView id={props.id} name={name} />}
        {tab === 'terminal' && <TerminalView id={props.id} name={name} />}
        {tab === 'inspect' && (c ? <JsonTree value={c} label={`Inspect ${name}`} /> : <p className="muted">Loading…</p>)}
        {tab === 'stats' && <StatsCharts id={props.id} running={c?.State.Running ?? false} />}
        {tab === 'files' && <FileBrowser id={props.id} />}
      </div>
    </section>
  );
}
