import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  familiarName,
  familiarString,
  fullName,
  isLoopbackHost,
  normalizeServerAddress,
  parseReference,
  parseRepoAndTag,
  refString,
  withDigest,
  withTag,
} from '../engine/registry/reference.js';
import { isBerthError } from '../engine/common/errors.js';
import type { Digest } from '../engine/common/digest.js';

const D = `sha256:${'a'.repeat(64)}` as Digest;
const D2 = `sha256:${'b'.repeat(64)}` as Digest;

const ok: [input: string, domain: string, path: string, tag: string | undefined, digest: string | undefined, familiar: string][] = [
  ['busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined, 'busybox:1.36'],
  ['library/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['docker.io/library/busybox:musl', 'docker.io', 'library/busybox', 'musl', undefined, 'busybox:musl'],
  ['index.docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['index.docker.io/user/img', 'docker.io', 'user/img', 'latest', undefined, 'user/img:latest'],
  ['user/img', 'docker.io', 'user/img', 'latest', undefined, 'user/img:latest'],
  ['user/img:v1.0-rc_1', 'docker.io', 'user/img', 'v1.0-rc_1', undefined, 'user/img:v1.0-rc_1'],
  ['a/b/c/d', 'docker.io', 'a/b/c/d', 'latest', undefined, 'a/b/c/d:latest'],
  ['library/a/b', 'docker.io', 'library/a/b', 'latest', undefined, 'library/a/b:latest'],
  ['localhost/x', 'localhost', 'x', 'latest', undefined, 'localhost/x:latest'],
  ['localhost:5000/x', 'localhost:5000', 'x', 'latest', undefined, 'localhost:5000/x:latest'],
  ['127.0.0.1:5000/a/b:tag', '127.0.0.1:5000', 'a/b', 'tag', undefined, '127.0.0.1:5000/a/b:tag'],
  ['[::1]:5000/x', '[::1]:5000', 'x', 'latest', undefined, '[::1]:5000/x:latest'],
  ['[2001:db8::1]/x:t', '[2001:db8::1]', 'x', 't', undefined, '[2001:db8::1]/x:t'],
  ['host.tld/x', 'host.tld', 'x', 'latest', undefined, 'host.tld/x:latest'],
  ['ghcr.io/org/repo-name.x__y', 'ghcr.io', 'org/repo-name.x__y', 'latest', undefined, 'ghcr.io/org/repo-name.x__y:latest'],
  ['Example.COM/x', 'Example.COM', 'x', 'latest', undefined, 'Example.COM/x:latest'],
  ['Docker/x', 'Docker', 'x', 'latest', undefined, 'Docker/x:latest'],
  ['a--b', 'docker.io', 'library/a--b', 'latest', undefined, 'a--b:latest'],
  [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D, `busybox@${D}`],
  [`busybox:1.36@${D}`, 'docker.io', 'library/busybox', '1.36', D, `busybox:1.36@${D}`],
  [`localhost:5000/x@${D}`, 'localhost:5000', 'x', undefined, D, `localhost:5000/x@${D}`],
  ['localhost:5000', 'docker.io', 'library/localhost', '5000', undefined, 'localhost:5000'],
  [`x:${'t'.repeat(128)}`, 'docker.io', 'library/x', 't'.repeat(128), undefined, `x:${'t'.repeat(128)}`],
];

for (const [input, domain, path, tag, digest, familiar] of ok) {
  test(`parseReference(${JSON.stringify(input.length > 60 ? input.slice(0, 60) + '…' : input)})`, () => {
    const ref = parseReference(input);
    assert.equal(ref.domain, domain);
    assert.equal(ref.path, path);
    assert.equal(ref.tag, tag);
    assert.equal(ref.digest, digest);
    assert.equal(familiarString(ref), familiar);
    // Round trip through the full form.
    assert.deepEqual(parseReference(refString(ref)), ref);
  });
}

const bad: [input: string, message: RegExp][] = [
  ['', /^invalid reference format: repository name must have at least one component$/],
  ['Busybox', /^invalid reference format: repository name \(library\/Busybox\) must be lowercase$/],
  ['user/Img:tag', /^invalid reference format: repository name \(user\/Img\) must be lowercase$/],
  ['localhost:5000/UP', /must be lowercase/],
  ['a'.repeat(64), /^invalid repository name \(a{64}\), cannot specify 64-byte hexadecimal strings$/],
  ['busybox:', /^invalid reference format$/],
  ['busybox:-tag', /^invalid reference format$/],
  [`busybox:${'t'.repeat(129)}`, /^invalid reference format$/],
  ['busybox@sha256:abc', /^invalid reference format$/],
  [`busybox@sha256:${'a'.repeat(63)}`, /^invalid reference format: invalid checksum digest length$/],
  [`busybox@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm: sha512/],
  ['-busybox', /^invalid reference format$/],
  ['busybox-', /^invalid reference format$/],
  ['bu..sybox', /^invalid reference format$/],
  ['bu___sybox', /^invalid reference format$/],
  ['a//b', /^invalid reference format$/],
  ['host.tld/', /^invalid reference format$/],
  ['-host.tld/x', /^invalid reference format$/],
  ['host_x.tld/x', /^invalid reference format$/],
  ['with space', /^invalid reference format$/],
  ['x:tag:tag', /^invalid reference format$/],
  [`h.io/${'a'.repeat(251)}`, /^invalid reference format: repository name must not be more than 255 characters$/],
];

for (const [input, message] of bad) {
  test(`parseReference rejects ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, () => {
    assert.throws(
      () => parseReference(input),
      (err: unknown) => isBerthError(err) && err.kind === 'invalid' && message.test(err.message),
    );
  });
}

test('name length limit counts the domain', () => {
  assert.doesNotThrow(() => parseReference(`h.io/${'a'.repeat(250)}`));
});

test('familiarName, fullName, refString', () => {
  const cases: [string, string, string, string][] = [
    ['busybox', 'busybox', 'docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['user/img:1', 'user/img', 'docker.io/user/img', 'docker.io/user/img:1'],
    ['localhost:5000/x', 'localhost:5000/x', 'localhost:5000/x', 'localhost:5000/x:latest'],
    [`x@${D}`, 'x', 'docker.io/library/x', `docker.io/library/x@${D}`],
  ];
  for (const [input, fam, full, str] of cases) {
    const ref = parseReference(input);
    assert.equal(familiarName(ref), fam, input);
    assert.equal(fullName(ref), full, input);
    assert.equal(refString(ref), str, input);
  }
});

test('defaultTag: false leaves the tag out', () => {
  assert.deepEqual(parseReference('busybox', { defaultTag: false }), { domain: 'docker.io', path: 'library/busybox' });
});

test('withTag / withDigest', () => {
  const ref = parseReference(`busybox:1@${D}`);
  assert.deepEqual(withTag(ref, '2'), { domain: 'docker.io', path: 'library/busybox', tag: '2', digest: D });
  assert.deepEqual(withDigest(parseReference('busybox:1'), D2), {
    domain: 'docker.io',
    path: 'library/busybox',
    tag: '1',
    digest: D2,
  });
  assert.throws(() => withTag(ref, 'bad tag'), /invalid tag format/);
  assert.throws(() => withDigest(ref, 'sha256:zz' as Digest), /invalid reference format/);
});

test('parseRepoAndTag combines fromImage and tag like dockerd', () => {
  const cases: [string, string | undefined, string][] = [
    ['busybox', undefined, 'docker.io/library/busybox:latest'],
    ['busybox', '', 'docker.io/library/busybox:latest'],
    ['busybox', '1.36', 'docker.io/library/busybox:1.36'],
    ['busybox:1.35', undefined, 'docker.io/library/busybox:1.35'],
    ['busybox:1.35', '1.36', 'docker.io/library/busybox:1.36'],
    ['busybox', D, `docker.io/library/busybox@${D}`],
    ['busybox:1.35', D, `docker.io/library/busybox@${D}`],
    [`busybox@${D}`, undefined, `docker.io/library/busybox@${D}`],
    [`busybox@${D}`, D2, `docker.io/library/busybox@${D2}`],
    ['localhost:5000/x', 'v2', 'localhost:5000/x:v2'],
  ];
  for (const [img, tag, want] of cases) assert.equal(refString(parseRepoAndTag(img, tag)), want, `${img} + ${tag}`);
  assert.deepEqual(parseRepoAndTag('busybox', undefined, { defaultTag: false }), {
    domain: 'docker.io',
    path: 'library/busybox',
  });
  assert.throws(() => parseRepoAndTag('busybox', 'bad tag!'), /invalid tag format/);
  assert.throws(() => parseRepoAndTag('busybox', 'sha256:1234'), /invalid tag format/);
  assert.throws(() => parseRepoAndTag('Busybox', '1'), /must be lowercase/);
});

test('isLoopbackHost', () => {
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', '::1', '[0:0:0:0:0:0:0:1]']) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (const h of ['docker.io', '10.0.0.1:5000', '[2001:db8::1]:5000', 'localhost.example.com', '128.0.0.1']) {
    assert.equal(isLoopbackHost(h), false, h);
  }
});

test('normalizeServerAddress', () => {
  const cases: [string | undefined, string][] = [
    [undefined, 'docker.io'],
    ['', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['localhost:5000', 'localhost:5000'],
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000'],
    ['Registry.Example.com', 'registry.example.com'],
  ];
  for (const [input, want] of cases) assert.equal(normalizeServerAddress(input), want, String(input));
});
