import { performance } from 'node:perf_hooks';
import type {
  Admin,
  Batch,
  Consumer,
  EachBatchPayload,
  Kafka,
  KafkaMessage,
  Message,
  Producer,
  Transaction,
} from 'kafkajs';
import { describeError } from '../../lib/errors.js';
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
import { readPartitionsToEnd } from './changelog.js';
import type { ProcessorMetrics } from './metrics.js';
import {
  changelogKey,
  inspectionErrorVerdict,
  parseChangelogKey,
  toApprovedRecord,
  toInspectedEvent,
  toVerdictRecord,
  undecodableVerdict,
} from './records.js';

/**
 * The production runtime: the same ChainRunner as the memory driver, on Kafka, exactly once.
 *
 * Each assigned input partition is a task (Kafka Streams' idea): its own chain and state stores, and
 * its own transactional producers (two, used in turn: see `producersPerPartition`) whose
 * transactional ids name the partition, not the instance (`<prefix>-<packets topic>-<partition>`
 * and `...<partition>.1`). kafkajs cannot send the consumer group generation with
 * the offsets (KIP-447), so fencing has to come from the transactional id: whoever takes a partition
 * initialises that id, which bumps its epoch, fences the previous owner (a zombie that missed the
 * rebalance) and settles its open transaction. Only then does the new owner read the committed
 * offset and the state, so both reflect exactly the transactions that won.
 *
 * Per transaction: verdicts, approved PUBLISHes, the changed state entries (to the changelog
 * partition of the input partition) and the next input offset. If a transaction fails the task is
 * dropped, in-memory state included, and rebuilt from the log on the next batch.
 */
export interface KafkaRuntimeOptions {
  readonly kafka: Kafka;
  readonly catalog: SchemaCatalog;
  readonly topics: TopicNames;
  readonly changelogTopic: string;
  /** A fresh chain per partition task. */
  readonly createSteps: () => readonly AnyStep[];
  readonly groupId: string;
  /** Transactional ids are `<prefix>-<packets topic>-<partition>`; every instance of a group must share it. */
  readonly transactionalIdPrefix: string;
  /** Events per transaction at most. */
  readonly batchSize: number;
  /** A transaction is cut after this long of inspection, whatever its size, in ms. */
  readonly batchMaxMs: number;
  /** Partitions processed at the same time. */
  readonly concurrency: number;
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
  /** The consumer stopped for good (kafkajs will not restart it): the service should exit. */
  readonly onFatal?: (err: Error) => void;
}

interface PartitionTask {
  readonly partition: number;
  /** The partition's transactional producers, used in turn (see `producersPerPartition`). */
  readonly producers: readonly Producer[];
  /** Transactions committed so far; picks the producer of the next one. */
  turn: number;
  readonly runner: ChainRunner;
  /** Next input offset to process: everything before it is committed together with its outputs. */
  position: bigint;
  /** Revoked or failed: never commits again. */
  retired: boolean;
  inFlight: Promise<void> | null;
}

/** A task being built (fenced and restored) or built. */
interface TaskSlot {
  readonly pending: Promise<PartitionTask>;
  settled: PartitionTask | null;
}

/** What one transaction carries, and the counts published once it commits. */
interface Chunk {
  readonly end: number;
  readonly verdicts: Message[];
  readonly approved: Message[];
  readonly verdictRecords: VerdictRecord[];
  readonly packetTypes: string[];
}

/**
 * Transactional producers per input partition, used in turn.
 *
 * EndTxn returns once the coordinator has logged the decision (PrepareCommit); the commit markers
 * are written to the transaction's partitions after that, and until they are, the next
 * AddPartitionsToTxn of the same transactional id is refused with CONCURRENT_TRANSACTIONS. With
 * one producer per partition almost every transaction of a busy partition began with that refusal:
 * kafkajs then refreshes metadata and retries after its backoff (300 ms by default), which was most
 * of the end-to-end latency, and the retries themselves loaded the brokers. With two ids the next
 * transaction uses the other one, whose markers were written a whole transaction ago.
 *
 * Exactly once still holds: a transaction starts only after the previous one's EndTxn succeeded,
 * i.e. after its commit is decided (the markers follow whatever happens), so a transaction never
 * builds on outputs or state that could still be aborted; records stay in offset order in every
 * partition. Fencing takes both ids: a new owner initialises both before it reads offsets and state.
 */
const producersPerPartition = 2;

/**
 * Retries of the transactional producers. kafkajs has one backoff for every retriable error; the
 * first retry is short because the usual one is CONCURRENT_TRANSACTIONS (markers still being
 * written, see above), which the Java client retries after 20 ms; later ones grow (x2, capped), so
 * a broker failure still backs off. Retries stay unlimited, as kafkajs requires of an idempotent
 * producer.
 */
const transactionalRetry = {
  initialRetryTime: 20,
  multiplier: 2,
  maxRetryTime: 5_000,
  retries: Number.MAX_SAFE_INTEGER,
} as const;

export class KafkaRuntime {
  private readonly options: KafkaRuntimeOptions;
  private readonly now: () => number;
  private readonly admin: Admin;
  private consumer: Consumer | null = null;
  private readonly tasks = new Map<number, TaskSlot>();
  private assigned = new Set<number>();
  private joined = false;
  private failed: Error | null = null;

  constructor(options: KafkaRuntimeOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.admin = options.kafka.admin();
  }

  /** Joins the group and starts consuming; resolves once the consumer runs (not once partitions are assigned). */
  async start(): Promise<void> {
    const o = this.options;
    await this.admin.connect();
    const consumer = o.kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      rebalanceTimeout: Math.max(o.sessionTimeoutMs, 60_000),
      heartbeatInterval: Math.max(500, Math.floor(o.sessionTimeoutMs / 6)),
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 4 * 1024 * 1024,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.joined = true;
      this.onAssignment(payload.memberAssignment[o.topics.packets] ?? []);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      o.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
      if (!payload.restart) {
        this.failed = payload.error;
        o.onFatal?.(payload.error);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [o.topics.packets], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.concurrency,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** Ready: in the group, not failed, and every assigned partition restored. */
  async isReady(): Promise<boolean> {
    if (!this.joined || this.failed) return false;
    for (const p of this.assigned) if (!this.tasks.get(p)?.settled) return false;
    return true;
  }

  assignedPartitions(): number[] {
    return [...this.assigned].sort((a, b) => a - b);
  }

  /** The state stores of an assigned partition (for tests and diagnostics). */
  async stores(partition: number): Promise<ReadonlyMap<string, StateStore<unknown>> | undefined> {
    const slot = this.tasks.get(partition);
    return slot ? (await slot.pending).runner.stores : undefined;
  }

  /** Leaves the group after the transaction in hand commits, then closes the producers. */
  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    const slots = [...this.tasks.values()];
    this.tasks.clear();
    await Promise.all(slots.map((slot) => this.retire(slot.pending)));
    await this.admin.disconnect().catch(() => undefined);
  }

  /** Producer 0 keeps the id of the single-producer scheme (`<prefix>-<packets>-<p>`); the others add `.<n>`. */
  private transactionalId(partition: number, index: number): string {
    const id = `${this.options.transactionalIdPrefix}-${this.options.topics.packets}-${partition}`;
    return index === 0 ? id : `${id}.${index}`;
  }

  private onAssignment(partitions: readonly number[]): void {
    const o = this.options;
    this.assigned = new Set(partitions);
    o.metrics.assignedPartitions.set(partitions.length);
    for (const [p, slot] of this.tasks) {
      if (this.assigned.has(p)) continue;
      this.tasks.delete(p);
      o.metrics.consumerLag.remove(String(p));
      void this.retire(slot.pending);
    }
    const missing = partitions.filter((p) => !this.tasks.has(p));
    o.log.info({ partitions, restoring: missing }, 'partitions assigned');
    if (missing.length > 0) this.startBuild(missing);
  }

  /** Builds the tasks of several partitions together: one restore read serves them all. */
  private startBuild(partitions: readonly number[]): void {
    const all = this.buildTasks(partitions);
    for (const p of partitions) {
      const pending = all.then((built) => {
        const task = built.get(p);
        if (!task) throw new Error(`partition ${p} was not built`);
        return task;
      });
      const slot: TaskSlot = { pending, settled: null };
      pending.then(
        (task) => {
          slot.settled = task;
        },
        (err: unknown) => {
          this.options.log.error(
            { err, partition: p },
            'could not take over partition; retrying on its next batch',
          );
          if (this.tasks.get(p) === slot) this.tasks.delete(p);
        },
      );
      this.tasks.set(p, slot);
    }
  }

  private async buildTasks(partitions: readonly number[]): Promise<Map<number, PartitionTask>> {
    const o = this.options;
    const started = performance.now();
    const producers = new Map<number, Producer[]>();
    try {
      // Initialising the transactional ids is the fence: it must happen before offsets and state are read.
      await Promise.all(
        partitions.flatMap((p) => {
          const own: Producer[] = [];
          producers.set(p, own);
          return Array.from({ length: producersPerPartition }, async (_, index) => {
            const producer = o.kafka.producer({
              transactionalId: this.transactionalId(p, index),
              idempotent: true,
              maxInFlightRequests: 1,
              transactionTimeout: o.transactionTimeoutMs,
              allowAutoTopicCreation: false,
              retry: transactionalRetry,
            });
            own[index] = producer;
            await producer.connect();
          });
        }),
      );
      const committed = new Map<number, bigint>();
      const [fetched] = await this.admin.fetchOffsets({ groupId: o.groupId, topics: [o.topics.packets] });
      for (const { partition, offset } of fetched?.partitions ?? []) {
        const value = BigInt(offset);
        committed.set(partition, value < 0n ? 0n : value);
      }
      const runners = new Map<number, ChainRunner>();
      for (const p of partitions) {
        const runner = new ChainRunner(o.createSteps(), memoryStoreFactory(o.maxStateEntries));
        runner.init(this.now);
        runners.set(p, runner);
      }
      const restored = await readPartitionsToEnd({
        kafka: o.kafka,
        admin: this.admin,
        topic: o.changelogTopic,
        partitions,
        groupPrefix: o.groupId,
        timeoutMs: o.restoreTimeoutMs,
        onMessage: (p, message) => restoreRecord(runners.get(p), message),
      });
      o.metrics.restoredRecords.inc(restored);
      o.metrics.restoreDuration.observe((performance.now() - started) / 1000);
      const built = new Map<number, PartitionTask>();
      for (const p of partitions) {
        const runner = runners.get(p) as ChainRunner;
        built.set(p, {
          partition: p,
          producers: producers.get(p) as Producer[],
          turn: 0,
          runner,
          position: committed.get(p) ?? 0n,
          retired: false,
          inFlight: null,
        });
        o.onRestored?.(p, runner.stores);
      }
      o.log.info(
        { partitions, restoredRecords: restored, ms: Math.round(performance.now() - started) },
        'partitions restored',
      );
      return built;
    } catch (err) {
      await Promise.all(
        [...producers.values()].flat().map((producer) => producer.disconnect().catch(() => undefined)),
      );
      throw err;
    }
  }

  private async retire(pending: Promise<PartitionTask>): Promise<void> {
    const task = await pending.catch(() => null);
    if (!task) return;
    task.retired = true;
    await task.inFlight?.catch(() => undefined);
    task.runner.close();
    await Promise.all(task.producers.map((producer) => producer.disconnect().catch(() => undefined)));
  }

  /** The task of an assigned partition, built (fenced and restored) if need be; null when not ours. */
  private async taskFor(partition: number, heartbeat: () => Promise<void>): Promise<PartitionTask | null> {
    if (!this.assigned.has(partition)) return null;
    if (!this.tasks.has(partition)) this.startBuild([partition]);
    const pending = (this.tasks.get(partition) as TaskSlot).pending;
    // A restore can outlast the session timeout; heartbeats keep the membership meanwhile.
    const timer = setInterval(
      () => void heartbeat().catch(() => undefined),
      Math.max(500, Math.floor(this.options.sessionTimeoutMs / 4)),
    );
    try {
      const task = await pending;
      return task.retired ? null : task;
    } finally {
      clearInterval(timer);
    }
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const o = this.options;
    const fetchedAt = performance.now();
    const task = await this.taskFor(batch.partition, heartbeat);
    if (!task) return;
    // Below the task's position: committed already, by this task before a rejoin or by a previous owner.
    const messages = batch.messages.filter((m) => BigInt(m.offset) >= task.position);
    if (messages.length === 0) {
      const last = batch.messages.at(-1);
      if (last) resolveOffset(last.offset);
      return;
    }
    let start = 0;
    while (start < messages.length) {
      // Stopping or rebalancing: the transaction in hand has committed; leave the rest for the next owner.
      if (!isRunning() || isStale() || task.retired) return;
      const chunk = await this.inspect(task, batch, messages, start);
      const last = messages[chunk.end - 1] as KafkaMessage;
      // After the last message, also skip the transaction markers that end the fetched records.
      const next = chunk.end === messages.length ? BigInt(batch.lastOffset()) + 1n : BigInt(last.offset) + 1n;
      if (!(await this.commit(task, chunk, next))) {
        if (this.tasks.get(task.partition)?.settled === task) this.tasks.delete(task.partition);
        task.retired = true;
        void this.retire(Promise.resolve(task));
        return;
      }
      task.position = next;
      o.metrics.fetchToCommit.observe((performance.now() - fetchedAt) / 1000);
      resolveOffset(last.offset);
      const lag = BigInt(batch.highWatermark) - next;
      o.metrics.consumerLag.set({ partition: String(task.partition) }, Number(lag < 0n ? 0n : lag));
      start = chunk.end;
      await heartbeat();
    }
  }

  /** Runs events from `start` through the chain until the chunk is full (count or time). */
  private async inspect(
    task: PartitionTask,
    batch: Batch,
    messages: readonly KafkaMessage[],
    start: number,
  ): Promise<Chunk> {
    const o = this.options;
    const verdicts: Message[] = [];
    const approved: Message[] = [];
    const verdictRecords: VerdictRecord[] = [];
    const packetTypes: string[] = [];
    const began = this.now();
    let i = start;
    for (; i < messages.length && i - start < o.batchSize; i += 1) {
      if (i > start && this.now() - began >= o.batchMaxMs) break;
      const message = messages[i] as KafkaMessage;
      const packetRef: PacketRef = { topic: batch.topic, partition: batch.partition, offset: message.offset };
      const key = message.key?.toString() ?? '';
      let record: PacketEventRecord;
      try {
        if (message.value === null) throw new Error('record has no value');
        record = await o.catalog.decode('packets', message.value);
      } catch (err) {
        const verdict = undecodableVerdict({
          clientId: key,
          packetRef,
          receivedAt: Number(message.timestamp),
          decidedAt: this.now(),
          reason: describeError(err),
        });
        verdictRecords.push(verdict);
        verdicts.push({ key, value: o.catalog.encode('verdicts', verdict) });
        packetTypes.push('UNKNOWN');
        continue;
      }
      packetTypes.push(record.packetType);
      const t0 = performance.now();
      try {
        const output = task.runner.process(toInspectedEvent(record), packetRef, this.now);
        o.metrics.inspectDuration.observe((performance.now() - t0) / 1000);
        for (const verdict of output.verdicts) {
          const value = toVerdictRecord(verdict, record);
          verdictRecords.push(value);
          verdicts.push({ key: record.clientId, value: o.catalog.encode('verdicts', value) });
        }
        for (const _ of output.approved) {
          approved.push({
            key: record.clientId,
            value: o.catalog.encode('approved', toApprovedRecord(record, packetRef, this.now())),
          });
        }
      } catch (err) {
        o.log.error({ err, packetRef }, 'a step threw; the event is quarantined');
        const value = inspectionErrorVerdict(record, packetRef, this.now(), describeError(err));
        verdictRecords.push(value);
        verdicts.push({ key: record.clientId, value: o.catalog.encode('verdicts', value) });
      }
    }
    return { end: i, verdicts, approved, verdictRecords, packetTypes };
  }

  /** One transaction: outputs, changelog, offset. False when it did not commit (the task is then dropped). */
  private async commit(task: PartitionTask, chunk: Chunk, nextOffset: bigint): Promise<boolean> {
    const o = this.options;
    const changelog: Message[] = [];
    for (const store of task.runner.stores.values()) {
      for (const change of store.takeChanges()) {
        changelog.push({
          key: changelogKey(store.name, change.key),
          value: change.value,
          partition: task.partition,
        });
      }
    }
    const topicMessages = [{ topic: o.topics.verdicts, messages: chunk.verdicts }];
    if (chunk.approved.length > 0) topicMessages.push({ topic: o.topics.approved, messages: chunk.approved });
    if (changelog.length > 0) topicMessages.push({ topic: o.changelogTopic, messages: changelog });
    const started = performance.now();
    let transaction: Transaction | null = null;
    const phase = o.metrics.transactionPhase;
    const work = (async () => {
      const producer = task.producers[task.turn % task.producers.length] as Producer;
      transaction = await producer.transaction();
      let mark = performance.now();
      await transaction.sendBatch({ topicMessages, acks: -1 });
      phase.observe({ phase: 'send' }, (performance.now() - mark) / 1000);
      mark = performance.now();
      await transaction.sendOffsets({
        consumerGroupId: o.groupId,
        topics: [
          {
            topic: o.topics.packets,
            partitions: [{ partition: task.partition, offset: nextOffset.toString() }],
          },
        ],
      });
      phase.observe({ phase: 'offsets' }, (performance.now() - mark) / 1000);
      mark = performance.now();
      await transaction.commit();
      phase.observe({ phase: 'commit' }, (performance.now() - mark) / 1000);
    })();
    task.inFlight = work;
    try {
      await work;
    } catch (err) {
      o.metrics.transactions.inc({ outcome: 'aborted' });
      o.log.warn(
        { err, partition: task.partition, events: chunk.packetTypes.length },
        'transaction failed; the partition is rebuilt from the log (fenced by a new owner, or the cluster failed)',
      );
      const open = transaction as Transaction | null;
      if (open?.isActive()) await open.abort().catch(() => undefined);
      return false;
    } finally {
      task.inFlight = null;
    }
    // The next transaction uses the other producer: this one's markers may still be on their way.
    task.turn += 1;
    o.metrics.transactions.inc({ outcome: 'committed' });
    o.metrics.transactionDuration.observe((performance.now() - started) / 1000);
    o.metrics.transactionEvents.observe(chunk.packetTypes.length);
    for (const type of chunk.packetTypes) o.metrics.events.inc({ packet_type: type });
    for (const verdict of chunk.verdictRecords) {
      o.metrics.verdicts.inc({ decision: verdict.decision });
      for (const f of verdict.findings)
        o.metrics.findings.inc({ class: f.class, rule_id: o.metrics.ruleLabel(f.ruleId) });
    }
    o.metrics.approved.inc(chunk.approved.length);
    return true;
  }
}

function restoreRecord(runner: ChainRunner | undefined, message: KafkaMessage): void {
  const parsed = parseChangelogKey(message.key?.toString() ?? '');
  if (!runner || !parsed) return;
  runner.stores.get(parsed.store)?.restore({
    key: parsed.key,
    value: message.value === null ? null : message.value.toString(),
  });
}
