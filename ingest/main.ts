import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { resolveEndpoints } from '../lib/endpoints.js';
import { SentinelError } from '../lib/errors.js';
import type { KafkaConnection } from '../lib/kafka/client.js';
import { RecordProducer } from '../lib/kafka/rdkafka.js';
import { describeKafkaSecurity, kafkaSecurityOf } from '../lib/kafka/security.js';
import { topicNames } from '../lib/kafka/topics.js';
import { createLogger, type Logger } from '../lib/log.js';
import { HeapCompactor } from '../lib/process/heap-compactor.js';
import { type ServiceHttp, startServiceHttp } from '../lib/service/http.js';
import { createMetricsRegistry } from '../lib/service/metrics.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import { openAuth } from './auth/index.js';
import { type DownlinkConsumer, startDownlink } from './downlink.js';
import { EdgeProxy, type ListenerAddress } from './edge.js';
import { PacketEventWriter } from './event-writer.js';
import { createRateLimitRedis, RateLimiter, rateLimitPolicyFrom } from './limits/index.js';
import { IngestMetrics } from './metrics.js';
import { TrustedProxies } from './proxy-protocol.js';
import { RetainedMirror } from './retained-mirror.js';
import { SessionRegistry } from './session-registry.js';
import { type IngestServiceConfig, protocolPolicyOf, proxyIdOf } from './settings.js';

/**
 * Composition root of one edge proxy (`sentinel ingest`): validates every setting, then wires the
 * real Kafka producer, schema registry, device DB, Redis and listeners into the plain modules.
 */
export interface RunningIngest {
  readonly proxyId: string;
  readonly registry: Registry;
  readonly listeners: readonly ListenerAddress[];
  readonly metricsPort: number;
  readonly edge: EdgeProxy;
  readonly ready: () => boolean;
  stop(): Promise<void>;
}

/**
 * How often the edge looks at its heap, how long it must have been quiet and not growing before the
 * thorough collection, and below what event-loop load it may collect (HeapCompactor). Checks are
 * frequent and cheap (a heap-statistics read) so that workers taking turns each get one every
 * `workers` seconds, not every `workers` x 5 s.
 */
const heapCheckEveryMs = 1000;
const heapSettledAfterMs = 10_000;
const heapCompactMaxBusyRatio = 0.3;

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `setting ${setting}: cannot read ${path} (${(err as Error).message})`,
      { cause: err },
    );
  }
}

/** One of the edge host's worker processes (ingest/workers.ts): its index and how many there are. */
export interface IngestWorkerPlace {
  readonly index: number;
  readonly of: number;
}

export async function startIngest(
  config: IngestServiceConfig,
  logger?: Logger,
  worker?: IngestWorkerPlace,
): Promise<RunningIngest> {
  const endpoints = resolveEndpoints(config);
  const kafkaSecurity = kafkaSecurityOf(config);
  const policy = protocolPolicyOf(config);
  const ratePolicy = rateLimitPolicyFrom(config, policy.maxPacketBytes);
  if (config.tlsCert !== '' && config.tlsKey === '') {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      'setting SENTINEL_INGEST_TLS_KEY: required when SENTINEL_INGEST_TLS_CERT is set',
    );
  }
  if (!config.plainTcp && config.tlsCert === '') {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      'setting SENTINEL_INGEST_PLAIN_TCP=false needs SENTINEL_INGEST_TLS_CERT, or the proxy has no listener',
    );
  }
  const proxyId = proxyIdOf(config);
  const log = logger ?? createLogger({ name: 'ingest' });
  const registry = createMetricsRegistry('ingest', proxyId);
  const metrics = new IngestMetrics(registry);
  const topics = topicNames(endpoints.topicPrefix);
  const closers: Array<() => Promise<unknown> | unknown> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
  };

  try {
    const catalog = await SchemaCatalog.connect(endpoints.registryUrl, topics);
    const kafkaConnection: KafkaConnection = {
      brokers: endpoints.kafkaBrokers,
      clientId: `sentinel-ingest-${proxyId}`,
      logger: log,
      security: kafkaSecurity,
    };
    log.info({ kafka: describeKafkaSecurity(kafkaSecurity) }, 'Kafka connection security');
    // librdkafka retries a record for ever (deliveryTimeoutMs 0): the proxy bounds what it holds
    // in bytes and stops reading from devices instead of giving events up.
    const producer = new RecordProducer({
      connection: kafkaConnection,
      lingerMs: config.lingerMs,
      deliveryTimeoutMs: 0,
    });
    await producer.connect();
    // By the time this runs (last), the edge's shutdown has waited up to graceMs for every
    // acknowledgement; records still pending then are failed, their PUBACKs never sent.
    closers.push(() => producer.disconnect(1000));
    const writer = new PacketEventWriter({
      producer,
      connectionEventsHoldMs: config.connectionEventsHoldMs,
      topic: topics.packets,
      maxUnackedBytes: config.kafkaMaxUnackedBytes,
      stallMs: config.kafkaStallMs,
      registry,
      log,
    });
    producer.onFatal = (err) => writer.failed(err);

    const auth = await openAuth(
      { ...config, mysqlUrl: endpoints.mysqlUrl, redisUrl: endpoints.redisUrl },
      { registry, logger: log },
    );
    closers.push(() => auth.close());

    const limiterRedis = createRateLimitRedis(endpoints.redisUrl);
    closers.push(() => limiterRedis.disconnect());
    // The first reconcile should find Redis connected rather than report a transient outage.
    await Promise.race([
      once(limiterRedis, 'ready'),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
    const limiter = new RateLimiter({
      policy: ratePolicy,
      registry,
      log,
      expectedProxies: config.expectedProxies,
      reconcileMs: config.reconcileMs,
      fleet: {
        redis: limiterRedis,
        proxyId,
        keyPrefix: config.keyPrefix,
        proxyTtlMs: config.proxyTtlMs,
      },
    });
    limiter.start();
    closers.push(() => limiter.close());

    const redisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      commandTimeout: 300,
    } as const;
    // Commands of every connection in one event-loop turn leave in one write: at fleet CONNECT
    // rates a write per command was the edge's largest single cost (a syscall each).
    const sessionRedis = new Redis(endpoints.redisUrl, { ...redisOptions, enableAutoPipelining: true });
    const sessionSubscriber = new Redis(endpoints.redisUrl, {
      ...redisOptions,
      enableOfflineQueue: true,
      commandTimeout: undefined,
    });
    for (const client of [sessionRedis, sessionSubscriber]) {
      client.on('error', () => undefined);
      closers.push(() => client.disconnect());
    }
    let edge: EdgeProxy | undefined;
    const sessions = new SessionRegistry({
      redis: sessionRedis,
      subscriber: sessionSubscriber,
      keyPrefix: config.sessionPrefix,
      proxyId,
      log,
      registry,
      onTakeover: (takeover) => edge?.onTakeover(takeover),
    });
    await sessions.start();
    closers.push(() => sessions.flushReleases());
    let retained: RetainedMirror | undefined;
    if (config.retainedMaxBytes > 0 && config.downlink) {
      const mirror = new RetainedMirror({
        redis: sessionRedis,
        subscriber: sessionSubscriber,
        topicPrefix: endpoints.topicPrefix,
        maxBytes: config.retainedMaxBytes,
        log,
        registry,
      });
      await mirror.start();
      closers.push(() => mirror.stop());
      retained = mirror;
    }

    edge = new EdgeProxy({
      proxyId,
      policy,
      log,
      metrics,
      authenticate: (request) => auth.authenticator.authenticate(request),
      limiter,
      writer,
      catalog,
      sessions,
      ...(retained ? { retained: retained.index } : {}),
      subscribeMatch: config.subscribeMatch,
      maxOutboundBufferBytes: config.maxOutboundBufferBytes,
      persistentSessions: {
        expiryMs: config.sessionExpirySeconds * 1000,
        maxQueued: config.sessionQueueMax,
        maxParked: config.maxParkedSessions,
      },
      pendingConnects: {
        maxTotal: config.maxPendingConnects,
        maxPerAddress: config.maxPendingConnectsPerAddress,
      },
      ...(config.proxyProtocol === 'off'
        ? {}
        : {
            proxyProtocol: {
              mode: config.proxyProtocol,
              trusted: new TrustedProxies(config.proxyProtocolTrusted),
              headerTimeoutMs: config.connectTimeoutMs,
            },
          }),
    });
    const running = edge;
    closers.push(() => running.shutdown(config.graceMs));

    let downlink: DownlinkConsumer | undefined;
    if (config.downlink) {
      downlink = await startDownlink({
        connection: {
          brokers: endpoints.kafkaBrokers,
          clientId: `sentinel-ingest-${proxyId}-downlink`,
          logger: log,
          security: kafkaSecurity,
        },
        topic: topics.downlink,
        groupId: `${endpoints.topicPrefix}ingest-downlink.${proxyId}`,
        catalog,
        log,
        deliver: (message, producedAt) => running.deliverDownlink(message, producedAt),
      });
      const consumer = downlink;
      closers.push(() => consumer.stop());
    }

    const listeners: ListenerAddress[] = [];
    if (config.plainTcp) listeners.push(await edge.listenTcp(config.host, config.port));
    if (config.tlsCert !== '') {
      const clientCertificates = config.tlsClientCert !== 'off';
      listeners.push(
        await edge.listenTls(config.host, config.tlsPort, {
          cert: readPem(config.tlsCert, 'SENTINEL_INGEST_TLS_CERT'),
          key: readPem(config.tlsKey, 'SENTINEL_INGEST_TLS_KEY'),
          ...(config.tlsClientCa ? { ca: readPem(config.tlsClientCa, 'SENTINEL_INGEST_TLS_CLIENT_CA') } : {}),
          requestCert: clientCertificates,
          rejectUnauthorized: config.tlsClientCert === 'require',
        }),
      );
    }

    const ready = () => writer.kafkaUp && (downlink ? downlink.ready() : true);
    const http: ServiceHttp = await startServiceHttp({
      host: config.host,
      port: config.metricsPort,
      registry,
      readiness: [
        { name: 'kafka', check: () => writer.kafkaUp },
        { name: 'downlink', check: () => (downlink ? downlink.ready() : true) },
        { name: 'listeners', check: () => listeners.length > 0 },
      ],
    });
    closers.push(() => http.close());
    const compactor = new HeapCompactor({
      minGrowthBytes: config.heapCompactMib * 2 ** 20,
      checkEveryMs: heapCheckEveryMs,
      settledAfterMs: heapSettledAfterMs,
      maxBusyRatio: heapCompactMaxBusyRatio,
      ...(worker === undefined ? {} : { turn: worker }),
      registry,
      log,
    });
    compactor.start();
    closers.push(() => compactor.stop());
    log.info({ proxyId, listeners, metricsPort: http.port }, 'edge proxy listening');

    return {
      proxyId,
      registry,
      listeners,
      metricsPort: http.port,
      edge,
      ready,
      async stop() {
        // Devices first: stop reading and drain their events into Kafka while everything the
        // drain needs still runs, then close the rest.
        await running.shutdown(config.graceMs);
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
