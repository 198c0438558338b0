import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { resolveEndpoints } from '../lib/endpoints.js';
import { describeError, SentinelError } from '../lib/errors.js';
import { createKafka, type KafkaConnection } from '../lib/kafka/client.js';
import { RecordProducer } from '../lib/kafka/rdkafka.js';
import { kafkaSecurityOf } from '../lib/kafka/security.js';
import { describeTopics, topicNames } from '../lib/kafka/topics.js';
import { originCredentials } from '../lib/local-platform.js';
import { createLogger, type Logger } from '../lib/log.js';
import { type ServiceHttp, startServiceHttp } from '../lib/service/http.js';
import { createMetricsRegistry } from '../lib/service/metrics.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import { Backoff } from './backoff.js';
import { downlinkRecord, toDownlinkMessage } from './downlink.js';
import { createBridgeMetrics } from './metrics.js';
import { type InboundMessage, OriginLink } from './origin-link.js';
import { RetainedFollower } from './retained.js';
import { type BridgeServiceConfig, downlinkFiltersOf, instanceIdOf, originFiltersOf } from './settings.js';
import { UplinkRelay } from './uplink.js';

/**
 * Composition root of `sentinel bridge`: settings -> origin account -> topics and schemas checked ->
 * Kafka producers (delivery records, downlink records) -> N origin connections for the uplink and one
 * for the downlink subscription -> the approved consumer -> /metrics /healthz /readyz.
 *
 * Kafka: librdkafka (lib/kafka/rdkafka.ts) for the consumer and the producers, kafkajs for the
 * topic check only.
 */
export interface RunningBridge {
  readonly instanceId: string;
  readonly originUrl: string;
  readonly metricsPort: number;
  readonly links: readonly OriginLink[];
  readonly ready: () => boolean;
  /** Commits what the origin acknowledged (waiting up to the grace period for in-flight messages) and closes. */
  stop(): Promise<void>;
}

export interface OriginAccount {
  readonly url: string;
  /** Where the downlink and retained-state sessions connect (the same origin, maybe another listener). */
  readonly downlinkUrl: string;
  readonly username: string;
  readonly password: string;
  readonly ca?: Buffer;
}

/** The origin and the bridge's account there; the local origin's when nothing is configured. */
export function originAccountOf(config: BridgeServiceConfig): OriginAccount {
  const url = config.originUrl !== '' ? config.originUrl : `ws://127.0.0.1:${config.originWsPort}`;
  const account =
    config.username !== ''
      ? { username: config.username, password: config.password }
      : originCredentials(config).bridge;
  let ca: Buffer | undefined;
  if (config.tlsCa !== '') {
    try {
      ca = readFileSync(config.tlsCa);
    } catch (err) {
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        `setting SENTINEL_BRIDGE_TLS_CA: cannot read ${config.tlsCa} (${(err as Error).message})`,
        { cause: err },
      );
    }
  }
  if (config.reconnectMaxMs < config.reconnectMinMs) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      'setting SENTINEL_BRIDGE_RECONNECT_MAX_MS must not be below SENTINEL_BRIDGE_RECONNECT_MIN_MS',
    );
  }
  // The local origin's MQTT listener: Mosquitto 2.0.11's WebSocket listener sends about 50 8 KB
  // messages/s to one client (docs/bridge.md); the uplink, which the WAF must see, stays on WebSocket.
  const downlinkUrl =
    config.downlinkUrl !== ''
      ? config.downlinkUrl
      : config.originUrl !== ''
        ? url
        : `mqtt://127.0.0.1:${config.originMqttPort}`;
  return { url, downlinkUrl, ...account, ...(ca ? { ca } : {}) };
}

export interface BridgeOptions {
  /** A Kafka client failed for good (fatal error): the service should exit so its supervisor restarts it. */
  readonly onFatal?: (err: Error) => void;
}

export async function startBridge(
  config: BridgeServiceConfig,
  logger?: Logger,
  options: BridgeOptions = {},
): Promise<RunningBridge> {
  const endpoints = resolveEndpoints(config);
  const origin = originAccountOf(config);
  const instanceId = instanceIdOf(config);
  const log = logger ?? createLogger({ name: 'bridge' });
  const registry = createMetricsRegistry('bridge', instanceId);
  const metrics = createBridgeMetrics(registry);
  const topics = topicNames(endpoints.topicPrefix);
  const closers: Array<() => Promise<unknown> | unknown> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      await Promise.resolve(close()).catch((err: unknown) =>
        log.warn({ err: describeError(err) }, 'close failed'),
      );
    }
  };
  let fatal: Error | null = null;
  const onFatal = (err: Error) => {
    if (fatal) return;
    fatal = err;
    log.fatal({ err: describeError(err) }, 'a Kafka client of the bridge failed for good');
    options.onFatal?.(err);
  };

  try {
    const connection: KafkaConnection = {
      brokers: endpoints.kafkaBrokers,
      clientId: `sentinel-bridge-${instanceId}`,
      logger: log,
      security: kafkaSecurityOf(config),
    };
    const admin = createKafka(connection).admin();
    await admin.connect();
    try {
      await describeTopics(admin, [topics.approved, topics.deliveries, topics.downlink]);
    } finally {
      await admin.disconnect();
    }
    const catalog = await SchemaCatalog.connect(endpoints.registryUrl, topics);

    // Idempotent, acks=all, retried by librdkafka until stored: what waits for a record (an offset
    // commit, an origin PUBACK) simply waits.
    const startProducer = async (name: string, lingerMs: number): Promise<RecordProducer> => {
      const producer = new RecordProducer({
        connection: { ...connection, clientId: `${connection.clientId}-${name}` },
        lingerMs,
      });
      producer.onFatal = onFatal;
      await producer.connect();
      closers.push(() => producer.disconnect());
      return producer;
    };
    const deliveries = await startProducer('deliveries', config.deliveryLingerMs);

    const linkOptions = {
      url: origin.url,
      username: origin.username,
      password: origin.password,
      ...(origin.ca ? { ca: origin.ca } : {}),
      keepAliveSeconds: config.keepAliveSeconds,
      connectTimeoutMs: config.connectTimeoutMs,
      metrics,
      log,
    };
    const links = Array.from(
      { length: config.connections },
      (_, i) =>
        new OriginLink({
          ...linkOptions,
          name: `c${i}`,
          clientId: `${instanceId}-c${i}`,
          // The bridge re-sends what was not acknowledged itself; an origin-side session adds nothing.
          cleanSession: true,
          maxInFlight: config.maxInFlight,
          backoff: new Backoff(config.reconnectMinMs, config.reconnectMaxMs),
        }),
    );
    const allLinks = [...links];

    const filters = downlinkFiltersOf(config);
    if (filters.length > 0) {
      const downlink = await startProducer('downlink', config.downlinkLingerMs);
      const onMessage = async (message: InboundMessage) => {
        // MQTT-3.3.1-9: RETAIN=1 towards a subscriber only marks a stored message replayed because of
        // a (re)subscription; the bridge resubscribes on every reconnect, so these are not new.
        if (message.retain) {
          metrics.skipped.inc({ reason: 'retained_replay' });
          return;
        }
        await downlink.send(downlinkRecord(catalog, topics.downlink, toDownlinkMessage(message, instanceId)));
        metrics.downlink.inc();
      };
      allLinks.push(
        new OriginLink({
          ...linkOptions,
          name: 'downlink',
          url: origin.downlinkUrl,
          clientId: `${instanceId}-downlink`,
          // With a stable instance id the origin keeps the subscription and queues QoS 1 messages
          // while the bridge is away; a per-process id would leave orphaned sessions behind.
          cleanSession: config.instanceId === '',
          maxInFlight: 1,
          backoff: new Backoff(config.reconnectMinMs, config.reconnectMaxMs),
          subscriptions: filters,
          onMessage,
        }),
      );
    }
    // Every instance follows the whole retained state (writes are idempotent), never a share of it.
    const retainedFilters = config.retained ? originFiltersOf(config) : [];
    if (retainedFilters.length > 0) {
      const redis = new Redis(endpoints.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
      redis.on('error', () => undefined);
      closers.push(() => redis.disconnect());
      const follower = new RetainedFollower({ redis, topicPrefix: endpoints.topicPrefix, metrics, log });
      closers.push(() => follower.stop());
      const link = new OriginLink({
        ...linkOptions,
        name: 'retained',
        url: origin.downlinkUrl,
        clientId: `${instanceId}-retained`,
        // A fresh session replays the whole retained state, which the follower reconciles against.
        cleanSession: true,
        maxInFlight: 1,
        backoff: new Backoff(config.reconnectMinMs, config.reconnectMaxMs),
        subscriptions: retainedFilters,
        retainAsPublished: true,
        onMessage: (message) => follower.onMessage(message),
      });
      link.watchSubscribed(() => follower.subscribed());
      allLinks.push(link);
    }
    for (const link of allLinks) {
      link.start();
      closers.push(() => link.stop(0));
    }

    const uplink = new UplinkRelay({
      connection,
      topic: topics.approved,
      packetsTopic: topics.packets,
      groupId: config.groupId,
      catalog,
      links,
      recordDelivery: (delivery) =>
        deliveries.send({
          topic: topics.deliveries,
          key: delivery.clientId,
          value: catalog.encode('deliveries', delivery),
        }),
      bridgeId: instanceId,
      maxPending: config.maxPending,
      commitIntervalMs: config.commitIntervalMs,
      sessionTimeoutMs: config.sessionTimeoutMs,
      fetchWaitMs: config.fetchWaitMs,
      metrics,
      log,
      onFatal,
    });
    // Stopped before the links and the producers (closers run in reverse): what is in flight is
    // acknowledged and recorded, then committed.
    closers.push(() => uplink.stop(config.graceMs));
    await uplink.start();

    const kafkaReady = () => fatal === null && uplink.ready();
    // The retained-state follower is best effort (it needs Redis too): it is watched through
    // sentinel_bridge_origin_connected{connection="retained"}, not readiness.
    const servingLinks = allLinks.filter((link) => link.name !== 'retained');
    const ready = () => kafkaReady() && servingLinks.every((link) => link.isReady);
    const http: ServiceHttp = await startServiceHttp({
      host: config.metricsHost,
      port: config.metricsPort,
      registry,
      readiness: [
        { name: 'kafka', check: kafkaReady },
        ...servingLinks.map((link) => ({ name: `origin-${link.name}`, check: () => link.isReady })),
      ],
    });
    closers.push(() => http.close());
    log.info(
      {
        instanceId,
        origin: origin.url,
        username: origin.username,
        connections: links.length,
        downlinkFilters: filters,
        input: topics.approved,
        outputs: [topics.deliveries, topics.downlink],
        metrics: `http://${config.metricsHost}:${http.port}/metrics`,
      },
      'bridge started',
    );

    return {
      instanceId,
      originUrl: origin.url,
      metricsPort: http.port,
      links: allLinks,
      ready,
      async stop() {
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
