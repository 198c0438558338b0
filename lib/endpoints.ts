import { type ConfigOf, type ConfigSources, loadConfig, settings } from './config.js';
import { kafkaBootstrap, registryUrl, stackSchema } from './local-platform.js';

/**
 * Where a service finds the engines. In production these are set explicitly; when they are not,
 * they point at the local platform (`sentinel stack up`), following its port settings, so a
 * service started beside a local stack needs no configuration at all.
 */
export const endpointSchema = {
  kafkaBrokers: settings.string(
    'SENTINEL_KAFKA_BROKERS',
    '',
    'Kafka bootstrap servers, host:port,...; empty = the local platform',
    {
      pattern: /^$|^[^,\s]+:\d+(,[^,\s]+:\d+)*$/,
    },
  ),
  registryUrl: settings.string(
    'SENTINEL_REGISTRY_URL',
    '',
    'schema registry base URL (Confluent API); empty = the local platform',
    { pattern: /^$|^https?:\/\/\S+$/ },
  ),
  redisUrl: stackSchema.redisUrl,
  mysqlUrl: stackSchema.mysqlUrl,
  topicPrefix: stackSchema.topicPrefix,
} as const;

export interface Endpoints {
  readonly kafkaBrokers: readonly string[];
  readonly registryUrl: string;
  readonly redisUrl: string;
  readonly mysqlUrl: string;
  readonly topicPrefix: string;
}

export function resolveEndpoints(sources: ConfigSources = {}): Endpoints {
  const config: ConfigOf<typeof endpointSchema> = loadConfig(endpointSchema, sources);
  const local = loadConfig(stackSchema, sources);
  return {
    kafkaBrokers: config.kafkaBrokers ? config.kafkaBrokers.split(',') : kafkaBootstrap(local),
    registryUrl: config.registryUrl || registryUrl(local),
    redisUrl: config.redisUrl,
    mysqlUrl: config.mysqlUrl,
    topicPrefix: config.topicPrefix,
  };
}
