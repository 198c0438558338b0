import { Kafka, type KafkaConfig, type logCreator, logLevel } from 'kafkajs';
import type { Logger } from '../log.js';
import type { KafkaSecurity } from './security.js';

const levelNames: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs log lines go through pino; without a logger only errors are printed. */
function pinoLogCreator(logger: Logger): logCreator {
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      logger[levelNames[level] ?? 'info']({ kafka: extra }, message);
    };
}

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly logger?: Logger;
  /** Fail fast in CLIs and tests; long-running services keep kafkajs's default retries. */
  readonly retries?: number;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** TLS and SASL (lib/kafka/security.ts); absent = plaintext without authentication. */
  readonly security?: KafkaSecurity;
}

/** The kafkajs configuration of a connection (exported for its test; createKafka uses it). */
export function kafkaConfigOf(connection: KafkaConnection): KafkaConfig {
  // kafkajs 2's default partitioner is the Java client's (murmur2 of the key), which is what we
  // want: a client id maps to the same partition whoever produces it. Its notice says nothing else.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  const config: KafkaConfig = {
    clientId: connection.clientId,
    brokers: [...connection.brokers],
    connectionTimeout: connection.connectionTimeoutMs ?? 3000,
    requestTimeout: connection.requestTimeoutMs ?? 30_000,
    logLevel: connection.logger ? logLevel.WARN : logLevel.NOTHING,
    ...(connection.logger ? { logCreator: pinoLogCreator(connection.logger) } : {}),
    ...(connection.retries !== undefined
      ? { retry: { retries: connection.retries, initialRetryTime: 200, maxRetryTime: 2000 } }
      : {}),
    ...(connection.security?.ssl ? { ssl: connection.security.ssl } : {}),
    ...(connection.security?.sasl ? { sasl: connection.security.sasl } : {}),
  };
  return config;
}

export function createKafka(connection: KafkaConnection): Kafka {
  return new Kafka(kafkaConfigOf(connection));
}
