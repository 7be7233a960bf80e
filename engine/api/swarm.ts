/**
 * Swarm-mode routes. berthd is never part of a swarm, so it answers every swarm endpoint the way
 * a dockerd that is not in one does: 503 with dockerd's wording. Clients rely on this: docker-py's
 * tests call `leave_swarm(force=True)` in their teardown and expect "not part of a swarm", and the
 * docker CLI prints these messages for `docker service ls`, `docker node ls` and the like.
 * A 404 "page not found" instead would read as a broken engine.
 */
import { BerthError } from '../common/errors.js';
import { readBody, type Router } from './router.js';

/** dockerd's answer from any manager-only endpoint on a node that has no swarm. */
export const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** dockerd's answer to `swarm leave` on a node that has no swarm. */
export const NOT_IN_A_SWARM = 'This node is not part of a swarm';
/** dockerd would create or join a swarm here; berthd has no swarm mode, and says so. */
export const SWARM_UNSUPPORTED = 'Swarm mode is not supported by this engine (berthd): it cannot initialize or join a swarm';

const MANAGER_ONLY: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/swarm'],
  ['GET', '/swarm/unlockkey'],
  ['POST', '/swarm/update'],
  ['POST', '/swarm/unlock'],
  ['GET', '/services'],
  ['POST', '/services/create'],
  ['GET', '/services/{id}'],
  ['POST', '/services/{id}/update'],
  ['DELETE', '/services/{id}'],
  ['GET', '/services/{id}/logs'],
  ['GET', '/nodes'],
  ['GET', '/nodes/{id}'],
  ['POST', '/nodes/{id}/update'],
  ['DELETE', '/nodes/{id}'],
  ['GET', '/tasks'],
  ['GET', '/tasks/{id}'],
  ['GET', '/tasks/{id}/logs'],
  ['GET', '/secrets'],
  ['POST', '/secrets/create'],
  ['GET', '/secrets/{id}'],
  ['POST', '/secrets/{id}/update'],
  ['DELETE', '/secrets/{id}'],
  ['GET', '/configs'],
  ['POST', '/configs/create'],
  ['GET', '/configs/{id}'],
  ['POST', '/configs/{id}/update'],
  ['DELETE', '/configs/{id}'],
];

function unavailable(message: string) {
  return async ({ req }: { req: Parameters<typeof readBody>[0] }): Promise<void> => {
    // Read the body so the connection stays usable for the client's next request.
    await readBody(req);
    throw new BerthError('unavailable', message, { code: 'SWARM_INACTIVE' });
  };
}

export function swarmRoutes(router: Router): void {
  for (const [method, path] of MANAGER_ONLY) router.add(method, path, unavailable(NOT_A_MANAGER));
  router.add('POST', '/swarm/leave', unavailable(NOT_IN_A_SWARM));
  router.add('POST', '/swarm/init', unavailable(SWARM_UNSUPPORTED));
  router.add('POST', '/swarm/join', unavailable(SWARM_UNSUPPORTED));
}
