/**
 * First run: a five-step tour on the user's real engine — check the engine, pull a sample image
 * (from Docker Hub unless configured), run it on a free port, open its terminal and logs, and
 * where to go next. Progress is saved in the settings as it goes (settings.tour), so leaving the
 * tour — a link, Back, closing the app — resumes it where it was, with the image it pulled and
 * the container it ran. Skip and Finish both mark the tour done.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { Settings, TourProgress } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { portProblem } from '../components/forms';
import { JobProgress } from '../components/PullDialog';
import { Button } from '../components/ui';
import { shortImage } from '../format';
import { Check, ExternalLink, ScrollText, SquareTerminal } from '../icons';
import { navigate } from '../router';
import { engineStatus, useCall, useEngineStatus, useJobs } from '../state';
import { EngineStep } from './OnboardingEngine';

const STEPS = ['Check the engine', 'Pull an image', 'Run a container', 'Look inside', 'What next'];

function save(tour: TourProgress): void {
  void bridge().invoke('settings.set', { tour }).catch(() => undefined);
}

async function finish(tour: TourProgress): Promise<void> {
  try {
    await bridge().invoke('settings.set', { onboardingDone: true, tour });
  } finally {
    navigate('/');
  }
}

/** The reference the settings name: "nginx:alpine" from Docker Hub, else "<registry>/<image>". */
function sampleRef(registry: string, image: string): string {
  const reg = registry.trim().replace(/\/+$/, '');
  const img = image.trim();
  return reg && reg !== 'docker.io' ? `${reg}/${img}` : img;
}

/** Whether an image with this reference is on the engine (RepoTags are in their short form). */
function hasImage(tags: string[], ref: string): boolean {
  const norm = (r: string): string => shortImage(r.includes(':') || r.includes('@') ? r : `${r}:latest`);
  return tags.some((t) => norm(t) === norm(ref));
}

/** A reference split the way the form shows it: the registry ("docker.io" when it names none) and the rest. */
function splitRef(ref: string): [string, string] {
  const first = ref.split('/')[0] ?? '';
  const hasRegistry = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasRegistry ? [first, ref.slice(first.length + 1)] : ['docker.io', ref];
}

function PullStep(props: { settings: Settings; tour: TourProgress; onPulled: (ref: string) => void; onNext: () => void }): ReactNode {
  const images = useCall('images.list', {}, ['image']);
  // What the tour pulled before, else the configured sample.
  const [firstRegistry, firstName] = props.tour.image ? splitRef(props.tour.image) : [props.settings.sampleRegistry, props.settings.sampleImage];
  const [registry, setRegistry] = useState(firstRegistry);
  const [name, setName] = useState(firstName);
  const [jobId, setJobId] = useState<string>();
  const [error, setError] = useState<string>();
  const job = useJobs().find((j) => j.id === jobId);
  const ref = sampleRef(registry, name);
  const present = hasImage((images.data ?? []).flatMap((i) => i.RepoTags), ref);
  useEffect(() => {
    if (job?.state === 'done' || (present && !job)) props.onPulled(ref);
  }, [job?.state, present, ref]);
  const pull = async (): Promise<void> => {
    if (!name.trim()) return setError('Type the image to pull.');
    setError(undefined);
    try {
      setJobId((await bridge().invoke('images.pull', { ref })).jobId);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const ready = job?.state === 'done' || (present && job?.state !== 'running');
  return (
    <>
      <p>
        An <strong>image</strong> is a packaged filesystem plus a default command, stored in a registry as layers. Pulling copies the layers you do not have yet to
        this engine; images that share layers share them on disk too.
      </p>
      <div className="row form-row">
        <label className="field-inline">
          Registry <input value={registry} onChange={(e) => setRegistry(e.target.value)} placeholder="docker.io" />
        </label>
        <label className="field-inline">
          Image <input value={name} onChange={(e) => setName(e.target.value)} placeholder="library/nginx:alpine" />
        </label>
        <Button kind={ready ? 'plain' : 'primary'} engine onClick={() => void pull()} disabled={job?.state === 'running'} label={`Pull ${ref}`}>
          {present ? 'Pull again' : 'Pull'}
        </Button>
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {job && <JobProgress job={job} />}
      {job?.state === 'failed' && <p className="muted">Change the registry or the image above and pull again, or skip the tour.</p>}
      {present && !job && (
        <p className="callout-ok" role="status">
          <Check size={16} aria-hidden="true" /> {shortImage(ref)} is already on this engine: no need to pull it again.
        </p>
      )}
      {ready && (
        <div className="row">
          <Button kind="primary" onClick={props.onNext}>
            Next: run it
          </Button>
        </div>
      )}
    </>
  );
}

/** The first TCP port the image says it listens on (80 when it says none). */
async function exposedPort(image: string): Promise<string> {
  try {
    const i = await bridge().invoke('images.inspect', { id: image });
    const tcp = Object.keys(i.Config?.ExposedPorts ?? {}).find((p) => p.endsWith('/tcp'));
    return tcp ? tcp.split('/')[0]! : '80';
  } catch {
    return '80';
  }
}

function RunStep(props: { tour: TourProgress; onRan: (id: string, hostPort: number) => void; onNext: () => void }): ReactNode {
  const image = props.tour.image ?? '';
  const [host, setHost] = useState('');
  const [port, setPort] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [existing, setExisting] = useState<{ id: string; running: boolean; hostPort?: number }>();
  useEffect(() => {
    let live = true;
    void (async () => {
      const [free, inside] = await Promise.all([bridge().invoke('system.freePort', { preferred: 8080 }).catch(() => ({ port: 8080 })), exposedPort(image)]);
      if (!live) return;
      setHost((h) => h || String(free.port));
      setPort((p) => p || inside);
      // The container this tour ran before, if it is still there: reuse it instead of a second one.
      if (props.tour.containerId) {
        const c = await bridge().invoke('containers.inspect', { id: props.tour.containerId }).catch(() => undefined);
        if (live && c) setExisting({ id: c.Id, running: c.State.Running, ...(props.tour.hostPort ? { hostPort: props.tour.hostPort } : {}) });
      }
    })();
    return () => {
      live = false;
    };
  }, [image, props.tour.containerId]);
  const run = async (): Promise<void> => {
    const problem = portProblem(host.trim(), false) ?? portProblem(port.trim(), false);
    if (problem) return setError(problem);
    setError(undefined);
    setBusy(true);
    try {
      const { id } = await bridge().invoke('containers.run', { image, ports: [{ host: host.trim(), container: port.trim(), protocol: 'tcp' }] });
      setExisting({ id, running: true, hostPort: Number(host.trim()) });
      props.onRan(id, Number(host.trim()));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const start = async (id: string): Promise<void> => {
    setBusy(true);
    try {
      await bridge().invoke('containers.start', { id });
      setExisting((e) => e && { ...e, running: true });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const url = existing?.hostPort ? `http://localhost:${existing.hostPort}/` : undefined;
  return (
    <>
      <p>
        A <strong>container</strong> is a process started from an image, with its own filesystem view, network address and logs. A published port forwards a port on
        this computer to a port inside the container, so you can reach the server it runs.
      </p>
      <p>
        Image: <code>{image ? shortImage(image) : 'none pulled yet'}</code>
      </p>
      {existing?.running ? null : (
        <div className="row form-row">
          <label className="field-inline">
            Port on this computer <input value={host} onChange={(e) => setHost(e.target.value)} inputMode="numeric" size={6} />
          </label>
          <label className="field-inline">
            Port in the container <input value={port} onChange={(e) => setPort(e.target.value)} inputMode="numeric" size={6} />
          </label>
          {existing && !existing.running ? (
            <Button kind="primary" engine onClick={() => void start(existing.id)} disabled={busy}>
              Start it again
            </Button>
          ) : (
            <Button kind="primary" engine onClick={() => void run()} disabled={busy || !image || !host || !port}>
              Run it
            </Button>
          )}
        </div>
      )}
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {existing?.running && (
        <div role="status">
          <p className="callout-ok">
            <Check size={16} aria-hidden="true" /> It is running.{' '}
            {url && (
              <>
                Open{' '}
                <a href={url} target="_blank" rel="noreferrer">
                  {url} <ExternalLink size={13} aria-hidden="true" />
                </a>{' '}
                to reach it.
              </>
            )}
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
      <p>Every container has a terminal (a shell running inside it) and logs (what its process prints). Both open in their own tabs and keep going while you look elsewhere; the tour waits here for you.</p>
      {props.id ? (
        <ul className="link-list">
          <li>
            <a href={`#/containers/${props.id}/terminal`}>
              <SquareTerminal size={16} aria-hidden="true" /> Open a terminal in the container
            </a>
          </li>
          <li>
            <a href={`#/containers/${props.id}/logs`}>
              <ScrollText size={16} aria-hidden="true" /> Show the container's logs
            </a>
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

function NextStep(props: { onFinish: () => void }): ReactNode {
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
          The <code>docker</code> CLI, docker-compose and SDKs work against the same engine: point <code>DOCKER_HOST</code> at its socket (see <a href="#/settings">Settings</a>).
        </li>
        <li>
          Press <kbd>Ctrl</kbd> <kbd>K</kbd> anywhere to find any command, container or image. Something off? <a href="#/troubleshoot">Troubleshoot</a> shows the
          engine's log.
        </li>
      </ul>
      <Button kind="primary" onClick={props.onFinish}>
        Finish
      </Button>
    </>
  );
}

export function Onboarding(): ReactNode {
  const settings = useCall('settings.get', {}, []);
  const [tour, setTour] = useState<TourProgress>();
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (settings.data && !tour) setTour(settings.data.tour);
  }, [settings.data]);
  const step = tour?.step ?? 0;
  useEffect(() => {
    if (!tour) return;
    if (first.current) first.current = false;
    else heading.current?.focus();
  }, [step]);
  const update = (patch: Partial<TourProgress>): void => {
    setTour((t) => {
      const next = { ...(t ?? { step: 0 }), ...patch };
      save(next);
      return next;
    });
  };
  const goTo = (s: number): void => update({ step: Math.max(0, Math.min(s, STEPS.length - 1)) });
  const s = useEngineStatus();
  if (!tour || !settings.data) return <p className="muted">Loading the tour…</p>;
  return (
    <section aria-labelledby="welcome-title" className="onboarding screen">
      <div className="row screen-head">
        <h1 id="welcome-title" tabIndex={-1}>
          Welcome to Berth
        </h1>
        <span className="spacer" />
        <Button kind="ghost" onClick={() => void finish(tour)} label="Skip the tour">
          Skip
        </Button>
      </div>
      <ol className="steps" aria-label="Tour steps">
        {STEPS.map((name, i) => (
          <li key={name} aria-current={i === step ? 'step' : undefined} className={i < step ? 'done' : undefined}>
            {i < step ? (
              <button type="button" className="step-link" onClick={() => goTo(i)}>
                {name}
              </button>
            ) : (
              name
            )}
          </li>
        ))}
      </ol>
      <div className="panel tour-panel">
        <p className="muted">
          Step {step + 1} of {STEPS.length}
        </p>
        <h2 ref={heading} tabIndex={-1}>
          {STEPS[step]}
        </h2>
        {step === 0 && <EngineStep status={s} onCheck={(v) => engineStatus.set(v)} onNext={() => goTo(1)} />}
        {step === 1 && <PullStep settings={settings.data} tour={tour} onPulled={(image) => image !== tour.image && update({ image })} onNext={() => goTo(2)} />}
        {step === 2 && <RunStep tour={tour} onRan={(containerId, hostPort) => update({ containerId, hostPort })} onNext={() => goTo(3)} />}
        {step === 3 && <InsideStep id={tour.containerId} onNext={() => goTo(4)} />}
        {step === 4 && <NextStep onFinish={() => void finish({ ...tour, step: 0 })} />}
        {step > 0 && (
          <div className="row step-back">
            <Button kind="ghost" onClick={() => goTo(step - 1)}>
              Back
            </Button>
          </div>
        )}
      </div>
    </section>
  );
}
