import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { resolveEndpoints } from '../lib/endpoints.js';
import { describeError, SentinelError } from '../lib/errors.js';
import { createKafka, type KafkaConnection } from '../lib/kafka/client.js';
import { RecordProducer } from '../lib/kafka/rdkafka.js';
import { kafkaSecurityOf } from '../lib/kafka/security.js';
import { describeTopics, topicNames } from '../lib/kafka/topics.js';
import type { Logger } from '../lib/log.js';
import { createMetricsRegistry } from '../lib/service/metrics.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import { registerApi } from './api.js';
import { Authenticator, issueToken, readOperators, readTokens, saveOperator } from './auth.js';
import { DecisionWriter } from './decision-writer.js';
import { ForensicsReader } from './forensics-reader.js';
import { createConsoleMetrics } from './metrics.js';
import { registerPages } from './pages.js';
import { QuarantineService } from './quarantine-service.js';
import { buildConsoleServer } from './server.js';
import { type ConsoleConfig, consoleInstanceIdOf, operatorsFileOf, tokensFileOf } from './settings.js';
import { VerdictStream } from './verdict-stream.js';

/**
 * Composition root of `sentinel console`: accounts -> topics and schemas checked -> the decision
 * writer (fences an earlier console) -> the quarantine read to its end -> the verdict stream and
 * the forensic reader -> the HTTP server (API, pages, /metrics /healthz /readyz).
 */
export interface RunningConsole {
  readonly url: string;
  readonly port: number;
  readonly instanceId: string;
  readonly quarantine: QuarantineService;
  /** Where the first-run credentials were written, when this start created them. */
  readonly bootstrap: FirstRunCredentials | null;
  stop(): Promise<void>;
}

export interface FirstRunCredentials {
  readonly operator: string;
  readonly passwordFile: string;
  readonly tokenFile: string;
}

export interface ConsoleOptions {
  readonly onFatal?: (err: Error) => void;
  /** Tests only: the clock the expiry of held messages reads. */
  readonly now?: () => number;
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

/**
 * A console on a loopback address with no accounts at all (a fresh local platform) makes one:
 * operator `admin` with a random password and a bearer token for the CLI, each in a file only its
 * owner can read under the state directory. Anywhere else, no accounts is a configuration error.
 */
async function firstRunCredentials(config: ConsoleConfig): Promise<FirstRunCredentials | null> {
  const operatorsFile = operatorsFileOf(config);
  const tokensFile = tokensFileOf(config);
  if (existsSync(operatorsFile) || existsSync(tokensFile)) return null;
  if (!isLoopback(config.host)) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `no console accounts (${operatorsFile}, ${tokensFile}); add one with \`sentinel console operators add <name>\` before serving on ${config.host}`,
    );
  }
  const dir = join(config.stateDir, 'console');
  const password = randomBytes(18).toString('base64url');
  await saveOperator(operatorsFile, 'admin', 'operator', password);
  const passwordFile = join(dir, 'admin-password');
  const tokenFile = join(dir, 'cli-token');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  writeFileSync(tokenFile, `${issueToken(tokensFile, 'admin-cli', 'operator')}\n`, { mode: 0o600 });
  return { operator: 'admin', passwordFile, tokenFile };
}

export async function startConsole(
  config: ConsoleConfig,
  log: Logger,
  options: ConsoleOptions = {},
): Promise<RunningConsole> {
  const endpoints = resolveEndpoints(config);
  const instanceId = consoleInstanceIdOf(config);
  const topics = topicNames(endpoints.topicPrefix);
  const registry = createMetricsRegistry('console', instanceId);
  const metrics = createConsoleMetrics(registry);
  const closers: Array<() => Promise<unknown> | unknown> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      await Promise.resolve(close()).catch((err: unknown) =>
        log.warn({ err: describeError(err) }, 'close failed'),
      );
    }
  };
  try {
    if ((config.tlsCert === '') !== (config.tlsKey === ''))
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        'settings SENTINEL_CONSOLE_TLS_CERT and SENTINEL_CONSOLE_TLS_KEY go together',
      );
    const bootstrap = await firstRunCredentials(config);
    const auth = new Authenticator({
      operators: readOperators(operatorsFileOf(config)),
      tokens: readTokens(tokensFileOf(config)),
      sessionIdleMs: config.sessionIdleMinutes * 60_000,
      sessionMaxMs: config.sessionMaxHours * 3_600_000,
      maxSessions: 10_000,
      maxFailures: 10,
      failureWindowMs: 5 * 60_000,
    });
    if (!auth.hasCredentials)
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        `no console accounts in ${operatorsFileOf(config)} or ${tokensFileOf(config)}`,
      );

    const connection: KafkaConnection = {
      brokers: endpoints.kafkaBrokers,
      clientId: `sentinel-console-${instanceId}`,
      logger: log,
      security: kafkaSecurityOf(config),
    };
    const admin = createKafka(connection).admin();
    await admin.connect();
    let described: Awaited<ReturnType<typeof describeTopics>>;
    try {
      described = await describeTopics(admin, [
        topics.quarantine,
        topics.decisions,
        topics.approved,
        topics.verdicts,
      ]);
    } finally {
      await admin.disconnect();
    }
    const partitionsOf = (name: string) => described.find((t) => t.name === name)?.partitions ?? 1;
    const catalog = await SchemaCatalog.connect(endpoints.registryUrl, topics);

    const producer = new RecordProducer({
      connection: { ...connection, clientId: `${connection.clientId}-decisions` },
      transactionalId: config.transactionalId,
      transactionTimeoutMs: 30_000,
      lingerMs: 0,
    });
    producer.onFatal = (err) => {
      log.fatal(
        { err: describeError(err) },
        'the decision writer failed for good (fenced by another console?)',
      );
      options.onFatal?.(err);
    };
    await producer.connect();
    closers.push(() => producer.disconnect());

    const forensics = new ForensicsReader(
      createClickHouse({
        url: config.forensicsUrl,
        embeddedPath: '',
        database: config.forensicsDatabase,
        ...(config.forensicsUser ? { username: config.forensicsUser } : {}),
        ...(config.forensicsPassword ? { password: config.forensicsPassword } : {}),
      }),
    );
    closers.push(() => forensics.close());

    const quarantine = new QuarantineService({
      connection,
      catalog,
      topics,
      partitions: { quarantine: partitionsOf(topics.quarantine), decisions: partitionsOf(topics.decisions) },
      writer: new DecisionWriter(producer, catalog, topics),
      groupId: `sentinel-console-${instanceId}`,
      fetchWaitMs: config.fetchWaitMs,
      holdMs: config.holdHours * 3_600_000,
      sweepIntervalMs: config.sweepIntervalMs,
      bulkBatch: config.bulkBatch,
      restoreTimeoutMs: 60_000,
      maxPayloadBytes: config.maxPayloadBytes,
      readPayload: (heldId) => forensics.heldPayload(heldId),
      metrics,
      log,
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    await quarantine.start();
    closers.push(() => quarantine.stop());

    const stream = new VerdictStream({
      connection,
      catalog,
      topic: topics.verdicts,
      groupId: `sentinel-console-stream-${instanceId}`,
      fetchWaitMs: config.fetchWaitMs,
      metrics,
      log,
    });
    closers.push(() => stream.stop());

    const https =
      config.tlsCert !== ''
        ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
        : undefined;
    const deps = {
      auth,
      quarantine,
      stream,
      forensics,
      metrics,
      registry,
      log,
      secure: https !== undefined,
      ...(https ? { https } : {}),
      ready: () => quarantine.ready(),
    };
    const app = await buildConsoleServer(deps);
    registerApi(app, deps);
    registerPages(app, deps);
    await app.listen({ host: config.host, port: config.port });
    closers.push(() => app.close());
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = `${https ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    log.info(
      {
        instanceId,
        url,
        held: quarantine.store.counts(),
        operatorsFile: operatorsFileOf(config),
        tokensFile: tokensFileOf(config),
      },
      'console started',
    );
    return {
      url,
      port,
      instanceId,
      quarantine,
      bootstrap,
      stop: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
