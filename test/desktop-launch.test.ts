// `berth desktop` tells the truth: the native app where Electron's binary is in place and there is
// a display, else web mode with the reason. The choice is a pure function (tested for every way it
// goes); then the real `berth desktop` is run with a stand-in Electron executable (Electron's own
// ELECTRON_OVERRIDE_DIST_PATH points at it) to check what it is started with, and as whom.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DESKTOP_INSTALL_COMMAND, chooseLaunch, electronBinary, hasDisplay, socketDeniedTo, sshForwardHint, userSessionEnv, webModeReason } from '../cli/desktop-launch.js';
import type { LaunchFacts } from '../cli/desktop-launch.js';
import { makeTempDir, removeDir, repoRoot, spawnTracked, stopChild, waitExit, waitUntil } from './harness/util.js';

const ELECTRON = '/opt/electron/electron';
const facts = (over: Partial<LaunchFacts>): LaunchFacts => ({ platform: 'linux', env: { DISPLAY: ':0' }, uid: 1000, electron: ELECTRON, webRequested: false, ...over });

test('the launcher chooses: native app, or web mode and why', () => {
  assert.deepEqual(chooseLaunch(facts({})), { mode: 'native', binary: ELECTRON });
  assert.deepEqual(chooseLaunch(facts({ env: { WAYLAND_DISPLAY: 'wayland-0' } })), { mode: 'native', binary: ELECTRON }, 'Wayland is a display');
  assert.deepEqual(chooseLaunch(facts({ webRequested: true })), { mode: 'web', reason: 'asked' }, '--web always wins');
  assert.deepEqual(chooseLaunch(facts({ env: {} })), { mode: 'web', reason: 'no-display' });
  assert.deepEqual(chooseLaunch(facts({ env: {}, electron: undefined })), { mode: 'web', reason: 'no-display' }, 'no display says more than no binary');
  assert.deepEqual(chooseLaunch(facts({ electron: undefined })), { mode: 'web', reason: 'no-binary' });
  for (const ssh of [{ SSH_CONNECTION: '10.0.0.2 5555 10.0.0.1 22' }, { SSH_TTY: '/dev/pts/3' }, { SSH_CLIENT: '10.0.0.2 5555 22' }]) {
    assert.deepEqual(chooseLaunch(facts({ env: { DISPLAY: 'localhost:10.0', ...ssh } })), { mode: 'web', reason: 'ssh' }, JSON.stringify(ssh));
  }
  // macOS and Windows always have a display, outside SSH.
  assert.deepEqual(chooseLaunch(facts({ platform: 'darwin', env: {}, uid: 501 })), { mode: 'native', binary: ELECTRON });
  assert.deepEqual(chooseLaunch(facts({ platform: 'win32', env: {}, uid: undefined })), { mode: 'native', binary: ELECTRON });
  assert.deepEqual(chooseLaunch(facts({ platform: 'darwin', env: { SSH_TTY: '/dev/ttys001' } })), { mode: 'web', reason: 'ssh' });
  assert.ok(hasDisplay('darwin', {}) && hasDisplay('win32', {}) && !hasDisplay('linux', {}) && !hasDisplay('freebsd', {}));
  // Root on Linux: the app runs as the sudo user, or not at all.
  assert.deepEqual(chooseLaunch(facts({ uid: 0, env: { DISPLAY: ':0', SUDO_UID: '1000', SUDO_GID: '1000', SUDO_USER: 'alice' } })), {
    mode: 'native',
    binary: ELECTRON,
    runAs: { uid: 1000, gid: 1000, user: 'alice' },
  });
  assert.deepEqual(chooseLaunch(facts({ uid: 0 })), { mode: 'web', reason: 'root' });
  assert.deepEqual(chooseLaunch(facts({ uid: 0, env: { DISPLAY: ':0', SUDO_UID: '0', SUDO_GID: '0' } })), { mode: 'web', reason: 'root' }, 'sudo from root is still root');
  assert.deepEqual(chooseLaunch(facts({ uid: 0, env: { DISPLAY: ':0', SUDO_UID: 'x', SUDO_GID: '1' } })), { mode: 'web', reason: 'root' });
});

test('web mode says why in one line, with the way to the app or the port forward', () => {
  assert.equal(webModeReason('asked'), undefined);
  assert.match(webModeReason('no-binary') ?? '', new RegExp(`not installed.*web mode.*${DESKTOP_INSTALL_COMMAND.replace(/[:]/g, '\\$&')}$`));
  assert.match(webModeReason('no-display') ?? '', /No display here \(DISPLAY and WAYLAND_DISPLAY are not set\)/);
  assert.match(webModeReason('ssh') ?? '', /SSH session/);
  assert.match(webModeReason('root') ?? '', /does not run as root/);
  for (const r of ['no-binary', 'no-display', 'ssh', 'root'] as const) assert.ok(!(webModeReason(r) ?? '').includes('\n'), `${r}: one line`);
  assert.equal(sshForwardHint({ SSH_CONNECTION: '10.0.0.2 5555 10.0.0.1 22', USER: 'alice' }, 41234), 'From your own machine: ssh -N -L 41234:127.0.0.1:41234 alice@10.0.0.1   then open the link there.');
  assert.match(sshForwardHint({ SSH_CONNECTION: 'fe80::2 5555 fe80::1 22' }, 80), /-L 80:127\.0\.0\.1:80 \[fe80::1\]/);
  assert.match(sshForwardHint({ SSH_TTY: '/dev/pts/1' }, 80), /THIS-HOST/);
});

test('an app started from root for a sudo user gets their session, and access to the socket only if it lacks it', () => {
  const alice = { uid: 1000, gid: 1000, user: 'alice' };
  const env = userSessionEnv({ PATH: '/usr/bin', HOME: '/root', XDG_CONFIG_HOME: '/root/.config', DISPLAY: ':0', BERTH_HOST: 'unix:///run/berth/docker.sock' }, alice, '/home/alice', '/run/user/1000');
  assert.deepEqual(env, {
    PATH: '/usr/bin',
    HOME: '/home/alice',
    USER: 'alice',
    LOGNAME: 'alice',
    DISPLAY: ':0',
    BERTH_HOST: 'unix:///run/berth/docker.sock',
    XDG_RUNTIME_DIR: '/run/user/1000',
    DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
  });
  const socket = { uid: 0, gid: 999, mode: 0o140660 };
  assert.equal(socketDeniedTo(socket, alice, [1000]), true, 'not in the socket group');
  assert.equal(socketDeniedTo(socket, alice, [1000, 999]), false, 'in group docker');
  assert.equal(socketDeniedTo({ ...socket, uid: 1000, mode: 0o140600 }, alice, []), false, 'owner');
  assert.equal(socketDeniedTo({ ...socket, mode: 0o140666 }, alice, []), false, 'world-writable');
  assert.equal(socketDeniedTo({ ...socket, mode: 0o140640 }, alice, [999]), true, 'group may only read');
});

/** A stand-in Electron: records how it was started, as whom, then exits with STANDIN_EXIT. */
async function standIn(): Promise<{ dir: string; record: string; read(): Record<string, string[]> }> {
  const dir = await makeTempDir('berth-electron-standin-');
  chmodSync(dir, 0o755);
  const record = path.join(dir, 'started.txt');
  writeFileSync(path.join(dir, 'electron'), `#!/bin/sh\n{ echo "uid=$(id -u)"; echo "home=$HOME"; echo "user=$USER"; echo "host=$BERTH_HOST"; for a in "$@"; do echo "arg=$a"; done; } > ${record}\nexit "\${STANDIN_EXIT:-0}"\n`);
  chmodSync(path.join(dir, 'electron'), 0o755);
  writeFileSync(record, '');
  chmodSync(record, 0o666);
  return {
    dir,
    record,
    read() {
      const out: Record<string, string[]> = {};
      for (const line of readFileSync(record, 'utf8').split('\n').filter(Boolean)) {
        const [k, ...v] = line.split('=');
        (out[k ?? ''] ??= []).push(v.join('='));
      }
      return out;
    },
  };
}

interface Desktop {
  child: ChildProcess;
  out(): string;
  err(): string;
}

function berthDesktop(env: NodeJS.ProcessEnv, args: string[]): Desktop {
  const child = spawnTracked(process.execPath, [path.join(repoRoot(), 'bin', 'berth'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

/** The exit code, once `berth desktop` ends on its own (as it does when the app quits). */
async function exitWithin(d: Desktop, ms: number): Promise<number | null> {
  const exited = await waitUntil(async () => d.child.exitCode !== null || d.child.signalCode !== null, ms);
  if (!exited) {
    await stopChild(d.child, 'SIGKILL');
    assert.fail(`berth desktop did not end; stdout: ${d.out()} stderr: ${d.err()}`);
  }
  return waitExit(d.child);
}

async function webUrl(d: Desktop): Promise<string> {
  const found = await waitUntil(async () => /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/.test(d.out()), 30_000);
  assert.ok(found, `no web mode URL; stdout: ${d.out()} stderr: ${d.err()}`);
  return /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/.exec(d.out())?.[0] ?? '';
}

test('berth desktop starts the Electron binary in place (a stand-in) with the main process and the engine, and web mode where it cannot', { timeout: 120_000 }, async () => {
  const electron = await standIn();
  const home = await makeTempDir('berth-launch-home-');
  const sock = path.join(home, 'engine.sock');
  // As root (as here), the app would run as the sudo user: nobody stands in for them.
  const sudo = process.getuid?.() === 0 ? { SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' } : {};
  const base: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    BERTH_HOME: path.join(home, '.berth'),
    BERTH_DESKTOP_CONFIG: path.join(home, 'desktop.json'),
    ELECTRON_OVERRIDE_DIST_PATH: electron.dir,
    ...sudo,
  };
  const args = ['-H', `unix://${sock}`, 'desktop', '--no-open'];
  try {
    assert.equal(electronBinary(base), path.join(electron.dir, 'electron'), "Electron's own lookup finds the stand-in");
    assert.equal(electronBinary({ ELECTRON_OVERRIDE_DIST_PATH: path.join(home, 'nothing-here') }), undefined);

    // A display and the binary: the app, started with our main process and told the engine.
    let d = berthDesktop({ ...base, DISPLAY: ':0' }, args);
    assert.equal(await exitWithin(d, 30_000), 0, d.err());
    const started = electron.read();
    assert.deepEqual(started['arg'], [path.join(repoRoot(), 'dist', 'electron', 'main.js')]);
    assert.deepEqual(started['host'], [`unix://${sock}`]);
    assert.equal(d.out(), '', 'no web mode');

    // The app fails to start (here: exits 3 at once): web mode instead, and it says so.
    writeFileSync(electron.record, '');
    d = berthDesktop({ ...base, DISPLAY: ':0', STANDIN_EXIT: '3' }, args);
    const fallbackUrl = await webUrl(d);
    assert.match(d.err(), /app exited \(code 3/);
    assert.match(d.err(), /web mode instead/);
    assert.equal((await fetch(fallbackUrl)).status < 400, true, 'the web mode link answers');
    assert.equal(await stopChild(d.child, 'SIGTERM'), 0);

    // No display: straight to web mode, the stand-in never runs.
    writeFileSync(electron.record, '');
    d = berthDesktop(base, args);
    await webUrl(d);
    assert.match(d.err(), /No display here/);
    assert.equal(readFileSync(electron.record, 'utf8'), '', 'the app was not started');
    assert.equal(await stopChild(d.child, 'SIGTERM'), 0);

    // Over SSH, even with a (forwarded) display: web mode and the port forward to reach it.
    d = berthDesktop({ ...base, DISPLAY: 'localhost:10.0', SSH_CONNECTION: '10.9.8.7 50000 10.9.8.1 22', USER: 'dev' }, args);
    const sshUrl = await webUrl(d);
    const port = new URL(sshUrl).port;
    assert.match(d.err(), /SSH session/);
    assert.ok(d.out().includes(`ssh -N -L ${port}:127.0.0.1:${port} dev@10.9.8.1`), d.out());
    assert.equal(readFileSync(electron.record, 'utf8'), '');
    assert.equal(await stopChild(d.child, 'SIGTERM'), 0);

    // --web always works, with a display and the binary.
    d = berthDesktop({ ...base, DISPLAY: ':0' }, [...args, '--web']);
    await webUrl(d);
    assert.equal(d.err(), '', 'asked for: no explanation');
    assert.equal(readFileSync(electron.record, 'utf8'), '');
    assert.equal(await stopChild(d.child, 'SIGTERM'), 0);

    // No binary at all: web mode, and the command that fetches the app.
    d = berthDesktop({ ...base, DISPLAY: ':0', ELECTRON_OVERRIDE_DIST_PATH: path.join(home, 'nothing-here') }, args);
    await webUrl(d);
    assert.ok(d.err().includes(DESKTOP_INSTALL_COMMAND), d.err());
    assert.equal(await stopChild(d.child, 'SIGTERM'), 0);
  } finally {
    await removeDir(home);
    await removeDir(electron.dir);
  }
});

test('as root, berth desktop runs the app as the sudo user (never as root), or web mode', { skip: process.getuid?.() !== 0 && 'needs root', timeout: 60_000 }, async () => {
  const electron = await standIn();
  const home = await makeTempDir('berth-launch-root-');
  const base: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, BERTH_HOME: path.join(home, '.berth'), BERTH_DESKTOP_CONFIG: path.join(home, 'desktop.json'), ELECTRON_OVERRIDE_DIST_PATH: electron.dir, DISPLAY: ':0' };
  const args = ['-H', `unix://${path.join(home, 'engine.sock')}`, 'desktop', '--no-open'];
  try {
    // nobody (65534) stands in for the user who typed sudo.
    let d = berthDesktop({ ...base, SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' }, args);
    assert.equal(await exitWithin(d, 30_000), 0, d.err());
    const started = electron.read();
    assert.deepEqual(started['uid'], ['65534'], 'not root');
    assert.deepEqual(started['user'], ['nobody']);
    const passwdHome = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === '65534')?.split(':')[5];
    if (passwdHome) assert.deepEqual(started['home'], [passwdHome], "the user's home, not root's");

    writeFileSync(electron.record, '');
    d = berthDesktop(base, args);
    await webUrl(d);
    assert.match(d.err(), /does not run as root/);
    assert.equal(readFileSync(electron.record, 'utf8'), '');
    assert.equal(await stopChild(d.child, 'SIGTERM'), 0);
    assert.ok(!existsSync(path.join(home, 'engine.sock')));
  } finally {
    await removeDir(home);
    await removeDir(electron.dir);
  }
});
