/**
 * Troubleshoot: what to look at when something is off — the app's and the engine's versions,
 * the API's round-trip times, the daemon log's tail (or how to make it available), and a JSON
 * bundle of all of it to attach to a bug report.
 */
import type { ReactNode } from 'react';
import type { Diagnostics } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { Button, ErrorBanner, toast } from '../components/ui';
import { useCall } from '../state';

function latency(ms: number[]): string {
  if (ms.length === 0) return 'no pings answered';
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `median ${median.toFixed(1)} ms · min ${sorted[0]!.toFixed(1)} ms · max ${sorted[sorted.length - 1]!.toFixed(1)} ms (${ms.length} pings)`;
}

/** Saves the diagnostics, plus the engine's version and info when it answers, as a JSON file. */
async function exportBundle(d: Diagnostics): Promise<void> {
  const b = bridge();
  const [version, info] = await Promise.allSettled([b.invoke('system.version', {}), b.invoke('system.info', {})]);
  const bundle = {
    collectedAt: new Date().toISOString(),
    diagnostics: d,
    engineVersion: version.status === 'fulfilled' ? version.value : { error: errorText(version.reason) },
    engineInfo: info.status === 'fulfilled' ? info.value : { error: errorText(info.reason) },
  };
  const url = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `berth-diagnostics-${bundle.collectedAt.replace(/[:.]/g, '-')}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function Troubleshoot(): ReactNode {
  const diag = useCall('diagnostics.collect', {}, []);
  const d = diag.data;
  const e = d?.engine;
  return (
    <section aria-labelledby="trouble-title">
      <div className="row screen-head">
        <h1 id="trouble-title">Troubleshoot</h1>
        <span className="spacer" />
        <Button onClick={diag.reload} disabled={diag.loading}>
          Collect again
        </Button>
        <Button kind="primary" disabled={!d} onClick={() => d && void exportBundle(d).catch((err: unknown) => toast(`Export failed: ${errorText(err)}`, 'bad'))}>
          Export diagnostics
        </Button>
      </div>
      <ErrorBanner error={diag.error} onRetry={diag.reload} />
      {d && e && (
        <>
          <section className="panel" aria-labelledby="versions-title">
            <h2 id="versions-title">Versions</h2>
            <dl className="facts">
              <dt>Berth Desktop</dt>
              <dd>
                {d.appVersion} ({d.bridge === 'electron' ? 'desktop app' : 'web mode'}, {d.platform})
              </dd>
              <dt>Engine</dt>
              <dd>
                {e.engine.name} · <span className="mono">{e.engine.host}</span>
              </dd>
              <dt>Engine state</dt>
              <dd>
                {e.state === 'running' ? `running · version ${e.version} · API ${e.apiVersion} · ${e.os}` : e.state === 'starting' ? 'starting' : `unreachable: ${e.reason}. ${e.fix}`}
              </dd>
              <dt>API latency</dt>
              <dd>{latency(d.pingMs)}</dd>
            </dl>
          </section>
          <section className="panel" aria-labelledby="daemon-log-title">
            <h2 id="daemon-log-title">Daemon log</h2>
            {d.daemonLog !== null ? (
              <pre className="log-tail" tabIndex={0} aria-label="Daemon log, last lines">
                {d.daemonLog}
              </pre>
            ) : (
              <p>
                The daemon's log is not known to Berth Desktop. Start berthd with its output going to a file and set <code>BERTH_DAEMON_LOG</code> to that
                file's path before starting the app, e.g. <code>berthd 2&gt;&gt;/var/log/berthd.log</code> and{' '}
                <code>BERTH_DAEMON_LOG=/var/log/berthd.log</code>.
              </p>
            )}
          </section>
        </>
      )}
    </section>
  );
}
