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
 * bound the KDF's throughput anyway. At most `maxQueued` wait behind them; past that `run` refuses
 * at once (the CONNECT gets CONNACK 0x03, server unavailable: the device retries later) instead of
 * letting the wait, and the memory of the CONNECTs holding it, grow without bound.
 */
export interface KdfQueueOptions {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly registry: Registry;
}

interface KdfMetrics {
  readonly active: Gauge;
  readonly queued: Gauge;
  readonly refused: Counter;
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
          help: 'CONNECTs refused (CONNACK 0x03) because the KDF queue was full',
          registers,
        }),
    ),
  };
}

export class KdfQueue {
  readonly #waiting: Array<() => void> = [];
  readonly #metrics: KdfMetrics;
  #active = 0;

  constructor(private readonly options: KdfQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
      throw new RangeError('concurrency must be a positive integer');
    if (!Number.isInteger(options.maxQueued) || options.maxQueued < 0)
      throw new RangeError('maxQueued must be a whole number');
    this.#metrics = declareKdfMetrics(options.registry);
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  /** True when `run` would accept work now (checked before the device DB is asked). */
  get hasRoom(): boolean {
    return this.#active < this.options.concurrency || this.#waiting.length < this.options.maxQueued;
  }

  /** Runs `work` when a slot is free; undefined (refused, counted) when the queue is full. */
  run<T>(work: () => Promise<T>): Promise<T> | undefined {
    if (this.#active < this.options.concurrency) return this.#start(work);
    if (this.#waiting.length >= this.options.maxQueued) {
      this.#metrics.refused.inc();
      return undefined;
    }
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push(() => {
        this.#start(work).then(resolve, reject);
      });
      this.#metrics.queued.set(this.#waiting.length);
    });
  }

  #start<T>(work: () => Promise<T>): Promise<T> {
    this.#active++;
    this.#metrics.active.set(this.#active);
    let running: Promise<T>;
    try {
      running = work();
    } catch (err) {
      running = Promise.reject(err);
    }
    return running.finally(() => {
      this.#active--;
      const next = this.#waiting.shift();
      this.#metrics.queued.set(this.#waiting.length);
      if (next) next();
      this.#metrics.active.set(this.#active);
    });
  }
}
