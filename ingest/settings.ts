import { hostname } from 'node:os';
import {
  type ConfigOf,
  type ConfigSources,
  loadConfig,
  ParseRefusal,
  refuseRetiredSettings,
  type Setting,
  settings,
} from '../lib/config.js';
import { endpointSchema } from '../lib/endpoints.js';
import { defaultLingerMs } from '../lib/kafka/defaults.js';
import { kafkaSecuritySchema } from '../lib/kafka/security.js';
import { authSchema } from './auth/settings.js';
import { rateLimitSchema } from './limits/settings.js';
import { defaultProtocolPolicy, type ProtocolPolicy } from './protocol/index.js';
import { parseCidrList } from './proxy-protocol.js';

/** Where cloud L4 balancers connect from: private (RFC 1918, RFC 6598 shared, ULA) and loopback. */
const privateRanges = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '127.0.0.0/8',
  'fc00::/7',
  '::1/128',
] as const;

const proxyProtocolTrusted: Setting<readonly string[]> = {
  env: 'SENTINEL_INGEST_PROXY_PROTOCOL_TRUSTED',
  description:
    'addresses allowed to send a PROXY protocol header (the load balancers); a connection from any other is closed',
  default: privateRanges,
  allowed: 'comma-separated CIDRs (10.0.0.0/8,fd00::/8) or single addresses',
  parse: (raw) => {
    const list = parseCidrList(raw);
    if (typeof list === 'string') return new ParseRefusal(list);
    return list.length === 0 ? new ParseRefusal('empty list') : list;
  },
};

/** Settings of one edge proxy (`sentinel ingest`), beside the auth, rate-limit and endpoint schemas. */
export const ingestSchema = {
  host: settings.string(
    'SENTINEL_INGEST_HOST',
    '127.0.0.1',
    'address the MQTT listeners bind to (0.0.0.0 for every interface)',
  ),
  port: settings.int('SENTINEL_INGEST_PORT', 11883, 'MQTT over TCP listener; 0 picks a free port', {
    min: 0,
    max: 65535,
  }),
  tlsPort: settings.int(
    'SENTINEL_INGEST_TLS_PORT',
    18883,
    'MQTT over TLS listener (on when a certificate is set); 0 picks a free port',
    {
      min: 0,
      max: 65535,
    },
  ),
  tlsCert: settings.string(
    'SENTINEL_INGEST_TLS_CERT',
    '',
    'PEM certificate chain of the TLS listener; empty turns TLS off',
  ),
  tlsKey: settings.string('SENTINEL_INGEST_TLS_KEY', '', 'PEM private key of the TLS listener'),
  tlsClientCa: settings.string(
    'SENTINEL_INGEST_TLS_CLIENT_CA',
    '',
    'PEM CA bundle that signs device client certificates',
  ),
  tlsClientCert: settings.oneOf(
    'SENTINEL_INGEST_TLS_CLIENT_CERT',
    'off',
    ['off', 'optional', 'require'] as const,
    'ask devices for a client certificate; with require, a connection without a valid one is refused in the handshake',
  ),
  proxyProtocol: settings.oneOf(
    'SENTINEL_INGEST_PROXY_PROTOCOL',
    'off',
    ['off', 'v1', 'v2', 'any'] as const,
    'expect a PROXY protocol header (HAProxy v1 text, v2 binary, or either) before MQTT and TLS on every listener, and take the device address from it; a connection without a valid one is closed',
  ),
  proxyProtocolTrusted,
  workers: settings.int(
    'SENTINEL_INGEST_WORKERS',
    1,
    "edge worker processes, each with its own socket on the listeners' ports (SO_REUSEPORT); one per core, or one per ~19,000 connections: a process holds at most 20,000 open files here",
    { min: 1, max: 256 },
  ),
  plainTcp: settings.bool(
    'SENTINEL_INGEST_PLAIN_TCP',
    true,
    'serve MQTT without TLS too (turn off in production)',
  ),
  proxyId: settings.string(
    'SENTINEL_INGEST_PROXY_ID',
    '',
    'id of this proxy in events and the session registry; empty = hostname-port',
  ),
  metricsPort: settings.int(
    'SENTINEL_INGEST_METRICS_PORT',
    19101,
    'HTTP port of /metrics, /healthz and /readyz; 0 picks a free port',
    {
      min: 0,
      max: 65535,
    },
  ),
  sessionPrefix: settings.string(
    'SENTINEL_INGEST_SESSION_PREFIX',
    'sentinel:',
    'Redis key prefix of the session registry',
    {
      pattern: /^[A-Za-z0-9:._-]{1,64}$/,
    },
  ),
  subscribeMatch: settings.oneOf(
    'SENTINEL_ACL_SUBSCRIBE_MATCH',
    'cover',
    ['cover', 'overlap'] as const,
    "how a SUBSCRIBE filter is judged against the device's subscribe patterns: cover = every topic it can match must be readable (SUBACK 0x80 otherwise); overlap = some topic must be (Mosquitto's model), and every delivery is checked against the patterns",
  ),
  maxOutboundBufferBytes: settings.int(
    'SENTINEL_INGEST_MAX_OUTBOUND_BUFFER_BYTES',
    1024 * 1024,
    'bytes one device connection may have written and not yet read by the device; past it QoS 0 downlink to it is shed (counted as slow_subscriber)',
    { min: 16 * 1024, max: 1024 * 1024 * 1024, unit: 'bytes' },
  ),
  heapCompactMib: settings.int(
    'SENTINEL_INGEST_HEAP_COMPACT_MIB',
    64,
    "old-generation heap an edge process may gain beyond what its last full collection left before it runs another, while its event loop is quiet (busy < 30 % of a second); once it has been quiet and not growing for 10 s after a burst, it also runs V8's thorough collection once, which returns the pages to the system. An edge's workers take turns. Each pauses the process (105-391 ms measured at 15,000 sessions on one worker); 0 leaves the heap to V8",
    { min: 0, max: 65_536, unit: 'MiB' },
  ),
  sessionExpirySeconds: settings.int(
    'SENTINEL_INGEST_SESSION_EXPIRY_SECONDS',
    86_400,
    'how long a persistent session (CleanSession 0) is kept after its device left: subscriptions, queued messages, the proxy queueing for it',
    { min: 1, max: 30 * 86_400, unit: 's' },
  ),
  sessionQueueMax: settings.int(
    'SENTINEL_INGEST_SESSION_QUEUE_MAX',
    1000,
    'QoS 1/2 messages queued for one away persistent session; past it the oldest are dropped (as Mosquitto max_queued_messages)',
    { min: 1, max: 100_000, unit: 'messages' },
  ),
  maxParkedSessions: settings.int(
    'SENTINEL_INGEST_MAX_PARKED_SESSIONS',
    100_000,
    'away persistent sessions one proxy queues for at once (their filters stay in its subscription index)',
    { min: 0, max: 10_000_000, unit: 'sessions' },
  ),
  retainedMaxBytes: settings.int(
    'SENTINEL_INGEST_RETAINED_MAX_BYTES',
    64 * 1024 * 1024,
    "bound on this proxy's copy of the origin's retained messages (topic + payload bytes), delivered to new subscribers; 0 = none delivered",
    { min: 0, max: 16 * 1024 * 1024 * 1024, unit: 'bytes' },
  ),
  lingerMs: settings.int(
    'SENTINEL_INGEST_LINGER_MS',
    defaultLingerMs,
    'longest time a packet event waits for others to share its produce request (librdkafka linger.ms), whichever connections they come from',
    {
      min: 0,
      max: 1000,
      unit: 'ms',
    },
  ),
  connectionEventsHoldMs: settings.int(
    'SENTINEL_INGEST_CONNECTION_EVENTS_HOLD_MS',
    200,
    "how long the connection events (CONNECT, DISCONNECT, PINGREQ, SUBSCRIBE, UNSUBSCRIBE, acknowledgements of downlink messages) wait to be sent to Kafka together: fewer, larger produce requests cost the brokers less per connection; a PUBLISH or any event a device waits for sends its client's held events first, so it never waits for the hold; 0 sends them at once",
    {
      min: 0,
      max: 5000,
      unit: 'ms',
    },
  ),
  kafkaMaxUnackedBytes: settings.int(
    'SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES',
    64 * 1024 * 1024,
    'packet events sent to Kafka and not yet acknowledged, counted as key + value + 1 KiB each; past it the proxy stops reading from devices (TCP backpressure) until half of it is acknowledged; nothing is dropped',
    { min: 64 * 1024, max: 4 * 1024 * 1024 * 1024, unit: 'bytes' },
  ),
  kafkaStallMs: settings.int(
    'SENTINEL_INGEST_KAFKA_STALL_MS',
    5000,
    'Kafka counts as down (/readyz 503, sentinel_ingest_kafka_up 0) while the oldest unacknowledged packet event is older than this',
    { min: 100, max: 600_000, unit: 'ms' },
  ),
  graceMs: settings.int(
    'SENTINEL_INGEST_GRACE_MS',
    20_000,
    'time a SIGTERM gives unacknowledged packet events to reach Kafka (their PUBACKs still go out) before connections close; keep it under the 30 s the ingest command waits in all',
    { min: 100, max: 600_000, unit: 'ms' },
  ),
  downlink: settings.bool(
    'SENTINEL_INGEST_DOWNLINK',
    true,
    'deliver sentinel.downlink messages to subscribed devices',
  ),
  maxPacketBytes: settings.int(
    'SENTINEL_MQTT_MAX_PACKET_BYTES',
    defaultProtocolPolicy.maxPacketBytes,
    'largest packet accepted, refused from its fixed header',
    {
      min: 64,
      max: 268_435_460,
      unit: 'bytes',
    },
  ),
  maxTopicBytes: settings.int(
    'SENTINEL_MQTT_MAX_TOPIC_BYTES',
    defaultProtocolPolicy.maxTopicBytes,
    'longest topic name or filter',
    {
      min: 1,
      max: 65_535,
      unit: 'bytes',
    },
  ),
  maxTopicLevels: settings.int(
    'SENTINEL_MQTT_MAX_TOPIC_LEVELS',
    defaultProtocolPolicy.maxTopicLevels,
    'most levels in a topic or filter',
    {
      min: 1,
      max: 1000,
    },
  ),
  maxClientIdBytes: settings.int(
    'SENTINEL_MQTT_MAX_CLIENT_ID_BYTES',
    defaultProtocolPolicy.maxClientIdBytes,
    'longest client id',
    {
      min: 23,
      max: 65_535,
      unit: 'bytes',
    },
  ),
  clientIdCharacters: settings.oneOf(
    'SENTINEL_MQTT_CLIENT_ID_CHARACTERS',
    defaultProtocolPolicy.clientIdCharacters,
    ['spec', 'safe', 'utf8'] as const,
    'characters allowed in client ids: spec (0-9a-zA-Z), safe (printable ASCII without space + # / %), utf8',
  ),
  maxKeepAliveSeconds: settings.int(
    'SENTINEL_MQTT_MAX_KEEPALIVE_SECONDS',
    defaultProtocolPolicy.maxKeepAliveSeconds,
    'longest Keep Alive honoured (against idle-connection exhaustion); 0 = no cap',
    { min: 0, max: 65_535, unit: 's' },
  ),
  keepAlivePolicy: settings.oneOf(
    'SENTINEL_MQTT_KEEPALIVE_POLICY',
    defaultProtocolPolicy.keepAliveOutOfPolicy,
    ['cap', 'refuse'] as const,
    'a Keep Alive of 0 or above the maximum: cap it, or refuse the connection',
  ),
  connectTimeoutMs: settings.int(
    'SENTINEL_MQTT_CONNECT_TIMEOUT_MS',
    defaultProtocolPolicy.connectTimeoutMs,
    'time from accept to a complete CONNECT',
    {
      min: 100,
      max: 600_000,
      unit: 'ms',
    },
  ),
  maxPendingConnects: settings.int(
    'SENTINEL_MQTT_MAX_PENDING_CONNECTS',
    5000,
    'sockets of this process that have not completed CONNECT (TLS handshake and PROXY header included); one more is closed at accept. Bounds what silent sockets take (about 5 KiB each) and leaves file descriptors to devices that connect',
    { min: 1, max: 1_000_000 },
  ),
  maxPendingConnectsPerAddress: settings.int(
    'SENTINEL_MQTT_MAX_PENDING_CONNECTS_PER_ADDRESS',
    500,
    'of those, from one source address (an IPv6 /64; behind a PROXY protocol balancer, the address its header states); one more is closed at accept. The default is the CONNECT-per-IP tier burst: devices behind one NAT may connect together',
    { min: 1, max: 1_000_000 },
  ),
  maxInFlight: settings.int(
    'SENTINEL_MQTT_MAX_INFLIGHT',
    defaultProtocolPolicy.maxInboundInFlight,
    "per connection: QoS 1/2 PUBLISHes waiting for Kafka (more are left unread, not refused), QoS 2 exchanges awaiting the device's PUBREL (more close the connection), and downlink messages awaiting the device's acknowledgement",
    {
      min: 1,
      max: 65_535,
    },
  ),
} as const;

export type IngestConfig = ConfigOf<typeof ingestSchema>;

/**
 * Settings the edge had and has no more, with what to do instead. One still set stops the proxy:
 * an operator who tuned it believes it acts, and it does not.
 */
export const retiredIngestSettings: Readonly<Record<string, string>> = {
  SENTINEL_INGEST_BATCH_EVENTS:
    'the librdkafka producer puts every event sent within SENTINEL_INGEST_LINGER_MS into one request; remove it',
  SENTINEL_INGEST_INFLIGHT_BATCHES:
    'the idempotent producer keeps per-client order with several requests in flight; remove it',
  SENTINEL_INGEST_BUFFER_BYTES:
    'renamed SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES (the same bound, now counting 1 KiB of bookkeeping per event on top of its bytes)',
};

export function protocolPolicyOf(config: IngestConfig): ProtocolPolicy {
  return {
    ...defaultProtocolPolicy,
    maxPacketBytes: config.maxPacketBytes,
    maxTopicBytes: config.maxTopicBytes,
    maxTopicLevels: config.maxTopicLevels,
    maxClientIdBytes: config.maxClientIdBytes,
    clientIdCharacters: config.clientIdCharacters,
    maxKeepAliveSeconds: config.maxKeepAliveSeconds,
    keepAliveOutOfPolicy: config.keepAlivePolicy,
    connectTimeoutMs: config.connectTimeoutMs,
    maxInboundInFlight: config.maxInFlight,
    maxOutboundInFlight: config.maxInFlight,
  };
}

export function proxyIdOf(config: IngestConfig): string {
  return config.proxyId || `${hostname()}-${config.port}`;
}

/**
 * The edge's one schema: its own settings, authentication, rate limits, Kafka security and the
 * engines it talks to. `sentinel ingest` loads it once (`loadIngestConfig`) and hands it to
 * `startIngest`. Settings only: the CLI reads it to build its flags without loading the edge.
 */
export const ingestServiceSchema = {
  ...ingestSchema,
  ...authSchema,
  ...rateLimitSchema,
  ...kafkaSecuritySchema,
  ...endpointSchema,
} as const;

export type IngestServiceConfig = ConfigOf<typeof ingestServiceSchema>;

/** The edge's configuration from flags and environment, once; a retired setting still set is refused. */
export function loadIngestConfig(sources: ConfigSources = {}): IngestServiceConfig {
  refuseRetiredSettings(sources.env ?? process.env, retiredIngestSettings);
  return loadConfig(ingestServiceSchema, sources);
}
