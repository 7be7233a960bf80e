// How the bridge host folds engine messages into jobs: build output arrives in chunks that can end
// mid-line, an image ID becomes the message, an error fails the job; push progress folds per layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyBuildMessage, applyPullMessage } from '../desktop/bridge/jobs.js';
import type { Job } from '../types/desktop-api.js';

const job = (kind: Job['kind']): Job => ({ id: 'j', kind, title: 't', state: 'running', startedAt: '', layers: [] });

test('build output: chunks joined into whole lines, the ID as the message, errors kept', () => {
  const j = job('build');
  for (const stream of ['Step 1/2 : FROM x\n', ' ---> ab', 'c\nRUN out\nmore', '\n']) applyBuildMessage(j, { stream });
  assert.deepEqual(j.output, ['Step 1/2 : FROM x\n', ' ---> abc\n', 'RUN out\n', 'more\n']);
  applyBuildMessage(j, { aux: { ID: 'sha256:abc' } } as never);
  assert.equal(j.message, 'Built sha256:abc');
  applyBuildMessage(j, { error: 'x', errorDetail: { message: "The command '/bin/sh -c false' returned a non-zero code: 1" } });
  assert.match(j.error ?? '', /returned a non-zero code: 1/);
  const big = job('build');
  for (let i = 0; i < 2500; i++) applyBuildMessage(big, { stream: `line ${i}\n` });
  assert.equal(big.output?.length, 2000, 'only the latest lines are kept');
  assert.equal(big.output?.[1999], 'line 2499\n');
});

test('push progress folds per layer like a pull', () => {
  const j = job('push');
  applyPullMessage(j, { id: '0123456789ab', status: 'Pushing', progressDetail: { current: 5, total: 10 } });
  applyPullMessage(j, { id: '0123456789ab', status: 'Pushed' });
  applyPullMessage(j, { status: '1: digest: sha256:ff size: 527' });
  assert.deepEqual(j.layers, [{ id: '0123456789ab', status: 'Pushed', total: 10, current: 10 }]);
  assert.equal(j.message, '1: digest: sha256:ff size: 527');
});
