import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../config.js';
import { SentinelError } from '../errors.js';
import { kafkaConfigOf } from './client.js';
import { describeKafkaSecurity, kafkaSecurityOf, kafkaSecuritySchema } from './security.js';

const dir = mkdtempSync(join(tmpdir(), 'sentinel-kafka-tls-'));
const pem = (name: string) => {
  const path = join(dir, name);
  writeFileSync(path, `-----BEGIN ${name}-----\n${name}\n-----END ${name}-----\n`);
  return path;
};
const ca = pem('ca.crt');
const cert = pem('user.crt');
const key = pem('user.key');
const password = 'scram-password-from-the-kafkauser-secret';

function securityFrom(env: Record<string, string>) {
  return kafkaSecurityOf(loadConfig(kafkaSecuritySchema, { env }));
}

function configFrom(env: Record<string, string>) {
  return kafkaConfigOf({ brokers: ['b:9093'], clientId: 'c', security: securityFrom(env) });
}

describe('Kafka TLS and SASL settings -> kafkajs config', () => {
  it('by default: plaintext, no SASL (the local platform)', () => {
    const config = configFrom({});
    assert.equal(config.ssl, undefined);
    assert.equal(config.sasl, undefined);
  });

  it('TLS with the system CAs, brokers verified', () => {
    assert.deepEqual(configFrom({ SENTINEL_KAFKA_TLS: 'true' }).ssl, { rejectUnauthorized: true });
  });

  it('TLS with the Strimzi cluster CA: the CA file is read into ssl.ca', () => {
    const ssl = configFrom({ SENTINEL_KAFKA_TLS: 'true', SENTINEL_KAFKA_TLS_CA_FILE: ca }).ssl;
    assert.ok(ssl && typeof ssl === 'object');
    assert.equal(ssl.rejectUnauthorized, true);
    assert.match(String((ssl.ca as Buffer[])[0]), /BEGIN ca\.crt/);
    assert.equal(ssl.cert, undefined);
  });

  it('mutual TLS (a Strimzi tls KafkaUser): certificate and key from their files', () => {
    const ssl = configFrom({
      SENTINEL_KAFKA_TLS: 'true',
      SENTINEL_KAFKA_TLS_CA_FILE: ca,
      SENTINEL_KAFKA_TLS_CERT_FILE: cert,
      SENTINEL_KAFKA_TLS_KEY_FILE: key,
    }).ssl;
    assert.ok(ssl && typeof ssl === 'object');
    assert.match(String(ssl.cert), /BEGIN user\.crt/);
    assert.match(String(ssl.key), /BEGIN user\.key/);
  });

  const sasl: [string, Record<string, string>, string][] = [
    [
      'SCRAM-SHA-512 over TLS (a Strimzi scram-sha-512 KafkaUser)',
      { SENTINEL_KAFKA_TLS: 'true' },
      'scram-sha-512',
    ],
    ['SCRAM-SHA-256 without TLS (SCRAM never sends the password)', {}, 'scram-sha-256'],
    ['PLAIN over TLS', { SENTINEL_KAFKA_TLS: 'true' }, 'plain'],
  ];
  for (const [name, extra, mechanism] of sasl) {
    it(`SASL ${name}`, () => {
      const config = configFrom({
        ...extra,
        SENTINEL_KAFKA_SASL_MECHANISM: mechanism,
        SENTINEL_KAFKA_SASL_USERNAME: 'sentinel-edge',
        SENTINEL_KAFKA_SASL_PASSWORD: password,
      });
      assert.deepEqual(config.sasl, { mechanism, username: 'sentinel-edge', password });
      assert.equal(config.ssl !== undefined, extra.SENTINEL_KAFKA_TLS === 'true');
    });
  }

  const refusals: [string, Record<string, string>, RegExp][] = [
    ['an unknown mechanism', { SENTINEL_KAFKA_SASL_MECHANISM: 'gssapi' }, /SENTINEL_KAFKA_SASL_MECHANISM/],
    [
      'a CA file without TLS',
      { SENTINEL_KAFKA_TLS_CA_FILE: ca },
      /SENTINEL_KAFKA_TLS_CA_FILE: needs SENTINEL_KAFKA_TLS=true/,
    ],
    [
      'a client certificate without its key',
      { SENTINEL_KAFKA_TLS: 'true', SENTINEL_KAFKA_TLS_CERT_FILE: cert },
      /SENTINEL_KAFKA_TLS_KEY_FILE: mutual TLS needs both/,
    ],
    [
      'a CA file that does not exist',
      { SENTINEL_KAFKA_TLS: 'true', SENTINEL_KAFKA_TLS_CA_FILE: join(dir, 'missing.crt') },
      /SENTINEL_KAFKA_TLS_CA_FILE: cannot read/,
    ],
    [
      'SCRAM without a password',
      { SENTINEL_KAFKA_SASL_MECHANISM: 'scram-sha-512', SENTINEL_KAFKA_SASL_USERNAME: 'u' },
      /SENTINEL_KAFKA_SASL_PASSWORD: required by scram-sha-512/,
    ],
    [
      'SCRAM without a user name',
      { SENTINEL_KAFKA_SASL_MECHANISM: 'scram-sha-512', SENTINEL_KAFKA_SASL_PASSWORD: password },
      /SENTINEL_KAFKA_SASL_USERNAME: required/,
    ],
    [
      'PLAIN without TLS',
      {
        SENTINEL_KAFKA_SASL_MECHANISM: 'plain',
        SENTINEL_KAFKA_SASL_USERNAME: 'u',
        SENTINEL_KAFKA_SASL_PASSWORD: password,
      },
      /plain sends the password unencrypted/,
    ],
    ['credentials without a mechanism', { SENTINEL_KAFKA_SASL_PASSWORD: password }, /choose a mechanism/],
  ];
  for (const [name, env, message] of refusals) {
    it(`refuses ${name}, naming the setting`, () => {
      assert.throws(
        () => securityFrom(env),
        (err: unknown) =>
          err instanceof SentinelError && err.code === 'SNT_CONFIG_INVALID' && message.test(err.message),
      );
    });
  }

  it('secrets never reach a log line or an error: the password is a secret setting and is not described', () => {
    assert.equal(kafkaSecuritySchema.kafkaSaslPassword.secret, true);
    const security = securityFrom({
      SENTINEL_KAFKA_TLS: 'true',
      SENTINEL_KAFKA_TLS_CERT_FILE: cert,
      SENTINEL_KAFKA_TLS_KEY_FILE: key,
      SENTINEL_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      SENTINEL_KAFKA_SASL_USERNAME: 'sentinel-edge',
      SENTINEL_KAFKA_SASL_PASSWORD: password,
    });
    const described = describeKafkaSecurity(security);
    assert.deepEqual(described, {
      tls: true,
      mutualTls: true,
      sasl: 'scram-sha-512',
      saslUser: 'sentinel-edge',
    });
    assert.doesNotMatch(JSON.stringify(described), /scram-password|BEGIN/);
  });
});
