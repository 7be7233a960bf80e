/**
 * Acting on a whole compose project (start, stop, restart, delete), shared by the containers
 * list's group rows and the project's own screen; delete asks first and says what goes.
 */
import type { ReactNode } from 'react';
import { bridge, errorText } from '../bridge';
import { Confirm, toast } from '../components/ui';

export type ProjectAction = 'start' | 'stop' | 'restart' | 'remove';
const DONE: Record<ProjectAction, string> = { start: 'Started', stop: 'Stopped', restart: 'Restarted', remove: 'Deleted' };

export async function runProjectAction(project: string, action: ProjectAction): Promise<void> {
  try {
    const r = await bridge().invoke('compose.action', { project, action });
    if (r.failures.length === 0) toast(`${DONE[action]} project ${project}${r.done ? ` (${r.done} container${r.done === 1 ? '' : 's'})` : ''}`);
    else toast(`${project}: ${r.failures.length} failed — ${r.failures.join('; ')}`, 'bad');
  } catch (err) {
    toast(`${project}: ${errorText(err)}`, 'bad');
  }
}

export function ConfirmProjectRemove(props: { project: string; containers: string[]; onDone: () => void; onCancel: () => void }): ReactNode {
  return (
    <Confirm
      title={`Delete project ${props.project}?`}
      message={
        <>
          <p>
            Its {props.containers.length} container{props.containers.length === 1 ? '' : 's'} (running ones are stopped first) and its networks are deleted, as{' '}
            <code>docker compose down</code> does. Volumes and images stay.
          </p>
          <ul className="confirm-list">
            {props.containers.map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
        </>
      }
      confirm="Delete project"
      danger
      onCancel={props.onCancel}
      onConfirm={() => {
        props.onDone();
        void runProjectAction(props.project, 'remove');
      }}
    />
  );
}
