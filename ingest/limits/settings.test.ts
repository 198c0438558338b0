import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../lib/config.js';
import { isSentinelError } from '../../lib/errors.js';
import { rateLimitPolicyFrom, rateLimitSchema } from './settings.js';
import { defaultRateLimitPolicy } from './tiers.js';

const load = (env: Record<string, string>, maxPacketBytes?: number) =>
  rateLimitPolicyFrom(loadConfig(rateLimitSchema, { env }), maxPacketBytes);

describe('rate-limit settings', () => {
  it('default to the brief: six tiers, reject, ack-and-drop for QoS 1/2', () => {
    assert.deepEqual(load({}), defaultRateLimitPolicy);
  });

  it('read every tier from SENTINEL_RATE_*', () => {
    const policy = load({
      SENTINEL_RATE_GLOBAL_PER_SECOND: '20000',
      SENTINEL_RATE_GLOBAL_BURST: '100',
      SENTINEL_RATE_IP_BYTES_PER_SECOND: '1048576',
      SENTINEL_RATE_IP_BYTES_BURST: '4194304',
      SENTINEL_RATE_CONNECT_ACTION: 'delay',
      SENTINEL_RATE_SUBSCRIBE_PER_SECOND: '0',
      SENTINEL_RATE_QOS_PUBLISH_ACTION: 'disconnect',
    });
    assert.deepEqual(policy.tiers.global.packets, { perSecond: 20_000, burst: 100 });
    assert.deepEqual(policy.tiers.ip.bytes, { perSecond: 1_048_576, burst: 4_194_304 });
    assert.equal(policy.tiers.connect.response, 'delay');
    assert.equal(policy.tiers.subscribe.packets.perSecond, 0);
    assert.equal(policy.qosPublishRejection, 'disconnect');
  });

  const refusals: Array<[string, Record<string, string>, RegExp, number?]> = [
    ['a negative rate', { SENTINEL_RATE_IP_PER_SECOND: '-1' }, /SENTINEL_RATE_IP_PER_SECOND.*out of range/],
    [
      'an unknown action',
      { SENTINEL_RATE_PUBLISH_ACTION: 'ignore' },
      /SENTINEL_RATE_PUBLISH_ACTION.*one of reject, delay, disconnect/,
    ],
    [
      'a burst of 0 under a rate',
      { SENTINEL_RATE_CLIENT_BURST: '0' },
      /SENTINEL_RATE_CLIENT_BURST: 0 must be at least 1/,
    ],
    [
      'a byte burst below the largest packet',
      { SENTINEL_RATE_PUBLISH_BYTES_PER_SECOND: '1000', SENTINEL_RATE_PUBLISH_BYTES_BURST: '1000' },
      /SENTINEL_RATE_PUBLISH_BYTES_BURST: 1000 is below the largest packet/,
      262_144,
    ],
    [
      'a proxy TTL under two reconcile intervals',
      { SENTINEL_RATE_RECONCILE_MS: '500', SENTINEL_RATE_GLOBAL_PROXY_TTL_MS: '900' },
      /SENTINEL_RATE_GLOBAL_PROXY_TTL_MS: 900 must be at least twice/,
    ],
    [
      'a key prefix with a hash tag',
      { SENTINEL_RATE_REDIS_KEY_PREFIX: 'a{b}' },
      /SENTINEL_RATE_REDIS_KEY_PREFIX/,
    ],
  ];
  for (const [what, env, message, maxPacketBytes] of refusals) {
    it(`refuse ${what}, naming the setting`, () => {
      assert.throws(
        () => load(env, maxPacketBytes),
        (err: unknown) => isSentinelError(err, 'SNT_CONFIG_INVALID') && message.test(err.message),
      );
    });
  }
});
