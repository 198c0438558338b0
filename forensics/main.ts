import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { type ClickHouseTarget, createClickHouse, isEmbedded } from '../lib/clickhouse/client.js';
import { describeError, SentinelError } from '../lib/errors.js';
import { createKafka } from '../lib/kafka/client.js';
import { kafkaSecurityOf } from '../lib/kafka/security.js';
import { describeTopics, topicNames } from '../lib/kafka/topics.js';
import type { Logger } from '../lib/log.js';
import { setProcessNice } from '../lib/process/priority.js';
import { type ServiceHttp, startServiceHttp } from '../lib/service/http.js';
import { createMetricsRegistry } from '../lib/service/metrics.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import { applyForensicDdl, forensicTables } from './ddl.js';
import { claimStore, releaseStore, storeOwner } from './owner.js';
import { embeddedReadEngine, type QueryEndpoint, startQueryEndpoint } from './query-endpoint.js';
import type { ForensicsSinkConfig } from './settings.js';
import { createSinkMetrics, ForensicSink } from './sink.js';

/**
 * Composition root of `sentinel forensics-sink`: config -> the store (opened, DDL applied; with the
 * embedded engine the data directory is claimed and the read-only query endpoint started) -> topics
 * and schemas checked -> the sink -> /metrics /healthz /readyz.
 */
export interface ForensicsSinkService {
  readonly instanceId: string;
  readonly sink: ForensicSink;
  readonly http: ServiceHttp;
  /** The query endpoint (embedded engine only). */
  readonly query: QueryEndpoint | undefined;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly log: Logger;
  readonly onFatal?: (err: Error) => void;
  /** Tests only: called after each insert, before its commit. */
  readonly afterInsert?: (inserts: number) => void;
}

export function storeTargetOf(config: ForensicsSinkConfig): ClickHouseTarget {
  return {
    url: config.clickhouseUrl,
    embeddedPath: config.embeddedPath !== '' ? config.embeddedPath : join(config.stateDir, 'clickhouse'),
    ...(config.clickhouseUser ? { username: config.clickhouseUser } : {}),
    ...(config.clickhousePassword ? { password: config.clickhousePassword } : {}),
  };
}

function brokersOf(config: ForensicsSinkConfig): string[] {
  if (config.kafkaBrokers !== '') return config.kafkaBrokers.split(',');
  return [0, 1, 2].map((i) => `127.0.0.1:${config.kafkaPort + i}`);
}

function registryUrlOf(config: ForensicsSinkConfig): string {
  return config.registryUrl !== ''
    ? config.registryUrl
    : `http://127.0.0.1:${config.registryPort}/apis/ccompat/v7`;
}

function openStore(target: ClickHouseTarget): ClickHouseClient {
  if (isEmbedded(target)) {
    const owner = storeOwner(target.embeddedPath);
    if (owner && owner.pid !== process.pid) {
      throw new SentinelError(
        'SNT_COMPONENT_START_FAILED',
        `the embedded store ${target.embeddedPath} is owned by forensics sink pid ${owner.pid} (${owner.url}); stop it, or give this one SENTINEL_CLICKHOUSE_PATH`,
      );
    }
  }
  try {
    return createClickHouse(target);
  } catch (err) {
    throw new SentinelError(
      'SNT_COMPONENT_START_FAILED',
      `cannot open the forensic store (${describeError(err)}); chDB lets one process hold ${target.embeddedPath}`,
      { cause: err },
    );
  }
}

export async function startForensicsSink(
  config: ForensicsSinkConfig,
  options: StartOptions,
): Promise<ForensicsSinkService> {
  const { log } = options;
  const instanceId = config.instanceId !== '' ? config.instanceId : `${hostname()}-${process.pid}`;
  // Before the engine and the Kafka client start their threads, so that they inherit it.
  if (config.nice > 0)
    log.info({ nice: config.nice, threads: setProcessNice(config.nice) }, 'CPU priority lowered');
  // Read the Kafka certificates before the store is opened: a wrong setting stops nothing half-way.
  const kafkaSecurity = kafkaSecurityOf(config);
  const target = storeTargetOf(config);
  const store = openStore(target);
  const database = config.clickhouseDatabase;
  const cleanups: (() => Promise<void>)[] = [() => store.close()];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    await applyForensicDdl(store, database);
    const registry = createMetricsRegistry('forensics-sink', instanceId);

    let query: QueryEndpoint | undefined;
    if (isEmbedded(target)) {
      query = await startQueryEndpoint({
        host: '127.0.0.1',
        port: config.queryPort,
        engine: embeddedReadEngine(target.embeddedPath),
        user: config.queryUser,
        password: config.queryPassword,
        registry,
        log,
        applyDdl: async () => {
          await applyForensicDdl(store, database);
          return forensicTables(store, database);
        },
        tables: () => forensicTables(store, database),
      });
      const endpoint = query;
      claimStore(target.embeddedPath, endpoint.url);
      cleanups.push(async () => {
        await endpoint.close();
        releaseStore(target.embeddedPath);
      });
      log.info(
        { url: endpoint.url, path: target.embeddedPath },
        'embedded store owned; read-only query endpoint up',
      );
    }

    const connection = {
      brokers: brokersOf(config),
      clientId: `sentinel-forensics-${instanceId}`,
      logger: log,
      security: kafkaSecurity,
    };
    // kafkajs checks the topics (administration); the sink itself reads through librdkafka.
    const kafka = createKafka(connection);
    const topics = topicNames(config.topicPrefix);
    const sinkTopics = [
      topics.packets,
      topics.verdicts,
      topics.deliveries,
      topics.quarantine,
      topics.decisions,
    ];
    const admin = kafka.admin();
    await admin.connect();
    try {
      await describeTopics(admin, sinkTopics);
    } finally {
      await admin.disconnect();
    }
    const catalog = await SchemaCatalog.connect(registryUrlOf(config), topics);

    const sink = new ForensicSink({
      connection,
      catalog,
      topics,
      store,
      database,
      groupId: config.groupId,
      batchRows: config.batchRows,
      batchMaxMs: config.batchMaxMs,
      fetchWaitMs: config.fetchWaitMs,
      fetchMinBytes: config.fetchMinBytes,
      sessionTimeoutMs: config.sessionTimeoutMs,
      metrics: createSinkMetrics(registry),
      log,
      ...(options.afterInsert ? { afterInsert: options.afterInsert } : {}),
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    });
    await sink.start();
    cleanups.push(() => sink.stop());

    const http = await startServiceHttp({
      host: config.metricsHost,
      port: config.metricsPort,
      registry,
      readiness: [
        { name: 'kafka', check: () => sink.isReady() },
        { name: 'clickhouse', check: async () => (await store.ping()).success },
      ],
    });
    cleanups.push(() => http.close());
    log.info(
      {
        instanceId,
        metricsPort: http.port,
        queryUrl: query?.url,
        topics: sinkTopics,
      },
      'forensics sink running',
    );
    return { instanceId, sink, http, query, stop: cleanUp };
  } catch (err) {
    await cleanUp();
    throw err;
  }
}
