import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  flagOf,
  loadConfig,
  nearestName,
  refuseUnknownSettings,
  settings,
  unknownEnvNames,
} from './config.js';
import { isSentinelError } from './errors.js';

const schema = {
  port: settings.port('SENTINEL_TEST_PORT', 1234, 'a port'),
  brokers: settings.hostPorts('SENTINEL_TEST_BROKERS', ['127.0.0.1:9092'], 'brokers'),
  mode: settings.oneOf('SENTINEL_TEST_MODE', 'enforce', ['enforce', 'shadow'] as const, 'mode'),
  tls: settings.bool('SENTINEL_TEST_TLS', false, 'tls'),
  password: settings.string('SENTINEL_TEST_PASSWORD', '', 'secret', { secret: true }),
};

describe('loadConfig', () => {
  it('uses defaults when nothing is set', () => {
    const config = loadConfig(schema, { env: {} });
    assert.equal(config.port, 1234);
    assert.deepEqual(config.brokers, ['127.0.0.1:9092']);
    assert.equal(config.mode, 'enforce');
    assert.equal(config.tls, false);
  });

  it('reads the environment and lets flags win over it', () => {
    const config = loadConfig(schema, {
      env: { SENTINEL_TEST_PORT: '2000', SENTINEL_TEST_MODE: 'shadow' },
      flags: { testPort: '3000' },
    });
    assert.equal(config.port, 3000);
    assert.equal(config.mode, 'shadow');
  });

  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    [
      'a port that is not a number',
      { SENTINEL_TEST_PORT: 'abc' },
      /SENTINEL_TEST_PORT \(--test-port\).*"abc" is not a whole number; allowed: a TCP port number/,
    ],
    ['a port out of range', { SENTINEL_TEST_PORT: '70000' }, /SENTINEL_TEST_PORT.*out of range 1\.\.65535/],
    [
      'a broker without a port',
      { SENTINEL_TEST_BROKERS: 'localhost' },
      /SENTINEL_TEST_BROKERS.*"localhost" is not host:port/,
    ],
    [
      'an unknown mode',
      { SENTINEL_TEST_MODE: 'loud' },
      /SENTINEL_TEST_MODE.*allowed: one of enforce, shadow/,
    ],
    ['a boolean typo', { SENTINEL_TEST_TLS: 'ture' }, /SENTINEL_TEST_TLS.*allowed: true or false/],
  ];
  for (const [what, env, message] of refusals) {
    it(`refuses ${what}, naming the setting`, () => {
      assert.throws(
        () => loadConfig(schema, { env }),
        (err: unknown) => isSentinelError(err, 'SNT_CONFIG_INVALID') && message.test(err.message),
      );
    });
  }

  it('never prints a secret value in an error', () => {
    const secretSchema = {
      pin: settings.string('SENTINEL_TEST_PIN', '', 'pin', { secret: true, pattern: /^\d+$/ }),
    };
    assert.throws(
      () => loadConfig(secretSchema, { env: { SENTINEL_TEST_PIN: 'hunter2' } }),
      (err: unknown) =>
        err instanceof Error && !err.message.includes('hunter2') && err.message.includes('[secret]'),
    );
  });

  it('derives the flag name from the variable', () => {
    assert.equal(flagOf(schema.brokers), '--test-brokers');
  });

  it('names SENTINEL_* variables no schema knows', () => {
    assert.deepEqual(
      unknownEnvNames({ SENTINEL_TEST_PORT: '1', SENTINEL_TEST_PROT: '2', HOME: '/' }, [schema]),
      ['SENTINEL_TEST_PROT'],
    );
  });

  it('refuses a SENTINEL_* variable nothing reads, naming the setting it most likely meant', () => {
    const names = { known: new Set(['SENTINEL_TEST_PORT', 'SENTINEL_TEST_MODE']) };
    assert.throws(
      () => refuseUnknownSettings({ SENTINEL_TEST_PROT: '2', HOME: '/' }, names),
      (err: unknown) =>
        isSentinelError(err, 'SNT_CONFIG_UNKNOWN') &&
        err.message === 'unknown setting SENTINEL_TEST_PROT (did you mean SENTINEL_TEST_PORT?)',
    );
    assert.throws(
      () => refuseUnknownSettings({ SENTINEL_SOMETHING_ELSE_ENTIRELY: '1' }, names),
      /unknown setting SENTINEL_SOMETHING_ELSE_ENTIRELY$/,
      'no guess when nothing is close',
    );
  });

  it('names a retired setting with what replaced it, passes tool prefixes and empty values', () => {
    const names = {
      known: new Set(['SENTINEL_TEST_PORT']),
      retired: { SENTINEL_TEST_OLD: 'use SENTINEL_TEST_PORT' },
      ownedPrefixes: ['SENTINEL_DEMO_'],
    };
    assert.throws(
      () => refuseUnknownSettings({ SENTINEL_TEST_OLD: '1' }, names),
      /setting SENTINEL_TEST_OLD is retired: use SENTINEL_TEST_PORT/,
    );
    assert.doesNotThrow(() =>
      refuseUnknownSettings(
        { SENTINEL_DEMO_HOST: 'x', SENTINEL_TEST_OLD: '', SENTINEL_TEST_PORT: '1' },
        names,
      ),
    );
  });

  it('finds the nearest name within a third of its length', () => {
    const known = ['SENTINEL_INGEST_PORT', 'SENTINEL_INGEST_TLS_PORT', 'SENTINEL_REDIS_URL'];
    assert.equal(nearestName('SENTINEL_INGEST_PROT', known), 'SENTINEL_INGEST_PORT');
    assert.equal(nearestName('SENTINEL_INGEST_TLSPORT', known), 'SENTINEL_INGEST_TLS_PORT');
    assert.equal(nearestName('SENTINEL_REDIS_ADDR', known), 'SENTINEL_REDIS_URL');
    assert.equal(nearestName('SENTINEL_KAFKA', known), undefined);
  });
});
