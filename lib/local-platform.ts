import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ConfigOf, settings } from './config.js';

/** The repository root (dist/lib/local-platform.js -> three levels up). */
export const projectRoot = join(fileURLToPath(import.meta.url), '..', '..', '..');

/**
 * Settings of the local platform (`sentinel stack`, `sentinel up`). Every port we listen on avoids
 * the machine's own services (1883, 3306, 4222, 5432, 5672, 6379).
 */
export const stackSchema = {
  stateDir: settings.string(
    'SENTINEL_STATE_DIR',
    join(projectRoot, '.sentinel'),
    'data, logs and pid files of the local platform',
  ),
  cacheDir: settings.string(
    'SENTINEL_CACHE_DIR',
    join(homedir(), '.cache', 'mqtt-sentinel'),
    'where the Kafka jars, the JMX exporter and Apicurio Registry are unpacked (kept between runs)',
  ),
  kafkaPort: settings.port(
    'SENTINEL_KAFKA_PORT',
    19092,
    'first Kafka broker port; broker i listens on port+i, its KRaft controller on port+100+i, its JMX exporter on port+300+i',
  ),
  kafkaHeapMb: settings.int('SENTINEL_KAFKA_HEAP_MB', 768, 'JVM heap of each local Kafka broker', {
    min: 256,
    max: 16384,
    unit: 'MiB',
  }),
  kafkaNice: settings.int(
    'SENTINEL_KAFKA_NICE',
    10,
    "CPU scheduling nice value of the local brokers: on a box they share with the edge, processors and bridge, those single-threaded services get a contended core first and the brokers' many threads batch what waits (0 = same priority; brokers on their own hosts need none)",
    { min: 0, max: 19 },
  ),
  kafkaWarmupSeconds: settings.int(
    'SENTINEL_KAFKA_WARMUP_SECONDS',
    150,
    'at most this long, brokers this start launched are sent traffic until a hop answers at P99 <= 50 ms three 5-s windows in a row, before the stack says it is up (a broker JVM compiles its request paths only under traffic: cold, the first 1-2 minutes of traffic answer in seconds); 0 = off',
    { min: 0, max: 900, unit: 's' },
  ),
  kafkaPartitions: settings.int(
    'SENTINEL_KAFKA_PARTITIONS',
    3,
    'partitions of each sentinel topic created locally (3 brokers on one box: more partitions cost CPU on every replica fetch; a fleet sets its own)',
    {
      min: 1,
      max: 1000,
    },
  ),
  registryPort: settings.port(
    'SENTINEL_REGISTRY_PORT',
    18081,
    'Apicurio Registry HTTP port (Confluent API under /apis/ccompat/v7)',
  ),
  registryHeapMb: settings.int('SENTINEL_REGISTRY_HEAP_MB', 384, 'JVM heap of the local schema registry', {
    min: 128,
    max: 8192,
    unit: 'MiB',
  }),
  originMqttPort: settings.port(
    'SENTINEL_ORIGIN_MQTT_PORT',
    21883,
    'MQTT listener of the local origin Mosquitto',
  ),
  originWsPort: settings.port(
    'SENTINEL_ORIGIN_WS_PORT',
    28083,
    'WebSocket listener of the local origin Mosquitto',
  ),
  prometheusPort: settings.port(
    'SENTINEL_PROMETHEUS_PORT',
    19090,
    "HTTP port of the local Prometheus (deploy/prometheus/prometheus.yml; the machine's own Prometheus on 9090 is left alone)",
  ),
  prometheusCommand: settings.string(
    'SENTINEL_PROMETHEUS',
    'prometheus',
    'Prometheus executable for the local platform (Debian package prometheus)',
  ),
  redisExporterPort: settings.port(
    'SENTINEL_REDIS_EXPORTER_PORT',
    19122,
    'metrics port of the Redis exporter (the "Cache Clients" panel)',
  ),
  redisExporterCommand: settings.string(
    'SENTINEL_REDIS_EXPORTER',
    'prometheus-redis-exporter',
    'Redis exporter executable (Debian package prometheus-redis-exporter)',
  ),
  redisUrl: settings.url(
    'SENTINEL_REDIS_URL',
    'redis://127.0.0.1:6379',
    'Redis for the session registry, limits and the auth cache',
    ['redis', 'rediss'],
  ),
  mysqlUrl: settings.url(
    'SENTINEL_MYSQL_URL',
    'mysql://root@127.0.0.1:3306/sentinel',
    'device database (MySQL protocol)',
    ['mysql'],
  ),
  clickhouseUrl: settings.string(
    'SENTINEL_CLICKHOUSE_URL',
    'embedded',
    '"embedded" for chDB under the state dir, or the http(s) URL of a ClickHouse server',
    { pattern: /^(embedded|https?:\/\/.+)$/ },
  ),
  topicPrefix: settings.string('SENTINEL_TOPIC_PREFIX', 'sentinel.', 'prefix of every Kafka topic name', {
    pattern: /^[a-zA-Z0-9._-]*$/,
  }),
  kafkaJava: settings.string(
    'SENTINEL_KAFKA_JAVA',
    '',
    'java executable for the Kafka brokers (17+); empty picks the `java` on PATH if it is 17+, else the newest installed',
  ),
  kafkaJvmOptions: settings.string(
    'SENTINEL_KAFKA_JVM_OPTIONS',
    '',
    'extra JVM options of each local broker, separated by spaces, after the defaults (heap, G1)',
  ),
  registryJava: settings.string(
    'SENTINEL_REGISTRY_JAVA',
    '',
    'java executable for Apicurio Registry (21+); empty picks the newest installed',
  ),
  mavenCommand: settings.string('SENTINEL_MVN', 'mvn', 'Maven executable used to resolve the JVM components'),
  mosquittoCommand: settings.string(
    'SENTINEL_MOSQUITTO',
    'mosquitto',
    'Mosquitto executable for the local origin',
  ),
} as const;

export type StackConfig = ConfigOf<typeof stackSchema>;

export function kafkaBrokerPorts(config: Pick<StackConfig, 'kafkaPort'>): number[] {
  return [0, 1, 2].map((i) => config.kafkaPort + i);
}

export function kafkaBootstrap(config: Pick<StackConfig, 'kafkaPort'>): string[] {
  return kafkaBrokerPorts(config).map((port) => `127.0.0.1:${port}`);
}

export function registryUrl(config: Pick<StackConfig, 'registryPort'>): string {
  return `http://127.0.0.1:${config.registryPort}/apis/ccompat/v7`;
}

/** The local origin's accounts, made once per state directory and kept there (mode 0600). */
export interface OriginCredentials {
  /** The bridge's own account at the origin. */
  readonly bridge: { readonly username: string; readonly password: string };
  /** An origin-side application (tests, demo subscribers). */
  readonly app: { readonly username: string; readonly password: string };
}

export function originDir(config: Pick<StackConfig, 'stateDir'>): string {
  return join(config.stateDir, 'origin');
}

export function originCredentials(config: Pick<StackConfig, 'stateDir'>): OriginCredentials {
  const file = join(originDir(config), 'credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as OriginCredentials;
  const credentials: OriginCredentials = {
    bridge: { username: 'sentinel-bridge', password: randomBytes(18).toString('base64url') },
    app: { username: 'origin-app', password: randomBytes(18).toString('base64url') },
  };
  mkdirSync(originDir(config), { recursive: true });
  writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return credentials;
}
