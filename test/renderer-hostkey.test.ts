// The app's side of engine trust, in real Chromium with a fake bridge: adding an ssh engine whose
// host presents a key other than the pinned one shows both fingerprints and replaces the pin only
// when the user confirms, by sending back the exact fingerprint that was shown; a tcp:// engine
// takes its TLS files.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineEndpoint } from '../types/desktop-api.js';
import { pageOpener, rendererSkipReason } from './harness/renderer.js';

const skip = rendererSkipReason();

const LOCAL: EngineEndpoint = { id: 'local', name: 'Local engine', kind: 'local', host: 'unix:///run/berth/docker.sock' };
const OLD = 'ssh-ed25519 SHA256:oldoldoldoldoldoldoldoldoldoldoldoldoldold';
const NEW = 'ecdsa-sha2-nistp256 SHA256:newnewnewnewnewnewnewnewnewnewnewnewnewnew';

const open = pageOpener({ 'engine.list': { engines: [LOCAL], active: 'local' } });

describe('engine trust in the app', { skip }, () => {
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

  test('a tcp:// engine asks for its TLS CA, certificate and key and sends them; a socket does not', async () => {
    const r = await open({
      route: '/settings',
      methods: { 'engine.add': (p) => ({ id: 't1', name: p.name, kind: 'socket', host: p.host, ...(p.tls ? { tls: p.tls } : {}) }) },
    });
    const form = r.page.getByRole('form', { name: 'Add an engine' });
    await form.getByLabel('Engine host').fill('unix:///tmp/x.sock');
    assert.equal(await form.getByLabel('TLS CA').count(), 0, 'no TLS for a socket');
    await form.getByLabel('Engine name').fill('prod');
    await form.getByLabel('Engine host').fill('tcp://engine.example:2376');
    await form.getByLabel('TLS CA').fill('~/certs/ca.pem');
    await form.getByLabel('TLS certificate').fill('~/certs/cert.pem');
    await form.getByLabel('TLS key').fill('~/certs/key.pem');
    await form.getByRole('button', { name: 'Add engine' }).click();
    const add = await r.waitForCall('engine.add');
    assert.deepEqual(add.params, {
      name: 'prod',
      host: 'tcp://engine.example:2376',
      tls: { verify: true, ca: '~/certs/ca.pem', cert: '~/certs/cert.pem', key: '~/certs/key.pem' },
    });
  });
});
