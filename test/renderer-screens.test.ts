/**
 * Component tests of the renderer's images, pull/run, volumes, networks, settings, troubleshoot
 * and onboarding screens: the built renderer (dist/renderer) in real Chromium, talking to a fake
 * `window.berth` that answers calls from canned data, records them, and lets the test push stream
 * messages (jobs, events). The small harness below is local to this file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { BridgeMethods, Job, MethodName } from '../types/desktop-api.js';
import type { ContainerSummary, ImageSummary, NetworkInspect, Volume } from '../types/engine-api.js';
import { repoRoot } from './harness/util.js';

const CHROMIUM = '/usr/bin/chromium';
const root = repoRoot();
const out = join(root, 'dist', 'renderer');

// ---------------------------------------------------------------------------------------------
// Local harness: build if stale, serve dist/renderer, open pages with a fake bridge.

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

function ensureBuilt(): void {
  const index = join(out, 'index.html');
  const sources = Math.max(newest(join(root, 'renderer')), statSync(join(root, 'types', 'desktop-api.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const r = spawnSync(join(root, 'node_modules', '.bin', 'vite'), ['build', '--config', 'renderer/vite.config.ts'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

function serve(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(out, path === '/' ? 'index.html' : path);
    if (!file.startsWith(out) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

type Fixtures = Partial<{ [M in MethodName]: BridgeMethods[M][1] | { __error: { message: string; status: number } } }>;

interface FakeBerth {
  calls: { method: string; params: unknown }[];
  fixtures: Record<string, unknown>;
  push(stream: string, msg: unknown): void;
}
// The page's globals, as the functions passed to page.evaluate see them (tests compile without DOM types).
declare const window: { berth: unknown; __berth: FakeBerth };
declare const location: { hash: string };
declare const document: { documentElement: { dataset: Record<string, string | undefined> } };

/** Runs in the page before the app: a BridgeTransport answering from `fixtures`. */
function installFakeBridge(fixtures: Record<string, unknown>): void {
  const streams: Record<string, { data(m: unknown): void; end(): void }[]> = {};
  const fake: FakeBerth = {
    calls: [],
    fixtures,
    push(stream, msg) {
      for (const h of streams[stream] ?? []) h.data(msg);
    },
  };
  window.__berth = fake;
  window.berth = {
    kind: 'web',
    invoke(method: string, params: unknown) {
      fake.calls.push({ method, params });
      const v = fake.fixtures[method];
      if (method === 'settings.set') {
        Object.assign(fake.fixtures['settings.get'] as object, params);
        return Promise.resolve(JSON.parse(JSON.stringify(fake.fixtures['settings.get'])));
      }
      if (v && typeof v === 'object' && '__error' in v) return Promise.reject((v as { __error: unknown }).__error);
      if (v === undefined) return Promise.reject({ message: `no fixture for ${method}`, status: 500 });
      return Promise.resolve(JSON.parse(JSON.stringify(v)));
    },
    open(stream: string, _params: unknown, handlers: { data(m: unknown): void; end(): void }) {
      (streams[stream] ??= []).push(handlers);
      return {
        send() {},
        close() {
          streams[stream] = (streams[stream] ?? []).filter((h) => h !== handlers);
        },
      };
    },
  };
}

const ENGINE = { id: 'local', name: 'This computer', kind: 'local' as const, host: 'unix:///run/berth/docker.sock' };

function baseFixtures(): Fixtures {
  return {
    'engine.status': { state: 'running', engine: ENGINE, version: '0.1.0', apiVersion: '1.47', os: 'linux', latencyMs: 1.2 },
    'settings.get': { theme: 'light', onboardingDone: true, sampleRegistry: 'localhost:5000', sampleImage: 'berth/sample:1', tour: { step: 0 } },
    'images.list': [],
    'containers.list': [],
  };
}

let browser: Browser | undefined;
let server: Server | undefined;
let base = '';
const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}` : false;

async function openApp(fixtures: Fixtures, hash: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser!.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(installFakeBridge, fixtures as Record<string, unknown>);
  await page.goto(`${base}/#${hash}`);
  return { page, errors };
}

async function done(p: { page: Page; errors: string[] }): Promise<void> {
  await p.page.context().close();
  assert.deepEqual(p.errors, [], 'no uncaught errors in the page');
}

/** The params of every call of `method` so far. */
function calls(page: Page, method: MethodName): Promise<unknown[]> {
  return page.evaluate((m) => window.__berth.calls.filter((c) => c.method === m).map((c) => c.params), method);
}

/** Waits until `method` has been called `n` times; returns the last call's params. */
async function called(page: Page, method: MethodName, n = 1): Promise<unknown> {
  await page.waitForFunction(([m, k]) => window.__berth.calls.filter((c) => c.method === m).length >= k, [method, n] as const);
  return (await calls(page, method)).at(-1);
}

function push(page: Page, stream: string, msg: unknown): Promise<void> {
  return page.evaluate(([s, m]) => window.__berth.push(s, m), [stream, msg] as const);
}

function setFixture(page: Page, method: MethodName, value: unknown): Promise<void> {
  return page.evaluate(([m, v]) => void (window.__berth.fixtures[m] = v), [method, value] as const);
}

async function hashIs(page: Page, hash: string): Promise<void> {
  await page.waitForFunction((h) => location.hash === h, hash);
}

// chromium.launch gives every run a fresh temporary profile (its user-data-dir), removed on close.
before(async () => {
  if (skip) return;
  ensureBuilt();
  server = await serve();
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
});

// ---------------------------------------------------------------------------------------------
// Canned engine data

const IMG_ALPINE: ImageSummary = {
  Id: 'sha256:' + 'a1'.repeat(32),
  ParentId: '',
  RepoTags: ['alpine:3.19'],
  RepoDigests: [],
  Created: Math.floor(Date.now() / 1000) - 3600,
  Size: 7_800_000,
  SharedSize: -1,
  Labels: null,
  Containers: -1,
};
const IMG_BUSYBOX: ImageSummary = { ...IMG_ALPINE, Id: 'sha256:' + 'b2'.repeat(32), RepoTags: ['busybox:latest'], Size: 4_200_000 };
const WEB: ContainerSummary = {
  Id: 'c3'.repeat(32),
  Names: ['/web'],
  Image: 'alpine:3.19',
  ImageID: IMG_ALPINE.Id,
  Command: 'sh',
  Created: Math.floor(Date.now() / 1000),
  Ports: [],
  Labels: null,
  State: 'running',
  Status: 'Up 1 minute',
  NetworkSettings: { Networks: { appnet: {} } },
  Mounts: [{ Type: 'volume', Name: 'data', Source: '/var/lib/berth/volumes/data/_data', Destination: '/data', Mode: 'z', RW: true, Propagation: '' }],
};

function job(over: Partial<Job>): Job {
  return { id: 'job1', kind: 'pull', title: 'Pull localhost:5000/app:1', state: 'running', startedAt: new Date().toISOString(), layers: [], ...over };
}

// ---------------------------------------------------------------------------------------------

describe('renderer screens', { skip }, () => {
  test('images: list with usage, re-read on image events, remove asks first and calls images.remove', async () => {
    const app = await openApp({ ...baseFixtures(), 'images.list': [IMG_ALPINE, IMG_BUSYBOX], 'containers.list': [WEB], 'images.remove': null }, '/images');
    const { page } = app;
    const table = page.getByRole('table', { name: 'Images' });
    await table.getByRole('row', { name: /alpine:3\.19/ }).getByText('1 container').waitFor();
    await table.getByRole('row', { name: /busybox:latest/ }).getByText('unused').waitFor();
    assert.deepEqual(
      await table.getByRole('columnheader').allTextContents(),
      ['Repository:tag', 'ID', 'Size', 'Created', 'In use', 'Actions'],
    );

    await page.getByRole('button', { name: 'Remove busybox:latest' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove busybox:latest?' });
    await dialog.waitFor();
    assert.equal((await calls(page, 'images.remove')).length, 0, 'nothing is removed before the confirmation');
    await dialog.getByLabel(/Force/).check();
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(await called(page, 'images.remove'), { id: IMG_BUSYBOX.Id, force: true });

    // The engine's delete event makes the list re-read.
    await setFixture(page, 'images.list', [IMG_ALPINE]);
    await push(page, 'events', { type: 'event', event: { Type: 'image', Action: 'delete', Actor: { ID: IMG_BUSYBOX.Id, Attributes: {} }, time: 1, timeNano: 1 } });
    await table.getByRole('row', { name: /busybox:latest/ }).waitFor({ state: 'detached' });

    // Run opens the run dialog with the image filled in.
    await page.getByRole('button', { name: 'Run alpine:3.19' }).click();
    await hashIs(page, '#/images/run?image=alpine%3A3.19');
    assert.equal(await page.getByRole('dialog', { name: 'Run a container' }).getByLabel('Image', { exact: true }).inputValue(), 'alpine:3.19');
    await done(app);
  });

  test('pull dialog: layer progress and totals from the jobs stream, survives closing, cancel, errors', async () => {
    const app = await openApp({ ...baseFixtures(), 'images.list': [IMG_ALPINE], 'images.pull': { jobId: 'job1' }, 'jobs.cancel': null }, '/');
    const { page } = app;
    await page.getByRole('button', { name: 'Pull an image' }).click();
    await hashIs(page, '#/images/pull');
    const dialog = page.getByRole('dialog', { name: 'Pull an image' });
    const input = dialog.getByLabel('Image');
    await page.locator('#pull-suggestions option[value="alpine:3.19"]').waitFor({ state: 'attached' });
    assert.equal(await input.getAttribute('list'), 'pull-suggestions');

    await dialog.getByRole('button', { name: 'Pull', exact: true }).click();
    await dialog.getByRole('alert').getByText(/Type an image name/).waitFor();
    assert.equal((await calls(page, 'images.pull')).length, 0);

    await input.fill('localhost:5000/app:1');
    await input.press('Enter');
    assert.deepEqual(await called(page, 'images.pull'), { ref: 'localhost:5000/app:1' });
    await push(page, 'jobs', job({ layers: [{ id: 'sha256:' + 'd'.repeat(64), status: 'Downloading', current: 500, total: 1000 }, { id: 'e'.repeat(64), status: 'Pull complete', total: 2000 }] }));
    await dialog.locator('[role=progressbar][aria-label="Layer dddddddddddd"][aria-valuenow="25"]').waitFor();
    await dialog.locator('[role=progressbar][aria-label="Layer eeeeeeeeeeee"][aria-valuenow="100"]').waitFor();
    await dialog.locator('[role=progressbar][aria-label$="overall progress"][aria-valuenow="63"]').waitFor();
    await dialog.getByText('63% · 1 of 2 layers complete · 2.5 kB of 3.0 kB downloaded').waitFor();
    assert.equal(await dialog.locator('[aria-live=polite]').count(), 1, 'progress is in a polite live region');

    // Close: the job keeps going on the Images screen's jobs panel, and reopening shows it again.
    await dialog.getByRole('button', { name: 'Close (keeps pulling)' }).click();
    // Closing goes back to where the dialog was opened (the dashboard); the pull goes on.
    await hashIs(page, '#/');
    await page.evaluate(() => void (location.hash = '/images'));
    const panel = page.getByRole('region', { name: 'Pulls' });
    await panel.getByText('Pull localhost:5000/app:1').waitFor();
    await push(page, 'jobs', job({ layers: [{ id: 'sha256:' + 'd'.repeat(64), status: 'Extracting', current: 500, total: 1000 }, { id: 'e'.repeat(64), status: 'Pull complete', total: 2000 }] }));
    await panel.locator('[role=progressbar][aria-label$="overall progress"][aria-valuenow="88"]').waitFor();
    await page.getByRole('button', { name: 'Pull an image' }).click();
    const again = page.getByRole('dialog', { name: 'Pull an image' });
    await again.locator('[role=progressbar][aria-label="Layer dddddddddddd"][aria-valuenow="75"]').waitFor();

    await again.getByRole('button', { name: 'Cancel Pull localhost:5000/app:1' }).click();
    assert.deepEqual(await called(page, 'jobs.cancel'), { id: 'job1' });
    await push(page, 'jobs', job({ state: 'failed', error: 'pull cancelled: context canceled', layers: [] }));
    await again.getByRole('alert').getByText('pull cancelled: context canceled').waitFor();
    assert.equal(await again.getByRole('button', { name: /^Cancel Pull/ }).count(), 0, 'no cancel once the job ended');

    // A refused start (bad reference) is shown in the dialog.
    await setFixture(page, 'images.pull', { __error: { message: 'invalid reference format', status: 400 } });
    await again.getByLabel('Image').fill('UPPER/case');
    await again.getByRole('button', { name: 'Pull', exact: true }).click();
    await again.getByRole('alert').getByText('invalid reference format').waitFor();
    await done(app);
  });

  test('run dialog: validates inline, builds the RunRequest from ports/env/volumes, shows engine errors, opens the logs', async () => {
    const app = await openApp({ ...baseFixtures(), 'images.list': [IMG_ALPINE], 'containers.run': { __error: { message: 'Conflict. The container name "/web1" is already in use', status: 409 } } }, '/images/run?image=alpine%3A3.19');
    const { page } = app;
    const dialog = page.getByRole('dialog', { name: 'Run a container' });
    assert.equal(await dialog.getByLabel('Image', { exact: true }).inputValue(), 'alpine:3.19');
    await dialog.getByLabel('Name (optional)').fill('web 1');
    await dialog.getByRole('button', { name: 'Add a port' }).click();
    await dialog.getByLabel('Host port 1').fill('8080');
    await dialog.getByLabel('Container port 1').fill('99999');
    await dialog.getByRole('button', { name: 'Run', exact: true }).click();
    await dialog.getByRole('alert').getByText('2 fields need attention.').waitFor();
    assert.equal(await dialog.getByLabel('Container port 1').getAttribute('aria-invalid'), 'true');
    await dialog.locator('#run-name-problem').waitFor();
    assert.equal((await calls(page, 'containers.run')).length, 0, 'nothing reaches the engine while a field is wrong');

    await dialog.getByLabel('Name (optional)').fill('web1');
    await dialog.getByLabel('Container port 1').fill('80');
    await dialog.getByRole('button', { name: 'Add a port' }).click();
    await dialog.getByLabel('Container port 2').fill('53');
    await dialog.getByLabel('Protocol 2').selectOption('udp');
    await dialog.getByRole('button', { name: 'Add a port' }).click();
    await dialog.getByRole('button', { name: 'Remove port 3' }).click();
    await dialog.getByLabel(/Environment/).fill('A=1\nB=two words\n');
    await dialog.getByRole('button', { name: 'Add a volume' }).click();
    await dialog.getByLabel('Source 1').fill('data');
    await dialog.getByLabel('Target 1').fill('/var/lib/data');
    await dialog.getByLabel('Read-only 1').check();
    await dialog.getByLabel(/^Command/).fill(`sh -c "echo hi; sleep 1000"`);
    await dialog.getByLabel('Restart policy').selectOption('unless-stopped');
    await dialog.getByLabel(/Interactive/).check();
    await dialog.getByRole('button', { name: 'Run', exact: true }).click();
    const expected = {
      image: 'alpine:3.19',
      name: 'web1',
      restart: 'unless-stopped',
      interactive: true,
      command: ['sh', '-c', 'echo hi; sleep 1000'],
      env: ['A=1', 'B=two words'],
      ports: [
        { host: '8080', container: '80', protocol: 'tcp' },
        { host: '', container: '53', protocol: 'udp' },
      ],
      volumes: [{ source: 'data', target: '/var/lib/data', readOnly: true }],
    };
    assert.deepEqual(await called(page, 'containers.run'), expected);
    await dialog.getByRole('alert').getByText(/The engine refused: Conflict\. The container name "\/web1" is already in use/).waitFor();

    await setFixture(page, 'containers.run', { id: 'f'.repeat(64), warnings: [] });
    await dialog.getByRole('button', { name: 'Run', exact: true }).click();
    assert.deepEqual(await called(page, 'containers.run', 2), expected);
    await hashIs(page, `#/containers/${'f'.repeat(64)}/logs`);
    await done(app);
  });

  test('volumes: usage links to the Files tab, create with labels, remove shows the engine refusal', async () => {
    const vol: Volume = { Name: 'data', Driver: 'local', Mountpoint: '/var/lib/berth/volumes/data/_data', CreatedAt: new Date().toISOString(), Labels: null, Scope: 'local', Options: null };
    const app = await openApp(
      {
        ...baseFixtures(),
        'containers.list': [WEB],
        'volumes.list': [vol],
        'volumes.create': { ...vol, Name: 'cache' },
        'volumes.remove': { __error: { message: 'remove data: volume is in use - [c3c3c3c3c3c3]', status: 409 } },
      },
      '/volumes',
    );
    const { page } = app;
    const link = page.getByRole('link', { name: 'Browse data in web at /data' });
    assert.equal(await link.getAttribute('href'), `#/containers/${WEB.Id}/files?path=%2Fdata`);

    await page.getByRole('button', { name: 'Create a volume' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a volume' });
    await dialog.getByLabel(/^Name/).fill('cache');
    await dialog.getByLabel(/^Labels/).fill('team=web\nbad key=1');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByRole('alert').getByText('"bad key=1" is not KEY=value.').waitFor();
    await dialog.getByLabel(/^Labels/).fill('team=web\ntier=cache');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(await called(page, 'volumes.create'), { Name: 'cache', Labels: { team: 'web', tier: 'cache' } });

    await page.getByRole('button', { name: 'Remove volume data' }).click();
    await page.getByRole('dialog', { name: 'Remove volume data?' }).getByRole('button', { name: 'Remove' }).click();
    assert.deepEqual(await called(page, 'volumes.remove'), { name: 'data' });
    await page.getByRole('alert').getByText('Could not remove data: remove data: volume is in use - [c3c3c3c3c3c3]').waitFor();
    await done(app);
  });

  test('networks: counts, inspect lists connected containers, create builds the engine body', async () => {
    const net = (name: string, over: Partial<NetworkInspect> = {}): NetworkInspect => ({
      Name: name,
      Id: name.padEnd(64, '0'),
      Created: new Date().toISOString(),
      Scope: 'local',
      Driver: 'bridge',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      Containers: {},
      Options: null,
      Labels: null,
      ...over,
    });
    const appnet = net('appnet');
    const app = await openApp(
      {
        ...baseFixtures(),
        'containers.list': [WEB],
        'networks.list': [net('bridge'), appnet],
        'networks.inspect': { ...appnet, Containers: { [WEB.Id]: { Name: 'web', EndpointID: 'e', MacAddress: '02:42:ac:12:00:02', IPv4Address: '172.18.0.2/16', IPv6Address: '' } } },
        'networks.create': { id: 'n'.repeat(64) },
      },
      '/networks',
    );
    const { page } = app;
    const row = page.getByRole('table', { name: 'Networks' }).getByRole('row', { name: /appnet/ });
    await row.getByRole('cell', { name: '1', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Remove network bridge' }).count(), 0, 'predefined networks cannot be removed');

    await row.getByRole('button', { name: 'Inspect network appnet' }).click();
    const link = page.getByRole('table', { name: 'Containers on appnet' }).getByRole('link', { name: 'web' });
    assert.equal(await link.getAttribute('href'), `#/containers/${WEB.Id}`);
    assert.deepEqual(await called(page, 'networks.inspect'), { id: appnet.Id });

    await page.getByRole('button', { name: 'Create a network' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a network' });
    await dialog.getByLabel('Name').fill('backend');
    await dialog.getByLabel(/^Subnet/).fill('172.30.0.0');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.locator('#net-subnet-problem').waitFor();
    await dialog.getByLabel(/^Subnet/).fill('172.30.0.0/16');
    await dialog.getByLabel(/^Gateway/).fill('172.30.0.1');
    await dialog.getByLabel(/Internal/).check();
    await dialog.getByLabel(/^Labels/).fill('tier=db');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(await called(page, 'networks.create'), {
      Name: 'backend',
      Driver: 'bridge',
      IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '172.30.0.0/16', Gateway: '172.30.0.1' }] },
      Internal: true,
      Attachable: false,
      Ingress: false,
      ConfigOnly: false,
      ConfigFrom: null,
      Options: {},
      Labels: { tier: 'db' },
    });
    await done(app);
  });

  test('settings: add an engine, use one, theme switch changes html data-theme and is saved', async () => {
    const vm = { id: 'vm', name: 'Berth VM', kind: 'vm' as const, host: 'unix:///tmp/vm.sock' };
    const app = await openApp(
      {
        ...baseFixtures(),
        'engine.list': { engines: [ENGINE, vm], active: 'local' },
        'engine.add': { id: 'r1', name: 'remote', kind: 'ssh', host: 'ssh://me@box' },
        'engine.use': { state: 'unreachable', engine: vm, reason: 'connect ENOENT /tmp/vm.sock', fix: 'Start the VM' },
      },
      '/settings',
    );
    const { page } = app;
    await page.getByRole('table', { name: 'Engines' }).getByRole('row', { name: /Berth VM/ }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Remove engine Berth VM' }).count(), 0, 'the built-in VM engine cannot be removed');

    const form = page.getByRole('form', { name: 'Add an engine' });
    await form.getByLabel('Engine name').fill('remote');
    await form.getByLabel('Engine host').fill('box:22');
    await form.getByRole('button', { name: 'Add engine' }).click();
    await form.getByRole('alert').getByText(/unix:\/\/\/path\.sock, tcp:\/\/host:port or ssh:\/\/user@host/).waitFor();
    await form.getByLabel('Engine host').fill('ssh://me@box');
    await form.getByRole('button', { name: 'Add engine' }).click();
    assert.deepEqual(await called(page, 'engine.add'), { name: 'remote', host: 'ssh://me@box' });

    await setFixture(page, 'engine.list', { engines: [ENGINE, vm], active: 'vm' });
    await page.getByRole('button', { name: 'Use engine Berth VM' }).click();
    assert.deepEqual(await called(page, 'engine.use'), { id: 'vm' });
    await page.getByText('connect ENOENT /tmp/vm.sock. Start the VM').first().waitFor();
    await page.getByRole('region', { name: 'Virtual machine' }).waitFor();

    assert.equal(await page.evaluate(() => document.documentElement.dataset['theme']), 'light');
    await page.getByRole('radio', { name: 'Dark' }).check();
    await page.waitForFunction(() => document.documentElement.dataset['theme'] === 'dark');
    assert.deepEqual(await called(page, 'settings.set'), { theme: 'dark' });
    await page.getByRole('radio', { name: 'Light' }).check();
    await page.waitForFunction(() => document.documentElement.dataset['theme'] === 'light');
    assert.deepEqual(await called(page, 'settings.set', 2), { theme: 'light' });
    await done(app);
  });

  test('troubleshoot: versions, latency, the engine log or why there is none, restart, export downloads the bundle', async () => {
    const diag = {
      appVersion: '0.3.0',
      bridge: 'web' as const,
      platform: 'linux x64',
      engine: { state: 'running' as const, engine: ENGINE, version: '0.1.0', apiVersion: '1.47', os: 'linux', latencyMs: 1 },
      pingMs: [3, 1, 2],
      daemonLog: { text: 'level=info msg="berthd listening"\nlevel=warn msg="slow"', path: '/var/lib/berth/berthd.log' },
      control: { start: null, restart: 'stops berthd and runs it again the same way' },
    };
    const app = await openApp(
      {
        ...baseFixtures(),
        'diagnostics.collect': diag,
        'system.version': { Version: '0.1.0', ApiVersion: '1.47', Os: 'linux', Arch: 'amd64' },
        'engine.restart': { done: false, instructions: 'Berth Desktop cannot restart the engine from here: it needs administrator rights. In a terminal, run: sudo berthd', command: 'sudo berthd' },
      },
      '/troubleshoot',
    );
    const { page } = app;
    await page.getByText('0.3.0 (web mode, linux x64)').waitFor();
    await page.getByText('running · version 0.1.0 · API 1.47 · linux').waitFor();
    await page.getByText('median 2.0 ms · min 1.0 ms · max 3.0 ms (3 pings)').waitFor();
    assert.match(await page.getByLabel('Daemon log, last lines').innerText(), /berthd listening[\s\S]*slow/);
    await page.getByText('/var/lib/berth/berthd.log').waitFor();

    await page.getByRole('button', { name: 'Restart engine' }).click();
    await called(page, 'engine.restart');
    await page.getByRole('status').getByText(/needs administrator rights\. In a terminal, run: sudo berthd/).waitFor();

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export diagnostics' }).click()]);
    assert.match(download.suggestedFilename(), /^berth-diagnostics-.*\.json$/);
    const bundle = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.deepEqual(bundle.diagnostics, diag);
    assert.equal(bundle.engineVersion.ApiVersion, '1.47');
    assert.equal(bundle.engineInfo.error, 'no fixture for system.info', 'an engine call that fails is recorded, not fatal');

    await setFixture(page, 'diagnostics.collect', { ...diag, daemonLog: { text: null, path: '/var/lib/berth/berthd.log', note: "The engine's log (/var/lib/berth/berthd.log) cannot be read by this user." } });
    await page.getByRole('button', { name: 'Collect again' }).click();
    await page.getByText("The engine's log (/var/lib/berth/berthd.log) cannot be read by this user.").waitFor();
    await done(app);
  });

  test('troubleshoot: reset to defaults lists what it deletes and asks for the word first', async () => {
    const diag = {
      appVersion: '0.3.0',
      bridge: 'web' as const,
      platform: 'linux x64',
      engine: { state: 'running' as const, engine: ENGINE, version: '0.1.0', apiVersion: '1.47', os: 'linux', latencyMs: 1 },
      pingMs: [1],
      daemonLog: { text: null, path: null, note: 'none' },
      control: { start: null, restart: null },
    };
    const plan = {
      engine: 'This computer',
      containers: [
        { name: 'web', running: true },
        { name: 'job', running: false },
      ],
      images: [{ name: 'alpine:3.19', size: 7_800_000 }],
      imagesSize: 7_800_000,
      volumes: [{ name: 'pgdata', size: 48_000_000 }],
      networks: ['appnet'],
      buildCacheSize: 0,
      settings: ['theme (dark)', 'the tour is marked done (it opens again)'],
    };
    const app = await openApp(
      { ...baseFixtures(), 'diagnostics.collect': diag, 'engine.resetPlan': plan, 'engine.reset': { removed: { containers: 2, images: 1, volumes: 1, networks: 1 }, failures: [] } },
      '/troubleshoot',
    );
    const { page } = app;
    await page.getByRole('button', { name: 'Reset to defaults…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset to defaults?' });
    await dialog.getByText('2 containers').waitFor();
    await dialog.getByText(/1 running, stopped first/).waitFor();
    await dialog.getByText(': web, job').waitFor();
    await dialog.getByText(': pgdata').waitFor();
    await dialog.getByText(': appnet').waitFor();
    await dialog.getByText(/theme \(dark\)/).waitFor();
    const go = dialog.getByRole('button', { name: 'Delete everything and reset' });
    assert.equal(await go.isDisabled(), true, 'nothing happens before the word is typed');
    await dialog.getByLabel(/Type reset to confirm/).fill('reset');
    await go.click();
    assert.deepEqual(await called(page, 'engine.reset'), { confirm: 'reset' });
    await dialog.getByText(/Deleted 2 containers, 1 image, 1 volume and 1 network/).waitFor();
    await done(app);
  });

  test('onboarding: a fresh profile walks every step, saving progress; the run uses a free port and the image\'s own port', async () => {
    const fx = baseFixtures();
    const app = await openApp(
      {
        ...fx,
        'engine.status': { state: 'unreachable', engine: ENGINE, reason: 'connect ENOENT /run/berth/docker.sock', fix: 'use Start engine, or start it in a terminal: sudo berthd' },
        'settings.get': { theme: 'light', onboardingDone: false, sampleRegistry: 'localhost:5000', sampleImage: 'berth/sample:1', tour: { step: 0 } },
        'images.pull': { jobId: 'j9' },
        'images.inspect': { Id: 'sha256:' + 'e'.repeat(64), Config: { ExposedPorts: { '8080/tcp': {} } } } as never,
        'system.freePort': { port: 8081 },
        'containers.run': { id: '9'.repeat(64), warnings: [] },
      },
      '/',
    );
    const { page } = app;
    await hashIs(page, '#/welcome');
    await page.getByText('Step 1 of 5').waitFor();
    await page.getByRole('heading', { name: 'Check the engine' }).waitFor();
    await page.getByText('How to fix it: use Start engine, or start it in a terminal: sudo berthd').waitFor();
    await setFixture(page, 'engine.status', fx['engine.status']);
    await page.getByRole('button', { name: 'Check again' }).click();
    await page.getByRole('button', { name: 'Next: pull an image' }).click();
    assert.deepEqual(await called(page, 'settings.set'), { tour: { step: 1 } }, 'each step is saved');

    await page.getByText('Step 2 of 5').waitFor();
    assert.equal(await page.getByLabel('Registry').inputValue(), 'localhost:5000');
    await page.getByLabel('Image', { exact: true }).fill('berth/web:2');
    await page.getByRole('button', { name: 'Pull localhost:5000/berth/web:2' }).click();
    assert.deepEqual(await called(page, 'images.pull'), { ref: 'localhost:5000/berth/web:2' });
    await push(page, 'jobs', job({ id: 'j9', title: 'Pull localhost:5000/berth/web:2', layers: [{ id: 'a'.repeat(64), status: 'Downloading', current: 10, total: 100 }] }));
    await page.locator('[role=progressbar][aria-label="Layer aaaaaaaaaaaa"][aria-valuenow="5"]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Next: run it' }).count(), 0, 'no next step before the pull is done');
    await push(page, 'jobs', job({ id: 'j9', title: 'Pull localhost:5000/berth/web:2', state: 'done', layers: [{ id: 'a'.repeat(64), status: 'Pull complete' }] }));
    await page.getByRole('button', { name: 'Next: run it' }).click();

    await page.getByText('Step 3 of 5').waitFor();
    await page.waitForFunction(() => (window as unknown as { document: { querySelector(s: string): { value: string } | null } }).document.querySelector('input[inputmode=numeric]')?.value === '8081');
    assert.equal(await page.getByLabel('Port in the container').inputValue(), '8080', 'the port the image exposes');
    await page.getByRole('button', { name: 'Run it' }).click();
    assert.deepEqual(await called(page, 'containers.run'), { image: 'localhost:5000/berth/web:2', ports: [{ host: '8081', container: '8080', protocol: 'tcp' }] });
    assert.equal(await page.getByRole('link', { name: /http:\/\/localhost:8081\// }).getAttribute('href'), 'http://localhost:8081/');
    await page.getByRole('button', { name: 'Next: look inside' }).click();

    await page.getByText('Step 4 of 5').waitFor();
    const id = '9'.repeat(64);
    assert.equal(await page.getByRole('link', { name: /terminal/ }).getAttribute('href'), `#/containers/${id}/terminal`);
    assert.equal(await page.getByRole('link', { name: /logs/ }).getAttribute('href'), `#/containers/${id}/logs`);
    const saved = (await calls(page, 'settings.set')).at(-1) as { tour: Record<string, unknown> };
    assert.deepEqual(saved.tour, { step: 3, image: 'localhost:5000/berth/web:2', containerId: id, hostPort: 8081 });
    await page.getByRole('button', { name: 'Next: what next' }).click();

    await page.getByText('Step 5 of 5').waitFor();
    await page.getByRole('button', { name: 'Finish' }).click();
    const last = (await calls(page, 'settings.set')).at(-1) as { onboardingDone: boolean; tour: { step: number } };
    assert.equal(last.onboardingDone, true);
    assert.equal(last.tour.step, 0);
    await hashIs(page, '#/');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await done(app);
  });

  test('onboarding: leaving and coming back resumes the step, reuses the pulled image and the running container', async () => {
    const id = '7'.repeat(64);
    const app = await openApp(
      {
        ...baseFixtures(),
        'settings.get': { theme: 'light', onboardingDone: false, sampleRegistry: 'docker.io', sampleImage: 'library/nginx:alpine', tour: { step: 2, image: 'library/nginx:alpine', containerId: id, hostPort: 8082 } },
        'images.list': [{ ...IMG_ALPINE, RepoTags: ['nginx:alpine'] }],
        'images.inspect': { Id: IMG_ALPINE.Id, Config: { ExposedPorts: { '80/tcp': {} } } } as never,
        'system.freePort': { port: 8083 },
        'containers.inspect': { Id: id, Name: '/tour', State: { Status: 'running', Running: true }, Config: {} } as never,
        'system.df': { LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] },
        'system.info': { Name: 'x' } as never,
      },
      '/',
    );
    const { page } = app;
    // Half-way: the tour does not reopen by itself; the dashboard offers to resume it.
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.getByRole('button', { name: 'Resume the tour' }).click();
    await page.getByText('Step 3 of 5').waitFor();
    await page.getByText('It is running.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Run it' }).count(), 0, 'the running container is reused');
    assert.equal(await page.getByRole('link', { name: /http:\/\/localhost:8082\// }).count(), 1);
    assert.equal((await calls(page, 'containers.run')).length, 0);
    await page.getByRole('button', { name: 'Back' }).click();
    await page.getByText('Step 2 of 5').waitFor();
    await page.getByText('nginx:alpine is already on this engine').waitFor();
    await page.getByRole('button', { name: 'Next: run it' }).waitFor();
    assert.equal((await calls(page, 'images.pull')).length, 0, 'nothing is pulled again');
    await done(app);
  });

  test('onboarding: Skip counts as finishing', async () => {
    const app = await openApp({ ...baseFixtures(), 'settings.get': { theme: 'system', onboardingDone: false, sampleRegistry: '', sampleImage: '', tour: { step: 0 } } }, '/');
    const { page } = app;
    await page.getByRole('button', { name: 'Skip the tour' }).click();
    assert.deepEqual(await called(page, 'settings.set'), { onboardingDone: true, tour: { step: 0 } });
    await hashIs(page, '#/');
    await done(app);
  });
});
