// The app's side of a changed host key, in real Chromium with a fake bridge: adding an ssh engine
// whose host presents a key other than the pinned one shows both fingerprints and replaces the pin
// only when the user confirms, by sending back the exact fingerprint that was shown.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineEndpoint } from '../types/desktop-api.js';
import { pageOpener, rendererSkipReason } from './harness/renderer.js';

const skip = rendererSkipReason();

const LOCAL: EngineEndpoint = { id: 'local', name: 'Local engine', kind: 'local', host: 'unix:///run/berth/docker.sock' };
const OLD = 'ssh-ed25519 SHA256:oldoldoldoldoldoldoldoldoldoldoldoldoldold';
const NEW = 'ecdsa-sha2-nistp256 SHA256:newnewnewnewnewnewnewnewnewnewnewnewnewnew';

const open = pageOpener({ 'engine.list': { engines: [LOCAL], active: 'local' } });

describe('a changed host key in the app', { skip }, () => {
  test('engine.add refused with 409: the dialog shows old and new keys; Cancel replaces nothing, Replace sends the shown key', async () => {
    const r = await open({
      route: '/settings',
      methods: {
        'engine.add': (p) => {
          if (p.replaceHostKey !== NEW) {
            throw Object.assign(new Error(`cannot add ${p.host}: the host key of box changed: it presented ${NEW}, but ${OLD} is trusted for it`), { status: 409 });
          }
          return { id: 'r1', name: p.name, kind: 'ssh', host: p.host, hostKey: NEW };
        },
        'engine.hostKey': { name: 'box', presented: NEW, trusted: [OLD], verdict: 'mismatch' },
      },
    });
    const form = r.page.getByRole('form', { name: 'Add an engine' });
    await form.getByLabel('Engine name').fill('box');
    await form.getByLabel('Engine host').fill('ssh://me@box');
    await form.getByRole('button', { name: 'Add engine' }).click();
    const dialog = r.page.getByRole('dialog', { name: 'The host key changed' });
    await dialog.waitFor();
    await dialog.getByText(NEW).waitFor();
    await dialog.getByText(OLD).waitFor();
    assert.deepEqual((await r.waitForCall('engine.hostKey')).params, { host: 'ssh://me@box' });

    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(r.calls.filter((c) => c.method === 'engine.add').length, 1, 'cancelling sends nothing');

    await form.getByRole('button', { name: 'Add engine' }).click();
    await dialog.getByRole('button', { name: 'Replace the pinned key' }).click();
    const replaced = await r.waitForCall('engine.add', (p: { replaceHostKey?: string }) => p.replaceHostKey !== undefined);
    assert.deepEqual(replaced.params, { name: 'box', host: 'ssh://me@box', replaceHostKey: NEW });
    await form.getByRole('status').getByText(`Pinned host key: ${NEW}`).waitFor();
    assert.deepEqual(r.pageErrors, []);
  });
});
