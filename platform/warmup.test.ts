import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectClientWarnings } from './warmup.js';

test('warm-up: client warnings are kept once each, with the error text, up to the bound', () => {
  const { logger, warnings } = collectClientWarnings(3);
  logger.info('connected');
  logger.warn({ kafka: 'sentinel-warmup', err: 'Connect to ipv4#127.0.0.1:1 failed' }, 'kafka client error');
  logger.warn({ kafka: 'sentinel-warmup', err: 'Connect to ipv4#127.0.0.1:1 failed' }, 'kafka client error');
  logger.warn({ fac: 'SESSTMOUT' }, 'Consumer group session timed out');
  // kafkajs's lines (lib/kafka/client.ts) carry their error under `kafka.error`.
  logger.error({ kafka: { error: 'ECONNREFUSED 127.0.0.1:1' } }, 'Connection error');
  logger.error('one past the bound');
  assert.deepEqual(
    [...warnings],
    [
      'kafka client error: Connect to ipv4#127.0.0.1:1 failed',
      'Consumer group session timed out',
      'Connection error: ECONNREFUSED 127.0.0.1:1',
    ],
  );
});
