import { type ConfigOf, type Setting, settings } from '../../lib/config.js';
import { SentinelError } from '../../lib/errors.js';
import {
  type QosPublishRejection,
  type Rate,
  type RateLimitPolicy,
  type RateLimitTier,
  type TierPolicy,
  type TierResponse,
  tierResponses,
} from './tiers.js';

const maxPerSecond = 1_000_000_000;
const maxBytesPerSecond = 1_000_000_000_000;

function perSecond(tier: string, value: number, what: string): Setting<number> {
  return settings.int(`SENTINEL_RATE_${tier}_PER_SECOND`, value, `${what}; 0 turns the tier off`, {
    min: 0,
    max: maxPerSecond,
    unit: 'packets/s',
  });
}

function burst(tier: string, value: number, what: string): Setting<number> {
  return settings.int(
    `SENTINEL_RATE_${tier}_BURST`,
    value,
    `${what}: packets let through at once from a full bucket`,
    {
      min: 0,
      max: maxPerSecond,
      unit: 'packets',
    },
  );
}

function bytesPerSecond(tier: string, what: string): Setting<number> {
  return settings.int(
    `SENTINEL_RATE_${tier}_BYTES_PER_SECOND`,
    0,
    `${what}, whole packets; 0 = no byte limit`,
    {
      min: 0,
      max: maxBytesPerSecond,
      unit: 'bytes/s',
    },
  );
}

function bytesBurst(tier: string, what: string): Setting<number> {
  return settings.int(
    `SENTINEL_RATE_${tier}_BYTES_BURST`,
    0,
    `${what}: bytes let through at once; at least the largest packet, or that packet never passes`,
    { min: 0, max: maxBytesPerSecond, unit: 'bytes' },
  );
}

function response(tier: string, what: string): Setting<TierResponse> {
  return settings.oneOf(
    `SENTINEL_RATE_${tier}_ACTION`,
    'reject',
    tierResponses,
    `what a packet limited by the ${what} gets: reject (CONNECT: CONNACK 0x05; SUBSCRIBE: SUBACK 0x80; PUBLISH QoS 0: drop; QoS 1/2: SENTINEL_RATE_QOS_PUBLISH_ACTION; PINGREQ/UNSUBSCRIBE: answered late), delay (pause reading, at most SENTINEL_RATE_MAX_DELAY_MS), disconnect`,
  );
}

/**
 * Settings of the edge's rate limits. Defaults are the brief's six tiers; byte limits are off until
 * an operator sets them (the brief gives no figure, and the largest packet already bounds bytes per packet).
 */
export const rateLimitSchema = {
  globalPerSecond: perSecond('GLOBAL', 10_000, 'global tier: packets per second across all proxies'),
  globalBurst: burst('GLOBAL', 5_000, 'global tier'),
  globalBytesPerSecond: bytesPerSecond('GLOBAL', 'global tier: bytes per second across all proxies'),
  globalBytesBurst: bytesBurst('GLOBAL', 'global tier'),
  globalAction: response('GLOBAL', 'global tier'),

  ipPerSecond: perSecond('IP', 100, 'per source IP: packets per second'),
  ipBurst: burst('IP', 1_000, 'per source IP'),
  ipBytesPerSecond: bytesPerSecond('IP', 'per source IP: bytes per second'),
  ipBytesBurst: bytesBurst('IP', 'per source IP'),
  ipAction: response('IP', 'per-IP tier'),

  connectPerSecond: perSecond('CONNECT', 10, 'CONNECT per source IP: packets per second'),
  connectBurst: burst('CONNECT', 500, 'CONNECT per source IP'),
  connectAction: response('CONNECT', 'CONNECT tier'),

  publishPerSecond: perSecond('PUBLISH', 100, 'PUBLISH per client: packets per second'),
  publishBurst: burst('PUBLISH', 500, 'PUBLISH per client'),
  publishBytesPerSecond: bytesPerSecond('PUBLISH', 'PUBLISH per client: bytes per second'),
  publishBytesBurst: bytesBurst('PUBLISH', 'PUBLISH per client'),
  publishAction: response('PUBLISH', 'PUBLISH tier'),

  subscribePerSecond: perSecond('SUBSCRIBE', 20, 'SUBSCRIBE per client: packets per second'),
  subscribeBurst: burst('SUBSCRIBE', 500, 'SUBSCRIBE per client'),
  subscribeAction: response('SUBSCRIBE', 'SUBSCRIBE tier'),

  clientPerSecond: perSecond('CLIENT', 50, 'per client, every packet type: packets per second'),
  clientBurst: burst('CLIENT', 500, 'per client'),
  clientBytesPerSecond: bytesPerSecond('CLIENT', 'per client: bytes per second'),
  clientBytesBurst: bytesBurst('CLIENT', 'per client'),
  clientAction: response('CLIENT', 'per-client tier'),

  qosPublishAction: settings.oneOf<QosPublishRejection>(
    'SENTINEL_RATE_QOS_PUBLISH_ACTION',
    'ack-and-drop',
    ['ack-and-drop', 'disconnect'],
    'what a limited QoS 1/2 PUBLISH gets under "reject": PUBACK/PUBREC then discard (recorded), or disconnect; MQTT 3.1.1 §3.3.5 allows no silent third way',
  ),
  maxDelayMs: settings.int(
    'SENTINEL_RATE_MAX_DELAY_MS',
    1_000,
    'longest pause a "delay" action may ask for; a longer wait gets the packet\'s reject action',
    { min: 0, max: 60_000, unit: 'ms' },
  ),
  maxIpBuckets: settings.int(
    'SENTINEL_RATE_MAX_IP_BUCKETS',
    50_000,
    'per-IP bucket entries held in memory; idle ones are evicted first',
    { min: 1, max: 10_000_000, unit: 'entries' },
  ),
  maxClientBuckets: settings.int(
    'SENTINEL_RATE_MAX_CLIENT_BUCKETS',
    50_000,
    'per-client bucket entries held in memory; idle ones are evicted first',
    { min: 1, max: 10_000_000, unit: 'entries' },
  ),
  reconcileMs: settings.int(
    'SENTINEL_RATE_RECONCILE_MS',
    200,
    'how often each proxy reconciles its global share through Redis (and sweeps idle buckets)',
    { min: 20, max: 10_000, unit: 'ms' },
  ),
  proxyTtlMs: settings.int(
    'SENTINEL_RATE_GLOBAL_PROXY_TTL_MS',
    1_000,
    'a proxy silent in Redis for longer leaves the global split; at least twice SENTINEL_RATE_RECONCILE_MS',
    { min: 100, max: 600_000, unit: 'ms' },
  ),
  expectedProxies: settings.int(
    'SENTINEL_RATE_GLOBAL_EXPECTED_PROXIES',
    1,
    'proxies assumed to share the global tier when Redis cannot tell (at start, Redis unreachable); the share is global/this',
    { min: 1, max: 100_000, unit: 'proxies' },
  ),
  keyPrefix: settings.string(
    'SENTINEL_RATE_REDIS_KEY_PREFIX',
    'sentinel:ratelimit',
    'prefix of the Redis keys of the global tier',
    { pattern: /^[A-Za-z0-9:._-]{1,100}$/ },
  ),
};

export type RateLimitConfig = ConfigOf<typeof rateLimitSchema>;

function refuse(setting: Setting<unknown>, value: number, reason: string): never {
  throw new SentinelError('SNT_CONFIG_INVALID', `setting ${setting.env}: ${value} ${reason}`);
}

function rate(
  perSecondSetting: Setting<number>,
  value: number,
  burstSetting: Setting<number>,
  size: number,
): Rate {
  if (value > 0 && size < 1)
    refuse(burstSetting, size, `must be at least 1 while ${perSecondSetting.env} is ${value}`);
  return { perSecond: value, burst: size };
}

/**
 * The policy the limiter runs, from loaded settings, with the checks one setting alone cannot make.
 * `maxPacketBytes` (the protocol policy's) makes a byte burst smaller than the largest packet an error,
 * since such a packet could never pass.
 */
export function rateLimitPolicyFrom(config: RateLimitConfig, maxPacketBytes?: number): RateLimitPolicy {
  const s = rateLimitSchema;
  const bytes = (
    perSecondSetting: Setting<number>,
    value: number,
    burstSetting: Setting<number>,
    size: number,
  ): Rate => {
    const result = rate(perSecondSetting, value, burstSetting, size);
    if (value > 0 && maxPacketBytes !== undefined && size < maxPacketBytes) {
      refuse(
        burstSetting,
        size,
        `is below the largest packet (${maxPacketBytes} bytes), which could then never pass`,
      );
    }
    return result;
  };
  if (config.proxyTtlMs < 2 * config.reconcileMs) {
    refuse(
      s.proxyTtlMs,
      config.proxyTtlMs,
      `must be at least twice SENTINEL_RATE_RECONCILE_MS (${config.reconcileMs}), or live proxies drop out of the split`,
    );
  }
  const tiers: Record<RateLimitTier, TierPolicy> = {
    global: {
      packets: rate(s.globalPerSecond, config.globalPerSecond, s.globalBurst, config.globalBurst),
      bytes: bytes(
        s.globalBytesPerSecond,
        config.globalBytesPerSecond,
        s.globalBytesBurst,
        config.globalBytesBurst,
      ),
      response: config.globalAction,
    },
    ip: {
      packets: rate(s.ipPerSecond, config.ipPerSecond, s.ipBurst, config.ipBurst),
      bytes: bytes(s.ipBytesPerSecond, config.ipBytesPerSecond, s.ipBytesBurst, config.ipBytesBurst),
      response: config.ipAction,
    },
    connect: {
      packets: rate(s.connectPerSecond, config.connectPerSecond, s.connectBurst, config.connectBurst),
      response: config.connectAction,
    },
    publish: {
      packets: rate(s.publishPerSecond, config.publishPerSecond, s.publishBurst, config.publishBurst),
      bytes: bytes(
        s.publishBytesPerSecond,
        config.publishBytesPerSecond,
        s.publishBytesBurst,
        config.publishBytesBurst,
      ),
      response: config.publishAction,
    },
    subscribe: {
      packets: rate(s.subscribePerSecond, config.subscribePerSecond, s.subscribeBurst, config.subscribeBurst),
      response: config.subscribeAction,
    },
    client: {
      packets: rate(s.clientPerSecond, config.clientPerSecond, s.clientBurst, config.clientBurst),
      bytes: bytes(
        s.clientBytesPerSecond,
        config.clientBytesPerSecond,
        s.clientBytesBurst,
        config.clientBytesBurst,
      ),
      response: config.clientAction,
    },
  };
  return {
    tiers,
    qosPublishRejection: config.qosPublishAction,
    maxDelayMs: config.maxDelayMs,
    maxIpBuckets: config.maxIpBuckets,
    maxClientBuckets: config.maxClientBuckets,
  };
}
