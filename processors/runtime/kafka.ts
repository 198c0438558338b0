import { performance } from 'node:perf_hooks';
import { describeError } from '../../lib/errors.js';
import type { KafkaConnection } from '../../lib/kafka/client.js';
import {
  BatchConsumer,
  type Delivered,
  isAbortableTransactionError,
  type KafkaRecord,
  RecordProducer,
  readPartitionsToEnd,
} from '../../lib/kafka/rdkafka.js';
import type { TopicNames } from '../../lib/kafka/topics.js';
import type { Logger } from '../../lib/log.js';
import type { SchemaCatalog } from '../../schemas/catalog.js';
import type {
  PacketEvent as PacketEventRecord,
  Verdict as VerdictRecord,
} from '../../schemas/types.generated.js';
import type { PacketRef } from '../model.js';
import type { AnyStep } from '../step.js';
import { memoryStoreFactory, type StateStore } from '../stores/state-store.js';
import { ChainRunner } from './chain.js';
import type { ProcessorMetrics } from './metrics.js';
import {
  changelogKey,
  inspectionErrorVerdict,
  parseChangelogKey,
  toApprovedRecord,
  toHeldRecord,
  toInspectedEvent,
  toVerdictRecord,
  undecodableVerdict,
} from './records.js';

/**
 * The production runtime: the same ChainRunner as the memory driver, on Kafka.
 *
 * Outputs leave at once: each event's verdict and approved (or held) PUBLISH are sent by an idempotent
 * producer (acks=all) as soon as the chain has run, so an event waits for no commit cycle. Progress
 * is checkpointed on a slower cadence (`checkpointIntervalMs`) in one transaction of a separate
 * transactional producer: the changed state entries (to the changelog partition of the input
 * partition) and the next input offset of every partition whose outputs up to that offset are all
 * acknowledged. The offsets go with the consumer group metadata (KIP-447), so an instance that lost
 * a partition in a rebalance cannot commit for it.
 *
 * After a crash or a rebalance the new owner restores the state as of the last checkpoint and
 * inspects the events after it again: their outputs are written a second time with the same
 * packet reference. `sentinel.verdicts` and `sentinel.approved` are therefore at least once with a
 * stable id; the bridge and the forensic sink drop the replays (lib/kafka/replays.ts), so the origin
 * and the forensic store see each event once. docs/processors.md argues this in full.
 */
export interface KafkaRuntimeOptions {
  readonly connection: KafkaConnection;
  readonly catalog: SchemaCatalog;
  readonly topics: TopicNames;
  readonly changelogTopic: string;
  /** A fresh chain per partition. */
  readonly createSteps: () => readonly AnyStep[];
  readonly groupId: string;
  /** Unique per live instance: names its transactional producer (`<group>.<instance>`). */
  readonly instanceId: string;
  /** Records handed over per fetch at most. */
  readonly maxBatch: number;
  /** How long the outputs producer waits for more records before a request, in ms. */
  readonly lingerMs: number;
  /** How long a fetch waits on the broker for records, in ms. */
  readonly fetchWaitMs: number;
  /** Time between checkpoints (state changes and input offsets, one transaction), in ms. */
  readonly checkpointIntervalMs: number;
  /** Outputs sent and not yet acknowledged before fetching waits for them. */
  readonly maxInFlight: number;
  readonly sessionTimeoutMs: number;
  readonly transactionTimeoutMs: number;
  readonly restoreTimeoutMs: number;
  /** Entries per state store per partition before the least recently written is evicted. */
  readonly maxStateEntries: number;
  readonly metrics: ProcessorMetrics;
  readonly log: Logger;
  readonly now?: () => number;
  /** Called when a partition's state has been restored, before its first event is processed. */
  readonly onRestored?: (partition: number, stores: ReadonlyMap<string, StateStore<unknown>>) => void;
  /** The runtime cannot go on (a producer fenced or failed for good, the consumer failed): exit. */
  readonly onFatal?: (err: Error) => void;
}

/** An owned input partition. */
interface PartitionTask {
  readonly partition: number;
  readonly runner: ChainRunner;
  /** Restored state and committed offset; records wait for it. */
  readonly ready: Promise<void>;
  settled: boolean;
  /** Next input offset to inspect (everything before it has been inspected and its outputs sent). */
  next: number;
  /** The next offset as of the last checkpoint that committed. */
  committed: number;
  /** Deliveries of the outputs sent since the last checkpoint snapshot. */
  acks: Promise<Delivered>[];
  /** When the oldest event not yet in a checkpoint snapshot was fetched (performance.now()); null: none. */
  fetchedSince: number | null;
  /** Revoked: never inspects or commits again. */
  retired: boolean;
}

/** What one checkpoint commits for one partition. */
interface PartitionCheckpoint {
  readonly task: PartitionTask;
  readonly next: number;
  readonly changes: ReadonlyArray<{ store: StateStore<unknown>; key: string; value: string | null }>;
  readonly acks: Promise<Delivered>[];
  /** When its oldest event was fetched; null when only state changed. */
  readonly fetchedSince: number | null;
}

export class KafkaRuntime {
  private readonly options: KafkaRuntimeOptions;
  private readonly now: () => number;
  private readonly outputs: RecordProducer;
  private readonly checkpoints: RecordProducer;
  private readonly consumer: BatchConsumer;
  private readonly tasks = new Map<number, PartitionTask>();
  private joined = false;
  private failed: Error | null = null;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checkpointInHand: Promise<void> | null = null;

  constructor(options: KafkaRuntimeOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    const o = options;
    this.outputs = new RecordProducer({
      connection: { ...o.connection, clientId: `${o.connection.clientId}-outputs` },
      lingerMs: o.lingerMs,
    });
    this.checkpoints = new RecordProducer({
      connection: { ...o.connection, clientId: `${o.connection.clientId}-checkpoints` },
      transactionalId: `${o.groupId}.${o.instanceId}`,
      transactionTimeoutMs: o.transactionTimeoutMs,
      lingerMs: 0,
    });
    for (const producer of [this.outputs, this.checkpoints]) producer.onFatal = (err) => this.fail(err);
    this.consumer = new BatchConsumer({
      connection: o.connection,
      groupId: o.groupId,
      topics: [o.topics.packets],
      start: 'earliest',
      readCommitted: true,
      fetchWaitMs: o.fetchWaitMs,
      sessionTimeoutMs: o.sessionTimeoutMs,
      maxBatch: o.maxBatch,
      onAssigned: (partitions) => this.onAssigned(partitions),
      onRevoked: (partitions) => this.onRevoked(partitions),
    });
  }

  /** Joins the group and starts consuming; resolves once the consumer runs (not once partitions are assigned). */
  async start(): Promise<void> {
    await this.outputs.connect();
    await this.checkpoints.connect();
    // Fences an earlier process that used this id and settles its open transaction.
    await this.checkpoints.initTransactions();
    await this.consumer.connect();
    this.loop = this.consumer
      .run((records) => this.onRecords(records))
      .catch((err: unknown) => {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      });
    this.timer = setInterval(() => void this.checkpoint(), this.options.checkpointIntervalMs);
  }

  /** Ready: in the group, not failed, and every assigned partition restored. */
  async isReady(): Promise<boolean> {
    if (!this.joined || this.failed) return false;
    for (const task of this.tasks.values()) if (!task.settled) return false;
    return true;
  }

  assignedPartitions(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  /** The state stores of an assigned partition (for tests and diagnostics). */
  async stores(partition: number): Promise<ReadonlyMap<string, StateStore<unknown>> | undefined> {
    const task = this.tasks.get(partition);
    if (!task) return undefined;
    await task.ready;
    return task.runner.stores;
  }

  /**
   * Stops fetching, waits for the batch in hand and its outputs, commits a last checkpoint, then
   * leaves the group: whoever takes the partitions over starts where this instance stopped.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.consumer.stopFetching();
    await this.loop;
    await this.checkpointInHand;
    await this.checkpoint();
    await this.consumer.disconnect();
    for (const task of this.tasks.values()) this.retire(task);
    this.tasks.clear();
    await this.outputs.disconnect();
    await this.checkpoints.disconnect();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.options.log.error({ err }, 'processors runtime failed; the instance must restart');
    this.options.onFatal?.(err);
  }

  private onAssigned(partitions: readonly number[]): void {
    const o = this.options;
    this.joined = true;
    const fresh = partitions.filter((p) => !this.tasks.has(p));
    if (fresh.length === 0) return;
    const runners = new Map<number, ChainRunner>();
    for (const p of fresh) {
      const runner = new ChainRunner(o.createSteps(), memoryStoreFactory(o.maxStateEntries));
      runner.init(this.now);
      runners.set(p, runner);
    }
    const restored = this.restore(runners);
    for (const p of fresh) {
      const task: PartitionTask = {
        partition: p,
        runner: runners.get(p) as ChainRunner,
        ready: restored.then((offsets) => {
          const offset = offsets.get(p) ?? 0;
          task.next = offset;
          task.committed = offset;
          task.settled = true;
          o.onRestored?.(p, task.runner.stores);
        }),
        settled: false,
        next: 0,
        committed: 0,
        acks: [],
        fetchedSince: null,
        retired: false,
      };
      // A failed restore fails the instance: its partitions must go to one that can read their state.
      task.ready.catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
      this.tasks.set(p, task);
    }
    o.metrics.assignedPartitions.set(this.tasks.size);
    o.log.info(
      { partitions: fresh, owned: this.assignedPartitions() },
      'partitions assigned; restoring state',
    );
  }

  private onRevoked(partitions: readonly number[]): void {
    const o = this.options;
    for (const p of partitions) {
      const task = this.tasks.get(p);
      if (!task) continue;
      this.tasks.delete(p);
      this.retire(task);
      o.metrics.consumerLag.remove(String(p));
    }
    o.metrics.assignedPartitions.set(this.tasks.size);
    o.log.info({ partitions, owned: this.assignedPartitions() }, 'partitions revoked');
  }

  private retire(task: PartitionTask): void {
    if (task.retired) return;
    task.retired = true;
    task.runner.close();
  }

  /**
   * The committed offsets first, then the changelog to its end: reading offsets waits for any
   * transaction of the previous owner that carries them (RequireStable), so the state read
   * afterwards includes whatever that transaction committed.
   */
  private async restore(runners: ReadonlyMap<number, ChainRunner>): Promise<Map<number, number>> {
    const o = this.options;
    const started = performance.now();
    const partitions = [...runners.keys()];
    const committed = await this.consumer.committed(
      partitions.map((partition) => ({ topic: o.topics.packets, partition })),
      o.restoreTimeoutMs,
    );
    const offsets = new Map<number, number>();
    for (const tp of committed) {
      // A partition the group never committed comes back without an offset (or a negative one): start at 0.
      offsets.set(tp.partition, Math.max(tp.offset ?? -1, 0));
    }
    const restored = await readPartitionsToEnd({
      connection: { ...o.connection, clientId: `${o.connection.clientId}-restore` },
      topic: o.changelogTopic,
      partitions,
      timeoutMs: o.restoreTimeoutMs,
      onRecord: (record) => restoreRecord(runners.get(record.partition), record),
    });
    o.metrics.restoredRecords.inc(restored);
    o.metrics.restoreDuration.observe((performance.now() - started) / 1000);
    o.log.info(
      {
        partitions,
        offsets: Object.fromEntries(offsets),
        restoredRecords: restored,
        ms: Math.round(performance.now() - started),
      },
      'state restored',
    );
    return offsets;
  }

  private async onRecords(records: readonly KafkaRecord[]): Promise<void> {
    const o = this.options;
    const fetchedAt = performance.now();
    for (const record of records) {
      const task = this.tasks.get(record.partition);
      if (!task || task.retired) continue;
      if (!task.settled) await task.ready;
      if (task.retired || record.offset < task.next) continue;
      task.fetchedSince ??= fetchedAt;
      await this.inspect(task, record);
    }
    for (const task of this.tasks.values()) {
      if (!task.settled) continue;
      const high = this.consumer.fetchedHighWatermark(o.topics.packets, task.partition);
      if (high !== undefined)
        o.metrics.consumerLag.set({ partition: String(task.partition) }, Math.max(0, high - task.next));
    }
    // Bounded memory: fetching waits while too many outputs are unacknowledged.
    if (this.outputs.inFlight > o.maxInFlight) {
      await Promise.allSettled([...this.tasks.values()].flatMap((t) => t.acks));
    }
  }

  /**
   * Runs one event through the chain and sends its outputs. The state change and the move of
   * `task.next` happen in one synchronous stretch, so a checkpoint never sees one without the other.
   */
  private async inspect(task: PartitionTask, message: KafkaRecord): Promise<void> {
    const o = this.options;
    const packetRef: PacketRef = {
      topic: o.topics.packets,
      partition: task.partition,
      offset: String(message.offset),
    };
    const key = message.key?.toString() ?? '';
    let record: PacketEventRecord;
    try {
      if (message.value === null) throw new Error('record has no value');
      record = await o.catalog.decode('packets', message.value);
    } catch (err) {
      task.next = message.offset + 1;
      o.metrics.events.inc({ packet_type: 'UNKNOWN' });
      this.sendVerdict(
        task,
        undecodableVerdict({
          clientId: key,
          packetRef,
          receivedAt: message.timestamp ?? this.now(),
          decidedAt: this.now(),
          reason: describeError(err),
        }),
      );
      return;
    }
    o.metrics.events.inc({ packet_type: record.packetType });
    const t0 = performance.now();
    task.next = message.offset + 1;
    try {
      const output = task.runner.process(toInspectedEvent(record), packetRef, this.now);
      o.metrics.inspectDuration.observe((performance.now() - t0) / 1000);
      // Approved first: the bridge can deliver while the verdict is still on its way to the sink.
      for (const message of output.approved) {
        this.send(
          task,
          o.topics.approved,
          record.clientId,
          o.catalog.encode('approved', toApprovedRecord(message, record, packetRef, this.now())),
        );
        o.metrics.approved.inc();
      }
      for (const v of output.verdicts) {
        // Held before its verdict: a reader that sees the quarantine verdict finds the message to review.
        const held = toHeldRecord(v, record, packetRef, this.now());
        if (held) {
          this.send(task, o.topics.quarantine, record.clientId, o.catalog.encode('quarantine', held));
          o.metrics.held.inc();
        }
        this.sendVerdict(task, toVerdictRecord(v, record));
      }
    } catch (err) {
      o.log.error({ err, packetRef }, 'a step threw; the event is quarantined');
      this.sendVerdict(task, inspectionErrorVerdict(record, packetRef, this.now(), describeError(err)));
    }
  }

  /** Sends one output record; the next checkpoint waits for its acknowledgement. */
  private send(task: PartitionTask, topic: string, clientId: string, value: Buffer): void {
    task.acks.push(this.outputs.send({ topic, key: clientId, value }));
  }

  private sendVerdict(task: PartitionTask, value: VerdictRecord): void {
    const o = this.options;
    this.send(task, o.topics.verdicts, value.clientId, o.catalog.encode('verdicts', value));
    o.metrics.verdicts.inc({ decision: value.decision });
    for (const f of value.findings)
      o.metrics.findings.inc({ class: f.class, rule_id: o.metrics.ruleLabel(f.ruleId) });
  }

  /**
   * One checkpoint at a time: a tick that finds one in hand waits for it. `stop` clears the timer
   * and waits for the one in hand before it asks for the last.
   */
  private checkpoint(): Promise<void> {
    if (this.checkpointInHand) return this.checkpointInHand;
    if (this.failed) return Promise.resolve();
    const run = this.runCheckpoint().finally(() => {
      this.checkpointInHand = null;
    });
    this.checkpointInHand = run;
    return run;
  }

  private async runCheckpoint(): Promise<void> {
    const o = this.options;
    const due: PartitionCheckpoint[] = [];
    for (const task of this.tasks.values()) {
      if (!task.settled || task.retired) continue;
      const changes = [];
      for (const store of task.runner.stores.values()) {
        for (const change of store.takeChanges())
          changes.push({ store, key: change.key, value: change.value });
      }
      if (task.next === task.committed && changes.length === 0) continue;
      due.push({ task, next: task.next, changes, acks: task.acks, fetchedSince: task.fetchedSince });
      task.acks = [];
      task.fetchedSince = null;
    }
    if (due.length === 0) return;
    const started = performance.now();
    const phase = o.metrics.transactionPhase;
    let mark = started;
    try {
      // Offsets are committed only past outputs the replicas hold: a crash never skips an event.
      await Promise.all(due.flatMap((c) => c.acks));
      phase.observe({ phase: 'acks' }, (performance.now() - mark) / 1000);
      // Partitions revoked meanwhile belong to their new owner now.
      const owned = due.filter((c) => !c.task.retired && this.tasks.get(c.task.partition) === c.task);
      if (owned.length === 0) return;
      mark = performance.now();
      await this.checkpoints.beginTransaction();
      // Settled here so that records purged by an abort are not unhandled rejections.
      const sends: Promise<PromiseSettledResult<Delivered>>[] = [];
      for (const c of owned) {
        for (const change of c.changes) {
          sends.push(
            settle(
              this.checkpoints.send({
                topic: o.changelogTopic,
                partition: c.task.partition,
                key: changelogKey(change.store.name, change.key),
                value: change.value === null ? null : Buffer.from(change.value),
              }),
            ),
          );
        }
      }
      await this.checkpoints.sendOffsets(
        owned.map((c) => ({ topic: o.topics.packets, partition: c.task.partition, offset: c.next })),
        this.consumer,
      );
      phase.observe({ phase: 'offsets' }, (performance.now() - mark) / 1000);
      mark = performance.now();
      await this.checkpoints.commitTransaction();
      const failed = (await Promise.all(sends)).find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      phase.observe({ phase: 'commit' }, (performance.now() - mark) / 1000);
      const events = owned.reduce((sum, c) => sum + (c.next - c.task.committed), 0);
      for (const c of owned) c.task.committed = c.next;
      o.metrics.transactions.inc({ outcome: 'committed' });
      o.metrics.transactionDuration.observe((performance.now() - started) / 1000);
      o.metrics.transactionPartitions.observe(owned.length);
      o.metrics.transactionEvents.observe(events);
      const committedAt = performance.now();
      for (const c of owned)
        if (c.fetchedSince !== null) o.metrics.fetchToCommit.observe((committedAt - c.fetchedSince) / 1000);
    } catch (err) {
      o.metrics.transactions.inc({ outcome: 'aborted' });
      // The changes were taken and not committed: the next checkpoint writes them (with their current values).
      for (const c of due) for (const change of c.changes) change.store.markChanged(change.key);
      if (isAbortableTransactionError(err)) {
        o.log.warn(
          { err, partitions: due.map((c) => c.task.partition) },
          'checkpoint aborted; the next one retries',
        );
        await this.checkpoints.abortTransaction().catch((abortErr: unknown) => this.fail(abortErr as Error));
      } else if (this.tasks.size > 0 || !this.stopping) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

function restoreRecord(runner: ChainRunner | undefined, record: KafkaRecord): void {
  const parsed = parseChangelogKey(record.key?.toString() ?? '');
  if (!runner || !parsed) return;
  runner.stores.get(parsed.store)?.restore({
    key: parsed.key,
    value: record.value === null ? null : record.value.toString(),
  });
}

function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  );
}
