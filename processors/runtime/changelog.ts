import { randomBytes } from 'node:crypto';
import kafkajs, { type Admin, type Kafka, type KafkaMessage, type PartitionAssigner } from 'kafkajs';
import { SentinelError } from '../../lib/errors.js';
import { describeTopics, topicMinInsyncReplicas, topicReplicationFactor } from '../../lib/kafka/topics.js';

const { AssignerProtocol } = kafkajs;

/**
 * The processors' state changelog: `${prefix}processors.changelog`, compacted, so it keeps the last
 * value of every `<store>/<key>` and a restart reads one record per live key, not the history.
 * Records of input partition p are written to changelog partition p, which is why the two topics
 * must have the same partition count.
 */
export function changelogTopicName(prefix: string): string {
  return `${prefix}processors.changelog`;
}

export function changelogConfigEntries(): { name: string; value: string }[] {
  return [
    { name: 'cleanup.policy', value: 'compact' },
    { name: 'min.insync.replicas', value: String(topicMinInsyncReplicas) },
    // Compaction only rewrites closed segments; smaller segments keep what a restore reads close to
    // one record per key.
    { name: 'segment.bytes', value: String(64 * 1024 * 1024) },
    { name: 'segment.ms', value: String(60 * 60 * 1000) },
    { name: 'min.cleanable.dirty.ratio', value: '0.3' },
  ];
}

/**
 * Creates the changelog beside the packets topic, or checks an existing one: compacted and with the
 * packets topic's partition count, otherwise state would be restored into the wrong partition.
 */
export async function ensureChangelogTopic(admin: Admin, changelog: string, packets: string): Promise<void> {
  const [input] = await describeTopics(admin, [packets]);
  const partitions = input?.partitions ?? 0;
  const existing = new Set(await admin.listTopics());
  if (!existing.has(changelog)) {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: changelog,
            numPartitions: partitions,
            replicationFactor: topicReplicationFactor,
            configEntries: changelogConfigEntries(),
          },
        ],
      });
    } catch (err) {
      // Another instance may have created it at the same moment; the check below decides.
      if (!(await admin.listTopics()).includes(changelog)) throw err;
    }
  }
  const [described] = await describeTopics(admin, [changelog]);
  if (described?.partitions !== partitions || described.configs['cleanup.policy'] !== 'compact') {
    throw new SentinelError(
      'SNT_TOPIC_MISCONFIGURED',
      `${changelog} must be compacted with ${partitions} partitions like ${packets}; it has ` +
        `${described?.partitions} partitions and cleanup.policy=${described?.configs['cleanup.policy']}. ` +
        'Delete it (state is rebuilt from the packets log only by replay) or fix its configuration.',
    );
  }
}

/**
 * kafkajs has no `assign()`: a consumer always joins a group. A group of one, whose assigner hands
 * its only member exactly the partitions asked for, reads chosen partitions without disturbing anyone.
 */
function fixedAssigner(topic: string, partitions: readonly number[]): PartitionAssigner {
  const name = 'sentinel-fixed';
  return () => ({
    name,
    version: 1,
    async assign({ members }) {
      return members.map((member, index) => ({
        memberId: member.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: index === 0 ? { [topic]: [...partitions] } : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}

export interface ReadToEndOptions {
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly topic: string;
  readonly partitions: readonly number[];
  /** Names the throw-away group (it commits nothing and is deleted afterwards). */
  readonly groupPrefix: string;
  readonly onMessage: (partition: number, message: KafkaMessage) => void;
  readonly timeoutMs: number;
}

/**
 * Reads committed records (read_committed: aborted transactions never reach state) of the given
 * partitions from their beginning up to the end offsets taken at the start, then stops. Returns the
 * number of records read.
 */
export async function readPartitionsToEnd(options: ReadToEndOptions): Promise<number> {
  const { kafka, admin, topic } = options;
  const offsets = await admin.fetchTopicOffsets(topic);
  const targets = new Map<number, bigint>();
  for (const p of options.partitions) {
    const entry = offsets.find((o) => o.partition === p);
    if (entry && BigInt(entry.high) > BigInt(entry.low)) targets.set(p, BigInt(entry.high));
  }
  if (targets.size === 0) return 0;

  const groupId = `${options.groupPrefix}-restore-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({
    groupId,
    partitionAssigners: [fixedAssigner(topic, [...targets.keys()])],
    readUncommitted: false,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxWaitTimeInMs: 250,
  });
  let read = 0;
  const remaining = new Set(targets.keys());
  let finish: () => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  // END_BATCH_PROCESS also reports batches of control records only, which eachBatch never sees:
  // a partition whose last records are transaction markers would otherwise never look finished.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const target = targets.get(payload.partition);
    if (target !== undefined && BigInt(payload.lastOffset) >= target - 1n) {
      remaining.delete(payload.partition);
      if (remaining.size === 0) finish();
    }
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
  const timer = setTimeout(
    () =>
      fail(
        new SentinelError(
          'SNT_STATE_RESTORE_FAILED',
          `${topic}: partitions ${[...remaining].join(', ')} not read to their end within ${options.timeoutMs} ms ` +
            '(an open transaction holds the last stable offset back, or the cluster is unavailable)',
        ),
      ),
    options.timeoutMs,
  );
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          options.onMessage(batch.partition, message);
          read += 1;
        }
      },
    });
    await done;
    return read;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
