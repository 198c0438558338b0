import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RecordToSend } from '../lib/kafka/rdkafka.js';
import type { Logger } from '../lib/log.js';

/**
 * The edge's path into Kafka: every packet event goes to `sentinel.packets` through an idempotent
 * librdkafka producer (acks=all, lib/kafka/rdkafka.ts), which puts every record sent within its
 * linger (1-2 ms) into one request whichever connection sent it, and keeps per-partition order
 * across its own retries. An event's callback runs once the in-sync replicas acknowledged it; only
 * then may a QoS 1 PUBACK (QoS 2 PUBREC) go to the device.
 *
 * Kafka slow or down: librdkafka retries for ever (nothing is given up while the process lives) and
 * nothing is acknowledged meanwhile. What the proxy holds is bounded in bytes: past
 * `maxUnackedBytes`, `write` returns false and the caller stops reading from devices (TCP
 * backpressure) until `onDrain` resolves, when the unacknowledged bytes are back under half the
 * bound (so one acknowledgement does not pause and resume every socket).
 *
 * Kafka is "up" while the oldest unacknowledged event is younger than `stallMs`: a produce that
 * neither succeeds nor fails (a broker gone silent, a leader election) is a stall too.
 *
 * Two lanes, one producer. PUBLISH events, and any event a device waits for (`onStored`: PUBACK,
 * PUBREC, PUBCOMP), go to the producer at once, to share its short linger. Connection events
 * (CONNECT, DISCONNECT, PINGREQ, SUBSCRIBE, UNSUBSCRIBE, a device's acknowledgements of downlink
 * messages) nobody waits for: they are held here for up to `connectionEventsHoldMs` and then handed
 * over together, so that a CONNECT storm costs the brokers one produce request per broker per hold
 * (and its replication fetches) instead of one per linger: at 1,000 CONNECT/s that was most of the
 * brokers' CPU. A fast-lane event of a client id with held events sends that client's held events
 * first, so the partition keeps every client's order: a session's first PUBLISH never waits for the
 * hold, and never precedes its CONNECT (the processors' admission step needs it first). Held events
 * count towards the byte bound and the stall like sent ones; `flush` hands them over at once.
 */
export interface EventWriterOptions {
  readonly producer: PacketEventSink;
  /** How long connection events wait to be sent together, in ms; 0 sends them at once. */
  readonly connectionEventsHoldMs?: number;
  readonly topic: string;
  /** Bytes of events sent and not yet acknowledged, past which devices are no longer read. */
  readonly maxUnackedBytes: number;
  /** Age of the oldest unacknowledged event past which Kafka counts as stalled (not ready). */
  readonly stallMs: number;
  readonly registry: Registry;
  readonly log: Logger;
  /** Monotonic clock in ms; tests pass their own. */
  readonly now?: () => number;
}

/** What the writer needs of a producer: lib/kafka/rdkafka.ts's RecordProducer, or a test double. */
export interface PacketEventSink {
  /** Resolves when the record is acknowledged (acks=all); rejects only if it never will be. */
  send(record: RecordToSend): Promise<unknown>;
}

export type StoredCallback = (error?: Error) => void;

/** `publish`: PUBLISH events and any event a device waits for; `connection`: events nobody waits for. */
export type EventLane = 'publish' | 'connection';

/**
 * Counted per event on top of its key and value, so that the bound is about memory and small
 * events (PINGREQ, PUBACK) are not undercounted: about 700 bytes of JavaScript heap (this writer's
 * entry, the producer's delivery promise and pending entry, the callbacks; measured with
 * --expose-gc over 200,000 unacknowledged events) plus librdkafka's own record.
 */
export const recordOverheadBytes = 1024;

interface Unacknowledged {
  readonly bytes: number;
  readonly sentAt: number;
}

/** A connection event not handed to the producer yet. */
interface HeldEvent {
  readonly id: number;
  readonly record: RecordToSend;
}

export class PacketEventWriter {
  readonly #options: EventWriterOptions;
  readonly #now: () => number;
  readonly #holdMs: number;
  /** In send order (a Map iterates in insertion order): the first entry is the oldest. */
  readonly #unacked = new Map<number, Unacknowledged>();
  #nextId = 0;
  #unackedBytes = 0;
  #full = false;
  #fullSince = 0;
  #stalled = false;
  #fatal: Error | undefined;
  #drainWaiters: Array<() => void> = [];
  /** Per client id, in arrival order: connection events waiting for the hold to end. */
  readonly #held = new Map<string, HeldEvent[]>();
  #holdTimer: NodeJS.Timeout | undefined;
  #idleWaiters: Array<() => void> = [];
  readonly #ackSeconds: Histogram;
  readonly #acknowledged: Counter;
  readonly #failed: Counter;
  readonly #backpressureSeconds: Counter;

  constructor(options: EventWriterOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#holdMs = options.connectionEventsHoldMs ?? 0;
    const registers = [options.registry];
    this.#ackSeconds = new Histogram({
      name: 'sentinel_ingest_kafka_ack_seconds',
      help: 'Time from an event handed to the producer to its acks=all acknowledgement by Kafka',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#acknowledged = new Counter({
      name: 'sentinel_ingest_kafka_events_total',
      help: 'Packet events acknowledged by Kafka',
      registers,
    });
    this.#failed = new Counter({
      name: 'sentinel_ingest_kafka_failed_total',
      help: 'Packet events Kafka will never acknowledge (producer failed for good, or closed at shutdown); no PUBACK was sent for them',
      registers,
    });
    this.#backpressureSeconds = new Counter({
      name: 'sentinel_ingest_kafka_backpressure_seconds_total',
      help: 'Time the proxy held more than SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES and did not read from devices',
      registers,
    });
    const writer = this;
    new Gauge({
      name: 'sentinel_ingest_kafka_up',
      help: '1 while the oldest packet event waiting for Kafka is younger than SENTINEL_INGEST_KAFKA_STALL_MS (or none waits); 0 while Kafka stalls or the producer failed',
      registers,
      collect() {
        this.set(writer.kafkaUp ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sentinel_ingest_kafka_oldest_unacked_seconds',
      help: 'Age of the oldest packet event sent to Kafka and not acknowledged yet; 0 when none waits',
      registers,
      collect() {
        this.set(writer.oldestUnackedMs / 1000);
      },
    });
    new Gauge({
      name: 'sentinel_ingest_kafka_buffered_bytes',
      help: 'Bytes of packet events sent to Kafka and not acknowledged yet (key, value and a fixed per-event overhead), bounded by SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES',
      registers,
      collect() {
        this.set(writer.#unackedBytes);
      },
    });
    new Gauge({
      name: 'sentinel_ingest_kafka_unacked_events',
      help: 'Packet events sent to Kafka and not acknowledged yet',
      registers,
      collect() {
        this.set(writer.#unacked.size);
      },
    });
    new Gauge({
      name: 'sentinel_ingest_kafka_backpressure',
      help: '1 while the proxy holds more than SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES and does not read from devices',
      registers,
      collect() {
        this.set(writer.#full ? 1 : 0);
      },
    });
  }

  /** The producer failed for good: nothing sent from now on is acknowledged. */
  failed(err: Error): void {
    if (this.#fatal) return;
    this.#fatal = err;
    this.#options.log.fatal(
      { err, unacknowledged: this.#unacked.size },
      'the Kafka producer failed for good: no packet event is acknowledged any more, so no PUBACK is sent; restart the proxy',
    );
  }

  get unackedBytes(): number {
    return this.#unackedBytes;
  }

  get unackedEvents(): number {
    return this.#unacked.size;
  }

  /** How long the oldest unacknowledged event has waited (ms); 0 when none waits. */
  get oldestUnackedMs(): number {
    const oldest = this.#unacked.values().next();
    return oldest.done ? 0 : Math.max(0, this.#now() - oldest.value.sentAt);
  }

  /**
   * Kafka keeps up: the oldest unacknowledged event is younger than the stall threshold (an idle
   * proxy has nothing waiting, so it counts as up). Read by /readyz and the metric.
   */
  get kafkaUp(): boolean {
    if (this.#fatal) return false;
    return !this.#checkStall();
  }

  /** Whether Kafka stalls now; logs when that changes (noticed on a readiness probe, a scrape or an ack). */
  #checkStall(): boolean {
    const oldestMs = this.oldestUnackedMs;
    const stalled = oldestMs >= this.#options.stallMs;
    if (stalled !== this.#stalled) {
      const state = { oldestUnackedMs: Math.round(oldestMs), unacknowledged: this.#unacked.size };
      if (stalled)
        this.#options.log.error(
          state,
          'Kafka stalls: packet events wait unacknowledged, PUBACKs are withheld',
        );
      else this.#options.log.info(state, 'Kafka acknowledges packet events again');
      this.#stalled = stalled;
    }
    return stalled;
  }

  /**
   * Sends one encoded event, keyed by client id (one partition per client: per-client order
   * within its lane). Returns false when the unacknowledged bytes are over the bound: the event is
   * still sent (nothing is dropped), and the caller should stop reading until onDrain.
   */
  write(key: string, value: Buffer, onStored?: StoredCallback, lane: EventLane = 'publish'): boolean {
    const id = this.#nextId++;
    const bytes = key.length + value.length + recordOverheadBytes;
    const sentAt = this.#now();
    this.#unacked.set(id, { bytes, sentAt });
    this.#unackedBytes += bytes;
    const record = { topic: this.#options.topic, key, value };
    if (lane === 'connection' && !onStored && this.#holdMs > 0) {
      const held = this.#held.get(key);
      if (held) held.push({ id, record });
      else this.#held.set(key, [{ id, record }]);
      this.#holdTimer ??= setTimeout(() => this.#releaseHeld(), this.#holdMs);
    } else {
      // The client's held events go first: the partition keeps its order.
      const held = this.#held.get(key);
      if (held) {
        this.#held.delete(key);
        for (const event of held) this.#send(event.id, event.record);
      }
      this.#send(id, record, onStored);
    }
    if (!this.#full && this.#unackedBytes > this.#options.maxUnackedBytes) {
      this.#full = true;
      this.#fullSince = this.#now();
      this.#options.log.warn(
        { unackedBytes: this.#unackedBytes, unacknowledged: this.#unacked.size },
        'Kafka is behind: no longer reading from devices until it catches up',
      );
    }
    return !this.#full;
  }

  /** Resolves when the unacknowledged bytes are back under half their bound. */
  onDrain(): Promise<void> {
    if (!this.#full) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Waits until Kafka acknowledged every event sent so far, or `timeoutMs` passed (shutdown).
   * Returns how many are still unacknowledged.
   */
  async flush(timeoutMs: number): Promise<number> {
    this.#releaseHeld();
    if (this.#unacked.size === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#idleWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.#unacked.size;
  }

  #send(id: number, record: RecordToSend, onStored?: StoredCallback): void {
    this.#options.producer.send(record).then(
      () => this.#settled(id, undefined, onStored),
      (err: unknown) => this.#settled(id, err instanceof Error ? err : new Error(String(err)), onStored),
    );
  }

  /** The hold is over (or the proxy shuts down): every held connection event goes to the producer. */
  #releaseHeld(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    for (const held of this.#held.values()) for (const event of held) this.#send(event.id, event.record);
    this.#held.clear();
  }

  #settled(id: number, error: Error | undefined, onStored: StoredCallback | undefined): void {
    const entry = this.#unacked.get(id);
    if (!entry) return;
    this.#unacked.delete(id);
    this.#unackedBytes -= entry.bytes;
    const now = this.#now();
    if (error) {
      this.#failed.inc();
    } else {
      this.#acknowledged.inc();
      this.#ackSeconds.observe((now - entry.sentAt) / 1000);
      if (this.#stalled) this.#checkStall();
    }
    onStored?.(error);
    if (this.#full && this.#unackedBytes <= this.#options.maxUnackedBytes / 2) {
      this.#full = false;
      this.#backpressureSeconds.inc((now - this.#fullSince) / 1000);
      this.#options.log.info(
        { pausedMs: Math.round(now - this.#fullSince) },
        'Kafka caught up: reading from devices again',
      );
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
    if (this.#unacked.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
