import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import hdr from 'hdr-histogram-js';
import { type Logger, pino } from 'pino';
import { describeError } from '../lib/errors.js';
import { createKafka } from '../lib/kafka/client.js';
import { BatchConsumer, RecordProducer } from '../lib/kafka/rdkafka.js';
import { createServedTopics, topicMinInsyncReplicas, topicReplicationFactor } from '../lib/kafka/topics.js';
import { kafkaBootstrap, type StackConfig } from '../lib/local-platform.js';

/**
 * Traffic through brokers that have just started, until they answer at their warm latency, before
 * the stack says it is up. A broker JVM compiles its request paths only once traffic runs them:
 * measured here (docs/performance.md, "Cold brokers"), a two-hop relay at 100 msg/s had a P99 of
 * 1-3 s for the first 90-120 s of traffic and 30-40 ms after, and 150 s of idling first changed
 * nothing. Without this, whatever a user measures first after `npm start` measures the JIT.
 *
 * One hop (idempotent acks=all producer -> read_committed batch consumer, the pipeline's clients)
 * on a topic of its own, at `rate` records/s, with a transaction a second beside it (the
 * processors' checkpoint), judged in windows of `windowMs`: warm after three windows in a row
 * whose P99 is at most `targetP99Ms` (`windowsInARow`), or given up at `maxSeconds` (said, not an error: the stack
 * works cold, only slower; closing takes a few seconds more). Its topics and group are deleted at
 * the end, also on failure.
 */
export interface WarmupOptions {
  readonly brokers: readonly string[];
  readonly topicPrefix: string;
  readonly partitions: number;
  readonly maxSeconds: number;
  readonly rate?: number;
  readonly targetP99Ms?: number;
  readonly windowMs?: number;
}

export interface WarmupReport {
  readonly warm: boolean;
  readonly seconds: number;
  readonly records: number;
  /** P99 of each window in ms, oldest first; null for a window in which no record arrived. */
  readonly windowP99Ms: readonly (number | null)[];
  /**
   * What the Kafka clients warned of meanwhile (a lost group session, a broker unreachable), each
   * once, the first few: what to look at when a window stayed empty.
   */
  readonly clientWarnings: readonly string[];
}

const clientWarningsKept = 5;
const checkpointEveryMs = 1000;
const commitEveryMs = 100;
const closeWaitMs = 5000;

/**
 * A transaction of one record, committed, on a topic of its own: the processors' checkpoint without
 * its offsets. On the measured topic an open transaction would hold back the records behind it from
 * a read_committed consumer, which the pipeline's own topics never do.
 */
async function checkpoint(producer: RecordProducer, topic: string): Promise<void> {
  await producer.beginTransaction();
  try {
    const sent = producer.send({ topic, key: 'checkpoint', value: null });
    // An abort purges the record and rejects its promise: handled here, awaited below.
    sent.catch(() => undefined);
    await producer.commitTransaction();
    await sent;
  } catch (err) {
    await producer.abortTransaction().catch(() => undefined);
    throw err;
  }
}

/**
 * A logger for Kafka clients that keeps what they warn of (message, and the error's text where
 * there is one), each once, at most `kept`.
 */
export function collectClientWarnings(kept: number): { logger: Logger; warnings: Set<string> } {
  const warnings = new Set<string>();
  const logger = pino(
    { level: 'warn' },
    {
      write(line: string) {
        // librdkafka's errors come as `err`, kafkajs's as `kafka.error` (lib/kafka/client.ts).
        const { msg, err, kafka } = JSON.parse(line) as {
          msg?: string;
          err?: unknown;
          kafka?: { error?: unknown };
        };
        const detail =
          typeof err === 'string' ? err : typeof kafka?.error === 'string' ? kafka.error : undefined;
        const said = [msg, detail].filter(Boolean).join(': ');
        if (said && warnings.size < kept) warnings.add(said);
      },
    },
  );
  return { logger, warnings };
}

/** One good window can be luck on a shared box; three in a row were not, in the runs measured. */
const windowsInARow = 3;

export async function warmBrokers(options: WarmupOptions): Promise<WarmupReport> {
  const rate = options.rate ?? 250;
  const targetP99Ms = options.targetP99Ms ?? 50;
  const windowMs = options.windowMs ?? 5000;
  const name = `${options.topicPrefix}warmup-${randomUUID().slice(0, 8)}`;
  const { logger, warnings: clientWarnings } = collectClientWarnings(clientWarningsKept);
  const connection = { brokers: options.brokers, clientId: 'sentinel-warmup', logger };
  const admin = createKafka({ ...connection, retries: 5 }).admin();
  await admin.connect();
  const producer = new RecordProducer({ connection });
  // The processors checkpoint in a transaction every second, and every consumer of the pipeline
  // reads committed records only: the brokers' transaction and read_committed paths are warmed too.
  // The brokers keep a transactional id's state for days (transactional.id.expiration.ms), so
  // `stack up` reuses one per prefix; tests, each with a prefix of their own, leave theirs to expire.
  const checkpointTopic = `${name}-checkpoints`;
  const checkpoints = new RecordProducer({
    connection,
    transactionalId: `${options.topicPrefix}warmup-checkpoints`,
    lingerMs: 0,
  });
  const consumer = new BatchConsumer({
    connection,
    groupId: name,
    topics: [name],
    start: 'earliest',
    fetchWaitMs: 100,
  });
  const began = Date.now();
  const windowP99Ms: (number | null)[] = [];
  let records = 0;
  let consuming: Promise<void> | undefined;
  let stopCommitting = () => {};
  let checkpointing: Promise<void> | undefined;
  try {
    const topicConfig = {
      numPartitions: options.partitions,
      replicationFactor: topicReplicationFactor,
      configEntries: [
        { name: 'min.insync.replicas', value: String(topicMinInsyncReplicas) },
        { name: 'retention.ms', value: '60000' },
      ],
    };
    await createServedTopics(admin, [
      { topic: name, ...topicConfig },
      { topic: checkpointTopic, ...topicConfig },
    ]);
    await Promise.all([producer.connect(), checkpoints.connect(), consumer.connect()]);
    await checkpoints.initTransactions();
    const window = hdr.build({ useWebAssembly: false });
    const uncommitted = new Map<number, number>();
    consuming = consumer.run((batch) => {
      const now = Date.now();
      for (const record of batch) {
        if (record.value) window.recordValue(Math.max(0, now - record.value.readDoubleBE(0)));
        uncommitted.set(record.partition, Number(record.offset) + 1);
      }
    }, 100);
    // Offsets are committed as the bridge commits them, every 100 ms (the group coordinator's paths
    // are warmed too). A commit per batch (about 100/s) queued the group's heartbeats behind commits
    // that cold brokers took seconds to replicate: the consumer's session timed out and the group
    // stalled for 10 s.
    const commitTimer = setInterval(() => {
      if (uncommitted.size === 0) return;
      const offsets = [...uncommitted].map(([partition, offset]) => ({ topic: name, partition, offset }));
      uncommitted.clear();
      try {
        consumer.commit(offsets);
      } catch (err) {
        // A refused commit only warms less; it must not end `stack up` from a timer.
        logger.warn({ err: describeError(err) }, 'warm-up offset commit refused');
      }
    }, commitEveryMs);
    stopCommitting = () => clearInterval(commitTimer);

    const deadline = began + options.maxSeconds * 1000;
    const perTick = Math.max(1, Math.round(rate / 100));
    let windowEnds = Date.now() + windowMs;
    let warmWindows = 0;
    let nextCheckpoint = Date.now() + checkpointEveryMs;
    while (Date.now() < deadline && warmWindows < windowsInARow) {
      if (checkpointing === undefined && Date.now() >= nextCheckpoint) {
        nextCheckpoint = Date.now() + checkpointEveryMs;
        // One at a time (a slow one is not queued behind); a failed one only warms less.
        checkpointing = checkpoint(checkpoints, checkpointTopic)
          .catch(() => undefined)
          .finally(() => {
            checkpointing = undefined;
          });
      }
      for (let i = 0; i < perTick; i++) {
        const value = Buffer.alloc(100);
        value.writeDoubleBE(Date.now(), 0);
        // A failed record only leaves a gap in the figures; librdkafka retries on its own.
        producer.send({ topic: name, key: `k${records++ % 64}`, value }).catch(() => undefined);
      }
      await sleep(10);
      if (Date.now() >= windowEnds) {
        const measured = window.totalCount > 0 ? window.getValueAtPercentile(99) : null;
        window.reset();
        windowP99Ms.push(measured);
        warmWindows = measured !== null && measured <= targetP99Ms ? warmWindows + 1 : 0;
        windowEnds = Date.now() + windowMs;
      }
    }
    return {
      warm: warmWindows >= windowsInARow,
      seconds: (Date.now() - began) / 1000,
      records,
      windowP99Ms,
      clientWarnings: [...clientWarnings],
    };
  } finally {
    stopCommitting();
    // Closing is bounded too: a checkpoint stuck on unresponsive brokers is not waited out.
    await Promise.race([checkpointing, sleep(closeWaitMs)]);
    await producer.disconnect(closeWaitMs).catch(() => undefined);
    await checkpoints.disconnect(closeWaitMs).catch(() => undefined);
    await consumer.disconnect(closeWaitMs).catch(() => undefined);
    await consuming?.catch(() => undefined);
    await admin.deleteGroups([name]).catch(() => undefined);
    await admin.deleteTopics({ topics: [name, checkpointTopic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/**
 * `stack up`'s step: warms brokers this start launched (`started` names what it launched; brokers
 * already running are warm or warming) unless the setting is 0, and says how it went. The stack
 * works cold, only slower, so a warm-up that runs out or fails is a warning, never a failed start.
 */
export async function warmLaunchedBrokers(
  config: StackConfig,
  started: readonly string[],
  log: (line: string) => void,
): Promise<void> {
  if (config.kafkaWarmupSeconds <= 0 || !started.some((name) => name.startsWith('kafka-'))) return;
  log(`warming the brokers (at most ${config.kafkaWarmupSeconds} s; SENTINEL_KAFKA_WARMUP_SECONDS)`);
  let report: WarmupReport;
  try {
    report = await warmBrokers({
      brokers: kafkaBootstrap(config),
      topicPrefix: config.topicPrefix,
      partitions: config.kafkaPartitions,
      maxSeconds: config.kafkaWarmupSeconds,
    });
  } catch (err) {
    log(`warning: brokers not warmed (${describeError(err)}); the first minutes of traffic will be slower`);
    return;
  }
  const windows = report.windowP99Ms.map((ms) => ms ?? '-').join(' ');
  for (const warning of report.clientWarnings) log(`warm-up: the Kafka client warned: ${warning}`);
  log(
    report.warm
      ? `brokers warm after ${Math.round(report.seconds)} s (${report.records} records; P99 per 5 s: ${windows} ms)`
      : `warning: brokers still cold after ${Math.round(report.seconds)} s (P99 per 5 s: ${windows} ms); the first minutes of traffic will be slower`,
  );
}
