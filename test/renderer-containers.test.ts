// Component tests of the containers screens in real Chromium, against the built renderer and a
// fake bridge (test/harness/renderer.ts): the list (groups, search, bulk actions, port links,
// live stats, virtualization) and the detail tabs (logs, terminal, inspect, stats, files).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import type { FileEntry, LogLine, StatsSample } from '../types/desktop-api.js';
import type { ContainerInspect, ContainerSummary } from '../types/engine-api.js';
import { pageOpener, rendererSkipReason } from './harness/renderer.js';

const skip = rendererSkipReason();

function summary(id: string, name: string, state: ContainerSummary['State'], extra: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    Id: id.padEnd(64, '0'),
    Names: [`/${name}`],
    Image: 'busybox:latest',
    ImageID: 'sha256:' + 'b'.repeat(64),
    Command: 'sh',
    Created: 1_700_000_000,
    Ports: [],
    Labels: {},
    State: state,
    Status: state === 'running' ? 'Up 5 minutes' : 'Exited (0) 2 minutes ago',
    Mounts: [],
    ...extra,
  };
}

const compose = (project: string): Record<string, string> => ({ 'com.docker.compose.project': project });
const LIST: ContainerSummary[] = [
  summary('aaa', 'shop-web-1', 'running', { Labels: compose('shop'), Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }] }),
  summary('bbb', 'shop-db-1', 'running', { Labels: compose('shop') }),
  summary('ccc', 'solo', 'exited'),
];
const ID = LIST[0]!.Id;

const INSPECT = {
  Id: ID,
  Name: '/shop-web-1',
  Created: '2024-01-01T00:00:00Z',
  Path: 'httpd',
  Args: ['-f'],
  Image: 'sha256:' + 'b'.repeat(64),
  State: { Status: 'running', Running: true, Paused: false, Pid: 42, ExitCode: 0, Error: '', StartedAt: '2024-01-01T00:00:01Z', FinishedAt: '0001-01-01T00:00:00Z' },
  Config: { Tty: false, OpenStdin: false, Image: 'busybox:latest', Env: ['PATH=/usr/bin', 'SECRET_FLAVOUR=pistachio'] },
  HostConfig: {},
  NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] } },
} as unknown as ContainerInspect;

function sample(sec: number, cpu: number, mem: number): StatsSample {
  return {
    time: new Date(Date.UTC(2024, 0, 1, 0, 0, sec)).toISOString(),
    cpuPercent: cpu,
    memoryBytes: mem,
    memoryLimitBytes: 1_000_000_000,
    networkRxBytes: sec * 1000,
    networkTxBytes: sec * 500,
    blockReadBytes: 0,
    blockWriteBytes: sec * 2000,
    pids: 3,
  };
}

const open = pageOpener({ 'containers.list': LIST, 'containers.inspect': INSPECT });

describe('containers list', { skip }, () => {
  test('rows are grouped by compose project, and a group collapses', async () => {
    const r = await open({ route: '/containers' });
    const grid = r.page.getByRole('grid', { name: 'Containers' });
    await grid.getByRole('link', { name: 'shop-web-1' }).waitFor();
    // Sorted by name, the "shop" project's header takes its place among the containers, its members below it.
    const rows = await grid.locator('tbody tr:not([aria-hidden])').allInnerTexts();
    const order = rows.map((t) => (t.includes('shop-web-1') ? 'web' : t.includes('shop-db-1') ? 'db' : t.includes('solo') ? 'solo' : t.includes('shop') ? 'group' : t));
    assert.deepEqual(order, ['group', 'db', 'web', 'solo']);
    await grid.getByRole('button', { name: 'shop', expanded: true }).click();
    await grid.getByRole('button', { name: 'shop', expanded: false }).waitFor();
    await grid.getByRole('link', { name: 'shop-web-1' }).waitFor({ state: 'detached' });
    assert.equal(await grid.getByRole('link', { name: 'solo' }).count(), 1);

    // A container event re-reads the list (no polling).
    const before = r.calls.filter((c) => c.method === 'containers.list').length;
    await r.push('events', { type: 'event', event: { Type: 'container', Action: 'die', Actor: { ID: LIST[2]!.Id, Attributes: { name: 'solo' } }, time: 1, timeNano: 1 } });
    await r.waitForCall('containers.list', () => r.calls.filter((c) => c.method === 'containers.list').length > before);
  });

  test('search filters rows, ports are links, running rows show live stats', async () => {
    const r = await open({ route: '/containers' });
    const grid = r.page.getByRole('grid', { name: 'Containers' });
    const port = grid.getByRole('link', { name: /Open http:\/\/127\.0\.0\.1:8080/ });
    await port.waitFor();
    assert.equal(await port.count(), 1, 'IPv4 and IPv6 bindings of one port make one link');
    assert.equal(await port.getAttribute('href'), 'http://127.0.0.1:8080');
    assert.equal(await port.getAttribute('target'), '_blank');

    const webStats = await r.waitForStream('stats', (s) => s.params.id === ID);
    assert.ok(!r.streams.some((s) => s.stream === 'stats' && s.params.id === LIST[2]!.Id), 'no stats stream for a stopped container');
    assert.equal(webStats.closed, false);
    await r.push('stats', sample(1, 12.5, 2_500_000));
    await grid.getByRole('row', { name: /shop-web-1/ }).getByText('12.5%').waitFor();

    await r.page.getByRole('searchbox', { name: 'Search containers' }).fill('solo');
    await grid.getByRole('link', { name: 'shop-web-1' }).waitFor({ state: 'detached' });
    await grid.getByRole('link', { name: 'solo' }).waitFor();
    await r.page.getByText('1 of 3 shown').waitFor();
    // Rows scrolled or filtered away stop streaming.
    await r.waitForStream('stats', (s) => s.params.id === ID && s.closed);
  });

  test('bulk stop stops every selected container', async () => {
    const r = await open({ route: '/containers', methods: { 'containers.stop': null } });
    const grid = r.page.getByRole('grid', { name: 'Containers' });
    await grid.getByRole('checkbox', { name: 'Select shop-web-1' }).check();
    await grid.getByRole('checkbox', { name: 'Select shop-db-1' }).check();
    const bar = r.page.getByRole('toolbar', { name: 'Actions on selected containers' });
    await bar.getByText('2 selected').waitFor();
    await bar.getByRole('button', { name: 'Stop' }).click();
    await r.waitForCall('containers.stop', (p) => p.id === LIST[0]!.Id);
    await r.waitForCall('containers.stop', (p) => p.id === LIST[1]!.Id);
    await r.page.getByText('Stopped 2 containers').waitFor();
    assert.equal(r.calls.filter((c) => c.method === 'containers.stop').length, 2);
  });

  test('keyboard: arrows select, Delete asks, confirming force-removes a running container', async () => {
    const r = await open({ route: '/containers', methods: { 'containers.remove': null } });
    const grid = r.page.getByRole('grid', { name: 'Containers' });
    await grid.getByRole('link', { name: 'solo' }).waitFor();
    await grid.focus();
    // The rows: the shop group, shop-db-1, shop-web-1, solo.
    for (const key of ['ArrowDown', 'ArrowDown', 'ArrowDown', 'Delete']) await r.page.keyboard.press(key);
    const dialog = r.page.getByRole('dialog', { name: 'Delete shop-web-1?' });
    await dialog.getByRole('button', { name: 'Delete' }).click();
    const call = await r.waitForCall('containers.remove');
    assert.deepEqual(call.params, { id: ID, force: true });
  });

  test('600 containers render only the rows in view', async () => {
    const many = Array.from({ length: 600 }, (_, i) => summary(`m${i}`, `bulk-${String(i).padStart(3, '0')}`, 'exited'));
    const r = await open({ route: '/containers', methods: { 'containers.list': many } });
    const grid = r.page.getByRole('grid', { name: 'Containers' });
    await grid.getByRole('link', { name: 'bulk-000' }).waitFor();
    assert.equal(await grid.getAttribute('aria-rowcount'), '601');
    const rendered = await grid.locator('tbody tr:not([aria-hidden])').count();
    assert.ok(rendered > 5 && rendered < 100, `rendered ${rendered} rows`);
    await grid.focus();
    await r.page.keyboard.press('End');
    await grid.getByRole('link', { name: 'bulk-599' }).waitFor();
  });
});

describe('container detail', { skip }, () => {
  const lines = (texts: string[], stream: LogLine['stream'] = 'stdout'): { lines: LogLine[] } => ({
    lines: texts.map((text, i) => ({ stream, text, time: `2024-01-01T00:00:0${i}.000000000Z` })),
  });

  test('logs: streamed lines appear, search highlights, timestamps toggle', async () => {
    const r = await open({ route: `/containers/${ID}/logs` });
    await r.page.getByRole('heading', { name: 'shop-web-1' }).waitFor();
    const log = r.page.getByRole('log', { name: 'Logs of shop-web-1' });
    const s = await r.waitForStream('logs');
    assert.equal(s.params.id, ID);
    assert.equal(s.params.follow, true);
    await r.push('logs', lines(['booting', 'found the needle here', 'serving']));
    await r.push('logs', lines(['another needle'], 'stderr'));
    await log.getByText('serving').waitFor();
    await log.getByText('another needle').waitFor();

    await r.page.getByRole('searchbox', { name: 'Search logs' }).fill('needle');
    await r.page.getByText('1 of 2 matching lines').waitFor();
    assert.deepEqual(await log.locator('mark').allInnerTexts(), ['needle', 'needle']);
    await r.page.getByRole('button', { name: 'Next match' }).click();
    await r.page.getByText('2 of 2 matching lines').waitFor();

    assert.equal(await log.getByText('2024-01-01T00:00:01').count(), 0);
    await r.page.getByRole('checkbox', { name: 'Timestamps' }).check();
    await log.getByText('2024-01-01T00:00:01.000000000Z').waitFor();

    await r.page.getByRole('combobox', { name: 'Tail' }).selectOption('100');
    await r.waitForStream('logs', (x) => x.params.tail === 100 && !x.closed);
    assert.ok(s.closed, 'changing the tail reopens the stream');
  });

  test('logs: 100k lines stay virtualized, auto-scroll pauses on scroll up and resumes', async () => {
    const r = await open({ route: `/containers/${ID}/logs` });
    const log = r.page.getByRole('log', { name: 'Logs of shop-web-1' });
    for (let b = 0; b < 10; b++) {
      await r.push('logs', { lines: Array.from({ length: 10_000 }, (_, i) => ({ stream: 'stdout' as const, text: `line ${b * 10_000 + i}` })) });
    }
    await log.getByText('line 99999', { exact: true }).waitFor();
    await r.page.getByText('100,000 lines').waitFor();
    const rendered = await log.locator('.log-line').count();
    assert.ok(rendered < 200, `rendered ${rendered} line elements`);

    await log.hover();
    await r.page.mouse.wheel(0, -2000);
    const follow = r.page.getByRole('checkbox', { name: 'Auto-scroll' });
    await r.page.getByRole('checkbox', { name: 'Auto-scroll', checked: false }).waitFor();
    await r.push('logs', { lines: [{ stream: 'stdout', text: 'while paused' }] });
    await r.page.getByText('100,001 lines').waitFor();
    assert.equal(await log.getByText('while paused').count(), 0, 'no jump to the bottom while paused');
    await follow.check();
    await log.getByText('while paused').waitFor();
  });

  test('terminal: output shows, keys are sent, the session survives a tab switch, exit shows', async () => {
    const r = await open({ route: `/containers/${ID}/terminal` });
    const s = await r.waitForStream('terminal');
    assert.equal(s.params.id, ID);
    assert.ok(s.params.cols > 10 && s.params.rows > 3, `sized ${s.params.cols}x${s.params.rows}`);
    await r.push('terminal', { type: 'data', data: 'hello-from-shell\r\n/ # ' });
    const find = r.page.getByRole('searchbox', { name: 'Find in terminal' });
    await find.fill('hello-from-shell');
    await r.page.getByText('1 of 1 found').waitFor();

    await r.page.getByRole('region', { name: 'Terminal of shop-web-1' }).click();
    await r.page.keyboard.type('ls');
    await r.waitForInput('terminal', (i) => i.type === 'data' && i.data === 'l');
    await r.waitForInput('terminal', (i) => i.type === 'data' && i.data === 's');

    await r.page.getByRole('tab', { name: 'Logs' }).click();
    await r.page.getByRole('log', { name: 'Logs of shop-web-1' }).waitFor();
    await r.page.getByRole('tab', { name: 'Terminal' }).click();
    await find.fill('hello-from-shell');
    await r.page.getByText('1 of 1 found').waitFor();
    assert.equal(r.streams.filter((x) => x.stream === 'terminal').length, 1, 'the same session, not a new shell');
    assert.equal(s.closed, false);

    await r.push('terminal', { type: 'exit', code: 3 });
    await r.page.getByText('The shell exited with code 3').waitFor();
    await r.page.getByRole('button', { name: 'New session' }).click();
    await r.waitForStream('terminal', (x) => x.id !== s.id);
    assert.equal(s.closed, true);
  });

  test('inspect: the tree searches and navigates by keyboard', async () => {
    const r = await open({ route: `/containers/${ID}/inspect` });
    const tree = r.page.getByRole('tree', { name: 'Inspect shop-web-1' });
    await tree.getByRole('treeitem', { name: /^State/ }).waitFor();
    assert.equal(await tree.getByText('"pistachio"', { exact: false }).count(), 0);
    await r.page.getByRole('searchbox', { name: 'Search inspect data' }).fill('pistachio');
    const hit = tree.getByRole('treeitem', { name: /SECRET_FLAVOUR=pistachio/ });
    await hit.waitFor();
    assert.equal(await hit.locator('mark').innerText(), 'pistachio');
    assert.equal(await tree.getByRole('treeitem', { name: /^Config/ }).getAttribute('aria-expanded'), 'true');
    assert.equal(await tree.getByRole('treeitem', { name: /^State/ }).count(), 0, 'non-matching branches are hidden');

    await r.page.getByRole('searchbox', { name: 'Search inspect data' }).fill('');
    const first = tree.getByRole('treeitem').first();
    await first.focus();
    await r.page.keyboard.press('ArrowDown');
    const focusedName = await r.page.evaluate(() => (globalThis as any).document.activeElement?.getAttribute('data-path'));
    assert.equal(focusedName, '/Name');
    const state = tree.getByRole('treeitem', { name: /^State/ });
    await state.focus();
    await r.page.keyboard.press('ArrowRight');
    await tree.getByRole('treeitem', { name: /^Pid: 42/ }).waitFor();
    assert.equal(await state.getAttribute('aria-expanded'), 'true');
  });

  test('stats: samples become chart data and current values', async () => {
    const r = await open({ route: `/containers/${ID}/stats` });
    await r.push('stats', sample(1, 5, 1_000_000));
    await r.push('stats', sample(2, 12.5, 2_500_000));
    const now = r.page.getByLabel('Current usage');
    await now.getByText('12.5%').waitFor();
    await now.getByText('2.5 MB of 1.0 GB').waitFor();
    await now.getByText('↓ 1.0 kB/s ↑ 500 B/s').waitFor();
    await r.page.getByRole('figure', { name: 'CPU over the last two minutes, now 12.5%' }).waitFor();
    const canvases = await r.page.locator('figure.chart canvas').count();
    assert.equal(canvases, 4);
  });

  test('files: browse into a directory, download a file, upload one', async () => {
    const dirs: Record<string, FileEntry[]> = {
      '/': [
        { name: 'etc', type: 'dir', size: 0, mode: 0o755, mtime: '2024-01-01T00:00:00Z' },
        { name: 'README', type: 'file', size: 5, mode: 0o644, mtime: '2024-01-01T00:00:00Z' },
      ],
      '/etc': [{ name: 'hostname', type: 'file', size: 11, mode: 0o644, mtime: '2024-01-01T00:00:00Z' }],
    };
    const r = await open({
      route: `/containers/${ID}/files`,
      methods: {
        'containers.listDir': (p) => {
          const d = dirs[p.path];
          if (!d) throw Object.assign(new Error(`no such directory: ${p.path}`), { status: 404 });
          return d;
        },
        'containers.readFile': (p) => ({ name: 'hostname', base64: Buffer.from('shop-web-1\n').toString('base64'), size: 11, ...(p.path === '/etc/hostname' ? {} : { name: 'other' }) }),
        'containers.writeFile': null,
      },
    });
    await r.page.getByRole('table', { name: 'Files in /' }).getByText('README').waitFor();
    await r.page.getByRole('button', { name: 'Open etc' }).click();
    const table = r.page.getByRole('table', { name: 'Files in /etc' });
    await table.getByText('hostname').waitFor();
    await r.page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('button', { name: 'etc' }).waitFor();

    const [download] = await Promise.all([r.page.waitForEvent('download'), table.getByRole('button', { name: 'Download hostname' }).click()]);
    assert.equal(download.suggestedFilename(), 'hostname');
    assert.equal(await readFile((await download.path())!, 'utf8'), 'shop-web-1\n');

    await r.page.getByLabel('Upload a file to /etc').setInputFiles({ name: 'motd', mimeType: 'text/plain', buffer: Buffer.from('welcome\n') });
    const w = await r.waitForCall('containers.writeFile');
    assert.deepEqual(w.params, { id: ID, dir: '/etc', name: 'motd', base64: Buffer.from('welcome\n').toString('base64') });

    await r.page.getByRole('button', { name: 'Up one directory' }).click();
    await r.page.getByRole('table', { name: 'Files in /' }).waitFor();
  });
});
