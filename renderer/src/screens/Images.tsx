/**
 * Images: every local image with its size, age and the containers using it, searchable,
 * sortable and filterable to the dangling ones; run, push, remove (with force) and prune; the
 * pull, build and run dialogs (their own routes); and the jobs the bridge host is running or ran
 * recently. Each image opens its detail (/images/:id).
 */
import { useRef, useState, type ReactNode } from 'react';
import type { ImageSummary } from '../../../types/engine-api';
import { bridge } from '../bridge';
import { useIntent } from '../commands';
import { BuildDialog } from '../components/BuildDialog';
import { LastKnown } from '../components/EngineBanner';
import { JobsPanel } from '../components/JobsPanel';
import { PullDialog } from '../components/PullDialog';
import { RunDialog } from '../components/RunDialog';
import { SortHeader } from '../components/SortHeader';
import { useTableLayout, type SortState } from '../components/table-layout';
import { Ago, Badge, Button, Confirm, Dialog, Empty, ErrorBanner, useAction } from '../components/ui';
import { formatBytes, shortId, shortImage } from '../format';
import { Download, Hammer, Play, Search, Trash2, Upload } from '../icons';
import { navigate, navigateBack } from '../router';
import { useCall } from '../state';

/** The name to run or show: its first tag, else its digest name, else its short id. */
export function imageRef(i: ImageSummary): string {
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
    <Confirm
      title={`Remove ${ref}?`}
      danger
      confirm="Remove"
      busy={busy}
      onCancel={props.onClose}
      onConfirm={() =>
        void run('Removing the image', async () => {
          await bridge().invoke('images.remove', { id: props.image.Id, force });
          props.onClose();
        }, `Removed ${ref}`)
      }
      message={
        <>
          <p>
            This deletes the image <code>{ref}</code> ({formatBytes(props.image.Size)}) and any layers no other image shares.
            {props.users > 0 && ` ${props.users} container${props.users === 1 ? ' uses' : 's use'} it: the engine refuses unless you force it.`}
          </p>
          <label className="check">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
            Force (also untag it when containers or other tags use it)
          </label>
        </>
      }
    />
  );
}

function PruneDialog(props: { onClose: () => void }): ReactNode {
  const [all, setAll] = useState(false);
  const [result, setResult] = useState<{ deleted: number; spaceReclaimed: number }>();
  const [busy, run] = useAction();
  if (result)
    return (
      <Dialog title="Prune images" onClose={props.onClose} footer={<Button onClick={props.onClose}>Close</Button>}>
        <p role="status">
          Deleted {result.deleted} image{result.deleted === 1 ? '' : 's'}, reclaimed {formatBytes(result.spaceReclaimed)}.
        </p>
      </Dialog>
    );
  return (
    <Confirm
      title="Prune images"
      danger
      confirm="Prune"
      busy={busy}
      onCancel={props.onClose}
      onConfirm={() => void run('Pruning images', async () => setResult(await bridge().invoke('images.prune', { all })))}
      message={
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
      }
    />
  );
}

interface ImageRow {
  image: ImageSummary;
  ref: string;
  short: string;
  tags: string[];
  users: number;
  dangling: boolean;
}

function sortRows(rows: ImageRow[], sort: SortState): ImageRow[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  const key = (r: ImageRow): number | string =>
    sort.column === 'size' ? r.image.Size : sort.column === 'created' ? r.image.Created : sort.column === 'used' ? r.users : r.short.toLowerCase();
  return [...rows].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    const c = typeof ka === 'number' && typeof kb === 'number' ? ka - kb : String(ka).localeCompare(String(kb));
    return sign * c || a.short.localeCompare(b.short);
  });
}

export function Images(props: { dialog?: 'pull' | 'run' | 'build'; query: URLSearchParams }): ReactNode {
  const images = useCall('images.list', {}, ['image']);
  const containers = useCall('containers.list', { all: true }, ['container']);
  const [removing, setRemoving] = useState<ImageSummary>();
  const [pruning, setPruning] = useState(false);
  const [q, setQ] = useState('');
  const [danglingOnly, setDanglingOnly] = useState(false);
  const layout = useTableLayout('images', { column: 'created', dir: 'desc' });
  const search = useRef<HTMLInputElement>(null);

  useIntent('images:prune', () => setPruning(true));
  useIntent('images:search', () => search.current?.focus());
  useIntent('images:dangling', () => setDanglingOnly(true));

  const [, run] = useAction();
  const push = (ref: string): Promise<void> => run(`Pushing ${ref}`, () => bridge().invoke('images.push', { ref }));
  const usedBy = (id: string): number => (containers.data ?? []).filter((c) => c.ImageID === id).length;
  const all: ImageRow[] = (images.data ?? []).map((i) => {
    const tags = i.RepoTags.filter((t) => t !== '<none>:<none>');
    const ref = imageRef(i);
    return { image: i, ref, short: tags.length ? shortImage(ref) : '<none>', tags, users: usedBy(i.Id), dangling: tags.length === 0 };
  });
  const needle = q.trim().toLowerCase();
  const list = sortRows(
    all.filter((r) => (!danglingOnly || r.dangling) && (!needle || [r.ref, ...r.tags, r.image.Id].some((s) => s.toLowerCase().includes(needle)))),
    layout.sort,
  );
  const dangling = all.filter((r) => r.dangling).length;

  return (
    <section aria-labelledby="images-title" className="screen">
      <div className="row screen-head">
        <h1 id="images-title" tabIndex={-1}>
          Images
        </h1>
        <LastKnown />
        <span className="spacer" />
        <Button kind="primary" icon={Download} onClick={() => navigate('/images/pull')}>
          Pull an image
        </Button>
        <Button icon={Hammer} onClick={() => navigate('/images/build')}>
          Build
        </Button>
        <Button icon={Play} onClick={() => navigate('/images/run')}>
          Run
        </Button>
        <Button icon={Trash2} engine onClick={() => setPruning(true)}>
          Prune
        </Button>
      </div>
      <ErrorBanner error={images.error} onRetry={images.reload} />
      <JobsPanel />
      <div className="row toolbar" role="search">
        <label className="search-field">
          <Search size={15} aria-hidden="true" />
          <input ref={search} type="search" aria-label="Search images" placeholder="Search name, tag or id" value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={danglingOnly} onChange={(e) => setDanglingOnly(e.target.checked)} />
          Dangling only ({dangling})
        </label>
        <span className="muted count" role="status">
          {list.length} of {all.length} shown
        </span>
      </div>
      {images.data && all.length === 0 ? (
        <Empty title="No images yet">
          <p>Pull one from a registry to get started.</p>
        </Empty>
      ) : (
        <div className="table-scroll">
          <table className="grid images-table" aria-label="Images">
            <thead>
              <tr>
                <SortHeader id="name" sort={layout.sort} onSort={layout.sortBy}>
                  Repository:tag
                </SortHeader>
                <th scope="col" className="col-id">
                  ID
                </th>
                <SortHeader id="size" sort={layout.sort} onSort={layout.sortBy} className="col-num">
                  Size
                </SortHeader>
                <SortHeader id="created" sort={layout.sort} onSort={layout.sortBy} className="col-age">
                  Created
                </SortHeader>
                <SortHeader id="used" sort={layout.sort} onSort={layout.sortBy} className="col-use">
                  In use
                </SortHeader>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => {
                const i = r.image;
                const extra = r.tags.filter((t) => t !== r.ref);
                return (
                  <tr key={i.Id}>
                    <td className="cell-name">
                      <a href={`#/images/${encodeURIComponent(i.Id)}`} title={r.tags.join('\n') || i.Id}>
                        {r.short}
                      </a>
                      {r.dangling && <Badge tone="idle">dangling</Badge>}
                      {extra.length > 0 && <span className="muted name-aside"> +{extra.length} tag{extra.length === 1 ? '' : 's'}</span>}
                    </td>
                    <td className="mono col-id">{shortId(i.Id)}</td>
                    <td className="num">{formatBytes(i.Size)}</td>
                    <td>
                      <Ago time={i.Created} />
                    </td>
                    <td>{r.users === 0 ? <span className="muted">unused</span> : `${r.users} container${r.users === 1 ? '' : 's'}`}</td>
                    <td>
                      <span className="row actions actions-compact">
                        <Button icon={Play} iconOnly engine onClick={() => navigate(`/images/run?image=${encodeURIComponent(r.ref)}`)} label={`Run ${r.ref}`} />
                        {r.ref.includes('/') && !r.dangling && <Button icon={Upload} iconOnly engine onClick={() => void push(r.ref)} label={`Push ${r.ref}`} />}
                        <Button kind="ghost" icon={Trash2} iconOnly engine onClick={() => setRemoving(i)} label={`Remove ${r.ref}`} />
                      </span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {list.length === 0 && all.length > 0 && (
            <Empty title="No image matches">
              <Button
                onClick={() => {
                  setQ('');
                  setDanglingOnly(false);
                }}
              >
                Clear the filters
              </Button>
            </Empty>
          )}
        </div>
      )}
      {removing && <RemoveDialog image={removing} users={usedBy(removing.Id)} onClose={() => setRemoving(undefined)} />}
      {pruning && <PruneDialog onClose={() => setPruning(false)} />}
      {props.dialog === 'pull' && <PullDialog onClose={() => navigateBack('/images')} initialRef={props.query.get('ref') ?? undefined} />}
      {props.dialog === 'build' && <BuildDialog onClose={() => navigateBack('/images')} />}
      {props.dialog === 'run' && <RunDialog onClose={() => navigateBack('/images')} image={props.query.get('image') ?? undefined} />}
    </section>
  );
}
