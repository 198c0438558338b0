import { hostname } from 'node:os';
import { type ConfigOf, type ConfigSources, loadConfig, settings } from '../lib/config.js';
import { endpointSchema } from '../lib/endpoints.js';
import { kafkaSecuritySchema } from '../lib/kafka/security.js';
import { stackSchema } from '../lib/local-platform.js';

/**
 * Settings of `sentinel bridge`. The origin defaults to the local platform's Mosquitto (its WebSocket
 * listener, SENTINEL_ORIGIN_WS_PORT) and the bridge account the platform created for it, so a bridge
 * started beside `sentinel stack up` needs no configuration.
 */
export const bridgeSchema = {
  ...kafkaSecuritySchema,
  originUrl: settings.string(
    'SENTINEL_BRIDGE_ORIGIN_URL',
    '',
    'WebSocket URL of the origin (ws:// or wss://, e.g. wss://origin.example.com/mqtt); empty = the local origin ws://127.0.0.1:<SENTINEL_ORIGIN_WS_PORT>',
    { pattern: /^$|^wss?:\/\/\S+$/ },
  ),
  username: settings.string(
    'SENTINEL_BRIDGE_USERNAME',
    '',
    "the bridge's own account at the origin; empty = the local origin's bridge account (stack state dir)",
  ),
  password: settings.string('SENTINEL_BRIDGE_PASSWORD', '', 'password of the bridge account at the origin', {
    secret: true,
  }),
  tlsCa: settings.string(
    'SENTINEL_BRIDGE_TLS_CA',
    '',
    'PEM CA bundle that signs the origin certificate (wss://); empty = the system CAs',
  ),
  connections: settings.int(
    'SENTINEL_BRIDGE_CONNECTIONS',
    2,
    'WebSocket connections to the origin sharing the load; a partition always uses the same one (order)',
    { min: 1, max: 64 },
  ),
  maxInFlight: settings.int('SENTINEL_BRIDGE_MAX_INFLIGHT', 256, 'unacknowledged PUBLISHes per connection', {
    min: 1,
    max: 65_535,
    unit: 'messages',
  }),
  maxPending: settings.int(
    'SENTINEL_BRIDGE_MAX_PENDING',
    5000,
    'consumed but uncommitted messages per connection before its partitions are paused (bounds memory)',
    { min: 10, max: 1_000_000, unit: 'messages' },
  ),
  keepAliveSeconds: settings.int(
    'SENTINEL_BRIDGE_KEEPALIVE_SECONDS',
    30,
    'MQTT Keep Alive towards the origin; an L7 hop in between needs a longer idle timeout',
    { min: 5, max: 3600, unit: 's' },
  ),
  reconnectMinMs: settings.int(
    'SENTINEL_BRIDGE_RECONNECT_MIN_MS',
    200,
    'first reconnect delay after the origin connection drops; doubles per failed attempt',
    { min: 10, max: 60_000, unit: 'ms' },
  ),
  reconnectMaxMs: settings.int('SENTINEL_BRIDGE_RECONNECT_MAX_MS', 10_000, 'cap of the reconnect delay', {
    min: 100,
    max: 600_000,
    unit: 'ms',
  }),
  connectTimeoutMs: settings.int(
    'SENTINEL_BRIDGE_CONNECT_TIMEOUT_MS',
    10_000,
    'WebSocket handshake plus CONNACK must finish within this',
    { min: 100, max: 120_000, unit: 'ms' },
  ),
  groupId: settings.string(
    'SENTINEL_BRIDGE_GROUP_ID',
    'sentinel-bridge',
    'consumer group on sentinel.approved; bridge instances with the same group share the partitions',
    { pattern: /^[A-Za-z0-9._-]{1,200}$/ },
  ),
  instanceId: settings.string(
    'SENTINEL_BRIDGE_INSTANCE_ID',
    '',
    'name of this instance (logs, metrics, delivery records, origin client ids); set it to keep a persistent downlink session at the origin; empty = <hostname>-<pid>',
    { pattern: /^[A-Za-z0-9._-]{0,100}$/ },
  ),
  metricsHost: settings.string(
    'SENTINEL_BRIDGE_METRICS_HOST',
    '127.0.0.1',
    'address of the /metrics /healthz /readyz server',
  ),
  metricsPort: settings.int(
    'SENTINEL_BRIDGE_METRICS_PORT',
    19121,
    'port of the /metrics /healthz /readyz server; 0 picks a free one',
    { min: 0, max: 65535 },
  ),
  downlinkFilters: settings.string(
    'SENTINEL_BRIDGE_DOWNLINK_FILTERS',
    'clients/+/#,fleet/#',
    'topic filters subscribed at the origin (QoS 1) and written to sentinel.downlink, comma-separated: per-device topics and fleet-wide broadcasts by default; none = no downlink',
    { pattern: /^[^\s]*$/ },
  ),
  retained: settings.bool(
    'SENTINEL_BRIDGE_RETAINED',
    true,
    "follow the origin's retained messages under the downlink filters (own MQTT 5 session, Retain As Published) and store them in Redis, so the edge delivers them to new subscribers",
  ),
  downlinkUrl: settings.string(
    'SENTINEL_BRIDGE_DOWNLINK_URL',
    '',
    "URL of the origin for the downlink and retained-state sessions: ws://, wss://, mqtt:// or mqtts://; empty = SENTINEL_BRIDGE_ORIGIN_URL, or the local origin's MQTT listener when that is empty too",
    { pattern: /^$|^(wss?|mqtts?):\/\/\S+$/ },
  ),
  downlinkShareGroup: settings.string(
    'SENTINEL_BRIDGE_DOWNLINK_SHARE_GROUP',
    '',
    'subscribe as $share/<group>/<filter> so several bridge instances split the downlink instead of each writing it',
    { pattern: /^[A-Za-z0-9_-]{0,64}$/ },
  ),
  deliveryLingerMs: settings.int(
    'SENTINEL_BRIDGE_DELIVERY_LINGER_MS',
    100,
    'longest a delivery record waits for others to share its produce request; written after the origin PUBACK, it delays only the offset commit, never a delivery',
    { min: 0, max: 1000, unit: 'ms' },
  ),
  downlinkLingerMs: settings.int(
    'SENTINEL_BRIDGE_DOWNLINK_LINGER_MS',
    2,
    'longest a downlink record waits for others to share its produce request; it is on the origin -> device path (the PUBACK to the origin waits for it)',
    { min: 0, max: 1000, unit: 'ms' },
  ),
  fetchWaitMs: settings.int(
    'SENTINEL_BRIDGE_FETCH_WAIT_MS',
    100,
    'longest a broker holds a fetch of sentinel.approved that found nothing (a new record answers it at once); also how soon a resumed or newly assigned partition is fetched; shorter costs more idle fetches',
    { min: 1, max: 1000, unit: 'ms' },
  ),
  commitIntervalMs: settings.int(
    'SENTINEL_BRIDGE_COMMIT_INTERVAL_MS',
    100,
    'how often acknowledged offsets are committed; a crash re-delivers at most this much more',
    { min: 10, max: 60_000, unit: 'ms' },
  ),
  sessionTimeoutMs: settings.int(
    'SENTINEL_BRIDGE_SESSION_TIMEOUT_MS',
    30_000,
    'consumer group session timeout: how long a crashed instance keeps its partitions',
    { min: 6_000, max: 300_000, unit: 'ms' },
  ),
  graceMs: settings.int(
    'SENTINEL_BRIDGE_GRACE_MS',
    15_000,
    'time a SIGTERM gives in-flight messages to be acknowledged and committed before the process exits',
    { min: 100, max: 600_000, unit: 'ms' },
  ),
} as const;

export type BridgeConfig = ConfigOf<typeof bridgeSchema>;

export function instanceIdOf(config: BridgeConfig): string {
  return config.instanceId !== '' ? config.instanceId : `${hostname()}-${process.pid}`;
}

/** The downlink filters as configured, without the shared-subscription prefix. */
export function originFiltersOf(config: BridgeConfig): string[] {
  if (config.downlinkFilters === 'none') return [];
  return config.downlinkFilters
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f.length > 0);
}

export function downlinkFiltersOf(config: BridgeConfig): string[] {
  const filters = originFiltersOf(config);
  return config.downlinkShareGroup === ''
    ? filters
    : filters.map((f) => `$share/${config.downlinkShareGroup}/${f}`);
}

/** Settings the bridge had and has no more, with what to do instead (refused at start: cli/settings-catalog.ts). */
export const retiredBridgeSettings: Readonly<Record<string, string>> = {
  SENTINEL_BRIDGE_RECORD_LINGER_MS:
    'librdkafka batches by size, and delivery and downlink records have lingers of their own (SENTINEL_BRIDGE_DELIVERY_LINGER_MS); remove it',
  SENTINEL_BRIDGE_RECORD_BATCH: 'librdkafka batches by size; remove it',
};

/**
 * The bridge's one schema: its own settings, the engines it talks to, and where the local
 * platform's origin is when none is configured (its WebSocket port, the state directory holding
 * the bridge's account there). `sentinel bridge` loads it once (`loadBridgeConfig`). Settings
 * only: the CLI reads it to build its flags without loading the bridge.
 */
export const bridgeServiceSchema = {
  ...bridgeSchema,
  ...endpointSchema,
  originWsPort: stackSchema.originWsPort,
  originMqttPort: stackSchema.originMqttPort,
  stateDir: stackSchema.stateDir,
} as const;

export type BridgeServiceConfig = ConfigOf<typeof bridgeServiceSchema>;

export function loadBridgeConfig(sources: ConfigSources = {}): BridgeServiceConfig {
  return loadConfig(bridgeServiceSchema, sources);
}
