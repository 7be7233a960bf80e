/**
 * The first screen: engine status and version (with Start when the engine is in the stopped VM),
 * counts, disk usage, recent activity, quick actions.
 */
import type { ReactNode } from 'react';
import type { EventMessage } from '../../../types/engine-api';
import { Button, ErrorBanner } from '../components/ui';
import { formatAgo, formatBytes, shortId } from '../format';
import { navigate } from '../router';
import { useCall, useEngineStatus, useRecentEvents } from '../state';
import { VmEngineDown } from './VmPanel';

function Card(props: { label: string; value: ReactNode; href?: string }): ReactNode {
  const body = (
    <>
      <div className="value">{props.value}</div>
      <div className="label">{props.label}</div>
    </>
  );
  return <div className="card">{props.href ? <a href={props.href} style={{ color: 'inherit', textDecoration: 'none' }}>{body}</a> : body}</div>;
}

function describe(e: EventMessage): string {
  const name = e.Actor.Attributes['name'] ?? shortId(e.Actor.ID);
  return `${e.Type} ${name}: ${e.Action}`;
}

export function Dashboard(): ReactNode {
  const status = useEngineStatus();
  const info = useCall('system.info', {}, ['container', 'image']);
  const df = useCall('system.df', {}, ['container', 'image', 'volume']);
  const events = useRecentEvents();
  const d = df.data;
  const imagesSize = d?.Images?.reduce((n, i) => n + (i.Size ?? 0), 0);
  const volumesSize = d?.Volumes?.reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const containersSize = d?.Containers?.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  return (
    <section aria-labelledby="dash-title">
      <h1 id="dash-title">Dashboard</h1>
      {status?.state === 'unreachable' && status.engine.kind === 'vm' && <VmEngineDown status={status} />}
      {status?.state === 'unreachable' && status.engine.kind !== 'vm' && (
        <div className="error-banner" role="alert">
          <span>
            <strong>The engine is unreachable</strong> ({status.engine.host}): {status.reason}. {status.fix}
          </span>
        </div>
      )}
      <ErrorBanner error={info.error} onRetry={info.reload} />
      <div className="cards">
        <Card label="Engine" value={status?.state === 'running' ? `${status.version}` : (status?.state ?? '…')} />
        <Card label="Containers running" value={info.data?.ContainersRunning ?? '—'} href="#/containers" />
        <Card label="Containers stopped" value={info.data?.ContainersStopped ?? '—'} href="#/containers" />
        <Card label="Images" value={info.data?.Images ?? '—'} href="#/images" />
        <Card label="Images on disk" value={formatBytes(imagesSize)} />
        <Card label="Volumes on disk" value={formatBytes(volumesSize)} href="#/volumes" />
        <Card label="Container layers" value={formatBytes(containersSize)} />
        <Card label="API latency" value={status?.state === 'running' ? `${status.latencyMs.toFixed(1)} ms` : '—'} />
      </div>
      <div className="panel">
        <h2>Quick actions</h2>
        <div className="row" style={{ marginTop: 12 }}>
          <Button kind="primary" onClick={() => navigate('/images/pull')}>
            Pull an image
          </Button>
          <Button onClick={() => navigate('/images/run')}>Run a container</Button>
          <Button onClick={() => navigate('/welcome')}>Start the tour</Button>
          <Button onClick={() => navigate('/troubleshoot')}>Troubleshoot</Button>
        </div>
      </div>
      <div className="panel">
        <h2>Recent activity</h2>
        {events.length === 0 ? (
          <p className="muted">Nothing yet: engine events appear here as they happen.</p>
        ) : (
          <ul aria-label="Recent engine events">
            {events.slice(0, 15).map((e) => (
              <li key={`${e.timeNano}-${e.Actor.ID}-${e.Action}`}>
                {describe(e)} <span className="muted">· {formatAgo(e.time)}</span>
              </li>
            ))}
          </ul>
        )}
        {info.data && (
          <p className="muted">
            {info.data.Name} · {info.data.OperatingSystem} · {info.data.NCPU} CPUs · {formatBytes(info.data.MemTotal)} memory
          </p>
        )}
      </div>
    </section>
  );
}
