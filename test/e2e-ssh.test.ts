// The SSH transport against a real OpenSSH server and a real berthd: remote engines (ssh://)
// as contexts for berth and the desktop, the docker CLI through a forwarded socket (attach,
// stdin half-close), host key pinning and refusal, key file modes, and reconnecting after the
// connection drops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { berthHome } from '../client/home.js';
import { KnownHosts, blobFromPublicLine, describeKey, ensureKeyPair, fingerprint, remoteForwarder } from '../client/ssh/index.js';
import { createBridgeHost } from '../desktop/bridge/index.js';
import type { BridgeError } from '../types/desktop-api.js';
import { containerSkip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { runBerth, type BerthResult } from './harness/cli.js';
import { docker } from './harness/docker.js';
import { SSHD, startSshd, type TestSshd } from './harness/sshd.js';
import { makeTempDir, removeDir, runOk, spawnTracked, stopChild, waitUntil } from './harness/util.js';

const skip = containerSkip || (!existsSync(SSHD) && 'needs OpenSSH server (apt install openssh-server)');

let env: ContainerEnv;
let sshd: TestSshd;
let dir: string;
let keyFile: string;
let testEnv: NodeJS.ProcessEnv;
let authorizedKey: string;

before(async () => {
  if (skip) return;
  env = await startContainerEnv();
  dir = await makeTempDir('berth-ssh-');
  const pair = ssh2.utils.generateKeyPairSync('ed25519');
  authorizedKey = pair.public;
  keyFile = path.join(dir, 'id_test');
  await fsp.writeFile(keyFile, pair.private, { mode: 0o600 });
  sshd = await startSshd(dir, [pair.public]);
  // The user's world for berth: its own HOME (no ~/.ssh), BERTH_HOME and desktop config.
  testEnv = { PATH: process.env['PATH'] ?? '', HOME: path.join(dir, 'home'), BERTH_HOME: path.join(dir, 'berth'), BERTH_DESKTOP_CONFIG: path.join(dir, 'desktop.json'), USER: 'root' };
});

after(async () => {
  if (skip) return;
  await sshd?.stop();
  await stopContainerEnv(env);
  if (dir) await removeDir(dir);
});

const berth = (args: string[], input = ''): Promise<BerthResult> => runBerth(args, testEnv, input);

const remoteAddress = (): string => `ssh://root@127.0.0.1:${sshd.port}${env.daemon.socket}`;

test('berth context create pins the host key; commands then run on the remote engine', { skip, timeout: 120_000 }, async () => {
  const unknown = await berth(['--host', 'unix:///nope', 'context', 'ls', '--format', '{{.Name}} {{.Kind}} {{.Current}}']);
  assert.equal(unknown.code, 0, unknown.stderr);
  assert.equal(unknown.stdout, 'Local engine local true\nBerth VM vm false\n');

  const created = await berth(['context', 'create', 'remote', '--host', remoteAddress(), '--identity', keyFile]);
  assert.equal(created.code, 0, created.stderr);
  const fp = fingerprint(blobFromPublicLine(sshd.hostKey));
  assert.match(created.stderr, new RegExp(`Pinned the host key of .*ssh-ed25519 ${fp.replace(/[+/]/g, '\\$&')}`));
  const pinned = await fsp.readFile(path.join(testEnv['BERTH_HOME'] as string, 'ssh', 'known_hosts'), 'utf8');
  assert.equal(pinned, `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);

  const ps = await berth(['--context', 'remote', 'run', '--rm', env.ref, 'echo', 'over ssh']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.equal(ps.stdout, 'over ssh\n');
  const piped = await berth(['--context', 'remote', 'run', '-i', '--rm', env.ref, 'cat'], 'stdin crosses ssh\n');
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout, 'stdin crosses ssh\n');

  const use = await berth(['context', 'use', 'remote']);
  assert.equal(use.code, 0, use.stderr);
  const version = await berth(['version', '--format', '{{.Server.Os}}']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), 'linux');
  assert.equal((await berth(['context', 'show'])).stdout, 'remote\n');
  // The per-command socket is gone afterwards.
  const run = await fsp.readdir(path.join(testEnv['BERTH_HOME'] as string, 'run'));
  assert.deepEqual(run.filter((f) => f.startsWith('cli-')), []);
  assert.equal((await berth(['context', 'use', 'Local engine'])).code, 0);
  assert.equal((await berth(['context', 'rm', 'remote'])).code, 0);
  assert.equal(await fsp.readFile(path.join(testEnv['BERTH_HOME'] as string, 'ssh', 'known_hosts'), 'utf8'), '', 'the pin goes with the engine');
});

test('host keys: a changed key and an unknown host are refused with the reason', { skip, timeout: 60_000 }, async () => {
  const home = berthHome(testEnv);
  const known = new KnownHosts(home.knownHosts);
  const other = ssh2.utils.generateKeyPairSync('ed25519').public;
  await known.pin('127.0.0.1', sshd.port, blobFromPublicLine(other));
  const changed = await berth(['context', 'create', 'changed', '--host', remoteAddress(), '--identity', keyFile]);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /host key of \[127\.0\.0\.1\]:\d+ changed: it presented ssh-ed25519 SHA256:\S+, but ssh-ed25519 SHA256:\S+ is trusted/);
  await known.unpin('127.0.0.1', sshd.port);

  // Connecting (not adding) to a host nobody vouches for is refused.
  const fwd = remoteForwarder({ host: remoteAddress(), identityFile: keyFile }, path.join(dir, 'unknown.sock'), { home, env: testEnv });
  await fwd.listen();
  try {
    await assert.rejects(fwd.ensureSession(), /is not known: add the engine again/);
  } finally {
    await fwd.close();
  }
  assert.equal(existsSync(path.join(dir, 'unknown.sock')), false, 'close removes the socket');

  const loose = path.join(dir, 'id_loose');
  await fsp.copyFile(keyFile, loose);
  await fsp.chmod(loose, 0o644);
  const open = await berth(['context', 'create', 'loose', '--host', remoteAddress(), '--identity', loose]);
  assert.equal(open.code, 1);
  assert.match(open.stderr, /permissions 0644 for .*id_loose are too open/);
  const ctxs = await berth(['context', 'ls', '-q']);
  assert.doesNotMatch(ctxs.stdout, /changed|loose/, 'failed creates save nothing');
});

test('the docker CLI through a forwarded socket, which reconnects after the connection drops', { skip, timeout: 180_000 }, async () => {
  const home = berthHome(testEnv);
  await new KnownHosts(home.knownHosts).pin('127.0.0.1', sshd.port, blobFromPublicLine(sshd.hostKey));
  const sock = path.join(home.runDir, 'fwd-test.sock');
  const fwd = remoteForwarder({ host: remoteAddress(), identityFile: keyFile }, sock, { home, env: testEnv, keepConnected: true });
  await fwd.listen();
  try {
    const st = await fsp.stat(sock);
    assert.equal(st.mode & 0o777, 0o600, 'the forwarded socket is for its owner only');
    assert.equal((await fsp.stat(home.runDir)).mode & 0o777, 0o700);
    const target = { dockerHost: `unix://${sock}` };
    const hi = await docker(target, ['run', '--rm', env.ref, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(hi.code, 3, hi.stderr);
    assert.equal(hi.stdout, 'out\n');
    assert.match(hi.stderr, /err/);
    const cat = await docker(target, ['run', '-i', '--rm', env.ref, 'cat'], { input: 'half-close travels over ssh\n' });
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'half-close travels over ssh\n');
    const id = (await docker(target, ['run', '-d', env.ref, 'sh', '-c', 'while true; do echo tick; sleep 1; done'])).stdout.trim();
    try {
      // A blip: every SSH connection is cut. The next command works again.
      await sshd.dropConnections();
      const after = await docker(target, ['logs', '--tail', '1', id]);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(after.stdout, 'tick\n');
      // The server goes away for a while (a VM restart): requests fail, then work when it is back.
      await sshd.stop();
      const down = await docker(target, ['ps', '-q']);
      assert.notEqual(down.code, 0);
      await sshd.start();
      const back = await docker(target, ['ps', '-q', '--no-trunc']);
      assert.equal(back.code, 0, back.stderr);
      assert.equal(back.stdout.trim(), id);
    } finally {
      await docker(target, ['rm', '-f', id]);
    }
  } finally {
    await fwd.close();
  }
});

test('desktop: an ssh engine is added, becomes active and answers; a refused one says why', { skip, timeout: 120_000 }, async () => {
  const host = await createBridgeHost({ kind: 'web', configPath: path.join(dir, 'bridge.json'), env: testEnv, localHost: env.daemon.dockerHost });
  try {
    const added = await host.call('engine.add', { name: 'box', host: remoteAddress(), identityFile: keyFile });
    assert.equal(added.kind, 'ssh');
    assert.equal(added.identityFile, keyFile);
    const status = await host.call('engine.use', { id: added.id });
    assert.equal(status.state, 'running', JSON.stringify(status));
    const list = await host.call('containers.list', { all: true });
    assert.ok(Array.isArray(list));
    await assert.rejects(host.call('engine.add', { name: 'nobody', host: `ssh://root@127.0.0.1:${sshd.port}/no/such.sock`, identityFile: keyFile }), (e: BridgeError) => e.status === 400 && /no engine answered/.test(e.message));
    await assert.rejects(host.call('engine.add', { name: 'bad', host: 'ssh://root@127.0.0.1:notaport' }), (e: BridgeError) => e.status === 400);
    // The engine's host key changes: the status explains it instead of a bare connection error.
    await fsp.writeFile(berthHome(testEnv).knownHosts, `[127.0.0.1]:${sshd.port} ${ssh2.utils.generateKeyPairSync('ed25519').public}\n`);
    await sshd.dropConnections();
    const refused = await host.call('engine.status', {});
    assert.equal(refused.state, 'unreachable');
    if (refused.state === 'unreachable') assert.match(refused.reason, /host key of .* changed: it presented/);
  } finally {
    await host.close();
  }
});

test('an engine reached with the SSH agent holding the key (no identity file)', { skip, timeout: 60_000 }, async () => {
  await new KnownHosts(berthHome(testEnv).knownHosts).unpin('127.0.0.1', sshd.port);
  const agentSock = path.join(dir, 'agent.sock');
  const agent = spawnTracked('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
  try {
    await waitUntil(async () => existsSync(agentSock), 10_000);
    await runOk('ssh-add', [keyFile], { env: { ...process.env, SSH_AUTH_SOCK: agentSock } });
    const withAgent = { ...testEnv, SSH_AUTH_SOCK: agentSock };
    const created = await runBerth(['context', 'create', 'agent', '--host', remoteAddress()], withAgent);
    assert.equal(created.code, 0, created.stderr);
    const r = await runBerth(['--context', 'agent', 'version', '--format', '{{.Server.Os}}'], withAgent);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'linux');
    const without = await runBerth(['--context', 'agent', 'version'], testEnv);
    assert.equal(without.code, 1, 'no agent, no key: refused');
    assert.match(without.stderr, /no SSH credentials|authentication failed/);
    assert.equal((await runBerth(['context', 'rm', 'agent'], testEnv)).code, 0);
  } finally {
    await stopChild(agent);
  }
});

test('the installation key pair: generated once with safe modes, reused after', { skip }, async () => {
  const sshDir = path.join(dir, 'keys', 'ssh');
  const first = await ensureKeyPair(sshDir);
  assert.match(first.publicKey, /^ssh-ed25519 AAAA\S+ berth@/);
  assert.equal((await fsp.stat(first.privateKeyPath)).mode & 0o777, 0o600);
  assert.equal((await fsp.stat(first.publicKeyPath)).mode & 0o777, 0o644);
  assert.equal((await fsp.stat(sshDir)).mode & 0o777, 0o700);
  await fsp.chmod(first.privateKeyPath, 0o644);
  const again = await ensureKeyPair(sshDir);
  assert.equal(again.publicKey, first.publicKey);
  assert.equal((await fsp.stat(first.privateKeyPath)).mode & 0o777, 0o600, 'a loosened mode is put back');
});

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test('a host key of another type than the pinned one is refused on every path; replacing it is explicit', { skip, timeout: 180_000 }, async () => {
  const own = await startSshd(await fsp.mkdir(path.join(dir, 'sshd-swap'), { recursive: true }).then(() => path.join(dir, 'sshd-swap')), [authorizedKey]);
  const address = `ssh://root@127.0.0.1:${own.port}${env.daemon.socket}`;
  const pinnedFile = berthHome(testEnv).knownHosts;
  const host = await createBridgeHost({ kind: 'web', configPath: path.join(dir, 'swap-bridge.json'), env: testEnv, localHost: env.daemon.dockerHost });
  try {
    const created = await berth(['context', 'create', 'swap1', '--host', address, '--identity', keyFile]);
    assert.equal(created.code, 0, created.stderr);
    const ed = describeKey(blobFromPublicLine(own.hostKey));
    const pinsBefore = await fsp.readFile(pinnedFile, 'utf8');

    // Someone else answers on host:port now, with an ECDSA key.
    await own.replaceHostKeys(['ecdsa']);
    const ec = describeKey(blobFromPublicLine(own.hostKey));
    assert.match(ec, /^ecdsa-sha2-nistp256 SHA256:/);
    const both = (text: string): void => {
      assert.match(text, new RegExp(`presented ${escape(ec)}`), 'the new fingerprint is shown');
      assert.match(text, new RegExp(`${escape(ed)} is trusted`), 'the pinned fingerprint is shown');
    };
    const connect = await berth(['--context', 'swap1', 'version']);
    assert.equal(connect.code, 1, 'connecting is refused');
    both(connect.stderr);
    const again = await berth(['context', 'create', 'swap2', '--host', address, '--identity', keyFile]);
    assert.equal(again.code, 1, `adding is refused too: ${again.stderr}`);
    both(again.stderr);
    assert.match(again.stderr, /--replace-host-key/);
    assert.equal(await fsp.readFile(pinnedFile, 'utf8'), pinsBefore, 'the pin is untouched');
    await assert.rejects(host.call('engine.add', { name: 'swap3', host: address, identityFile: keyFile }), (e: BridgeError) => {
      assert.equal(e.status, 409);
      both(e.message);
      return true;
    });
    const report = await host.call('engine.hostKey', { host: address });
    assert.deepEqual(report, { name: `[127.0.0.1]:${own.port}`, presented: ec, trusted: [ed], verdict: 'mismatch' });
    // Confirming some other key than the one presented replaces nothing.
    await assert.rejects(host.call('engine.add', { name: 'swap3', host: address, identityFile: keyFile, replaceHostKey: ed }), (e: BridgeError) => e.status === 409);
    assert.equal(await fsp.readFile(pinnedFile, 'utf8'), pinsBefore);
    const names = (await berth(['context', 'ls', '-q'])).stdout;
    assert.doesNotMatch(names, /swap2|swap3/, 'refused adds save nothing');

    // The CLI's explicit act.
    const replaced = await berth(['context', 'create', 'swap2', '--host', address, '--identity', keyFile, '--replace-host-key']);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.match(replaced.stderr, new RegExp(`Replaced the pinned host key of .*: ${escape(ed)} is no longer trusted`));
    assert.match(replaced.stderr, new RegExp(`Pinned the host key of .*: ${escape(ec)}`));
    assert.equal((await berth(['--context', 'swap1', 'version', '--format', '{{.Server.Os}}'])).stdout.trim(), 'linux', 'the replaced pin serves every engine on host:port');

    // Reinstalled again, with two keys: the app's confirmation names the presented one and replaces it.
    await own.replaceHostKeys(['rsa', 'ed25519']);
    await assert.rejects(host.call('engine.add', { name: 'swap3', host: address, identityFile: keyFile }), (e: BridgeError) => e.status === 409);
    const second = await host.call('engine.hostKey', { host: address });
    assert.equal(second.verdict, 'mismatch');
    assert.deepEqual(second.trusted, [ec]);
    assert.ok(own.hostKeys.map((k) => describeKey(blobFromPublicLine(k))).includes(second.presented));
    const added = await host.call('engine.add', { name: 'swap3', host: address, identityFile: keyFile, replaceHostKey: second.presented });
    assert.equal(added.hostKey, second.presented);
    assert.equal((await host.call('engine.hostKey', { host: address })).verdict, 'match');
  } finally {
    await host.close();
    await own.stop();
    for (const name of ['swap1', 'swap2', 'swap3']) await berth(['context', 'rm', name]);
  }
});

test('~/.ssh/known_hosts as OpenSSH writes it: hashed [host]:port, one of several server keys, @revoked', { skip, timeout: 120_000 }, async () => {
  const own = await startSshd(await fsp.mkdir(path.join(dir, 'sshd-multi'), { recursive: true }).then(() => path.join(dir, 'sshd-multi')), [authorizedKey], {
    hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'],
  });
  const address = `ssh://root@127.0.0.1:${own.port}${env.daemon.socket}`;
  const sshDir = path.join(testEnv['HOME'] as string, '.ssh');
  const userKnown = path.join(sshDir, 'known_hosts');
  await fsp.mkdir(sshDir, { recursive: true, mode: 0o700 });
  const rsa = own.hostKeys[2] as string;
  try {
    // Only the server's RSA key is known, under a hashed name: the connection asks for RSA first.
    await fsp.writeFile(userKnown, `[127.0.0.1]:${own.port} ${rsa}\n`);
    await runOk('ssh-keygen', ['-H', '-f', userKnown]);
    assert.doesNotMatch(await fsp.readFile(userKnown, 'utf8'), /127\.0\.0\.1/);
    const fwd = remoteForwarder({ host: address, identityFile: keyFile }, path.join(dir, 'multi.sock'), { home: berthHome(testEnv), env: testEnv });
    await fwd.listen();
    try {
      const session = await fwd.ensureSession();
      assert.ok(session, 'trusted through the hashed ~/.ssh/known_hosts entry');
    } finally {
      await fwd.close();
    }
    // The same key revoked: refused, whatever else lists it.
    await fsp.appendFile(userKnown, `@revoked * ${rsa}\n`);
    const revoked = remoteForwarder({ host: address, identityFile: keyFile }, path.join(dir, 'multi2.sock'), { home: berthHome(testEnv), env: testEnv });
    await revoked.listen();
    try {
      await assert.rejects(revoked.ensureSession(), /marked @revoked/);
    } finally {
      await revoked.close();
    }
    const create = await berth(['context', 'create', 'multi', '--host', address, '--identity', keyFile]);
    assert.equal(create.code, 1, 'a revoked key is not pinned by adding either');
    assert.match(create.stderr, /@revoked/);
  } finally {
    await fsp.rm(userKnown, { force: true });
    await own.stop();
  }
});
