/**
 * Settings → Virtual machine: the Berth VM's state, accelerator, image, socket (with the
 * DOCKER_HOST line to copy), health and forwarded ports; Start and Stop with the boot's progress
 * in words; and its settings (CPUs, memory, disk, shared folders, accelerator), saved for the next
 * start. `VmEngineDown` is the dashboard's offer to start the VM when the active engine is in it,
 * and "Start VM" / "Stop VM" are in the command palette from anywhere.
 */
import { useEffect, useId, useState, type ReactNode } from 'react';
import type { EngineStatus, VmAccelerator, VmSettings, VmStatus } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { registerCommands } from '../components/CommandPalette';
import { useSubmit } from '../components/FormDialog';
import { Badge, Button, ErrorBanner, toast } from '../components/ui';
import { formatAgo, formatBytes } from '../format';
import { engineStatus } from '../state';
import { configureVm, STAGE_WORDS, startVm, stopVm, useVm } from '../vm';

const STATE_TONE: Record<VmStatus['state'], 'ok' | 'warn' | 'idle'> = { absent: 'idle', stopped: 'idle', starting: 'warn', running: 'ok', stopping: 'warn' };
const STATE_WORDS: Record<VmStatus['state'], string> = { absent: 'not created yet', stopped: 'stopped', starting: 'starting', running: 'running', stopping: 'stopping' };

const ACCELS: [VmAccelerator, string][] = [
  ['auto', 'Automatic (the fastest that works)'],
  ['kvm', 'KVM (Linux)'],
  ['hvf', 'Hypervisor.framework (macOS)'],
  ['whpx', 'Windows Hypervisor Platform'],
  ['tcg', 'TCG (emulation, slow)'],
];

const LOGS_HINT = 'See berth vm logs for the console and supervisor logs.';

/** A message as a sentence: one full stop at the end, whether or not the host wrote one. */
const sentence = (text: string): string => `${text.replace(/[.\s]+$/, '')}.`;

function requestStart(): Promise<void> {
  return startVm().then(
    () => toast('The Berth VM is starting'),
    (err: unknown) => toast(`Starting the VM failed: ${errorText(err)}`, 'bad'),
  );
}

function requestStop(): Promise<void> {
  return stopVm().then(
    () => toast('The Berth VM stopped'),
    (err: unknown) => toast(`Stopping the VM failed: ${errorText(err)}`, 'bad'),
  );
}

// The VM is reachable from anywhere in the app, not only while Settings is open.
registerCommands('vm', [
  { id: 'vm-start', title: 'Start VM', run: () => void requestStart() },
  { id: 'vm-stop', title: 'Stop VM', run: () => void requestStop() },
]);

/** Runs a start or stop, `busy` until its call answers (the stream tells the rest). */
function usePending(): [boolean, (fn: () => Promise<void>) => void] {
  const [busy, setBusy] = useState(false);
  return [
    busy,
    (fn) => {
      setBusy(true);
      void fn().finally(() => setBusy(false));
    },
  ];
}

/** The boot's progress bar, named by the stage in words; "Stopping" has no measure, so no bar. */
export function VmProgress(props: { status: VmStatus }): ReactNode {
  const id = useId();
  const s = props.status;
  if (s.state === 'stopping')
    return (
      <p className="vm-progress" role="status">
        Stopping the VM…
      </p>
    );
  const pct = Math.round(Math.min(1, Math.max(0, s.progress ?? 0)) * 100);
  const words = s.stage ? STAGE_WORDS[s.stage] : 'Starting the virtual machine';
  return (
    <div className="vm-progress">
      <p aria-live="polite">
        <span id={id}>{words}</span> <span className="muted">{pct}%</span>
      </p>
      <div className="progress" role="progressbar" aria-labelledby={id} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-valuetext={`${words}, ${pct}%`}>
        <div style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function copy(text: string, what: string): void {
  navigator.clipboard.writeText(text).then(
    () => toast(`Copied ${what}`),
    (err: unknown) => toast(`Copying failed: ${errorText(err)}`, 'bad'),
  );
}

function Facts(props: { status: VmStatus }): ReactNode {
  const s = props.status;
  const exportLine = `export DOCKER_HOST=${s.dockerHost}`;
  return (
    <dl className="facts">
      <dt>State</dt>
      <dd>
        <Badge tone={STATE_TONE[s.state]}>{STATE_WORDS[s.state]}</Badge>
      </dd>
      <dt>Accelerator</dt>
      <dd>
        {s.accel ?? `${s.settings.accel} (chosen at start)`}
        {s.accelNote && <span className="muted"> · {s.accelNote}</span>}
      </dd>
      <dt>Image</dt>
      <dd>{s.image ? `${s.image.version} · ${s.image.arch}${s.image.compressedBytes ? ` · ${formatBytes(s.image.compressedBytes)} download` : ''}` : <span className="muted">no VM image found</span>}</dd>
      <dt>Engine socket</dt>
      <dd>
        <div className="row">
          <code>{s.socket}</code>
          <Button label="Copy the socket path" onClick={() => copy(s.socket, 'the socket path')}>
            Copy
          </Button>
        </div>
        <div className="row vm-export">
          <code>{exportLine}</code>
          <Button label="Copy the DOCKER_HOST line" onClick={() => copy(exportLine, 'the DOCKER_HOST line')}>
            Copy
          </Button>
        </div>
      </dd>
      <dt>SSH port</dt>
      <dd>{s.sshPort ?? '—'}</dd>
      <dt>Started</dt>
      <dd>
        {s.startedAt ? formatAgo(s.startedAt) : '—'}
        {s.bootMs !== undefined && <span className="muted"> · booted in {(s.bootMs / 1000).toFixed(1)} s</span>}
      </dd>
      <dt>Health</dt>
      <dd>
        {s.healthy === undefined ? (
          '—'
        ) : s.healthy ? (
          <>
            <Badge tone="ok">healthy</Badge> {s.pingMs !== undefined && `ping ${s.pingMs.toFixed(1)} ms`}
          </>
        ) : (
          <Badge tone="bad">not answering</Badge>
        )}
      </dd>
    </dl>
  );
}

function Ports(props: { status: VmStatus }): ReactNode {
  const ports = props.status.ports;
  if (props.status.state !== 'running') return null;
  return (
    <>
      <h3 className="vm-subhead">Forwarded ports</h3>
      {ports.length === 0 ? (
        <p className="muted">No container publishes a port yet.</p>
      ) : (
        <table className="grid" aria-label="Forwarded ports">
          <thead>
            <tr>
              <th scope="col">Port</th>
              <th scope="col">Protocol</th>
              <th scope="col">Containers</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {ports.map((p) => (
              <tr key={`${p.proto}/${p.port}`}>
                <td>{p.port}</td>
                <td>{p.proto}</td>
                <td>{p.containers.join(', ') || '—'}</td>
                <td>{p.error ? <span className="field-error">{p.error}</span> : <Badge tone="ok">forwarded</Badge>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

interface Draft {
  cpus: string;
  memoryMiB: string;
  diskGiB: string;
  shares: string[];
  accel: VmAccelerator;
}

const draftOf = (s: VmSettings): Draft => ({ cpus: String(s.cpus), memoryMiB: String(s.memoryMiB), diskGiB: String(s.diskGiB), shares: s.shares, accel: s.accel });

/** The changed fields only, or the first field that is not a whole number. */
function patchOf(base: VmSettings, d: Draft): { patch: Partial<VmSettings> } | { problem: string } {
  const patch: Partial<VmSettings> = {};
  const nums: [keyof Draft & ('cpus' | 'memoryMiB' | 'diskGiB'), string][] = [
    ['cpus', 'CPUs'],
    ['memoryMiB', 'Memory'],
    ['diskGiB', 'Disk'],
  ];
  for (const [key, label] of nums) {
    const text = d[key].trim();
    if (!/^\d+$/.test(text) || Number(text) < 1) return { problem: `${label} must be a whole number above 0.` };
    if (Number(text) !== base[key]) patch[key] = Number(text);
  }
  if (JSON.stringify(d.shares) !== JSON.stringify(base.shares)) patch.shares = d.shares;
  if (d.accel !== base.accel) patch.accel = d.accel;
  return { patch };
}

function SettingsForm(props: { settings: VmSettings; running: boolean }): ReactNode {
  const [draft, setDraft] = useState<Draft>();
  const [share, setShare] = useState('');
  const submitting = useSubmit();
  const problem = submitting.error;
  const [saved, setSaved] = useState(false);
  const d = draft ?? draftOf(props.settings);
  const edit = (p: Partial<Draft>): void => {
    setDraft({ ...d, ...p });
    setSaved(false);
  };
  const addShare = (): void => {
    const dir = share.trim();
    if (!dir) return;
    if (!d.shares.includes(dir)) edit({ shares: [...d.shares, dir] });
    setShare('');
  };
  const save = (): void => {
    const r = patchOf(props.settings, d);
    if ('problem' in r) return submitting.setError(r.problem);
    if (Object.keys(r.patch).length === 0) return submitting.setError('Nothing changed.');
    void submitting.run(async () => {
      await configureVm(r.patch);
      setDraft(undefined);
      setSaved(true);
    });
  };
  return (
    <form
      aria-label="VM settings"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <h3 className="vm-subhead">Resources</h3>
      <div className="row form-row">
        <label>
          CPUs <input type="number" inputMode="numeric" value={d.cpus} onChange={(e) => edit({ cpus: e.target.value })} size={4} />
        </label>
        <label>
          Memory (MiB) <input type="number" inputMode="numeric" step={256} value={d.memoryMiB} onChange={(e) => edit({ memoryMiB: e.target.value })} size={7} />
        </label>
        <label>
          Disk (GiB) <input type="number" inputMode="numeric" value={d.diskGiB} onChange={(e) => edit({ diskGiB: e.target.value })} size={5} aria-describedby="vm-disk-help" />
        </label>
        <label>
          Accelerator{' '}
          <select value={d.accel} onChange={(e) => edit({ accel: e.target.value as VmAccelerator })}>
            {ACCELS.map(([v, text]) => (
              <option key={v} value={v}>
                {text}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p id="vm-disk-help" className="muted">
        The data disk can only grow; to make it smaller, remove the VM (berth vm rm).
      </p>
      <fieldset>
        <legend>Shared folders</legend>
        {d.shares.length === 0 ? (
          <p className="muted">No folder is shared with the VM.</p>
        ) : (
          <ul className="inline-list" aria-label="Shared folders">
            {d.shares.map((dir) => (
              <li key={dir} className="row">
                <code>{dir}</code>
                <Button label={`Stop sharing ${dir}`} onClick={() => edit({ shares: d.shares.filter((x) => x !== dir) })}>
                  Remove
                </Button>
              </li>
            ))}
          </ul>
        )}
        <div className="row">
          <label>
            Folder to share{' '}
            <input
              value={share}
              onChange={(e) => setShare(e.target.value)}
              onKeyDown={(e) => {
                if (e.key !== 'Enter') return;
                e.preventDefault();
                addShare();
              }}
              placeholder="/Users/me/src"
              size={30}
            />
          </label>
          <Button onClick={addShare} disabled={!share.trim()}>
            Add folder
          </Button>
        </div>
        <p className="muted">A shared folder appears in the VM at the same path, so bind mounts of it work.</p>
      </fieldset>
      <div className="row">
        <Button type="submit" kind="primary" disabled={submitting.busy}>
          Save VM settings
        </Button>
        {draft && (
          <Button
            onClick={() => {
              setDraft(undefined);
              submitting.setError(undefined);
            }}
          >
            Discard changes
          </Button>
        )}
        <span className="muted">Settings apply at the next start.</span>
      </div>
      {problem && (
        <p className="field-error" role="alert">
          {problem}
        </p>
      )}
      {saved && (
        <p role="status">
          Saved. The new settings apply at the next start{props.running ? ': stop and start the VM to use them now' : ''}.
        </p>
      )}
    </form>
  );
}

export function VmPanel(): ReactNode {
  const { status, error } = useVm();
  const [busy, pending] = usePending();
  const state = status?.state;
  return (
    <section className="panel" aria-labelledby="vm-title">
      <h2 id="vm-title">Virtual machine</h2>
      {status?.required && <p>On this computer containers run in the Berth VM: a small Linux machine that hosts the engine. Start it to use containers.</p>}
      <ErrorBanner error={error} />
      {!status ? (
        <p className="muted">Reading the VM's status…</p>
      ) : (
        <>
          <Facts status={status} />
          <div className="row vm-actions">
            <Button kind="primary" disabled={busy || (state !== 'stopped' && state !== 'absent')} onClick={() => pending(requestStart)}>
              Start VM
            </Button>
            <Button disabled={busy || (state !== 'running' && state !== 'starting')} onClick={() => pending(requestStop)}>
              Stop VM
            </Button>
          </div>
          {(state === 'starting' || state === 'stopping') && <VmProgress status={status} />}
          {status.error && (
            <div className="error-banner" role="alert">
              <span>
                <strong>Last error:</strong> {sentence(status.error)} {LOGS_HINT}
              </span>
            </div>
          )}
          <Ports status={status} />
          <SettingsForm settings={status.settings} running={state === 'running'} />
        </>
      )}
    </section>
  );
}

/**
 * The dashboard's unreachable-engine notice when the engine is the VM's: Start (with the boot's
 * progress inline) while the VM is down, the generic reason and fix while it runs.
 */
export function VmEngineDown(props: { status: Extract<EngineStatus, { state: 'unreachable' }> }): ReactNode {
  const { status: vm } = useVm();
  const [busy, pending] = usePending();
  const state = vm?.state;
  useEffect(() => {
    // The engine is in the VM: once the VM is up, ask at once instead of waiting for the next probe.
    if (state !== 'running') return;
    bridge()
      .invoke('engine.status', {})
      .then((s) => engineStatus.set(s), () => undefined);
  }, [state]);
  if (state === 'running')
    return (
      <div className="error-banner" role="alert">
        <span>
          <strong>The engine is unreachable</strong> (Berth VM): {props.status.reason}. {props.status.fix}
        </span>
      </div>
    );
  return (
    <section className="panel vm-down" aria-label="The Berth VM is not running">
      <p>
        <strong>The engine runs in the Berth VM, which is not running.</strong> <span className="muted">{props.status.reason}.</span>
      </p>
      {vm && (state === 'starting' || state === 'stopping') ? (
        <VmProgress status={vm} />
      ) : (
        <Button kind="primary" disabled={busy} onClick={() => pending(requestStart)}>
          Start the VM
        </Button>
      )}
      {vm?.error && state !== 'starting' && (
        <p className="field-error" role="alert">
          The last start failed: {sentence(vm.error)} {LOGS_HINT}
        </p>
      )}
    </section>
  );
}
