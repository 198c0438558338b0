import { type ConfigOf, settings } from './config.js';
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
  // The local platform's ports: where the brokers and the registry are when the two above are empty.
  kafkaPort: stackSchema.kafkaPort,
  registryPort: stackSchema.registryPort,
} as const;

export type EndpointConfig = ConfigOf<typeof endpointSchema>;

export interface Endpoints {
  readonly kafkaBrokers: readonly string[];
  readonly registryUrl: string;
  readonly redisUrl: string;
  readonly mysqlUrl: string;
  readonly topicPrefix: string;
}

/** The engines a service talks to, from its loaded configuration (which holds `endpointSchema`). */
export function resolveEndpoints(config: EndpointConfig): Endpoints {
  return {
    kafkaBrokers: config.kafkaBrokers ? config.kafkaBrokers.split(',') : kafkaBootstrap(config),
    registryUrl: config.registryUrl || registryUrl(config),
    redisUrl: config.redisUrl,
    mysqlUrl: config.mysqlUrl,
    topicPrefix: config.topicPrefix,
  };
}
