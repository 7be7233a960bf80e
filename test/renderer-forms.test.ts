// Component tests of the one dialog frame every form uses (FormDialog and useSubmit) and of the
// confirmations that replaced the images screen's own dialogs: focus lands on the first field,
// Enter submits, the button says it is busy and a second Enter does not submit twice, the
// engine's refusal shows above the fields and goes at the next try, success closes the dialog and
// gives focus back to what opened it. Real Chromium, the built renderer, a fake bridge.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Volume } from '../types/engine-api.js';
import { pageOpener, rendererSkipReason, type RendererPage } from './harness/renderer.js';

const skip = rendererSkipReason();
const open = pageOpener({ 'containers.list': [], 'images.list': [], 'networks.list': [] });

async function focused(r: RendererPage): Promise<{ tag: string; label: string }> {
  return r.page.evaluate(() => {
    const el = (globalThis as any).document.activeElement;
    return { tag: el?.tagName ?? '', label: (el?.getAttribute('aria-label') ?? el?.closest('label')?.textContent ?? el?.textContent ?? '').trim() };
  });
}

/** A promise the test settles by hand, to hold a call open. */
function gate(): { wait: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe('form dialogs', { skip }, () => {
  test('create a network: first field focused, Enter submits, busy blocks a second submit, the refusal shows then clears, success closes and gives focus back', async () => {
    const second = gate();
    const secondStarted = gate();
    let attempts = 0;
    const r = await open({
      route: '/networks',
      methods: {
        'networks.create': async () => {
          attempts++;
          if (attempts === 1) throw Object.assign(new Error('network with name backend already exists'), { status: 409 });
          secondStarted.open();
          await second.wait;
          return { id: 'n'.repeat(64) };
        },
      },
    });
    const opener = r.page.getByRole('button', { name: 'Create a network' });
    await opener.click();
    const dialog = r.page.getByRole('dialog', { name: 'Create a network' });
    await dialog.waitFor();
    assert.deepEqual(await focused(r), { tag: 'INPUT', label: 'Name' }, 'the first field has focus');

    await r.page.keyboard.type('backend');
    await r.page.keyboard.press('Enter');
    await dialog.getByRole('alert').getByText('network with name backend already exists').waitFor();
    assert.equal(await dialog.isVisible(), true, 'a refused create keeps the dialog and what was typed');
    assert.equal(await dialog.getByLabel('Name').inputValue(), 'backend');

    await dialog.getByLabel('Name').press('Enter');
    await secondStarted.wait;
    await dialog.getByRole('alert').waitFor({ state: 'detached' });
    const create = dialog.getByRole('button', { name: 'Create' });
    assert.equal(await create.isDisabled(), true, 'the submit button waits for the answer');
    await dialog.getByLabel('Name').press('Enter');
    await create.click({ force: true }).catch(() => undefined);
    assert.equal(r.calls.filter((c) => c.method === 'networks.create').length, 2, 'no second submit while one runs');

    second.open();
    await dialog.waitFor({ state: 'detached' });
    await r.page.getByRole('status').getByText('Created network backend').waitFor();
    await r.page.waitForFunction(() => (globalThis as any).document.activeElement?.textContent?.trim() === 'Create a network');
  });

  test('clone a volume: the button names the work while it runs and an empty name cannot be submitted', async () => {
    const vol: Volume = { Name: 'data', Driver: 'local', Mountpoint: '/var/lib/berth/volumes/data/_data', CreatedAt: new Date().toISOString(), Labels: null, Scope: 'local', Options: null };
    const hold = gate();
    const r = await open({
      route: '/volumes',
      methods: {
        'volumes.list': [vol],
        'system.df': { LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] },
        'volumes.clone': async () => {
          await hold.wait;
          return { ...vol, Name: 'data-2' };
        },
      },
    });
    await r.page.getByRole('button', { name: 'Clone volume data' }).click();
    const dialog = r.page.getByRole('dialog', { name: 'Clone data' });
    const name = dialog.getByLabel('Name of the new volume');
    assert.equal(await name.inputValue(), 'data-copy');
    await name.fill('');
    assert.equal(await dialog.getByRole('button', { name: 'Clone' }).isDisabled(), true);
    await name.fill('data-2');
    await dialog.getByRole('button', { name: 'Clone' }).click();
    await dialog.getByRole('button', { name: 'Cloning…' }).waitFor();
    assert.deepEqual((await r.waitForCall('volumes.clone')).params, { source: 'data', target: 'data-2' });
    hold.open();
    await dialog.waitFor({ state: 'detached' });
  });

  test('prune images: asks which images, then shows what it freed with only Close; remove: Force is a checkbox, not a submit', async () => {
    const img = { Id: 'sha256:' + 'a'.repeat(64), ParentId: '', RepoTags: ['app:1'], RepoDigests: [], Created: 1, Size: 1000, SharedSize: -1, Labels: null, Containers: -1 };
    const r = await open({
      route: '/images',
      methods: { 'images.list': [img], 'images.prune': { deleted: 2, spaceReclaimed: 2_000_000 }, 'images.remove': null },
    });
    await r.page.getByRole('button', { name: 'Prune', exact: true }).click();
    const prune = r.page.getByRole('dialog', { name: 'Prune images' });
    await prune.getByLabel('All images no container uses').check();
    await prune.getByRole('button', { name: 'Prune' }).click();
    await prune.getByRole('status').getByText('Deleted 2 images, reclaimed 2.0 MB.').waitFor();
    assert.deepEqual((await r.waitForCall('images.prune')).params, { all: true });
    assert.deepEqual(await prune.locator('footer').getByRole('button').allTextContents(), ['Close'], 'only Close is left');
    await prune.locator('footer').getByRole('button', { name: 'Close' }).click();
    await prune.waitFor({ state: 'detached' });

    await r.page.getByRole('button', { name: 'Remove app:1' }).click();
    const remove = r.page.getByRole('dialog', { name: 'Remove app:1?' });
    await remove.getByLabel(/Force/).focus();
    await r.page.keyboard.press('Enter');
    await r.page.keyboard.press('Space');
    assert.equal(await remove.getByLabel(/Force/).isChecked(), true);
    assert.equal(r.calls.filter((c) => c.method === 'images.remove').length, 0, 'Enter on the checkbox removes nothing');
    await remove.getByRole('button', { name: 'Remove' }).click();
    assert.deepEqual((await r.waitForCall('images.remove')).params, { id: img.Id, force: true });
  });
});
