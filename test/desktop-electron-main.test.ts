// The main process's decisions, run without Electron (its binary cannot be fetched here): which
// permissions and navigations are allowed, what the tray and the menu show, which jobs notify, the
// MessagePort stream path (over Node's own MessageChannel, against a real bridge host too), and
// the way to a running engine at launch, including the privileged script run by a real shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { MenuItemConstructorOptions } from 'electron';
import { createBridgeHost } from '../desktop/bridge/index.js';
import type { EngineEndpoint, EngineStatus, Job } from '../types/desktop-api.js';
import type { PortMessage } from '../electron/channels.js';
import { PRIVILEGED_SCRIPT, planEngine, privilegedCommand, probeSocket, qemuCandidates, socketProbeFromError } from '../electron/engine-setup.js';
import type { EngineFacts } from '../electron/engine-setup.js';
import { JobNotices, jobNotice } from '../electron/job-notices.js';
import { aboutText, appMenuTemplate } from '../electron/menu-template.js';
import { REFUSED, serveStreamPort } from '../electron/port-stream.js';
import type { StreamOpener, StreamPort } from '../electron/port-stream.js';
import { APP_URL, isNavigationAllowed, isPermissionGranted } from '../electron/security.js';
import { describeStatus, trayMenuTemplate, trayTooltip } from '../electron/tray-menu.js';
import { makeTempDir, removeDir, run, waitUntil } from './harness/util.js';

const rendererDir = '/opt/berth/dist/renderer';

test('permissions: only the clipboard, only for our pages, never for a subframe', () => {
  for (const permission of ['clipboard-sanitized-write', 'clipboard-read']) {
    assert.ok(isPermissionGranted({ permission, requestingUrl: APP_URL, isMainFrame: true }, rendererDir), permission);
    assert.ok(isPermissionGranted({ permission, requestingUrl: 'berth://app' }, rendererDir), `${permission} checked by origin`);
    assert.ok(!isPermissionGranted({ permission, requestingUrl: APP_URL, isMainFrame: false }, rendererDir), `${permission} from a subframe`);
    assert.ok(!isPermissionGranted({ permission, requestingUrl: 'https://evil.example/', isMainFrame: true }, rendererDir), `${permission} for another page`);
    assert.ok(!isPermissionGranted({ permission, requestingUrl: undefined }, rendererDir), `${permission} with no requester`);
  }
  const refused = ['media', 'geolocation', 'notifications', 'midi', 'midiSysex', 'hid', 'serial', 'usb', 'display-capture', 'openExternal', 'fullscreen', 'pointerLock', 'keyboardLock', 'idle-detection', 'storage-access', 'window-management', 'fileSystem', 'unknown'];
  for (const permission of refused) {
    assert.ok(!isPermissionGranted({ permission, requestingUrl: APP_URL, isMainFrame: true }, rendererDir), `${permission} is refused even for our page`);
  }
});

test('navigation: the main frame only to our pages, subframes nowhere', () => {
  assert.ok(isNavigationAllowed('berth://app/index.html', true, rendererDir));
  assert.ok(isNavigationAllowed('berth://app/containers', true, rendererDir));
  assert.ok(!isNavigationAllowed('berth://app/index.html', false, rendererDir), 'a subframe, even to our origin');
  for (const url of ['https://evil.example/', 'http://127.0.0.1:2375/', 'file:///etc/passwd', 'berth://other/', 'javascript:alert(1)', 'data:text/html,x', 'about:blank']) {
    assert.ok(!isNavigationAllowed(url, true, rendererDir), `main frame to ${url}`);
    assert.ok(!isNavigationAllowed(url, false, rendererDir), `subframe to ${url}`);
  }
});

const local: EngineEndpoint = { id: 'local', name: 'Local engine', kind: 'local', host: 'unix:///run/berth/docker.sock' };
const vm: EngineEndpoint = { id: 'vm', name: 'Berth VM', kind: 'vm', host: 'unix:///root/.berth/run/docker.sock' };

test('tray: status line, fix when unreachable, engines as radio items that switch', () => {
  const running: EngineStatus = { state: 'running', engine: local, version: '0.1.0', apiVersion: '1.47', os: 'linux', latencyMs: 3 };
  const down: EngineStatus = { state: 'unreachable', engine: local, reason: 'no engine socket at /run/berth/docker.sock', fix: 'start berthd' };
  assert.equal(describeStatus(undefined), 'Engine: checking…');
  assert.equal(describeStatus(running), 'Local engine: running (0.1.0, 3 ms)');
  assert.equal(describeStatus({ state: 'starting', engine: vm }), 'Berth VM: starting…');
  assert.equal(trayTooltip(down), 'Berth Desktop: Local engine: unreachable (no engine socket at /run/berth/docker.sock)');

  const calls: string[] = [];
  const actions = { open: () => calls.push('open'), useEngine: (id: string) => calls.push(`use ${id}`), quit: () => calls.push('quit') };
  const click = (item: MenuItemConstructorOptions | undefined): void => (item?.click as unknown as () => void)();

  const up = trayMenuTemplate(running, { engines: [local, vm], active: 'local' }, actions);
  assert.deepEqual(up.map((i) => i.label ?? i.type), ['Local engine: running (0.1.0, 3 ms)', 'separator', 'Open Berth Desktop', 'Engine', 'separator', 'Quit']);
  assert.equal(up[0]?.enabled, false, 'the status line is not clickable');
  const engines = up.find((i) => i.label === 'Engine')?.submenu as MenuItemConstructorOptions[];
  assert.deepEqual(engines.map((e) => [e.label, e.type, e.checked]), [['Local engine', 'radio', true], ['Berth VM', 'radio', false]]);
  click(engines[1]);
  click(up.find((i) => i.label === 'Open Berth Desktop'));
  click(up.find((i) => i.label === 'Quit'));
  assert.deepEqual(calls, ['use vm', 'open', 'quit']);

  const broken = trayMenuTemplate(down, { engines: [], active: '' }, actions);
  assert.deepEqual(broken.slice(0, 2).map((i) => [i.label, i.enabled]), [[describeStatus(down), false], ['start berthd', false]], 'the fix follows the reason');
  assert.equal(broken.find((i) => i.label === 'Engine')?.enabled, false, 'no engines listed (the host failed): nothing to switch to');
});

test('menu: platform roles, developer tools only in development, File and About act', () => {
  const roles = (items: MenuItemConstructorOptions[]): string[] =>
    items.flatMap((i) => [...(i.role ? [i.role] : []), ...(Array.isArray(i.submenu) ? roles(i.submenu) : [])]);
  const shown: string[] = [];
  const opts = { show: () => shown.push('show'), about: () => shown.push('about') };
  const linux = appMenuTemplate({ platform: 'linux', dev: false, ...opts });
  const mac = appMenuTemplate({ platform: 'darwin', dev: true, ...opts });
  assert.ok(!roles(linux).includes('appMenu') && roles(linux).includes('quit') && !roles(linux).includes('close'));
  assert.ok(roles(mac).includes('appMenu') && roles(mac).includes('close') && !roles(mac).includes('quit'));
  assert.ok(!roles(linux).includes('toggleDevTools'), 'no developer tools in a release');
  assert.ok(roles(mac).includes('toggleDevTools'));
  for (const r of ['editMenu', 'windowMenu', 'reload', 'zoomIn', 'zoomOut', 'resetZoom', 'togglefullscreen']) assert.ok(roles(linux).includes(r), r);
  const file = linux.find((i) => i.label === 'File')?.submenu as MenuItemConstructorOptions[];
  assert.equal(file[0]?.accelerator, 'CmdOrCtrl+Shift+B');
  (file[0]?.click as unknown as () => void)();
  const help = linux.find((i) => i.role === 'help')?.submenu as MenuItemConstructorOptions[];
  (help[0]?.click as unknown as () => void)();
  assert.deepEqual(shown, ['show', 'about']);
  assert.deepEqual(aboutText('0.1.0', '41.7.1'), { message: 'Berth Desktop', detail: 'Version 0.1.0\nElectron 41.7.1' });
});

test('notifications: a job seen running then finished, once, only while the window is not in front', () => {
  const job = (id: string, state: Job['state'], extra: Partial<Job> = {}): Job => ({ id, kind: 'pull', title: `Pull ${id}`, state, startedAt: '2025-01-01T00:00:00Z', layers: [], ...extra });
  const n = new JobNotices();
  assert.equal(n.update(job('old', 'done'), false), undefined, 'finished before we looked: not announced');
  assert.equal(n.update(job('a', 'running'), false), undefined);
  assert.deepEqual(n.update(job('a', 'done', { message: 'Downloaded newer image' }), false), { title: 'Pull a: done', body: 'Downloaded newer image' });
  assert.equal(n.update(job('a', 'done'), false), undefined, 'only once');
  n.update(job('b', 'running'), false);
  assert.equal(n.update(job('b', 'failed', { error: 'manifest unknown' }), true), undefined, 'the window is in front: the app shows it');
  n.update(job('c', 'running'), false);
  assert.deepEqual(n.update(job('c', 'failed', { error: 'manifest unknown' }), false), { title: 'Pull c: failed', body: 'manifest unknown' });
  assert.deepEqual(jobNotice(job('d', 'cancelled')), { title: 'Pull d: cancelled', body: 'Stopped on request.' });
  assert.deepEqual(jobNotice(job('e', 'failed')), { title: 'Pull e: failed', body: 'The job failed.' });
});

/** Node's MessagePort as the StreamPort Electron's MessagePortMain is adapted to. */
function nodePort(p: MessagePort): StreamPort {
  return {
    postMessage: (m) => p.postMessage(m),
    onMessage: (l) => p.on('message', l),
    onClose: (l) => p.on('close', l),
    start: () => p.start(),
    close: () => p.close(),
  };
}

/** The renderer's end of a port: what arrived, and whether it closed. */
function pageEnd(p: MessagePort): { got: PortMessage[]; closed: Promise<void> } {
  const got: PortMessage[] = [];
  p.on('message', (m: PortMessage) => got.push(m));
  return { got, closed: new Promise((resolve) => p.once('close', () => resolve())) };
}

test('MessagePort streams: data out, input and close in, one end, the page going away closes the stream', async () => {
  const seen: string[] = [];
  let sink: Parameters<StreamOpener['openWire']>[2] | undefined;
  const opener: StreamOpener = {
    openWire(stream, params, s) {
      seen.push(`open ${String(stream)} ${JSON.stringify(params)}`);
      sink = s;
      return { input: (d) => seen.push(`input ${JSON.stringify(d)}`), close: () => seen.push('close') };
    },
  };

  // A stream the host ends: data, then the end with its error, then the port closes.
  const one = new MessageChannel();
  const page = pageEnd(one.port1);
  serveStreamPort(opener, nodePort(one.port2), { stream: 'logs', params: { id: 'c1' } }, true);
  sink?.data({ line: 'hello' });
  one.port1.postMessage({ t: 'input', data: 'ls\n' });
  await waitUntil(async () => seen.includes('input "ls\\n"'), 5000);
  sink?.end({ message: 'container gone', status: 404 });
  sink?.end(); // a second end is ignored
  sink?.data({ line: 'late' });
  await page.closed;
  assert.deepEqual(page.got, [{ t: 'data', data: { line: 'hello' } }, { t: 'end', error: { message: 'container gone', status: 404 } }]);
  assert.deepEqual(seen, ['open logs {"id":"c1"}', 'input "ls\\n"'], 'the host ended it: no close back to the host');

  // The page asks to close: the host hears it once, and what the host sends after goes nowhere.
  seen.length = 0;
  const two = new MessageChannel();
  const asked = pageEnd(two.port1);
  serveStreamPort(opener, nodePort(two.port2), { stream: 'stats', params: {} }, true);
  two.port1.postMessage({ t: 'close' });
  await asked.closed;
  sink?.data({ cpu: 1 });
  sink?.end();
  assert.deepEqual(seen, ['open stats {}', 'close']);
  assert.deepEqual(asked.got, []);

  // The page goes away without a word (its port closes): the stream is closed for it.
  seen.length = 0;
  const gone = new MessageChannel();
  serveStreamPort(opener, nodePort(gone.port2), { stream: 'stats', params: {} }, true);
  gone.port1.close();
  assert.ok(await waitUntil(async () => seen.includes('close'), 5000));
  assert.deepEqual(seen, ['open stats {}', 'close']);

  // Not our page: refused, and the host never hears of it.
  seen.length = 0;
  const three = new MessageChannel();
  const refused = pageEnd(three.port1);
  serveStreamPort(opener, nodePort(three.port2), { stream: 'logs', params: {} }, false);
  await refused.closed;
  assert.deepEqual(refused.got, [{ t: 'end', error: REFUSED }]);
  assert.deepEqual(seen, []);
});

test('MessagePort streams against a real bridge host: an unknown stream ends with 404, a real one carries data', async () => {
  const dir = await makeTempDir('berth-port-');
  const host = await createBridgeHost({ kind: 'electron', env: { HOME: dir }, configPath: path.join(dir, 'desktop.json'), localHost: `unix://${dir}/none.sock` });
  try {
    const bad = new MessageChannel();
    const page = pageEnd(bad.port1);
    serveStreamPort(host, nodePort(bad.port2), { stream: 'no-such-stream', params: {} }, true);
    await page.closed;
    assert.equal(page.got.length, 1);
    assert.equal(page.got[0]?.t, 'end');
    assert.equal((page.got[0] as { error?: { status: number } }).error?.status, 404);

    // The events stream reports the engine's state first (here: nothing at the socket).
    const events = new MessageChannel();
    const live = pageEnd(events.port1);
    serveStreamPort(host, nodePort(events.port2), { stream: 'events', params: {} }, true);
    assert.ok(await waitUntil(async () => live.got.some((m) => m.t === 'data'), 20_000), 'an engine status arrives');
    const first = live.got.find((m) => m.t === 'data') as { data: { type: string; status: EngineStatus } };
    assert.equal(first.data.type, 'engine');
    assert.equal(first.data.status.state, 'unreachable');
    events.port1.close();
  } finally {
    await host.close();
    await removeDir(dir);
  }
});

const facts = (over: Partial<EngineFacts>): EngineFacts => ({
  platform: 'linux',
  activeKind: 'local',
  localSocket: { path: '/run/berth/docker.sock', probe: 'answers' },
  serviceInstalled: true,
  canElevate: true,
  qemu: '/usr/bin/qemu-system-x86_64',
  vmImage: true,
  vmUp: false,
  ...over,
});

test('engine at launch: the VM on macOS and Windows, the host engine or a prompt on Linux', () => {
  const sock = '/run/berth/docker.sock';
  // macOS / Windows: the VM.
  for (const platform of ['darwin', 'win32'] as const) {
    assert.deepEqual(planEngine(facts({ platform, activeKind: 'vm', qemu: '/opt/homebrew/bin/qemu-system-aarch64' })), { action: 'start-vm', qemu: '/opt/homebrew/bin/qemu-system-aarch64' });
    assert.deepEqual(planEngine(facts({ platform, activeKind: 'vm', vmUp: true })), { action: 'none' }, 'already up');
    assert.deepEqual(planEngine(facts({ platform, activeKind: 'vm', qemu: undefined })), { action: 'need-qemu' });
    assert.deepEqual(planEngine(facts({ platform, activeKind: 'vm', vmImage: false, qemu: undefined })), { action: 'need-vm-image' }, 'the image first: without it QEMU is no help');
  }
  // Linux, the local engine.
  assert.deepEqual(planEngine(facts({})), { action: 'none' });
  for (const probe of ['absent', 'refused', 'other'] as const) {
    assert.deepEqual(planEngine(facts({ localSocket: { path: sock, probe } })), { action: 'offer-service', start: true, socket: sock }, probe);
    assert.deepEqual(planEngine(facts({ localSocket: { path: sock, probe }, serviceInstalled: false })), { action: 'explain-no-engine', vmPossible: true }, `${probe}, AppImage`);
    assert.deepEqual(planEngine(facts({ localSocket: { path: sock, probe }, canElevate: false })), { action: 'explain-no-engine', vmPossible: true }, `${probe}, no pkexec`);
    assert.deepEqual(planEngine(facts({ localSocket: { path: sock, probe }, serviceInstalled: false, qemu: undefined })), { action: 'explain-no-engine', vmPossible: false });
  }
  assert.deepEqual(planEngine(facts({ localSocket: { path: sock, probe: 'denied' } })), { action: 'offer-service', start: false, socket: sock });
  assert.deepEqual(planEngine(facts({ localSocket: { path: sock, probe: 'denied' }, canElevate: false })), { action: 'explain-denied', socket: sock });
  // Linux with the VM chosen, and engines the app only reports on.
  assert.deepEqual(planEngine(facts({ activeKind: 'vm' })), { action: 'start-vm', qemu: '/usr/bin/qemu-system-x86_64' });
  assert.deepEqual(planEngine(facts({ activeKind: 'ssh', localSocket: undefined })), { action: 'none' });
  assert.deepEqual(planEngine(facts({ activeKind: 'socket', localSocket: undefined })), { action: 'none' });
  assert.deepEqual(planEngine(facts({ platform: 'darwin', activeKind: 'local', localSocket: undefined })), { action: 'none' });

  assert.equal(socketProbeFromError('ENOENT'), 'absent');
  assert.equal(socketProbeFromError('ECONNREFUSED'), 'refused');
  assert.equal(socketProbeFromError('EACCES'), 'denied');
  assert.equal(socketProbeFromError('ETIMEDOUT'), 'other');
});

test('QEMU is looked for off PATH too, where Homebrew, MacPorts and the Windows installer put it', () => {
  const mac = qemuCandidates('qemu-system-aarch64', 'darwin', { PATH: '/usr/bin:/bin' });
  assert.deepEqual(mac, ['/usr/bin/qemu-system-aarch64', '/bin/qemu-system-aarch64', '/opt/homebrew/bin/qemu-system-aarch64', '/usr/local/bin/qemu-system-aarch64', '/opt/local/bin/qemu-system-aarch64']);
  const win = qemuCandidates('qemu-system-x86_64.exe', 'win32', { Path: 'C:\\Windows', ProgramFiles: 'D:\\Apps' });
  assert.deepEqual(win, ['C:\\Windows\\qemu-system-x86_64.exe', 'D:\\Apps\\qemu\\qemu-system-x86_64.exe', 'C:\\Program Files\\qemu\\qemu-system-x86_64.exe']);
  assert.deepEqual(qemuCandidates('qemu-system-x86_64', 'darwin', { BERTH_QEMU: '/x/qemu', PATH: '/usr/bin' }), ['/x/qemu'], 'BERTH_QEMU decides');
});

test('the privileged steps, run by a real shell (with systemctl, usermod and setfacl recorded): start, wait for the socket, let the user in', { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, async () => {
  const dir = await makeTempDir('berth-priv-');
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'calls.log');
  const socket = path.join(dir, 'run', 'docker.sock');
  mkdirSync(bin);
  mkdirSync(path.dirname(socket));
  writeFileSync(log, '');
  // systemctl "starts" the engine by making its socket appear a moment later, as berthd would.
  const node = process.execPath;
  const stub = (name: string, extra = ''): void => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${extra}`);
    chmodSync(path.join(bin, name), 0o755);
  };
  const listenerPid = path.join(dir, 'listener.pid');
  stub('systemctl', `(sleep 0.5; exec ${node} -e "require('net').createServer().listen(process.argv[1], () => setTimeout(() => process.exit(0), 60000))" ${socket}) >/dev/null 2>&1 &\necho $! > ${listenerPid}\n`);
  stub('usermod');
  stub('setfacl');
  const env = { PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin` };
  const { cmd, args } = privilegedCommand({ start: true, socket }, 'alice');
  assert.equal(cmd, 'pkexec');
  assert.equal(args[0], '/bin/sh');
  assert.equal(args[2], PRIVILEGED_SCRIPT);
  assert.ok(!PRIVILEGED_SCRIPT.includes('alice') && !PRIVILEGED_SCRIPT.includes(socket), 'user and socket are arguments, not text');
  try {
    let r = await run('/bin/sh', args.slice(1), { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr.toString());
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['systemctl enable --now berthd.service', `setfacl -m u:alice:rw ${socket}`], 'the socket is root\'s: no group to join');

    // The socket belongs to a group: the user joins it (for later logins) and gets the ACL now.
    chownSync(socket, 0, 65534);
    writeFileSync(log, '');
    const access = privilegedCommand({ start: false, socket }, 'alice');
    r = await run('/bin/sh', access.args.slice(1), { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr.toString());
    const group = (await run('stat', ['-c', '%G', socket])).stdout.toString().trim();
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [`usermod -aG ${group} alice`, `setfacl -m u:alice:rw ${socket}`], 'no start when only access was asked');

    // A service that never makes its socket: the script says so and fails.
    const missing = privilegedCommand({ start: false, socket: path.join(dir, 'never.sock') }, 'alice');
    const script = missing.args[2]?.replace('-lt 150', '-lt 2') ?? '';
    r = await run('/bin/sh', ['-c', script, ...missing.args.slice(3)], { env, timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.toString(), /the engine did not create .*never\.sock/);
  } finally {
    const pid = existsSync(listenerPid) ? Number(readFileSync(listenerPid, 'utf8').trim()) : 0;
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await removeDir(dir);
  }
});

test('a unix socket probe tells absent, refused and answering apart', async () => {
  const dir = await makeTempDir('berth-probe-');
  const sock = path.join(dir, 's.sock');
  try {
    assert.equal(await probeSocket(sock), 'absent');
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once('listening', r));
    assert.equal(await probeSocket(sock), 'answers');
    await new Promise((r) => server.close(r));
    writeFileSync(sock, ''); // a leftover file where the socket was
    assert.equal(await probeSocket(sock), 'refused');
  } finally {
    await removeDir(dir);
  }
});
