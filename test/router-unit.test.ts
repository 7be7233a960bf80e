// The API router: parameterless routes are found through a map (the polling fast path), and
// that must give exactly the answer the ordered scan of patterns gives; API versions are
// checked once per distinct version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, parseVersionedPath, type Handler } from '../engine/api/router.js';

const named = (name: string): Handler => Object.assign(() => undefined, { routeName: name });
const nameOf = (m: ReturnType<Router['match']>): string | undefined =>
  typeof m === 'object' ? (m.handler as unknown as { routeName: string }).routeName : m;

test('a static path is answered by the first route that matches it, as the scan would', () => {
  const r = new Router();
  r.add('GET', '/images/{name*}/json', named('inspect'));
  r.add('GET', '/images/json', named('list')); // "/images/json" cannot be {name*}/json: list wins
  r.add('GET', '/things/{id}', named('thing'));
  r.add('GET', '/things/json', named('shadowed')); // an earlier pattern takes this path
  r.add('GET', '/containers/json', named('ps'));
  r.add('GET', '/containers/json', named('second')); // a duplicate never wins
  r.add('POST', '/containers/json', named('post'));
  assert.equal(nameOf(r.match('GET', '/images/json')), 'list');
  assert.equal(nameOf(r.match('GET', '/images/busybox/json')), 'inspect');
  assert.equal(nameOf(r.match('GET', '/things/json')), 'thing');
  assert.equal(nameOf(r.match('GET', '/containers/json')), 'ps');
  assert.equal(nameOf(r.match('POST', '/containers/json')), 'post');
  // HEAD falls back to GET, an unknown method on a known path is 'method', an unknown path undefined.
  assert.equal(nameOf(r.match('HEAD', '/containers/json')), 'ps');
  assert.equal(r.match('DELETE', '/containers/json'), 'method');
  assert.equal(r.match('GET', '/nope'), undefined);
  const m = r.match('GET', '/containers/json');
  assert.ok(typeof m === 'object');
  assert.deepEqual(m.params, {});
});

test('API versions: in range passes (again from the cache), out of range is a 400 every time', () => {
  assert.deepEqual(parseVersionedPath('/v1.41/containers/json'), { version: '1.41', path: '/containers/json' });
  assert.deepEqual(parseVersionedPath('/v1.41/info'), { version: '1.41', path: '/info' });
  for (let i = 0; i < 2; i++) {
    assert.throws(() => parseVersionedPath('/v9.99/info'), /client version 9\.99 is too new/);
    assert.throws(() => parseVersionedPath('/v1.12/info'), /client version 1\.12 is too old/);
  }
  assert.equal(parseVersionedPath('/info').path, '/info');
});
