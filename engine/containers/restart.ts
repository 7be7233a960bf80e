/**
 * Restart policies (`docker run --restart`): validation of HostConfig.RestartPolicy and the
 * decisions the service makes when a container's process ends or the daemon starts.
 *
 * Semantics as Docker documents them:
 *   no              never restart
 *   always          restart whenever it stops; after a manual stop (docker stop/kill) not until
 *                   the daemon starts again or the user starts it
 *   unless-stopped  like always, but a manual stop also holds across daemon restarts
 *   on-failure[:N]  restart on a non-zero exit, at most N times (0 = no limit)
 * The delay before each restart starts at 100 ms and doubles up to one minute; a run that lasted
 * at least 10 seconds resets it.
 *
 * Pure functions of the record: the timers and the actual restart live in service.ts.
 */
import { invalid } from '../common/errors.js';
import type { ContainerRecord, RestartPolicy } from './types.js';

const NAMES = new Set(['', 'no', 'always', 'unless-stopped', 'on-failure']);
export const RESTART_DELAY_MIN_MS = 100;
export const RESTART_DELAY_MAX_MS = 60_000;
/** A run at least this long resets the backoff. */
const STABLE_RUN_MS = 10_000;

/** Checks a RestartPolicy from a create or update body; returns it normalised (Name "" → "no"). */
export function validateRestartPolicy(p: unknown, autoRemove: boolean): RestartPolicy {
  if (p === undefined || p === null) return { Name: 'no', MaximumRetryCount: 0 };
  if (typeof p !== 'object' || Array.isArray(p)) throw invalid('RestartPolicy must be an object');
  const { Name, MaximumRetryCount } = p as { Name?: unknown; MaximumRetryCount?: unknown };
  const name = Name === undefined || Name === null ? '' : Name;
  if (typeof name !== 'string' || !NAMES.has(name)) throw invalid(`invalid restart policy: unknown policy '${String(name)}'; use one of 'no', 'always', 'on-failure' or 'unless-stopped'`);
  const max = MaximumRetryCount === undefined || MaximumRetryCount === null ? 0 : MaximumRetryCount;
  if (typeof max !== 'number' || !Number.isInteger(max)) throw invalid('invalid restart policy: MaximumRetryCount must be an integer');
  if (max < 0) throw invalid('invalid restart policy: maximum retry count must be a positive integer');
  if (max > 0 && name !== 'on-failure') throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  const normalised: RestartPolicy = { Name: name === '' ? 'no' : (name as RestartPolicy['Name']), MaximumRetryCount: max };
  if (autoRemove && normalised.Name !== 'no') throw invalid('conflicting options: cannot specify both --restart and --rm');
  return normalised;
}

export function restartPolicy(rec: ContainerRecord): RestartPolicy {
  const p = rec.HostConfig.RestartPolicy as RestartPolicy | undefined;
  return p && p.Name ? p : { Name: 'no', MaximumRetryCount: 0 };
}

/** After the process exited with `code`: restart it? (`manual`: stopped or killed by the user.) */
export function shouldRestartAfterExit(rec: ContainerRecord, code: number, manual: boolean): boolean {
  const p = restartPolicy(rec);
  switch (p.Name) {
    case 'always':
      return !manual;
    case 'unless-stopped':
      return !manual;
    case 'on-failure':
      return !manual && code !== 0 && (p.MaximumRetryCount === 0 || rec.RestartCount < p.MaximumRetryCount);
    default:
      return false;
  }
}

/** When the daemon starts and finds the container not running: start it again? */
export function shouldStartWithDaemon(rec: ContainerRecord): boolean {
  if (!rec.HasBeenStartedBefore) return false;
  const p = restartPolicy(rec);
  switch (p.Name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !rec.HasBeenManuallyStopped;
    case 'on-failure':
      return !rec.HasBeenManuallyStopped && rec.State.ExitCode !== 0 && (p.MaximumRetryCount === 0 || rec.RestartCount < p.MaximumRetryCount);
    default:
      return false;
  }
}

/** The next backoff delay, given the previous one and how long the run that just ended lasted. */
export function nextRestartDelay(previousMs: number, ranMs: number): number {
  if (ranMs >= STABLE_RUN_MS || previousMs <= 0) return RESTART_DELAY_MIN_MS;
  return Math.min(previousMs * 2, RESTART_DELAY_MAX_MS);
}
