import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayWatermark } from './replays.js';

describe('ReplayWatermark', () => {
  it('admits each packet once per output partition, replays (at or below the mark) are skipped', () => {
    const w = new ReplayWatermark();
    assert.equal(w.admit(0, 0, 10), true);
    assert.equal(w.admit(0, 0, 11), true);
    assert.equal(w.admit(0, 0, 11), false);
    assert.equal(w.admit(0, 0, 5), false);
    // Another packets partition, or another output partition, has its own mark.
    assert.equal(w.admit(0, 1, 5), true);
    assert.equal(w.admit(1, 0, 5), true);
  });

  it('an old owner and a new one interleaving after a rebalance deliver every packet once, in order', () => {
    const w = new ReplayWatermark();
    const old = [100, 101, 102, 103];
    const replay = [98, 99, 100, 101, 102, 103, 104, 105];
    const arrived = [old[0], replay[0], old[1], replay[1], old[2], replay[2], old[3], ...replay.slice(3)];
    const accepted = arrived.filter((o) => w.admit(2, 2, o as number));
    assert.deepEqual(accepted, [100, 101, 102, 103, 104, 105]);
  });

  it('survives a restart through commit metadata; foreign metadata restores nothing', () => {
    const w = new ReplayWatermark();
    w.admit(3, 3, 41);
    w.admit(3, 7, 9);
    const text = w.encode(3);
    assert.equal(text, 'wm1:3=41,7=9');
    const after = new ReplayWatermark();
    after.restore(3, text);
    after.restore(4, 'something else');
    assert.equal(after.admit(3, 3, 41), false);
    assert.equal(after.admit(3, 3, 42), true);
    assert.equal(after.admit(4, 3, 0), true);
    after.forget(3);
    assert.equal(after.admit(3, 3, 1), true);
  });

  it('raise never lowers a mark', () => {
    const w = new ReplayWatermark();
    w.raise(0, 0, 50);
    w.raise(0, 0, 20);
    assert.equal(w.admit(0, 0, 49), false);
    assert.equal(w.admit(0, 0, 51), true);
  });
});
