import type { Admin } from 'kafkajs';
import { SentinelError } from '../../lib/errors.js';
import {
  createServedTopics,
  describeTopics,
  topicMinInsyncReplicas,
  topicReplicationFactor,
} from '../../lib/kafka/topics.js';

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
      await createServedTopics(admin, [
        {
          topic: changelog,
          numPartitions: partitions,
          replicationFactor: topicReplicationFactor,
          configEntries: changelogConfigEntries(),
        },
      ]);
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
