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
import { berthHome } from '../../client/home.js';
import type { EngineEndpoint } from '../../types/desktop-api.js';
import type { DesktopConfig } from './config.js';
import { invalid } from './errors.js';

export interface NewEngine {
  name: string;
  host: string;
  identityFile?: string;
}

export async function addEngine(config: DesktopConfig, spec: NewEngine, env: NodeJS.ProcessEnv = process.env): Promise<EngineEndpoint> {
  // `~/.ssh/id_x` as typed in the app (the CLI expands it too; expanding twice changes nothing).
  const engine = config.prepare(spec.name, spec.host, spec.identityFile === undefined ? undefined : expandHome(spec.identityFile, env));
  if (engine.kind !== 'ssh') return config.add(engine);
  const home = berthHome(env);
  const probeSocket = path.join(home.runDir, `add-${process.pid}-${engine.id.slice(0, 8)}.sock`);
  let link;
  try {
    link = await openEngineLink(engine, {
      home,
      env,
      socketPath: probeSocket,
      connectNow: true,
      onNewHostKey: (_target, fp) => {
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
  return config.add(engine);
}

/** `~` in an identity file path typed by a person. */
export function expandHome(file: string, env: NodeJS.ProcessEnv = process.env): string {
  return file.startsWith('~/') ? path.join(env['HOME'] || os.homedir(), file.slice(2)) : file;
}
