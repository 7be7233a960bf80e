/**
 * Compose projects as one thing: the containers that carry a project's
 * `com.docker.compose.project` label are started, stopped, restarted or removed together
 * (removing also takes the project's networks, as `docker compose down` does), and their logs
 * are merged into one stream, in time order, each line tagged with its service.
 */
import type { EngineClient } from '../../client/index.js';
import type { ContainerSummary } from '../../types/engine-api.js';
import type { LogLine, ProjectLogLine } from '../../types/desktop-api.js';
import { toBridgeError } from './errors.js';
import { LineBatcher, pumpLogs } from './logs.js';

export const PROJECT_LABEL = 'com.docker.compose.project';
export const SERVICE_LABEL = 'com.docker.compose.service';

const nameOf = (c: ContainerSummary): string => c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12);
const serviceOf = (c: ContainerSummary): string => c.Labels?.[SERVICE_LABEL] ?? nameOf(c);

export async function projectContainers(client: EngineClient, project: string): Promise<ContainerSummary[]> {
  const list = await client.containers.list({ all: true, filters: { label: [`${PROJECT_LABEL}=${project}`] } });
  return list.sort((a, b) => serviceOf(a).localeCompare(serviceOf(b)) || nameOf(a).localeCompare(nameOf(b)));
}

export async function projectAction(
  client: EngineClient,
  project: string,
  action: 'start' | 'stop' | 'restart' | 'remove',
): Promise<{ done: number; failures: string[] }> {
  const containers = await projectContainers(client, project);
  const up = (c: ContainerSummary): boolean => c.State === 'running' || c.State === 'paused' || c.State === 'restarting';
  const targets = containers.filter((c) => (action === 'start' ? !up(c) : action === 'stop' ? up(c) : true));
  const results = await Promise.allSettled(
    targets.map((c) => {
      if (action === 'start') return client.containers.start(c.Id);
      if (action === 'stop') return client.containers.stop(c.Id);
      if (action === 'restart') return client.containers.restart(c.Id);
      return client.containers.remove(c.Id, { force: true });
    }),
  );
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${nameOf(targets[i]!)}: ${toBridgeError(r.reason).message}`] : []));
  if (action === 'remove' && failures.length === 0) {
    for (const n of await client.networks.list({ filters: { label: [`${PROJECT_LABEL}=${project}`] } })) {
      await client.networks.remove(n.Id).catch((err: unknown) => failures.push(`network ${n.Name}: ${toBridgeError(err).message}`));
    }
  }
  return { done: targets.length - failures.length, failures };
}

/** How long the first lines are held so every container's tail is sorted together. */
const FIRST_BATCH_MS = 300;

/** Pumps every container's log of the project into `push`, merged by time. */
export async function pumpProjectLogs(
  client: EngineClient,
  req: { project: string; follow: boolean; tail?: number },
  push: (lines: ProjectLogLine[]) => void,
  signal: AbortSignal,
): Promise<void> {
  const containers = await projectContainers(client, req.project);
  let held: ProjectLogLine[] | undefined = [];
  const byTime = (a: ProjectLogLine, b: ProjectLogLine): number => (a.time ?? '').localeCompare(b.time ?? '');
  const release = (): void => {
    if (!held) return;
    const first = held.sort(byTime);
    held = undefined;
    if (first.length > 0) push(first);
  };
  const timer = setTimeout(release, FIRST_BATCH_MS);
  const merged = new LineBatcher((lines) => {
    const tagged = lines as ProjectLogLine[];
    if (held) held.push(...tagged);
    else push(tagged.sort(byTime));
  });
  try {
    await Promise.all(
      containers.map((c) => {
        const tag = { service: serviceOf(c), container: nameOf(c) };
        const own = new LineBatcher((lines: LogLine[]) => merged.add(lines.map((l) => ({ ...l, ...tag }))));
        return pumpLogs(client, { id: c.Id, follow: req.follow, timestamps: true, ...(req.tail !== undefined ? { tail: req.tail } : {}) }, own, signal).catch((err: unknown) => {
          if (!signal.aborted) merged.add([{ stream: 'stderr', text: `[${tag.container}: ${toBridgeError(err).message}]`, ...tag }]);
        });
      }),
    );
  } finally {
    clearTimeout(timer);
    merged.flush();
    release();
  }
}
