/**
 * One hop of the bare Kafka relay that is the pipeline's floor (bench/floor.bench.ts), in a process
 * of its own so that each end has its own event loop, as the pipeline's services do. With the same
 * client and settings as the pipeline (lib/kafka/rdkafka.ts: idempotent acks=all producer with its
 * default linger, batch consumer with the fetch wait it is given), and nothing else: no inspection, no
 * transactions, no schema.
 *
 *  - source: produces the benchmark messages on a schedule (message i is due at start + i / rate,
 *    whatever happened to message i - 1, and carries that time: no coordinated omission);
 *  - relay: consumes topic A and produces each record, key and value unchanged, to topic B;
 *    commits what B acknowledged, never waiting for it before the next fetch;
 *  - sink: consumes topic B and counts arrivals (bench/lib/arrivals.ts).
 */

import { BatchConsumer, type CommitOffset, RecordProducer } from '../../lib/kafka/rdkafka.js';
import { createLogger } from '../../lib/log.js';
import { ArrivalLog } from '../lib/arrivals.js';
import { serveBenchRequests } from '../lib/child.js';
import { encodeHistogram, latencyHistogram, monotonicMicros, recordMicros } from '../lib/histogram.js';
import { benchPayload } from '../lib/payload.js';

export interface HopConnect {
  readonly role: 'source' | 'relay' | 'sink';
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** relay, sink: the topic consumed, and the group that consumes it. */
  readonly from?: string;
  readonly groupId?: string;
  /** source, relay: the topic produced to. */
  readonly to?: string;
  /** Partitions of `from`: a consumer is ready once it owns all of them. */
  readonly partitions: number;
  readonly fetchWaitMs: number;
}

export interface HopRun {
  readonly run: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
  /** Monotonic microseconds at which message 0 is due. */
  readonly startAtUs: number;
  /** Records are keyed `k0` .. `k<keys-1>` round-robin, spread over the partitions by murmur2 like client ids. */
  readonly keys: number;
}

export interface HopRunResult {
  readonly sent: number;
  readonly acked: number;
  readonly failed: number;
  readonly maxBehindMs: number;
  /** Scheduled time -> acknowledged by the in-sync replicas, encoded HdrHistogram. */
  readonly ack: string;
}

export interface HopStats {
  readonly relayed: number;
  readonly relayFailed: number;
}

/** Records a producer may hold unacknowledged before the sender waits: far above any rate here. */
const maxInFlight = 200_000;

const log = createLogger({ name: 'bench-kafka-hop', level: 'warn', destination: 2 });
const arrivals = new ArrivalLog();
let producer: RecordProducer | null = null;
let consumer: BatchConsumer | null = null;
let loop: Promise<void> | null = null;
let relayed = 0;
let relayFailed = 0;

async function waitForAssignment(c: BatchConsumer, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (c.assignment(topic).length < partitions) {
    if (Date.now() > deadline)
      throw new Error(`${topic}: owns ${c.assignment(topic).length} of ${partitions} partitions after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function connect(spec: HopConnect): Promise<{ ready: true }> {
  const connection = { brokers: spec.brokers, clientId: spec.clientId, logger: log };
  if (spec.role !== 'sink') {
    producer = new RecordProducer({ connection });
    await producer.connect();
  }
  if (spec.role === 'source') return { ready: true };
  if (!spec.from || !spec.groupId) throw new Error(`${spec.role}: needs from and groupId`);
  const c = new BatchConsumer({
    connection,
    groupId: spec.groupId,
    topics: [spec.from],
    start: 'earliest',
    fetchWaitMs: spec.fetchWaitMs,
  });
  consumer = c;
  await c.connect();
  if (spec.role === 'sink') {
    loop = c.run((records) => {
      const now = monotonicMicros();
      for (const record of records) if (record.value) arrivals.record(record.value, now);
    });
  } else {
    const to = spec.to;
    const p = producer;
    if (!to || !p) throw new Error('relay: needs to');
    // Per partition of `from`, the highest offset committed: acknowledgements of two batches may
    // come back in either order, and a commit must never move back.
    const committed = new Map<number, number>();
    loop = c.run((records) => {
      const sends = records.map((record) =>
        p.send({ topic: to, value: record.value ?? Buffer.alloc(0), key: record.key ?? null }),
      );
      const next = new Map<number, number>();
      for (const record of records) next.set(record.partition, record.offset + 1);
      const acknowledged = Promise.all(sends).then(
        () => {
          relayed += sends.length;
          const offsets: CommitOffset[] = [];
          for (const [partition, offset] of next) {
            if ((committed.get(partition) ?? -1) >= offset) continue;
            committed.set(partition, offset);
            offsets.push({ topic: spec.from!, partition, offset });
          }
          c.commit(offsets);
        },
        (err: unknown) => {
          relayFailed += sends.length;
          log.error({ err }, 'relay: produce failed');
        },
      );
      // The next fetch does not wait for these acknowledgements, unless far too many are pending.
      return p.inFlight > maxInFlight ? acknowledged : undefined;
    });
  }
  loop.catch((err: unknown) => log.error({ err }, `${spec.role}: consumer stopped`));
  await waitForAssignment(c, spec.from, spec.partitions);
  return { ready: true };
}

function run(spec: HopRun & { readonly to: string }): Promise<HopRunResult> {
  const p = producer;
  if (!p) return Promise.reject(new Error('run: not connected as source'));
  const total = Math.round((spec.rate * spec.durationMs) / 1000);
  const intervalUs = 1e6 / spec.rate;
  const ack = latencyHistogram();
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let maxBehindUs = 0;
  return new Promise((resolve) => {
    const finish = () =>
      resolve({
        sent,
        acked,
        failed,
        maxBehindMs: Math.round(maxBehindUs / 1000),
        ack: encodeHistogram(ack),
      });
    const settled = () => {
      if (sent === total && acked + failed === sent) finish();
    };
    const tick = () => {
      const now = monotonicMicros();
      const due = Math.min(total, Math.floor((now - spec.startAtUs) / intervalUs) + 1);
      while (sent < due && p.inFlight < maxInFlight) {
        const scheduledUs = spec.startAtUs + sent * intervalUs;
        p.send({
          topic: spec.to,
          key: `k${sent % spec.keys}`,
          value: benchPayload(spec.run, sent, scheduledUs, spec.payloadBytes),
        }).then(
          () => {
            recordMicros(ack, monotonicMicros() - scheduledUs);
            acked += 1;
            settled();
          },
          (err: unknown) => {
            failed += 1;
            log.error({ err }, 'source: produce failed');
            settled();
          },
        );
        sent += 1;
      }
      if (sent < total) {
        maxBehindUs = Math.max(maxBehindUs, now - (spec.startAtUs + sent * intervalUs));
        const untilNext = spec.startAtUs + sent * intervalUs - monotonicMicros();
        setTimeout(tick, Math.max(0, Math.min(50, untilNext / 1000)));
      } else settled();
    };
    setTimeout(tick, Math.max(0, (spec.startAtUs - monotonicMicros()) / 1000));
  });
}

serveBenchRequests({
  connect,
  run,
  expect: (spec: { run: string; expected: number }) => arrivals.expect(spec),
  report: (spec: { run: string; sent: number; quietMs: number }) => arrivals.report(spec),
  stats: (): HopStats => ({ relayed, relayFailed }),
  close: async () => {
    await consumer?.disconnect();
    await producer?.disconnect(5000);
    consumer = null;
    producer = null;
    await loop?.catch(() => undefined);
  },
});
