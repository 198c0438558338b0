import type { KafkaConnection } from '../lib/kafka/client.js';
import { BatchConsumer, type CommitOffset } from '../lib/kafka/rdkafka.js';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { DownlinkMessage } from '../schemas/types.generated.js';

/**
 * sentinel.downlink -> this proxy's subscribers. Every proxy reads the whole topic under a group of
 * its own (a proxy cannot know in advance which devices will connect to it), starting at the end:
 * a message for a device that is not connected anywhere is not queued (persistent-session queues
 * are not kept, see docs/ingest.md). A proxy restarted under the same id resumes after what it
 * delivered before (positions are committed about once a second and when it stops). Routing by the
 * target client id, so that only the proxy holding the session reads a message, is the design for a
 * million devices (docs/ingest.md).
 *
 * The consumer is librdkafka's (lib/kafka/rdkafka.ts) with a short fetch wait: alerts from the
 * origin to devices are on a latency path, and an idle fetch costs the broker little.
 */
export interface DownlinkOptions {
  readonly connection: KafkaConnection;
  readonly topic: string;
  readonly groupId: string;
  readonly catalog: SchemaCatalog;
  readonly log: Logger;
  readonly deliver: (message: DownlinkMessage, producedAt: number) => void;
  /** How long a broker holds a fetch that has nothing yet, in ms. */
  readonly fetchWaitMs?: number;
}

export interface DownlinkConsumer {
  /** True once the group has assigned partitions to this proxy and their start positions are set. */
  readonly ready: () => boolean;
  stop(): Promise<void>;
}

/** Delivered positions are committed at most this often (and when the proxy stops). */
const commitEveryMs = 1000;

export async function startDownlink(options: DownlinkOptions): Promise<DownlinkConsumer> {
  const { topic, log } = options;
  let settled = false;
  let failed = false;
  /** Next offset to read per partition, delivered but not committed yet. */
  const delivered = new Map<number, number>();
  let lastCommit = Date.now();

  const consumer: BatchConsumer = new BatchConsumer({
    connection: options.connection,
    groupId: options.groupId,
    topics: [topic],
    start: 'latest',
    fetchWaitMs: options.fetchWaitMs ?? 100,
    sessionTimeoutMs: 10_000,
    // After incrementalAssign, which runs when this returns.
    onAssigned: (partitions) => {
      settled = false;
      queueMicrotask(() => {
        settle(partitions)
          .catch((err: unknown) =>
            log.warn({ err }, 'downlink start positions not set here; librdkafka resolves them'),
          )
          .finally(() => {
            settled = true;
          });
      });
    },
    onRevoked: (partitions) => {
      for (const p of partitions) delivered.delete(p);
    },
  });

  /**
   * librdkafka resolves 'latest' with a request of its own after the assignment; a message produced
   * before that answer would be skipped although the proxy said it was ready. A partition without a
   * committed position is therefore moved to the current end explicitly, and only then is the proxy
   * ready.
   */
  async function settle(partitions: readonly number[]): Promise<void> {
    const committed = await consumer.committed(partitions.map((partition) => ({ topic, partition })));
    for (const c of committed) {
      if (c.offset !== undefined && c.offset >= 0) continue;
      const { high } = await consumer.watermarks(topic, c.partition);
      await consumer.seek(topic, c.partition, high);
    }
  }

  function commit(): void {
    const owned = new Set(consumer.assignment(topic));
    const offsets: CommitOffset[] = [];
    for (const [partition, offset] of delivered) {
      if (owned.has(partition)) offsets.push({ topic, partition, offset });
    }
    delivered.clear();
    lastCommit = Date.now();
    consumer.commit(offsets);
  }

  await consumer.connect();
  const running = consumer.run(async (records) => {
    for (const record of records) {
      delivered.set(record.partition, record.offset + 1);
      if (!record.value) continue;
      try {
        const decoded = await options.catalog.decode('downlink', record.value);
        options.deliver(decoded, record.timestamp ?? Date.now());
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'skipping an undecodable downlink record');
      }
    }
    if (Date.now() - lastCommit >= commitEveryMs) commit();
  }, 1000);
  running.catch((err: unknown) => {
    failed = true;
    log.error({ err }, 'downlink consumer failed; the proxy is not ready');
  });

  return {
    ready: () => settled && !failed,
    async stop() {
      if (!failed) commit();
      await consumer.disconnect();
    },
  };
}
