// What of the Electron shell can be checked without launching Electron (no binary here): who may
// use the IPC, the CSP, the remembered window state, the sandboxed preload being self-contained
// CommonJS that speaks the main process's channels, and the packaging config against
// electron-builder's own schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { INVOKE_CHANNEL, OPEN_CHANNEL } from '../electron/channels.js';
import { APP_CSP, APP_URL, isAllowedSender, isAppUrl } from '../electron/security.js';
import { DEFAULT_WINDOW, loadWindowState, sanitizeWindowState, saveWindowState } from '../electron/window-state.js';
import { makeTempDir, removeDir, repoRoot } from './harness/util.js';

const rendererDir = '/opt/berth/dist/renderer';
const display = { x: 0, y: 0, width: 1920, height: 1080 };

test('IPC senders: only our window, only our pages', () => {
  const ours = 7;
  assert.ok(isAllowedSender({ senderId: 7, frameUrl: APP_URL }, ours, rendererDir));
  assert.ok(isAllowedSender({ senderId: 7, frameUrl: 'berth://app/containers/abc' }, ours, rendererDir));
  assert.ok(isAllowedSender({ senderId: 7, frameUrl: pathToFileURL(`${rendererDir}/index.html`).href }, ours, rendererDir));
  assert.ok(!isAllowedSender({ senderId: 8, frameUrl: APP_URL }, ours, rendererDir), 'another webContents');
  assert.ok(!isAllowedSender({ senderId: 7, frameUrl: APP_URL }, undefined, rendererDir), 'no window yet');
  assert.ok(!isAllowedSender({ senderId: 7, frameUrl: null }, ours, rendererDir), 'a frame that is gone');
  for (const url of [
    'https://evil.example/',
    'http://127.0.0.1:8080/',
    'berth://evil/index.html',
    'file:///etc/passwd',
    pathToFileURL('/opt/berth/dist/renderer-evil/index.html').href,
    'about:blank',
    'data:text/html,hi',
    'not a url',
  ]) {
    assert.ok(!isAppUrl(url, rendererDir), `${url} is not ours`);
  }
});

test('the app CSP allows only our own scripts and no remote connections', () => {
  assert.match(APP_CSP, /default-src 'self'/);
  assert.match(APP_CSP, /script-src 'self';/);
  assert.match(APP_CSP, /connect-src 'self';/);
  assert.match(APP_CSP, /object-src 'none'/);
  assert.match(APP_CSP, /frame-ancestors 'none'/);
  assert.doesNotMatch(APP_CSP, /unsafe-eval|https?:|\*/);
});

test('window state: saved and restored; bad values and off-screen positions fall back', async () => {
  const dir = await makeTempDir('berth-winstate-');
  try {
    const file = path.join(dir, 'sub', 'window-state.json');
    assert.deepEqual(await loadWindowState(file, [display]), DEFAULT_WINDOW, 'no file yet');
    await saveWindowState(file, { x: 100, y: 50, width: 1000, height: 700, maximized: true });
    assert.deepEqual(await loadWindowState(file, [display]), { x: 100, y: 50, width: 1000, height: 700, maximized: true });
    assert.deepEqual(await loadWindowState(file, [{ x: 2000, y: 0, width: 800, height: 600 }]), { width: 1000, height: 700, maximized: true }, 'a display that is gone');
    await fsp.writeFile(file, '{broken');
    assert.deepEqual(await loadWindowState(file, [display]), DEFAULT_WINDOW);
    assert.deepEqual(sanitizeWindowState({ width: 10, height: 1e9, x: 'a', maximized: 'yes' }, [display]), DEFAULT_WINDOW);
  } finally {
    await removeDir(dir);
  }
});

test('the preload is self-contained CommonJS that requires only electron and uses the main process channels', async () => {
  const text = await fsp.readFile(path.join(repoRoot(), 'dist', 'electron', 'preload.cjs'), 'utf8');
  const required = [...text.matchAll(/require\((["'])([^"']+)\1\)/g)].map((m) => m[2]);
  assert.deepEqual(required, ['electron'], 'a sandboxed preload can require nothing else');
  assert.doesNotMatch(text, /\bimport\s|export\s/, 'no ESM syntax');
  assert.ok(text.includes(`'${INVOKE_CHANNEL}'`) && text.includes(`'${OPEN_CHANNEL}'`), 'same channel names as main');
  assert.match(text, /exposeInMainWorld\('berth'/);
});

test('packaging config: valid for electron-builder, all four targets, the app files', async () => {
  const require = createRequire(import.meta.url);
  const yaml = require('js-yaml') as { load(text: string): Record<string, any> };
  const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as { validateConfiguration(c: unknown, l: unknown): Promise<void> };
  const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
  const config = yaml.load(await fsp.readFile(path.join(repoRoot(), 'build', 'electron-builder.yml'), 'utf8'));
  await validateConfiguration(config, new DebugLogger(false));
  await assert.rejects(validateConfiguration({ ...config, linux: { notAnOption: true } }, new DebugLogger(false)), 'the validator does reject a bad config');
  assert.equal(config['productName'], 'Berth Desktop');
  assert.deepEqual(config['linux'].target, ['AppImage', 'deb']);
  assert.deepEqual(config['mac'].target, ['dmg']);
  assert.deepEqual(config['win'].target, ['nsis']);
  for (const f of ['dist/electron/**', 'dist/desktop/**', 'dist/client/**', 'dist/types/**', 'dist/common/**', 'dist/hostfs/**', 'dist/renderer/**']) assert.ok(config['files'].includes(f), f);
  assert.equal(config['extraMetadata'].main, 'dist/electron/main.js');
});
