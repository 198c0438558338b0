import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.js';
import { PartitionProgress } from './progress.js';

describe('PartitionProgress: commit only what the origin acknowledged', () => {
  it('commits up to the first unacknowledged offset, whatever order the acknowledgements arrive in', () => {
    const p = new PartitionProgress(10n);
    for (const offset of [10n, 11n, 12n, 13n]) p.submitted(offset);
    p.fetchedThrough(14n, 14n);
    assert.equal(p.commitPoint(), 10n);
    p.acknowledged(12n);
    p.acknowledged(11n);
    assert.equal(p.commitPoint(), 10n, 'offset 10 is still in flight');
    p.acknowledged(10n);
    assert.equal(p.commitPoint(), 13n);
    assert.equal(p.lag(), 1);
    p.acknowledged(13n);
    assert.equal(p.commitPoint(), 14n);
    assert.equal(p.lag(), 0);
  });

  it('steps over transaction markers that end a fetched batch', () => {
    const p = new PartitionProgress(0n);
    p.submitted(0n);
    p.submitted(1n);
    // offset 2 is a commit marker: the batch ends at 3, the high watermark is 3
    p.fetchedThrough(3n, 3n);
    p.acknowledged(0n);
    p.acknowledged(1n);
    assert.equal(p.commitPoint(), 3n);
    assert.equal(p.lag(), 0);
  });

  it('knows what it already submitted, so a refetch is not published twice', () => {
    const p = new PartitionProgress(5n);
    p.submitted(5n);
    p.submitted(6n);
    assert.equal(p.alreadySubmitted(5n), true);
    assert.equal(p.alreadySubmitted(6n), true);
    assert.equal(p.alreadySubmitted(7n), false);
  });

  it('stays correct across compaction of its history', () => {
    const p = new PartitionProgress(0n);
    for (let i = 0n; i < 5000n; i++) p.submitted(i);
    for (let i = 0n; i < 4000n; i++) p.acknowledged(i);
    assert.equal(p.commitPoint(), 4000n);
    assert.equal(p.outstanding(), 1000);
    p.acknowledged(4001n);
    p.acknowledged(4000n);
    assert.equal(p.commitPoint(), 4002n);
  });
});

describe('Backoff', () => {
  it('grows exponentially and stays under the cap', () => {
    const b = new Backoff(100, 1000, () => 1);
    assert.deepEqual(
      Array.from({ length: 6 }, () => b.next()),
      [100, 200, 400, 800, 1000, 1000],
    );
    b.reset();
    assert.equal(b.next(), 100);
  });

  it('never goes below half the current step (jitter)', () => {
    const b = new Backoff(100, 1000, () => 0);
    assert.deepEqual([b.next(), b.next()], [50, 100]);
  });
});
