import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Histogram, type Registry } from 'prom-client';
import type { Logger } from '../log.js';

/**
 * Gives back the heap a burst of work left behind, once the process is quiet again.
 *
 * V8 grows its old space while many connections open (each CONNECT leaves garbage, and what is in
 * flight across a scavenge is promoted) and collects it only when the next limit is reached; even
 * then it keeps the pages it committed. An edge that opened 15,000 sessions in a minute held
 * 468 MiB after 30 quiet seconds, about 145 MiB of it live, and nothing was going to collect it
 * while the sessions only sent PINGREQs.
 *
 * Two kinds of collection, both only while the event loop was busy less than `maxBusyRatio` of the
 * last interval, since each pauses every connection of the process:
 * - `growth`: the old generation grew by `minGrowthBytes` since the last collection. A regular full
 *   collection (one pass), so a long, moderate burst does not pile up garbage.
 * - `settled`: for `settledAfterMs` the process has been quiet and its old generation has stopped
 *   growing (by less than a 64th of `minGrowthBytes` over that time), and the heap holds an eighth of
 *   `minGrowthBytes` more than it uses (committed and not used, or grown since the last collection).
 *   A quiet event loop alone is not enough: sessions opening slowly over many processes keep each
 *   one quiet while its heap still grows, and the thorough collection would repeat every few
 *   intervals (100,000 sessions over six processes: 23 of them, 769 ms each).
 *   V8's most thorough collection, the one it runs before giving up on memory: several passes, then
 *   the unused pages and most of the young generation released (15,000 sessions: 468 -> 206 MiB).
 *   Once per burst: it runs again only after a `growth` collection or new growth.
 */
export interface HeapCompactorOptions {
  /** Old generation grown beyond what the last collection left before the next one; 0 turns it off. */
  readonly minGrowthBytes: number;
  readonly checkEveryMs: number;
  /** How long the process must have been quiet, its old generation not growing, before a `settled` collection (default two checks). */
  readonly settledAfterMs?: number;
  /** Event-loop utilisation over the last interval (0..1) below which the process counts as quiet. */
  readonly maxBusyRatio: number;
  /** How busy the event loop was since the last call, 0..1 (event-loop utilisation; tests give a fixed value). */
  readonly busyRatio?: () => number;
  /**
   * This process's place among the processes of its host that take turns (the edge's workers):
   * checks fall on multiples of `checkEveryMs` since the epoch, and a collection runs only at
   * every `of`-th of them, the `index`-th. Without one, any check may collect.
   */
  readonly turn?: { readonly index: number; readonly of: number };
  readonly registry: Registry;
  readonly log: Logger;
}

/**
 * Bytes used outside the young generation: what survived scavenges and stays until a full
 * collection. The young generation empties itself; counting it would make every PINGREQ's garbage
 * look like growth.
 */
function oldGenerationUsed(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_')) used += space.space_used_size;
  }
  return used;
}

type CollectGarbage = (options: {
  type: 'major';
  execution: 'sync';
  flavor: 'regular' | 'last-resort';
}) => void;

/**
 * V8's collector as a function. `--expose-gc` must be set before the function is looked up, which a
 * running process can still do; the flag only adds the global to contexts created afterwards, so it
 * comes from a fresh one (Node lets it be given at start too: `node --expose-gc`).
 */
function collectorFunction(): CollectGarbage {
  const existing = (globalThis as { gc?: CollectGarbage }).gc;
  if (existing !== undefined) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as CollectGarbage;
}

/** Growth below `minGrowthBytes` / this over a quiet stretch counts as not growing. */
const steadyGrowthDivisor = 64;
/** A `settled` collection needs `minGrowthBytes` / this to give back (grown, or committed and unused). */
const settledSlackDivisor = 8;

export const compactionKinds = ['growth', 'settled'] as const;
export type CompactionKind = (typeof compactionKinds)[number];

export class HeapCompactor {
  readonly #options: HeapCompactorOptions;
  readonly #pause: Histogram<'kind'>;
  #collect: CollectGarbage | undefined;
  #timer: NodeJS.Timeout | undefined;
  #usedAfterLast = oldGenerationUsed();
  readonly #busyRatio: () => number;
  /**
   * Checks in a row that found the process quiet and its old generation within a 64th of the
   * threshold of what it used at the first of them (`#steadyFrom`): growth is measured over the
   * whole stretch, so a slow steady growth ends it too.
   */
  #steadyChecks = 0;
  #steadyFrom = this.#usedAfterLast;
  readonly #settledChecks: number;
  /**
   * A settled collection ran, or the process just started, and nothing grew since: another would
   * find nothing to give back.
   */
  #settled = true;

  constructor(options: HeapCompactorOptions) {
    this.#options = options;
    this.#settledChecks = Math.max(
      1,
      Math.ceil((options.settledAfterMs ?? 2 * options.checkEveryMs) / options.checkEveryMs),
    );
    let loop = performance.eventLoopUtilization();
    this.#busyRatio =
      options.busyRatio ??
      (() => {
        const since = performance.eventLoopUtilization(loop);
        loop = performance.eventLoopUtilization();
        return since.utilization;
      });
    this.#pause = new Histogram({
      name: 'sentinel_process_heap_compaction_seconds',
      help: 'full collections run while the process was quiet after its heap grew (kind: growth = one pass, settled = the thorough one after a burst; see HeapCompactor), and how long each paused the process',
      labelNames: ['kind'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [options.registry],
    });
  }

  start(): void {
    if (this.#options.minGrowthBytes <= 0 || this.#timer !== undefined) return;
    this.#collect = collectorFunction();
    this.#scheduleCheck();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #scheduleCheck(): void {
    const every = this.#options.checkEveryMs;
    this.#timer = setTimeout(
      () => {
        this.check();
        if (this.#timer !== undefined) this.#scheduleCheck();
      },
      every - (Date.now() % every),
    ).unref();
  }

  /** Whether a check at `now` falls on this process's turn. */
  #onTurn(now: number): boolean {
    const turn = this.#options.turn;
    if (turn === undefined || turn.of <= 1) return true;
    // Rounded: a timer fires a little after the instant it was set for.
    return Math.round(now / this.#options.checkEveryMs) % turn.of === turn.index % turn.of;
  }

  /** Collects if one is due, the process is quiet and it is its turn; returns the kind it ran, if any. */
  check(now = Date.now()): CompactionKind | undefined {
    const quiet = this.#busyRatio() < this.#options.maxBusyRatio;
    const used = oldGenerationUsed();
    if (!quiet || used - this.#steadyFrom >= this.#options.minGrowthBytes / steadyGrowthDivisor) {
      this.#steadyFrom = used;
      this.#steadyChecks = 0;
    } else {
      this.#steadyChecks++;
    }
    // A collection V8 ran itself since the last check counts as ours.
    if (used < this.#usedAfterLast) this.#usedAfterLast = used;
    const growth = used - this.#usedAfterLast;
    const small = this.#options.minGrowthBytes / settledSlackDivisor;
    if (growth >= small) this.#settled = false;
    if (this.#collect === undefined || !quiet || !this.#onTurn(now)) return undefined;
    let kind: CompactionKind | undefined;
    if (growth >= this.#options.minGrowthBytes) kind = 'growth';
    else if (this.#steadyChecks >= this.#settledChecks && !this.#settled) {
      const heap = getHeapStatistics();
      if (growth >= small || heap.total_heap_size - heap.used_heap_size >= small) kind = 'settled';
    }
    if (kind === undefined) return undefined;
    const started = performance.now();
    this.#collect({
      type: 'major',
      execution: 'sync',
      flavor: kind === 'settled' ? 'last-resort' : 'regular',
    });
    const seconds = (performance.now() - started) / 1000;
    this.#pause.observe({ kind }, seconds);
    this.#usedAfterLast = oldGenerationUsed();
    this.#steadyFrom = this.#usedAfterLast;
    this.#settled = kind === 'settled';
    // The pause itself is not load: leave it out of the next interval's utilisation.
    this.#busyRatio();
    this.#options.log.info(
      {
        kind,
        oldGenerationBeforeMiB: Math.round(used / 2 ** 20),
        oldGenerationAfterMiB: Math.round(this.#usedAfterLast / 2 ** 20),
        pauseMs: Math.round(seconds * 1000),
      },
      'heap collected while the process was quiet',
    );
    return kind;
  }
}
