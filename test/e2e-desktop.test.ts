// Berth Desktop end to end: web mode (the same renderer and bridge host Electron uses) in
// Debian's Chromium, a real berthd and a local registry underneath. The onboarding tour pulls
// an image with visible progress, runs it with a published port (fetched from here), opens its
// terminal (`echo` round trip) and logs; the Containers screen stops and removes it. Every main
// screen is saved as a screenshot, light and dark, under docs/screenshots/.
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
import { repoRoot } from './harness/util.js';

const skip = containerSkip || rendererSkipReason() || false;
const SHOTS = join(repoRoot(), 'docs', 'screenshots');
const WEB_PORT = 18480;

let env: ContainerEnv;
let bridge: Awaited<ReturnType<typeof createBridgeHost>>;
let web: Awaited<ReturnType<typeof startWebServer>>;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let configDir: string;
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
  configDir = mkdtempSync(join(tmpdir(), 'berth-desktop-config-'));
  bridge = await createBridgeHost({ kind: 'web', localHost: env.daemon.dockerHost, configPath: join(configDir, 'desktop.json'), env: {} });
  await bridge.call('settings.set', { sampleRegistry: env.registry.host, sampleImage: 'samples/hello:1' });
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

test('first run: the tour pulls with progress, runs with a published port, opens the terminal and logs; the list stops and removes it', { skip }, async (t) => {
  // On failure, the container the tour made goes anyway (the leak check after the suite stays meaningful).
  t.after(async () => {
    for (const c of await bridge.call('containers.list', { all: true })) await bridge.call('containers.remove', { id: c.Id, force: true });
  });
  // The printed link's one-time token becomes this browser's session; later visits use plain URLs.
  await page.goto(web.url);
  await page.getByRole('heading', { name: 'Welcome to Berth' }).waitFor();
  await page.getByText(`The engine at ${env.daemon.dockerHost} is running`).waitFor();
  await page.getByRole('button', { name: 'Next: pull an image' }).click();

  const ref = `${env.registry.host}/samples/hello:1`;
  await page.getByRole('button', { name: `Pull ${ref}` }).click();
  // Progress shows (a job with its layers), then the pull completes.
  await page.getByRole('group', { name: `Job: Pull ${ref}` }).or(page.getByRole('progressbar').first()).first().waitFor();
  await page.getByRole('button', { name: 'Next: run it' }).waitFor({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Next: run it' }).click();

  await page.getByLabel('Port on this computer').fill(String(WEB_PORT));
  await page.getByLabel('Port in the container').fill('8080');
  await page.getByRole('button', { name: 'Run it' }).click();
  await page.getByText('It is running.').waitFor({ timeout: 30_000 });
  assert.equal((await eventually(() => httpGet(`http://127.0.0.1:${WEB_PORT}/`))).trim(), 'hello from berth', 'the published port answers');

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

  // Logs: what the container printed at start, then a line written while the logs are followed
  // (from the terminal, which is still the same session after switching tabs, into PID 1's stdout).
  await page.getByRole('tab', { name: 'Logs' }).click();
  const log = page.getByRole('log', { name: /^Logs of / });
  await log.getByText('hello server starting').waitFor({ timeout: 20_000 });
  await page.getByRole('tab', { name: 'Terminal' }).click();
  await terminal.click();
  await page.keyboard.type('echo live-line-$((2*21)) > /proc/1/fd/1\n');
  await page.getByRole('tab', { name: 'Logs' }).click();
  await log.getByText('live-line-42').waitFor({ timeout: 20_000 });

  // The Containers screen lists it; stop, then delete.
  await page.goto(`${web.origin}/#/containers`);
  const name = (await bridge.call('containers.list', { all: true }))[0]!.Names[0]!.replace(/^\//, '');
  await page.getByRole('row', { name: new RegExp(name) }).waitFor();
  await page.getByRole('row', { name: new RegExp(name) }).getByRole('button', { name: /^Stop/ }).click();
  await eventually(async () => assert.equal((await bridge.call('containers.list', { all: true }))[0]?.State, 'exited'), 30_000);
  await page.getByRole('row', { name: new RegExp(name) }).getByRole('button', { name: /^Delete/ }).click();
  await page.getByRole('dialog').getByRole('button', { name: /^Delete/ }).click();
  await eventually(async () => assert.equal((await bridge.call('containers.list', { all: true })).length, 0), 30_000);
  await assert.rejects(httpGet(`http://127.0.0.1:${WEB_PORT}/`), 'the port is gone with the container');
});

test('build from a folder with live output, then push with progress to the registry', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-desktop-build-'));
  const tag = `${env.registry.host}/built/app:1`;
  try {
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.registry.host}/samples/hello:1\nRUN echo built-by-the-desktop > /www/index.html\n`);
    await page.goto(`${web.origin}/#/images/build`);
    const dialog = page.getByRole('dialog', { name: 'Build an image' });
    await dialog.getByLabel('Folder (the build context)').fill(dir);
    await dialog.getByLabel('Tag').fill(tag);
    await dialog.getByRole('button', { name: 'Build' }).click();
    const output = dialog.getByRole('log', { name: `Output of Build ${tag}` });
    await output.getByText(/Step 2\/2 : RUN echo built-by-the-desktop/).waitFor({ timeout: 60_000 });
    await output.getByText(`Successfully tagged ${tag}`).waitFor({ timeout: 60_000 });
    await page.keyboard.press('Escape');

    await page.getByRole('button', { name: `Push ${tag}` }).click();
    const job = page.getByRole('group', { name: `Job: Push ${tag}` });
    await job.getByText('done').waitFor({ timeout: 60_000 });
    await job.getByText(/digest: sha256:[0-9a-f]{64}/).waitFor();
    const tags = (await (await fetch(`http://${env.registry.host}/v2/built/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['1'], 'the registry has the pushed tag');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const c of await bridge.call('containers.list', { all: true })) await bridge.call('containers.remove', { id: c.Id, force: true });
    await bridge.call('images.remove', { id: tag, force: true }).catch(() => undefined);
  }
});

function SHOTS_DIR(): string {
  mkdirSync(SHOTS, { recursive: true });
  return SHOTS;
}

test('every main screen, light and dark, saved under docs/screenshots', { skip }, async () => {
  await bridge.call('settings.set', { onboardingDone: true });
  // Something to show: a running container from the sample, a volume and a network.
  const { id } = await bridge.call('containers.run', { image: `${env.registry.host}/samples/hello:1`, name: 'hello-web', ports: [{ host: String(WEB_PORT + 1), container: '8080' }] });
  await bridge.call('volumes.create', { Name: 'app-data' });
  await bridge.call('networks.create', { Name: 'app-net' } as never);
  try {
    const screens: [string, string, string][] = [
      ['dashboard', '/', 'Dashboard'],
      ['containers', '/containers', 'Containers'],
      ['container-logs', `/containers/${id}/logs`, 'hello-web'],
      ['container-terminal', `/containers/${id}/terminal`, 'hello-web'],
      ['container-stats', `/containers/${id}/stats`, 'hello-web'],
      ['images', '/images', 'Images'],
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
        await page.screenshot({ path: join(SHOTS_DIR(), `${file}-${theme}.png`) });
      }
    }
  } finally {
    await bridge.call('containers.remove', { id, force: true });
    await bridge.call('volumes.remove', { name: 'app-data' });
    await bridge.call('networks.remove', { id: 'app-net' });
    await bridge.call('settings.set', { theme: 'system' });
  }
});
