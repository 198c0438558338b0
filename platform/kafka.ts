import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { SentinelError } from '../lib/errors.js';
import { createKafka } from '../lib/kafka/client.js';
import { kafkaBootstrap, kafkaBrokerPorts, type StackConfig } from '../lib/local-platform.js';
import { runToCompletion } from '../lib/process/run.js';
import type { JvmArtifacts } from './artifacts.js';
import {
  type ManagedProcess,
  runningPid,
  startDetached,
  stopProcess,
  tcpReachable,
  waitFor,
} from './processes.js';

/**
 * Three KRaft nodes on 127.0.0.1, each broker and controller at once (combined mode), so that
 * replication factor 3 with min.insync.replicas 2 is real: one node may stop without losing
 * acks=all writes, two may not.
 */
export const brokerIndexes = [0, 1, 2] as const;

function kafkaDir(config: StackConfig): string {
  return join(config.stateDir, 'kafka');
}

function brokerDir(config: StackConfig, index: number): string {
  return join(kafkaDir(config), `broker-${index + 1}`);
}

/** Where a broker's log lines go (its standard output and error, appended across starts). */
export function brokerLogFile(config: StackConfig, index: number): string {
  return join(brokerDir(config, index), 'broker.log');
}

export function controllerPort(config: StackConfig, index: number): number {
  return config.kafkaPort + 100 + index;
}

export function jmxExporterPort(config: Pick<StackConfig, 'kafkaPort'>, index: number): number {
  return config.kafkaPort + 300 + index;
}

function clusterId(config: StackConfig): string {
  const file = join(kafkaDir(config), 'cluster.id');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(kafkaDir(config), { recursive: true });
  // A KRaft cluster id is 16 random bytes in URL-safe base64 without padding.
  const id = randomBytes(16).toString('base64url');
  writeFileSync(file, `${id}\n`);
  return id;
}

function serverProperties(config: StackConfig, index: number): string {
  const voters = brokerIndexes.map((i) => `${i + 1}@127.0.0.1:${controllerPort(config, i)}`).join(',');
  const port = kafkaBrokerPorts(config)[index];
  return [
    '# Written by `sentinel stack up`; edits are overwritten.',
    'process.roles=broker,controller',
    `node.id=${index + 1}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort(config, index)}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${join(brokerDir(config, index), 'data')}`,
    `num.partitions=${config.kafkaPartitions}`,
    'default.replication.factor=3',
    'min.insync.replicas=2',
    'offsets.topic.replication.factor=3',
    'transaction.state.log.replication.factor=3',
    'transaction.state.log.min.isr=2',
    // Every follower fetch walks every partition it replicates from that leader, so on this box a
    // partition costs broker CPU on each fetch whether or not it carries traffic: Kafka's 50
    // partitions for each internal topic were two fifths of a broker's partitions and most of its
    // fetch work. Production keeps the defaults.
    'offsets.topic.num.partitions=3',
    'transaction.state.log.num.partitions=3',
    'auto.create.topics.enable=false',
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=72',
    'unclean.leader.election.enable=false',
    // Small segments keep a laptop's disk use low; production keeps Kafka's 1 GiB default.
    'log.segment.bytes=268435456',
    'num.network.threads=2',
    'num.io.threads=4',
    // The active controller appends a no-op record to the metadata log this often when nothing else
    // changes (default 500 ms), which every broker replicates and applies: an idle cost on a laptop.
    'metadata.max.idle.interval.ms=5000',
    // A broker that dies without a controlled shutdown keeps its partitions until the controller
    // fences it for missed heartbeats (default 9 s). On one box three missed heartbeats of 1.5 s
    // suffice (the brokers' small heaps pause for milliseconds); at 6 s the longest PUBACK after a
    // broker kill reached 10.3 s in one of four CI runs.
    'broker.heartbeat.interval.ms=1500',
    'broker.session.timeout.ms=4500',
    // After a broker restarts, the others lead its partitions until the controller hands them back
    // (default check every 300 s); a local cluster restarted often stays lopsided for minutes, and
    // losing the broker that leads everything then moves every partition at once.
    'leader.imbalance.check.interval.seconds=10',
    'leader.imbalance.per.broker.percentage=0',
    '',
  ].join('\n');
}

const log4j2Properties = [
  '# Written by `sentinel stack up` at every broker start: edit it while the brokers run (it is',
  '# read again within 30 s), not between starts.',
  'status = warn',
  'monitorInterval = 30',
  // log4j2's own shutdown hook would stop logging before the broker's shutdown has logged.
  'shutdownHook = disable',
  'appender.console.type = Console',
  'appender.console.name = STDOUT',
  'appender.console.layout.type = PatternLayout',
  'appender.console.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = info',
  'rootLogger.appenderRef.stdout.ref = STDOUT',
  'logger.kafka.name = kafka',
  'logger.kafka.level = warn',
  'logger.apache.name = org.apache.kafka',
  'logger.apache.level = warn',
  'logger.state.name = state.change.logger',
  'logger.state.level = warn',
  // At INFO only what an operator of a local cluster asks about: the broker having started, and
  // consumer groups' members joining, timing out and leaving (a rebalance stalls a consumer).
  'logger.server.name = kafka.server.KafkaRaftServer',
  'logger.server.level = info',
  'logger.groups.name = org.apache.kafka.coordinator.group.GroupMetadataManager',
  'logger.groups.level = info',
  '',
].join('\n');

/**
 * The JMX exporter publishes JVM memory (the "Broker JVM Heap" panel) and the broker's throughput
 * MBeans. Only the MBeans the dashboards use are queried, and rule matches are cached (the rules
 * match names, never values): matching every bean against every rule on every scrape was the
 * largest part of an idle broker's CPU.
 */
const jmxExporterConfig = [
  'lowercaseOutputName: true',
  'lowercaseOutputLabelNames: true',
  'includeObjectNames:',
  '  - "kafka.server:type=BrokerTopicMetrics,*"',
  '  - "kafka.server:type=ReplicaManager,*"',
  '  - "kafka.controller:type=KafkaController,*"',
  '  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce"',
  '  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Fetch"',
  '  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchConsumer"',
  '  - "kafka.network:type=RequestMetrics,name=RequestsPerSec,*"',
  'rules:',
  '  - pattern: kafka.server<type=BrokerTopicMetrics, name=(\\w+)PerSec(?:, topic=([-.\\w]+))?><>Count',
  '    name: kafka_server_brokertopicmetrics_$1_total',
  '    type: COUNTER',
  '    cache: true',
  '    labels:',
  '      topic: "$2"',
  '  - pattern: kafka.server<type=ReplicaManager, name=(\\w+)><>Value',
  '    name: kafka_server_replicamanager_$1',
  '    type: GAUGE',
  '    cache: true',
  '  - pattern: kafka.controller<type=KafkaController, name=(\\w+)><>Value',
  '    name: kafka_controller_$1',
  '    type: GAUGE',
  '    cache: true',
  '  - pattern: kafka.network<type=RequestMetrics, name=TotalTimeMs, request=(Produce|Fetch|FetchConsumer)><>(50thPercentile|99thPercentile)',
  '    name: kafka_network_request_total_time_ms',
  '    type: GAUGE',
  '    cache: true',
  '    labels:',
  '      request: "$1"',
  '      quantile: "$2"',
  // Requests by type (Produce, FetchFollower, FetchConsumer, OffsetCommit, Heartbeat...; Fetch counts
  // both kinds of fetch again): on a box where each request costs the brokers CPU, which client
  // sends how many is the first question.
  '  - pattern: kafka.network<type=RequestMetrics, name=RequestsPerSec, request=(\\w+), version=(\\d+)><>Count',
  '    name: kafka_network_requests_total',
  '    type: COUNTER',
  '    cache: true',
  '    labels:',
  '      request: "$1"',
  '      version: "$2"',
  '',
].join('\n');

export function brokerProcess(config: StackConfig, artifacts: JvmArtifacts, index: number): ManagedProcess {
  const dir = brokerDir(config, index);
  // nice execs java, so the pid file names the broker; every JVM thread inherits the value.
  const launcher = config.kafkaNice > 0 ? ['-n', String(config.kafkaNice), artifacts.kafkaJava] : [];
  return {
    name: `kafka-${index + 1}`,
    command: launcher.length > 0 ? 'nice' : artifacts.kafkaJava,
    args: [
      ...launcher,
      `-Xms${Math.min(256, config.kafkaHeapMb)}m`,
      `-Xmx${config.kafkaHeapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:+ExitOnOutOfMemoryError',
      ...config.kafkaJvmOptions.split(' ').filter((option) => option.length > 0),
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(kafkaDir(config), 'log4j2.properties')}`,
      `-Dkafka.logs.dir=${join(dir, 'logs')}`,
      `-javaagent:${artifacts.jmxExporterJar}=127.0.0.1:${jmxExporterPort(config, index)}:${join(kafkaDir(config), 'jmx-exporter.yaml')}`,
      '-cp',
      join(artifacts.kafkaLibs, '*'),
      'kafka.Kafka',
      join(dir, 'server.properties'),
    ],
    pidFile: join(dir, 'broker.pid'),
    logFile: brokerLogFile(config, index),
  };
}

async function formatStorage(config: StackConfig, artifacts: JvmArtifacts, index: number): Promise<void> {
  const dir = brokerDir(config, index);
  if (existsSync(join(dir, 'data', 'meta.properties'))) return;
  const { code, output } = await runToCompletion(artifacts.kafkaJava, [
    `-Dlog4j2.configurationFile=${join(kafkaDir(config), 'log4j2.properties')}`,
    '-cp',
    join(artifacts.kafkaLibs, '*'),
    'kafka.tools.StorageTool',
    'format',
    '--cluster-id',
    clusterId(config),
    '--config',
    join(dir, 'server.properties'),
    '--ignore-formatted',
  ]);
  if (code !== 0) {
    throw new SentinelError(
      'SNT_COMPONENT_START_FAILED',
      `kafka-${index + 1}: storage format failed: ${output.slice(-2000)}`,
    );
  }
}

function writeConfigs(config: StackConfig, index: number): void {
  mkdirSync(join(brokerDir(config, index), 'logs'), { recursive: true });
  writeFileSync(join(kafkaDir(config), 'log4j2.properties'), log4j2Properties);
  writeFileSync(join(kafkaDir(config), 'jmx-exporter.yaml'), jmxExporterConfig);
  writeFileSync(join(brokerDir(config, index), 'server.properties'), serverProperties(config, index));
}

/** Starts one broker if it is not running; does not wait for it. */
export async function startBroker(
  config: StackConfig,
  artifacts: JvmArtifacts,
  index: number,
): Promise<boolean> {
  const proc = brokerProcess(config, artifacts, index);
  if (runningPid(proc) !== undefined) return false;
  const port = kafkaBrokerPorts(config)[index]!;
  if (await tcpReachable('127.0.0.1', port)) {
    throw new SentinelError(
      'SNT_COMPONENT_START_FAILED',
      `kafka-${index + 1}: port ${port} is taken by a process this stack did not start; set SENTINEL_KAFKA_PORT`,
    );
  }
  writeConfigs(config, index);
  await formatStorage(config, artifacts, index);
  startDetached(proc);
  return true;
}

export async function stopBroker(
  config: StackConfig,
  artifacts: JvmArtifacts,
  index: number,
): Promise<boolean> {
  return stopProcess(brokerProcess(config, artifacts, index), 60_000);
}

/**
 * The node ids (broker index + 1) the cluster reports as registered brokers: ready means all three
 * registered with the quorum and the cluster answers metadata.
 */
export async function registeredBrokerIds(config: StackConfig): Promise<Set<number>> {
  return withStackAdmin(config, async (admin) => {
    const cluster = await admin.describeCluster();
    return new Set(cluster.brokers.map((broker) => broker.nodeId));
  });
}

/** Runs `use` with an admin client of the local cluster that fails fast (no retries), then closes it. */
async function withStackAdmin<T>(config: StackConfig, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createKafka({
    brokers: kafkaBootstrap(config),
    clientId: 'sentinel-stack',
    retries: 0,
  }).admin();
  try {
    await admin.connect();
    return await use(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function waitForBroker(
  config: StackConfig,
  artifacts: JvmArtifacts,
  index: number,
  timeoutMs = 120_000,
): Promise<void> {
  const proc = brokerProcess(config, artifacts, index);
  await waitFor(`kafka-${index + 1}`, () => tcpReachable('127.0.0.1', kafkaBrokerPorts(config)[index]!), {
    timeoutMs,
    logFile: proc.logFile,
    alive: () => runningPid(proc) !== undefined,
  });
}

export async function waitForCluster(config: StackConfig, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'kafka cluster (3 brokers registered)',
    async () => (await registeredBrokerIds(config)).size === 3,
    {
      timeoutMs,
      intervalMs: 500,
    },
  );
}

/**
 * Waits until the cluster is settled after a broker restart: every replica of every partition
 * (internal topics included) in sync again, and every partition led by its preferred replica. A
 * replica still catching up leaves partitions one broker away from refusing acks=all writes (min
 * ISR 2); leadership left on the brokers that stayed up makes losing one of them move far more.
 */
export async function waitForSettledCluster(config: StackConfig, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'kafka cluster settled (every partition fully in sync, led by its preferred replica)',
    () =>
      withStackAdmin(config, async (admin) => {
        const { topics } = await admin.fetchTopicMetadata({ topics: await admin.listTopics() });
        return topics.every((t) =>
          t.partitions.every((p) => p.isr.length === p.replicas.length && p.leader === p.replicas[0]),
        );
      }),
    { timeoutMs, intervalMs: 250 },
  );
}

/** Java's String.hashCode, as Kafka maps a group id to its `__consumer_offsets` partition. */
export function javaStringHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

/** A group id whose coordinator is the leader of `__consumer_offsets` partition `partition`. */
export function groupIdForOffsetsPartition(partition: number, partitions: number): string {
  for (let k = 0; ; k++) {
    const groupId = `sentinel-coordinator-probe-${k}`;
    // Kafka's Utils.abs: the sign bit cleared.
    if ((javaStringHash(groupId) & 0x7fffffff) % partitions === partition) return groupId;
  }
}

/**
 * Waits until every group coordinator answers: each `__consumer_offsets` partition loaded by its
 * leader. Right after the brokers start, a group whose partition is still loading gets
 * COORDINATOR_LOAD_IN_PROGRESS for as long as it loads, and a consumer that joins then (a service,
 * a test) retries in the meantime; on a cold local cluster that took minutes. One OffsetFetch per
 * partition, for a probe group that maps to it, succeeds only once its coordinator is ready.
 */
export async function waitForGroupCoordinators(
  config: StackConfig,
  topic: string,
  timeoutMs = 180_000,
): Promise<void> {
  const admin = createKafka({
    brokers: kafkaBootstrap(config),
    clientId: 'sentinel-stack-probe',
    retries: 2,
  }).admin();
  await admin.connect();
  try {
    // waitFor counts a check that throws as not yet: a coordinator still loading refuses the fetch.
    const answers = (groupId: string) => admin.fetchOffsets({ groupId, topics: [topic] }).then(() => true);
    // The first lookup creates __consumer_offsets on a new cluster.
    await waitFor('the group coordinator', () => answers(groupIdForOffsetsPartition(0, 1)), {
      timeoutMs,
      intervalMs: 500,
    });
    // The broker asked next may not host the topic the lookup just created yet (in one CI run:
    // "This server does not host this topic-partition"): a refused description is asked again too.
    let partitions = 0;
    await waitFor(
      'the partitions of __consumer_offsets',
      async () => {
        const [offsets] = (await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] })).topics;
        partitions = offsets?.partitions.length ?? 0;
        return partitions > 0;
      },
      { timeoutMs, intervalMs: 500 },
    );
    for (let partition = 0; partition < partitions; partition++) {
      const groupId = groupIdForOffsetsPartition(partition, partitions);
      await waitFor(`the group coordinator of __consumer_offsets-${partition}`, () => answers(groupId), {
        timeoutMs,
        intervalMs: 500,
      });
    }
  } finally {
    await admin.disconnect();
  }
}
