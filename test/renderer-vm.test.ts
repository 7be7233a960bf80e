// Component tests of the Berth VM in the app, in real Chromium against the built renderer and a
// fake bridge (test/harness/renderer.ts): Settings → Virtual machine (boot progress from the "vm"
// stream, Start/Stop, the settings patch and the host's refusal, the DOCKER_HOST line), the
// engines form for ssh:// hosts, and the dashboard's Start offer when the VM engine is down.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineEndpoint, EngineStatus, VmStatus } from '../types/desktop-api.js';
import { pageOpener, rendererSkipReason, type RendererPage } from './harness/renderer.js';

const skip = rendererSkipReason();

const LOCAL: EngineEndpoint = { id: 'local', name: 'Local engine', kind: 'local', host: 'unix:///run/berth/docker.sock' };
const VM: EngineEndpoint = { id: 'vm', name: 'Berth VM', kind: 'vm', host: 'unix:///home/me/.berth/run/vm.sock' };
const OTHER: EngineEndpoint = { id: 'o1', name: 'other', kind: 'socket', host: 'unix:///tmp/other.sock' };

function vm(over: Partial<VmStatus> = {}): VmStatus {
  return {
    state: 'stopped',
    socket: '/home/me/.berth/run/vm.sock',
    dockerHost: 'unix:///home/me/.berth/run/vm.sock',
    ports: [],
    settings: { cpus: 2, memoryMiB: 2048, diskGiB: 60, shares: ['/home/me'], accel: 'auto' },
    required: false,
    image: { version: '1.2.0', arch: 'x86_64', compressedBytes: 123_000_000 },
    ...over,
  };
}
const starting = (stage: VmStatus['stage'], progress: number): VmStatus => vm({ state: 'starting', stage, progress, accel: 'kvm' });

const open = pageOpener({ 'engine.list': { engines: [LOCAL, VM, OTHER], active: 'local' } });

/** The progress bar's value once it is named `stage`. */
async function progressAt(r: RendererPage, stage: string): Promise<string | null> {
  const bar = r.page.getByRole('progressbar', { name: stage, exact: true });
  await bar.waitFor();
  return bar.getAttribute('aria-valuenow');
}

describe('the Berth VM in the app', { skip }, () => {
  test('settings: Start calls vm.start, the bar follows the stream through the stages to running, Stop calls vm.stop', async () => {
    const r = await open({
      route: '/settings',
      methods: { 'vm.start': starting('qemu', 0.02), 'vm.stop': vm() },
      streams: { vm: [vm({ required: true })] },
    });
    const panel = r.page.getByRole('region', { name: 'Virtual machine' });
    await panel.getByText('containers run in the Berth VM').waitFor();
    await panel.getByText('stopped', { exact: true }).waitFor();
    await panel.getByText('1.2.0 · x86_64 · 123 MB download').waitFor();
    assert.equal(await panel.getByRole('button', { name: 'Stop VM' }).isDisabled(), true, 'a stopped VM cannot be stopped');
    assert.equal(await panel.getByRole('progressbar').count(), 0, 'no bar while stopped');

    await panel.getByRole('button', { name: 'Start VM' }).click();
    await r.waitForCall('vm.start');
    await r.push('vm', starting('initramfs', 0.1));
    assert.equal(await progressAt(r, 'Booting the kernel'), '10');
    assert.equal(await panel.getByRole('button', { name: 'Start VM' }).isDisabled(), true, 'no second start while starting');
    await r.push('vm', starting('data-disk', 0.35));
    assert.equal(await progressAt(r, 'Mounting the data disk'), '35');
    await r.push('vm', starting('berthd', 0.7));
    assert.equal(await progressAt(r, 'Starting the engine'), '70');
    await r.push('vm', starting('ssh', 0.93));
    assert.equal(await progressAt(r, 'Connecting over SSH'), '93');

    await r.push(
      'vm',
      vm({
        state: 'running',
        accel: 'kvm',
        accelNote: 'kvm is available',
        sshPort: 2222,
        bootMs: 8400,
        startedAt: new Date().toISOString(),
        healthy: true,
        pingMs: 0.8,
        ports: [
          { proto: 'tcp', port: 8080, containers: ['web'] },
          { proto: 'udp', port: 53, containers: ['dns', 'dns2'], error: 'the port is taken by another program' },
        ],
      }),
    );
    await panel.getByText('running', { exact: true }).waitFor();
    assert.equal(await panel.getByRole('progressbar').count(), 0, 'the bar goes once the VM runs');
    await panel.getByText('booted in 8.4 s').waitFor();
    await panel.getByText('ping 0.8 ms').waitFor();
    await panel.getByText('kvm is available').waitFor();
    const ports = panel.getByRole('table', { name: 'Forwarded ports' });
    await ports.getByRole('row', { name: /8080 tcp web forwarded/ }).waitFor();
    await ports.getByRole('row', { name: /53 udp dns, dns2 the port is taken by another program/ }).waitFor();

    await panel.getByRole('button', { name: 'Copy the DOCKER_HOST line' }).click();
    await r.page.waitForFunction(async () => (await (globalThis as any).navigator.clipboard.readText()) === 'export DOCKER_HOST=unix:///home/me/.berth/run/vm.sock');

    assert.equal(await panel.getByRole('button', { name: 'Start VM' }).isDisabled(), true);
    await panel.getByRole('button', { name: 'Stop VM' }).click();
    await r.waitForCall('vm.stop');
    await panel.getByText('stopped', { exact: true }).waitFor();
    assert.equal(r.calls.filter((c) => c.method === 'vm.start').length, 1);
  });

  test('settings: Save posts only the changed fields, says when they apply, and shows the host refusal of a smaller disk', async () => {
    let settings = vm().settings;
    const r = await open({
      route: '/settings',
      methods: {
        'vm.configure': (patch) => {
          if (patch.diskGiB !== undefined && patch.diskGiB < settings.diskGiB)
            throw Object.assign(new Error(`the data disk can only grow (it is ${settings.diskGiB} GiB); remove the VM (berth vm rm) to start smaller`), { status: 400 });
          settings = { ...settings, ...patch };
          return vm({ settings, error: 'qemu exited with code 1' });
        },
      },
      streams: { vm: [vm({ error: 'qemu exited with code 1' })] },
    });
    const panel = r.page.getByRole('region', { name: 'Virtual machine' });
    await panel.getByRole('alert').getByText('qemu exited with code 1. See berth vm logs').waitFor();
    const form = panel.getByRole('form', { name: 'VM settings' });
    await form.getByLabel('CPUs').fill('4');
    await form.getByLabel('Memory (MiB)').fill('4096');
    await form.getByLabel('Accelerator').selectOption('tcg');
    await form.getByLabel('Folder to share').fill('/srv/code');
    await form.getByRole('button', { name: 'Add folder' }).click();
    await form.getByRole('button', { name: 'Stop sharing /home/me' }).click();
    await form.getByRole('list', { name: 'Shared folders' }).getByText('/srv/code').waitFor();
    await form.getByRole('button', { name: 'Save VM settings' }).click();
    const saved = await r.waitForCall('vm.configure');
    assert.deepEqual(saved.params, { cpus: 4, memoryMiB: 4096, accel: 'tcg', shares: ['/srv/code'] });
    await form.getByRole('status').getByText('apply at the next start').waitFor();
    assert.equal(await form.getByLabel('CPUs').inputValue(), '4', 'the form shows the saved settings');

    await form.getByLabel('Disk (GiB)').fill('20');
    await form.getByRole('button', { name: 'Save VM settings' }).click();
    await form.getByRole('alert').getByText('the data disk can only grow (it is 60 GiB); remove the VM (berth vm rm) to start smaller').waitFor();
    const refused = await r.waitForCall('vm.configure', (p: { diskGiB?: number }) => p.diskGiB !== undefined);
    assert.deepEqual(refused.params, { diskGiB: 20 }, 'only the changed field, again');
    assert.equal(await form.getByLabel('Disk (GiB)').inputValue(), '20', 'a refusal keeps what was typed');
  });

  test('engines: builtins have no Remove; an ssh:// host asks for an identity file, posts it and shows the pinned host key', async () => {
    const r = await open({
      route: '/settings',
      methods: {
        'engine.add': (p) => ({ id: 'r1', name: p.name, kind: 'ssh', host: p.host, ...(p.identityFile ? { identityFile: p.identityFile } : {}), hostKey: 'ssh-ed25519 SHA256:q1w2e3r4t5y6' }),
      },
      streams: { vm: [vm()] },
    });
    const engines = r.page.getByRole('table', { name: 'Engines' });
    await engines.getByRole('row', { name: /Berth VM vm/ }).waitFor();
    assert.equal(await engines.getByRole('button', { name: 'Remove engine Local engine' }).count(), 0);
    assert.equal(await engines.getByRole('button', { name: 'Remove engine Berth VM' }).count(), 0);
    assert.equal(await engines.getByRole('button', { name: 'Remove engine other' }).count(), 1);

    const form = r.page.getByRole('form', { name: 'Add an engine' });
    await form.getByText('ssh://user@host').first().waitFor();
    assert.equal(await form.getByLabel('Identity file').count(), 0, 'no identity file for a socket');
    await form.getByLabel('Engine name').fill('build box');
    await form.getByLabel('Engine host').fill('ssh://me@box:2222/run/berth/docker.sock');
    await form.getByLabel('Identity file').fill('~/.ssh/id_build');
    await form.getByRole('button', { name: 'Add engine' }).click();
    const add = await r.waitForCall('engine.add');
    assert.deepEqual(add.params, { name: 'build box', host: 'ssh://me@box:2222/run/berth/docker.sock', identityFile: '~/.ssh/id_build' });
    await form.getByRole('status').getByText('Pinned host key: ssh-ed25519 SHA256:q1w2e3r4t5y6').waitFor();
  });

  test('dashboard: an unreachable VM engine offers Start the VM, shows the boot inline, and clears once the engine answers', async () => {
    let engine: EngineStatus = { state: 'unreachable', engine: VM, reason: 'no engine socket at /home/me/.berth/run/vm.sock', fix: 'start the VM' };
    const r = await open({
      route: '/',
      methods: {
        'engine.status': () => engine,
        'vm.start': () => starting('qemu', 0.02),
        'vm.stop': vm(),
        'system.info': () => {
          throw Object.assign(new Error('the engine is unreachable'), { status: 0 });
        },
        'system.df': () => {
          throw Object.assign(new Error('the engine is unreachable'), { status: 0 });
        },
      },
      streams: { vm: [vm()] },
    });
    const notice = r.page.getByRole('region', { name: 'The Berth VM is not running' });
    await notice.getByText('no engine socket at /home/me/.berth/run/vm.sock').waitFor();
    await notice.getByRole('button', { name: 'Start the VM' }).click();
    await r.waitForCall('vm.start');
    await r.push('vm', starting('rootfs', 0.2));
    assert.equal(await progressAt(r, 'Mounting the system image'), '20');
    assert.equal(await notice.getByRole('button', { name: 'Start the VM' }).count(), 0, 'the bar replaces the button');

    engine = { state: 'running', engine: VM, version: '0.1.0', apiVersion: '1.47', os: 'linux', latencyMs: 2 };
    const asked = r.calls.filter((c) => c.method === 'engine.status').length;
    await r.push('vm', vm({ state: 'running', healthy: true, pingMs: 1 }));
    await r.waitForCall('engine.status', () => r.calls.filter((c) => c.method === 'engine.status').length > asked);
    await r.page.getByRole('status', { name: 'Engine status: Engine running · 0.1.0' }).waitFor();
    assert.equal(await notice.count(), 0, 'no notice once the engine answers');

    // From anywhere: the palette's Stop VM.
    await r.page.keyboard.press('Control+k');
    await r.page.getByRole('combobox', { name: /^Search commands/ }).fill('Stop VM');
    await r.page.keyboard.press('Enter');
    await r.waitForCall('vm.stop');
  });

  test('dashboard: an unreachable local engine gets the engine banner (no VM notice) and opens no VM stream', async () => {
    const r = await open({
      route: '/',
      methods: { 'engine.status': { state: 'unreachable', engine: LOCAL, reason: 'connect ENOENT /run/berth/docker.sock', fix: 'Start berthd: sudo berthd' } },
    });
    const banner = r.page.getByRole('alert', { name: 'Engine not running' });
    await banner.getByText('Connect ENOENT /run/berth/docker.sock.').waitFor();
    await banner.getByRole('button', { name: 'Start engine' }).waitFor();
    assert.equal(await r.page.getByRole('button', { name: 'Start the VM' }).count(), 0);
    assert.equal(r.streams.filter((s) => s.stream === 'vm').length, 0);
  });
});
