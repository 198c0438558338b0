import { type ConfigOf, settings } from '../lib/config.js';
import { endpointSchema } from '../lib/endpoints.js';
import { kafkaSecuritySchema } from '../lib/kafka/security.js';
import { stackSchema } from '../lib/local-platform.js';
import { forensicDatabase } from './ddl.js';

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Where the forensic store is and who may read it; shared by the sink and `sentinel forensics`. */
export const clickhouseDatabase = settings.string(
  'SENTINEL_CLICKHOUSE_DATABASE',
  forensicDatabase,
  'database of the forensic tables',
  { pattern: identifier },
);

/**
 * Settings of `sentinel forensics-sink`. Kafka and the registry default to the local platform; the
 * store is the embedded chDB under the state dir unless SENTINEL_CLICKHOUSE_URL names a server.
 */
export const forensicsSinkSchema = {
  kafkaPort: stackSchema.kafkaPort,
  registryPort: stackSchema.registryPort,
  topicPrefix: stackSchema.topicPrefix,
  kafkaBrokers: endpointSchema.kafkaBrokers,
  registryUrl: endpointSchema.registryUrl,
  ...kafkaSecuritySchema,
  stateDir: stackSchema.stateDir,
  clickhouseUrl: stackSchema.clickhouseUrl,
  clickhouseUser: settings.string(
    'SENTINEL_CLICKHOUSE_USER',
    '',
    'user of the ClickHouse server (not used by the embedded engine)',
  ),
  clickhousePassword: settings.string(
    'SENTINEL_CLICKHOUSE_PASSWORD',
    '',
    'password of the ClickHouse server user',
    { secret: true },
  ),
  clickhouseDatabase,
  embeddedPath: settings.string(
    'SENTINEL_CLICKHOUSE_PATH',
    '',
    'data directory of the embedded engine; empty = <state dir>/clickhouse',
  ),
  groupId: settings.string(
    'SENTINEL_FORENSICS_GROUP_ID',
    'sentinel-forensics',
    'consumer group of the sink; instances with the same group share the partitions',
    { pattern: /^[A-Za-z0-9._-]{1,200}$/ },
  ),
  instanceId: settings.string(
    'SENTINEL_FORENSICS_INSTANCE_ID',
    '',
    'name of this instance in logs, metrics and the Kafka client id; empty means <hostname>-<pid>',
    { pattern: /^[A-Za-z0-9._-]{0,100}$/ },
  ),
  batchRows: settings.int(
    'SENTINEL_FORENSICS_BATCH_ROWS',
    10_000,
    'rows per insert at most, per table (across partitions); the engine runs in the sink, and its cost per row falls about fourfold from 100-row to 5000-row inserts',
    { min: 1, max: 1_000_000, unit: 'rows' },
  ),
  batchMaxMs: settings.int(
    'SENTINEL_FORENSICS_BATCH_MAX_MS',
    2000,
    'age after which a partly filled batch is inserted anyway (bounds how stale the store is)',
    { min: 10, max: 600_000, unit: 'ms' },
  ),
  nice: settings.int(
    'SENTINEL_FORENSICS_NICE',
    10,
    'CPU scheduling nice value of the sink and its embedded engine; forensics is not on the device-to-origin path, so on a shared host it yields the CPU to the brokers, edge, processors and bridge (0 = no lower priority)',
    { min: 0, max: 19 },
  ),
  fetchWaitMs: settings.int(
    'SENTINEL_FORENSICS_FETCH_WAIT_MS',
    500,
    'how long a broker holds a fetch until SENTINEL_FORENSICS_FETCH_MIN_BYTES are there; forensics is not on the device-to-origin path, so fewer, fuller fetches',
    { min: 0, max: 10_000, unit: 'ms' },
  ),
  fetchMinBytes: settings.int(
    'SENTINEL_FORENSICS_FETCH_MIN_BYTES',
    65_536,
    'bytes a broker gathers before it answers a fetch (or SENTINEL_FORENSICS_FETCH_WAIT_MS passes)',
    { min: 1, max: 52_428_800, unit: 'bytes' },
  ),
  sessionTimeoutMs: settings.int(
    'SENTINEL_FORENSICS_SESSION_TIMEOUT_MS',
    30_000,
    'consumer group session timeout: how long a crashed instance keeps its partitions',
    { min: 6_000, max: 300_000, unit: 'ms' },
  ),
  metricsHost: settings.string(
    'SENTINEL_FORENSICS_METRICS_HOST',
    '127.0.0.1',
    'address of the /metrics /healthz /readyz server',
  ),
  metricsPort: settings.int(
    'SENTINEL_FORENSICS_METRICS_PORT',
    19131,
    'port of the /metrics /healthz /readyz server; 0 picks a free one',
    { min: 0, max: 65535 },
  ),
  queryPort: settings.int(
    'SENTINEL_FORENSICS_QUERY_PORT',
    18123,
    'embedded engine only: port of the read-only ClickHouse HTTP endpoint on 127.0.0.1 (the way other processes read the store chDB locks); 0 picks a free one',
    { min: 0, max: 65535 },
  ),
  queryUser: settings.string(
    'SENTINEL_FORENSICS_QUERY_USER',
    '',
    'user the query endpoint requires (HTTP basic auth, X-ClickHouse-User or ?user=); empty = no authentication',
  ),
  queryPassword: settings.string(
    'SENTINEL_FORENSICS_QUERY_PASSWORD',
    '',
    'password the query endpoint requires with SENTINEL_FORENSICS_QUERY_USER',
    { secret: true },
  ),
  graceMs: settings.int(
    'SENTINEL_FORENSICS_GRACE_MS',
    30_000,
    'time a SIGTERM gives the batches in hand to be inserted and committed',
    { min: 1_000, max: 600_000, unit: 'ms' },
  ),
  crashAfterInserts: settings.int(
    'SENTINEL_FORENSICS_TEST_CRASH_AFTER_INSERTS',
    0,
    'TESTS ONLY: SIGKILL the process right after this many batch inserts, before their offsets are committed; 0 = never',
    { min: 0, max: 1_000_000 },
  ),
} as const;

export type ForensicsSinkConfig = ConfigOf<typeof forensicsSinkSchema>;

/** Settings of `sentinel forensics`: where to send the queries. */
export const forensicsQuerySchema = {
  url: settings.url(
    'SENTINEL_FORENSICS_URL',
    'http://127.0.0.1:18123',
    'ClickHouse HTTP endpoint to query: the sink’s query endpoint (embedded engine) or a ClickHouse server',
    ['http', 'https'],
  ),
  user: settings.string('SENTINEL_FORENSICS_USER', '', 'user for SENTINEL_FORENSICS_URL; empty = default'),
  password: settings.string('SENTINEL_FORENSICS_PASSWORD', '', 'password for SENTINEL_FORENSICS_URL', {
    secret: true,
  }),
  database: clickhouseDatabase,
} as const;

export type ForensicsQueryConfig = ConfigOf<typeof forensicsQuerySchema>;

/** Settings the sink had and has no more (refused at start: cli/settings-catalog.ts). */
export const retiredForensicsSettings: Readonly<Record<string, string>> = {
  SENTINEL_FORENSICS_CONCURRENCY: 'one consumer loop serves every partition; remove it',
};
