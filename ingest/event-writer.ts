import type { Producer } from 'kafkajs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../lib/log.js';

/**
 * The edge's path into Kafka. Awaiting one produce per packet caps a producer at a few thousand
 * messages/s, so events from every connection are batched: a batch leaves when it is full or when
 * the oldest event has waited `lingerMs`, with at most `maxInFlightBatches` unacknowledged.
 * Each event's callback runs when Kafka acknowledged its batch with acks=all; only then may a
 * QoS 1 PUBACK (QoS 2 PUBREC) go to the device.
 *
 * Kafka unreachable: a failed batch goes back to the head of the queue and is retried with
 * backoff; nothing is acknowledged meanwhile. The queue is bounded in bytes: past
 * `maxBufferedBytes` `write` returns false and the caller stops reading from devices (TCP
 * backpressure) until `onDrain` fires.
 */
export interface EventWriterOptions {
  readonly producer: Producer;
  readonly topic: string;
  readonly lingerMs: number;
  readonly maxBatchEvents: number;
  readonly maxInFlightBatches: number;
  readonly maxBufferedBytes: number;
  readonly registry: Registry;
  readonly log: Logger;
}

export type StoredCallback = (error?: Error) => void;

interface QueuedEvent {
  readonly key: string;
  readonly value: Buffer;
  readonly timestamp: string;
  readonly queuedAt: number;
  readonly onStored: StoredCallback | undefined;
}

const retryBackoffMs = [100, 250, 500, 1000, 2000, 5000] as const;

export class PacketEventWriter {
  readonly #options: EventWriterOptions;
  #queue: QueuedEvent[] = [];
  #bufferedBytes = 0;
  #inFlight = 0;
  #lingerTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #drainWaiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];
  #full = false;
  readonly #ackSeconds: Histogram;
  readonly #batchEvents: Histogram;
  readonly #batches: Counter<'outcome'>;
  readonly #events: Counter;
  readonly #kafkaUp: Gauge;

  constructor(options: EventWriterOptions) {
    this.#options = options;
    const registers = [options.registry];
    this.#ackSeconds = new Histogram({
      name: 'sentinel_ingest_kafka_ack_seconds',
      help: 'Time from an event entering the edge queue to its acks=all acknowledgement by Kafka',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#batchEvents = new Histogram({
      name: 'sentinel_ingest_kafka_batch_events',
      help: 'Events per produce batch',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers,
    });
    this.#batches = new Counter({
      name: 'sentinel_ingest_kafka_batches_total',
      help: 'Produce batches by outcome (ok, or error then retried)',
      labelNames: ['outcome'],
      registers,
    });
    this.#events = new Counter({
      name: 'sentinel_ingest_kafka_events_total',
      help: 'Packet events acknowledged by Kafka',
      registers,
    });
    this.#kafkaUp = new Gauge({
      name: 'sentinel_ingest_kafka_up',
      help: '1 while the last produce succeeded, 0 while batches are failing and being retried',
      registers,
    });
    this.#kafkaUp.set(1);
    const writer = this;
    new Gauge({
      name: 'sentinel_ingest_kafka_buffered_bytes',
      help: 'Bytes of packet events waiting for Kafka (queued and in flight)',
      registers,
      collect() {
        this.set(writer.#bufferedBytes);
      },
    });
    new Gauge({
      name: 'sentinel_ingest_kafka_buffered_events',
      help: 'Packet events waiting for Kafka (queued, not yet in flight)',
      registers,
      collect() {
        this.set(writer.#queue.length);
      },
    });
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** True while the last produce attempt succeeded. */
  get kafkaUp(): boolean {
    return this.#failures === 0;
  }

  /**
   * Queues one encoded event. Returns false when the buffer is over its bound: the event is still
   * queued (nothing is dropped), and the caller should pause its sources until onDrain.
   */
  write(key: string, value: Buffer, timestampMs: number, onStored?: StoredCallback): boolean {
    this.#queue.push({ key, value, timestamp: String(timestampMs), queuedAt: performance.now(), onStored });
    this.#bufferedBytes += value.length + key.length;
    if (this.#queue.length >= this.#options.maxBatchEvents) this.#pump();
    else this.#lingerTimer ??= setTimeout(() => this.#onLinger(), this.#options.lingerMs);
    if (this.#bufferedBytes > this.#options.maxBufferedBytes) this.#full = true;
    return !this.#full;
  }

  /** Resolves when the buffer is back under half its bound. */
  onDrain(): Promise<void> {
    if (!this.#full) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Sends everything queued and resolves when Kafka acknowledged it all (for shutdown). */
  async flush(): Promise<void> {
    this.#pump();
    if (this.#queue.length === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  #onLinger(): void {
    this.#lingerTimer = undefined;
    this.#pump();
  }

  #pump(): void {
    if (this.#retryTimer !== undefined) return;
    while (this.#queue.length > 0 && this.#inFlight < this.#options.maxInFlightBatches) {
      const batch = this.#queue.splice(0, this.#options.maxBatchEvents);
      this.#inFlight++;
      void this.#send(batch);
    }
    if (this.#queue.length === 0 && this.#lingerTimer !== undefined) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    } else if (
      this.#queue.length > 0 &&
      this.#lingerTimer === undefined &&
      this.#inFlight < this.#options.maxInFlightBatches
    ) {
      this.#lingerTimer = setTimeout(() => this.#onLinger(), this.#options.lingerMs);
    }
  }

  async #send(batch: QueuedEvent[]): Promise<void> {
    try {
      await this.#options.producer.send({
        topic: this.#options.topic,
        acks: -1,
        messages: batch.map((e) => ({ key: e.key, value: e.value, timestamp: e.timestamp })),
      });
    } catch (err) {
      this.#inFlight--;
      this.#onBatchFailed(batch, err as Error);
      return;
    }
    this.#inFlight--;
    if (this.#failures > 0)
      this.#options.log.info({ after: this.#failures }, 'Kafka accepts packet events again');
    this.#failures = 0;
    this.#kafkaUp.set(1);
    this.#batches.inc({ outcome: 'ok' });
    this.#batchEvents.observe(batch.length);
    this.#events.inc(batch.length);
    const now = performance.now();
    let bytes = 0;
    for (const event of batch) {
      bytes += event.value.length + event.key.length;
      this.#ackSeconds.observe((now - event.queuedAt) / 1000);
      event.onStored?.();
    }
    this.#bufferedBytes -= bytes;
    this.#afterProgress();
  }

  #onBatchFailed(batch: QueuedEvent[], err: Error): void {
    this.#batches.inc({ outcome: 'error' });
    this.#kafkaUp.set(0);
    const backoff = retryBackoffMs[Math.min(this.#failures, retryBackoffMs.length - 1)]!;
    if (this.#failures === 0 || this.#failures % 10 === 0) {
      this.#options.log.error(
        { err: err.message, events: batch.length, buffered: this.#bufferedBytes, retryInMs: backoff },
        'Kafka refused a batch of packet events; retrying',
      );
    }
    this.#failures++;
    // Back to the head, in order, so per-client order survives the retry.
    this.#queue = batch.concat(this.#queue);
    if (this.#retryTimer === undefined) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#pump();
      }, backoff);
    }
  }

  #afterProgress(): void {
    if (this.#full && this.#bufferedBytes <= this.#options.maxBufferedBytes / 2) {
      this.#full = false;
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
    this.#pump();
    if (this.#queue.length === 0 && this.#inFlight === 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}
