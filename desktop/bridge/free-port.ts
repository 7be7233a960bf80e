/**
 * A host port to publish on that is free: no container of the engine publishes it, and, when
 * the engine's ports land on this computer (the local engine, the VM's forwarded ones), nothing
 * here listens on it either. The tour asks for 8080 and gets the next free one, so running it
 * twice does not fail with "port is already allocated".
 */
import net from 'node:net';
import type { EngineClient } from '../../client/index.js';
import type { EngineEndpoint } from '../../types/desktop-api.js';
import { BridgeFailure } from './errors.js';

const TRIES = 200;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function freeHostPort(client: EngineClient, engine: EngineEndpoint, preferred = 8080): Promise<number> {
  const used = new Set<number>();
  for (const c of await client.containers.list({ all: true })) for (const p of c.Ports) if (p.PublicPort) used.add(p.PublicPort);
  const here = engine.kind === 'local' || engine.kind === 'vm' || (engine.kind === 'socket' && engine.host.startsWith('unix://'));
  for (let port = preferred; port < preferred + TRIES && port <= 65535; port++) {
    if (used.has(port)) continue;
    if (here && !(await canBind(port))) continue;
    return port;
  }
  throw new BridgeFailure(`no free port between ${preferred} and ${Math.min(65535, preferred + TRIES - 1)}`, 409);
}
