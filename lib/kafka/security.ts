import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';
import { type ConfigOf, settings } from '../config.js';
import { SentinelError } from '../errors.js';

/**
 * How a service authenticates to Kafka and protects the connection: TLS (a CA bundle for the
 * brokers' certificates, optionally a client certificate for mutual TLS) and SASL (PLAIN or SCRAM).
 * With Strimzi these are the Secrets it generates: the cluster CA (`<cluster>-cluster-ca-cert`,
 * key `ca.crt`) and one Secret per KafkaUser (`user.crt`/`user.key` for TLS users, `password` for
 * SCRAM-SHA-512 users). The local platform needs none of it: everything defaults to off.
 */
export const kafkaSecuritySchema = {
  kafkaTls: settings.bool(
    'SENTINEL_KAFKA_TLS',
    false,
    'connect to the Kafka brokers over TLS (verifying their certificates)',
  ),
  kafkaTlsCaFile: settings.string(
    'SENTINEL_KAFKA_TLS_CA_FILE',
    '',
    "PEM CA bundle that signs the brokers' certificates (Strimzi: <cluster>-cluster-ca-cert ca.crt); empty = the system CAs",
  ),
  kafkaTlsCertFile: settings.string(
    'SENTINEL_KAFKA_TLS_CERT_FILE',
    '',
    'PEM client certificate for mutual TLS (Strimzi: the KafkaUser Secret user.crt); empty = none',
  ),
  kafkaTlsKeyFile: settings.string(
    'SENTINEL_KAFKA_TLS_KEY_FILE',
    '',
    'PEM private key of the client certificate (Strimzi: user.key)',
  ),
  kafkaSaslMechanism: settings.oneOf(
    'SENTINEL_KAFKA_SASL_MECHANISM',
    'none',
    ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const,
    'SASL authentication to the brokers (Strimzi scram-sha-512 users: scram-sha-512); plain sends the password as is, so only over TLS',
  ),
  kafkaSaslUsername: settings.string(
    'SENTINEL_KAFKA_SASL_USERNAME',
    '',
    'SASL user name (Strimzi: the KafkaUser name)',
  ),
  kafkaSaslPassword: settings.string(
    'SENTINEL_KAFKA_SASL_PASSWORD',
    '',
    'SASL password (Strimzi: the KafkaUser Secret password)',
    { secret: true },
  ),
} as const;

export type KafkaSecurityConfig = ConfigOf<typeof kafkaSecuritySchema>;

/** The parts of kafkajs's KafkaConfig this maps to. */
export interface KafkaSecurity {
  readonly ssl?: ConnectionOptions;
  readonly sasl?: SASLOptions;
}

function invalid(setting: string, reason: string, cause?: unknown): SentinelError {
  return new SentinelError('SNT_CONFIG_INVALID', `setting ${setting}: ${reason}`, cause ? { cause } : {});
}

/**
 * Maps the settings to kafkajs's `ssl` and `sasl` options, reading the PEM files now so that a
 * missing file stops the service at start with the setting's name. Combinations that cannot work
 * (a key without its certificate, SASL without credentials, PLAIN without TLS) are refused.
 */
export function kafkaSecurityOf(
  config: KafkaSecurityConfig,
  readFile: (path: string) => Buffer = readFileSync,
): KafkaSecurity {
  const read = (path: string, setting: string): Buffer => {
    try {
      return readFile(path);
    } catch (err) {
      throw invalid(setting, `cannot read ${path} (${(err as Error).message})`, err);
    }
  };
  const files = {
    SENTINEL_KAFKA_TLS_CA_FILE: config.kafkaTlsCaFile,
    SENTINEL_KAFKA_TLS_CERT_FILE: config.kafkaTlsCertFile,
    SENTINEL_KAFKA_TLS_KEY_FILE: config.kafkaTlsKeyFile,
  };
  for (const [setting, path] of Object.entries(files)) {
    if (path !== '' && !config.kafkaTls) throw invalid(setting, 'needs SENTINEL_KAFKA_TLS=true');
  }
  if ((config.kafkaTlsCertFile === '') !== (config.kafkaTlsKeyFile === '')) {
    throw invalid(
      config.kafkaTlsCertFile === '' ? 'SENTINEL_KAFKA_TLS_CERT_FILE' : 'SENTINEL_KAFKA_TLS_KEY_FILE',
      'mutual TLS needs both the client certificate and its key',
    );
  }
  let ssl: ConnectionOptions | undefined;
  if (config.kafkaTls) {
    ssl = {
      rejectUnauthorized: true,
      ...(config.kafkaTlsCaFile ? { ca: [read(config.kafkaTlsCaFile, 'SENTINEL_KAFKA_TLS_CA_FILE')] } : {}),
      ...(config.kafkaTlsCertFile
        ? {
            cert: read(config.kafkaTlsCertFile, 'SENTINEL_KAFKA_TLS_CERT_FILE'),
            key: read(config.kafkaTlsKeyFile, 'SENTINEL_KAFKA_TLS_KEY_FILE'),
          }
        : {}),
    };
  }
  const mechanism = config.kafkaSaslMechanism;
  if (mechanism === 'none') {
    if (config.kafkaSaslUsername !== '' || config.kafkaSaslPassword !== '')
      throw invalid(
        'SENTINEL_KAFKA_SASL_MECHANISM',
        'a SASL user name or password is set: choose a mechanism',
      );
    return ssl ? { ssl } : {};
  }
  if (config.kafkaSaslUsername === '')
    throw invalid('SENTINEL_KAFKA_SASL_USERNAME', `required by ${mechanism}`);
  if (config.kafkaSaslPassword === '')
    throw invalid('SENTINEL_KAFKA_SASL_PASSWORD', `required by ${mechanism}`);
  if (mechanism === 'plain' && !ssl)
    throw invalid(
      'SENTINEL_KAFKA_SASL_MECHANISM',
      'plain sends the password unencrypted: set SENTINEL_KAFKA_TLS=true',
    );
  const sasl: SASLOptions = {
    mechanism,
    username: config.kafkaSaslUsername,
    password: config.kafkaSaslPassword,
  };
  return ssl ? { ssl, sasl } : { sasl };
}

/** What a start-up log line may say about the security in use: never a key or a password. */
export function describeKafkaSecurity(security: KafkaSecurity): Record<string, string | boolean> {
  return {
    tls: security.ssl !== undefined,
    mutualTls: security.ssl?.cert !== undefined,
    sasl: security.sasl?.mechanism ?? 'none',
    ...(security.sasl && 'username' in security.sasl ? { saslUser: security.sasl.username } : {}),
  };
}
