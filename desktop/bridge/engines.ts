/**
 * Adding an engine, shared by the app (`engine.add`) and the CLI (`berth context create`). An
 * ssh:// engine is reached once before it is saved: that is when its host key is reviewed and
 * pinned (unless ~/.ssh/known_hosts already vouches for it), and when a wrong address or key is
 * reported, so a saved engine is one that worked.
 */
import os from 'node:os';
import path from 'node:path';
import { EngineClient } from '../../client/index.js';
import { openEngineLink } from '../../client/engine-link.js';
import { berthHome, socketIn } from '../../client/home.js';
import { KnownHosts, parseSshHost } from '../../client/ssh/index.js';
import type { EngineEndpoint } from '../../types/desktop-api.js';
import type { DesktopConfig } from './config.js';
import { invalid } from './errors.js';

export interface NewEngine {
  name: string;
  host: string;
  identityFile?: string;
}

/** The saved engine, and whether adding it pinned a host key nobody vouched for before. */
export type AddedEngine = EngineEndpoint & { hostKeyPinned?: boolean };

export async function addEngine(config: DesktopConfig, spec: NewEngine, env: NodeJS.ProcessEnv = process.env): Promise<AddedEngine> {
  // `~/.ssh/id_x` as typed in the app (the CLI expands it too; expanding twice changes nothing).
  const engine = config.prepare(spec.name, spec.host, spec.identityFile === undefined ? undefined : expandHome(spec.identityFile, env));
  if (engine.kind !== 'ssh') return config.add(engine);
  const home = berthHome(env);
  const probeSocket = socketIn(home, `add-${process.pid}-${engine.id.slice(0, 8)}`);
  let link;
  let pinned = false;
  try {
    link = await openEngineLink(engine, {
      home,
      env,
      socketPath: probeSocket,
      connectNow: true,
      onNewHostKey: (_target, fp) => {
        pinned = true;
        engine.hostKey = fp;
      },
      onKnownHostKey: (_target, fp) => {
        engine.hostKey = fp;
      },
    });
  } catch (err) {
    throw invalid(`cannot add ${engine.host}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const client = new EngineClient({ host: link.host });
  try {
    await client.ping(AbortSignal.timeout(10_000));
  } catch (err) {
    throw invalid(`reached ${engine.host} over SSH, but no engine answered at its socket: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    client.close();
    await link.close();
  }
  await config.add(engine);
  return { ...engine, ...(pinned ? { hostKeyPinned: true } : {}) };
}

/**
 * Removes an engine. An ssh engine's pinned host key goes with it unless another engine uses the
 * same host and port, so "remove it and add it again" is how a changed key is accepted.
 */
export async function removeEngine(config: DesktopConfig, id: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const engine = config.get(id);
  await config.remove(id);
  if (engine.kind !== 'ssh') return;
  const target = parseSshHost(engine.host);
  const shared = config.engines().some((e) => {
    if (e.kind !== 'ssh') return false;
    const t = parseSshHost(e.host);
    return t.host === target.host && t.port === target.port;
  });
  if (!shared) await new KnownHosts(berthHome(env).knownHosts).unpin(target.host, target.port);
}

/** `~` in an identity file path typed by a person. */
export function expandHome(file: string, env: NodeJS.ProcessEnv = process.env): string {
  return file.startsWith('~/') ? path.join(env['HOME'] || os.homedir(), file.slice(2)) : file;
}
