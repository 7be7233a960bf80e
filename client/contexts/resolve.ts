/**
 * Which engine a command talks to, and the client for it. First match wins: an explicit host
 * (`-H/--host`); a named context (`--context`, or BERTH_CONTEXT); BERTH_HOST / DOCKER_HOST; the
 * current context. A tcp:// address from the host flag or the environment gets TLS from docker's
 * flags and environment (--tlsverify, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH...); a context brings
 * its own.
 */
import type { EngineEndpoint } from '../../types/desktop-api.js';
import { EngineClient } from '../client.js';
import { openEngineLink } from '../engine-link.js';
import type { EngineLink } from '../engine-link.js';
import { EngineError } from '../errors.js';
import { berthHome, socketIn } from '../home.js';
import { DEFAULT_HOST } from '../http.js';
import { dockerTlsSettings } from '../tls.js';
import type { TlsSettingsInput } from '../tls.js';
import { EngineRegistry, LOCAL_ENGINE_ID, defaultConfigPath } from './registry.js';

export function loadContexts(env: NodeJS.ProcessEnv): Promise<EngineRegistry> {
  return EngineRegistry.load(defaultConfigPath(env), env);
}

export interface EngineChoice {
  /** An explicit address (-H/--host). */
  host?: string;
  /** A context by name or id (--context); BERTH_CONTEXT when absent. */
  context?: string;
  /** docker's TLS flags, for a tcp:// address not from a context. */
  tls?: TlsSettingsInput;
}

/** The engine the choice and the environment name; `NOT_FOUND` when a named context does not exist. */
export async function chooseEngine(choice: EngineChoice, env: NodeJS.ProcessEnv): Promise<EngineEndpoint> {
  const named = choice.context || env['BERTH_CONTEXT'];
  if (!choice.host && (named || !(env['BERTH_HOST'] || env['DOCKER_HOST']))) {
    const contexts = await loadContexts(env);
    return named ? contexts.find(named) : contexts.active();
  }
  const host = choice.host || env['BERTH_HOST'] || env['DOCKER_HOST'] || DEFAULT_HOST;
  const tls = /^(tcp|https):\/\//.test(host) ? dockerTlsSettings(choice.tls ?? {}, env) : undefined;
  return { id: LOCAL_ENGINE_ID, name: 'Local engine', kind: 'local', host, ...(tls ? { tls } : {}) };
}

export interface ConnectedEngine {
  client: EngineClient;
  link: EngineLink;
}

/**
 * Opens the engine's link (an ssh:// engine's forwarded socket is `socketName` in Berth's run
 * directory, and lives until the link is closed) and a client over it. `UNREACHABLE` when the link
 * cannot be set up; `INVALID` when the address cannot be used.
 */
export async function connectEngine(engine: EngineEndpoint, env: NodeJS.ProcessEnv, socketName: string): Promise<ConnectedEngine> {
  const home = berthHome(env);
  let link: EngineLink;
  try {
    link = await openEngineLink(engine, { home, env, connectNow: true, socketPath: socketIn(home, socketName) });
  } catch (err) {
    throw new EngineError(`cannot reach context "${engine.name}": ${err instanceof Error ? err.message : String(err)}`, 0, 'UNREACHABLE', { cause: err });
  }
  try {
    return { client: new EngineClient({ host: link.host, ...(link.tls ? { tls: link.tls } : {}) }), link };
  } catch (err) {
    await link.close();
    throw err;
  }
}
