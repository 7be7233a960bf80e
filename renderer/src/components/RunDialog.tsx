/**
 * Running a container from an image (docker run -d): image, name, published ports, environment,
 * volumes, command, restart policy and an interactive TTY. The form builds a RunRequest, checks it
 * inline (nothing reaches the engine while a field is wrong), and on success opens the new
 * container's logs. Engine refusals (unknown image, port taken, name in use) are shown as sent.
 */
import { useState, type ReactNode } from 'react';
import type { RunRequest } from '../../../types/desktop-api';
import { bridge } from '../bridge';
import { navigate } from '../router';
import { useCall } from '../state';
import { nameProblem, parseKeyValues, portProblem, splitCommand } from './forms';
import { FormDialog, useSubmit } from './FormDialog';
import { Button } from './ui';

interface PortRow {
  host: string;
  container: string;
  protocol: 'tcp' | 'udp';
}
interface VolumeRow {
  source: string;
  target: string;
  readOnly: boolean;
}

type Problems = Record<string, string>;

/** The request the form describes, or the problems keyed by field id. */
export function buildRunRequest(f: {
  image: string;
  name: string;
  ports: PortRow[];
  env: string;
  volumes: VolumeRow[];
  command: string;
  restart: NonNullable<RunRequest['restart']>;
  interactive: boolean;
}): { request: RunRequest } | { problems: Problems } {
  const problems: Problems = {};
  const image = f.image.trim();
  if (image === '') problems['run-image'] = 'Choose an image.';
  const name = f.name.trim();
  const np = nameProblem(name);
  if (np) problems['run-name'] = np;
  f.ports.forEach((p, i) => {
    const hp = portProblem(p.host.trim(), true);
    if (hp) problems[`run-port-host-${i}`] = hp;
    const cp = portProblem(p.container.trim(), false);
    if (cp) problems[`run-port-container-${i}`] = cp;
  });
  const env = parseKeyValues(f.env);
  if ('problem' in env) problems['run-env'] = env.problem;
  f.volumes.forEach((v, i) => {
    if (v.source.trim() === '') problems[`run-vol-source-${i}`] = 'A volume name or a host path is required.';
    if (!v.target.trim().startsWith('/')) problems[`run-vol-target-${i}`] = 'The path in the container must be absolute (start with /).';
  });
  const command = splitCommand(f.command);
  if (!Array.isArray(command)) problems['run-command'] = command.problem;
  if (Object.keys(problems).length > 0 || 'problem' in env || !Array.isArray(command)) return { problems };
  const request: RunRequest = { image, restart: f.restart, interactive: f.interactive };
  if (name) request.name = name;
  if (command.length) request.command = command;
  const envList = Object.entries(env.values).map(([k, v]) => `${k}=${v}`);
  if (envList.length) request.env = envList;
  if (f.ports.length) request.ports = f.ports.map((p) => ({ host: p.host.trim(), container: p.container.trim(), protocol: p.protocol }));
  if (f.volumes.length) request.volumes = f.volumes.map((v) => ({ source: v.source.trim(), target: v.target.trim(), readOnly: v.readOnly }));
  return { request };
}

function Problem(props: { id: string; problems: Problems }): ReactNode {
  const p = props.problems[props.id];
  return p ? (
    <span id={`${props.id}-problem`} className="field-error">
      {p}
    </span>
  ) : null;
}

/** aria attributes tying an input to its inline problem. */
function invalid(id: string, problems: Problems): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  return problems[id] ? { 'aria-invalid': true, 'aria-describedby': `${id}-problem` } : {};
}

export function RunDialog(props: { onClose: () => void; image?: string }): ReactNode {
  const images = useCall('images.list', {}, ['image']);
  const [image, setImage] = useState(props.image ?? '');
  const [name, setName] = useState('');
  const [ports, setPorts] = useState<PortRow[]>([]);
  const [env, setEnv] = useState('');
  const [volumes, setVolumes] = useState<VolumeRow[]>([]);
  const [command, setCommand] = useState('');
  const [restart, setRestart] = useState<NonNullable<RunRequest['restart']>>('no');
  const [interactive, setInteractive] = useState(false);
  const [problems, setProblems] = useState<Problems>({});
  const submitting = useSubmit();
  const tags = [...new Set((images.data ?? []).flatMap((i) => i.RepoTags).filter((t) => t !== '<none>:<none>'))].sort();

  const submit = (): void => {
    const built = buildRunRequest({ image, name, ports, env, volumes, command, restart, interactive });
    if ('problems' in built) {
      setProblems(built.problems);
      submitting.setError(undefined);
      return;
    }
    setProblems({});
    void submitting.run(async () => {
      const { id } = await bridge().invoke('containers.run', built.request);
      navigate(`/containers/${encodeURIComponent(id)}/logs`);
    });
  };

  const setPort = (i: number, p: Partial<PortRow>): void => setPorts(ports.map((r, j) => (j === i ? { ...r, ...p } : r)));
  const setVolume = (i: number, v: Partial<VolumeRow>): void => setVolumes(volumes.map((r, j) => (j === i ? { ...r, ...v } : r)));
  const count = Object.keys(problems).length;

  return (
    <FormDialog
      title="Run a container"
      onClose={props.onClose}
      wide
      className="run-form"
      onSubmit={submit}
      busy={submitting.busy}
      error={submitting.error && `The engine refused: ${submitting.error}`}
      submitLabel="Run"
      busyLabel="Starting…"
    >
      {count > 0 && (
        <p className="field-error" role="alert">
          {count === 1 ? 'One field needs attention.' : `${count} fields need attention.`}
        </p>
      )}
      <label className="field">
        Image
        <input value={image} onChange={(e) => setImage(e.target.value)} list="run-images" autoComplete="off" {...invalid('run-image', problems)} />
      </label>
      <Problem id="run-image" problems={problems} />
      <datalist id="run-images">
        {tags.map((t) => (
          <option key={t} value={t} />
        ))}
      </datalist>
      <label className="field">
        Name (optional)
        <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" {...invalid('run-name', problems)} />
      </label>
      <Problem id="run-name" problems={problems} />

      <fieldset>
        <legend>Ports</legend>
        {ports.map((p, i) => (
          <div className="row form-row" key={i} role="group" aria-label={`Port ${i + 1}`}>
            <label>
              Host port {i + 1}
              <input value={p.host} onChange={(e) => setPort(i, { host: e.target.value })} inputMode="numeric" placeholder="any" size={7} {...invalid(`run-port-host-${i}`, problems)} />
            </label>
            <label>
              Container port {i + 1}
              <input value={p.container} onChange={(e) => setPort(i, { container: e.target.value })} inputMode="numeric" size={7} {...invalid(`run-port-container-${i}`, problems)} />
            </label>
            <label>
              Protocol {i + 1}
              <select value={p.protocol} onChange={(e) => setPort(i, { protocol: e.target.value as 'tcp' | 'udp' })}>
                <option value="tcp">tcp</option>
                <option value="udp">udp</option>
              </select>
            </label>
            <Button onClick={() => setPorts(ports.filter((_, j) => j !== i))} label={`Remove port ${i + 1}`}>
              Remove
            </Button>
            <Problem id={`run-port-host-${i}`} problems={problems} />
            <Problem id={`run-port-container-${i}`} problems={problems} />
          </div>
        ))}
        <Button onClick={() => setPorts([...ports, { host: '', container: '', protocol: 'tcp' }])}>Add a port</Button>
      </fieldset>

      <label className="field">
        Environment (one KEY=value per line)
        <textarea value={env} onChange={(e) => setEnv(e.target.value)} rows={3} spellCheck={false} {...invalid('run-env', problems)} />
      </label>
      <Problem id="run-env" problems={problems} />

      <fieldset>
        <legend>Volumes</legend>
        {volumes.map((v, i) => (
          <div className="row form-row" key={i} role="group" aria-label={`Volume ${i + 1}`}>
            <label>
              Source {i + 1}
              <input value={v.source} onChange={(e) => setVolume(i, { source: e.target.value })} placeholder="volume name or /host/path" {...invalid(`run-vol-source-${i}`, problems)} />
            </label>
            <label>
              Target {i + 1}
              <input value={v.target} onChange={(e) => setVolume(i, { target: e.target.value })} placeholder="/data" {...invalid(`run-vol-target-${i}`, problems)} />
            </label>
            <label className="check">
              <input type="checkbox" checked={v.readOnly} onChange={(e) => setVolume(i, { readOnly: e.target.checked })} />
              Read-only {i + 1}
            </label>
            <Button onClick={() => setVolumes(volumes.filter((_, j) => j !== i))} label={`Remove volume ${i + 1}`}>
              Remove
            </Button>
            <Problem id={`run-vol-source-${i}`} problems={problems} />
            <Problem id={`run-vol-target-${i}`} problems={problems} />
          </div>
        ))}
        <Button onClick={() => setVolumes([...volumes, { source: '', target: '', readOnly: false }])}>Add a volume</Button>
      </fieldset>

      <label className="field">
        Command (optional; the image's default when empty)
        <input value={command} onChange={(e) => setCommand(e.target.value)} className="mono" spellCheck={false} {...invalid('run-command', problems)} />
      </label>
      <Problem id="run-command" problems={problems} />
      <div className="row">
        <label>
          Restart policy{' '}
          <select value={restart} onChange={(e) => setRestart(e.target.value as NonNullable<RunRequest['restart']>)}>
            <option value="no">no</option>
            <option value="on-failure">on-failure</option>
            <option value="unless-stopped">unless-stopped</option>
            <option value="always">always</option>
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={interactive} onChange={(e) => setInteractive(e.target.checked)} />
          Interactive (keep STDIN open with a TTY)
        </label>
      </div>
    </FormDialog>
  );
}
