// What a pull leaves behind in berthd's memory, measured through the debug-only
// GET /_berth/memory?gc=1 (BERTH_DEBUG_MEMORY=1; berthd runs with --expose-gc). Not a timing:
// after a full collection, the heap and the buffers a pull streamed through must be gone, and
// repeating pull + rmi must not grow the heap (a leak would).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type TestRegistry } from './harness/registry.js';
import { startDaemon, type TestDaemon } from './harness/daemon.js';
import { pushImage, randomLayer, type PushedImage } from './harness/images.js';
import { pull } from './harness/api.js';

interface MemoryReport {
  collected: boolean;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const MiB = 1024 * 1024;
const LAYERS = 4;
const LAYER_BYTES = 8 * MiB;

let registry: TestRegistry;
let daemon: TestDaemon;
let image: PushedImage;

before(async () => {
  registry = await startRegistry();
  daemon = await startDaemon({ env: { BERTH_DEBUG_MEMORY: '1' } });
  image = await pushImage(registry, 'memory/big:1', {
    layers: Array.from({ length: LAYERS }, (_, i) => randomLayer(`payload${i}`, LAYER_BYTES)),
  });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
});

async function memoryAfterGc(d: TestDaemon): Promise<MemoryReport> {
  const res = await d.request('GET', '/_berth/memory?gc=1');
  assert.equal(res.status, 200, res.body.toString());
  const m = res.json<MemoryReport>();
  assert.equal(m.collected, true, 'berthd must run with --expose-gc for the collection to happen');
  return m;
}

/**
 * The smallest of a few readings half a second apart: the last layer's streams can still be
 * closing when the pull's answer ends, and what they hold is gone a moment later. A leak is not.
 */
async function settledMemory(d: TestDaemon): Promise<MemoryReport> {
  let best = await memoryAfterGc(d);
  for (let i = 0; i < 4; i++) {
    await sleep(500);
    const m = await memoryAfterGc(d);
    if (m.arrayBuffers + m.heapUsed < best.arrayBuffers + best.heapUsed) best = m;
  }
  return best;
}

async function pullAndRemove(): Promise<void> {
  const [name, tag] = [image.ref.slice(0, image.ref.lastIndexOf(':')), image.ref.slice(image.ref.lastIndexOf(':') + 1)];
  const r = await pull(daemon, name, tag);
  assert.equal(r.error, undefined, r.error);
  const rm = await daemon.request('DELETE', `/images/${image.ref}`);
  assert.equal(rm.status, 200, rm.body.toString());
}

test('the memory endpoint is off unless BERTH_DEBUG_MEMORY=1', async () => {
  const plain = await startDaemon();
  try {
    const res = await plain.request('GET', '/_berth/memory');
    assert.equal(res.status, 404);
  } finally {
    await plain.cleanup();
  }
});

test('after a pull and a full collection, the heap and the streamed buffers are released', async () => {
  const payload = LAYERS * LAYER_BYTES;
  await pullAndRemove();
  const first = await settledMemory(daemon);
  // The pull streamed 32 MiB (twice: compressed and unpacked); none of it may stay reachable.
  assert.ok(first.arrayBuffers < payload / 4, `array buffers still held after the pull: ${first.arrayBuffers} bytes`);
  assert.ok(first.heapUsed < 48 * MiB, `heap after the pull: ${(first.heapUsed / MiB).toFixed(1)} MiB`);

  for (let i = 0; i < 3; i++) await pullAndRemove();
  const later = await settledMemory(daemon);
  const grown = later.heapUsed - first.heapUsed;
  // Three more pulls of 32 MiB: a per-chunk or per-layer leak grows the heap by far more than this.
  assert.ok(grown < 4 * MiB, `heap grew by ${(grown / MiB).toFixed(1)} MiB over three more pull + rmi rounds`);
  assert.ok(later.arrayBuffers < payload / 4, `array buffers after four pulls: ${later.arrayBuffers} bytes`);
});
