import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { KdfQueue } from './kdf-queue.js';

/** Hand-settled work: the test decides when a "scrypt" finishes, no timers. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { done, open };
}

async function metric(registry: Registry, name: string): Promise<number> {
  return (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
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

  it('refuses at once, and counts it, when the queue is full', async () => {
    const registry = new Registry();
    const queue = new KdfQueue({ concurrency: 1, maxQueued: 1, registry });
    const g = gate();
    const running = queue.run(() => g.done);
    const waiting = queue.run(async () => undefined);
    assert.equal(queue.hasRoom, false);
    assert.equal(
      queue.run(async () => undefined),
      undefined,
    );
    assert.equal(await metric(registry, 'sentinel_auth_kdf_refused_total'), 1);
    g.open();
    await Promise.all([running, waiting]);
    assert.equal(queue.hasRoom, true);
  });

  it('a failing verification frees its slot', async () => {
    const queue = new KdfQueue({ concurrency: 1, maxQueued: 0, registry: new Registry() });
    await assert.rejects(
      queue.run(() => {
        throw new Error('bad hash');
      })!,
      /bad hash/,
    );
    assert.equal(await queue.run(async () => 'next'), 'next');
  });
});
