import { hostname } from 'node:os';
import { SentinelError } from '../lib/errors.js';
import { createKafka, type KafkaConnection } from '../lib/kafka/client.js';
import { kafkaSecurityOf } from '../lib/kafka/security.js';
import { describeTopics, topicNames } from '../lib/kafka/topics.js';
import type { Logger } from '../lib/log.js';
import { type ServiceHttp, startServiceHttp } from '../lib/service/http.js';
import { createMetricsRegistry } from '../lib/service/metrics.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import { loadDetectionFiles } from './detection-files.js';
import { changelogTopicName, ensureChangelogTopic } from './runtime/changelog.js';
import { KafkaRuntime } from './runtime/kafka.js';
import { createProcessorMetrics } from './runtime/metrics.js';
import { RUNTIME_RULES } from './runtime/records.js';
import type { ProcessorsConfig } from './settings.js';
import { ANOMALY_RULES } from './steps/anomaly.js';
import { VALIDATION_RULES } from './steps/validate.js';
import type { StateStore } from './stores/state-store.js';
import { buildTopology, isStepName, STEP_FACTORIES, type StepName } from './topology.js';

/**
 * Composition root of `sentinel processors`: validated config -> policy and rules files -> topics and
 * schemas checked -> metrics -> Kafka runtime -> /metrics /healthz /readyz.
 */
export interface ProcessorsService {
  readonly instanceId: string;
  readonly runtime: KafkaRuntime;
  readonly http: ServiceHttp;
  /** Sends the outputs in hand, commits a last checkpoint, leaves the group, closes every client. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly log: Logger;
  readonly onFatal?: (err: Error) => void;
  readonly onRestored?: (partition: number, stores: ReadonlyMap<string, StateStore<unknown>>) => void;
}

export function parseChain(text: string): StepName[] {
  const names = text.split(',').map((name) => name.trim());
  const allowed = Object.keys(STEP_FACTORIES).join(', ');
  for (const name of names) {
    if (!isStepName(name)) {
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        `SENTINEL_PROCESSORS_CHAIN: unknown step ${JSON.stringify(name)}; allowed: ${allowed}`,
      );
    }
  }
  if (new Set(names).size !== names.length)
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `SENTINEL_PROCESSORS_CHAIN: a step appears twice in ${text}`,
    );
  // Without admission first, an event the edge refused would be judged like any other; without
  // verdict last, nothing would be decided.
  if (names[0] !== 'admission' || names.at(-1) !== 'verdict')
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `SENTINEL_PROCESSORS_CHAIN: ${text} must start with admission and end with verdict`,
    );
  return names as StepName[];
}

export function brokersOf(config: Pick<ProcessorsConfig, 'kafkaBrokers' | 'kafkaPort'>): string[] {
  if (config.kafkaBrokers !== '') return config.kafkaBrokers.split(',');
  // The local platform's three brokers listen on kafkaPort, +1, +2 (lib/local-platform.ts).
  return [0, 1, 2].map((i) => `127.0.0.1:${config.kafkaPort + i}`);
}

export function registryUrlOf(config: Pick<ProcessorsConfig, 'registryUrl' | 'registryPort'>): string {
  return config.registryUrl !== ''
    ? config.registryUrl
    : `http://127.0.0.1:${config.registryPort}/apis/ccompat/v7`;
}

export async function startProcessors(
  config: ProcessorsConfig,
  options: StartOptions,
): Promise<ProcessorsService> {
  const { log } = options;
  const { policy, rules } = loadDetectionFiles(config);
  const chain = parseChain(config.chain);
  const instanceId = config.instanceId !== '' ? config.instanceId : `${hostname()}-${process.pid}`;
  const connection: KafkaConnection = {
    brokers: brokersOf(config),
    clientId: `sentinel-processors-${instanceId}`,
    logger: log,
    security: kafkaSecurityOf(config),
  };
  const topics = topicNames(config.topicPrefix);
  const changelogTopic = changelogTopicName(config.topicPrefix);

  const admin = createKafka(connection).admin();
  await admin.connect();
  try {
    await describeTopics(admin, [topics.packets, topics.verdicts, topics.approved, topics.quarantine]);
    await ensureChangelogTopic(admin, changelogTopic, topics.packets);
  } finally {
    await admin.disconnect();
  }
  const catalog = await SchemaCatalog.connect(registryUrlOf(config), topics);

  const registry = createMetricsRegistry('processors', instanceId);
  const knownRuleIds = [
    ...rules.map((rule) => rule.id),
    ...Object.keys(policy.rules),
    ...Object.values(VALIDATION_RULES).map((rule) => rule.id),
    ...Object.values(ANOMALY_RULES).map((rule) => rule.id),
    ...Object.values(RUNTIME_RULES),
  ];
  const metrics = createProcessorMetrics(registry, knownRuleIds);

  const runtime = new KafkaRuntime({
    connection,
    catalog,
    topics,
    changelogTopic,
    createSteps: () => buildTopology({ policy, rules }, chain),
    groupId: config.groupId,
    instanceId,
    maxBatch: config.maxBatch,
    fetchWaitMs: config.fetchWaitMs,
    lingerMs: config.lingerMs,
    checkpointIntervalMs: config.checkpointIntervalMs,
    maxInFlight: config.maxInFlight,
    sessionTimeoutMs: config.sessionTimeoutMs,
    transactionTimeoutMs: config.transactionTimeoutMs,
    restoreTimeoutMs: config.restoreTimeoutMs,
    maxStateEntries: config.maxStateEntries,
    metrics,
    log,
    ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    ...(options.onRestored ? { onRestored: options.onRestored } : {}),
  });
  const http = await startServiceHttp({
    host: config.metricsHost,
    port: config.metricsPort,
    registry,
    readiness: [{ name: 'kafka', check: () => runtime.isReady() }],
  });
  try {
    await runtime.start();
  } catch (err) {
    await http.close();
    await runtime.stop().catch(() => undefined);
    throw err;
  }
  log.info(
    {
      instanceId,
      groupId: config.groupId,
      input: topics.packets,
      outputs: [topics.verdicts, topics.approved, changelogTopic],
      chain,
      checkpointIntervalMs: config.checkpointIntervalMs,
      mode: policy.mode,
      rules: rules.length,
      metrics: `http://${config.metricsHost}:${http.port}/metrics`,
    },
    'processors started',
  );
  return {
    instanceId,
    runtime,
    http,
    async stop() {
      await runtime.stop();
      await http.close();
    },
  };
}
