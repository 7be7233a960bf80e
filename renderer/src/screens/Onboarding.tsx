/**
 * First run: a five-step tour on the user's real engine — check the engine, pull a sample image
 * from a registry the user picks, run it with a published port, open its terminal and logs, and
 * where to go next. Skip and Finish both mark the tour done (settings.onboardingDone) so the app
 * stops opening it.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { bridge, errorText } from '../bridge';
import { portProblem } from '../components/forms';
import { JobProgress } from '../components/PullDialog';
import { Button } from '../components/ui';
import { navigate } from '../router';
import { engineStatus, useCall, useEngineStatus, useJobs } from '../state';

const STEPS = ['Check the engine', 'Pull an image', 'Run a container', 'Look inside', 'What next'];

async function finish(): Promise<void> {
  try {
    await bridge().invoke('settings.set', { onboardingDone: true });
  } finally {
    navigate('/');
  }
}

function EngineStep(props: { onNext: () => void }): ReactNode {
  const s = useEngineStatus();
  const [checking, setChecking] = useState(false);
  const check = (): void => {
    setChecking(true);
    bridge()
      .invoke('engine.status', {})
      .then((v) => engineStatus.set(v))
      .catch(() => undefined)
      .finally(() => setChecking(false));
  };
  return (
    <>
      <p>Berth Desktop drives a container engine (berthd, Docker-compatible). First, let's make sure it answers.</p>
      <div role="status" className="panel">
        {s === undefined || checking ? (
          'Checking the engine…'
        ) : s.state === 'running' ? (
          <>
            The engine at <code>{s.engine.host}</code> is running: version {s.version}, API {s.apiVersion}, {s.os}.
          </>
        ) : s.state === 'starting' ? (
          'The engine is starting…'
        ) : (
          <>
            <strong>The engine at {s.engine.host} is unreachable:</strong> {s.reason}.<br />
            How to fix it: {s.fix}
          </>
        )}
      </div>
      <div className="row">
        {s?.state === 'running' ? (
          <Button kind="primary" onClick={props.onNext}>
            Next: pull an image
          </Button>
        ) : (
          <Button kind="primary" onClick={check} disabled={checking}>
            Check again
          </Button>
        )}
      </div>
    </>
  );
}

function PullStep(props: { image: string; setImage: (ref: string) => void; onNext: () => void }): ReactNode {
  const settings = useCall('settings.get', {}, []);
  const [registry, setRegistry] = useState<string>();
  const [name, setName] = useState<string>();
  const [jobId, setJobId] = useState<string>();
  const [error, setError] = useState<string>();
  const job = useJobs().find((j) => j.id === jobId);
  const reg = (registry ?? settings.data?.sampleRegistry ?? '').trim().replace(/\/+$/, '');
  const img = (name ?? settings.data?.sampleImage ?? '').trim();
  const ref = reg ? `${reg}/${img}` : img;
  const pull = async (): Promise<void> => {
    if (!img) return setError('Type the image to pull.');
    setError(undefined);
    try {
      setJobId((await bridge().invoke('images.pull', { ref })).jobId);
      props.setImage(ref);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <>
      <p>
        An <strong>image</strong> is a packaged filesystem plus a default command, stored in a registry as layers. Pulling copies the layers
        you do not have yet to this engine; images that share layers share them on disk too.
      </p>
      <div className="row">
        <label>
          Registry <input value={registry ?? settings.data?.sampleRegistry ?? ''} onChange={(e) => setRegistry(e.target.value)} placeholder="localhost:5000" />
        </label>
        <label>
          Image <input value={name ?? settings.data?.sampleImage ?? ''} onChange={(e) => setName(e.target.value)} placeholder="library/nginx:latest" />
        </label>
        <Button kind={job?.state === 'done' ? 'plain' : 'primary'} onClick={() => void pull()} disabled={job?.state === 'running'} label={`Pull ${ref}`}>
          Pull
        </Button>
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {job && <JobProgress job={job} />}
      {job?.state === 'done' && (
        <div className="row">
          <Button kind="primary" onClick={props.onNext}>
            Next: run it
          </Button>
        </div>
      )}
      {props.image && !job && <p className="muted">Already pulled {props.image}.</p>}
    </>
  );
}

function RunStep(props: { image: string; container: { id: string; url: string } | undefined; onRan: (c: { id: string; url: string }) => void; onNext: () => void }): ReactNode {
  const [host, setHost] = useState('8080');
  const [port, setPort] = useState('80');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = async (): Promise<void> => {
    const problem = portProblem(host.trim(), false) ?? portProblem(port.trim(), false);
    if (problem) return setError(problem);
    setError(undefined);
    setBusy(true);
    try {
      const { id } = await bridge().invoke('containers.run', { image: props.image, ports: [{ host: host.trim(), container: port.trim(), protocol: 'tcp' }] });
      props.onRan({ id, url: `http://localhost:${host.trim()}/` });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <p>
        A <strong>container</strong> is a process started from an image, with its own filesystem view, network address and logs. A published
        port forwards a port on this computer to a port inside the container, so you can reach the server it runs.
      </p>
      <p>
        Image: <code>{props.image || 'none pulled yet'}</code>
      </p>
      <div className="row">
        <label>
          Port on this computer <input value={host} onChange={(e) => setHost(e.target.value)} inputMode="numeric" size={6} />
        </label>
        <label>
          Port in the container <input value={port} onChange={(e) => setPort(e.target.value)} inputMode="numeric" size={6} />
        </label>
        <Button kind={props.container ? 'plain' : 'primary'} onClick={() => void run()} disabled={busy || !props.image || props.container !== undefined}>
          Run it
        </Button>
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {props.container && (
        <div role="status">
          <p>
            It is running. Open{' '}
            <a href={props.container.url} target="_blank" rel="noreferrer">
              {props.container.url}
            </a>{' '}
            to reach it.
          </p>
          <Button kind="primary" onClick={props.onNext}>
            Next: look inside
          </Button>
        </div>
      )}
    </>
  );
}

function InsideStep(props: { id: string | undefined; onNext: () => void }): ReactNode {
  return (
    <>
      <p>Every container has a terminal (a shell running inside it) and logs (what its process prints). Both open in their own tabs and keep going while you look elsewhere.</p>
      {props.id ? (
        <ul>
          <li>
            <a href={`#/containers/${props.id}/terminal`}>Open a terminal in the container</a>
          </li>
          <li>
            <a href={`#/containers/${props.id}/logs`}>Show the container's logs</a>
          </li>
        </ul>
      ) : (
        <p className="muted">No container was started in the previous step; its terminal and logs are on the Containers screen.</p>
      )}
      <Button kind="primary" onClick={props.onNext}>
        Next: what next
      </Button>
    </>
  );
}

function NextStep(): ReactNode {
  return (
    <>
      <ul>
        <li>
          <a href="#/containers">Containers</a>: start, stop, inspect and watch the resource use of everything running.
        </li>
        <li>
          <a href="#/images">Images</a>: pull more images and run them with ports, volumes and environment.
        </li>
        <li>
          <a href="#/volumes">Volumes</a> and <a href="#/networks">Networks</a>: data that outlives containers, and containers that find each other by name.
        </li>
        <li>
          The <code>docker</code> CLI, docker-compose and SDKs work against the same engine: point <code>DOCKER_HOST</code> at its socket (see{' '}
          <a href="#/settings">Settings</a>).
        </li>
        <li>
          Something off? <a href="#/troubleshoot">Troubleshoot</a> collects versions, latency and the daemon log.
        </li>
      </ul>
      <Button kind="primary" onClick={() => void finish()}>
        Finish
      </Button>
    </>
  );
}

export function Onboarding(): ReactNode {
  const [step, setStep] = useState(0);
  const [image, setImage] = useState('');
  const [container, setContainer] = useState<{ id: string; url: string }>();
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) first.current = false;
    else heading.current?.focus();
  }, [step]);
  const next = (): void => setStep((s) => Math.min(s + 1, STEPS.length - 1));
  return (
    <section aria-labelledby="welcome-title" className="onboarding">
      <div className="row screen-head">
        <h1 id="welcome-title">Welcome to Berth</h1>
        <span className="spacer" />
        <Button onClick={() => void finish()} label="Skip the tour">
          Skip
        </Button>
      </div>
      <ol className="steps" aria-label="Tour steps">
        {STEPS.map((s, i) => (
          <li key={s} aria-current={i === step ? 'step' : undefined} className={i < step ? 'done' : undefined}>
            {s}
          </li>
        ))}
      </ol>
      <div className="panel">
        <p className="muted">
          Step {step + 1} of {STEPS.length}
        </p>
        <h2 ref={heading} tabIndex={-1}>
          {STEPS[step]}
        </h2>
        {step === 0 && <EngineStep onNext={next} />}
        {step === 1 && <PullStep image={image} setImage={setImage} onNext={next} />}
        {step === 2 && <RunStep image={image} container={container} onRan={setContainer} onNext={next} />}
        {step === 3 && <InsideStep id={container?.id} onNext={next} />}
        {step === 4 && <NextStep />}
        {step > 0 && (
          <div className="row step-back">
            <Button onClick={() => setStep(step - 1)}>Back</Button>
          </div>
        )}
      </div>
    </section>
  );
}
