/**
 * The first screen: the engine, what it holds and the disk that takes — counted exactly as
 * `docker system df` counts (one /system/df answer: images are the top-level ones the Images
 * screen lists, shared layers once; every container, paused ones active; volumes with their
 * sizes) — recent activity, and quick actions.
 */
import type { ReactNode } from 'react';
import type { SystemDf } from '../../../types/engine-api';
import { LastKnown } from '../components/EngineBanner';
import { Ago, Button, ErrorBanner } from '../components/ui';
import { formatBytes, shortId } from '../format';
import { Box, Download, HardDrive, Layers, LifeBuoy, Play, Sparkles } from '../icons';
import { HELPER_LABEL } from '../labels';
import { navigate } from '../router';
import { useCall, useEngineStatus, useRecentEvents } from '../state';
import type { EventMessage } from '../../../types/engine-api';

export interface DiskSummary {
  images: { total: number; active: number; size: number; reclaimable: number };
  containers: { total: number; active: number; running: number; paused: number; size: number; reclaimable: number };
  volumes: { total: number; active: number; size: number; reclaimable: number };
  buildCache: number;
}

const ACTIVE = new Set(['running', 'paused', 'restarting']);

/** The same sums the docker CLI prints for `docker system df`. */
export function summarize(df: SystemDf): DiskSummary {
  const images = df.Images ?? [];
  const used = images.filter((i) => i.Containers > 0);
  const inUse = used.reduce((n, i) => (i.Size < 0 || i.SharedSize < 0 ? n : n + i.Size - i.SharedSize), 0);
  const containers = (df.Containers ?? []).filter((c) => !c.Labels?.[HELPER_LABEL]);
  const cSize = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const volumes = df.Volumes ?? [];
  const vSize = (v: (typeof volumes)[number]): number => Math.max(0, v.UsageData?.Size ?? 0);
  return {
    images: { total: images.length, active: used.length, size: df.LayersSize, reclaimable: df.LayersSize - inUse },
    containers: {
      total: containers.length,
      active: containers.filter((c) => ACTIVE.has(c.State)).length,
      running: containers.filter((c) => c.State === 'running').length,
      paused: containers.filter((c) => c.State === 'paused').length,
      size: cSize,
      reclaimable: containers.filter((c) => !ACTIVE.has(c.State)).reduce((n, c) => n + (c.SizeRw ?? 0), 0),
    },
    volumes: {
      total: volumes.length,
      active: volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length,
      size: volumes.reduce((n, v) => n + vSize(v), 0),
      reclaimable: volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((n, v) => n + vSize(v), 0),
    },
    buildCache: (df.BuildCache ?? []).reduce((n, b) => n + (b.Size ?? 0), 0),
  };
}

function Card(props: { id: string; icon: typeof Box; label: string; count: number | undefined; detail: ReactNode; size?: number; reclaimable?: number; href?: string }): ReactNode {
  const Icon = props.icon;
  const body = (
    <>
      <div className="card-head">
        <Icon size={18} aria-hidden="true" />
        <span className="label">{props.label}</span>
      </div>
      <div className="value" data-count={props.count}>
        {props.count ?? '—'}
      </div>
      <div className="card-detail">{props.detail}</div>
      {props.size !== undefined && (
        <div className="card-size">
          <span data-bytes={props.size} title={`${props.size.toLocaleString()} bytes`}>
            {formatBytes(props.size)}
          </span>{' '}
          on disk
          {props.reclaimable !== undefined && props.reclaimable > 0 && (
            <span className="muted" data-reclaimable={props.reclaimable}>
              {' '}
              · {formatBytes(props.reclaimable)} reclaimable
            </span>
          )}
        </div>
      )}
    </>
  );
  return (
    <div className="card" role="group" aria-labelledby={`card-${props.id}`} id={`card-${props.id}-box`}>
      <span id={`card-${props.id}`} className="visually-hidden">
        {props.label}
      </span>
      {props.href ? (
        <a href={props.href} className="card-link">
          {body}
        </a>
      ) : (
        body
      )}
    </div>
  );
}

function describe(e: EventMessage): string {
  const name = e.Actor.Attributes['name'] ?? shortId(e.Actor.ID);
  return `${e.Type} ${name}: ${e.Action}`;
}

export function Dashboard(): ReactNode {
  const status = useEngineStatus();
  const info = useCall('system.info', {}, ['container', 'image']);
  const df = useCall('system.df', {}, ['container', 'image', 'volume']);
  const settings = useCall('settings.get', {}, []);
  const events = useRecentEvents();
  const d = df.data ? summarize(df.data) : undefined;
  const tour = settings.data;
  const tourHalfway = tour && !tour.onboardingDone && tour.tour.step > 0;
  return (
    <section aria-labelledby="dash-title" className="screen">
      <div className="row screen-head">
        <h1 id="dash-title" tabIndex={-1}>
          Dashboard
        </h1>
        <LastKnown />
        <span className="spacer" />
        <span className="muted">{status?.state === 'running' ? `Engine ${status.version} · ${status.latencyMs.toFixed(1)} ms` : ''}</span>
      </div>
      <ErrorBanner error={df.error ?? info.error} onRetry={df.reload} />
      <div className="cards">
        <Card
          id="containers"
          icon={Box}
          label="Containers"
          count={d?.containers.total}
          href="#/containers"
          detail={d ? `${d.containers.active} active: ${d.containers.running} running, ${d.containers.paused} paused` : '…'}
          {...(d ? { size: d.containers.size, reclaimable: d.containers.reclaimable } : {})}
        />
        <Card
          id="images"
          icon={Layers}
          label="Images"
          count={d?.images.total}
          href="#/images"
          detail={d ? `${d.images.active} in use by containers` : '…'}
          {...(d ? { size: d.images.size, reclaimable: d.images.reclaimable } : {})}
        />
        <Card
          id="volumes"
          icon={HardDrive}
          label="Volumes"
          count={d?.volumes.total}
          href="#/volumes"
          detail={d ? `${d.volumes.active} in use` : '…'}
          {...(d ? { size: d.volumes.size, reclaimable: d.volumes.reclaimable } : {})}
        />
      </div>
      {tourHalfway && (
        <div className="callout tour-callout">
          <Sparkles size={18} aria-hidden="true" />
          <span>You are half-way through the tour (step {tour.tour.step + 1} of 5).</span>
          <Button kind="primary" onClick={() => navigate('/welcome')}>
            Resume the tour
          </Button>
        </div>
      )}
      <div className="dash-grid">
        <section className="panel" aria-labelledby="quick-title">
          <h2 id="quick-title">Quick actions</h2>
          <div className="quick-actions">
            <Button kind="primary" icon={Download} onClick={() => navigate('/images/pull')}>
              Pull an image
            </Button>
            <Button icon={Play} onClick={() => navigate('/images/run')}>
              Run a container
            </Button>
            {!tourHalfway && (
              <Button icon={Sparkles} onClick={() => navigate('/welcome')}>
                Take the tour
              </Button>
            )}
            <Button icon={LifeBuoy} onClick={() => navigate('/troubleshoot')}>
              Troubleshoot
            </Button>
          </div>
          {info.data && (
            <p className="muted engine-facts">
              {info.data.Name} · {info.data.OperatingSystem} · {info.data.NCPU} CPUs · {formatBytes(info.data.MemTotal)} memory
              {d && d.buildCache > 0 ? ` · build cache ${formatBytes(d.buildCache)}` : ''}
            </p>
          )}
        </section>
        <section className="panel" aria-labelledby="activity-title">
          <h2 id="activity-title">Recent activity</h2>
          {events.length === 0 ? (
            <p className="muted">Nothing yet: engine events appear here as they happen.</p>
          ) : (
            <ul aria-label="Recent engine events" className="activity">
              {events.slice(0, 12).map((e) => (
                <li key={`${e.timeNano}-${e.Actor.ID}-${e.Action}`}>
                  <span>{describe(e)}</span> <span className="muted">
                    <Ago time={e.time} />
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </section>
  );
}
