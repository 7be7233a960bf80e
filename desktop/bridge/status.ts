/**
 * Engine status: is the engine there, how fast does it answer, and when it is not, why not and
 * what to do about it, in words a person can act on (the common failures: the local daemon is not
 * started, the socket belongs to a group the user is not in, a remote address is wrong).
 */
import { EngineError, parseHost } from '../../client/index.js';
import type { EngineClient } from '../../client/index.js';
import type { EngineLink } from '../../client/engine-link.js';
import type { EngineEndpoint, EngineStatus } from '../../types/desktop-api.js';

const SSH_FIX = 'check the address, that your key is in the remote authorized_keys, and that sshd allows AllowStreamLocalForwarding';

/** How long a probe waits for the engine before calling it unreachable. */
export const PROBE_TIMEOUT_MS = 3000;

/** The reason and fix for an engine that could not be reached. */
export function explainUnreachable(engine: EngineEndpoint, err: unknown): { reason: string; fix: string } {
  const cause = err instanceof EngineError && err.cause !== undefined ? err.cause : err;
  const errno = (cause as NodeJS.ErrnoException | null)?.code;
  let where = engine.host;
  let unix = false;
  try {
    const ep = parseHost(engine.host);
    unix = ep.protocol === 'unix';
    where = ep.protocol === 'unix' ? ep.socketPath : `${ep.hostname}:${ep.port}`;
  } catch {
    // reported below as the message of the error itself
  }
  const startFix =
    engine.kind === 'local'
      ? 'use Start engine, or start it in a terminal: sudo berthd'
      : engine.kind === 'vm'
        ? 'start the VM: berth vm start, or Settings → Virtual machine → Start'
        : `start the engine behind ${where}, or check the address`;
  if (errno === 'EACCES' || errno === 'EPERM') {
    return {
      reason: `permission denied on ${where}`,
      fix: 'permission denied: add yourself to group docker (sudo usermod -aG docker $USER, then log in again), or run berthd with a socket you may use',
    };
  }
  if (errno === 'ENOENT') return { reason: `no engine socket at ${where}`, fix: startFix };
  if (errno === 'ECONNREFUSED') return { reason: `nothing is listening at ${where}`, fix: startFix };
  if (errno === 'ENOTSOCK') return { reason: `${where} is not a socket`, fix: 'point the engine at the daemon\'s socket (unix:///run/berth/docker.sock)' };
  if (errno === 'ENOTFOUND' || errno === 'EAI_AGAIN') return { reason: `unknown host in ${engine.host}`, fix: 'check the engine address' };
  if (errno === 'EHOSTUNREACH' || errno === 'ENETUNREACH') return { reason: `no route to ${where}`, fix: 'check the network and the engine address' };
  if (errno === 'ETIMEDOUT') {
    return { reason: `${where} did not answer within ${PROBE_TIMEOUT_MS / 1000} s`, fix: unix ? 'the engine is busy or hung: check its log, or restart it' : 'check the engine address and that it is up' };
  }
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof EngineError && err.statusCode > 0) {
    return { reason: `the engine answered ${err.statusCode}: ${message}`, fix: 'this address does not speak the Docker Engine API; check it' };
  }
  return { reason: message, fix: startFix };
}

/**
 * Ping (timed) and version: running with the engine's facts, or unreachable with reason and fix.
 * An ssh:// engine's SSH connection is made first, so its failure (host key, credentials, sshd
 * refusing socket forwarding) is what the user reads, not a reset local socket.
 */
export async function probeEngine(engine: EngineEndpoint, client: EngineClient, link?: EngineLink): Promise<EngineStatus> {
  if (link?.error) return { state: 'unreachable', engine, reason: link.error.message, fix: 'close the other program serving this socket, or restart the app' };
  if (link?.forwarder) {
    try {
      await link.forwarder.ensureSession();
    } catch (err) {
      return {
        state: 'unreachable',
        engine,
        reason: err instanceof Error ? err.message : String(err),
        fix: SSH_FIX,
      };
    }
  }
  const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  try {
    const started = performance.now();
    await client.ping(signal);
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    const version = await client.transport.json<{ Version?: string; ApiVersion?: string; Os?: string }>({ method: 'GET', path: '/version', signal });
    return {
      state: 'running',
      engine,
      version: version.Version ?? '',
      apiVersion: version.ApiVersion ?? '',
      os: version.Os ?? '',
      latencyMs,
    };
  } catch (err) {
    // Over SSH, a failed request after a lost connection is best explained by the reconnect's failure.
    const sshFailure = link?.forwarder ? await link.forwarder.ensureSession().then(() => undefined, (e: unknown) => e) : undefined;
    if (sshFailure) return { state: 'unreachable', engine, reason: sshFailure instanceof Error ? sshFailure.message : String(sshFailure), fix: SSH_FIX };
    const timedOut = signal.aborted ? Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }) : err;
    return { state: 'unreachable', engine, ...explainUnreachable(engine, timedOut) };
  }
}

/** Two statuses that a person would see as the same (latency changes are not news). */
export function sameStatus(a: EngineStatus | undefined, b: EngineStatus): boolean {
  if (!a || a.state !== b.state || a.engine.id !== b.engine.id || a.engine.host !== b.engine.host) return false;
  if (a.state === 'unreachable' && b.state === 'unreachable') return a.reason === b.reason;
  if (a.state === 'running' && b.state === 'running') return a.version === b.version;
  return true;
}
