// berthd on TCP as Docker serves it: a non-loopback address without TLS is refused unless --tls=false
// says so; with --tlsverify only clients with a certificate from the CA get in. The real docker CLI
// (--tlsverify, DOCKER_TLS_VERIFY/DOCKER_CERT_PATH), berth (the same flags and variables, and
// contexts holding CA, certificate and key) and the app's bridge all reach the same engine, with
// certificates made here by openssl. Attach over TLS (run -i) checks the hijacked stream and its
// half-close.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createBridgeHost } from '../desktop/bridge/index.js';
import { runBerth } from './harness/cli.js';
import { containerSkip, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { berthdPath, startDaemon } from './harness/daemon.js';
import { docker } from './harness/docker.js';
import { freePort, makeTempDir, removeDir, run, runOk } from './harness/util.js';

const skip = containerSkip;

let dir: string;
/** The docker CLI's layout: ca.pem, cert.pem, key.pem (a client certificate). */
let certs: string;
let server: { cert: string; key: string; ca: string };
let rogue: string;
let env: ContainerEnv;
let port: number;

/** A CA and certificates it signs, by openssl (EC P-256). */
async function makePki(): Promise<void> {
  const ossl = (args: string[]): Promise<Buffer> => runOk('openssl', args, { cwd: dir });
  const newCa = async (name: string): Promise<void> => {
    await ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`]);
  };
  const sign = async (ca: string, name: string, ext: string): Promise<void> => {
    await ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    await fsp.writeFile(path.join(dir, `${name}.ext`), ext);
    await ossl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-out', `${name}-cert.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  await newCa('ca');
  await newCa('rogue-ca');
  await sign('ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await sign('ca', 'client', 'extendedKeyUsage=clientAuth\n');
  await sign('rogue-ca', 'rogue', 'extendedKeyUsage=clientAuth\n');
  certs = path.join(dir, 'certs');
  await fsp.mkdir(certs);
  await fsp.copyFile(path.join(dir, 'ca.pem'), path.join(certs, 'ca.pem'));
  await fsp.copyFile(path.join(dir, 'client-cert.pem'), path.join(certs, 'cert.pem'));
  await fsp.copyFile(path.join(dir, 'client-key.pem'), path.join(certs, 'key.pem'));
  rogue = path.join(dir, 'rogue-certs');
  await fsp.mkdir(rogue);
  await fsp.copyFile(path.join(dir, 'ca.pem'), path.join(rogue, 'ca.pem'));
  await fsp.copyFile(path.join(dir, 'rogue-cert.pem'), path.join(rogue, 'cert.pem'));
  await fsp.copyFile(path.join(dir, 'rogue-key.pem'), path.join(rogue, 'key.pem'));
  server = { cert: path.join(dir, 'server-cert.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'ca.pem') };
}

before(async () => {
  if (skip) return;
  dir = await makeTempDir('berth-tls-');
  await makePki();
  port = await freePort();
  env = await startContainerEnv({
    pull: true,
    extraArgs: ['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', server.ca, '--tlscert', server.cert, '--tlskey', server.key],
  });
});

after(async () => {
  if (skip) return;
  await stopContainerEnv(env);
  if (dir) await removeDir(dir);
});

const tcpHost = (): string => `tcp://127.0.0.1:${port}`;
/** The docker CLI pointed at the TCP host (the harness's DOCKER_* are replaced by these). */
const dockerTcp = (args: string[], extraEnv: Record<string, string> = {}, input?: string): ReturnType<typeof docker> =>
  docker({ dockerHost: tcpHost() }, args, { env: extraEnv, ...(input !== undefined ? { input } : {}) });

test('berthd refuses a non-loopback tcp:// host without TLS before touching anything; --tls=false serves it knowingly', { skip, timeout: 120_000 }, async () => {
  const p = await freePort();
  const root = path.join(dir, 'refused');
  const r = await run(berthdPath(), ['-H', `tcp://0.0.0.0:${p}`, '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec')]);
  assert.equal(r.code, 1, r.stderr.toString());
  assert.match(r.stderr.toString(), new RegExp(`refusing to serve tcp://0\\.0\\.0\\.0:${p} without TLS`));
  assert.match(r.stderr.toString(), /without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network/);
  assert.match(r.stderr.toString(), /--tls=false/);
  assert.equal(existsSync(root), false, 'nothing was created');

  const missing = await run(berthdPath(), ['-H', `tcp://127.0.0.1:${p}`, '--tlsverify', '--tlscacert', path.join(dir, 'nope.pem'), '--tlscert', server.cert, '--tlskey', server.key, '--data-root', path.join(root, 'd'), '--exec-root', path.join(root, 'e')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr.toString(), /could not read the TLS CA certificate .*nope\.pem .*--tlscacert/);

  const plain = await startDaemon({ extraArgs: ['-H', `tcp://0.0.0.0:${p}`, '--tls=false'] });
  try {
    const ping = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: p, path: '/_ping' }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
    });
    assert.equal(ping, 200);
    assert.match(await fsp.readFile(plain.logFile, 'utf8'), /API listening on TCP without TLS/);
  } finally {
    await plain.cleanup();
  }
});

test('the real docker CLI reaches the engine with --tlsverify and with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, run -i included', { skip, timeout: 120_000 }, async () => {
  const byEnv = { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs };
  const version = await dockerTcp(['version', '--format', '{{.Server.Os}}'], byEnv);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), 'linux');
  const flags = ['--tlsverify', '--tlscacert', path.join(certs, 'ca.pem'), '--tlscert', path.join(certs, 'cert.pem'), '--tlskey', path.join(certs, 'key.pem')];
  const echo = await dockerTcp([...flags, 'run', '--rm', env.ref, 'echo', 'over tls']);
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout, 'over tls\n');
  const cat = await dockerTcp(['run', '-i', '--rm', env.ref, 'cat'], byEnv, 'stdin crosses TLS\n');
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'stdin crosses TLS\n', 'attach over TLS, and the end of stdin reaches the container');
});

test('without a certificate from the CA, nobody gets in: no client cert, a rogue CA\'s, plain HTTP', { skip, timeout: 60_000 }, async () => {
  const noCert = await dockerTcp(['--tlsverify', '--tlscacert', path.join(certs, 'ca.pem'), 'version'], { DOCKER_CERT_PATH: path.join(dir, 'empty') });
  assert.notEqual(noCert.code, 0, 'no client certificate');
  const rogueCert = await dockerTcp(['version'], { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: rogue });
  assert.notEqual(rogueCert.code, 0, "a certificate from another CA");
  const plain = await new Promise<string>((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/_ping' }, (res) => resolve(String(res.statusCode))).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  assert.notEqual(plain, '200', 'plain HTTP is not served on the TLS port');
  const berthNoCert = await runBerth(['-H', tcpHost(), '--tlsverify', '--tlscacert', path.join(certs, 'ca.pem'), 'version'], { PATH: process.env['PATH'] ?? '', HOME: path.join(dir, 'home-none') });
  assert.equal(berthNoCert.code, 1);
  assert.match(berthNoCert.stderr, /TLS with the Berth engine at tcp:\/\/127\.0\.0\.1:\d+ failed/);
});

test('berth: docker\'s TLS flags and variables, run -i over TLS, and a context that keeps its own CA, certificate and key', { skip, timeout: 120_000 }, async () => {
  const home = path.join(dir, 'berth-user');
  const base = { PATH: process.env['PATH'] ?? '', HOME: home, BERTH_HOME: path.join(home, '.berth'), BERTH_DESKTOP_CONFIG: path.join(home, 'desktop.json') };
  const byEnv = await runBerth(['version', '--format', '{{.Server.Os}}'], { ...base, DOCKER_HOST: tcpHost(), DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  assert.equal(byEnv.stdout.trim(), 'linux');
  const flags = ['-H', tcpHost(), '--tlsverify', '--tlscacert', path.join(certs, 'ca.pem'), '--tlscert', path.join(certs, 'cert.pem'), '--tlskey', path.join(certs, 'key.pem')];
  const cat = await runBerth([...flags, 'run', '-i', '--rm', env.ref, 'cat'], base, 'berth over TLS\n');
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'berth over TLS\n');

  // A context made from copies that are then deleted keeps working: it holds its own.
  const loose = path.join(dir, 'loose');
  await fsp.mkdir(loose, { recursive: true });
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await fsp.copyFile(path.join(certs, f), path.join(loose, f));
  const created = await runBerth(['context', 'create', 'tlsbox', '--docker', `host=${tcpHost()},ca=${loose}/ca.pem,cert=${loose}/cert.pem,key=${loose}/key.pem`], base);
  assert.equal(created.code, 0, created.stderr);
  await fsp.rm(loose, { recursive: true });
  const ps = await runBerth(['--context', 'tlsbox', 'run', '--rm', env.ref, 'echo', 'context over tls'], base);
  assert.equal(ps.code, 0, ps.stderr);
  assert.equal(ps.stdout, 'context over tls\n');
  const inspect = JSON.parse((await runBerth(['context', 'inspect', 'tlsbox'], base)).stdout) as { tls: { verify: boolean; key: string } }[];
  assert.equal(inspect[0]?.tls.verify, true);
  assert.equal((await fsp.stat(inspect[0]?.tls.key as string)).mode & 0o777, 0o600, 'the key copy is private');
  const bad = await runBerth(['context', 'create', 'badtls', '--host', tcpHost(), '--tlscacert', path.join(dir, 'missing.pem')], base);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /could not read the TLS CA certificate/);

  // The app's bridge uses the same context.
  const host = await createBridgeHost({ kind: 'web', configPath: base.BERTH_DESKTOP_CONFIG, env: base, localHost: env.daemon.dockerHost });
  try {
    const list = await host.call('engine.list', {});
    const tlsbox = list.engines.find((e) => e.name === 'tlsbox');
    assert.ok(tlsbox?.tls, 'the context is an engine of the app, with its TLS');
    const status = await host.call('engine.use', { id: tlsbox.id });
    assert.equal(status.state, 'running', JSON.stringify(status));
    const added = await host.call('engine.add', { name: 'tls2', host: tcpHost(), tls: { verify: true, ca: path.join(certs, 'ca.pem'), cert: path.join(certs, 'cert.pem'), key: path.join(certs, 'key.pem') } });
    assert.equal((await host.call('engine.use', { id: added.id })).state, 'running');
    await host.call('engine.remove', { id: added.id });
    assert.equal(existsSync(path.dirname(added.tls?.key as string)), false, 'removing the engine removes its TLS copies');
  } finally {
    await host.close();
  }
  assert.equal((await runBerth(['context', 'rm', 'tlsbox'], base)).code, 0);
});
