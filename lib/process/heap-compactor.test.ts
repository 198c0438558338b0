import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import { createLogger } from '../log.js';
import { HeapCompactor } from './heap-compactor.js';

const log = createLogger({ name: 'test', level: 'silent' });

/**
 * About 12 MB of old-generation garbage: objects kept across two scavenges (so they are promoted),
 * then dropped.
 */
function leaveGarbage(): void {
  setFlagsFromString('--expose-gc');
  const scavenge = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  let kept: Array<{ index: number }> | undefined = Array.from({ length: 300_000 }, (_, index) => ({ index }));
  scavenge({ type: 'minor' });
  scavenge({ type: 'minor' });
  assert.equal(kept.length, 300_000);
  kept = undefined;
}

describe('HeapCompactor', () => {
  const cases = [
    {
      what: 'collects once the heap grew past the threshold and the process is quiet',
      minGrowthBytes: 1,
      maxBusyRatio: 1,
      collects: 'growth',
    },
    { what: 'leaves a busy process alone', minGrowthBytes: 1, maxBusyRatio: 0, collects: undefined },
    {
      what: 'waits until the old generation grew by the threshold',
      minGrowthBytes: 1024 ** 3,
      maxBusyRatio: 1,
      collects: undefined,
    },
    {
      what: 'does nothing when turned off (threshold 0)',
      minGrowthBytes: 0,
      maxBusyRatio: 1,
      collects: undefined,
    },
  ];
  for (const { what, collects, ...options } of cases) {
    it(what, async () => {
      const registry = new Registry();
      const heap = new HeapCompactor({ ...options, checkEveryMs: 60_000, registry, log });
      heap.start();
      try {
        leaveGarbage();
        assert.equal(heap.check(), collects);
        const metrics = await registry.metrics();
        const count = /^sentinel_process_heap_compaction_seconds_count\{kind="growth"\} (\d+)$/m.exec(
          metrics,
        )?.[1];
        assert.equal(Number(count ?? 0), collects === undefined ? 0 : 1);
      } finally {
        heap.stop();
      }
    });
  }

  it('gives back growth below the threshold once the process has been quiet for two intervals', () => {
    const heap = new HeapCompactor({
      minGrowthBytes: 32 * 2 ** 20,
      maxBusyRatio: 1,
      checkEveryMs: 60_000,
      registry: new Registry(),
      log,
    });
    heap.start();
    try {
      leaveGarbage();
      assert.equal(heap.check(), undefined, 'one quiet interval: the burst may not be over');
      assert.equal(heap.check(), 'settled', 'two: 12 MB is more than an eighth of 32 MiB');
      assert.equal(heap.check(), undefined, 'nothing grew since');
    } finally {
      heap.stop();
    }
  });
});
