import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, refuseRetiredSettings } from '../lib/config.js';
import { isSentinelError } from '../lib/errors.js';
import { ingestSchema, loadIngestConfig, retiredIngestSettings } from './settings.js';

describe('ingest settings', () => {
  it('bounds what waits for Kafka in bytes, and judges Kafka by the age of the oldest unacknowledged event', () => {
    const config = loadConfig(ingestSchema, {
      env: {
        SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES: '1048576',
        SENTINEL_INGEST_KAFKA_STALL_MS: '2000',
        SENTINEL_INGEST_GRACE_MS: '5000',
      },
    });
    assert.equal(config.kafkaMaxUnackedBytes, 1_048_576);
    assert.equal(config.kafkaStallMs, 2000);
    assert.equal(config.graceMs, 5000);
    const defaults = loadConfig(ingestSchema, { env: {} });
    assert.equal(defaults.kafkaMaxUnackedBytes, 64 * 1024 * 1024);
    assert.equal(defaults.kafkaStallMs, 5000);
  });

  it('bounds sockets without CONNECT in total and per address, 5000 and 500 unless set', () => {
    const defaults = loadConfig(ingestSchema, { env: {} });
    assert.deepEqual([defaults.maxPendingConnects, defaults.maxPendingConnectsPerAddress], [5000, 500]);
    const set = loadConfig(ingestSchema, {
      env: {
        SENTINEL_MQTT_MAX_PENDING_CONNECTS: '100',
        SENTINEL_MQTT_MAX_PENDING_CONNECTS_PER_ADDRESS: '10',
      },
    });
    assert.deepEqual([set.maxPendingConnects, set.maxPendingConnectsPerAddress], [100, 10]);
    assert.throws(
      () => loadConfig(ingestSchema, { env: { SENTINEL_MQTT_MAX_PENDING_CONNECTS: '0' } }),
      /SENTINEL_MQTT_MAX_PENDING_CONNECTS/,
    );
  });

  const retired = Object.keys(retiredIngestSettings);
  for (const name of retired) {
    it(`refuses the retired ${name}, naming it and what replaced it`, () => {
      assert.throws(
        () => refuseRetiredSettings({ [name]: '1' }, retiredIngestSettings),
        (err: unknown) =>
          isSentinelError(err, 'SNT_CONFIG_UNKNOWN') &&
          err.message.includes(name) &&
          err.message.includes(retiredIngestSettings[name]!),
      );
    });
  }

  it('names every retired setting present at once, and ignores empty ones', () => {
    assert.throws(
      () =>
        refuseRetiredSettings(
          { SENTINEL_INGEST_BATCH_EVENTS: '2000', SENTINEL_INGEST_BUFFER_BYTES: '1' },
          retiredIngestSettings,
        ),
      /SENTINEL_INGEST_BATCH_EVENTS is retired.*SENTINEL_INGEST_BUFFER_BYTES is retired/,
    );
    assert.doesNotThrow(() =>
      refuseRetiredSettings({ SENTINEL_INGEST_INFLIGHT_BATCHES: '' }, retiredIngestSettings),
    );
  });

  it('a retired setting stops the proxy before it connects to anything', () => {
    assert.throws(
      () => loadIngestConfig({ env: { SENTINEL_INGEST_INFLIGHT_BATCHES: '1' } }),
      (err: unknown) => isSentinelError(err, 'SNT_CONFIG_UNKNOWN'),
    );
  });

  it('no retired name is a current setting', () => {
    const current = new Set(Object.values(ingestSchema).map((setting) => setting.env));
    assert.deepEqual(
      retired.filter((name) => current.has(name)),
      [],
    );
  });
});
