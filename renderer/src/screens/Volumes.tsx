/**
 * Volumes: each volume with its size, age and the containers that mount it; browse its files,
 * export it as a tar, import a tar into it, clone it, create (name, labels), remove (the engine
 * refuses while a container uses it and names that container) and prune. File access goes
 * through a helper container that mounts the volume and is never started (see the bridge's
 * volume-files.ts).
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { ContainerSummary, Volume } from '../../../types/engine-api';
import { bridge, errorText } from '../bridge';
import { useIntent } from '../commands';
import { LastKnown } from '../components/EngineBanner';
import { FileBrowser } from '../components/FileBrowser';
import { parseKeyValues } from '../components/forms';
import { FormDialog, useSubmit } from '../components/FormDialog';
import { Ago, Button, Confirm, Dialog, Empty, ErrorBanner, toast, useAction } from '../components/ui';
import { formatBytes } from '../format';
import { Copy, Download, FolderOpen, Plus, Trash2, Upload } from '../icons';
import { HELPER_LABEL } from '../labels';
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
  const submitting = useSubmit();
  const submit = (): void => {
    const parsed = parseKeyValues(labels);
    if ('problem' in parsed) {
      setProblem(parsed.problem);
      return;
    }
    setProblem(undefined);
    void submitting.run(async () => {
      const v = await bridge().invoke('volumes.create', { ...(name.trim() ? { Name: name.trim() } : {}), Labels: parsed.values });
      toast(`Created volume ${v.Name}`);
      props.onClose();
    });
  };
  return (
    <FormDialog title="Create a volume" onClose={props.onClose} onSubmit={submit} busy={submitting.busy} error={submitting.error} submitLabel="Create">
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
    </FormDialog>
  );
}

/** A volume as a .tar download: the volumeExport stream's chunks into a Blob. */
function exportVolume(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array<ArrayBuffer>[] = [];
    bridge().open('volumeExport', { name }, {
      data: (m) => {
        if (m.type !== 'chunk') return;
        const bin = atob(m.base64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        parts.push(bytes);
      },
      end: (err) => {
        if (err) return reject(new Error(err.message));
        const url = URL.createObjectURL(new Blob(parts, { type: 'application/x-tar' }));
        const a = document.createElement('a');
        a.href = url;
        a.download = `${name}.tar`;
        a.click();
        setTimeout(() => URL.revokeObjectURL(url), 0);
        resolve();
      },
    });
  });
}

function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function CloneDialog(props: { source: string; onClose: () => void }): ReactNode {
  const [name, setName] = useState(`${props.source}-copy`);
  const submitting = useSubmit();
  const submit = (): void =>
    void submitting.run(async () => {
      await bridge().invoke('volumes.clone', { source: props.source, target: name.trim() });
      toast(`Cloned ${props.source} into ${name.trim()}`);
      props.onClose();
    });
  return (
    <FormDialog
      title={`Clone ${props.source}`}
      onClose={props.onClose}
      onSubmit={submit}
      busy={submitting.busy}
      error={submitting.error}
      submitLabel="Clone"
      busyLabel="Cloning…"
      canSubmit={name.trim() !== ''}
    >
      <label className="field">
        Name of the new volume
        <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
      </label>
      <p className="muted">The new volume gets a copy of every file, with the same labels and options.</p>
    </FormDialog>
  );
}

export function Volumes(props: { query?: URLSearchParams }): ReactNode {
  const volumes = useCall('volumes.list', {}, ['volume']);
  const sizes = useCall('system.df', { types: ['volume'] }, ['volume', 'container']);
  const containers = useCall('containers.list', { all: true }, ['container']);
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState<Volume>();
  const [pruning, setPruning] = useState(false);
  const [browsing, setBrowsing] = useState<string>();
  const [cloning, setCloning] = useState<string>();
  const [failure, setFailure] = useState<string>();
  const [busy, run] = useAction();
  const importInput = useRef<HTMLInputElement>(null);
  const [importing, setImporting] = useState<string>();
  const focus = props.query?.get('name') ?? undefined;

  useIntent('volumes:create', () => setCreating(true));
  useIntent('volumes:prune', () => setPruning(true));
  useEffect(() => {
    if (focus) document.getElementById(`vol-${focus}`)?.scrollIntoView({ block: 'center' });
  }, [focus, volumes.data]);

  const usage = new Map((sizes.data?.Volumes ?? []).map((v) => [v.Name, v.UsageData?.Size ?? -1]));
  const uses = (name: string): Use[] =>
    (containers.data ?? []).flatMap((c) =>
      c.Labels?.[HELPER_LABEL] ? [] : c.Mounts.filter((m) => m.Type === 'volume' && m.Name === name).map((m) => ({ container: c, destination: m.Destination })),
    );

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

  const onImport = async (files: FileList | null): Promise<void> => {
    const file = files?.[0];
    const name = importing;
    if (importInput.current) importInput.current.value = '';
    if (!file || !name) return;
    await run(
      `Importing ${file.name} into ${name}`,
      async () => bridge().invoke('volumes.import', { name, base64: toBase64(new Uint8Array(await file.arrayBuffer())) }),
      `Imported ${file.name} into ${name}`,
    );
    sizes.reload();
  };

  const list = [...(volumes.data ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));
  const total = [...usage.values()].reduce((n, s) => n + Math.max(0, s), 0);
  return (
    <section aria-labelledby="volumes-title" className="screen">
      <div className="row screen-head">
        <h1 id="volumes-title" tabIndex={-1}>
          Volumes
        </h1>
        <LastKnown />
        {sizes.data && <span className="muted">{formatBytes(total)} in all</span>}
        <span className="spacer" />
        <Button kind="primary" icon={Plus} engine onClick={() => setCreating(true)}>
          Create a volume
        </Button>
        <Button icon={Trash2} engine onClick={() => setPruning(true)} disabled={busy}>
          Prune
        </Button>
      </div>
      <ErrorBanner error={volumes.error} onRetry={volumes.reload} />
      <ErrorBanner error={failure} />
      <input ref={importInput} type="file" accept=".tar,application/x-tar" className="visually-hidden" aria-label="Choose a tar file to import" onChange={(e) => void onImport(e.target.files)} />
      {volumes.data && list.length === 0 ? (
        <Empty title="No volumes">
          <p>Volumes keep data that must outlive a container. Create one, or run a container with a volume.</p>
        </Empty>
      ) : (
        <div className="table-scroll">
          <table className="grid volumes-table" aria-label="Volumes">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col" className="col-num">
                  Size
                </th>
                <th scope="col" className="col-age">
                  Created
                </th>
                <th scope="col">In use by</th>
                <th scope="col" className="col-actions-wide">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((v) => {
                const u = uses(v.Name);
                const size = usage.get(v.Name);
                return (
                  <tr key={v.Name} id={`vol-${v.Name}`} className={focus === v.Name ? 'selected' : undefined}>
                    <td className="cell-name">
                      <span className="mono" title={`${v.Driver} volume at ${v.Mountpoint}`}>
                        {v.Name}
                      </span>
                    </td>
                    <td className="num">{size === undefined ? '…' : size < 0 ? '—' : formatBytes(size)}</td>
                    <td>
                      <Ago time={v.CreatedAt} />
                    </td>
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
                      <span className="row actions actions-compact">
                        <Button icon={FolderOpen} iconOnly engine label={`Browse volume ${v.Name}`} onClick={() => setBrowsing(v.Name)} />
                        <Button
                          icon={Download}
                          iconOnly
                          engine
                          label={`Export volume ${v.Name} as a tar`}
                          disabled={busy}
                          onClick={() => void run(`Exporting ${v.Name}`, () => exportVolume(v.Name), `Exported ${v.Name}.tar`)}
                        />
                        <Button
                          icon={Upload}
                          iconOnly
                          engine
                          label={`Import a tar into volume ${v.Name}`}
                          disabled={busy}
                          onClick={() => {
                            setImporting(v.Name);
                            importInput.current?.click();
                          }}
                        />
                        <Button icon={Copy} iconOnly engine label={`Clone volume ${v.Name}`} onClick={() => setCloning(v.Name)} />
                        <Button kind="ghost" icon={Trash2} iconOnly engine label={`Remove volume ${v.Name}`} onClick={() => setRemoving(v)} />
                      </span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {creating && <CreateDialog onClose={() => setCreating(false)} />}
      {cloning && <CloneDialog source={cloning} onClose={() => setCloning(undefined)} />}
      {browsing && (
        <Dialog title={`Files in ${browsing}`} wide onClose={() => setBrowsing(undefined)}>
          <FileBrowser source={{ kind: 'volume', name: browsing }} />
        </Dialog>
      )}
      {removing && (
        <Confirm
          title={`Remove volume ${removing.Name}?`}
          message={`Its data is deleted for good${(usage.get(removing.Name) ?? -1) >= 0 ? ` (${formatBytes(usage.get(removing.Name))})` : ''}.`}
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
