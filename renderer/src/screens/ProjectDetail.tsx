/**
 * One compose project: its services (each container with state, image, ports and actions),
 * project-wide start, stop, restart and delete, and the merged logs of all its services.
 */
import { useState, type ReactNode } from 'react';
import { LastKnown } from '../components/EngineBanner';
import { ProjectLogView, serviceColor } from '../components/ProjectLogView';
import { Button, Empty, ErrorBanner, StateBadge } from '../components/ui';
import { shortImage } from '../format';
import { Play, RotateCw, Square, Trash2 } from '../icons';
import { useCall } from '../state';
import { ContainerActions, PortLinks, containerName } from './containerActions';
import { PROJECT_LABEL, SERVICE_LABEL } from './containerRows';
import { ConfirmProjectRemove, runProjectAction } from './projectActions';

export function ProjectDetail(props: { name: string }): ReactNode {
  const list = useCall('containers.list', { all: true }, ['container']);
  const [removing, setRemoving] = useState(false);
  const members = (list.data ?? [])
    .filter((c) => c.Labels?.[PROJECT_LABEL] === props.name)
    .map((c) => ({ c, name: containerName(c.Names, c.Id), service: c.Labels?.[SERVICE_LABEL] ?? containerName(c.Names, c.Id) }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name));
  const services = [...new Set(members.map((m) => m.service))];
  const running = members.filter((m) => m.c.State === 'running').length;
  return (
    <section className="screen-fill" aria-labelledby="project-title">
      <p className="crumbs">
        <a href="#/containers">Containers</a> / {props.name}
      </p>
      <header className="detail-header">
        <h1 id="project-title" tabIndex={-1}>
          {props.name}
        </h1>
        <span className="muted">
          compose project · {members.length} container{members.length === 1 ? '' : 's'}, {running} running
        </span>
        <LastKnown />
        <span className="spacer" />
        <Button icon={Play} engine disabled={members.length === 0 || running === members.length} onClick={() => void runProjectAction(props.name, 'start')}>
          Start
        </Button>
        <Button icon={Square} engine disabled={running === 0} onClick={() => void runProjectAction(props.name, 'stop')}>
          Stop
        </Button>
        <Button icon={RotateCw} engine disabled={members.length === 0} onClick={() => void runProjectAction(props.name, 'restart')}>
          Restart
        </Button>
        <Button kind="danger" icon={Trash2} engine disabled={members.length === 0} onClick={() => setRemoving(true)}>
          Delete
        </Button>
      </header>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.data && members.length === 0 ? (
        <Empty title={`No containers of ${props.name}`}>
          <a href="#/containers">Back to the containers</a>
        </Empty>
      ) : (
        <div className="table-scroll">
        <table className="grid services-table" aria-label={`Services of ${props.name}`}>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">State</th>
              <th scope="col">Container</th>
              <th scope="col">Image</th>
              <th scope="col">Ports</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.c.Id}>
                <td>
                  <span className="service-dot" style={{ background: serviceColor(m.service) }} aria-hidden="true" />
                  <strong>{m.service}</strong>
                </td>
                <td>
                  <StateBadge state={m.c.State} />
                </td>
                <td>
                  <a href={`#/containers/${m.c.Id}/logs`}>{m.name}</a>
                </td>
                <td title={m.c.Image}>{shortImage(m.c.Image)}</td>
                <td>
                  <PortLinks ports={m.c.Ports} />
                </td>
                <td>
                  <ContainerActions target={{ id: m.c.Id, name: m.name, state: m.c.State }} compact />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
      <h2 className="section-title">Logs</h2>
      <div className="tab-panel">{services.length > 0 && <ProjectLogView project={props.name} services={services} />}</div>
      {removing && <ConfirmProjectRemove project={props.name} containers={members.map((m) => m.name)} onCancel={() => setRemoving(false)} onDone={() => setRemoving(false)} />}
    </section>
  );
}
