import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TopicNames } from '../lib/kafka/topics.js';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import { type SinkRole, sinkTables } from './ddl.js';
import { deliveryRow, packetRow, type Row, sinkColumns, verdictRow } from './rows.js';

/**
 * sentinel.packets, sentinel.verdicts, sentinel.deliveries -> ClickHouse, each record once.
 *
 * Per topic partition the sink gathers rows until a batch is full (rows) or old enough (ms), inserts
 * it, and only then commits the Kafka offset past it. Three layers keep a record from being stored
 * twice when the process dies between the insert and the commit, or a rebalance moves a partition:
 *
 *  1. Resume point from the store: before it takes rows of a partition, the sink asks the table for
 *     the highest Kafka offset it holds for that partition and skips everything up to it. A batch
 *     that was inserted but not committed is re-read from Kafka and skipped, not inserted again.
 *  2. Insert deduplication tokens `<topic>/<partition>/<first>-<last>`: a batch whose insert
 *     outcome is unknown (timeout, broken connection) is retried with the same rows and the same
 *     token, and the engine drops it if the first attempt landed.
 *  3. ReplacingMergeTree keyed by the Kafka coordinates: whatever still arrives twice (two owners
 *     racing through a rebalance) collapses at merge, and FINAL reads never count it twice.
 */
export interface SinkMetrics {
  readonly rowsInserted: Counter<'table'>;
  readonly insertDuration: Histogram<'table'>;
  readonly batchRows: Histogram<'table'>;
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly errors: Counter<'kind'>;
  readonly assignedPartitions: Gauge;
}

export function createSinkMetrics(registry: Registry): SinkMetrics {
  const registers = [registry];
  return {
    rowsInserted: new Counter({
      name: 'sentinel_forensics_rows_inserted_total',
      help: 'rows inserted into the forensic store, by table',
      labelNames: ['table'],
      registers,
    }),
    insertDuration: new Histogram({
      name: 'sentinel_forensics_batch_insert_duration_seconds',
      help: 'time one batch insert took, retries included, by table',
      labelNames: ['table'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    batchRows: new Histogram({
      name: 'sentinel_forensics_batch_rows',
      help: 'rows per inserted batch, by table',
      labelNames: ['table'],
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000],
      registers,
    }),
    lag: new Gauge({
      name: 'sentinel_forensics_sink_lag',
      help: 'records between the committed position and the high watermark, per topic role and partition',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    errors: new Counter({
      name: 'sentinel_forensics_errors_total',
      help: 'sink errors by kind: decode (record skipped), insert (batch retried), commit (offset retried later), resume (store not answering)',
      labelNames: ['kind'],
      registers,
    }),
    assignedPartitions: new Gauge({
      name: 'sentinel_forensics_assigned_partitions',
      help: 'topic partitions this instance consumes',
      registers,
    }),
  };
}

export function batchToken(topic: string, partition: number, first: bigint, last: bigint): string {
  return `${topic}/${partition}/${first}-${last}`;
}

/** One batch into one table with its deduplication token (tests call it directly to show the token works). */
export async function insertBatch(
  store: ClickHouseClient,
  table: string,
  columns: readonly string[],
  rows: readonly Row[],
  token: string,
): Promise<void> {
  await store.insert({
    table,
    columns: columns as [string, ...string[]],
    // Rows are value lists in column order (forensics/rows.ts); @clickhouse/client only reads them.
    values: rows as unknown as unknown[][],
    format: 'JSONCompactEachRow',
    // The rollup view sees a block only if the table did: a replayed batch is not counted twice.
    clickhouse_settings: {
      insert_deduplicate: 1,
      insert_deduplication_token: token,
      deduplicate_blocks_in_dependent_materialized_views: 1,
    },
  });
}

export interface ForensicSinkOptions {
  readonly kafka: Kafka;
  readonly catalog: SchemaCatalog;
  readonly topics: TopicNames;
  readonly store: ClickHouseClient;
  readonly database: string;
  readonly groupId: string;
  readonly batchRows: number;
  readonly batchMaxMs: number;
  readonly concurrency: number;
  readonly sessionTimeoutMs: number;
  readonly metrics: SinkMetrics;
  readonly log: Logger;
  /** Called after each successful insert, before its offsets are committed (a test crashes here). */
  readonly afterInsert?: (inserts: number) => void;
  readonly onFatal?: (err: Error) => void;
}

interface PartitionBuffer {
  readonly topic: string;
  readonly role: SinkRole;
  readonly partition: number;
  rows: Row[];
  first: bigint | null;
  last: bigint;
  openedAt: number;
  /** Offset to commit once the rows in hand are stored. */
  commitTo: bigint | null;
  committed: bigint | null;
  /** Highest offset of this partition the table holds; undefined = ask the store first. */
  storedUpTo: bigint | undefined;
  /** Serialises batches, timed flushes and resets of this partition. */
  lock: Promise<void>;
}

const insertAttempts = 5;

export class ForensicSink {
  private readonly o: ForensicSinkOptions;
  private consumer: Consumer | null = null;
  private readonly buffers = new Map<string, PartitionBuffer>();
  private readonly roles: Map<string, SinkRole>;
  private timer: NodeJS.Timeout | null = null;
  private inserts = 0;
  private joined = false;
  private stopping = false;
  private failed: Error | null = null;

  constructor(options: ForensicSinkOptions) {
    this.o = options;
    this.roles = new Map<string, SinkRole>([
      [options.topics.packets, 'packets'],
      [options.topics.verdicts, 'verdicts'],
      [options.topics.deliveries, 'deliveries'],
    ]);
  }

  async start(): Promise<void> {
    const o = this.o;
    const consumer = o.kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(o.sessionTimeoutMs / 6)),
      // Verdicts are written in transactions: only committed ones are evidence.
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxWaitTimeInMs: Math.min(500, o.batchMaxMs),
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.joined = true;
      this.onAssignment(payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      o.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
      if (!payload.restart) {
        this.failed = payload.error;
        o.onFatal?.(payload.error);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.roles.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.concurrency,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.timer = setInterval(() => this.flushAged(), Math.max(10, Math.floor(o.batchMaxMs / 2)));
  }

  isReady(): boolean {
    return this.joined && this.failed === null && !this.stopping;
  }

  /** Inserts and commits what is in hand, then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all(
      [...this.buffers.values()].map((buffer) =>
        this.exclusive(buffer, () => this.flush(buffer)).catch((err: unknown) =>
          this.o.log.warn({ err, topic: buffer.topic, partition: buffer.partition }, 'final flush failed'),
        ),
      ),
    );
    await this.consumer?.disconnect();
  }

  private key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  private bufferFor(topic: string, partition: number): PartitionBuffer {
    const key = this.key(topic, partition);
    let buffer = this.buffers.get(key);
    if (!buffer) {
      buffer = {
        topic,
        role: this.roles.get(topic) as SinkRole,
        partition,
        rows: [],
        first: null,
        last: -1n,
        openedAt: 0,
        commitTo: null,
        committed: null,
        storedUpTo: undefined,
        lock: Promise.resolve(),
      };
      this.buffers.set(key, buffer);
    }
    return buffer;
  }

  private exclusive<T>(buffer: PartitionBuffer, work: () => Promise<T>): Promise<T> {
    const run = buffer.lock.then(work);
    buffer.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * After a rejoin kafkajs fetches every partition again from its committed offset, and another
   * instance may have stored rows meanwhile: rows in hand are dropped and resume points re-read.
   */
  private onAssignment(assignment: Record<string, number[]>): void {
    const assigned = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const p of partitions) assigned.add(this.key(topic, p));
    }
    this.o.metrics.assignedPartitions.set(assigned.size);
    for (const [key, buffer] of this.buffers) {
      void this.exclusive(buffer, async () => {
        buffer.rows = [];
        buffer.first = null;
        buffer.openedAt = 0;
        buffer.commitTo = null;
        buffer.committed = null;
        buffer.storedUpTo = undefined;
      });
      if (!assigned.has(key)) {
        this.buffers.delete(key);
        this.o.metrics.lag.remove({ topic: buffer.role, partition: String(buffer.partition) });
      }
    }
    this.o.log.info({ partitions: assigned.size }, 'partitions assigned');
  }

  private async storedUpTo(buffer: PartitionBuffer): Promise<bigint> {
    const result = await this.o.store.query({
      query: `SELECT count() AS n, max(kafka_offset) AS m FROM ${this.o.database}.${sinkTables[buffer.role]} WHERE kafka_partition = {p:UInt16}`,
      query_params: { p: buffer.partition },
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ n: string; m: string }>();
    return row && Number(row.n) > 0 ? BigInt(row.m) : -1n;
  }

  private async toRow(buffer: PartitionBuffer, message: KafkaMessage): Promise<Row | null> {
    const at = { partition: buffer.partition, offset: Number(message.offset) };
    try {
      if (message.value === null) throw new Error('record has no value');
      const { catalog } = this.o;
      switch (buffer.role) {
        case 'packets':
          return packetRow(await catalog.decode('packets', message.value), at);
        case 'verdicts':
          return verdictRow(await catalog.decode('verdicts', message.value), at);
        case 'deliveries':
          return deliveryRow(await catalog.decode('deliveries', message.value), at);
      }
    } catch (err) {
      // A record that cannot be decoded is evidence of something, but not a row: count, log, go on.
      this.o.metrics.errors.inc({ kind: 'decode' });
      this.o.log.warn({ err, topic: buffer.topic, ...at }, 'record skipped: cannot decode');
      return null;
    }
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    if (this.stopping || !this.roles.has(batch.topic)) return;
    const buffer = this.bufferFor(batch.topic, batch.partition);
    await this.exclusive(buffer, async () => {
      if (buffer.storedUpTo === undefined) {
        try {
          buffer.storedUpTo = await this.storedUpTo(buffer);
        } catch (err) {
          this.o.metrics.errors.inc({ kind: 'resume' });
          this.o.log.error({ err, topic: batch.topic, partition: batch.partition }, 'store does not answer');
          await sleep(1000);
          return;
        }
      }
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || this.stopping) return;
        const offset = BigInt(message.offset);
        // Beyond what the table holds and what is in hand (a fetch may repeat records after a seek).
        if (offset > buffer.storedUpTo && (buffer.first === null || offset > buffer.last)) {
          const row = await this.toRow(buffer, message);
          if (row) {
            buffer.rows.push(row);
            buffer.first ??= offset;
            buffer.last = offset;
            if (buffer.openedAt === 0) buffer.openedAt = Date.now();
          }
        }
        buffer.commitTo = offset + 1n;
        resolveOffset(message.offset);
        if (buffer.rows.length >= this.o.batchRows && !(await this.flush(buffer))) return;
      }
      // Past the last record, also past the transaction markers that end the fetched range.
      buffer.commitTo = BigInt(batch.lastOffset()) + 1n;
      resolveOffset(batch.lastOffset());
      const lag = BigInt(batch.highWatermark) - buffer.commitTo;
      this.o.metrics.lag.set(
        { topic: buffer.role, partition: String(buffer.partition) },
        Number(lag < 0n ? 0n : lag),
      );
      if (buffer.rows.length === 0 || Date.now() - buffer.openedAt >= this.o.batchMaxMs)
        await this.flush(buffer);
      await heartbeat();
    });
  }

  private flushAged(): void {
    const now = Date.now();
    for (const buffer of this.buffers.values()) {
      if (buffer.rows.length > 0 && now - buffer.openedAt >= this.o.batchMaxMs) {
        void this.exclusive(buffer, async () => {
          if (buffer.rows.length > 0 && Date.now() - buffer.openedAt >= this.o.batchMaxMs) {
            await this.flush(buffer);
          }
        });
      }
    }
  }

  /** Inserts the rows in hand, then commits; false when the insert failed and the partition was rewound. */
  private async flush(buffer: PartitionBuffer): Promise<boolean> {
    const o = this.o;
    const table = sinkTables[buffer.role];
    if (buffer.rows.length > 0 && buffer.first !== null) {
      const token = batchToken(buffer.topic, buffer.partition, buffer.first, buffer.last);
      const started = performance.now();
      let inserted = false;
      for (let attempt = 1; attempt <= insertAttempts && !inserted; attempt += 1) {
        try {
          await insertBatch(o.store, `${o.database}.${table}`, sinkColumns[buffer.role], buffer.rows, token);
          inserted = true;
        } catch (err) {
          o.metrics.errors.inc({ kind: 'insert' });
          o.log.warn({ err, table, token, attempt }, 'batch insert failed; retrying with the same token');
          if (attempt < insertAttempts) await sleep(Math.min(5000, 200 * 2 ** attempt));
        }
      }
      if (!inserted) {
        // Give the rows back to Kafka: read again from the first one once the store answers.
        o.log.error({ table, token }, 'batch not stored; rewinding the partition');
        const first = buffer.first;
        buffer.rows = [];
        buffer.first = null;
        buffer.openedAt = 0;
        buffer.commitTo = null;
        buffer.storedUpTo = undefined;
        this.consumer?.seek({ topic: buffer.topic, partition: buffer.partition, offset: String(first) });
        return false;
      }
      o.metrics.insertDuration.observe({ table }, (performance.now() - started) / 1000);
      o.metrics.rowsInserted.inc({ table }, buffer.rows.length);
      o.metrics.batchRows.observe({ table }, buffer.rows.length);
      buffer.storedUpTo = buffer.last;
      buffer.rows = [];
      buffer.first = null;
      buffer.openedAt = 0;
      this.inserts += 1;
      o.afterInsert?.(this.inserts);
    }
    if (buffer.commitTo !== null && buffer.commitTo !== buffer.committed && this.consumer) {
      try {
        await this.consumer.commitOffsets([
          { topic: buffer.topic, partition: buffer.partition, offset: String(buffer.commitTo) },
        ]);
        buffer.committed = buffer.commitTo;
      } catch (err) {
        // The rows are stored; a later flush commits again, or the next owner resumes after them.
        o.metrics.errors.inc({ kind: 'commit' });
        o.log.warn({ err, topic: buffer.topic, partition: buffer.partition }, 'offset commit failed');
      }
    }
    return true;
  }
}
