// The quick start on a machine that cannot download Electron (this one): setup's Electron step
// never reaches out in CI, falls back to web mode in one line when the download cannot be reached
// (a local port that refuses) or fails (a local mirror that answers 404), and never fails the
// setup; `npm run package` says plainly that it needs the binary; and build/start.sh runs the
// engine and opens web mode, on its own socket and roots, and stops both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

test('setup with Electron already in place (a stand-in): nothing fetched, nothing said, and its sandbox helper made setuid root', async () => {
  const { env, dir } = await userEnv({ ELECTRON_MIRROR: 'http://127.0.0.1:9/' });
  const dist = env['ELECTRON_OVERRIDE_DIST_PATH'] ?? '';
  try {
    mkdirSync(dist);
    writeFileSync(path.join(dist, 'electron'), '#!/bin/sh\n');
    chmodSync(path.join(dist, 'electron'), 0o755);
    writeFileSync(path.join(dist, 'chrome-sandbox'), '');
    chmodSync(path.join(dist, 'chrome-sandbox'), 0o755);
    const r = await run(process.execPath, [step, '--setup'], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), '', 'an installed app needs no word');
    if (process.getuid?.() === 0) {
      const st = statSync(path.join(dist, 'chrome-sandbox'));
      assert.equal(st.mode & 0o7777, 0o4755);
      assert.equal(st.uid, 0);
    }
  } finally {
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

interface StartSh {
  dir: string;
  sock: string;
  out(): string;
  err(): string;
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

/** bash build/start.sh on its own socket and roots (setup already done), in its own process group. */
async function startSh(extraEnv: NodeJS.ProcessEnv): Promise<StartSh> {
  const dir = await makeTempDir('berth-start-');
  chmodSync(dir, 0o755);
  const sock = path.join(dir, 'exec', 'docker.sock');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    BERTH_SKIP_SETUP: '1',
    BERTH_DAEMON_LOG: path.join(dir, 'log', 'berthd.log'),
    BERTH_DESKTOP_CONFIG: path.join(dir, 'desktop.json'),
    BERTH_HOME: path.join(dir, '.berth'),
    // This machine: no display, and no Electron binary (looked for in an empty place, in case one is installed).
    ELECTRON_OVERRIDE_DIST_PATH: path.join(dir, 'no-electron'),
    ...extraEnv,
  };
  const args = [path.join(root, 'build', 'start.sh'), '-H', `unix://${sock}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'berthd.pid')];
  const child = spawnTracked('bash', args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return {
    dir,
    sock,
    out: () => out,
    err: () => err,
    async stop() {
      child.kill('SIGINT');
      assert.ok(await waitUntil(async () => child.exitCode !== null || child.signalCode !== null, 60_000), 'start.sh stops');
      assert.ok(await waitUntil(async () => !existsSync(path.join(dir, 'berthd.pid')), 30_000), 'berthd stopped (its pidfile is gone)');
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) await stopChild(child, 'SIGKILL');
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
      await removeDir(dir);
    },
  };
}

const engineAnswers = async (sock: string): Promise<boolean> => (await unixRequest(sock, 'GET', '/_ping', undefined, {}, 5000).catch(() => undefined))?.body.toString() === 'OK';

test('bash build/start.sh here (no display, no Electron): the engine on its socket, web mode opened, both stopped by Ctrl-C', { skip: process.getuid?.() !== 0 && 'berthd needs root', timeout: 180_000 }, async () => {
  const s = await startSh({});
  try {
    const url = /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/;
    assert.ok(await waitUntil(async () => url.test(s.out()), 120_000), `no web mode link; stdout: ${s.out()}\nstderr: ${s.err().slice(-3000)}`);
    assert.ok(s.out().includes(`Berth engine running on unix://${s.sock}`), s.out());
    assert.ok(s.out().includes(`export DOCKER_HOST=unix://${s.sock}`), s.out());
    assert.match(s.err(), /No display here/);
    const page = await fetch(url.exec(s.out())?.[0] ?? '');
    assert.ok(page.status < 400, `the link answers ${page.status}`);
    assert.ok(await engineAnswers(s.sock), 'the engine answers on its socket');
    assert.ok(existsSync(path.join(s.dir, 'log', 'berthd.log')));
    await s.stop();
  } finally {
    await s.cleanup();
  }
});

test('bash build/start.sh with the app in place (a stand-in) and a display: the app opens as the sudo user; quitting it leaves the engine until Ctrl-C', { skip: process.getuid?.() !== 0 && 'berthd needs root', timeout: 180_000 }, async () => {
  const electron = await makeTempDir('berth-start-electron-');
  chmodSync(electron, 0o755);
  const record = path.join(electron, 'started.txt');
  writeFileSync(path.join(electron, 'electron'), `#!/bin/sh\n{ echo "uid=$(id -u)"; echo "host=$BERTH_HOST"; echo "args=$*"; } > ${record}\n`);
  chmodSync(path.join(electron, 'electron'), 0o755);
  writeFileSync(record, '');
  chmodSync(record, 0o666);
  const s = await startSh({ ELECTRON_OVERRIDE_DIST_PATH: electron, DISPLAY: ':0', SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' });
  try {
    assert.ok(await waitUntil(async () => /engine keeps running/.test(s.out()), 120_000), `the app did not open and quit; stdout: ${s.out()}\nstderr: ${s.err().slice(-3000)}`);
    const started = readFileSync(record, 'utf8');
    assert.match(started, /^uid=65534$/m, 'as the user who typed sudo');
    assert.ok(started.includes(`host=unix://${s.sock}`), started);
    assert.ok(started.includes(`args=${path.join(root, 'dist', 'electron', 'main.js')}`), started);
    assert.ok(!/token=/.test(s.out()), 'no web mode');
    if ((await run('sh', ['-c', 'command -v setfacl'])).code === 0) {
      // The socket is root's (group docker at most): the user's app is let in, for this socket's life.
      assert.ok(s.err().includes(`Gave nobody access to ${s.sock}`), s.err());
      assert.match((await run('getfacl', ['-n', s.sock])).stdout.toString(), /^user:65534:rw-$/m);
    }
    assert.ok(await engineAnswers(s.sock), 'the engine outlives the app');
    await s.stop();
  } finally {
    await s.cleanup();
    await removeDir(electron);
  }
});
