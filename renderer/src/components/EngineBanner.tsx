/**
 * The app-wide notice that the engine is down: shown the moment the engine stops answering,
 * above every screen, with why, Start engine and Troubleshoot. Screens keep their last data
 * (marked "last known" with `LastKnown`) and their engine actions are disabled meanwhile.
 * When the app cannot start the engine itself, the banner says what to run, ready to copy.
 */
import { useState, type ReactNode } from 'react';
import { startEngine, type EngineHelp } from '../commands';
import { formatClock } from '../format';
import { AlertTriangle, Copy, LifeBuoy, Power } from '../icons';
import { navigate } from '../router';
import { lastSeenRunning, useEngineDown, useEngineStatus } from '../state';
import { VmEngineDown } from '../screens/VmPanel';
import { Button, toast } from './ui';

export function EngineBanner(): ReactNode {
  const s = useEngineStatus();
  const [busy, setBusy] = useState(false);
  const [help, setHelp] = useState<EngineHelp>();
  if (!s || s.state === 'running') return null;
  if (s.state === 'unreachable' && s.engine.kind === 'vm') return <VmEngineDown status={s} />;
  const start = async (): Promise<void> => {
    setBusy(true);
    setHelp(await startEngine());
    setBusy(false);
  };
  const command = help?.command;
  return (
    <div className="engine-banner" role="alert" aria-label="Engine not running">
      <AlertTriangle size={20} aria-hidden="true" className="engine-banner-icon" />
      <div className="engine-banner-text">
        <strong>{s.state === 'starting' ? 'The engine is starting…' : 'The engine is not running.'}</strong>{' '}
        {s.state === 'unreachable' && <span>{s.reason.charAt(0).toUpperCase() + s.reason.slice(1)}.</span>}{' '}
        <span className="muted">What you see is the last known state, from {formatClock(lastSeenRunning(), false)}; actions come back when the engine does.</span>
        {help && (
          <p className="engine-banner-instructions">
            {help.instructions}
            {command && (
              <Button
                size="small"
                kind="ghost"
                icon={Copy}
                label="Copy the command"
                iconOnly
                onClick={() => void navigator.clipboard.writeText(command).then(() => toast('Copied the command'))}
              />
            )}
          </p>
        )}
      </div>
      <div className="engine-banner-actions">
        <Button kind="primary" icon={Power} onClick={() => void start()} disabled={busy || s.state === 'starting'}>
          {busy ? 'Starting…' : 'Start engine'}
        </Button>
        <Button icon={LifeBuoy} onClick={() => navigate('/troubleshoot')}>
          Troubleshoot
        </Button>
      </div>
    </div>
  );
}

/** "Last known" next to a heading while the engine is down (the data below is not live). */
export function LastKnown(): ReactNode {
  const down = useEngineDown();
  if (!down) return null;
  return (
    <span className="badge badge-warn last-known" title={`The engine is not answering; this is what it showed at ${formatClock(lastSeenRunning())}`}>
      Last known · {formatClock(lastSeenRunning(), false)}
    </span>
  );
}
