/**
 * Troubleshoot: what to look at when something is off — the app's and the engine's versions,
 * the API's round-trip times, Start or Restart engine, the engine's own log (berthd keeps one;
 * the bridge finds it beside the socket), a JSON bundle of all of it to attach to a bug report,
 * and Reset to defaults, which lists what it would delete before it does.
 */
import { useState, type ReactNode } from 'react';
import type { Diagnostics, ResetResult } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { restartEngine, startEngine, useIntent, type EngineHelp } from '../commands';
import { DaemonLog } from '../components/DaemonLog';
import { useSubmit } from '../components/FormDialog';
import { Button, Dialog, ErrorBanner, toast } from '../components/ui';
import { formatBytes } from '../format';
import { Copy, Download, Power, RefreshCw, Trash2 } from '../icons';
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

function ResetDialog(props: { onClose: () => void }): ReactNode {
  const plan = useCall('engine.resetPlan', {}, []);
  const [typed, setTyped] = useState('');
  const [result, setResult] = useState<ResetResult>();
  const { busy, error, run } = useSubmit();
  const p = plan.data;
  const reset = (): Promise<void> => run(async () => setResult(await bridge().invoke('engine.reset', { confirm: 'reset' })));
  const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
  const names = (list: string[]): string => (list.length > 6 ? `${list.slice(0, 6).join(', ')} and ${list.length - 6} more` : list.join(', '));
  return (
    <Dialog
      title="Reset to defaults?"
      onClose={props.onClose}
      wide
      footer={
        result ? (
          <Button
            kind="primary"
            onClick={() => {
              props.onClose();
              location.reload();
            }}
          >
            Done
          </Button>
        ) : (
          <>
            <Button onClick={props.onClose}>Cancel</Button>
            <Button kind="danger" engine disabled={!p || busy || typed !== 'reset'} onClick={() => void reset()}>
              {busy ? 'Deleting…' : 'Delete everything and reset'}
            </Button>
          </>
        )
      }
    >
      <ErrorBanner error={plan.error ?? error} />
      {result ? (
        <div role="status">
          <p>
            Deleted {count(result.removed.containers, 'container')}, {count(result.removed.images, 'image')}, {count(result.removed.volumes, 'volume')} and{' '}
            {count(result.removed.networks, 'network')}. The app's settings are back to their defaults.
          </p>
          {result.failures.length > 0 && (
            <div className="error-banner">
              <span>Not removed: {result.failures.join('; ')}</span>
            </div>
          )}
        </div>
      ) : !p ? (
        <p className="muted">Finding out what would be deleted…</p>
      ) : (
        <>
          <p>
            This deletes, on the engine <strong>{p.engine}</strong>, everything below, and cannot be undone. Volumes hold data your containers saved: export the ones
            you need first (Volumes → Export).
          </p>
          <ul className="reset-plan">
            <li>
              <strong>{count(p.containers.length, 'container')}</strong>
              {p.containers.some((c) => c.running) && ` (${p.containers.filter((c) => c.running).length} running, stopped first)`}
              {p.containers.length > 0 && <span className="muted">: {names(p.containers.map((c) => c.name))}</span>}
            </li>
            <li>
              <strong>{count(p.images.length, 'image')}</strong> ({formatBytes(p.imagesSize)}){p.images.length > 0 && <span className="muted">: {names(p.images.map((i) => i.name))}</span>}
            </li>
            <li>
              <strong>{count(p.volumes.length, 'volume')}</strong> ({formatBytes(p.volumes.reduce((n, v) => n + v.size, 0))} of data)
              {p.volumes.length > 0 && <span className="muted">: {names(p.volumes.map((v) => v.name))}</span>}
            </li>
            <li>
              <strong>{count(p.networks.length, 'network')}</strong> you made{p.networks.length > 0 && <span className="muted">: {names(p.networks)}</span>}
            </li>
            {p.buildCacheSize > 0 && (
              <li>
                <strong>the build cache</strong> ({formatBytes(p.buildCacheSize)})
              </li>
            )}
            <li>
              <strong>the app's settings</strong>: {p.settings.join('; ')}
            </li>
          </ul>
          <label className="field">
            Type <code>reset</code> to confirm
            <input value={typed} onChange={(e) => setTyped(e.target.value.trim().toLowerCase())} autoComplete="off" />
          </label>
        </>
      )}
    </Dialog>
  );
}

function EngineControls(props: { control: Diagnostics['control']; up: boolean }): ReactNode {
  const [busy, setBusy] = useState(false);
  const [help, setHelp] = useState<EngineHelp>();
  const act = async (fn: () => Promise<EngineHelp | undefined>): Promise<void> => {
    setBusy(true);
    setHelp(await fn());
    setBusy(false);
  };
  return (
    <>
      <div className="row engine-controls">
        {props.up ? (
          <Button icon={RefreshCw} disabled={busy} onClick={() => void act(restartEngine)} title={props.control.restart ?? 'Shows what to run'}>
            {busy ? 'Restarting…' : 'Restart engine'}
          </Button>
        ) : (
          <Button kind="primary" icon={Power} disabled={busy} onClick={() => void act(startEngine)} title={props.control.start ?? 'Shows what to run'}>
            {busy ? 'Starting…' : 'Start engine'}
          </Button>
        )}
        <span className="muted">{props.up ? (props.control.restart ? `Berth Desktop ${props.control.restart}.` : '') : props.control.start ? `Berth Desktop ${props.control.start}.` : ''}</span>
      </div>
      {help && (
        <p className="callout" role="status">
          {help.instructions}
          {help.command && (
            <Button size="small" kind="ghost" icon={Copy} iconOnly label="Copy the command" onClick={() => void navigator.clipboard.writeText(help.command!).then(() => toast('Copied the command'))} />
          )}
        </p>
      )}
    </>
  );
}

export function Troubleshoot(): ReactNode {
  const diag = useCall('diagnostics.collect', {}, []);
  const [resetting, setResetting] = useState(false);
  const d = diag.data;
  const e = d?.engine;
  const exportNow = (): void => {
    if (d) void exportBundle(d).catch((err: unknown) => toast(`Export failed: ${errorText(err)}`, 'bad'));
  };
  useIntent('troubleshoot:reset', () => setResetting(true));
  useIntent('troubleshoot:export', exportNow);
  return (
    <section aria-labelledby="trouble-title" className="screen">
      <div className="row screen-head">
        <h1 id="trouble-title" tabIndex={-1}>
          Troubleshoot
        </h1>
        <span className="spacer" />
        <Button icon={RefreshCw} onClick={diag.reload} disabled={diag.loading}>
          Collect again
        </Button>
        <Button kind="primary" icon={Download} disabled={!d} onClick={exportNow}>
          Export diagnostics
        </Button>
      </div>
      <ErrorBanner error={diag.error} onRetry={diag.reload} />
      {d && e && (
        <>
          <section className="panel" aria-labelledby="versions-title">
            <h2 id="versions-title">Engine</h2>
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
                {e.state === 'running' ? `running · version ${e.version} · API ${e.apiVersion} · ${e.os}` : e.state === 'starting' ? 'starting' : `not running: ${e.reason}. ${e.fix}`}
              </dd>
              <dt>API latency</dt>
              <dd>{latency(d.pingMs)}</dd>
            </dl>
            <EngineControls control={d.control} up={e.state === 'running'} />
          </section>
          <section className="panel" aria-labelledby="daemon-log-title">
            <div className="row">
              <h2 id="daemon-log-title">Engine log</h2>
              {d.daemonLog.path && <span className="muted mono">{d.daemonLog.path}</span>}
            </div>
            {d.daemonLog.text !== null ? (
              <DaemonLog text={d.daemonLog.text} />
            ) : (
              <p className="callout">{d.daemonLog.note}</p>
            )}
          </section>
          <section className="panel danger-zone" aria-labelledby="reset-title">
            <h2 id="reset-title">Reset to defaults</h2>
            <p className="muted">Deletes every container, image, volume, network you made and the build cache on this engine, and resets the app's settings. You see the list first.</p>
            <Button kind="danger" icon={Trash2} engine onClick={() => setResetting(true)}>
              Reset to defaults…
            </Button>
          </section>
        </>
      )}
      {resetting && <ResetDialog onClose={() => setResetting(false)} />}
    </section>
  );
}
