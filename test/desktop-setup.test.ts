// The quick start on a machine that cannot download Electron (this one): setup's Electron step
// never reaches out in CI, falls back to web mode in one line when the download cannot be reached
// (a local port that refuses) or fails (a local mirror that answers 404), and never fails the
// setup; `npm run package` says plainly that it needs the binary; and build/start.sh runs the
// engine and opens web mode, on its own socket and roots, and stops both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { unixRequest } from './harness/daemon.js';
import { makeTempDir, removeDir, repoRoot, run, spawnTracked, stopChild, waitUntil } from './harness/util.js';

const root = repoRoot();
const step = path.join(root, 'build', 'desktop-install.mjs');
const FALLBACK = /^berth setup: no Electron app \((.+)\): Berth Desktop will open in web mode\. To get the app later: npm run desktop:install$/m;

/** The environment of a user's machine: no CI, no skip flag; Electron's binary looked for in an empty place. */
async function userEnv(extra: NodeJS.ProcessEnv): Promise<{ env: NodeJS.ProcessEnv; dir: string }> {
  const dir = await makeTempDir('berth-setup-');
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, electron_config_cache: path.join(dir, 'cache'), ELECTRON_OVERRIDE_DIST_PATH: path.join(dir, 'no-electron'), ...extra };
  return { env, dir };
}

test('build/setup.sh runs the Electron step after npm ci', () => {
  const setup = readFileSync(path.join(root, 'build', 'setup.sh'), 'utf8');
  const ci = setup.indexOf('npm ci');
  const electron = setup.indexOf('node build/desktop-install.mjs --setup');
  assert.ok(ci > 0 && electron > ci, 'the step follows the npm install');
  assert.match(setup, /ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci/, 'npm ci itself never waits on the download');
});

test('setup, offline: the download refuses (ELECTRON_MIRROR on a closed port): one fallback line, setup goes on', async () => {
  const { env, dir } = await userEnv({ ELECTRON_MIRROR: 'http://127.0.0.1:9/' });
  try {
    const r = await run(process.execPath, [step, '--setup'], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, 'setup is not failed by it');
    const out = r.stdout.toString();
    assert.match(out, FALLBACK);
    assert.match(FALLBACK.exec(out)?.[1] ?? '', /127\.0\.0\.1:9: connection refused/);
    assert.equal(out.trim().split('\n').length, 1, `one line: ${out}`);
  } finally {
    await removeDir(dir);
  }
});

test('setup in CI never reaches out: the mirror hears nothing', async () => {
  const requests: string[] = [];
  const mirror = createServer((req: IncomingMessage, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
  const { env, dir } = await userEnv({ CI: 'true', ELECTRON_MIRROR: `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/` });
  try {
    const r = await run(process.execPath, [step, '--setup'], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0);
    assert.match(r.stdout.toString(), FALLBACK);
    assert.match(r.stdout.toString(), /CI is set/);
    assert.deepEqual(requests, []);

    // The same with the user's own opt-out.
    const skip = await run(process.execPath, [step, '--setup'], { env: { ...env, CI: undefined, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' }, timeoutMs: 60_000 });
    assert.match(skip.stdout.toString(), /ELECTRON_SKIP_BINARY_DOWNLOAD is set/);
    assert.deepEqual(requests, []);
  } finally {
    mirror.close();
    await removeDir(dir);
  }
});

test("setup, a mirror that answers but has no Electron: Electron's own install script tries it, then the fallback line", { timeout: 120_000 }, async () => {
  const requests: string[] = [];
  const mirror = createServer((req: IncomingMessage, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
  const { env, dir } = await userEnv({ ELECTRON_MIRROR: `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/` });
  try {
    const r = await run(process.execPath, [step, '--setup'], { env, timeoutMs: 100_000 });
    assert.equal(r.code, 0);
    const out = r.stdout.toString();
    assert.match(out, /^berth setup: fetching Electron [\d.]+ for Berth Desktop's app/m);
    assert.match(FALLBACK.exec(out)?.[1] ?? '', /404/);
    const version = (JSON.parse(readFileSync(path.join(root, 'node_modules', 'electron', 'package.json'), 'utf8')) as { version: string }).version;
    assert.ok(requests.some((q) => q.startsWith('GET ') && q.includes(`electron-v${version}-linux-`)), `the zip was asked for: ${requests.join(', ')}`);

    // npm run desktop:install: the user asked, so it fails loudly (non-zero).
    const asked = await run(process.execPath, [step], { env, timeoutMs: 100_000 });
    assert.notEqual(asked.code, 0);
    assert.match(asked.stderr.toString(), /Could not fetch Electron's binary/);
  } finally {
    mirror.close();
    await removeDir(dir);
  }
});

test('npm run package without the Electron binary: a clear message and a failure; with one, it packs that binary for this OS', async () => {
  const dir = await makeTempDir('berth-package-');
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, ELECTRON_OVERRIDE_DIST_PATH: path.join(dir, 'no-electron') };
  try {
    const r = await run(process.execPath, [path.join(root, 'build', 'package.mjs')], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    const err = r.stderr.toString();
    assert.match(err, /^npm run package: Electron's binary is not installed here/);
    assert.match(err, /npm run desktop:install/);
    assert.equal(r.stdout.toString(), '', 'nothing was built');

    // A stand-in binary in place: the steps it would run, ending in electron-builder for this OS and arch with that binary.
    const standIn = path.join(dir, 'electron-dist');
    await run('sh', ['-c', `mkdir -p ${standIn} && printf '#!/bin/sh\\n' > ${standIn}/electron && chmod +x ${standIn}/electron`]);
    const dry = await run(process.execPath, [path.join(root, 'build', 'package.mjs'), '--dry-run'], { env: { ...env, ELECTRON_OVERRIDE_DIST_PATH: standIn }, timeoutMs: 60_000 });
    assert.equal(dry.code, 0, dry.stderr.toString());
    const builder = dry.stdout.toString().split('\n').find((l) => l.includes('electron-builder')) ?? '';
    const os = { linux: '--linux', darwin: '--mac', win32: '--win' }[process.platform as 'linux'];
    assert.ok(builder.includes(`--config build/electron-builder.yml ${os} --${process.arch}`), builder);
    assert.ok(builder.includes(`-c.electronDist=${standIn}`), builder);
  } finally {
    await removeDir(dir);
  }
});

test('bash build/start.sh (setup already done): the engine on its socket, web mode opened here, both stopped by Ctrl-C', { skip: process.getuid?.() !== 0 && 'berthd needs root', timeout: 180_000 }, async () => {
  const dir = await makeTempDir('berth-start-');
  const sock = path.join(dir, 'exec', 'docker.sock');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    BERTH_SKIP_SETUP: '1',
    BERTH_DAEMON_LOG: path.join(dir, 'log', 'berthd.log'),
    BERTH_DESKTOP_CONFIG: path.join(dir, 'desktop.json'),
    BERTH_HOME: path.join(dir, '.berth'),
    // This machine: no display and no Electron binary (looked for in an empty place, in case one is installed).
    ELECTRON_OVERRIDE_DIST_PATH: path.join(dir, 'no-electron'),
  };
  const args = [path.join(root, 'build', 'start.sh'), '-H', `unix://${sock}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'berthd.pid')];
  // Its own process group, so that whatever is left can be ended by the group's id.
  const child = spawnTracked('bash', args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  try {
    const url = /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/;
    assert.ok(await waitUntil(async () => url.test(out), 120_000), `no web mode link; stdout: ${out}\nstderr: ${err.slice(-3000)}`);
    assert.ok(out.includes(`Berth engine running on unix://${sock}`), out);
    assert.ok(out.includes(`export DOCKER_HOST=unix://${sock}`), out);
    assert.match(err, /No display here/);
    const page = await fetch(url.exec(out)?.[0] ?? '');
    assert.ok(page.status < 400, `the link answers ${page.status}`);
    // The engine answers on its socket (the docker CLI's first call).
    const ping = await unixRequest(sock, 'GET', '/_ping', undefined, {}, 30_000);
    assert.equal(ping.body.toString(), 'OK');
    assert.ok(existsSync(path.join(dir, 'log', 'berthd.log')));

    child.kill('SIGINT');
    assert.ok(await waitUntil(async () => child.exitCode !== null || child.signalCode !== null, 60_000), 'start.sh stops');
    assert.ok(await waitUntil(async () => !existsSync(path.join(dir, 'berthd.pid')), 30_000), 'berthd stopped (its pidfile is gone)');
  } finally {
    if (child.pid && child.exitCode === null) await stopChild(child, 'SIGKILL');
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone
    }
    await removeDir(dir);
  }
});
