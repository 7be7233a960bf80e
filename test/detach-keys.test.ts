// The daemon's detach-key handling for attach: parsing Docker's key syntax and filtering stdin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detachFilter, parseDetachKeys } from '../engine/api/detach-keys.js';

test('detach keys parse as Docker spells them; bad ones are 400', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [0x10, 0x11]);
  assert.deepEqual([...parseDetachKeys('ctrl-x,y')], [0x18, 0x79]);
  assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-[')], [0x00, 0x1b]);
  for (const bad of ['ctrl-', 'ctrl-1', 'alt-x', 'ab']) {
    assert.throws(() => parseDetachKeys(bad), (e: any) => e.kind === 'invalid', bad);
  }
});

test('the filter forwards input, holds a started sequence, and detaches once when it completes', () => {
  let detached = 0;
  const f = detachFilter(Buffer.from([0x10, 0x11]), () => detached++);
  assert.equal(f(Buffer.from('ls\r')).toString(), 'ls\r');
  assert.equal(f(Buffer.from([0x10])).length, 0, 'a lone ctrl-p waits for the next key');
  assert.deepEqual([...f(Buffer.from('a'))], [0x10, 0x61], 'a broken sequence goes through');
  assert.deepEqual([...f(Buffer.from([0x10, 0x10]))], [0x10], 'ctrl-p ctrl-p: the first is input, the second may start the sequence');
  assert.equal(detached, 0);
  assert.equal(f(Buffer.from([0x11, 0x61])).length, 0, 'the sequence and what follows it are not forwarded');
  assert.equal(detached, 1);
  assert.equal(f(Buffer.from([0x10, 0x11])).length, 0);
  assert.equal(detached, 1, 'detaches once');
});
