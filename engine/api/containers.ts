import { notFound } from '../common/errors.js';
import { sendJson, type Router } from './router.js';

/**
 * Container routes. Until the runtime lands the engine has no containers, but
 * clients still ask: `docker inspect NAME` tries a container before an image,
 * and `docker system df`/`ps` list them.
 */
export function containerRoutes(router: Router): void {
  router.add('GET', '/containers/json', ({ res }) => sendJson(res, 200, []));
  router.add('GET', '/containers/{id}/json', ({ params }) => {
    throw notFound(`No such container: ${params['id'] ?? ''}`);
  });
}
