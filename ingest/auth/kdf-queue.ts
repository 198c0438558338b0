import { Counter, Gauge, type Registry } from 'prom-client';
import { metricOf } from './metrics.js';

/**
 * Password verifications (scrypt) wait here, apart from everything else a CONNECT does: a decision
 * found in a cache never queues behind KDF work, so a flood of unknown or failing devices slows only
 * other uncached CONNECTs (issue 14: ~25 wrong-password CONNECTs/s pushed a cached device's CONNACK
 * from 7-84 ms to seconds).
 *
 * `concurrency` verifications run at once on the libuv thread pool; keeping it below the pool size
 * (4 unless UV_THREADPOOL_SIZE says otherwise) leaves threads for DNS and file work, and the cores
 * bound the KDF's throughput anyway. What waits is bounded twice, and refused (the CONNECT gets
 * CONNACK 0x03, server unavailable: the device retries later) rather than left to grow:
 *  - in count: at most `maxQueued` wait (`full`), so the memory of the CONNECTs held stays bounded;
 *  - in time: a caller says how long its answer is still of use (`withinMs`, the device's CONNECT
 *    deadline less what follows the decision). Work the queue predicts it cannot finish in time, from
 *    the median of the last verifications' durations, is refused on arrival (`late`); work still waiting when
 *    it could no longer finish in time is refused then (`expired`), and the KDF never runs for it. A
 *    CONNECT storm beyond the cores thus gets fast refusals instead of CONNECT timeouts, and the
 *    cores are not spent on answers nobody waits for any more.
 */
export interface KdfQueueOptions {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly registry: Registry;
  /** Milliseconds, monotonic (default performance.now). */
  readonly now?: () => number;
  /** How often waiting work is checked for having run out of time (default 100 ms). */
  readonly expiryCheckMs?: number;
}

export type KdfRefusal = 'full' | 'late' | 'expired';

interface KdfMetrics {
  readonly active: Gauge;
  readonly queued: Gauge;
  readonly refused: Counter<'reason'>;
  readonly typical: Gauge;
}

function declareKdfMetrics(registry: Registry): KdfMetrics {
  const registers = [registry];
  return {
    active: metricOf(
      registry,
      'sentinel_auth_kdf_active',
      (name) => new Gauge({ name, help: 'Password verifications (scrypt) running', registers }),
    ),
    queued: metricOf(
      registry,
      'sentinel_auth_kdf_queued',
      (name) =>
        new Gauge({
          name,
          help: 'Password verifications waiting for a KDF slot (bounded by SENTINEL_AUTH_KDF_QUEUE)',
          registers,
        }),
    ),
    refused: metricOf(
      registry,
      'sentinel_auth_kdf_refused_total',
      (name) =>
        new Counter({
          name,
          help: 'CONNECTs refused (CONNACK 0x03) by the KDF queue: full, late (predicted to miss the CONNECT deadline) or expired (waited until it could no longer make it)',
          labelNames: ['reason'],
          registers,
        }),
    ),
    typical: metricOf(
      registry,
      'sentinel_auth_kdf_typical_seconds',
      (name) =>
        new Gauge({
          name,
          help: 'Median wall time of the last password verifications: what the queue predicts waits with; concurrency / this is the verifications per second it expects to sustain',
          registers,
        }),
    ),
  };
}

interface Waiting {
  /** The latest start that can still finish in time (queue clock, ms). */
  readonly startBy: number;
  readonly start: () => void;
  readonly refuse: () => void;
}

/**
 * How many recent verifications the typical duration is the median of, and how many it needs
 * before it predicts at all. A median, not a mean: one slow check (a fresh process's first, a GC
 * pause, a burst of CPU elsewhere) must not make the queue refuse a fleet it could serve; a real
 * slowdown moves the median within a few checks.
 */
const durationSamples = 16;
const durationSamplesToPredict = 4;

export class KdfQueue {
  #waiting: Waiting[] = [];
  readonly #metrics: KdfMetrics;
  readonly #now: () => number;
  readonly #expiryCheckMs: number;
  #expiryTimer: NodeJS.Timeout | undefined;
  #active = 0;
  /** Wall times of the last verifications, ms, oldest first. */
  readonly #durations: number[] = [];
  /** Their median once there are enough of them, else 0 (nothing is predicted before). */
  #typicalMs = 0;

  constructor(private readonly options: KdfQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
      throw new RangeError('concurrency must be a positive integer');
    if (!Number.isInteger(options.maxQueued) || options.maxQueued < 0)
      throw new RangeError('maxQueued must be a whole number');
    this.#metrics = declareKdfMetrics(options.registry);
    this.#now = options.now ?? (() => performance.now());
    this.#expiryCheckMs = options.expiryCheckMs ?? 100;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  /** Typical duration of a verification, ms (what the predictions use; 0 before enough were seen). */
  get typicalMs(): number {
    return this.#typicalMs;
  }

  /** Why `run` would refuse work needed within `withinMs` now, or undefined when it would take it. */
  refusalFor(withinMs = Number.POSITIVE_INFINITY): KdfRefusal | undefined {
    if (this.#active < this.options.concurrency) return undefined;
    if (this.#waiting.length >= this.options.maxQueued) return 'full';
    // Each slot finishes one verification per typical duration: the newcomer starts after the work
    // ahead of it has drained through the slots, and then takes a typical duration itself.
    const predictedMs = ((this.#waiting.length + 1) / this.options.concurrency + 1) * this.#typicalMs;
    return predictedMs > withinMs ? 'late' : undefined;
  }

  /** True, and counted as a refusal, when `run` would refuse work needed within `withinMs` now. */
  turnsAway(withinMs = Number.POSITIVE_INFINITY): boolean {
    const refusal = this.refusalFor(withinMs);
    if (refusal) this.#metrics.refused.inc({ reason: refusal });
    return refusal !== undefined;
  }

  /**
   * Runs `work` when a slot is free; resolves to undefined (refused, counted by reason) when the
   * queue is full or the work could not finish within `withinMs`.
   */
  run<T>(work: () => Promise<T>, withinMs = Number.POSITIVE_INFINITY): Promise<T | undefined> {
    if (this.turnsAway(withinMs)) return Promise.resolve(undefined);
    if (this.#active < this.options.concurrency) return this.#start(work);
    return new Promise<T | undefined>((resolve, reject) => {
      this.#waiting.push({
        startBy: this.#now() + withinMs - this.#typicalMs,
        start: () => {
          this.#start(work).then(resolve, reject);
        },
        refuse: () => resolve(undefined),
      });
      this.#metrics.queued.set(this.#waiting.length);
      this.#expiryTimer ??= setInterval(() => this.#expireWaiting(), this.#expiryCheckMs).unref();
    });
  }

  #start<T>(work: () => Promise<T>): Promise<T> {
    this.#active++;
    this.#metrics.active.set(this.#active);
    const startedAt = this.#now();
    let running: Promise<T>;
    try {
      running = work();
    } catch (err) {
      running = Promise.reject(err);
    }
    return running.finally(() => {
      const tookMs = this.#now() - startedAt;
      this.#measured(tookMs);
      this.#active--;
      this.#startNext();
      this.#metrics.active.set(this.#active);
    });
  }

  #measured(tookMs: number): void {
    this.#durations.push(tookMs);
    if (this.#durations.length > durationSamples) this.#durations.shift();
    if (this.#durations.length < durationSamplesToPredict) return;
    const sorted = [...this.#durations].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    this.#typicalMs = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
    this.#metrics.typical.set(this.#typicalMs / 1000);
  }

  /** Starts the first waiting work that can still finish in time; refuses what cannot on the way. */
  #startNext(): void {
    const now = this.#now();
    let next = this.#waiting.shift();
    while (next && next.startBy < now) {
      this.#refuseExpired(next);
      next = this.#waiting.shift();
    }
    this.#queueChanged();
    next?.start();
  }

  /** Refuses waiting work while its device still waits for the answer, not at its deadline. */
  #expireWaiting(): void {
    const now = this.#now();
    const expired = this.#waiting.filter((waiting) => waiting.startBy < now);
    if (expired.length > 0) {
      this.#waiting = this.#waiting.filter((waiting) => waiting.startBy >= now);
      for (const waiting of expired) this.#refuseExpired(waiting);
    }
    this.#queueChanged();
  }

  #refuseExpired(waiting: Waiting): void {
    this.#metrics.refused.inc({ reason: 'expired' });
    waiting.refuse();
  }

  #queueChanged(): void {
    this.#metrics.queued.set(this.#waiting.length);
    if (this.#waiting.length === 0 && this.#expiryTimer) {
      clearInterval(this.#expiryTimer);
      this.#expiryTimer = undefined;
    }
  }
}
