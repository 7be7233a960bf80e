// The API router: parameterless routes are found through a map (the polling fast path), and
// that must give exactly the answer the ordered scan of patterns gives; API versions are
// checked once per distinct version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, parseVersionedPath, type Handler } from '../engine/api/router.js';
import { fastTarget } from '../engine/api/target.js';

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

test('fastTarget splits plain targets exactly as the URL parser would, and leaves the rest to it', () => {
  const plain = ['/v1.41/containers/json', '/v1.47/containers/json?all=1&size=0', '/containers/abc/json', '/images/localhost:5000/team/app:1/json', '/_ping', '/v1.41/images/create?fromImage=busybox&tag=latest', '/containers/json?filters=%7B%22status%22%3A%5B%22exited%22%5D%7D', '/x?a=1+2&b=%20c&a=3'];
  for (const raw of plain) {
    const fast = fastTarget(raw);
    assert.ok(fast, raw);
    const url = new URL(raw, 'http://localhost');
    assert.equal(fast.pathname, url.pathname, raw);
    assert.deepEqual([...fast.searchParams], [...url.searchParams], raw);
  }
  for (const raw of ['/a/../b', '/a/./b', '/.hidden', '/a%2Fb', '//double', '/a b', '/x?a=1#frag', 'http://host/path', '*', '/a\\b']) {
    assert.equal(fastTarget(raw), undefined, raw);
  }
});
