import type { Admin, Batch, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { describeError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { ApprovedMessage, Delivery } from '../schemas/types.generated.js';
import type { BridgeMetrics } from './metrics.js';
import type { OriginLink } from './origin-link.js';
import { PartitionProgress } from './progress.js';
import type { RecordWriter } from './record-writer.js';

/**
 * sentinel.approved -> origin, at least once, in per-client order.
 *
 * - Partition p always goes through connection p mod N, and a connection sends in queue order, so
 *   the messages of one client (one partition) reach the origin in offset order.
 * - An offset is committed only when the origin acknowledged every message before it AND the
 *   delivery record of each is stored (acks=all): a committed message always has its delivery record.
 * - While a connection is down (or holds more than `maxPending` uncommitted messages) its partitions
 *   are paused: messages wait in Kafka, not in memory, and resume in order after the reconnect.
 */
export interface UplinkOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly groupId: string;
  readonly catalog: SchemaCatalog;
  readonly links: readonly OriginLink[];
  readonly deliveries: RecordWriter;
  readonly bridgeId: string;
  readonly maxPending: number;
  readonly commitIntervalMs: number;
  readonly sessionTimeoutMs: number;
  readonly metrics: BridgeMetrics;
  readonly log: Logger;
}

const lagPollMs = 1000;

export class UplinkRelay {
  private readonly options: UplinkOptions;
  private consumer: Consumer | null = null;
  private admin: Admin | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  private readonly progress = new Map<number, PartitionProgress>();
  private readonly committed = new Map<number, bigint>();
  private assigned = new Set<number>();
  private readonly paused = new Set<number>();
  private joined = false;
  private commitTimer: NodeJS.Timeout | null = null;
  private committing: Promise<void> | null = null;
  private stopping = false;

  constructor(options: UplinkOptions) {
    this.options = options;
  }

  ready(): boolean {
    return this.joined && this.options.links.some((link) => link.isConnected);
  }

  async start(): Promise<void> {
    const { options } = this;
    const consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 3)),
      maxWaitTimeInMs: 20,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.joined = true;
      this.onAssignment(new Set(event.payload.memberAssignment[options.topic] ?? []));
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.joined = false;
      options.log.error(
        { err: describeError(event.payload.error) },
        'approved consumer crashed; kafkajs restarts it',
      );
    });
    // A batch of transaction markers only never reaches eachBatch; its end still moves the commit point.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      const { partition, batchSize, lastOffset, highWatermark } = event.payload;
      if (batchSize !== 0 || !this.assigned.has(partition)) return;
      this.progress.get(partition)?.fetchedThrough(BigInt(lastOffset) + 1n, BigInt(highWatermark));
    });
    for (const link of options.links) link.watchConnected(() => this.applyFlowControl());
    await consumer.connect();
    // A new group starts at the beginning of the retained log: no approved message is skipped.
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, options.links.length),
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.commitTimer = setInterval(() => void this.commit(), options.commitIntervalMs);
    this.admin = options.kafka.admin();
    await this.admin.connect();
    this.lagTimer = setInterval(() => void this.pollLag(), lagPollMs);
  }

  /** Stops fetching, waits up to `drainMs` for what was consumed to be acknowledged, commits, leaves the group. */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    const consumer = this.consumer;
    if (!consumer) return;
    if (this.assigned.size > 0) consumer.pause([{ topic: this.options.topic }]);
    const deadline = Date.now() + drainMs;
    while (this.outstanding() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (this.lagTimer) clearInterval(this.lagTimer);
    await this.admin?.disconnect().catch(() => undefined);
    await this.committing;
    await this.commit();
    await consumer.disconnect();
    this.consumer = null;
  }

  outstanding(): number {
    let total = 0;
    for (const progress of this.progress.values()) total += progress.outstanding();
    return total;
  }

  private linkIndexOf(partition: number): number {
    return partition % this.options.links.length;
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const { partition } = batch;
    if (!this.assigned.has(partition)) return;
    let progress = this.progress.get(partition);
    if (!progress) {
      progress = new PartitionProgress(BigInt(batch.firstOffset() ?? batch.lastOffset()));
      this.progress.set(partition, progress);
    }
    const link = this.options.links[this.linkIndexOf(partition)] as OriginLink;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const offset = BigInt(message.offset);
      if (!progress.alreadySubmitted(offset)) {
        progress.submitted(offset);
        const approved = await this.decode(message.value);
        if (approved) this.publish(link, partition, offset, progress, approved);
        else progress.acknowledged(offset);
      }
      resolveOffset(message.offset);
    }
    progress.fetchedThrough(BigInt(batch.lastOffset()) + 1n, BigInt(batch.highWatermark));
    resolveOffset(batch.lastOffset());
    this.updateLag(partition, progress);
    this.applyFlowControl();
    await heartbeat();
  }

  private async decode(value: Batch['messages'][number]['value']): Promise<ApprovedMessage | null> {
    if (!value) {
      this.options.metrics.skipped.inc({ reason: 'empty' });
      return null;
    }
    try {
      return await this.options.catalog.decode('approved', value);
    } catch (err) {
      this.options.metrics.skipped.inc({ reason: 'undecodable' });
      this.options.log.warn({ err: describeError(err) }, 'skipping an undecodable approved record');
      return null;
    }
  }

  private publish(
    link: OriginLink,
    partition: number,
    offset: bigint,
    progress: PartitionProgress,
    approved: ApprovedMessage,
  ): void {
    const { metrics, catalog, deliveries, bridgeId, log } = this.options;
    // At least QoS 1 towards the origin, so the bridge knows what the origin has.
    const qos: 1 | 2 = approved.qos >= 2 ? 2 : 1;
    link.publish({
      topic: approved.topic,
      payload: approved.payload,
      qos,
      retain: approved.retain,
      partition,
      onAcknowledged: (at, publishedAt, attempts) => {
        metrics.deliveries.inc();
        if (attempts > 1) metrics.republished.inc();
        metrics.pubackSeconds.observe(Math.max(0, at - publishedAt) / 1000);
        const endToEndMs = at - approved.receivedAt;
        metrics.deliverySeconds.observe(Math.max(0, endToEndMs) / 1000);
        const record: Delivery = {
          eventId: approved.eventId,
          clientId: approved.clientId,
          topic: approved.topic,
          qos,
          retain: approved.retain,
          payloadSize: approved.payload.length,
          bridgeId,
          receivedAt: approved.receivedAt,
          approvedAt: approved.approvedAt,
          deliveredAt: at,
          endToEndMs,
          packetRef: approved.packetRef,
          attempts,
        };
        deliveries.write({ key: approved.clientId, value: catalog.encode('deliveries', record) }).then(
          () => progress.acknowledged(offset),
          (err: unknown) =>
            // Left unacknowledged: the offset is not committed and the next owner delivers it again.
            log.warn(
              { err: describeError(err), partition, offset: String(offset) },
              'delivery record not stored',
            ),
        );
      },
    });
  }

  private onAssignment(assigned: Set<number>): void {
    const revoked = new Set([...this.assigned].filter((p) => !assigned.has(p)));
    this.assigned = assigned;
    if (revoked.size > 0) {
      let dropped = 0;
      for (const link of this.options.links) dropped += link.dropQueued(revoked);
      for (const partition of revoked) {
        this.progress.delete(partition);
        this.committed.delete(partition);
        this.paused.delete(partition);
        this.options.metrics.lag.remove({ partition: String(partition) });
      }
      this.options.log.info(
        { revoked: [...revoked], dropped },
        'partitions revoked; their unsent messages dropped',
      );
    }
    this.options.log.info(
      { partitions: [...assigned].sort((a, b) => a - b) },
      'approved partitions assigned',
    );
    this.paused.clear();
    this.applyFlowControl();
  }

  /** Pauses the partitions of a connection that is down or full, resumes them when it is neither. */
  private applyFlowControl(): void {
    const consumer = this.consumer;
    if (!consumer || this.stopping || this.assigned.size === 0) return;
    const { links, maxPending, topic } = this.options;
    const pendingPerLink = links.map(() => 0);
    for (const [partition, progress] of this.progress) {
      const index = this.linkIndexOf(partition);
      pendingPerLink[index] = (pendingPerLink[index] ?? 0) + progress.outstanding();
    }
    const toPause: number[] = [];
    const toResume: number[] = [];
    for (const partition of this.assigned) {
      const index = this.linkIndexOf(partition);
      const link = links[index] as OriginLink;
      const pending = pendingPerLink[index] ?? 0;
      const isPaused = this.paused.has(partition);
      if (!isPaused && (!link.isConnected || pending > maxPending)) toPause.push(partition);
      else if (isPaused && link.isConnected && pending <= maxPending / 2) toResume.push(partition);
    }
    if (toPause.length > 0) {
      consumer.pause([{ topic, partitions: toPause }]);
      for (const p of toPause) this.paused.add(p);
    }
    if (toResume.length > 0) {
      consumer.resume([{ topic, partitions: toResume }]);
      for (const p of toResume) this.paused.delete(p);
    }
    this.options.metrics.pending.set(pendingPerLink.reduce((a, b) => a + b, 0));
  }

  private updateLag(partition: number, progress: PartitionProgress): void {
    this.options.metrics.lag.set({ partition: String(partition) }, progress.lag());
  }

  /**
   * Paused partitions get no fetch responses, so their end offsets are polled: the lag of a
   * partition waiting for the origin keeps growing on the dashboard instead of freezing.
   */
  private async pollLag(): Promise<void> {
    const admin = this.admin;
    if (!admin || this.assigned.size === 0) return;
    try {
      const ends = await admin.fetchTopicOffsets(this.options.topic);
      let committed: Map<number, bigint> | undefined;
      for (const end of ends) {
        if (!this.assigned.has(end.partition)) continue;
        const highWatermark = BigInt(end.high);
        const progress = this.progress.get(end.partition);
        if (progress) {
          progress.observeHighWatermark(highWatermark);
          this.updateLag(end.partition, progress);
          continue;
        }
        committed ??= await this.committedOffsets(admin);
        const from = committed.get(end.partition) ?? BigInt(end.low);
        const lag = highWatermark - from;
        this.options.metrics.lag.set({ partition: String(end.partition) }, lag > 0n ? Number(lag) : 0);
      }
    } catch (err) {
      this.options.log.debug({ err: describeError(err) }, 'lag poll failed');
    }
  }

  private async committedOffsets(admin: Admin): Promise<Map<number, bigint>> {
    const [topic] = await admin.fetchOffsets({ groupId: this.options.groupId, topics: [this.options.topic] });
    const offsets = new Map<number, bigint>();
    for (const p of topic?.partitions ?? [])
      if (p.offset !== '-1') offsets.set(p.partition, BigInt(p.offset));
    return offsets;
  }

  private commit(): Promise<void> {
    if (this.committing) return this.committing;
    const consumer = this.consumer;
    if (!consumer) return Promise.resolve();
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    for (const [partition, progress] of this.progress) {
      this.updateLag(partition, progress);
      const point = progress.commitPoint();
      if (point > (this.committed.get(partition) ?? -1n)) {
        offsets.push({ topic: this.options.topic, partition, offset: point.toString() });
      }
    }
    this.applyFlowControl();
    if (offsets.length === 0) return Promise.resolve();
    this.committing = consumer
      .commitOffsets(offsets)
      .then(
        () => {
          for (const o of offsets) {
            if (this.progress.has(o.partition)) this.committed.set(o.partition, BigInt(o.offset));
          }
          this.options.metrics.commits.inc();
        },
        (err: unknown) => {
          // A rebalance in progress: the next tick commits for whatever this instance still owns.
          this.options.log.warn(
            { err: describeError(err) },
            'offset commit failed; retrying on the next tick',
          );
        },
      )
      .finally(() => {
        this.committing = null;
      });
    return this.committing;
  }
}
