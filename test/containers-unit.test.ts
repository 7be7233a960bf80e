// Pure helpers of engine/containers: names, stdcopy framing, signal names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateName, newContainerId, validateName } from '../engine/containers/names.js';
import { encodeOutput, frame } from '../engine/containers/stdcopy.js';
import { normalizeSignal } from '../engine/containers/service.js';

test('container names follow Docker’s rule', () => {
  assert.equal(validateName('/web_1'), 'web_1');
  assert.equal(validateName('a.b-c'), 'a.b-c');
  for (const bad of ['a', '_x', 'has space', '-x', 'x/y', '']) assert.throws(() => validateName(bad), /Invalid container name/);
  assert.match(newContainerId(), /^[0-9a-f]{64}$/);
  const taken = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const n = generateName((x) => taken.has(x));
    assert.ok(!taken.has(n));
    assert.doesNotThrow(() => validateName(n));
    taken.add(n);
  }
});

test('stdcopy frames carry the stream and a big-endian length', () => {
  const f = frame('stderr', Buffer.from('hi\n'));
  assert.deepEqual([...f.subarray(0, 8)], [2, 0, 0, 0, 0, 0, 0, 3]);
  assert.equal(f.subarray(8).toString(), 'hi\n');
  assert.equal(frame('stdout', Buffer.alloc(0x10203))[0], 1);
  assert.equal(frame('stdout', Buffer.alloc(0x10203)).readUInt32BE(4), 0x10203);
  assert.equal(encodeOutput(true, 'stdout', Buffer.from('raw')).toString(), 'raw');
});

test('signals by name, short name or number', () => {
  assert.equal(normalizeSignal('KILL'), 'SIGKILL');
  assert.equal(normalizeSignal('sigterm'), 'SIGTERM');
  assert.equal(normalizeSignal('15'), 'SIGTERM');
  assert.throws(() => normalizeSignal('NOPE'), /Invalid signal/);
  assert.throws(() => normalizeSignal('999'), /Invalid signal/);
});
