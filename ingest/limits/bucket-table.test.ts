import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BucketTable } from './bucket-table.js';

describe('BucketTable', () => {
  it('lets a full bucket pay its burst at once, then refills at its rate', () => {
    const table = new BucketTable(4, [{ perSecond: 10, burst: 3 }]);
    let now = 1_000;
    const slot = table.slot('a', now);
    for (let i = 0; i < 3; i++) {
      assert.ok(table.canPay(slot, 0, 1));
      table.debit(slot, 0, 1);
    }
    assert.equal(table.canPay(slot, 0, 1), false);
    assert.equal(table.waitMs(slot, 0, 1), 100);
    now += 99;
    assert.equal(table.canPay(table.slot('a', now), 0, 1), false);
    now += 1;
    assert.ok(table.canPay(table.slot('a', now), 0, 1));
  });

  it('never fills a bucket above its burst, however long it waited', () => {
    const table = new BucketTable(1, [{ perSecond: 1_000, burst: 5 }]);
    const slot = table.slot('a', 0);
    assert.equal(table.available(table.slot('a', 3_600_000), 0), 5);
    assert.equal(slot, 0);
  });

  it('keeps the lanes of one key apart', () => {
    const table = new BucketTable(1, [
      { perSecond: 1, burst: 1 },
      { perSecond: 100, burst: 100 },
    ]);
    const slot = table.slot('a', 0);
    table.debit(slot, 0, 1);
    assert.equal(table.canPay(slot, 0, 1), false);
    assert.ok(table.canPay(slot, 1, 100));
  });

  it('treats a lane with rate 0 as off: it always pays', () => {
    const table = new BucketTable(1, [{ perSecond: 0, burst: 0 }]);
    const slot = table.slot('a', 0);
    table.debit(slot, 0, 1e12);
    assert.ok(table.canPay(slot, 0, 1e12));
  });

  it('says a cost above the burst can never be paid', () => {
    const table = new BucketTable(1, [{ perSecond: 10, burst: 5 }]);
    assert.equal(table.waitMs(table.slot('a', 0), 0, 6), Number.POSITIVE_INFINITY);
  });

  it('ignores a clock that goes back', () => {
    const table = new BucketTable(1, [{ perSecond: 10, burst: 1 }]);
    const slot = table.slot('a', 1_000);
    table.debit(slot, 0, 1);
    table.slot('a', 500);
    assert.equal(table.available(slot, 0), 0);
  });

  it('never holds more keys than its capacity', () => {
    const table = new BucketTable(3, [{ perSecond: 1, burst: 10 }]);
    for (let i = 0; i < 100; i++) table.slot(`k${i}`, i);
    assert.equal(table.size, 3);
  });

  it('evicts an idle key first, losing nothing: it was full again', () => {
    // An emptied bucket at 1/s with burst 10 is full again after 10 s.
    const table = new BucketTable(2, [{ perSecond: 1, burst: 10 }]);
    table.debit(table.slot('idle', 0), 0, 10);
    table.debit(table.slot('busy', 10_000), 0, 10);
    table.slot('new', 10_000);
    assert.equal(table.has('idle'), false);
    assert.ok(table.has('busy'));
    assert.equal(table.evictedIdle, 1);
    assert.equal(table.evictedPressure, 0);
  });

  it('under pressure evicts the least recently touched key and counts it', () => {
    const table = new BucketTable(2, [{ perSecond: 1, burst: 10 }]);
    table.debit(table.slot('older', 0), 0, 1);
    table.debit(table.slot('newer', 5), 0, 1);
    table.slot('third', 6);
    assert.equal(table.has('older'), false);
    assert.ok(table.has('newer'));
    assert.equal(table.evictedPressure, 1);
  });

  it('a key evicted while idle comes back with a full bucket, as if it had stayed', () => {
    const table = new BucketTable(1, [{ perSecond: 1, burst: 2 }]);
    table.debit(table.slot('a', 0), 0, 2);
    table.slot('b', 2_000);
    const slot = table.slot('a', 2_000);
    assert.equal(table.available(slot, 0), 2);
  });

  it('sweeps idle keys in bounded steps, without a timer per key', () => {
    const table = new BucketTable(10, [{ perSecond: 10, burst: 10 }]);
    for (let i = 0; i < 10; i++) table.debit(table.slot(`k${i}`, 0), 0, 10);
    table.debit(table.slot('k0', 900), 0, 1);
    assert.equal(table.sweep(1_000, 4), 3);
    assert.equal(table.sweep(1_000), 6);
    assert.equal(table.size, 1);
    assert.ok(table.has('k0'));
    for (let i = 0; i < 20; i++) table.slot(`n${i}`, 2_000);
    assert.equal(table.size, 10);
    assert.equal(table.evictedPressure, 0, 'full new buckets are idle: replacing them loses nothing');
  });
});
