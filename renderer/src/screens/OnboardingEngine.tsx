/** The tour's first step: is the engine there? If not, why, and Start engine right here. */
import { useState, type ReactNode } from 'react';
import type { EngineStatus } from '../../../types/desktop-api';
import { bridge } from '../bridge';
import { startEngine, type EngineHelp } from '../commands';
import { Button } from '../components/ui';
import { Check, Power } from '../icons';

export function EngineStep(props: { status: EngineStatus | undefined; onCheck: (s: EngineStatus) => void; onNext: () => void }): ReactNode {
  const s = props.status;
  const [checking, setChecking] = useState(false);
  const [help, setHelp] = useState<EngineHelp>();
  const check = (): void => {
    setChecking(true);
    bridge()
      .invoke('engine.status', {})
      .then(props.onCheck)
      .catch(() => undefined)
      .finally(() => setChecking(false));
  };
  const start = async (): Promise<void> => {
    setChecking(true);
    setHelp(await startEngine());
    setChecking(false);
  };
  return (
    <>
      <p>Berth Desktop drives a container engine (berthd, Docker-compatible). First, let's make sure it answers.</p>
      <div role="status" className={`callout${s?.state === 'running' ? ' callout-ok' : ''}`}>
        {s === undefined || checking ? (
          'Checking the engine…'
        ) : s.state === 'running' ? (
          <>
            <Check size={16} aria-hidden="true" /> The engine at <code>{s.engine.host}</code> is running: version {s.version}, API {s.apiVersion}, {s.os}.
          </>
        ) : s.state === 'starting' ? (
          'The engine is starting…'
        ) : (
          <>
            <strong>The engine at {s.engine.host} is not running:</strong> {s.reason}.<br />
            How to fix it: {s.fix}
          </>
        )}
        {help && <p>{help.instructions}</p>}
      </div>
      <div className="row">
        {s?.state === 'running' ? (
          <Button kind="primary" onClick={props.onNext}>
            Next: pull an image
          </Button>
        ) : (
          <>
            <Button kind="primary" icon={Power} onClick={() => void start()} disabled={checking}>
              Start engine
            </Button>
            <Button onClick={check} disabled={checking}>
              Check again
            </Button>
          </>
        )}
      </div>
    </>
  );
}
