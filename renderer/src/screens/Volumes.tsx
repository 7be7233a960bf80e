/**
 * Volumes: each volume with its driver, mountpoint, age and the containers that mount it; create
 * (name, labels), remove (the engine refuses while a container uses it, and its message is shown
 * as is) and prune. To look inside a volume, follow a container that mounts it to its Files tab at
 * the mount path: no helper container is started behind the user's back.
 */
import { useEffect, useState, type ReactNode } from 'react';
import type { ContainerSummary, Volume } from '../../../types/engine-api';
import { bridge, errorText } from '../bridge';
import { registerCommands } from '../components/CommandPalette';
import { parseKeyValues } from '../components/forms';
import { Button, Confirm, Dialog, Empty, ErrorBanner, toast, useAction } from '../components/ui';
import { formatAgo, formatBytes } from '../format';
import { useCall } from '../state';

interface Use {
  container: ContainerSummary;
  destination: string;
}

function containerName(c: ContainerSummary): string {
  return (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
}

function CreateDialog(props: { onClose: () => void }): ReactNode {
  const [name, setName] = useState('');
  const [labels, setLabels] = useState('');
  const [problem, setProblem] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (): Promise<void> => {
    const parsed = parseKeyValues(labels);
    if ('problem' in parsed) {
      setProblem(parsed.problem);
      return;
    }
    setProblem(undefined);
    setBusy(true);
    try {
      const v = await bridge().invoke('volumes.create', { ...(name.trim() ? { Name: name.trim() } : {}), Labels: parsed.values });
      toast(`Created volume ${v.Name}`);
      props.onClose();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="Create a volume"
      onClose={props.onClose}
      footer={
        <>
          <Button onClick={props.onClose}>Cancel</Button>
          <Button kind="primary" disabled={busy} onClick={() => void submit()}>
            Create
          </Button>
        </>
      }
    >
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <ErrorBanner error={error} />
        <label className="field">
          Name (empty for a generated one)
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </label>
        <label className="field">
          Labels (one KEY=value per line)
          <textarea value={labels} onChange={(e) => setLabels(e.target.value)} rows={3} spellCheck={false} aria-invalid={problem ? true : undefined} aria-describedby={problem ? 'vol-labels-problem' : undefined} />
        </label>
        {problem && (
          <span id="vol-labels-problem" className="field-error" role="alert">
            {problem}
          </span>
        )}
        <button type="submit" hidden />
      </form>
    </Dialog>
  );
}

export function Volumes(): ReactNode {
  const volumes = useCall('volumes.list', {}, ['volume']);
  const containers = useCall('containers.list', { all: true }, ['container']);
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState<Volume>();
  const [pruning, setPruning] = useState(false);
  const [failure, setFailure] = useState<string>();
  const [busy, run] = useAction();

  useEffect(
    () =>
      registerCommands('volumes', [
        { id: 'volumes-create', title: 'Create a volume', run: () => setCreating(true) },
        { id: 'volumes-prune', title: 'Prune unused volumes', run: () => setPruning(true) },
      ]),
    [],
  );

  const uses = (name: string): Use[] =>
    (containers.data ?? []).flatMap((c) => c.Mounts.filter((m) => m.Type === 'volume' && m.Name === name).map((m) => ({ container: c, destination: m.Destination })));

  const remove = async (v: Volume): Promise<void> => {
    setRemoving(undefined);
    try {
      await bridge().invoke('volumes.remove', { name: v.Name });
      setFailure(undefined);
      toast(`Removed volume ${v.Name}`);
    } catch (err) {
      setFailure(`Could not remove ${v.Name}: ${errorText(err)}`);
    }
  };

  const list = [...(volumes.data ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));
  return (
    <section aria-labelledby="volumes-title">
      <div className="row screen-head">
        <h1 id="volumes-title">Volumes</h1>
        <span className="spacer" />
        <Button kind="primary" onClick={() => setCreating(true)}>
          Create a volume
        </Button>
        <Button onClick={() => setPruning(true)} disabled={busy}>
          Prune
        </Button>
      </div>
      <ErrorBanner error={volumes.error} onRetry={volumes.reload} />
      <ErrorBanner error={failure} />
      {volumes.data && list.length === 0 ? (
        <Empty title="No volumes">
          <p>Volumes keep data that must outlive a container. Create one, or run a container with a volume.</p>
        </Empty>
      ) : (
        <table className="grid" aria-label="Volumes">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Driver</th>
              <th scope="col">Mountpoint</th>
              <th scope="col">Created</th>
              <th scope="col">In use by</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((v) => {
              const u = uses(v.Name);
              return (
                <tr key={v.Name}>
                  <td className="mono">{v.Name}</td>
                  <td>{v.Driver}</td>
                  <td className="mono" title={v.Mountpoint}>
                    {v.Mountpoint}
                  </td>
                  <td>{formatAgo(v.CreatedAt)}</td>
                  <td>
                    {u.length === 0 ? (
                      <span className="muted">unused</span>
                    ) : (
                      <ul className="inline-list">
                        {u.map(({ container, destination }) => (
                          <li key={`${container.Id}${destination}`}>
                            <a href={`#/containers/${container.Id}/files?path=${encodeURIComponent(destination)}`} aria-label={`Browse ${v.Name} in ${containerName(container)} at ${destination}`}>
                              {containerName(container)}:{destination}
                            </a>
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>
                    <Button kind="danger" onClick={() => setRemoving(v)} label={`Remove volume ${v.Name}`}>
                      Remove
                    </Button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {creating && <CreateDialog onClose={() => setCreating(false)} />}
      {removing && (
        <Confirm
          title={`Remove volume ${removing.Name}?`}
          message={`Its data is deleted for good${removing.UsageData && removing.UsageData.Size >= 0 ? ` (${formatBytes(removing.UsageData.Size)})` : ''}.`}
          confirm="Remove"
          danger
          onConfirm={() => void remove(removing)}
          onCancel={() => setRemoving(undefined)}
        />
      )}
      {pruning && (
        <Confirm
          title="Prune volumes?"
          message="Every volume no container uses is deleted, with its data."
          confirm="Prune"
          danger
          onConfirm={() => {
            setPruning(false);
            void run('Pruning volumes', async () => {
              const r = await bridge().invoke('volumes.prune', {});
              toast(`Deleted ${r.deleted} volume${r.deleted === 1 ? '' : 's'}, reclaimed ${formatBytes(r.spaceReclaimed)}`);
            });
          }}
          onCancel={() => setPruning(false)}
        />
      )}
    </section>
  );
}
