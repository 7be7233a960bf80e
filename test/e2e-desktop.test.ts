// Berth Desktop end to end: web mode (the same renderer and bridge host Electron uses) in
// Debian's Chromium, a real berthd and a local registry underneath.
//   - the first-run tour on a fresh profile: a pull that fails (explained in plain words), the
//     pull fixed, the sample run on a free port (fetched from here), left for its terminal and
//     logs, then resumed where it was, reusing the image and the running container;
//   - the 1024×640 layout with a compose project, the global palette, the focus trap;
//   - the dashboard's numbers against `docker system df` (the real docker CLI);
//   - the engine stopped under the app: the banner at once, actions disabled, and everything
//     back — the terminal and the logs too — when the engine is;
//   - builds and pushes; every screen saved as a screenshot, light and dark, under docs/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createBridgeHost } from '../desktop/bridge/index.js';
import { startWebServer } from '../desktop/web/index.js';
import { busyboxLayer, pushImage } from './harness/images.js';
import { containerSkip, eventually, startContainerEnv, stopContainerEnv, type ContainerEnv } from './harness/containers.js';
import { ensureRendererBuilt, launchChromium, rendererSkipReason } from './harness/renderer.js';
import { freePort, repoRoot } from './harness/util.js';

const skip = containerSkip || rendererSkipReason() || false;
const SHOTS = join(repoRoot(), 'docs', 'screenshots');

let env: ContainerEnv;
let bridge: Awaited<ReturnType<typeof createBridgeHost>>;
let web: Awaited<ReturnType<typeof startWebServer>>;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let configDir: string;
let sample: string;
const pageErrors: string[] = [];

before(async () => {
  if (skip) return;
  ensureRendererBuilt();
  env = await startContainerEnv();
  // The sample: a web server answering on 8080 with a page of its own.
  await pushImage(env.registry, 'samples/hello:1', {
    layers: [await busyboxLayer(), { files: [{ type: 'dir', path: 'www', mode: 0o755 }, { type: 'file', path: 'www/index.html', content: 'hello from berth\n', mode: 0o644 }] }],
    config: { Cmd: ['sh', '-c', 'echo hello server starting; exec httpd -f -p 8080 -h /www'], ExposedPorts: { '8080/tcp': {} } },
  });
  sample = `${env.registry.host}/samples/hello:1`;
  configDir = mkdtempSync(join(tmpdir(), 'berth-desktop-config-'));
  // A fresh profile: no config file. The only setting made is the sample's registry (tests use
  // their own; a real user's default is Docker Hub), pointed first at a port nothing listens on.
  bridge = await createBridgeHost({ kind: 'web', localHost: env.daemon.dockerHost, configPath: join(configDir, 'desktop.json'), env: {} });
  const closed = await freePort();
  await bridge.call('settings.set', { sampleRegistry: `127.0.0.1:${closed}`, sampleImage: 'samples/hello:1' });
  web = await startWebServer({ host: '127.0.0.1', port: 0, rendererDir: join(repoRoot(), 'dist', 'renderer'), bridge });
  browser = await launchChromium(web.origin, { width: 1280, height: 800 });
  page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  if (skip) return;
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  await browser?.close();
  await web?.close();
  await bridge?.close();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
  await stopContainerEnv(env);
});

async function httpGet(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return r.text();
}

async function removeAll(): Promise<void> {
  for (const c of await bridge.call('containers.list', { all: true })) await bridge.call('containers.remove', { id: c.Id, force: true });
}

test('first run: a failed pull explained, the tour resumed where it was left with its image and container, terminal and logs, then stop and delete', { skip }, async (t) => {
  t.after(removeAll);
  await page.setViewportSize({ width: 1280, height: 800 });
  // The printed link's one-time token becomes this browser's session; later visits use plain URLs.
  await page.goto(web.url);
  await page.getByRole('heading', { name: 'Welcome to Berth' }).waitFor();
  await page.getByText(`The engine at ${env.daemon.dockerHost} is running`).waitFor();
  await page.getByRole('button', { name: 'Next: pull an image' }).click();

  // The configured registry is not there: the failure says so in plain words, with what to do.
  const registryField = page.getByLabel('Registry');
  const bad = `${await registryField.inputValue()}/samples/hello:1`;
  await page.getByRole('button', { name: `Pull ${bad}` }).click();
  const problem = page.getByRole('group', { name: `Job: Pull ${bad}` }).getByRole('alert');
  await problem.getByText(/Nothing is answering at 127\.0\.0\.1:\d+: the registry is not running there/).waitFor({ timeout: 60_000 });
  await problem.getByText(/Check the registry address/).waitFor();
  assert.equal(await page.getByText(/0 of 0 layers/).count(), 0, 'no empty progress bar');
  await page.getByText('Change the registry or the image above and pull again').waitFor();

  await registryField.fill(env.registry.host);
  await page.getByRole('button', { name: `Pull ${sample}` }).click();
  await page.getByRole('group', { name: `Job: Pull ${sample}` }).or(page.getByRole('progressbar').first()).first().waitFor();
  await page.getByRole('button', { name: 'Next: run it' }).waitFor({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Next: run it' }).click();

  // The host port is a free one, the container port the one the image exposes.
  const hostPort = page.getByLabel('Port on this computer');
  await eventually(async () => assert.match(await hostPort.inputValue(), /^\d+$/));
  assert.equal(await page.getByLabel('Port in the container').inputValue(), '8080');
  const port = Number(await hostPort.inputValue());
  await page.getByRole('button', { name: 'Run it' }).click();
  await page.getByText('It is running.').waitFor({ timeout: 30_000 });
  assert.equal((await eventually(() => httpGet(`http://127.0.0.1:${port}/`))).trim(), 'hello from berth', 'the published port answers');

  // Leave the tour for the terminal.
  await page.getByRole('button', { name: 'Next: look inside' }).click();
  await page.getByRole('link', { name: 'Open a terminal in the container' }).click();
  const terminal = page.getByRole('region', { name: /^Terminal of / });
  await terminal.waitFor();
  await page.getByText(/Shell in /).waitFor({ timeout: 20_000 });
  await terminal.click();
  // The echo's output differs from the typed line, so finding it proves the round trip.
  await page.keyboard.type('echo hi-$((6*7))\n');
  const find = page.getByRole('searchbox', { name: 'Find in terminal' });
  await eventually(async () => {
    await find.fill('');
    await find.fill('hi-42');
    await page.getByText('1 of 1 found').waitFor({ timeout: 1000 });
  }, 20_000);

  // Logs: what the container printed at start, then a line written while the logs are followed.
  await page.getByRole('tab', { name: 'Logs' }).click();
  const log = page.getByRole('log', { name: /^Logs of / });
  await log.getByText('hello server starting').waitFor({ timeout: 20_000 });
  await page.getByRole('tab', { name: 'Terminal' }).click();
  await terminal.click();
  await page.keyboard.type('echo live-line-$((2*21)) > /proc/1/fd/1\n');
  await page.getByRole('tab', { name: 'Logs' }).click();
  await log.getByText('live-line-42').waitFor({ timeout: 20_000 });

  // Back to the tour, through the dashboard, after a reload (a new launch): it resumes at step 4
  // and reuses what it made; nothing is pulled or run twice.
  const pulls = (await bridge.call('jobs.list', {})).filter((j) => j.title === `Pull ${sample}`).length;
  await page.goto(`${web.origin}/#/`);
  await page.reload();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.getByRole('button', { name: 'Resume the tour' }).click();
  await page.getByText('Step 4 of 5').waitFor();
  await page.getByRole('button', { name: 'Back' }).click();
  await page.getByText('Step 3 of 5').waitFor();
  await page.getByText('It is running.').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Run it' }).count(), 0, 'the running container is reused');
  await page.getByRole('button', { name: 'Back' }).click();
  await page.getByText(/samples\/hello:1 is already on this engine/).waitFor();
  assert.equal((await bridge.call('jobs.list', {})).filter((j) => j.title === `Pull ${sample}`).length, pulls, 'nothing pulled again');
  assert.equal((await bridge.call('containers.list', { all: true })).length, 1, 'one container, not two');
  // Skipping counts as finishing: the tour does not open by itself any more.
  await page.getByRole('button', { name: 'Skip the tour' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  assert.equal((await bridge.call('settings.get', {})).onboardingDone, true);

  // The Containers screen lists it; stop, then delete.
  await page.goto(`${web.origin}/#/containers`);
  const name = (await bridge.call('containers.list', { all: true }))[0]!.Names[0]!.replace(/^\//, '');
  const row = page.getByRole('row', { name: new RegExp(name) });
  await row.waitFor();
  await row.getByRole('button', { name: /^Stop/ }).click();
  await eventually(async () => assert.equal((await bridge.call('containers.list', { all: true }))[0]?.State, 'exited'), 30_000);
  await row.getByRole('button', { name: /^Delete/ }).click();
  await page.getByRole('dialog').getByRole('button', { name: /^Delete/ }).click();
  await eventually(async () => assert.equal((await bridge.call('containers.list', { all: true })).length, 0), 30_000);
  await assert.rejects(httpGet(`http://127.0.0.1:${port}/`), 'the port is gone with the container');
});

/** A compose project (the labels docker compose puts), a standalone server, a paused and a stopped container, volumes. */
async function populate(): Promise<void> {
  const label = (service: string): string[] => ['--label', 'com.docker.compose.project=shopdemo', '--label', `com.docker.compose.service=${service}`, '--label', 'com.docker.compose.container-number=1'];
  await env.ok(['network', 'create', '--label', 'com.docker.compose.project=shopdemo', 'shopdemo_default']);
  await env.ok(['run', '-d', '--name', 'shopdemo-api-1', '--network', 'shopdemo_default', ...label('api'), sample]);
  await env.ok(['run', '-d', '--name', 'shopdemo-worker-1', '--network', 'shopdemo_default', ...label('worker'), sample, 'sh', '-c', 'while true; do echo tick; sleep 1; done']);
  await env.ok(['run', '-d', '--name', 'analytics-ingest-long-name', '-p', `${await freePort()}:8080`, '-v', 'app-data:/data', sample]);
  await env.ok(['run', '-d', '--name', 'nightly-report', sample, 'sh', '-c', 'head -c 300000 /dev/zero > /report.bin; sleep 600']);
  await env.ok(['pause', 'nightly-report']);
  await env.ok(['create', '--name', 'one-off-job', sample, 'true']);
  await env.ok(['volume', 'create', 'cache']);
}

async function cleanUp(): Promise<void> {
  await removeAll();
  for (const v of await bridge.call('volumes.list', {})) await bridge.call('volumes.remove', { name: v.Name, force: true }).catch(() => undefined);
  for (const n of await bridge.call('networks.list', {})) if (!['bridge', 'host', 'none'].includes(n.Name)) await bridge.call('networks.remove', { id: n.Id }).catch(() => undefined);
}

interface DfRow {
  Type: string;
  TotalCount: string;
  Active: string;
  Size: string;
  Reclaimable: string;
}

/** docker's units.HumanSize back to bytes. */
function humanBytes(s: string): number {
  const m = /^([\d.]+)\s*(B|kB|MB|GB)/.exec(s.trim());
  assert.ok(m, `not a size: ${s}`);
  return Number(m[1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'B'];
}

test('with a real engine: the 1024×640 layout, the palette, the focus trap, and the dashboard against docker system df', { skip }, async (t) => {
  t.after(cleanUp);
  await populate();
  await page.setViewportSize({ width: 1024, height: 640 });
  await page.goto(`${web.origin}/#/containers`);
  await page.reload(); // no toasts of the tests before in the screenshots
  const grid = page.getByRole('grid', { name: 'Containers' });
  const long = grid.getByRole('link', { name: 'analytics-ingest-long-name' });
  await long.waitFor();
  assert.ok(await long.evaluate((el: any) => el.scrollWidth <= el.clientWidth + 1), 'a long name is readable at 1024 px');
  assert.ok((await long.evaluate((el: any) => el.closest('td').getBoundingClientRect().width)) >= 150);
  await grid.getByRole('link', { name: 'api', exact: true }).waitFor();
  await grid.getByRole('button', { name: 'shopdemo', exact: true }).waitFor();
  await page.screenshot({ path: join(shotsDir(), 'containers-1024-light.png') });
  await page.goto(`${web.origin}/#/images`);
  await page.getByRole('table', { name: 'Images' }).getByRole('link', { name: sample }).waitFor();
  await page.screenshot({ path: join(shotsDir(), 'images-1024-light.png') });

  // The palette, from the Images screen: a container by a fuzzy part of its name.
  await page.keyboard.press('Control+k');
  const palette = page.getByRole('dialog', { name: 'Command palette' });
  await palette.getByRole('combobox').fill('ingst');
  await palette.getByRole('option').filter({ hasText: 'analytics-ingest-long-name' }).first().waitFor();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'analytics-ingest-long-name' }).waitFor();
  await page.keyboard.press('Control+k');
  await palette.getByRole('combobox').fill('prune vol');
  assert.match(await palette.getByRole('option').first().innerText(), /Prune unused volumes/);
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Prune volumes?' }).waitFor();
  await page.keyboard.press('Escape');

  // The focus trap: Tab from the Run dialog never reaches the page behind.
  await page.goto(`${web.origin}/#/containers`);
  await page.getByRole('button', { name: 'Run a container' }).click();
  const run = page.getByRole('dialog', { name: 'Run a container' });
  await run.waitFor();
  assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.tagName), 'INPUT', 'the first field has focus');
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    assert.ok(await page.evaluate(() => !!(globalThis as any).document.activeElement?.closest('[role=dialog]')), `Tab ${i + 1} stays in the dialog`);
  }
  await page.keyboard.press('Escape');
  await run.waitFor({ state: 'detached' });
  await eventually(async () => assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent?.trim()), 'Run a container'));

  // The dashboard counts what `docker system df` counts, byte for byte.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${web.origin}/#/`);
  const rows = Object.fromEntries(
    (await env.ok(['system', 'df', '--format', '{{json .}}']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as DfRow)
      .map((r) => [r.Type, r]),
  );
  const card = (id: string) => page.locator(`#card-${id}-box`);
  for (const [id, type] of [
    ['containers', 'Containers'],
    ['images', 'Images'],
    ['volumes', 'Local Volumes'],
  ] as const) {
    const want = rows[type]!;
    await card(id).locator(`[data-count="${want.TotalCount}"]`).waitFor();
    const bytes = Number(await card(id).locator('[data-bytes]').getAttribute('data-bytes'));
    const printed = humanBytes(want.Size);
    assert.ok(Math.abs(bytes - printed) <= Math.max(1, printed * 0.0006), `${type}: the dashboard says ${bytes} bytes, docker system df ${want.Size}`);
    const active = (await card(id).locator('.card-detail').innerText()).match(/^(\d+)/)?.[1];
    assert.equal(active, want.Active, `${type}: active`);
  }
  await card('containers').getByText('1 paused').waitFor();
  // And the Images screen lists as many images as the dashboard counts.
  await page.goto(`${web.origin}/#/images`);
  await page.getByText(`${rows['Images']!.TotalCount} of ${rows['Images']!.TotalCount} shown`).waitFor();
});

test('the engine stops under the app: a banner at once, actions disabled; when it is back, so are the data, the terminal and the logs', { skip }, async (t) => {
  t.after(cleanUp);
  await env.ok(['run', '-d', '--name', 'survivor', sample, 'sh', '-c', 'while true; do echo beat-$(date +%s); sleep 1; done']);
  const id = (await env.ok(['inspect', '-f', '{{.Id}}', 'survivor'])).trim();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${web.origin}/#/containers/${id}/terminal`);
  await page.getByText('Shell in survivor').waitFor({ timeout: 20_000 });

  await env.daemon.stop();
  const banner = page.getByRole('alert', { name: 'Engine not running' });
  await banner.getByText('The engine is not running.').waitFor({ timeout: 20_000 });
  await page.getByText(/^Last known · /).first().waitFor();
  const stop = page.getByRole('button', { name: 'Stop survivor' });
  assert.equal(await stop.isDisabled(), true, 'engine actions are disabled');
  assert.equal(await stop.getAttribute('title'), 'The engine is not running: start it to do this.');
  await page.getByText(/The engine went away: the terminal reconnects when it is back/).waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(shotsDir(), 'engine-down-light.png') });

  // Containers outlive the daemon: when it is back, the terminal gets a new shell by itself.
  await env.daemon.restart();
  await banner.waitFor({ state: 'detached', timeout: 30_000 });
  await page.getByText('Shell in survivor').waitFor({ timeout: 30_000 });
  assert.equal(await stop.isDisabled(), false);
  const terminal = page.getByRole('region', { name: 'Terminal of survivor' });
  await terminal.click();
  await page.keyboard.type('echo back-$((20+22))\n');
  const find = page.getByRole('searchbox', { name: 'Find in terminal' });
  await eventually(async () => {
    await find.fill('');
    await find.fill('back-42');
    await page.getByText(/1 of \d+ found/).waitFor({ timeout: 1000 });
  }, 20_000);

  // The logs, followed across a restart, go on by themselves.
  await page.getByRole('tab', { name: 'Logs' }).click();
  const log = page.getByRole('log', { name: 'Logs of survivor' });
  await log.getByText(/beat-\d+/).first().waitFor({ timeout: 20_000 });
  await env.daemon.stop();
  await page.getByText('The engine went away: the log resumes when it is back.').waitFor({ timeout: 20_000 });
  await env.daemon.restart();
  const after = Math.floor(Date.now() / 1000) + 2;
  await eventually(async () => {
    const beats = (await log.innerText()).match(/beat-(\d+)/g) ?? [];
    assert.ok(beats.some((b) => Number(b.slice(5)) >= after), 'new lines after the restart');
  }, 30_000);
});

test('build from a folder with live output, then push with progress to the registry', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-desktop-build-'));
  const tag = `${env.registry.host}/built/app:1`;
  try {
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${sample}\nRUN echo built-by-the-desktop > /www/index.html\n`);
    await page.goto(`${web.origin}/#/images/build`);
    const dialog = page.getByRole('dialog', { name: 'Build an image' });
    await dialog.getByLabel('Folder (the build context)').fill(dir);
    await dialog.getByLabel('Tag').fill(tag);
    await dialog.getByRole('button', { name: 'Build' }).click();
    const output = dialog.getByRole('log', { name: `Output of Build ${tag}` });
    await output.getByText(/Step 2\/2 : RUN echo built-by-the-desktop/).waitFor({ timeout: 60_000 });
    await output.getByText(`Successfully tagged ${tag}`).waitFor({ timeout: 60_000 });
    await page.keyboard.press('Escape');
    await page.goto(`${web.origin}/#/images`);
    await page.getByRole('button', { name: `Push ${tag}` }).click();
    const job = page.getByRole('group', { name: `Job: Push ${tag}` });
    await job.getByText('done').waitFor({ timeout: 60_000 });
    await job.getByText(/digest: sha256:[0-9a-f]{64}/).waitFor();
    const tags = (await (await fetch(`http://${env.registry.host}/v2/built/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['1'], 'the registry has the pushed tag');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await removeAll();
    await bridge.call('images.remove', { id: tag, force: true }).catch(() => undefined);
  }
});

function shotsDir(): string {
  mkdirSync(SHOTS, { recursive: true });
  return SHOTS;
}

test('every screen, light and dark, saved under docs/screenshots', { skip }, async (t) => {
  t.after(cleanUp);
  await bridge.call('settings.set', { onboardingDone: true, tour: { step: 0 } });
  await populate();
  await bridge.call('jobs.clearFinished', {});
  const id = (await env.ok(['inspect', '-f', '{{.Id}}', 'shopdemo-worker-1'])).trim();
  const image = (await bridge.call('images.list', {})).find((i) => i.RepoTags.includes(sample))!.Id;
  await page.setViewportSize({ width: 1440, height: 900 });
  const screens: [string, string, string][] = [
    ['dashboard', '/', 'Dashboard'],
    ['containers', '/containers', 'Containers'],
    ['project', '/projects/shopdemo', 'shopdemo'],
    ['container-logs', `/containers/${id}/logs`, 'shopdemo-worker-1'],
    ['container-terminal', `/containers/${id}/terminal`, 'shopdemo-worker-1'],
    ['container-stats', `/containers/${id}/stats`, 'shopdemo-worker-1'],
    ['images', '/images', 'Images'],
    ['image-detail', `/images/${encodeURIComponent(image)}`, 'samples/hello:1'],
    ['volumes', '/volumes', 'Volumes'],
    ['networks', '/networks', 'Networks'],
    ['settings', '/settings', 'Settings'],
    ['troubleshoot', '/troubleshoot', 'Troubleshoot'],
    ['welcome', '/welcome', 'Welcome to Berth'],
  ];
  for (const theme of ['light', 'dark'] as const) {
    await bridge.call('settings.set', { theme });
    await page.goto(`${web.origin}/#/`);
    await page.reload(); // the app reads its settings (the theme) at start
    await page.locator(`html[data-theme="${theme}"]`).waitFor({ state: 'attached' });
    for (const [file, route, heading] of screens) {
      await page.goto(`${web.origin}/#${route}`);
      await page.getByRole('heading', { name: heading }).first().waitFor();
      await page.waitForLoadState('networkidle').catch(() => undefined);
      if (file === 'container-stats') await page.waitForTimeout(6000); // a few samples on the charts
      else await page.waitForTimeout(400);
      await page.screenshot({ path: join(shotsDir(), `${file}-${theme}.png`) });
    }
    await page.keyboard.press('Control+k');
    await page.getByRole('dialog', { name: 'Command palette' }).getByRole('combobox').fill('pul');
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(shotsDir(), `palette-${theme}.png`) });
    await page.keyboard.press('Escape');
  }
  await page.setViewportSize({ width: 1024, height: 640 });
  for (const [file, route, heading] of [
    ['containers-1024', '/containers', 'Containers'],
    ['images-1024', '/images', 'Images'],
  ] as const) {
    await page.goto(`${web.origin}/#${route}`);
    await page.getByRole('heading', { name: heading }).first().waitFor();
    await page.waitForTimeout(400);
    await page.screenshot({ path: join(shotsDir(), `${file}-dark.png`) });
  }
  await bridge.call('settings.set', { theme: 'system' });
});
