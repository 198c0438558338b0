import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs';
import { SentinelError } from '../errors.js';

const { ConfigResourceTypes } = kafkajs;

/**
 * The topic contract of the brief. Every topic keeps 72 hours, three replicas and needs two in sync
 * for an acks=all write, so one broker may fail without losing anything a device was told is stored.
 */
export const topicRetentionMs = 72 * 60 * 60 * 1000;
export const topicReplicationFactor = 3;
export const topicMinInsyncReplicas = 2;

export type TopicRole =
  | 'packets'
  | 'verdicts'
  | 'approved'
  | 'downlink'
  | 'deliveries'
  | 'quarantine'
  | 'decisions';
export const topicRoles: readonly TopicRole[] = [
  'packets',
  'verdicts',
  'approved',
  'downlink',
  'deliveries',
  'quarantine',
  'decisions',
];

export const topicPurpose: Readonly<Record<TopicRole, string>> = {
  packets: 'every packet the edge saw, keyed by client id',
  verdicts: 'one decision per packet event, keyed by client id',
  approved: 'approved PUBLISHes ready for the origin, keyed by client id',
  downlink: 'messages from the origin for devices, keyed by topic or client id',
  deliveries: 'approved messages the origin acknowledged, with end-to-end latency, keyed by client id',
  quarantine: 'quarantined PUBLISHes kept whole until an operator releases or drops them, keyed by client id',
  decisions: 'the one release, drop or expiry of each held message, keyed by held id',
};

export type TopicNames = Readonly<Record<TopicRole, string>>;

export function topicNames(prefix: string): TopicNames {
  return {
    packets: `${prefix}packets`,
    verdicts: `${prefix}verdicts`,
    approved: `${prefix}approved`,
    downlink: `${prefix}downlink`,
    deliveries: `${prefix}deliveries`,
    quarantine: `${prefix}quarantine`,
    decisions: `${prefix}quarantine.decisions`,
  };
}

/** Every topic of the contract, in the order of `topicRoles`. */
export function topicList(names: TopicNames): string[] {
  return topicRoles.map((role) => names[role]);
}

export function topicConfigEntries(): { name: string; value: string }[] {
  return [
    { name: 'retention.ms', value: String(topicRetentionMs) },
    { name: 'min.insync.replicas', value: String(topicMinInsyncReplicas) },
    { name: 'cleanup.policy', value: 'delete' },
    // Keep the timestamp the edge set (receipt time), which forensics and latency figures rely on.
    { name: 'message.timestamp.type', value: 'CreateTime' },
  ];
}

export interface TopicDescription {
  readonly name: string;
  readonly partitions: number;
  /** The smallest replica count of any partition, as the cluster reports it. */
  readonly replicationFactor: number;
  /** The smallest in-sync replica set of any partition right now. */
  readonly minIsr: number;
  readonly configs: Readonly<Record<string, string>>;
}

const SERVED_WITHIN_MS = 30_000;

/** What a broker answers about a topic the controller has created and it has not heard of yet. */
const notYetKnown = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/** The broker's error type when it is one of `notYetKnown` ("ask again"), else undefined. */
function notYetKnownType(err: unknown): string | undefined {
  const type = (err as { type?: unknown }).type;
  return typeof type === 'string' && notYetKnown.has(type) ? type : undefined;
}

/**
 * Waits until the cluster lists every topic just created and names a leader for each of its
 * partitions. CreateTopics returns when the controller has them; a broker asked next may not know
 * them yet and answers "does not host this topic-partition" (a bench that described its new topics
 * at once failed with "topics not found" in CI, and kafkajs's own wait for leaders gave up on that
 * answer during a `stack up` in CI), so both answers mean "ask again", within a bound.
 */
async function untilServed(admin: Admin, names: readonly string[]): Promise<void> {
  const deadline = Date.now() + SERVED_WITHIN_MS;
  let waitingFor = names.join(', ');
  for (;;) {
    try {
      const listed = new Set(await admin.listTopics());
      const absent = names.filter((name) => !listed.has(name));
      if (absent.length === 0) {
        const { topics } = await admin.fetchTopicMetadata({ topics: [...names] });
        const leaderless = topics
          .filter((topic) => topic.partitions.some((partition) => partition.leader < 0))
          .map((topic) => topic.name);
        if (leaderless.length === 0) return;
        waitingFor = `a leader for ${leaderless.join(', ')}`;
      } else {
        waitingFor = `a listing of ${absent.join(', ')}`;
      }
    } catch (err) {
      const type = notYetKnownType(err);
      if (type === undefined) throw err;
      waitingFor = `brokers to know ${names.join(', ')} (${type})`;
    }
    if (Date.now() >= deadline)
      throw new SentinelError(
        'SNT_TOPIC_MISCONFIGURED',
        `topics created but not served by the cluster within ${SERVED_WITHIN_MS / 1000} s: still waiting for ${waitingFor}`,
      );
    await sleep(100);
  }
}

/**
 * Creates topics and returns once every broker asked serves them with a leader per partition.
 * kafkajs's own wait for leaders gives up when the broker it asks has not heard of a topic yet.
 */
export async function createServedTopics(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  await admin.createTopics({ topics, waitForLeaders: false });
  await untilServed(
    admin,
    topics.map((t) => t.topic),
  );
}

/** Creates the missing topics and brings the configs of existing ones back to the contract. */
export async function createTopics(
  admin: Admin,
  names: readonly string[],
  partitions: number,
): Promise<{ created: string[]; updated: string[] }> {
  const existing = new Set(await admin.listTopics());
  const missing: ITopicConfig[] = names
    .filter((name) => !existing.has(name))
    .map((topic) => ({
      topic,
      numPartitions: partitions,
      replicationFactor: topicReplicationFactor,
      configEntries: topicConfigEntries(),
    }));
  if (missing.length > 0) await createServedTopics(admin, missing);
  const present = names.filter((name) => existing.has(name));
  const updated: string[] = [];
  if (present.length > 0) {
    const described = await describeTopics(admin, present);
    const drifted = described.filter((topic) =>
      topicConfigEntries().some((entry) => topic.configs[entry.name] !== entry.value),
    );
    if (drifted.length > 0) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: drifted.map((topic) => ({
          type: ConfigResourceTypes.TOPIC,
          name: topic.name,
          configEntries: topicConfigEntries(),
        })),
      });
      updated.push(...drifted.map((topic) => topic.name));
    }
  }
  return { created: missing.map((t) => t.topic), updated };
}

const reportedConfigs = [
  'retention.ms',
  'min.insync.replicas',
  'cleanup.policy',
  'message.timestamp.type',
  'segment.bytes',
];

/**
 * How long a topic may look absent before it counts as absent. A broker learns of a topic created a
 * moment ago (by this process or another: `stack up` before the services, a bench's own topics) from
 * the controller a little later than the broker that answered its creation, and each request of the
 * admin may go to another broker: a bench that created its topics and described them at once read
 * "topics not found" right after a `stack up`.
 */
const KNOWN_WITHIN_MS = 3_000;

/** Waits, within KNOWN_WITHIN_MS, until the broker asked lists every topic, then describes them. */
async function metadataOfListed(
  admin: Admin,
  names: readonly string[],
): ReturnType<Admin['fetchTopicMetadata']> {
  const deadline = Date.now() + KNOWN_WITHIN_MS;
  for (;;) {
    let absent: string[] = [];
    try {
      const existing = new Set(await admin.listTopics());
      absent = names.filter((name) => !existing.has(name));
      if (absent.length === 0) return await admin.fetchTopicMetadata({ topics: [...names] });
    } catch (err) {
      if (notYetKnownType(err) === undefined || Date.now() >= deadline) throw err;
    }
    if (absent.length > 0 && Date.now() >= deadline)
      throw new SentinelError(
        'SNT_TOPIC_MISCONFIGURED',
        `topics not found in the cluster: ${absent.join(', ')}; run \`sentinel topics create\``,
      );
    await sleep(100);
  }
}

/** What the cluster reports for each topic (not what the code intended). */
export async function describeTopics(admin: Admin, names: readonly string[]): Promise<TopicDescription[]> {
  const metadata = await metadataOfListed(admin, names);
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: reportedConfigs })),
  });
  return names.map((name) => {
    const topic = metadata.topics.find((t) => t.name === name);
    const resource = configs.resources.find((r) => r.resourceName === name);
    const partitions = topic?.partitions ?? [];
    return {
      name,
      partitions: partitions.length,
      replicationFactor: Math.min(...partitions.map((p) => p.replicas.length)),
      minIsr: Math.min(...partitions.map((p) => p.isr.length)),
      configs: Object.fromEntries(
        (resource?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]),
      ),
    };
  });
}
