/**
 * One image: its names and facts, the layers that make it (newest first, each with its size and
 * the instruction that made it, from the image's history), its configuration (command, entry
 * point, environment, ports, volumes, labels), and the containers made from it, with Run, Push
 * and Remove. The whole inspect document is one click away.
 */
import { useState, type ReactNode } from 'react';
import type { HistoryItem, ImageInspect } from '../../../types/engine-api';
import { bridge } from '../bridge';
import { LastKnown } from '../components/EngineBanner';
import { JsonTree } from '../components/JsonTree';
import { Ago, Badge, Button, ErrorBanner, StateBadge, useAction } from '../components/ui';
import { formatBytes, shortId, shortImage } from '../format';
import { Play, Trash2, Upload } from '../icons';
import { navigate } from '../router';
import { useCall } from '../state';

/** "/bin/sh -c #(nop)  CMD ["sh"]" → "CMD ["sh"]"; "/bin/sh -c apk add x" → "RUN apk add x". */
export function instruction(createdBy: string): string {
  const s = createdBy.trim();
  const nop = /^\/bin\/sh -c #\(nop\)\s*(.*)$/s.exec(s);
  if (nop) return nop[1]!.trim();
  const shell = /^\/bin\/sh -c (.*)$/s.exec(s);
  if (shell) return `RUN ${shell[1]!.trim()}`;
  return s.replace(/\s+# buildkit$/, '');
}

function Layers(props: { history: HistoryItem[] }): ReactNode {
  const total = props.history.reduce((n, h) => n + h.Size, 0);
  return (
    <table className="grid layers-table" aria-label="Layers">
      <thead>
        <tr>
          <th scope="col" className="col-n">
            #
          </th>
          <th scope="col">Instruction</th>
          <th scope="col" className="col-num">
            Size
          </th>
          <th scope="col" className="col-age">
            Created
          </th>
        </tr>
      </thead>
      <tbody>
        {props.history.map((h, i) => (
          <tr key={`${i}-${h.Id}`} className={h.Size === 0 ? 'empty-layer' : undefined}>
            <td className="muted num">{props.history.length - i}</td>
            <td className="mono instruction" title={h.CreatedBy}>
              {instruction(h.CreatedBy) || <span className="muted">(no instruction recorded)</span>}
              {h.Comment && <span className="muted"> — {h.Comment}</span>}
            </td>
            <td className="num">{h.Size === 0 ? <span className="muted">0 B</span> : formatBytes(h.Size)}</td>
            <td>
              <Ago time={h.Created} />
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <td />
          <td className="muted">{props.history.filter((h) => h.Size > 0).length} layers with files</td>
          <td className="num">{formatBytes(total)}</td>
          <td />
        </tr>
      </tfoot>
    </table>
  );
}

function Config(props: { image: ImageInspect }): ReactNode {
  const c = props.image.Config;
  const list = (v: string[] | null | undefined): ReactNode => (v && v.length ? <code>{JSON.stringify(v)}</code> : <span className="muted">—</span>);
  const keys = (v: Record<string, unknown> | null | undefined): ReactNode => (v && Object.keys(v).length ? Object.keys(v).join(', ') : <span className="muted">—</span>);
  return (
    <dl className="facts">
      <dt>Command</dt>
      <dd>{list(c?.Cmd)}</dd>
      <dt>Entry point</dt>
      <dd>{list(c?.Entrypoint)}</dd>
      <dt>Working directory</dt>
      <dd>{c?.WorkingDir || <span className="muted">/</span>}</dd>
      <dt>User</dt>
      <dd>{c?.User || <span className="muted">root</span>}</dd>
      <dt>Ports</dt>
      <dd>{keys(c?.ExposedPorts)}</dd>
      <dt>Volumes</dt>
      <dd>{keys(c?.Volumes)}</dd>
      <dt>Environment</dt>
      <dd>
        {c?.Env?.length ? (
          <ul className="inline-list mono">
            {c.Env.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        ) : (
          <span className="muted">—</span>
        )}
      </dd>
      <dt>Labels</dt>
      <dd>
        {c?.Labels && Object.keys(c.Labels).length ? (
          <ul className="inline-list mono">
            {Object.entries(c.Labels).map(([k, v]) => (
              <li key={k}>
                {k}={v}
              </li>
            ))}
          </ul>
        ) : (
          <span className="muted">—</span>
        )}
      </dd>
      <dt>Platform</dt>
      <dd>
        {props.image.Os}/{props.image.Architecture}
        {props.image.Variant ? `/${props.image.Variant}` : ''}
      </dd>
    </dl>
  );
}

export function ImageDetail(props: { id: string }): ReactNode {
  const image = useCall('images.inspect', { id: props.id }, ['image']);
  const history = useCall('images.history', { id: props.id }, ['image']);
  const containers = useCall('containers.list', { all: true }, ['container']);
  const [raw, setRaw] = useState(false);
  const [busy, run] = useAction();
  const i = image.data;
  const tags = i?.RepoTags ?? [];
  const ref = tags[0] ?? (i ? shortId(i.Id) : shortId(props.id));
  const users = (containers.data ?? []).filter((c) => i && c.ImageID === i.Id);
  return (
    <section aria-labelledby="image-title" className="screen">
      <p className="crumbs">
        <a href="#/images">Images</a> / {shortImage(ref)}
      </p>
      <header className="detail-header">
        <h1 id="image-title" tabIndex={-1}>
          {shortImage(ref)}
        </h1>
        {i && tags.length === 0 && <Badge tone="idle">dangling</Badge>}
        <LastKnown />
        <span className="spacer" />
        <Button icon={Play} engine onClick={() => navigate(`/images/run?image=${encodeURIComponent(tags[0] ?? props.id)}`)}>
          Run
        </Button>
        {tags[0]?.includes('/') && (
          <Button icon={Upload} engine disabled={busy} onClick={() => void run(`Pushing ${tags[0]}`, () => bridge().invoke('images.push', { ref: tags[0]! }), `Pushing ${tags[0]}: progress on the Images screen`)}>
            Push
          </Button>
        )}
        <Button
          kind="danger"
          icon={Trash2}
          engine
          disabled={busy || users.length > 0}
          title={users.length > 0 ? 'Containers use this image: remove them first' : undefined}
          onClick={() =>
            void run(
              'Removing the image',
              async () => {
                await bridge().invoke('images.remove', { id: props.id });
                navigate('/images');
              },
              `Removed ${ref}`,
            )
          }
        >
          Remove
        </Button>
      </header>
      <ErrorBanner error={image.error} onRetry={image.reload} />
      {i && (
        <dl className="facts facts-inline">
          <dt>ID</dt>
          <dd className="mono">{shortId(i.Id)}</dd>
          <dt>Size</dt>
          <dd>{formatBytes(i.Size)}</dd>
          <dt>Created</dt>
          <dd>
            <Ago time={i.Created} />
          </dd>
          {tags.length > 1 && (
            <>
              <dt>Tags</dt>
              <dd>{tags.map(shortImage).join(', ')}</dd>
            </>
          )}
          {i.RepoDigests[0] && (
            <>
              <dt>Digest</dt>
              <dd className="mono" title={i.RepoDigests[0]}>
                {i.RepoDigests[0].split('@')[1]?.slice(0, 19)}…
              </dd>
            </>
          )}
        </dl>
      )}
      <div className="detail-grid">
        <section className="panel" aria-labelledby="layers-title">
          <h2 id="layers-title">Layers</h2>
          <p className="muted">Newest first: each instruction of the image's build and the files it added.</p>
          <ErrorBanner error={history.error} />
          {history.data && <Layers history={history.data} />}
        </section>
        <div className="detail-side">
          <section className="panel" aria-labelledby="config-title">
            <h2 id="config-title">Configuration</h2>
            {i && <Config image={i} />}
          </section>
          <section className="panel" aria-labelledby="users-title">
            <h2 id="users-title">Containers using it</h2>
            {users.length === 0 ? (
              <p className="muted">None.</p>
            ) : (
              <ul className="inline-list">
                {users.map((c) => (
                  <li key={c.Id} className="row">
                    <StateBadge state={c.State} /> <a href={`#/containers/${c.Id}/logs`}>{c.Names[0]?.replace(/^\//, '')}</a>
                  </li>
                ))}
              </ul>
            )}
          </section>
        </div>
      </div>
      <section className="panel" aria-labelledby="raw-title">
        <button type="button" className="disclosure" aria-expanded={raw} onClick={() => setRaw(!raw)}>
          <h2 id="raw-title">Inspect</h2>
        </button>
        {raw && i && (
          <div className="raw-inspect">
            <JsonTree value={i} label={`Inspect ${ref}`} />
          </div>
        )}
      </section>
    </section>
  );
}
