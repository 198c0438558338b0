import { describeError } from '../lib/errors.js';
import type { KafkaConnection } from '../lib/kafka/client.js';
import { BatchConsumer, type KafkaRecord } from '../lib/kafka/rdkafka.js';
import { ReplayWatermark } from '../lib/kafka/replays.js';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { ApprovedMessage, Delivery } from '../schemas/types.generated.js';
import type { BridgeMetrics } from './metrics.js';
import type { OriginLink } from './origin-link.js';
import { PartitionProgress } from './progress.js';

/**
 * sentinel.approved -> origin, each packet once, in per-client order.
 *
 * - Partition p always goes through connection p mod N, and a connection sends in queue order, so
 *   the messages of one client (one partition) reach the origin in offset order.
 * - Replays are skipped: the processors may write an approved record again after a crash or a
 *   rebalance (same `packetRef`), and `ReplayWatermark` (lib/kafka/replays.ts) says which records
 *   are such replays. The watermark of what lies below the commit point is stored in the commit's
 *   metadata and restored when a partition is assigned, so a replay is recognised across restarts
 *   and whichever instance owns the partition.
 * - An offset is committed only when the origin acknowledged every message before it AND the
 *   delivery record of each is stored (acks=all): a committed message always has its delivery record.
 * - While a connection is down (or holds more than `maxPending` uncommitted messages) its partitions
 *   are paused: messages wait in Kafka, not in memory, and resume in order after the reconnect.
 */
export interface UplinkOptions {
  readonly connection: KafkaConnection;
  readonly topic: string;
  /** The packets topic: approved records' sources are its partitions, or decision records (released). */
  readonly packetsTopic: string;
  readonly groupId: string;
  readonly catalog: SchemaCatalog;
  readonly links: readonly OriginLink[];
  /** Stores the delivery record of a message the origin acknowledged; resolves once it is on the in-sync replicas. */
  readonly recordDelivery: (delivery: Delivery) => Promise<unknown>;
  readonly bridgeId: string;
  readonly maxPending: number;
  readonly commitIntervalMs: number;
  readonly sessionTimeoutMs: number;
  readonly fetchWaitMs: number;
  readonly metrics: BridgeMetrics;
  readonly log: Logger;
  /** The consumer stopped for good (a fatal Kafka error). */
  readonly onFatal: (err: Error) => void;
}

const lagPollMs = 1000;
/** How long a fetch waits for a first record before the consumer loop turns (and serves callbacks). */
const idleWaitMs = 200;
/** How long a stop waits for its final commit to be confirmed. */
const finalCommitWaitMs = 5000;

export class UplinkRelay {
  private readonly options: UplinkOptions;
  private readonly consumer: BatchConsumer;
  /** Every packet taken for delivery: decides what is a replay. */
  private readonly admitted: ReplayWatermark;
  /** The packets below the commit point: what the commit metadata carries (see PartitionProgress). */
  private readonly settled: ReplayWatermark;
  private readonly assigned = new Set<number>();
  private readonly progress = new Map<number, PartitionProgress>();
  /** Watermarks being read from the group's commit metadata; a partition's records wait for it. */
  private readonly restoring = new Map<number, Promise<void>>();
  /** The commit point last committed (or requested) per partition; dropped when that commit failed. */
  private readonly requested = new Map<number, number>();
  private commitsInFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private running: Promise<void> | null = null;
  private connected = false;
  private stopping = false;
  private commitTimer: NodeJS.Timeout | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(options: UplinkOptions) {
    this.options = options;
    this.admitted = new ReplayWatermark(options.packetsTopic);
    this.settled = new ReplayWatermark(options.packetsTopic);
    this.consumer = new BatchConsumer({
      connection: options.connection,
      groupId: options.groupId,
      topics: [options.topic],
      // A new group starts at the beginning of the retained log: no approved message is skipped.
      start: 'earliest',
      // read_committed: records of an aborted transaction (older transactional writers) never reach
      // the origin; on idempotent, non-transactional writes it changes nothing.
      readCommitted: true,
      fetchWaitMs: options.fetchWaitMs,
      sessionTimeoutMs: options.sessionTimeoutMs,
      onAssigned: (partitions) => this.onAssigned(partitions),
      onRevoked: (partitions) => this.onRevoked(partitions),
      onCommitted: (err, offsets) => this.onCommitted(err, offsets),
    });
  }

  ready(): boolean {
    return this.connected && !this.stopping && this.options.links.some((link) => link.isConnected);
  }

  async start(): Promise<void> {
    const { options } = this;
    for (const link of options.links) link.watchConnected(() => this.applyFlowControl());
    await this.consumer.connect();
    this.connected = true;
    this.running = this.consumer
      .run((records) => this.onRecords(records), idleWaitMs)
      .catch((err: unknown) => {
        this.connected = false;
        options.onFatal(err instanceof Error ? err : new Error(String(err)));
      });
    this.commitTimer = setInterval(() => this.commit(), options.commitIntervalMs);
    this.lagTimer = setInterval(() => void this.pollLag(), lagPollMs);
  }

  /**
   * Stops fetching, waits up to `drainMs` for what was taken to be acknowledged and recorded,
   * commits it (with the watermarks) and leaves the group.
   */
  async stop(drainMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { topic, log } = this.options;
    if (this.connected) this.consumer.pause(topic, this.consumer.assignment(topic));
    await this.waitFor(() => this.outstanding() === 0, drainMs);
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (this.lagTimer) clearInterval(this.lagTimer);
    this.commit();
    if (!(await this.waitFor(() => this.commitsInFlight === 0, finalCommitWaitMs))) {
      log.warn({ commits: this.commitsInFlight }, 'final offset commit not confirmed in time');
    }
    if (this.outstanding() > 0) {
      log.warn(
        { outstanding: this.outstanding() },
        'stopping with unacknowledged messages; the next owner delivers them again',
      );
    }
    await this.consumer.disconnect();
    await this.running;
    this.connected = false;
  }

  outstanding(): number {
    let total = 0;
    for (const progress of this.progress.values()) total += progress.outstanding();
    return total;
  }

  private linkOf(partition: number): OriginLink {
    const { links } = this.options;
    return links[partition % links.length] as OriginLink;
  }

  /** Records of several partitions, in offset order within each; the next fetch waits for this. */
  private async onRecords(records: readonly KafkaRecord[]): Promise<void> {
    for (const record of records) {
      if (this.stopping) break;
      await this.take(record);
    }
    this.applyFlowControl();
  }

  private async take(record: KafkaRecord): Promise<void> {
    const { partition, offset } = record;
    const restoring = this.restoring.get(partition);
    if (restoring) await restoring;
    if (this.progress.get(partition)?.alreadyTaken(offset)) return;
    const approved = await this.decode(record.value);
    // The partition may have been revoked while this record waited.
    if (this.stopping || !this.assigned.has(partition)) return;
    const progress = this.progress.get(partition) ?? this.track(partition, offset);
    if (progress.alreadyTaken(offset)) return;
    if (!approved) {
      progress.skipped(offset);
      return;
    }
    const packet = approved.packetRef;
    if (!this.admitted.admit(partition, packet)) {
      this.options.metrics.replaysSkipped.inc();
      progress.skipped(offset);
      return;
    }
    progress.submitted(offset, { topic: packet.topic, partition: packet.partition, offset: packet.offset });
    this.publish(partition, offset, progress, approved);
  }

  private track(partition: number, start: number): PartitionProgress {
    const progress = new PartitionProgress(start, (packet) => {
      // A revoked partition's late acknowledgements settle nothing: its next owner has its own marks.
      if (this.progress.get(partition) === progress) this.settled.raise(partition, packet);
    });
    this.progress.set(partition, progress);
    return progress;
  }

  private async decode(value: Buffer | null | undefined): Promise<ApprovedMessage | null> {
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
    partition: number,
    offset: number,
    progress: PartitionProgress,
    approved: ApprovedMessage,
  ): void {
    const { metrics, recordDelivery, bridgeId, log } = this.options;
    // At least QoS 1 towards the origin, so the bridge knows what the origin has.
    const qos: 1 | 2 = approved.qos >= 2 ? 2 : 1;
    this.linkOf(partition).publish({
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
        // The delivery record is written after the PUBACK: its linger delays the commit, never a delivery.
        recordDelivery({
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
        }).then(
          () => {
            progress.acknowledged(offset);
            this.wakeIdleWaiters();
          },
          (err: unknown) =>
            // Left unacknowledged: the offset is not committed and the next owner delivers it again.
            log.warn({ err: describeError(err), partition, offset }, 'delivery record not stored'),
        );
      },
    });
  }

  /** Called before any record of `partitions` is handed over; their watermarks are restored first. */
  private onAssigned(partitions: readonly number[]): void {
    for (const partition of partitions) this.assigned.add(partition);
    const restore: Promise<void> = this.restore(partitions).finally(() => {
      for (const partition of partitions)
        if (this.restoring.get(partition) === restore) this.restoring.delete(partition);
    });
    for (const partition of partitions) this.restoring.set(partition, restore);
    this.options.log.info({ partitions: [...partitions] }, 'approved partitions assigned');
    // After the assignment took effect (pausing a partition not yet assigned does nothing).
    setImmediate(() => this.applyFlowControl());
  }

  /** Reads the watermarks (and commit points) the previous owner stored with its last commit. */
  private async restore(partitions: readonly number[]): Promise<void> {
    const { topic, log } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        const committed = await this.consumer.committed(
          partitions.map((partition) => ({ topic, partition })),
        );
        for (const { partition, offset, metadata } of committed) {
          if (!this.assigned.has(partition)) continue;
          this.admitted.restore(partition, metadata);
          this.settled.restore(partition, metadata);
          if (offset >= 0) this.requested.set(partition, offset);
        }
        return;
      } catch (err) {
        if (this.stopping || !partitions.some((p) => this.assigned.has(p))) return;
        // Without the watermarks a replay would be delivered again: the partitions' records wait.
        log.warn(
          { err: describeError(err), partitions: [...partitions], attempt },
          'committed offsets not readable; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * attempt)));
      }
    }
  }

  /**
   * Hands over what was acknowledged (commit point and watermarks), drops the queued, unsent messages
   * (the next owner sends them), forgets the partitions' state.
   */
  private onRevoked(partitions: readonly number[]): void {
    if (!this.stopping) this.commit(partitions);
    const revoked = new Set(partitions);
    let dropped = 0;
    for (const link of this.options.links) dropped += link.dropQueued(revoked);
    for (const partition of partitions) {
      this.assigned.delete(partition);
      this.progress.delete(partition);
      this.requested.delete(partition);
      this.restoring.delete(partition);
      this.admitted.forget(partition);
      this.settled.forget(partition);
      this.options.metrics.lag.remove({ partition: String(partition) });
    }
    this.options.log.info(
      { revoked: partitions, dropped },
      'partitions revoked; their unsent messages dropped',
    );
    this.wakeIdleWaiters();
  }

  /** Pauses the partitions of a connection that is down or full, resumes them when it is neither. */
  private applyFlowControl(): void {
    if (this.stopping || !this.connected) return;
    const { links, maxPending, topic, metrics } = this.options;
    const pendingPerLink = links.map(() => 0);
    for (const [partition, progress] of this.progress) {
      const index = partition % links.length;
      pendingPerLink[index] = (pendingPerLink[index] ?? 0) + progress.outstanding();
    }
    const toPause: number[] = [];
    const toResume: number[] = [];
    for (const partition of this.assigned) {
      const index = partition % links.length;
      const link = links[index] as OriginLink;
      const pending = pendingPerLink[index] ?? 0;
      const paused = this.consumer.isPaused(topic, partition);
      if (!paused && (!link.isConnected || pending > maxPending)) toPause.push(partition);
      else if (paused && link.isConnected && pending <= maxPending / 2) toResume.push(partition);
    }
    this.consumer.pause(topic, toPause);
    this.consumer.resume(topic, toResume);
    metrics.pending.set(pendingPerLink.reduce((a, b) => a + b, 0));
  }

  /**
   * Commits the commit point of each partition (all owned, or `only`) that moved, with the
   * watermarks below it. The result arrives in `onCommitted`.
   */
  private commit(only?: readonly number[]): void {
    if (!this.connected) return;
    const { topic, log } = this.options;
    const offsets: Array<{ topic: string; partition: number; offset: number; metadata: string }> = [];
    for (const partition of only ?? this.progress.keys()) {
      const progress = this.progress.get(partition);
      if (!progress) continue;
      this.updateLag(partition, progress);
      const point = progress.commitPoint();
      if (point <= (this.requested.get(partition) ?? -1)) continue;
      offsets.push({ topic, partition, offset: point, metadata: this.settled.encode(partition) });
      this.requested.set(partition, point);
    }
    if (!only) this.applyFlowControl();
    if (offsets.length === 0) return;
    try {
      this.consumer.commit(offsets);
      this.commitsInFlight += 1;
    } catch (err) {
      // Refused before it was sent (the client is closing): the next tick commits again.
      for (const o of offsets)
        if (this.requested.get(o.partition) === o.offset) this.requested.delete(o.partition);
      log.warn({ err: describeError(err) }, 'offset commit not sent');
    }
  }

  private onCommitted(err: Error | null, offsets: readonly { partition: number; offset?: number }[]): void {
    this.commitsInFlight = Math.max(0, this.commitsInFlight - 1);
    if (err) {
      // A rebalance or a coordinator moving: the next tick commits these partitions again.
      for (const o of offsets)
        if (this.requested.get(o.partition) === o.offset) this.requested.delete(o.partition);
    } else this.options.metrics.commits.inc();
    this.wakeIdleWaiters();
  }

  private updateLag(partition: number, progress: PartitionProgress): void {
    this.options.metrics.lag.set({ partition: String(partition) }, progress.lag());
  }

  /**
   * Paused partitions get no records, and records do not carry the partition's end, so end offsets
   * are polled: the lag of a partition waiting for the origin keeps growing on the dashboard.
   */
  private async pollLag(): Promise<void> {
    if (this.polling || this.assigned.size === 0) return;
    this.polling = true;
    const { topic, metrics, log } = this.options;
    try {
      const partitions = [...this.assigned];
      const untracked = partitions.filter((p) => !this.progress.has(p));
      const committed = new Map<number, number>();
      if (untracked.length > 0) {
        for (const c of await this.consumer.committed(untracked.map((partition) => ({ topic, partition })))) {
          if (c.offset >= 0) committed.set(c.partition, c.offset);
        }
      }
      const ends = await Promise.all(partitions.map((p) => this.consumer.watermarks(topic, p)));
      partitions.forEach((partition, i) => {
        const end = ends[i];
        if (!end || !this.assigned.has(partition)) return;
        const progress = this.progress.get(partition);
        if (progress) {
          progress.observeHighWatermark(end.high);
          this.updateLag(partition, progress);
          return;
        }
        const from = committed.get(partition) ?? end.low;
        metrics.lag.set({ partition: String(partition) }, Math.max(0, end.high - from));
      });
    } catch (err) {
      log.debug({ err: describeError(err) }, 'lag poll failed');
    } finally {
      this.polling = false;
    }
  }

  /** Resolves true once `condition` holds, false after `timeoutMs` (checked whenever work completes). */
  private async waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  private wakeIdleWaiters(): void {
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
