/**
 * Images: every local image with its size, age and the containers using it; run, remove (with
 * force) and prune; the pull and run dialogs (their own routes, /images/pull and /images/run);
 * and the pull jobs the bridge host is running or ran recently, with their progress.
 */
import { useEffect, useState, type ReactNode } from 'react';
import type { ImageSummary } from '../../../types/engine-api';
import { bridge } from '../bridge';
import { registerCommands } from '../components/CommandPalette';
import { BuildDialog } from '../components/BuildDialog';
import { JobProgress, PullDialog } from '../components/PullDialog';
import { RunDialog } from '../components/RunDialog';
import { Button, Dialog, Empty, ErrorBanner, useAction } from '../components/ui';
import { formatAgo, formatBytes, shortId } from '../format';
import { navigate } from '../router';
import { useCall, useJobs } from '../state';

/** The name to run or show: its first tag, else its digest name, else its short id. */
function imageRef(i: ImageSummary): string {
  const tag = i.RepoTags.find((t) => t !== '<none>:<none>');
  if (tag) return tag;
  const digest = i.RepoDigests.find((d) => !d.startsWith('<none>'));
  return digest ?? shortId(i.Id);
}

function RemoveDialog(props: { image: ImageSummary; users: number; onClose: () => void }): ReactNode {
  const [force, setForce] = useState(false);
  const [busy, run] = useAction();
  const ref = imageRef(props.image);
  return (
    <Dialog
      title={`Remove ${ref}?`}
      onClose={props.onClose}
      footer={
        <>
          <Button onClick={props.onClose}>Cancel</Button>
          <Button
            kind="danger"
            disabled={busy}
            onClick={() =>
              void run('Removing the image', async () => {
                await bridge().invoke('images.remove', { id: props.image.Id, force });
                props.onClose();
              }, `Removed ${ref}`)
            }
          >
            Remove
          </Button>
        </>
      }
    >
      <p>
        This deletes the image <code>{ref}</code> ({formatBytes(props.image.Size)}) and any layers no other image shares.
        {props.users > 0 && ` ${props.users} container${props.users === 1 ? ' uses' : 's use'} it: the engine refuses unless you force it.`}
      </p>
      <label className="check">
        <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
        Force (also untag it when containers or other tags use it)
      </label>
    </Dialog>
  );
}

function PruneDialog(props: { onClose: () => void }): ReactNode {
  const [all, setAll] = useState(false);
  const [result, setResult] = useState<{ deleted: number; spaceReclaimed: number }>();
  const [busy, run] = useAction();
  return (
    <Dialog
      title="Prune images"
      onClose={props.onClose}
      footer={
        result ? (
          <Button onClick={props.onClose}>Close</Button>
        ) : (
          <>
            <Button onClick={props.onClose}>Cancel</Button>
            <Button kind="danger" disabled={busy} onClick={() => void run('Pruning images', async () => setResult(await bridge().invoke('images.prune', { all })))}>
              Prune
            </Button>
          </>
        )
      }
    >
      {result ? (
        <p role="status">
          Deleted {result.deleted} image{result.deleted === 1 ? '' : 's'}, reclaimed {formatBytes(result.spaceReclaimed)}.
        </p>
      ) : (
        <fieldset>
          <legend>Which images</legend>
          <label className="check">
            <input type="radio" name="prune-which" checked={!all} onChange={() => setAll(false)} />
            Dangling images only (untagged and unused)
          </label>
          <label className="check">
            <input type="radio" name="prune-which" checked={all} onChange={() => setAll(true)} />
            All images no container uses
          </label>
        </fieldset>
      )}
    </Dialog>
  );
}

function JobsPanel(): ReactNode {
  const jobs = useJobs();
  if (jobs.length === 0) return null;
  return (
    <section className="panel" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Pulls, pushes and builds</h2>
      {jobs.slice(0, 10).map((j) => (
        <JobProgress key={j.id} job={j} showLayers={j.state === 'running'} />
      ))}
    </section>
  );
}

export function Images(props: { dialog?: 'pull' | 'run' | 'build'; query: URLSearchParams }): ReactNode {
  const images = useCall('images.list', {}, ['image']);
  const containers = useCall('containers.list', { all: true }, ['container']);
  const [removing, setRemoving] = useState<ImageSummary>();
  const [pruning, setPruning] = useState(false);

  useEffect(
    () =>
      registerCommands('images', [
        { id: 'images-pull', title: 'Pull an image', run: () => navigate('/images/pull') },
        { id: 'images-build', title: 'Build an image from a folder', run: () => navigate('/images/build') },
        { id: 'images-run', title: 'Run a container from an image', run: () => navigate('/images/run') },
        { id: 'images-prune', title: 'Prune unused images', run: () => setPruning(true) },
      ]),
    [],
  );

  const [, run] = useAction();
  const push = (ref: string): Promise<void> => run(`Pushing ${ref}`, () => bridge().invoke('images.push', { ref }));
  const usedBy = (id: string): number => (containers.data ?? []).filter((c) => c.ImageID === id).length;
  const list = [...(images.data ?? [])].sort((a, b) => b.Created - a.Created);

  return (
    <section aria-labelledby="images-title">
      <div className="row screen-head">
        <h1 id="images-title">Images</h1>
        <span className="spacer" />
        <Button kind="primary" onClick={() => navigate('/images/pull')}>
          Pull an image
        </Button>
        <Button onClick={() => navigate('/images/build')}>Build an image</Button>
        <Button onClick={() => navigate('/images/run')}>Run a container</Button>
        <Button onClick={() => setPruning(true)}>Prune</Button>
      </div>
      <ErrorBanner error={images.error} onRetry={images.reload} />
      <JobsPanel />
      {images.data && list.length === 0 ? (
        <Empty title="No images yet">
          <p>Pull one from a registry to get started.</p>
        </Empty>
      ) : (
        <table className="grid" aria-label="Images">
          <thead>
            <tr>
              <th scope="col">Repository:tag</th>
              <th scope="col">ID</th>
              <th scope="col">Size</th>
              <th scope="col">Created</th>
              <th scope="col">In use</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((i) => {
              const ref = imageRef(i);
              const n = usedBy(i.Id);
              const extraTags = i.RepoTags.filter((t) => t !== ref && t !== '<none>:<none>');
              return (
                <tr key={i.Id}>
                  <td>
                    {ref}
                    {extraTags.length > 0 && <span className="muted"> (+{extraTags.join(', ')})</span>}
                  </td>
                  <td className="mono">{shortId(i.Id)}</td>
                  <td>{formatBytes(i.Size)}</td>
                  <td>{formatAgo(i.Created)}</td>
                  <td>{n === 0 ? <span className="muted">unused</span> : `${n} container${n === 1 ? '' : 's'}`}</td>
                  <td className="row">
                    <Button onClick={() => navigate(`/images/run?image=${encodeURIComponent(ref)}`)} label={`Run ${ref}`}>
                      Run
                    </Button>
                    {ref.includes('/') && !ref.startsWith('<none>') && (
                      <Button onClick={() => void push(ref)} label={`Push ${ref}`}>
                        Push
                      </Button>
                    )}
                    <Button kind="danger" onClick={() => setRemoving(i)} label={`Remove ${ref}`}>
                      Remove
                    </Button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {removing && <RemoveDialog image={removing} users={usedBy(removing.Id)} onClose={() => setRemoving(undefined)} />}
      {pruning && <PruneDialog onClose={() => setPruning(false)} />}
      {props.dialog === 'pull' && <PullDialog onClose={() => navigate('/images')} initialRef={props.query.get('ref') ?? undefined} />}
      {props.dialog === 'build' && <BuildDialog onClose={() => navigate('/images')} />}
      {props.dialog === 'run' && <RunDialog onClose={() => navigate('/images')} image={props.query.get('image') ?? undefined} />}
    </section>
  );
}
