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

/** What kafkajs's admin reports about topics' partitions. */
type TopicsMetadata = Awaited<ReturnType<Admin['fetchTopicMetadata']>>;

/** What a broker answers about a topic the controller has created and it has not heard of yet. */
const notYetKnown = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/** The broker's error type when it is one of `notYetKnown` ("ask again"), else undefined. */
function notYetKnownType(err: unknown): string | undefined {
  const type = (err as { type?: unknown }).type;
  return typeof type === 'string' && notYetKnown.has(type) ? type : undefined;
}

/** What a wait for topics still lacked when its time ran out. */
interface Unanswered {
  /** Human text of what was awaited last. */
  readonly waitingFor: string;
  /** Topics the broker asked last did not list. */
  readonly absent: readonly string[];
  /** The broker's last "not known yet" error, when the last answer was one. */
  readonly lastError: unknown;
}

/**
 * Lists and describes `names` every 100 ms until every one is listed and `ready` accepts the
 * description (returns null; else what it still waits for). A topic not listed yet, or a broker
 * that has not heard of it yet ("does not host this topic-partition"), means "ask again": a broker
 * learns of a topic created a moment ago (by this process or another: `stack up` before the
 * services, a bench's own topics) from the controller later than the one that created it, and each
 * request of the admin may go to another broker. After `withinMs`, throws what `timedOut` makes of
 * what was still missing.
 */
async function describeOnceKnown(
  admin: Admin,
  names: readonly string[],
  withinMs: number,
  ready: (metadata: TopicsMetadata) => string | null,
  timedOut: (unanswered: Unanswered) => unknown,
): Promise<TopicsMetadata> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    let unanswered: Unanswered;
    try {
      const listed = new Set(await admin.listTopics());
      const absent = names.filter((name) => !listed.has(name));
      if (absent.length === 0) {
        const metadata = await admin.fetchTopicMetadata({ topics: [...names] });
        const missing = ready(metadata);
        if (missing === null) return metadata;
        unanswered = { waitingFor: missing, absent, lastError: null };
      } else {
        unanswered = { waitingFor: `a listing of ${absent.join(', ')}`, absent, lastError: null };
      }
    } catch (err) {
      const type = notYetKnownType(err);
      if (type === undefined) throw err;
      unanswered = {
        waitingFor: `brokers to know ${names.join(', ')} (${type})`,
        absent: [],
        lastError: err,
      };
    }
    if (Date.now() >= deadline) throw timedOut(unanswered);
    await sleep(100);
  }
}

/**
 * Waits until the cluster lists every topic just created and names a leader for each of its
 * partitions. CreateTopics returns when the controller has them; kafkajs's own wait for leaders
 * gave up on a broker that had not heard of them yet during a `stack up` in CI.
 */
async function untilServed(admin: Admin, names: readonly string[]): Promise<void> {
  await describeOnceKnown(
    admin,
    names,
    SERVED_WITHIN_MS,
    ({ topics }) => {
      const leaderless = topics
        .filter((topic) => topic.partitions.some((partition) => partition.leader < 0))
        .map((topic) => topic.name);
      return leaderless.length === 0 ? null : `a leader for ${leaderless.join(', ')}`;
    },
    ({ waitingFor }) =>
      new SentinelError(
        'SNT_TOPIC_MISCONFIGURED',
        `topics created but not served by the cluster within ${SERVED_WITHIN_MS / 1000} s: still waiting for ${waitingFor}`,
      ),
  );
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

/** How long a topic may look absent before it counts as absent (see describeOnceKnown). */
const KNOWN_WITHIN_MS = 3_000;

/** What the cluster reports for each topic (not what the code intended). */
export async function describeTopics(admin: Admin, names: readonly string[]): Promise<TopicDescription[]> {
  const metadata = await describeOnceKnown(
    admin,
    names,
    KNOWN_WITHIN_MS,
    () => null,
    ({ absent, lastError }) =>
      absent.length > 0
        ? new SentinelError(
            'SNT_TOPIC_MISCONFIGURED',
            `topics not found in the cluster: ${absent.join(', ')}; run \`sentinel topics create\``,
          )
        : lastError,
  );
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
