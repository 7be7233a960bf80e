/**
 * containers.run: `docker run -d` for the desktop. Builds the create body from the form (ports,
 * environment, volumes, restart policy, an interactive TTY), pulls the image first when the
 * engine does not have it, then starts the container. A container that was created but could
 * not start is removed again, so a failed Run leaves nothing behind.
 */
import { followProgress } from '../../client/index.js';
import type { EngineClient } from '../../client/index.js';
import { EngineError } from '../../client/index.js';
import type { RunRequest } from '../../types/desktop-api.js';
import type { ContainerCreateBody, PortBinding } from '../../types/engine-api.js';
import { invalid } from './errors.js';
import type { Params } from './params.js';
import { asParams, oneOf, optBool, optList, optStr, optStrings, str } from './params.js';

/** The request, checked field by field. */
export function parseRunRequest(p: Params): RunRequest {
  const req: RunRequest = { image: str(p, 'image').trim() };
  const name = optStr(p, 'name');
  if (name) {
    if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalid(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    req.name = name;
  }
  const command = optStrings(p, 'command');
  if (command && command.length > 0) req.command = command;
  const env = optStrings(p, 'env');
  if (env) {
    for (const e of env) if (!e || e.startsWith('=')) throw invalid(`invalid environment variable "${e}"`);
    req.env = env;
  }
  const ports = optList(p, 'ports', (item) => {
    const protocol = oneOf(item, 'protocol', ['tcp', 'udp'] as const);
    return { host: optStr(item, 'host') ?? '', container: str(item, 'container'), ...(protocol ? { protocol } : {}) };
  });
  if (ports) req.ports = ports;
  const volumes = optList(p, 'volumes', (item) => {
    const readOnly = optBool(item, 'readOnly');
    return { source: str(item, 'source'), target: str(item, 'target'), ...(readOnly !== undefined ? { readOnly } : {}) };
  });
  if (volumes) req.volumes = volumes;
  const restart = oneOf(p, 'restart', ['no', 'always', 'unless-stopped', 'on-failure'] as const);
  if (restart) req.restart = restart;
  const interactive = optBool(p, 'interactive');
  if (interactive !== undefined) req.interactive = interactive;
  return req;
}

const PORT = /^\d{1,5}$/;
const validPort = (s: string): boolean => PORT.test(s) && Number(s) >= 1 && Number(s) <= 65535;

/** The body of POST /containers/create for a request. */
export function createBody(req: RunRequest): ContainerCreateBody {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const p of req.ports ?? []) {
    const [num, proto = p.protocol ?? 'tcp'] = p.container.split('/');
    if (!num || !validPort(num) || (proto !== 'tcp' && proto !== 'udp')) throw invalid(`invalid container port "${p.container}"`);
    const key = `${num}/${proto}`;
    const colon = p.host.lastIndexOf(':');
    const hostIp = colon >= 0 ? p.host.slice(0, colon).replace(/^\[|\]$/g, '') : '';
    const hostPort = colon >= 0 ? p.host.slice(colon + 1) : p.host;
    if (hostPort !== '' && !validPort(hostPort)) throw invalid(`invalid host port "${p.host}"`);
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hostPort });
  }
  const binds = (req.volumes ?? []).map((v) => {
    if (!v.target.startsWith('/')) throw invalid(`volume target "${v.target}" must be an absolute path`);
    if (v.source.includes(':') || v.target.includes(':')) throw invalid('volume paths may not contain ":"');
    return `${v.source}:${v.target}${v.readOnly ? ':ro' : ''}`;
  });
  const tty = req.interactive ?? false;
  return {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: !tty,
    AttachStderr: !tty,
    ExposedPorts: exposed,
    Tty: tty,
    OpenStdin: tty,
    StdinOnce: false,
    Env: req.env ?? [],
    Cmd: req.command ?? null,
    Image: req.image,
    Volumes: null,
    WorkingDir: '',
    Labels: {},
    HostConfig: {
      Binds: binds,
      PortBindings: bindings,
      RestartPolicy: { Name: req.restart ?? 'no', MaximumRetryCount: 0 },
      NetworkMode: 'default',
    },
    NetworkingConfig: { EndpointsConfig: {} },
  };
}

const isMissingImage = (err: unknown): boolean => err instanceof EngineError && err.statusCode === 404 && /image/i.test(err.message);

export async function runContainer(client: EngineClient, params: unknown): Promise<{ id: string; warnings: string[] }> {
  const req = parseRunRequest(asParams(params));
  const body = createBody(req);
  const opts = req.name ? { name: req.name } : {};
  let created;
  try {
    created = await client.containers.create(body, opts);
  } catch (err) {
    if (!isMissingImage(err)) throw err;
    await followProgress(client.pullImage(req.image));
    created = await client.containers.create(body, opts);
  }
  try {
    await client.containers.start(created.Id);
  } catch (err) {
    await client.containers.remove(created.Id, { force: true }).catch(() => undefined);
    throw err;
  }
  return { id: created.Id, warnings: created.Warnings ?? [] };
}
