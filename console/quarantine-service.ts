import type { KafkaConnection } from '../lib/kafka/client.js';
import { BatchConsumer, type KafkaRecord, readPartitionsToEnd } from '../lib/kafka/rdkafka.js';
import { type TopicNames, topicRetentionMs } from '../lib/kafka/topics.js';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { QuarantineAction, QuarantineDecision } from '../schemas/types.generated.js';
import type { DecisionWriter } from './decision-writer.js';
import { type HeldEntry, HeldStore } from './held-store.js';
import type { ConsoleMetrics } from './metrics.js';
import type { HeldFilter } from './model.js';

export interface QuarantineServiceOptions {
  readonly connection: KafkaConnection;
  readonly catalog: SchemaCatalog;
  readonly topics: TopicNames;
  readonly partitions: { readonly quarantine: number; readonly decisions: number };
  readonly writer: DecisionWriter;
  readonly groupId: string;
  readonly fetchWaitMs: number;
  /** Undecided messages older than this are expired (a recorded decision) before the topics forget them. */
  readonly holdMs: number;
  readonly sweepIntervalMs: number;
  /** Decisions per transaction in a bulk decision. */
  readonly bulkBatch: number;
  readonly restoreTimeoutMs: number;
  /** Payload bytes kept in memory at most; older payloads are read back with `readPayload`. */
  readonly maxPayloadBytes: number;
  /** A payload let go from memory, from the forensic store; null when it is not there (yet). */
  readonly readPayload: (heldId: string) => Promise<Buffer | null>;
  readonly metrics: ConsoleMetrics;
  readonly log: Logger;
  readonly now?: () => number;
  readonly onFatal?: (err: Error) => void;
}

export type DecideOutcome =
  | { readonly outcome: 'decided'; readonly decision: QuarantineDecision }
  | { readonly outcome: 'already'; readonly decision: QuarantineDecision }
  | { readonly outcome: 'unknown' };

export interface BulkOutcome {
  readonly decided: number;
  /** Matched the filter but were decided by someone else first. */
  readonly skipped: number;
}

/**
 * The review queue: held messages and decisions read from Kafka into a HeldStore, and decisions
 * written through the DecisionWriter. Decisions are serialised in this process (one at a time,
 * checked against the store inside the turn), so two operators deciding on one message at the
 * same moment get one decision and one "already decided"; the writer's transactional id keeps a
 * second console from writing beside this one.
 *
 * Start: every decision and held message is read to the end (read_committed) before the service
 * is ready, so nothing already decided can be decided again; a live consumer then follows both
 * topics (it re-reads them from the start; applying a record twice changes nothing).
 */
/** A payload that is neither in memory nor (yet) in the forensic store. */
export class PayloadUnavailableError extends Error {}

export class QuarantineService {
  readonly store: HeldStore;
  private readonly o: QuarantineServiceOptions;
  private readonly now: () => number;
  private consumer: BatchConsumer | null = null;
  private loop: Promise<void> | null = null;
  private turn: Promise<unknown> = Promise.resolve();
  private sweeper: NodeJS.Timeout | null = null;
  private loaded = false;
  private failed: Error | null = null;

  constructor(options: QuarantineServiceOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.store = new HeldStore(options.maxPayloadBytes);
  }

  /** The entry with its payload: from memory, or read back from the forensic store. */
  async withPayload(entry: HeldEntry): Promise<HeldEntry> {
    if (entry.payloadInMemory) return entry;
    const payload = await this.o.readPayload(entry.held.heldId).catch((err: unknown) => {
      throw new PayloadUnavailableError(`the forensic store did not answer (${(err as Error).message})`);
    });
    if (!payload) throw new PayloadUnavailableError('the payload is not in the forensic store yet');
    this.o.metrics.payloadsReadBack.inc();
    return this.store.restorePayload(entry, payload);
  }

  async start(): Promise<void> {
    const o = this.o;
    const started = Date.now();
    await o.writer.init();
    const read = async (role: 'quarantine' | 'decisions', count: number) =>
      readPartitionsToEnd({
        connection: { ...o.connection, clientId: `${o.connection.clientId}-load` },
        topic: o.topics[role],
        partitions: Array.from({ length: count }, (_, p) => p),
        timeoutMs: o.restoreTimeoutMs,
        onRecord: (record) => this.apply(record),
      });
    const decisions = await read('decisions', o.partitions.decisions);
    const held = await read('quarantine', o.partitions.quarantine);
    this.loaded = true;
    this.updateGauges();
    o.log.info(
      { decisions, held, pending: this.store.counts().held, ms: Date.now() - started },
      'quarantine loaded',
    );
    this.consumer = new BatchConsumer({
      connection: o.connection,
      groupId: o.groupId,
      topics: [o.topics.quarantine, o.topics.decisions],
      start: 'earliest',
      readCommitted: true,
      fetchWaitMs: o.fetchWaitMs,
    });
    await this.consumer.connect();
    this.loop = this.consumer
      .run(async (records) => {
        for (const record of records) await this.apply(record);
        this.updateGauges();
      }, 200)
      .catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
    this.sweeper = setInterval(
      () => void this.expireOverdue().catch((err) => this.sweepFailed(err)),
      o.sweepIntervalMs,
    );
    this.sweeper.unref();
  }

  ready(): boolean {
    return this.loaded && this.failed === null;
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.turn.catch(() => undefined);
    if (this.consumer) {
      await this.consumer.stopFetching();
      await this.loop;
      await this.consumer.disconnect();
    }
  }

  list(filter: HeldFilter, limit: number, offset = 0) {
    return this.store.page(filter, limit, offset);
  }

  get(heldId: string): HeldEntry | undefined {
    return this.store.get(heldId);
  }

  /** One decision on one held message; the first one wins. */
  decide(heldId: string, action: QuarantineAction, operator: string, reason: string): Promise<DecideOutcome> {
    return this.inTurn(async (): Promise<DecideOutcome> => {
      const entry = this.store.get(heldId);
      if (!entry) return { outcome: 'unknown' };
      if (entry.decision) return { outcome: 'already', decision: entry.decision };
      // Only a release carries the payload (to the origin); a drop needs none.
      const held = action === 'release' ? (await this.withPayload(entry)).held : entry.held;
      const [decision] = await this.write([{ held, action, operator, reason }]);
      return { outcome: 'decided', decision: decision as QuarantineDecision };
    });
  }

  /** The same decision on every message the filter selects that is still held, in batches. */
  decideMany(
    filter: HeldFilter,
    action: QuarantineAction,
    operator: string,
    reason: string,
  ): Promise<BulkOutcome> {
    return this.inTurn(async (): Promise<BulkOutcome> => {
      const selected = this.store.select({ ...filter, status: 'all' });
      const pending = selected.filter((e) => !e.decision);
      for (let i = 0; i < pending.length; i += this.o.bulkBatch) {
        const batch = pending.slice(i, i + this.o.bulkBatch);
        const helds = [];
        for (const e of batch) helds.push(action === 'release' ? (await this.withPayload(e)).held : e.held);
        await this.write(helds.map((held) => ({ held, action, operator, reason })));
      }
      return { decided: pending.length, skipped: selected.length - pending.length };
    });
  }

  /** Expires what waited longer than the hold time; returns how many. */
  expireOverdue(): Promise<number> {
    return this.inTurn(async () => {
      const overdue = this.store.heldBefore(this.now() - this.o.holdMs);
      const hours = Math.round((this.o.holdMs / 3_600_000) * 10) / 10;
      for (let i = 0; i < overdue.length; i += this.o.bulkBatch) {
        const batch = overdue.slice(i, i + this.o.bulkBatch);
        await this.write(
          batch.map((e) => ({
            held: e.held,
            action: 'expire' as const,
            operator: 'system',
            reason: `not reviewed within ${hours} h`,
          })),
        );
      }
      // Past the topics' retention the messages are gone from Kafka: a restarted console would not
      // know them either, so this one forgets them too.
      this.store.forgetDecidedBefore(this.now() - topicRetentionMs);
      this.updateGauges();
      return overdue.length;
    });
  }

  private async write(requests: Parameters<DecisionWriter['write']>[0]): Promise<QuarantineDecision[]> {
    const started = performance.now();
    const decisions = await this.o.writer.write(requests);
    for (const d of decisions) {
      this.store.applyDecision(d);
      this.o.metrics.decisions.inc({
        action: d.action,
        operator_kind: d.operator === 'system' ? 'system' : 'operator',
      });
      this.o.log.info(
        {
          audit: 'quarantine_decision',
          decisionId: d.decisionId,
          heldId: d.heldId,
          clientId: d.clientId,
          action: d.action,
          operator: d.operator,
          reason: d.reason,
        },
        'held message decided',
      );
    }
    this.o.metrics.decisionDuration.observe((performance.now() - started) / 1000);
    this.updateGauges();
    return decisions;
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.loaded) return Promise.reject(new Error('the quarantine is still loading'));
    const next = this.turn.then(work, work);
    this.turn = next.catch(() => undefined);
    return next;
  }

  private async apply(record: KafkaRecord): Promise<void> {
    const o = this.o;
    if (!record.value) return;
    try {
      if (record.topic === o.topics.decisions) {
        this.store.applyDecision(await o.catalog.decode('decisions', record.value));
      } else if (this.store.addHeld(await o.catalog.decode('quarantine', record.value))) {
        o.metrics.heldRead.inc();
      }
    } catch (err) {
      o.metrics.undecodable.inc({ topic: record.topic });
      o.log.warn(
        { err, topic: record.topic, partition: record.partition, offset: record.offset },
        'record skipped: cannot decode',
      );
    }
  }

  private updateGauges(): void {
    const counts = this.store.counts();
    for (const [status, n] of Object.entries(counts)) this.o.metrics.held.set({ status }, n);
    this.o.metrics.pendingPayloadBytes.set(this.store.pendingPayloadBytes);
    this.o.metrics.payloadBytesInMemory.set(this.store.payloadBytesInMemory);
  }

  private sweepFailed(err: unknown): void {
    this.o.log.warn({ err }, 'expiry sweep failed; the next one retries');
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.o.log.error({ err }, 'quarantine consumer failed');
    this.o.onFatal?.(err);
  }
}
