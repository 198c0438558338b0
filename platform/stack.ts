import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { applyForensicDdl, forensicTables } from '../forensics/ddl.js';
import { askOwner, storeOwner } from '../forensics/owner.js';
import { type ClickHouseTarget, createClickHouse, isEmbedded } from '../lib/clickhouse/client.js';
import { deviceDbTables, migrateDeviceDb, parseMysqlUrl } from '../lib/devicedb/migrations.js';
import { describeError, SentinelError } from '../lib/errors.js';
import { createKafka } from '../lib/kafka/client.js';
import { createTopics, topicList, topicNames } from '../lib/kafka/topics.js';
import { kafkaBootstrap, kafkaBrokerPorts, registryUrl, type StackConfig } from '../lib/local-platform.js';
import { requireBackwardCompatibility, SchemaCatalog } from '../schemas/catalog.js';
import { artifactPaths, ensureArtifacts, type JvmArtifacts } from './artifacts.js';
import type { ComponentStatus } from './component-status.js';
import {
  brokerIndexes,
  brokerProcess,
  jmxExporterPort,
  registeredBrokerIds,
  startBroker,
  stopBroker,
  waitForBroker,
  waitForCluster,
  waitForGroupCoordinators,
} from './kafka.js';
import { originHealthy, originProcess, startOrigin, stopOrigin } from './origin.js';
import { isAlive, runningPid, tcpReachable } from './processes.js';
import { prometheusStatus, startPrometheus, stopPrometheus } from './prometheus.js';
import { redisExporterStatus, startRedisExporter, stopRedisExporter } from './redis-exporter.js';
import {
  registryHealthy,
  registryProcess,
  startRegistry,
  stopRegistry,
  waitForRegistry,
} from './registry.js';
import { warmLaunchedBrokers } from './warmup.js';

/**
 * `sentinel stack up | down | status`: the local platform as real processes. `up` is idempotent
 * (what runs is left alone) and returns when every component answers; `down` stops only what this
 * stack started (pid files under the state dir).
 */

export interface UpReport {
  readonly seconds: number;
  readonly started: string[];
  readonly versions: Readonly<Record<string, string>>;
}

type Log = (line: string) => void;

export function clickhouseTarget(config: StackConfig): ClickHouseTarget {
  return { url: config.clickhouseUrl, embeddedPath: join(config.stateDir, 'clickhouse') };
}

/** One `up` at a time per state dir: a second one waits, so concurrent test processes are safe. */
async function withStackLock<T>(config: StackConfig, work: () => Promise<T>): Promise<T> {
  mkdirSync(config.stateDir, { recursive: true });
  const lockFile = join(config.stateDir, 'stack.lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lockFile, 'utf8').trim());
      if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) {
        rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new SentinelError(
          'SNT_STACK_LOCKED',
          `another \`sentinel stack\` (pid ${holder}) holds ${lockFile}`,
        );
      }
      await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

export async function redisAnswers(url: string): Promise<string> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch (err) {
    throw new SentinelError(
      'SNT_CACHE_UNAVAILABLE',
      `Redis at ${url} does not answer (${describeError(err)}); start it or set SENTINEL_REDIS_URL`,
      { cause: err },
    );
  } finally {
    redis.disconnect();
  }
}

async function prepareForensics(config: StackConfig): Promise<string> {
  const target = clickhouseTarget(config);
  // chDB locks its directory: while the forensics sink owns it, the DDL goes through the sink.
  const owner = isEmbedded(target) ? storeOwner(target.embeddedPath) : undefined;
  if (owner) return (await askOwner(owner, 'ddl')).join(', ');
  const client = createClickHouse(target);
  try {
    await applyForensicDdl(client);
    const tables = await forensicTables(client);
    return tables.join(', ');
  } finally {
    await client.close();
  }
}

/**
 * Metrics collection is optional: without its executable the platform runs and the dashboards
 * and alerts have no data, which the warning says with the package to install.
 */
async function startOptional(name: string, start: () => Promise<boolean>, log: Log): Promise<boolean> {
  try {
    return await start();
  } catch (err) {
    if (!(err instanceof SentinelError) || err.code !== 'SNT_DEPENDENCY_MISSING') throw err;
    log(`warning: ${name} not started, the platform runs without it: ${err.message}`);
    return false;
  }
}

export async function stackUp(config: StackConfig, log: Log): Promise<UpReport> {
  return withStackLock(config, async () => {
    const began = Date.now();
    const started: string[] = [];
    const artifacts = await ensureArtifacts(config, log);

    // The machine's services first: they fail fast and need nothing else.
    const redisVersion = await redisAnswers(config.redisUrl);
    const mysqlTarget = parseMysqlUrl(config.mysqlUrl);
    const applied = await migrateDeviceDb(mysqlTarget);
    log(
      `device DB ${mysqlTarget.host}:${mysqlTarget.port}/${mysqlTarget.database} ready${applied.length ? ` (applied migrations ${applied.join(', ')})` : ''}`,
    );

    try {
      for (const index of brokerIndexes) {
        if (await startBroker(config, artifacts, index)) started.push(`kafka-${index + 1}`);
      }
      // The registry's JVM boots while the brokers form their quorum; it connects when they answer.
      if (await startRegistry(config, artifacts)) started.push('registry');
      if (await startOrigin(config)) started.push('origin');
      // Prometheus and the Redis exporter start in about a second while the brokers boot; a scrape
      // of a component still starting is just a failed scrape.
      if (await startOptional('redis-exporter', () => startRedisExporter(config), log))
        started.push('redis-exporter');
      if (await startOptional('prometheus', () => startPrometheus(config), log)) started.push('prometheus');
      for (const index of brokerIndexes) await waitForBroker(config, artifacts, index);
      await waitForCluster(config);
      log(`kafka ${artifacts.kafkaVersion}: 3 brokers on ${kafkaBootstrap(config).join(', ')}`);

      const admin = createKafka({
        brokers: kafkaBootstrap(config),
        clientId: 'sentinel-stack',
        retries: 5,
      }).admin();
      await admin.connect();
      try {
        const names = topicNames(config.topicPrefix);
        const result = await createTopics(admin, topicList(names), config.kafkaPartitions);
        if (result.created.length > 0) log(`created topics ${result.created.join(', ')}`);
      } finally {
        await admin.disconnect();
      }
      const coordinatorsFrom = Date.now();
      await waitForGroupCoordinators(config, topicNames(config.topicPrefix).packets);
      log(`group coordinators ready (${Math.round((Date.now() - coordinatorsFrom) / 100) / 10} s)`);

      await waitForRegistry(config, artifacts);
      await requireBackwardCompatibility(registryUrl(config));
      await SchemaCatalog.connect(registryUrl(config), topicNames(config.topicPrefix));
      log(
        `schema registry (Apicurio ${artifacts.apicurioVersion}) at ${registryUrl(config)}; schemas registered`,
      );

      const tables = await prepareForensics(config);
      log(
        `forensic store (${isEmbedded(clickhouseTarget(config)) ? 'embedded chDB' : config.clickhouseUrl}): ${tables}`,
      );

      await warmLaunchedBrokers(config, started, log);
    } catch (err) {
      // A start that fails stops what it started, and says so: nothing is left running unnoticed.
      if (started.length > 0) {
        log(`start failed; stopping what this start launched (${started.join(', ')})`);
        await stackDown(config, log, new Set(started));
      }
      throw err;
    }

    return {
      seconds: (Date.now() - began) / 1000,
      started,
      versions: { kafka: artifacts.kafkaVersion, apicurio: artifacts.apicurioVersion, redis: redisVersion },
    };
  });
}

/**
 * Stops the processes this stack started. `only` narrows it to the named components (what one
 * `sentinel up` started), so an `up` that found the stack running leaves it running.
 */
export async function stackDown(
  config: StackConfig,
  log: Log,
  only?: ReadonlySet<string>,
): Promise<string[]> {
  const stopped: string[] = [];
  const wanted = (name: string) => only === undefined || only.has(name);
  const artifacts = artifactsOrUndefined(config);
  if (wanted('prometheus') && (await stopPrometheus(config))) stopped.push('prometheus');
  if (wanted('redis-exporter') && (await stopRedisExporter(config))) stopped.push('redis-exporter');
  if (wanted('origin') && (await stopOrigin(config))) stopped.push('origin');
  if (artifacts) {
    if (wanted('registry') && (await stopRegistry(config, artifacts))) stopped.push('registry');
    // All brokers at once: stopped one by one, the last would wait for a controller quorum that
    // is already gone and only leave at the kill deadline.
    const brokers = brokerIndexes.filter((index) => wanted(`kafka-${index + 1}`));
    const brokersStopped = await Promise.all(brokers.map((index) => stopBroker(config, artifacts, index)));
    brokers.forEach((index, i) => {
      if (brokersStopped[i]) stopped.push(`kafka-${index + 1}`);
    });
  }
  log(stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing of this stack was running');
  return stopped;
}

function artifactsOrUndefined(config: StackConfig): JvmArtifacts | undefined {
  try {
    return artifactPaths(config);
  } catch {
    return undefined;
  }
}

function managedPid(pidFile: string): boolean {
  return runningPid({ pidFile }) !== undefined;
}

export async function stackStatus(config: StackConfig): Promise<ComponentStatus[]> {
  const rows: ComponentStatus[] = [];
  const artifacts = artifactsOrUndefined(config);
  let registered = new Set<number>();
  try {
    registered = await registeredBrokerIds(config);
  } catch {
    // No broker answers: every row below says which ones do not listen.
  }
  for (const index of brokerIndexes) {
    const port = kafkaBrokerPorts(config)[index]!;
    const up = await tcpReachable('127.0.0.1', port);
    const managed = artifacts ? managedPid(brokerProcess(config, artifacts, index).pidFile) : false;
    const isRegistered = registered.has(index + 1);
    let detail = 'not listening';
    if (up && isRegistered)
      detail = `registered (${registered.size}/3 brokers); JVM metrics on :${jmxExporterPort(config, index)}`;
    else if (up)
      detail = `listening but not registered with the cluster (${registered.size}/3 brokers registered)`;
    rows.push({
      name: `kafka-${index + 1}`,
      address: `127.0.0.1:${port}`,
      healthy: up && isRegistered,
      managed,
      detail,
    });
  }
  const registryUp = await registryHealthy(config);
  rows.push({
    name: 'registry',
    address: registryUrl(config),
    healthy: registryUp,
    managed: artifacts ? managedPid(registryProcess(config, artifacts).pidFile) : false,
    detail: registryUp
      ? `Apicurio ${artifacts?.apicurioVersion ?? ''} (Confluent API), storage kafkasql`
      : 'not answering',
  });
  const originUp = await originHealthy(config).catch(() => false);
  rows.push({
    name: 'origin',
    address: `mqtt://127.0.0.1:${config.originMqttPort} ws://127.0.0.1:${config.originWsPort}`,
    healthy: originUp,
    managed: managedPid(originProcess(config).pidFile),
    detail: originUp ? 'Mosquitto accepts CONNECT' : 'not answering',
  });
  rows.push(await prometheusStatus(config), await redisExporterStatus(config));
  rows.push(
    await redisAnswers(config.redisUrl).then(
      (version) => ({
        name: 'redis',
        address: config.redisUrl,
        healthy: true,
        managed: false,
        detail: `Redis ${version} (the machine's)`,
      }),
      (err: unknown) => ({
        name: 'redis',
        address: config.redisUrl,
        healthy: false,
        managed: false,
        detail: describeError(err),
      }),
    ),
  );
  const mysqlTarget = parseMysqlUrl(config.mysqlUrl);
  rows.push(
    await deviceDbTables(mysqlTarget).then(
      (tables) => ({
        name: 'device-db',
        address: `${mysqlTarget.host}:${mysqlTarget.port}/${mysqlTarget.database}`,
        healthy: tables.includes('devices') && tables.includes('device_acls'),
        managed: false,
        detail: tables.length ? `tables: ${tables.join(', ')}` : 'no tables; run `sentinel stack up`',
      }),
      (err: unknown) => ({
        name: 'device-db',
        address: `${mysqlTarget.host}:${mysqlTarget.port}/${mysqlTarget.database}`,
        healthy: false,
        managed: false,
        detail: (err as Error).message,
      }),
    ),
  );
  rows.push(await forensicsStatus(config));
  return rows;
}

async function forensicsStatus(config: StackConfig): Promise<ComponentStatus> {
  const target = clickhouseTarget(config);
  const address = isEmbedded(target) ? `embedded chDB at ${target.embeddedPath}` : config.clickhouseUrl;
  if (isEmbedded(target) && !existsSync(target.embeddedPath)) {
    return {
      name: 'clickhouse',
      address,
      healthy: false,
      managed: false,
      detail: 'not created; run `sentinel stack up`',
    };
  }
  const owner = isEmbedded(target) ? storeOwner(target.embeddedPath) : undefined;
  if (owner) {
    return askOwner(owner, 'tables').then(
      (tables) => ({
        name: 'clickhouse',
        address: `${address}, served by forensics sink pid ${owner.pid} at ${owner.url}`,
        healthy: tables.length >= 3,
        managed: false,
        detail: `tables: ${tables.join(', ')}`,
      }),
      (err: unknown) => ({
        name: 'clickhouse',
        address,
        healthy: false,
        managed: false,
        detail: describeError(err),
      }),
    );
  }
  const client = createClickHouse(target);
  try {
    const tables = await forensicTables(client);
    return {
      name: 'clickhouse',
      address,
      healthy: tables.length >= 3,
      managed: isEmbedded(target),
      detail: `tables: ${tables.join(', ')}`,
    };
  } catch (err) {
    return { name: 'clickhouse', address, healthy: false, managed: false, detail: describeError(err) };
  } finally {
    await client.close().catch(() => undefined);
  }
}
