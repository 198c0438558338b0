import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.js';
import { PartitionProgress } from './progress.js';

describe('PartitionProgress: commit only what the origin acknowledged', () => {
  it('commits up to the first unacknowledged offset, whatever order the acknowledgements arrive in', () => {
    const p = new PartitionProgress(10);
    for (const offset of [10, 11, 12, 13]) p.submitted(offset);
    p.observeHighWatermark(14);
    assert.equal(p.commitPoint(), 10);
    p.acknowledged(12);
    p.acknowledged(11);
    assert.equal(p.commitPoint(), 10, 'offset 10 is still in flight');
    p.acknowledged(10);
    assert.equal(p.commitPoint(), 13);
    assert.equal(p.lag(), 1);
    p.acknowledged(13);
    assert.equal(p.commitPoint(), 14);
    assert.equal(p.lag(), 0);
  });

  it('gaps in the offsets (retention, compaction, aborted records, markers) never hold the commit point', () => {
    const p = new PartitionProgress(0);
    p.submitted(0);
    p.submitted(3);
    p.submitted(7);
    p.acknowledged(7);
    p.acknowledged(0);
    assert.equal(p.commitPoint(), 3, 'offset 3 is still in flight; 1 and 2 do not exist');
    p.acknowledged(3);
    assert.equal(p.commitPoint(), 8);
    assert.equal(p.outstanding(), 0);
  });

  it('a skipped record (replay, undecodable) moves the commit point without waiting for anything', () => {
    const p = new PartitionProgress(20);
    p.skipped(20);
    assert.equal(p.commitPoint(), 21);
    p.submitted(21);
    p.skipped(22);
    assert.equal(p.commitPoint(), 21, 'a skip does not pass a message in flight before it');
    p.acknowledged(21);
    assert.equal(p.commitPoint(), 23);
  });

  it('knows what it already took, so a refetch is not published twice', () => {
    const p = new PartitionProgress(5);
    p.submitted(5);
    p.skipped(6);
    assert.equal(p.alreadyTaken(5), true);
    assert.equal(p.alreadyTaken(6), true);
    assert.equal(p.alreadyTaken(7), false);
  });

  it('settles a packet only when the commit point passes it: the watermark it builds never runs ahead of the commit', () => {
    const settled: number[] = [];
    const p = new PartitionProgress(0, (packet) => settled.push(packet.offset));
    p.submitted(0, { topic: 'sentinel.packets', partition: 4, offset: 100 });
    p.submitted(1, { topic: 'sentinel.packets', partition: 4, offset: 101 });
    p.skipped(2);
    p.submitted(3, { topic: 'sentinel.packets', partition: 4, offset: 102 });
    p.acknowledged(1);
    p.acknowledged(3);
    assert.deepEqual(settled, [], 'offset 0 is in flight: a restart reads 0..3 again');
    p.acknowledged(0);
    assert.deepEqual(settled, [100, 101, 102]);
    assert.equal(p.commitPoint(), 4);
  });

  it('stays correct across compaction of its history', () => {
    const settled: number[] = [];
    const p = new PartitionProgress(0, (packet) => settled.push(packet.offset));
    for (let i = 0; i < 5000; i++) p.submitted(i, { topic: 'sentinel.packets', partition: 0, offset: i });
    for (let i = 0; i < 4000; i++) p.acknowledged(i);
    assert.equal(p.commitPoint(), 4000);
    assert.equal(p.outstanding(), 1000);
    p.acknowledged(4001);
    p.acknowledged(4000);
    assert.equal(p.commitPoint(), 4002);
    assert.equal(settled.length, 4002);
    assert.equal(settled.at(-1), 4001);
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
