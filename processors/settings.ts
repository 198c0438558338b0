import { join } from 'node:path';
import { type ConfigOf, settings } from '../lib/config.js';
import { endpointSchema } from '../lib/endpoints.js';
import { kafkaSecuritySchema } from '../lib/kafka/security.js';
import { projectRoot, stackSchema } from '../lib/local-platform.js';

/**
 * Settings of `sentinel processors`. Kafka and the registry default to the local platform
 * (SENTINEL_KAFKA_PORT, SENTINEL_REGISTRY_PORT); SENTINEL_KAFKA_BROKERS and SENTINEL_REGISTRY_URL
 * point the service at any other cluster.
 */
export const processorsSchema = {
  kafkaPort: stackSchema.kafkaPort,
  registryPort: stackSchema.registryPort,
  topicPrefix: stackSchema.topicPrefix,
  kafkaBrokers: endpointSchema.kafkaBrokers,
  registryUrl: endpointSchema.registryUrl,
  ...kafkaSecuritySchema,
  groupId: settings.string(
    'SENTINEL_PROCESSORS_GROUP_ID',
    'sentinel-processors',
    'consumer group of the processors; instances with the same group share the partitions, and it prefixes the transactional ids',
    { pattern: /^[A-Za-z0-9._-]{1,200}$/ },
  ),
  instanceId: settings.string(
    'SENTINEL_PROCESSORS_INSTANCE_ID',
    '',
    'name of this instance in logs, metrics and the Kafka client id; empty means <hostname>-<pid>',
    { pattern: /^[A-Za-z0-9._-]{0,100}$/ },
  ),
  chain: settings.string(
    'SENTINEL_PROCESSORS_CHAIN',
    'admission,validate,patterns,anomaly,verdict',
    'steps this service runs, in order; it starts with admission and ends with verdict (a deployment can run a shorter chain as its own service)',
    { pattern: /^[a-z]+(,[a-z]+)*$/ },
  ),
  policyFile: settings.string(
    'SENTINEL_PROCESSORS_POLICY_FILE',
    join(projectRoot, 'processors', 'policy', 'default-policy.json'),
    'policy file: global mode, per-rule action and shadow, step settings (keys it omits keep their defaults)',
  ),
  rulesFile: settings.string(
    'SENTINEL_PROCESSORS_RULES_FILE',
    join(projectRoot, 'processors', 'rules', 'default-rules.json'),
    'pattern rules file (SQL injection, XSS, command injection, path traversal)',
  ),
  metricsHost: settings.string(
    'SENTINEL_PROCESSORS_METRICS_HOST',
    '127.0.0.1',
    'address of the /metrics /healthz /readyz server',
  ),
  metricsPort: settings.int(
    'SENTINEL_PROCESSORS_METRICS_PORT',
    19111,
    'port of the /metrics /healthz /readyz server; 0 picks a free one',
    { min: 0, max: 65535 },
  ),
  maxBatch: settings.int(
    'SENTINEL_PROCESSORS_MAX_BATCH',
    1000,
    'packet events handed over per fetch at most; a fetch returns as soon as one event is there',
    { min: 1, max: 100_000, unit: 'events' },
  ),
  fetchWaitMs: settings.int(
    'SENTINEL_PROCESSORS_FETCH_WAIT_MS',
    100,
    'longest a broker holds a fetch that found nothing (fetch.wait.max.ms); a new event answers it at once, so this costs no latency; shorter only costs idle fetches',
    { min: 1, max: 10_000, unit: 'ms' },
  ),
  lingerMs: settings.int(
    'SENTINEL_PROCESSORS_LINGER_MS',
    2,
    'how long verdicts and approved messages wait for others to share a produce request (linger.ms)',
    { min: 0, max: 1_000, unit: 'ms' },
  ),
  checkpointIntervalMs: settings.int(
    'SENTINEL_PROCESSORS_CHECKPOINT_INTERVAL_MS',
    1000,
    'time between checkpoints (state changes and input offsets in one transaction); events after the last checkpoint are inspected again after a crash or rebalance',
    { min: 50, max: 600_000, unit: 'ms' },
  ),
  maxInFlight: settings.int(
    'SENTINEL_PROCESSORS_MAX_IN_FLIGHT',
    20_000,
    'outputs sent and not yet acknowledged by Kafka before fetching waits for them (bounds memory when Kafka is slow)',
    { min: 100, max: 10_000_000, unit: 'records' },
  ),
  sessionTimeoutMs: settings.int(
    'SENTINEL_PROCESSORS_SESSION_TIMEOUT_MS',
    30_000,
    'consumer group session timeout: how long a silent (crashed) instance keeps its partitions',
    { min: 6_000, max: 300_000, unit: 'ms' },
  ),
  transactionTimeoutMs: settings.int(
    'SENTINEL_PROCESSORS_TRANSACTION_TIMEOUT_MS',
    10_000,
    'broker aborts a checkpoint transaction left open this long (a crashed instance); a restart of the same instance aborts it sooner',
    { min: 1_000, max: 900_000, unit: 'ms' },
  ),
  restoreTimeoutMs: settings.int(
    'SENTINEL_PROCESSORS_RESTORE_TIMEOUT_MS',
    120_000,
    'longest a state restore may take before the partition is given up and retried',
    { min: 1_000, max: 3_600_000, unit: 'ms' },
  ),
  maxStateEntries: settings.int(
    'SENTINEL_PROCESSORS_MAX_STATE_ENTRIES',
    200_000,
    'entries per state store per partition (devices, source addresses) before the least recent is evicted',
    { min: 100, max: 100_000_000, unit: 'entries' },
  ),
  graceMs: settings.int(
    'SENTINEL_PROCESSORS_GRACE_MS',
    30_000,
    'time a SIGTERM gives the last outputs and checkpoint to commit before the process exits anyway',
    { min: 1_000, max: 600_000, unit: 'ms' },
  ),
} as const;

export type ProcessorsConfig = ConfigOf<typeof processorsSchema>;

/**
 * Settings of the transaction-per-batch runtime, with what replaced them. One still set is refused
 * at start (cli/settings-catalog.ts): an operator who tuned it believes it acts, and it does not.
 */
export const retiredProcessorsSettings: Readonly<Record<string, string>> = {
  SENTINEL_PROCESSORS_BATCH_SIZE:
    'outputs are written at once and progress is checkpointed every SENTINEL_PROCESSORS_CHECKPOINT_INTERVAL_MS (docs/processors.md); remove it',
  SENTINEL_PROCESSORS_BATCH_MAX_MS:
    'outputs are written at once and progress is checkpointed every SENTINEL_PROCESSORS_CHECKPOINT_INTERVAL_MS (docs/processors.md); remove it',
  SENTINEL_PROCESSORS_CONCURRENCY: 'one producer serves every partition of an instance; remove it',
  SENTINEL_PROCESSORS_PARTITION_GROUPS: 'one producer serves every partition of an instance; remove it',
};
