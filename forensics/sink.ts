import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { KafkaConnection } from '../lib/kafka/client.js';
import { BatchConsumer, type CommitOffset, type KafkaRecord } from '../lib/kafka/rdkafka.js';
import { ReplayWatermark } from '../lib/kafka/replays.js';
import type { TopicNames } from '../lib/kafka/topics.js';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import { type SinkRole, sinkTables } from './ddl.js';
import {
  decisionRow,
  deliveryRow,
  heldMessageRow,
  packetRow,
  type Row,
  sinkColumns,
  verdictRow,
} from './rows.js';

/**
 * sentinel.packets, sentinel.verdicts, sentinel.deliveries, sentinel.quarantine and
 * sentinel.quarantine.decisions -> ClickHouse, each record once and each verdict once per packet.
 *
 * One consumer (librdkafka) reads the five topics and hands over batches of whatever it fetched;
 * fetches wait for 64 KiB or 500 ms (forensics is not on the device-to-origin path). Rows gather per
 * table, across partitions, until a batch is full (rows) or old enough (ms); the batch is inserted
 * in one statement and only then are the offsets past it committed. Few large inserts are what
 * keeps the sink cheap: the engine runs in this process, and its cost per row falls about fourfold
 * from 100-row to 5000-row inserts (bench/forensics.bench.ts).
 *
 * What keeps a record from being stored twice when the process dies between an insert and its
 * commit, or a rebalance moves a partition:
 *
 *  1. Resume point from the store: before it takes rows of a partition (at start and after each
 *     assignment) the sink asks the table for the highest Kafka offset it holds for that partition
 *     and skips everything up to it. A batch inserted but not committed is re-read and skipped.
 *     Per partition the stored rows are always a prefix of its records: a table has at most one
 *     batch on its way to the store, and a failed one is retried (its partitions paused) before
 *     anything after it.
 *  2. Insert deduplication tokens `<topic>/<partition>:<first>-<last>,...`: an insert whose outcome
 *     is unknown is retried with the same rows and the same token, and the engine drops it if the
 *     first attempt landed.
 *  3. ReplacingMergeTree keyed by the Kafka coordinates: whatever still arrives twice (two owners
 *     racing through a rebalance) collapses at merge, and FINAL reads never count it twice.
 *
 * Replayed verdicts (issue 13): the processors write verdicts at once and checkpoint later, so after
 * a crash or rebalance a verdict is written again with the same packet reference, at a new offset,
 * where 1-3 do not see it. ReplayWatermark (lib/kafka/replays.ts) is the rule: per verdicts
 * partition and packets partition the highest packet offset accepted; a verdict at or below it is
 * skipped and counted. The watermarks are rebuilt from the rows (max packet_offset per
 * kafka_partition and packet_partition), not kept in the commit metadata: the rows are written
 * before the commit, so after a crash between the two the metadata would be behind the store, and
 * a replay of a verdict in the uncommitted batch would be accepted a second time. The rows are
 * exactly what was stored, read at the same moment as the resume point, so the resume point and
 * the watermarks always agree. A review verdict (released, dropped, expired) has its decision
 * record in sentinel.quarantine.decisions as source, so the rows keep the source topic
 * (packet_topic) and the watermark of each source is rebuilt under its own key.
 *
 * Replayed held messages (the processors write sentinel.quarantine at least once) are not skipped
 * here: held_messages is keyed by held_id, so the second copy collapses at merge and FINAL reads
 * see one row.
 */
export interface SinkMetrics {
  readonly rowsInserted: Counter<'table'>;
  readonly replaysSkipped: Counter<'table'>;
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
    replaysSkipped: new Counter({
      name: 'sentinel_forensics_replays_skipped_total',
      help: 'records skipped as replays: a verdict for a packet already stored from the same verdicts partition (ReplayWatermark), by table',
      labelNames: ['table'],
      registers,
    }),
    insertDuration: new Histogram({
      name: 'sentinel_forensics_batch_insert_duration_seconds',
      help: 'time one batch insert took, by table',
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
      help: 'sink errors by kind: decode (record skipped), insert (batch retried, its partitions paused), resume (store not answering; retried)',
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

/** The offsets of one partition in a batch. */
export interface BatchRange {
  readonly partition: number;
  readonly first: number;
  readonly last: number;
}

/** `<topic>/<partition>:<first>-<last>,...`, partitions ascending: the same rows give the same token. */
export function batchToken(topic: string, ranges: readonly BatchRange[]): string {
  const sorted = [...ranges].sort((a, b) => a.partition - b.partition);
  return `${topic}/${sorted.map((r) => `${r.partition}:${r.first}-${r.last}`).join(',')}`;
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
  readonly connection: KafkaConnection;
  readonly catalog: SchemaCatalog;
  readonly topics: TopicNames;
  readonly store: ClickHouseClient;
  readonly database: string;
  readonly groupId: string;
  readonly batchRows: number;
  readonly batchMaxMs: number;
  readonly fetchWaitMs: number;
  readonly fetchMinBytes: number;
  readonly sessionTimeoutMs: number;
  readonly metrics: SinkMetrics;
  readonly log: Logger;
  /** Called after each successful insert, before its offsets are committed (a test crashes here). */
  readonly afterInsert?: (inserts: number) => void;
  readonly onFatal?: (err: Error) => void;
}

/** One owned topic partition. A new object per assignment: a revoked one is never touched again. */
interface OwnedPartition {
  readonly partition: number;
  /** Highest offset the table holds for this partition (-1: none); null until asked. */
  storedUpTo: number | null;
  /** Offset after the last record taken (stored, skipped, or in a batch); -1 before the first. */
  next: number;
  /** Offset last committed (-1: none by this owner). */
  committed: number;
}

/** Rows of one partition in the open batch of a table. */
interface PartitionRows {
  readonly rows: Row[];
  readonly first: number;
  last: number;
}

/** A batch on its way to the store: the same rows and token on every attempt. */
interface SealedBatch {
  readonly rows: readonly Row[];
  readonly token: string;
  /** Commit positions taken when the batch was sealed: everything before them is in this batch or skipped. */
  readonly commits: ReadonlyArray<{ readonly owned: OwnedPartition; readonly offset: number }>;
  attempts: number;
  retryAt: number;
  /** Partitions paused after a failed attempt, resumed once the batch is stored. */
  paused: number[];
}

/** One topic and the table it goes to. */
interface TableState {
  readonly role: SinkRole;
  readonly topic: string;
  readonly table: string;
  readonly columns: readonly string[];
  readonly owned: Map<number, OwnedPartition>;
  /** Rows gathering, per partition (a revoked partition's rows are dropped before they are sealed). */
  readonly open: Map<number, PartitionRows>;
  size: number;
  openedAt: number;
  /** At most one batch per table is on its way, so a partition's stored rows stay a prefix of it. */
  sealed: SealedBatch | null;
}

const tick = 1000;
const maxRetryMs = 5000;

export class ForensicSink {
  private readonly o: ForensicSinkOptions;
  private readonly consumer: BatchConsumer;
  /** By topic name: looked up per record without building a key. */
  private readonly tables: ReadonlyMap<string, TableState>;
  private readonly replays: ReplayWatermark;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Serialises batches handed over, timed flushes and the final flush. */
  private lock: Promise<void> = Promise.resolve();
  private inserts = 0;
  private connected = false;
  private stopping = false;
  private failed: Error | null = null;

  constructor(options: ForensicSinkOptions) {
    this.o = options;
    this.replays = new ReplayWatermark(options.topics.packets);
    const roles: SinkRole[] = ['packets', 'verdicts', 'deliveries', 'quarantine', 'decisions'];
    this.tables = new Map(
      roles.map((role) => [
        options.topics[role],
        {
          role,
          topic: options.topics[role],
          table: `${options.database}.${sinkTables[role]}`,
          columns: sinkColumns[role],
          owned: new Map(),
          open: new Map(),
          size: 0,
          openedAt: 0,
          sealed: null,
        },
      ]),
    );
    this.consumer = new BatchConsumer({
      connection: options.connection,
      groupId: options.groupId,
      topics: [...this.tables.keys()],
      start: 'earliest',
      // Only records of committed transactions are evidence (and every non-transactional one).
      readCommitted: true,
      fetchWaitMs: options.fetchWaitMs,
      fetchMinBytes: options.fetchMinBytes,
      sessionTimeoutMs: options.sessionTimeoutMs,
      maxBatch: 5000,
      onAssigned: (partitions, topic) => this.assigned(topic, partitions),
      onRevoked: (partitions, topic) => this.revoked(topic, partitions),
    });
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    this.connected = true;
    this.running = this.consumer.run((records) => this.exclusive(() => this.take(records)), tick);
    this.running.catch((err: unknown) => this.fail(err));
    const every = Math.min(tick, Math.max(10, Math.floor(this.o.batchMaxMs / 2)));
    this.timer = setInterval(() => void this.exclusive(() => this.onTick()), every);
    this.timer.unref();
  }

  /** Connected and subscribed, consuming, not stopping. */
  isReady(): boolean {
    return this.connected && this.failed === null && !this.stopping;
  }

  /**
   * Inserts and commits what is in hand (a batch the store refuses gets three more attempts), then
   * leaves the group. Records not taken, or not stored, are not committed: the next owner reads them.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.exclusive(async () => {
      if (this.failed) return;
      for (const table of this.tables.values()) {
        let failures = 0;
        while (table.sealed || table.size > 0 || uncommitted(table)) {
          if (await this.store(table)) continue;
          if (++failures >= 3) break;
          await sleep(1000);
        }
      }
    });
    await this.consumer.disconnect();
  }

  /** Runs work after the work before it; a step that throws stops the sink (what it stored stays consistent). */
  private exclusive(work: () => Promise<void>): Promise<void> {
    this.lock = this.lock.then(work).catch((err: unknown) => this.fail(err));
    return this.lock;
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.failed = error;
    this.o.log.error({ err: error }, 'forensics sink failed');
    this.o.onFatal?.(error);
  }

  private countAssigned(): void {
    let n = 0;
    for (const table of this.tables.values()) n += table.owned.size;
    this.o.metrics.assignedPartitions.set(n);
  }

  private assigned(topic: string, partitions: readonly number[]): void {
    const table = this.tables.get(topic);
    if (!table) return;
    for (const partition of partitions) {
      table.owned.set(partition, { partition, storedUpTo: null, next: -1, committed: -1 });
    }
    this.countAssigned();
    this.o.log.info({ topic, partitions }, 'partitions assigned');
  }

  /**
   * Rows in hand of a revoked partition are dropped: they are not committed, so the next owner reads
   * them again. A batch already sealed is still stored (its rows are the same records, collapsed by
   * the engine if the next owner stores them too) but commits nothing for the revoked partition.
   */
  private revoked(topic: string, partitions: readonly number[]): void {
    const table = this.tables.get(topic);
    if (!table) return;
    for (const partition of partitions) {
      table.owned.delete(partition);
      const rows = table.open.get(partition);
      if (rows) {
        table.size -= rows.rows.length;
        table.open.delete(partition);
      }
      if (table.role === 'verdicts') this.replays.forget(partition);
      this.o.metrics.lag.remove({ topic: table.role, partition: String(partition) });
    }
    this.countAssigned();
    this.o.log.info({ topic, partitions }, 'partitions revoked');
  }

  /** Takes one batch of records: resume points first, then rows, inserting whenever a table's batch is full. */
  private async take(records: KafkaRecord[]): Promise<void> {
    if (this.stopping || this.failed) return;
    for (const table of this.tables.values()) await this.resume(table);
    for (const record of records) {
      if (this.stopping) return;
      const table = this.tables.get(record.topic) as TableState;
      const owned = table.owned.get(record.partition);
      // Revoked while in hand, or its resume point unknown (stopping while the store was down).
      if (!owned || owned.storedUpTo === null) continue;
      const offset = record.offset;
      owned.next = offset + 1;
      if (offset <= owned.storedUpTo) continue;
      const row = await this.rowOf(table.role, owned, record);
      if (row === null || table.owned.get(record.partition) !== owned) continue;
      const rows = table.open.get(owned.partition);
      if (rows) {
        rows.rows.push(row);
        rows.last = offset;
      } else {
        table.open.set(owned.partition, { rows: [row], first: offset, last: offset });
      }
      if (table.size === 0) table.openedAt = Date.now();
      table.size += 1;
      // A batch the store refused is retried by the tick; until then rows gather behind it.
      if (table.size >= this.o.batchRows && !table.sealed) await this.store(table);
    }
    const now = Date.now();
    for (const table of this.tables.values()) {
      if (table.size > 0 && !table.sealed && now - table.openedAt >= this.o.batchMaxMs)
        await this.store(table);
    }
  }

  /**
   * Reads the resume points (and, for verdicts, the replay watermarks) of the table's partitions
   * assigned since the last read, in one query; retried until the store answers.
   */
  private async resume(table: TableState): Promise<void> {
    const partitions: OwnedPartition[] = [];
    for (const owned of table.owned.values()) if (owned.storedUpTo === null) partitions.push(owned);
    if (partitions.length === 0) return;
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.readResumePoints(table, partitions);
        return;
      } catch (err) {
        this.o.metrics.errors.inc({ kind: 'resume' });
        this.o.log.error({ err, table: table.table, attempt }, 'store does not answer; retrying');
        await sleep(Math.min(maxRetryMs, 250 * 2 ** attempt));
      }
    }
  }

  private async readResumePoints(state: TableState, partitions: readonly OwnedPartition[]): Promise<void> {
    const { table } = state;
    const params = { ps: partitions.map((p) => p.partition) };
    const stored = new Map<number, number>();
    if (state.role === 'verdicts') {
      // Resume point and replay watermarks from one read of the same rows, so they agree.
      // Rows stored before schema version 4 have no packet_topic: they point into the packets topic.
      const result = await this.o.store.query({
        query: `SELECT kafka_partition AS k, packet_topic AS t, packet_partition AS p, max(packet_offset) AS o,
          max(kafka_offset) AS m
          FROM ${table} WHERE kafka_partition IN {ps:Array(UInt16)} GROUP BY k, t, p`,
        query_params: params,
        format: 'JSONEachRow',
      });
      const rows = await result.json<{
        k: number | string;
        t: string;
        p: number | string;
        o: string;
        m: string;
      }>();
      for (const owned of partitions) this.replays.forget(owned.partition);
      for (const row of rows) {
        const k = Number(row.k);
        this.replays.raise(k, {
          topic: row.t === '' ? this.o.topics.packets : row.t,
          partition: Number(row.p),
          offset: Number(row.o),
        });
        stored.set(k, Math.max(stored.get(k) ?? -1, Number(row.m)));
      }
    } else {
      const result = await this.o.store.query({
        query: `SELECT kafka_partition AS k, max(kafka_offset) AS m FROM ${table}
          WHERE kafka_partition IN {ps:Array(UInt16)} GROUP BY k`,
        query_params: params,
        format: 'JSONEachRow',
      });
      for (const row of await result.json<{ k: number | string; m: string }>()) {
        stored.set(Number(row.k), Number(row.m));
      }
    }
    for (const owned of partitions) owned.storedUpTo = stored.get(owned.partition) ?? -1;
  }

  /** The row of a record; null when it is skipped (cannot be decoded, or a replayed verdict). */
  private async rowOf(role: SinkRole, owned: OwnedPartition, record: KafkaRecord): Promise<Row | null> {
    const at = { partition: owned.partition, offset: record.offset };
    try {
      const value = record.value;
      if (value === null) throw new Error('record has no value');
      const { catalog } = this.o;
      switch (role) {
        case 'packets':
          return packetRow(await catalog.decode('packets', value), at);
        case 'deliveries':
          return deliveryRow(await catalog.decode('deliveries', value), at);
        case 'quarantine':
          return heldMessageRow(await catalog.decode('quarantine', value), at);
        case 'decisions':
          return decisionRow(await catalog.decode('decisions', value), at);
        case 'verdicts': {
          const verdict = await catalog.decode('verdicts', value);
          if (!this.replays.admit(owned.partition, verdict.packetRef)) {
            this.o.metrics.replaysSkipped.inc({ table: 'verdicts' });
            return null;
          }
          return verdictRow(verdict, at);
        }
      }
    } catch (err) {
      // A record that cannot be decoded is evidence of something, but not a row: count, log, go on.
      this.o.metrics.errors.inc({ kind: 'decode' });
      this.o.log.warn({ err, topic: record.topic, ...at }, 'record skipped: cannot decode');
      return null;
    }
  }

  private onTick(): Promise<void> {
    if (this.stopping || this.failed) return Promise.resolve();
    const now = Date.now();
    const work: TableState[] = [];
    for (const table of this.tables.values()) {
      const due = table.sealed
        ? now >= table.sealed.retryAt
        : table.size > 0
          ? now - table.openedAt >= this.o.batchMaxMs
          : uncommitted(table);
      if (due) work.push(table);
    }
    this.updateLag();
    return (async () => {
      for (const table of work) await this.store(table);
    })();
  }

  /**
   * Seals the open rows of a table (unless a sealed batch is still waiting), inserts the sealed batch
   * and commits past it. False when the batch is not stored: its partitions are paused and the tick
   * retries it, with the same rows and token, until it is.
   */
  private async store(table: TableState): Promise<boolean> {
    if (!table.sealed) {
      if (table.size === 0 && !uncommitted(table)) return true;
      table.sealed = this.seal(table);
    }
    const batch = table.sealed;
    const o = this.o;
    const name = sinkTables[table.role];
    if (batch.rows.length > 0) {
      const started = performance.now();
      try {
        await insertBatch(o.store, table.table, table.columns, batch.rows, batch.token);
      } catch (err) {
        batch.attempts += 1;
        batch.retryAt = Date.now() + Math.min(maxRetryMs, 200 * 2 ** batch.attempts);
        o.metrics.errors.inc({ kind: 'insert' });
        o.log.warn(
          { err, table: name, token: batch.token, attempt: batch.attempts },
          'batch insert failed; retrying with the same token',
        );
        if (batch.paused.length === 0) {
          // Nothing more of this topic until the batch is in: its rows stay the prefix of each partition.
          batch.paused = this.consumer.assignment(table.topic);
          this.consumer.pause(table.topic, batch.paused);
        }
        return false;
      }
      o.metrics.insertDuration.observe({ table: name }, (performance.now() - started) / 1000);
      o.metrics.rowsInserted.inc({ table: name }, batch.rows.length);
      o.metrics.batchRows.observe({ table: name }, batch.rows.length);
      this.inserts += 1;
      o.afterInsert?.(this.inserts);
    }
    table.sealed = null;
    const commits: CommitOffset[] = [];
    for (const { owned, offset } of batch.commits) {
      // A partition revoked meanwhile is the next owner's to commit.
      if (table.owned.get(owned.partition) !== owned) continue;
      commits.push({ topic: table.topic, partition: owned.partition, offset });
      owned.committed = offset;
    }
    this.consumer.commit(commits);
    if (batch.paused.length > 0) this.consumer.resume(table.topic, batch.paused);
    return true;
  }

  private seal(table: TableState): SealedBatch {
    const ranges: BatchRange[] = [];
    const parts: Row[][] = [];
    for (const [partition, rows] of table.open) {
      ranges.push({ partition, first: rows.first, last: rows.last });
      parts.push(rows.rows);
    }
    const commits: { owned: OwnedPartition; offset: number }[] = [];
    for (const owned of table.owned.values()) {
      if (owned.next > owned.committed) commits.push({ owned, offset: owned.next });
    }
    table.open.clear();
    table.size = 0;
    table.openedAt = 0;
    return {
      rows: parts.length === 1 ? (parts[0] as Row[]) : parts.flat(),
      token: batchToken(table.topic, ranges),
      commits,
      attempts: 0,
      retryAt: 0,
      paused: [],
    };
  }

  private updateLag(): void {
    for (const table of this.tables.values()) {
      for (const owned of table.owned.values()) {
        const high = this.consumer.fetchedHighWatermark(table.topic, owned.partition);
        const position = owned.committed >= 0 ? owned.committed : owned.next;
        if (high === undefined || position < 0) continue;
        this.o.metrics.lag.set(
          { topic: table.role, partition: String(owned.partition) },
          Math.max(0, high - position),
        );
      }
    }
  }
}

/** Whether a partition of the table's topic has taken records (say, all skipped) past its last commit. */
function uncommitted(table: TableState): boolean {
  for (const owned of table.owned.values()) if (owned.next > owned.committed) return true;
  return false;
}
