// known_hosts as OpenSSH writes and reads it, with keys, hashed names and certificates made by the
// real ssh-keygen: several keys per host of different types, [host]:port, hashed names (ssh-keygen
// -H), @revoked, @cert-authority with host certificates (ssh-keygen -s -h), and the rule that any
// key other than a listed one is a mismatch, whatever its type.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { HostKeyChangedError, KnownHosts, blobFromPublicLine, fingerprint, parseCertificate } from '../client/ssh/index.js';
import { makeTempDir, removeDir, runOk } from './harness/util.js';

let dir: string;
const keys: Record<string, Buffer> = {};

async function keygen(name: string, type: string): Promise<string> {
  const file = path.join(dir, name);
  await runOk('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', name, '-f', file]);
  const line = (await fsp.readFile(`${file}.pub`, 'utf8')).trim();
  keys[name] = blobFromPublicLine(line);
  return file;
}

const line = (name: string): string => `${keys[name]?.subarray(4, 4 + (keys[name]?.readUInt32BE(0) ?? 0)).toString()} ${keys[name]?.toString('base64')}`;

before(async () => {
  dir = await makeTempDir('berth-kh-unit-');
  await keygen('ed', 'ed25519');
  await keygen('ec', 'ecdsa');
  await keygen('rsa', 'rsa');
  await keygen('other_ed', 'ed25519');
  await keygen('ca_ed', 'ed25519');
  await keygen('ca_rsa', 'rsa');
  await keygen('ca_ec', 'ecdsa');
});

after(async () => {
  if (dir) await removeDir(dir);
});

test('pinned ed25519, presented ECDSA: a mismatch on connect, and pin() refuses to replace it', async () => {
  const pinned = path.join(dir, 'pinned-1');
  const known = new KnownHosts(pinned);
  await known.pin('box', 2222, keys['ed'] as Buffer);
  const checked = await known.check('box', 2222, keys['ec'] as Buffer);
  assert.equal(checked.verdict, 'mismatch');
  assert.equal(checked.presented, `ecdsa-sha2-nistp256 ${fingerprint(keys['ec'] as Buffer)}`);
  assert.deepEqual(
    checked.listed.map((k) => `${k.keyType} ${k.fingerprint}`),
    [`ssh-ed25519 ${fingerprint(keys['ed'] as Buffer)}`],
  );
  await assert.rejects(known.pin('box', 2222, keys['ec'] as Buffer), (e: unknown) => {
    assert.ok(e instanceof HostKeyChangedError);
    assert.match(e.message, new RegExp(`presented ecdsa-sha2-nistp256 ${fingerprint(keys['ec'] as Buffer).replace(/[+/]/g, '\\$&')}`));
    assert.match(e.message, new RegExp(`ssh-ed25519 ${fingerprint(keys['ed'] as Buffer).replace(/[+/]/g, '\\$&')}`));
    return true;
  });
  assert.equal((await fsp.readFile(pinned, 'utf8')).split('\n').filter(Boolean).length, 1, 'the pin is untouched');
  await known.pin('box', 2222, keys['ec'] as Buffer, { replace: true });
  assert.equal(await known.verify('box', 2222, keys['ec'] as Buffer), 'match');
  assert.equal(await known.verify('box', 2222, keys['ed'] as Buffer), 'mismatch', 'the old key is no longer trusted');
});

test('several keys per host, [host]:port, and the listed types first in the algorithm order', async () => {
  const user = path.join(dir, 'user-1');
  await fsp.writeFile(user, [`multi ${line('ed')}`, `multi ${line('rsa')}`, `[multi]:2200 ${line('ec')}`, ''].join('\n'));
  const known = new KnownHosts(path.join(dir, 'pinned-2'), [user]);
  assert.equal(await known.verify('multi', 22, keys['ed'] as Buffer), 'match');
  assert.equal(await known.verify('multi', 22, keys['rsa'] as Buffer), 'match');
  assert.equal(await known.verify('multi', 22, keys['ec'] as Buffer), 'mismatch', 'listed for port 2200 only');
  assert.equal(await known.verify('multi', 2200, keys['ec'] as Buffer), 'match');
  assert.equal(await known.verify('multi', 2200, keys['ed'] as Buffer), 'mismatch');
  assert.equal(await known.verify('elsewhere', 22, keys['ed'] as Buffer), 'unknown');
  const algs = await known.preferredHostKeyAlgorithms('multi', 22);
  assert.deepEqual(algs.slice(0, 4), ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  assert.ok(algs.includes('ecdsa-sha2-nistp256'), 'the rest follow');
  assert.equal((await known.preferredHostKeyAlgorithms('multi', 2200))[0], 'ecdsa-sha2-nistp256');
});

test('hashed names written by ssh-keygen -H match host and [host]:port', async () => {
  const user = path.join(dir, 'user-hashed');
  await fsp.writeFile(user, [`hashed.example ${line('ed')}`, `[hashed.example]:2022 ${line('rsa')}`, ''].join('\n'));
  await runOk('ssh-keygen', ['-H', '-f', user]);
  const text = await fsp.readFile(user, 'utf8');
  assert.doesNotMatch(text, /hashed\.example/, 'the names are hashed');
  assert.match(text, /^\|1\|/m);
  const known = new KnownHosts(path.join(dir, 'pinned-3'), [user]);
  assert.equal(await known.verify('hashed.example', 22, keys['ed'] as Buffer), 'match');
  assert.equal(await known.verify('hashed.example', 2022, keys['rsa'] as Buffer), 'match');
  assert.equal(await known.verify('hashed.example', 2022, keys['ed'] as Buffer), 'mismatch');
  assert.equal(await known.verify('other.example', 22, keys['ed'] as Buffer), 'unknown');
});

test('@revoked: a revoked key is refused even where another line lists it, and is never pinned', async () => {
  const user = path.join(dir, 'user-revoked');
  await fsp.writeFile(user, [`revoked.example ${line('ed')}`, `@revoked * ${line('ed')}`, `revoked.example ${line('rsa')}`, ''].join('\n'));
  const known = new KnownHosts(path.join(dir, 'pinned-4'), [user]);
  assert.equal((await known.check('revoked.example', 22, keys['ed'] as Buffer)).verdict, 'revoked');
  assert.equal(await known.verify('revoked.example', 22, keys['ed'] as Buffer), 'mismatch');
  assert.equal(await known.verify('revoked.example', 22, keys['rsa'] as Buffer), 'match', 'the host\'s other key is fine');
  assert.equal((await known.check('new.example', 22, keys['ed'] as Buffer)).verdict, 'revoked', '@revoked * covers every host');
  await assert.rejects(known.pin('new.example', 22, keys['ed'] as Buffer, { replace: true }), /is revoked/);
});

test('@cert-authority: host certificates signed by ssh-keygen verify for their principals and validity only', async () => {
  const now = new Date();
  const user = path.join(dir, 'user-ca');
  await fsp.writeFile(user, [`@cert-authority *.corp.example ${line('ca_ed')}`, `@cert-authority *.corp.example ${line('ca_rsa')}`, `@cert-authority *.corp.example ${line('ca_ec')}`, ''].join('\n'));
  const known = new KnownHosts(path.join(dir, 'pinned-5'), [user]);
  const sign = async (ca: string, key: string, principals: string, extra: string[] = []): Promise<Buffer> => {
    await runOk('ssh-keygen', ['-q', '-s', path.join(dir, ca), '-I', `${key}-by-${ca}`, '-h', '-n', principals, ...extra, path.join(dir, `${key}.pub`)]);
    const cert = (await fsp.readFile(path.join(dir, `${key}-cert.pub`), 'utf8')).trim();
    return blobFromPublicLine(cert);
  };
  for (const ca of ['ca_ed', 'ca_rsa', 'ca_ec']) {
    for (const key of ['ed', 'ec', 'rsa']) {
      const cert = await sign(ca, key, 'db.corp.example,*.db.corp.example');
      const parsed = parseCertificate(cert);
      assert.ok(parsed, `${key} by ${ca} parses`);
      assert.equal(parsed.type, 2);
      assert.deepEqual(parsed.principals, ['db.corp.example', '*.db.corp.example']);
      assert.ok(parsed.publicKey.equals(keys[key] as Buffer), 'the certified key is the plain key');
      assert.equal((await known.check('db.corp.example', 22, cert, now)).verdict, 'match', `${key} by ${ca}`);
      assert.equal((await known.check('a.db.corp.example', 22, cert, now)).verdict, 'match', 'a wildcard principal');
      const wrongHost = await known.check('web.corp.example', 22, cert, now);
      assert.equal(wrongHost.verdict, 'unknown');
      assert.match(wrongHost.certificateProblem ?? '', /is for db\.corp\.example/);
    }
  }
  // Outside the CA line's host patterns, signed by an unlisted CA, expired, or a user certificate: refused.
  const edCert = await sign('ca_ed', 'ed', 'db.other.example');
  assert.match((await known.check('db.other.example', 22, edCert, now)).certificateProblem ?? '', /not a @cert-authority for this host/);
  const byOther = await sign('other_ed', 'ed', 'db.corp.example');
  assert.match((await known.check('db.corp.example', 22, byOther, now)).certificateProblem ?? '', /not a @cert-authority/);
  const expired = await sign('ca_ed', 'ed', 'db.corp.example', ['-V', '20200101:20200102']);
  assert.match((await known.check('db.corp.example', 22, expired, now)).certificateProblem ?? '', /expired/);
  await runOk('ssh-keygen', ['-q', '-s', path.join(dir, 'ca_ed'), '-I', 'user', '-n', 'db.corp.example', path.join(dir, 'ec.pub')]);
  const userCert = blobFromPublicLine((await fsp.readFile(path.join(dir, 'ec-cert.pub'), 'utf8')).trim());
  assert.match((await known.check('db.corp.example', 22, userCert, now)).certificateProblem ?? '', /user certificate/);
  // A tampered certificate (principal bytes changed after signing) does not verify.
  const good = await sign('ca_ed', 'ed', 'db.corp.example');
  const tampered = Buffer.from(good);
  const at = tampered.indexOf(Buffer.from('db.corp.example'));
  tampered.write('dc', at, 'latin1');
  assert.match((await known.check('dc.corp.example', 22, tampered, now)).certificateProblem ?? '', /signature does not verify/);
  // A revoked CA revokes what it signed.
  await fsp.appendFile(user, `@revoked * ${line('ca_ed')}\n`);
  assert.equal((await known.check('db.corp.example', 22, good, now)).verdict, 'revoked');
});
