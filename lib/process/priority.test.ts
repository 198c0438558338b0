import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { setProcessNice } from './priority.js';

test('every thread of the process takes the nice value, and threads started afterwards inherit it', async (t) => {
  if (process.platform !== 'linux') return t.skip('nice values are per thread on Linux only');
  const before = getPriority();
  // Raising a nice value needs no privilege, lowering it does: this file's process keeps it (one process per test file).
  const target = Math.min(19, before + 1);
  const changed = setProcessNice(target);
  assert.equal(changed, readdirSync('/proc/self/task').length);
  for (const task of readdirSync('/proc/self/task')) assert.equal(getPriority(Number(task)), target);
  const worker = new Worker(
    'require("node:worker_threads").parentPort.postMessage(require("node:os").getPriority())',
    {
      eval: true,
    },
  );
  const seen = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(seen, target);
});
