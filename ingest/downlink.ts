import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { DownlinkMessage } from '../schemas/types.generated.js';

/**
 * sentinel.downlink -> this proxy's subscribers. Every proxy reads the whole topic under a group of
 * its own (a proxy cannot know in advance which devices will connect to it), starting at the end:
 * a message for a device that is not connected anywhere is not queued (persistent-session queues
 * are not kept, see docs/ingest.md). Routing by the target client id, so that only the proxy holding
 * the session reads a message, is the design for a million devices (docs/ingest.md).
 */
export interface DownlinkOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly groupId: string;
  readonly catalog: SchemaCatalog;
  readonly log: Logger;
  readonly deliver: (message: DownlinkMessage, producedAt: number) => void;
}

export interface DownlinkConsumer {
  /** True once the group has assigned partitions to this proxy. */
  readonly ready: () => boolean;
  stop(): Promise<void>;
}

export async function startDownlink(options: DownlinkOptions): Promise<DownlinkConsumer> {
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: 50,
  });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  consumer.on(consumer.events.CRASH, (event) => {
    joined = false;
    options.log.error(
      { err: event.payload.error?.message },
      'downlink consumer crashed; kafkajs restarts it',
    );
  });
  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: false });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      try {
        const decoded = await options.catalog.decode('downlink', message.value);
        options.deliver(decoded, Number(message.timestamp));
      } catch (err) {
        options.log.warn({ err: (err as Error).message }, 'skipping an undecodable downlink record');
      }
    },
  });
  return {
    ready: () => joined,
    stop: () => consumer.disconnect(),
  };
}
