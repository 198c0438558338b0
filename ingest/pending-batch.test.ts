import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PendingBatch } from './pending-batch.js';

function collecting(waitMs: number, max: number) {
  const sent: number[][] = [];
  const batch: PendingBatch<number> = new PendingBatch<number>(waitMs, max, () => sent.push(batch.take()));
  return { batch, sent };
}

it('sends what came together once the wait after the first item is over', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { batch, sent } = collecting(20, 500);
  batch.add(1);
  t.mock.timers.tick(10);
  batch.add(2);
  t.mock.timers.tick(9);
  assert.deepEqual(sent, []);
  t.mock.timers.tick(1);
  assert.deepEqual(sent, [[1, 2]]);
  t.mock.timers.tick(100);
  assert.deepEqual(sent, [[1, 2]], 'nothing more without new items');
});

it('sends at once when the batch is full, and the stopped timer sends nothing later', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { batch, sent } = collecting(20, 3);
  batch.add(1);
  batch.add(2);
  batch.add(3);
  assert.deepEqual(sent, [[1, 2, 3]]);
  t.mock.timers.tick(50);
  assert.deepEqual(sent, [[1, 2, 3]]);
});

it('take() empties the batch before its time and a later item starts a new wait', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { batch, sent } = collecting(20, 500);
  batch.add(1);
  assert.deepEqual(batch.take(), [1]);
  t.mock.timers.tick(30);
  assert.deepEqual(sent, []);
  batch.add(2);
  t.mock.timers.tick(20);
  assert.deepEqual(sent, [[2]]);
});
