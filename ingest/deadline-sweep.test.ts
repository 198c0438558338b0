import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineSweep, type Expiring } from './deadline-sweep.js';

class Deadline implements Expiring {
  deadline: number;
  expiredAt: number | undefined;
  constructor(deadline: number) {
    this.deadline = deadline;
  }
  expire(nowMs: number): void {
    if (nowMs < this.deadline) return;
    this.expiredAt = nowMs;
    this.deadline = Number.POSITIVE_INFINITY;
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('DeadlineSweep', () => {
  it('closes thousands of connections due together a batch per event-loop turn, and only those due', async () => {
    const due = Array.from({ length: 1000 }, () => new Deadline(10_000));
    const later = new Deadline(20_000);
    const sweep = new DeadlineSweep({
      items: () => [...due, later],
      now: () => 10_000,
      intervalMs: 250,
      perTurn: 100,
    });
    sweep.sweep();
    const expired = () => due.filter((d) => d.expiredAt !== undefined).length;
    assert.equal(expired(), 100, 'one batch in the sweep turn');
    assert.equal(sweep.waiting, 900);
    await nextTurn();
    assert.equal(expired(), 200, 'the next batch in the next turn');
    while (sweep.waiting > 0) await nextTurn();
    assert.equal(expired(), 1000);
    assert.equal(later.expiredAt, undefined);
  });

  it('does not look for due connections again while the last ones found wait for their turn', async () => {
    let looked = 0;
    const due = Array.from({ length: 5 }, () => new Deadline(0));
    const sweep = new DeadlineSweep({
      items: () => {
        looked++;
        return due;
      },
      now: () => 0,
      intervalMs: 250,
      perTurn: 2,
    });
    sweep.sweep();
    sweep.sweep();
    assert.equal(looked, 1);
    while (sweep.waiting > 0) await nextTurn();
    sweep.sweep();
    assert.equal(looked, 2);
    assert.ok(due.every((d) => d.expiredAt === 0));
  });
});
