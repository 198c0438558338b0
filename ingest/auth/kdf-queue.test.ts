import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { metricSum as metric } from '../../test/helpers/registry.js';
import { KdfQueue } from './kdf-queue.js';

/** Hand-settled work: the test decides when a "scrypt" finishes, no timers. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { done, open };
}

/** A queue on a clock the test moves, whose expiry sweep only runs when the test calls it. */
function clocked(options: { concurrency: number; maxQueued: number }) {
  const clock = { now: 0 };
  const registry = new Registry();
  const queue = new KdfQueue({ ...options, registry, now: () => clock.now, expiryCheckMs: 3_600_000 });
  /** Runs a verification that takes `ms` on the test's clock, ending when the test opens it. */
  const verification = (ms: number) => {
    const g = gate();
    return {
      open: () => {
        clock.now += ms;
        g.open();
      },
      work: async () => {
        await g.done;
        return true;
      },
    };
  };
  return { clock, registry, queue, verification };
}

/** Runs verifications of the given durations one after the other, so the queue learns them. */
async function learn(
  queue: KdfQueue,
  verification: (ms: number) => { open(): void; work(): Promise<boolean> },
  durations: readonly number[],
): Promise<void> {
  for (const ms of durations) {
    const v = verification(ms);
    const learning = queue.run(v.work);
    v.open();
    await learning;
  }
}

describe('KdfQueue', () => {
  it('runs at most `concurrency` verifications at once and starts the next as one ends, in order', async () => {
    const registry = new Registry();
    const queue = new KdfQueue({ concurrency: 2, maxQueued: 10, registry });
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      queue.run(async () => {
        started.push(i);
        await g.done;
        return i;
      }),
    );
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual([queue.active, queue.queued], [2, 2]);
    assert.equal(await metric(registry, 'sentinel_auth_kdf_queued'), 2);
    gates[1]!.open();
    assert.equal(await runs[1], 1);
    assert.deepEqual(started, [0, 1, 2]);
    for (const g of gates) g.open();
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
    assert.deepEqual([queue.active, queue.queued], [0, 0]);
    assert.equal(await metric(registry, 'sentinel_auth_kdf_active'), 0);
  });

  it('refuses at once, and counts it as full, when the queue is full', async () => {
    const registry = new Registry();
    const queue = new KdfQueue({ concurrency: 1, maxQueued: 1, registry });
    const g = gate();
    const running = queue.run(() => g.done);
    const waiting = queue.run(async () => 'waited');
    assert.equal(queue.refusalFor(), 'full');
    let ran = false;
    assert.equal(
      await queue.run(async () => {
        ran = true;
      }),
      undefined,
    );
    assert.equal(ran, false);
    assert.equal(await metric(registry, 'sentinel_auth_kdf_refused_total', { reason: 'full' }), 1);
    g.open();
    assert.deepEqual(await Promise.all([running, waiting]), [undefined, 'waited']);
    assert.equal(queue.refusalFor(), undefined);
  });

  it('a failing verification frees its slot', async () => {
    const queue = new KdfQueue({ concurrency: 1, maxQueued: 0, registry: new Registry() });
    await assert.rejects(
      queue.run(() => {
        throw new Error('bad hash');
      }),
      /bad hash/,
    );
    assert.equal(await queue.run(async () => 'next'), 'next');
  });

  it('refuses on arrival work it predicts cannot finish within the time its caller has (late)', async () => {
    const { registry, queue, verification } = clocked({ concurrency: 2, maxQueued: 100 });
    await learn(queue, verification, [10, 10, 10, 10]);
    assert.equal(queue.typicalMs, 10);
    assert.equal(await metric(registry, 'sentinel_auth_kdf_typical_seconds'), 0.01);

    const busy = [verification(10), verification(10)];
    const running = busy.map((v) => queue.run(v.work));
    // Slots full: the first waiter starts after one slot frees (~5 ms on average over two slots)
    // and takes 10 ms: 15 ms predicted; with 4 waiting ahead, (5/2 + 1) x 10 = 35 ms.
    assert.equal(queue.refusalFor(14), 'late');
    assert.equal(queue.refusalFor(15), undefined);
    const waiting = [1, 2, 3, 4].map(() => queue.run(async () => 'ran', 1_000));
    assert.equal(queue.refusalFor(34), 'late');
    assert.equal(await queue.run(async () => 'ran', 34), undefined);
    assert.equal(await metric(registry, 'sentinel_auth_kdf_refused_total', { reason: 'late' }), 1);
    for (const v of busy) v.open();
    assert.deepEqual(await Promise.all(waiting), ['ran', 'ran', 'ran', 'ran']);
    await Promise.all(running);
  });

  it('refuses waiting work once it could no longer finish in time, without running it (expired)', async () => {
    const { clock, registry, queue, verification } = clocked({ concurrency: 1, maxQueued: 100 });
    await learn(queue, verification, [10, 10, 10, 10]);

    const slow = verification(500);
    const running = queue.run(slow.work);
    let ran = 0;
    // Admitted: 20 ms predicted against 100 and 1,000 ms of patience.
    const short = queue.run(async () => ran++, 100);
    const long = queue.run(async () => ran++, 1_000);
    slow.open();
    // 500 ms later the short one can no longer make it: skipped; the long one runs.
    assert.equal(await short, undefined);
    assert.equal(await long, 0);
    assert.equal(ran, 1);
    assert.equal(await metric(registry, 'sentinel_auth_kdf_refused_total', { reason: 'expired' }), 1);
    await running;
    assert.ok(clock.now >= 540);
  });

  it('predicts nothing from fewer than four verifications, and one slow verification does not make it refuse a burst', async () => {
    const { queue, verification } = clocked({ concurrency: 2, maxQueued: 1000 });
    // A fresh process's first check is slow: alone it predicts nothing.
    await learn(queue, verification, [2_000]);
    assert.equal(queue.typicalMs, 0);
    await learn(queue, verification, [5, 5, 5]);
    assert.equal(queue.typicalMs, 5, 'the median of 2,000, 5, 5, 5');
    const busy = [verification(5), verification(5)];
    const running = busy.map((v) => queue.run(v.work));
    // 200 waiting at 5 ms over two slots: about half a second, well inside 9 s.
    const burst = Array.from({ length: 200 }, () => queue.run(async () => 'served', 9_000));
    assert.equal(queue.queued, 200);
    for (const v of busy) v.open();
    assert.deepEqual(new Set(await Promise.all(burst)), new Set(['served']));
    await Promise.all(running);
  });

  it('refuses work that runs out of time while still behind others, at the next expiry check', async () => {
    const registry = new Registry();
    const queue = new KdfQueue({ concurrency: 1, maxQueued: 10, registry, expiryCheckMs: 5 });
    const held = gate();
    // The sweep's timer does not hold the process open (unref): this one keeps the test alive.
    const alive = setTimeout(() => undefined, 10_000);
    const running = queue.run(() => held.done);
    // 30 ms of patience and a slot held for longer: refused by the sweep while the slot is busy.
    const refused = await queue.run(async () => 'too late', 30);
    assert.equal(refused, undefined);
    assert.equal(queue.queued, 0);
    assert.equal(await metric(registry, 'sentinel_auth_kdf_refused_total', { reason: 'expired' }), 1);
    held.open();
    await running;
    clearTimeout(alive);
  });
});
