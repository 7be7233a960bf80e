// berthd as a process: flags, socket permissions, the data-root lock, graceful
// SIGTERM, and crash safety when killed with -9 in the middle of a pull.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startDaemon } from './harness/daemon.js';
import { pushImage, randomLayer } from './harness/images.js';
import { startFaultProxy } from './harness/proxy.js';
import { pull } from './harness/api.js';

const berthd = new URL('../../bin/berthd', import.meta.url).pathname;
let registry: TestRegistry;

before(async () => {
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
});

function run(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn(berthd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

test('bad flags are refused with usage; --help and --version work', async () => {
  const bad = await run(['--no-such-flag']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /unknown flag: --no-such-flag/);
  const badHost = await run(['-H', 'ftp://x']);
  assert.equal(badHost.code, 125);
  assert.match(badHost.stderr, /invalid host/);
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--data-root/);
  const version = await run(['--version']);
  assert.match(version.stdout, /Berth engine version \d+\.\d+\.\d+/);
});

test('socket is 0660, a second daemon on the same data root is refused, SIGTERM is graceful', async () => {
  const d = await startDaemon();
  try {
    const st = await fsp.stat(d.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    const second = await run([
      '-H', `unix://${path.join(d.execRoot, 'second.sock')}`,
      '--data-root', d.dataRoot,
      '--exec-root', path.join(d.execRoot, 'second'),
    ]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`another berthd \\(pid ${d.pid}\\) is already running with data root`));
    // The first daemon is unharmed.
    assert.equal((await d.request('GET', '/_ping')).status, 200);
    const code = await d.stop('SIGTERM');
    assert.equal(code, 0);
    await assert.rejects(fsp.stat(d.socket), /ENOENT/);
    // The lock went with it: a new daemon starts on the same root.
    await d.restart();
    assert.equal((await d.request('GET', '/_ping')).status, 200);
  } finally {
    await d.cleanup();
  }
});

test('kill -9 in the middle of a pull leaves a store the next start cleans, and the pull then succeeds', async () => {
  const img = await pushImage(registry, 'crash/big:1', {
    layers: [randomLayer('a', 3_000_000), randomLayer('b', 3_000_000, { compression: 'none' })],
  });
  const proxy = await startFaultProxy(registry.host, { slowBlob: { digest: img.layerDigests[1] as string, bytesPerSec: 1_000_000 } });
  const d = await startDaemon();
  try {
    const pulling = pull(d, `${proxy.host}/crash/big`, '1').catch(() => undefined);
    // Wait until the slow layer is in flight (something in ingest), then kill. The slow layer
    // takes ~3 s; on a loaded machine the pull itself may take seconds to get there.
    const ingest = path.join(d.dataRoot, 'content/ingest');
    for (let i = 0; i < 600; i++) {
      if ((await fsp.readdir(ingest).catch(() => [])).length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok((await fsp.readdir(ingest)).length > 0, 'a layer download was in flight');
    await d.kill9();
    await pulling;

    await d.restart();
    assert.deepEqual(await fsp.readdir(ingest), []);
    assert.deepEqual(await fsp.readdir(path.join(d.dataRoot, 'layers/tmp')), []);
    // No image was recorded, and no layer of it was left behind half-done or orphaned.
    assert.deepEqual((await d.request('GET', '/images/json')).json(), []);
    assert.deepEqual(await fsp.readdir(path.join(d.dataRoot, 'layers/sha256')), []);

    const again = await pull(d, `${registry.host}/crash/big`, '1');
    assert.equal(again.error, undefined, again.error);
    const inspect = (await d.request('GET', `/images/${registry.host}/crash/big:1/json`)).json<{ Id: string }>();
    assert.equal(inspect.Id, img.configDigest);
  } finally {
    await proxy.stop();
    await d.cleanup();
  }
});
