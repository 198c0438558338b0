import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayWatermark } from './replays.js';

const packets = 'sentinel.packets';
const decisions = 'sentinel.quarantine.decisions';
const at = (partition: number, offset: number, topic = packets) => ({ topic, partition, offset });

describe('ReplayWatermark', () => {
  it('admits each packet once per output partition, replays (at or below the mark) are skipped', () => {
    const w = new ReplayWatermark(packets);
    assert.equal(w.admit(0, at(0, 10)), true);
    assert.equal(w.admit(0, at(0, 11)), true);
    assert.equal(w.admit(0, at(0, 11)), false);
    assert.equal(w.admit(0, at(0, 5)), false);
    // Another packets partition, or another output partition, has its own mark.
    assert.equal(w.admit(0, at(1, 5)), true);
    assert.equal(w.admit(1, at(0, 5)), true);
  });

  it('an old owner and a new one interleaving after a rebalance deliver every packet once, in order', () => {
    const w = new ReplayWatermark(packets);
    const old = [100, 101, 102, 103];
    const replay = [98, 99, 100, 101, 102, 103, 104, 105];
    const arrived = [old[0], replay[0], old[1], replay[1], old[2], replay[2], old[3], ...replay.slice(3)];
    const accepted = arrived.filter((o) => w.admit(2, at(2, o as number)));
    assert.deepEqual(accepted, [100, 101, 102, 103, 104, 105]);
  });

  it('a released message (its decision record as source) has a mark of its own beside the packets partition', () => {
    const w = new ReplayWatermark(packets);
    assert.equal(w.admit(0, at(1, 500)), true);
    // The held message was packet 1/20, long before 500: released, its source is the decision record.
    assert.equal(w.admit(0, at(1, 3, decisions)), true);
    assert.equal(w.admit(0, at(1, 3, decisions)), false);
    assert.equal(w.admit(0, at(1, 501)), true);
    assert.equal(w.encode(0), `wm1:1=501,${decisions}/1=3`);
  });

  it('survives a restart through commit metadata; foreign metadata restores nothing', () => {
    const w = new ReplayWatermark(packets);
    w.admit(3, at(3, 41));
    w.admit(3, at(7, 9));
    w.admit(3, at(0, 2, decisions));
    const text = w.encode(3);
    assert.equal(text, `wm1:3=41,7=9,${decisions}/0=2`);
    const after = new ReplayWatermark(packets);
    after.restore(3, text);
    after.restore(4, 'something else');
    assert.equal(after.admit(3, at(3, 41)), false);
    assert.equal(after.admit(3, at(3, 42)), true);
    assert.equal(after.admit(3, at(0, 2, decisions)), false);
    assert.equal(after.admit(3, at(0, 3, decisions)), true);
    assert.equal(after.admit(4, at(3, 0)), true);
    after.forget(3);
    assert.equal(after.admit(3, at(3, 1)), true);
  });

  it('metadata written before other sources existed restores unchanged', () => {
    const w = new ReplayWatermark(packets);
    w.restore(0, 'wm1:3=41,7=9');
    assert.equal(w.admit(0, at(3, 41)), false);
    assert.equal(w.admit(0, at(7, 10)), true);
  });

  it('raise never lowers a mark', () => {
    const w = new ReplayWatermark(packets);
    w.raise(0, at(0, 50));
    w.raise(0, at(0, 20));
    assert.equal(w.admit(0, at(0, 49)), false);
    assert.equal(w.admit(0, at(0, 51)), true);
  });
});
