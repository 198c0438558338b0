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
import { fenceTransactionalId, initTransactionalProducer } from './fencing.js';
import { partitionGroupAssigner } from './group-assigner.js';
import { GroupCommitter } from './group-commit.js';
import type { ProcessorMetrics } from './metrics.js';
import { byGroup, groupOf, groupTransactionalIds, legacyTransactionalIds } from './partition-groups.js';
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
 * The input partitions are divided into fixed partition groups (partition-groups.ts); the consumer
 * group's assigner (group-assigner.ts) gives each group whole to one instance. An owned group is a
 * task: one chain and state stores per partition, and the group's transactional producers (two,
 * used in turn: see `producersPerGroup`) whose ids name the group, not the instance. kafkajs cannot
 * send the consumer group generation with the offsets (KIP-447), so fencing comes from the
 * transactional ids: whoever takes a group initialises its ids, which bumps their epochs, fences
 * the previous owner (a zombie that missed the rebalance) and settles its open transaction. Only
 * then does the new owner read the committed offsets and the state of the group's partitions.
 *
 * Per transaction, for every partition of the group that has a chunk ready (group-commit.ts):
 * verdicts, approved PUBLISHes, the changed state entries (to the changelog partition of the input
 * partition) and the next input offset. If a transaction fails the whole group is dropped,
 * in-memory state included, and rebuilt from the log on its next batch.
 */
export interface KafkaRuntimeOptions {
  readonly kafka: Kafka;
  readonly catalog: SchemaCatalog;
  readonly topics: TopicNames;
  readonly changelogTopic: string;
  /** A fresh chain per partition. */
  readonly createSteps: () => readonly AnyStep[];
  readonly groupId: string;
  /** Transactional ids are `<prefix>-<packets topic>-g<group>of<groups>`; every instance of a group must share it. */
  readonly transactionalIdPrefix: string;
  /** Partition groups: partition p belongs to group p % partitionGroups. Every instance must agree. */
  readonly partitionGroups: number;
  /** Events per partition per transaction at most. */
  readonly batchSize: number;
  /** A partition's chunk is cut after this long of inspection, whatever its size, in ms. */
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

/** One input partition of an owned group. */
interface PartitionState {
  readonly partition: number;
  readonly runner: ChainRunner;
  /** Next input offset to process: everything before it is committed together with its outputs. */
  position: bigint;
}

/** An owned partition group: its partitions, its producers, its transactions. */
interface GroupTask {
  readonly group: number;
  readonly partitions: ReadonlyMap<number, PartitionState>;
  /** The group's transactional producers, used in turn (see `producersPerGroup`). */
  readonly producers: readonly Producer[];
  /** Transactions committed so far; picks the producer of the next one. */
  turn: number;
  /** Revoked or failed: never commits again. */
  retired: boolean;
  readonly committer: GroupCommitter<Contribution>;
}

/** A group task being built (fenced and restored) or built. */
interface TaskSlot {
  /** The partitions the task is built for (all assigned partitions of the group). */
  readonly partitions: readonly number[];
  readonly pending: Promise<GroupTask>;
  settled: GroupTask | null;
}

/** What one partition's chunk adds to a transaction, and the counts published once it commits. */
interface Chunk {
  readonly end: number;
  readonly verdicts: Message[];
  readonly approved: Message[];
  readonly verdictRecords: VerdictRecord[];
  readonly packetTypes: string[];
}

/** One partition's share of a group transaction. */
interface Contribution {
  readonly partition: number;
  readonly chunk: Chunk;
  readonly changelog: Message[];
  readonly nextOffset: bigint;
}

/**
 * Transactional producers per partition group, used in turn.
 *
 * EndTxn returns once the coordinator has logged the decision (PrepareCommit); the commit markers
 * are written to the transaction's partitions after that, and until they are, the next
 * AddPartitionsToTxn of the same transactional id is refused with CONCURRENT_TRANSACTIONS (kafkajs
 * then refreshes metadata and backs off). With two ids the next transaction uses the other one,
 * whose markers were written a whole transaction ago.
 *
 * Exactly once still holds: a group's transactions never overlap (group-commit.ts) and one starts
 * only after the previous one's EndTxn succeeded, i.e. after its commit is decided, so a
 * transaction never builds on outputs or state that could still be aborted; records stay in offset
 * order in every partition. Fencing takes both ids: a new owner initialises both before it reads
 * offsets and state.
 */
const producersPerGroup = 2;

export class KafkaRuntime {
  private readonly options: KafkaRuntimeOptions;
  private readonly now: () => number;
  private readonly admin: Admin;
  private consumer: Consumer | null = null;
  /** Group tasks by group number. */
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
      // Whole partition groups per member; a member with another group count (or the per-partition
      // version) has no protocol in common with this one and is refused by the broker.
      partitionAssigners: [partitionGroupAssigner(o.partitionGroups)],
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
      const inconsistent = /INCONSISTENT_GROUP_PROTOCOL|incompatible with those of existing members/.test(
        `${(payload.error as { type?: string }).type ?? ''} ${payload.error.message}`,
      );
      o.log.error(
        {
          err: payload.error,
          restart: payload.restart,
          ...(inconsistent
            ? {
                hint:
                  `the group ${o.groupId} has members that divide the partitions differently ` +
                  `(another SENTINEL_PROCESSORS_PARTITION_GROUPS, or the per-partition version): ` +
                  'stop them before starting this one',
              }
            : {}),
        },
        'consumer crashed',
      );
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
    for (const p of this.assigned) if (!this.tasks.get(this.groupOf(p))?.settled) return false;
    return true;
  }

  assignedPartitions(): number[] {
    return [...this.assigned].sort((a, b) => a - b);
  }

  /** The state stores of an assigned partition (for tests and diagnostics). */
  async stores(partition: number): Promise<ReadonlyMap<string, StateStore<unknown>> | undefined> {
    const slot = this.tasks.get(this.groupOf(partition));
    return slot ? (await slot.pending).partitions.get(partition)?.runner.stores : undefined;
  }

  /** Leaves the group after the transactions in hand commit, then closes the producers. */
  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    const slots = [...this.tasks.values()];
    this.tasks.clear();
    await Promise.all(slots.map((slot) => this.retire(slot.pending)));
    await this.admin.disconnect().catch(() => undefined);
  }

  private groupOf(partition: number): number {
    return groupOf(partition, this.options.partitionGroups);
  }

  private onAssignment(partitions: readonly number[]): void {
    const o = this.options;
    this.assigned = new Set(partitions);
    o.metrics.assignedPartitions.set(partitions.length);
    const groups = byGroup(partitions, o.partitionGroups);
    for (const [g, slot] of this.tasks) {
      const now = groups.get(g);
      if (now && sameList(now, slot.partitions)) continue;
      this.tasks.delete(g);
      for (const p of slot.partitions) if (!this.assigned.has(p)) o.metrics.consumerLag.remove(String(p));
      void this.retire(slot.pending);
    }
    const missing = [...groups].filter(([g]) => !this.tasks.has(g));
    o.log.info(
      { partitions, groups: [...groups.keys()], restoring: missing.map(([g]) => g) },
      'partitions assigned',
    );
    if (missing.length > 0) this.startBuild(missing);
  }

  /** Builds several group tasks together: one restore read serves them all. */
  private startBuild(groups: ReadonlyArray<readonly [number, readonly number[]]>): void {
    const all = this.buildTasks(groups);
    for (const [g, partitions] of groups) {
      const pending = all.then((built) => {
        const task = built.get(g);
        if (!task) throw new Error(`partition group ${g} was not built`);
        return task;
      });
      const slot: TaskSlot = { partitions, pending, settled: null };
      pending.then(
        (task) => {
          slot.settled = task;
        },
        (err: unknown) => {
          this.options.log.error(
            { err, group: g, partitions },
            'could not take over partition group; retrying on its next batch',
          );
          if (this.tasks.get(g) === slot) this.tasks.delete(g);
        },
      );
      this.tasks.set(g, slot);
    }
  }

  private async buildTasks(
    groups: ReadonlyArray<readonly [number, readonly number[]]>,
  ): Promise<Map<number, GroupTask>> {
    const o = this.options;
    const started = performance.now();
    const partitions = groups.flatMap(([, owned]) => owned);
    const producers = new Map<number, Producer[]>();
    try {
      // The fence, before offsets and state are read: the group's ids, and the per-partition ids of
      // the previous version so that an instance of it that missed the upgrade cannot commit.
      await Promise.all([
        ...groups.flatMap(([g]) => {
          const own: Producer[] = [];
          producers.set(g, own);
          const ids = groupTransactionalIds(
            o.transactionalIdPrefix,
            o.topics.packets,
            g,
            o.partitionGroups,
            producersPerGroup,
          );
          return ids.map(async (id, index) => {
            own[index] = await initTransactionalProducer(o.kafka, id, o.transactionTimeoutMs);
          });
        }),
        ...partitions.flatMap((p) =>
          legacyTransactionalIds(o.transactionalIdPrefix, o.topics.packets, p).map((id) =>
            fenceTransactionalId(o.kafka, id, o.transactionTimeoutMs),
          ),
        ),
      ]);
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
      const built = new Map<number, GroupTask>();
      for (const [g, owned] of groups) {
        const states = new Map<number, PartitionState>();
        for (const p of owned) {
          const runner = runners.get(p) as ChainRunner;
          states.set(p, { partition: p, runner, position: committed.get(p) ?? 0n });
          o.onRestored?.(p, runner.stores);
        }
        const task: GroupTask = {
          group: g,
          partitions: states,
          producers: producers.get(g) as Producer[],
          turn: 0,
          retired: false,
          committer: new GroupCommitter((items) => this.commit(task, items)),
        };
        built.set(g, task);
      }
      o.log.info(
        {
          groups: groups.map(([g]) => g),
          partitions,
          restoredRecords: restored,
          ms: Math.round(performance.now() - started),
        },
        'partition groups restored',
      );
      return built;
    } catch (err) {
      await Promise.all(
        [...producers.values()].flat().map((producer) => producer.disconnect().catch(() => undefined)),
      );
      throw err;
    }
  }

  private async retire(pending: Promise<GroupTask>): Promise<void> {
    const task = await pending.catch(() => null);
    if (!task) return;
    task.retired = true;
    await task.committer.close();
    for (const state of task.partitions.values()) state.runner.close();
    await Promise.all(task.producers.map((producer) => producer.disconnect().catch(() => undefined)));
  }

  /** A failed transaction: the group never commits again and is rebuilt from the log on its next batch. */
  private drop(task: GroupTask): void {
    if (this.tasks.get(task.group)?.settled === task) this.tasks.delete(task.group);
    if (task.retired) return;
    task.retired = true;
    void this.retire(Promise.resolve(task));
  }

  /** The task of an assigned partition's group, built (fenced and restored) if need be; null when not ours. */
  private async taskFor(partition: number, heartbeat: () => Promise<void>): Promise<GroupTask | null> {
    if (!this.assigned.has(partition)) return null;
    const g = this.groupOf(partition);
    if (!this.tasks.has(g)) {
      const owned = [...this.assigned].filter((p) => this.groupOf(p) === g).sort((a, b) => a - b);
      this.startBuild([[g, owned]]);
    }
    const pending = (this.tasks.get(g) as TaskSlot).pending;
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
    const state = task?.partitions.get(batch.partition);
    if (!task || !state) return;
    // Below the partition's position: committed already, by this task before a rejoin or by a previous owner.
    const messages = batch.messages.filter((m) => BigInt(m.offset) >= state.position);
    if (messages.length === 0) {
      const last = batch.messages.at(-1);
      if (last) resolveOffset(last.offset);
      return;
    }
    let start = 0;
    while (start < messages.length) {
      // Stopping or rebalancing: what was submitted has committed; leave the rest for the next owner.
      if (!isRunning() || isStale() || task.retired) return;
      // Announced before inspection: the group's next transaction waits for this chunk.
      const ticket = task.committer.begin();
      let chunk: Chunk;
      try {
        chunk = await this.inspect(state.runner, batch, messages, start);
      } catch (err) {
        ticket.abandon();
        throw err;
      }
      const last = messages[chunk.end - 1] as KafkaMessage;
      // After the last message, also skip the transaction markers that end the fetched records.
      const next = chunk.end === messages.length ? BigInt(batch.lastOffset()) + 1n : BigInt(last.offset) + 1n;
      const changelog = takeChangelog(state);
      // Joins the group's next transaction, with the chunks of its other partitions ready by then.
      const committed = await ticket.submit({
        partition: state.partition,
        chunk,
        changelog,
        nextOffset: next,
      });
      if (!committed) {
        this.drop(task);
        return;
      }
      state.position = next;
      o.metrics.fetchToCommit.observe((performance.now() - fetchedAt) / 1000);
      resolveOffset(last.offset);
      const lag = BigInt(batch.highWatermark) - next;
      o.metrics.consumerLag.set({ partition: String(state.partition) }, Number(lag < 0n ? 0n : lag));
      start = chunk.end;
      await heartbeat();
    }
  }

  /** Runs events from `start` through the chain until the chunk is full (count or time). */
  private async inspect(
    runner: ChainRunner,
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
        const output = runner.process(toInspectedEvent(record), packetRef, this.now);
        o.metrics.inspectDuration.observe((performance.now() - t0) / 1000);
        for (const verdict of output.verdicts) {
          const value = toVerdictRecord(verdict, record);
          verdictRecords.push(value);
          verdicts.push({ key: record.clientId, value: o.catalog.encode('verdicts', value) });
        }
        for (const message of output.approved) {
          approved.push({
            key: record.clientId,
            value: o.catalog.encode('approved', toApprovedRecord(message, record, packetRef, this.now())),
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

  /**
   * One transaction for the chunks of several partitions of a group: their outputs, their
   * changelog entries and their next offsets. False when it did not commit (the group is then dropped).
   */
  private async commit(task: GroupTask, items: readonly Contribution[]): Promise<boolean> {
    const o = this.options;
    if (task.retired) return false;
    const verdicts = items.flatMap((item) => item.chunk.verdicts);
    const approved = items.flatMap((item) => item.chunk.approved);
    const changelog = items.flatMap((item) => item.changelog);
    const offsets = new Map<number, bigint>();
    for (const item of items) {
      const previous = offsets.get(item.partition);
      if (previous === undefined || item.nextOffset > previous) offsets.set(item.partition, item.nextOffset);
    }
    const events = items.reduce((sum, item) => sum + item.chunk.packetTypes.length, 0);
    const topicMessages = [];
    if (verdicts.length > 0) topicMessages.push({ topic: o.topics.verdicts, messages: verdicts });
    if (approved.length > 0) topicMessages.push({ topic: o.topics.approved, messages: approved });
    if (changelog.length > 0) topicMessages.push({ topic: o.changelogTopic, messages: changelog });
    const started = performance.now();
    let transaction: Transaction | null = null;
    const phase = o.metrics.transactionPhase;
    try {
      const producer = task.producers[task.turn % task.producers.length] as Producer;
      transaction = await producer.transaction();
      let mark = performance.now();
      if (topicMessages.length > 0) await transaction.sendBatch({ topicMessages, acks: -1 });
      phase.observe({ phase: 'send' }, (performance.now() - mark) / 1000);
      mark = performance.now();
      await transaction.sendOffsets({
        consumerGroupId: o.groupId,
        topics: [
          {
            topic: o.topics.packets,
            partitions: [...offsets].map(([partition, offset]) => ({ partition, offset: offset.toString() })),
          },
        ],
      });
      phase.observe({ phase: 'offsets' }, (performance.now() - mark) / 1000);
      mark = performance.now();
      await transaction.commit();
      phase.observe({ phase: 'commit' }, (performance.now() - mark) / 1000);
    } catch (err) {
      o.metrics.transactions.inc({ outcome: 'aborted' });
      o.log.warn(
        { err, group: task.group, partitions: [...offsets.keys()], events },
        'transaction failed; the partition group is rebuilt from the log (fenced by a new owner, or the cluster failed)',
      );
      const open = transaction as Transaction | null;
      if (open?.isActive()) await open.abort().catch(() => undefined);
      return false;
    }
    // The next transaction uses the other producer: this one's markers may still be on their way.
    task.turn += 1;
    o.metrics.transactions.inc({ outcome: 'committed' });
    o.metrics.transactionDuration.observe((performance.now() - started) / 1000);
    o.metrics.transactionEvents.observe(events);
    o.metrics.transactionPartitions.observe(offsets.size);
    for (const item of items) {
      for (const type of item.chunk.packetTypes) o.metrics.events.inc({ packet_type: type });
      for (const verdict of item.chunk.verdictRecords) {
        o.metrics.verdicts.inc({ decision: verdict.decision });
        for (const f of verdict.findings)
          o.metrics.findings.inc({ class: f.class, rule_id: o.metrics.ruleLabel(f.ruleId) });
      }
      o.metrics.approved.inc(item.chunk.approved.length);
    }
    return true;
  }
}

/** The state changes of a partition since its last chunk, as changelog records to its changelog partition. */
function takeChangelog(state: PartitionState): Message[] {
  const changelog: Message[] = [];
  for (const store of state.runner.stores.values()) {
    for (const change of store.takeChanges()) {
      changelog.push({
        key: changelogKey(store.name, change.key),
        value: change.value,
        partition: state.partition,
      });
    }
  }
  return changelog;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function restoreRecord(runner: ChainRunner | undefined, message: KafkaMessage): void {
  const parsed = parseChangelogKey(message.key?.toString() ?? '');
  if (!runner || !parsed) return;
  runner.stores.get(parsed.store)?.restore({
    key: parsed.key,
    value: message.value === null ? null : message.value.toString(),
  });
}
