import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import { createLogger } from '../log.js';
import { HeapCompactor } from './heap-compactor.js';

const log = createLogger({ name: 'test', level: 'silent' });

/**
 * About 12 MB in the old generation: objects kept across two scavenges, so they are promoted.
 * Dropping what this returns leaves them as old-generation garbage.
 */
function promote(): Array<{ index: number }> {
  const kept = Array.from({ length: 300_000 }, (_, index) => ({ index }));
  collect({ type: 'minor' });
  collect({ type: 'minor' });
  return kept;
}

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (options: { type: 'minor' | 'major' }) => void;

describe('HeapCompactor', () => {
  const cases = [
    {
      what: 'collects once the heap grew past the threshold and the process is quiet',
      minGrowthBytes: 1,
      maxBusyRatio: 0.3,
      busyRatio: () => 0.1,
      collects: 'growth',
    },
    {
      what: 'leaves a busy process alone',
      minGrowthBytes: 1,
      maxBusyRatio: 0.3,
      busyRatio: () => 0.5,
      collects: undefined,
    },
    {
      what: 'waits until the old generation grew by the threshold',
      minGrowthBytes: 1024 ** 3,
      maxBusyRatio: 0.3,
      busyRatio: () => 0.1,
      collects: undefined,
    },
    {
      what: 'does nothing when turned off (threshold 0)',
      minGrowthBytes: 0,
      maxBusyRatio: 0.3,
      busyRatio: () => 0.1,
      collects: undefined,
    },
  ];
  for (const { what, collects, ...options } of cases) {
    it(what, async () => {
      const registry = new Registry();
      const heap = new HeapCompactor({ ...options, checkEveryMs: 60_000, registry, log });
      heap.start();
      try {
        assert.equal(promote().length, 300_000, 'dropped at once: garbage');
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

  /**
   * The kinds the checks run at these loads (one check per entry), the old generation grown by
   * ~12 MB before each of the first `growingChecks` of them and held through all of them.
   */
  const checksWhileGrown = (
    load: number[],
    growingChecks = 1,
    minGrowthBytes = 32 * 2 ** 20,
    settledAfterChecks = 2,
  ) => {
    // The earlier tests' garbage collected first: a collection V8 starts on its own while this
    // allocates would count as the compactor's own, and the growth with it.
    collect({ type: 'major' });
    const heap = new HeapCompactor({
      minGrowthBytes,
      maxBusyRatio: 0.3,
      busyRatio: () => load.shift() ?? 0,
      checkEveryMs: 60_000,
      settledAfterMs: settledAfterChecks * 60_000,
      registry: new Registry(),
      log,
    });
    heap.start();
    // Held through the checks, so no collection V8 runs meanwhile can take the growth away.
    const grown: Array<Array<{ index: number }>> = [];
    try {
      return Array.from({ length: load.length }, (_, index) => {
        if (index < growingChecks) grown.push(promote());
        return heap.check();
      });
    } finally {
      heap.stop();
      assert.equal(grown.length, growingChecks);
    }
  };

  it('collects growth below the threshold once the heap has stopped growing for two quiet intervals, once', () => {
    // 12 MB is more than an eighth of 32 MiB; it grew in the first interval; after the collection
    // nothing grew.
    assert.deepEqual(checksWhileGrown([0.1, 0.1, 0.1, 0.1, 0.1]), [
      undefined,
      undefined,
      'settled',
      undefined,
      undefined,
    ]);
  });

  it('waits for as long as it is told to before the thorough collection', () => {
    assert.deepEqual(checksWhileGrown([0.1, 0.1, 0.1, 0.1, 0.1], 1, 32 * 2 ** 20, 3), [
      undefined,
      undefined,
      undefined,
      'settled',
      undefined,
    ]);
  });

  it('counts quiet intervals from the last busy one', () => {
    assert.deepEqual(checksWhileGrown([0.1, 0.5, 0.1, 0.1]), [undefined, undefined, undefined, 'settled']);
  });

  it('waits while a quiet process is still growing (sessions opening slowly), then collects once', () => {
    // 12 MB an interval is below a 256 MiB threshold's one-pass collection but more than a 64th
    // of it: still growing, whatever the load.
    assert.deepEqual(checksWhileGrown([0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 3, 256 * 2 ** 20), [
      undefined,
      undefined,
      undefined,
      undefined,
      'settled',
      undefined,
    ]);
  });

  it('collects only at its own turn among the processes of a host', () => {
    collect({ type: 'major' });
    const every = 5000;
    const heap = new HeapCompactor({
      minGrowthBytes: 1,
      maxBusyRatio: 0.3,
      busyRatio: () => 0.1,
      checkEveryMs: every,
      turn: { index: 1, of: 3 },
      registry: new Registry(),
      log,
    });
    heap.start();
    const grown = promote();
    try {
      // Checks at 3,000 and 3,002 intervals since the epoch are the turns of processes 0 and 2;
      // 3,004 intervals (a few ms late) is this one's.
      assert.equal(heap.check(3000 * every), undefined);
      assert.equal(heap.check(3002 * every), undefined);
      assert.equal(heap.check(3004 * every + 7), 'growth');
    } finally {
      heap.stop();
      assert.equal(grown.length, 300_000);
    }
  });
});
