import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { PacketType } from '../protocol/fixed-header.js';
import { RateLimiter } from './limiter.js';
import {
  defaultRateLimitPolicy,
  type RateCheck,
  type RateDecision,
  type RateLimitPolicy,
  type RateLimitTier,
  rateLimitTiers,
  type TierPolicy,
} from './tiers.js';

const silent = pino({ level: 'silent' });
const plenty = { perSecond: 1_000_000, burst: 1_000_000 };
const off = { perSecond: 0, burst: 0 };

/** Every tier off, then the given tiers set: each test sees only the tiers it is about. */
function policyWith(
  tiers: Partial<Record<RateLimitTier, Partial<TierPolicy>>>,
  rest: Partial<Omit<RateLimitPolicy, 'tiers'>> = {},
): RateLimitPolicy {
  const all = {} as Record<RateLimitTier, TierPolicy>;
  for (const tier of rateLimitTiers) {
    all[tier] = { packets: off, bytes: off, response: 'reject', ...tiers[tier] };
  }
  return { ...defaultRateLimitPolicy, ...rest, tiers: all };
}

function limiterOf(policy: RateLimitPolicy, expectedProxies = 1): RateLimiter {
  return new RateLimiter({
    policy,
    registry: new Registry(),
    log: silent,
    expectedProxies,
    reconcileMs: 200,
  });
}

const connect = (ip = '10.0.0.1'): RateCheck => ({
  ip,
  clientId: '',
  packetType: PacketType.CONNECT,
  bytes: 40,
});
const publish = (clientId = 'dev-1', qos: 0 | 1 | 2 = 0, bytes = 120, ip = '10.0.0.1'): RateCheck => ({
  ip,
  clientId,
  packetType: PacketType.PUBLISH,
  bytes,
  qos,
});
const subscribe = (clientId = 'dev-1', ip = '10.0.0.1'): RateCheck => ({
  ip,
  clientId,
  packetType: PacketType.SUBSCRIBE,
  bytes: 30,
});
const pingreq = (clientId = 'dev-1'): RateCheck => ({
  ip: '10.0.0.1',
  clientId,
  packetType: PacketType.PINGREQ,
  bytes: 2,
});

function refusal(decision: RateDecision): { tier: string; action: string } | undefined {
  return decision.allowed ? undefined : { tier: decision.tier, action: decision.action };
}

describe('RateLimiter: each tier triggers, lets its burst through, then refills at its rate', () => {
  // [tier, packet, the action its refusal gets]; every row: burst 3 at 10/s.
  const rows: Array<[RateLimitTier, RateCheck, string]> = [
    ['global', publish('dev-1', 0), 'drop'],
    ['ip', publish('dev-1', 1), 'ack-and-drop'],
    ['connect', connect(), 'refuse-connack'],
    ['publish', publish('dev-1', 2), 'ack-and-drop'],
    ['subscribe', subscribe(), 'suback-failure'],
    ['client', pingreq(), 'delay'],
  ];
  for (const [tier, packet, action] of rows) {
    it(`${tier}: 3 pass, the 4th gets ${action}, 100 ms later one more passes`, () => {
      const limiter = limiterOf(policyWith({ [tier]: { packets: { perSecond: 10, burst: 3 } } }));
      let now = 5_000;
      for (let i = 0; i < 3; i++) assert.deepEqual(limiter.check(packet, now), { allowed: true });
      assert.deepEqual(refusal(limiter.check(packet, now)), { tier, action });
      now += 99;
      assert.equal(limiter.check(packet, now).allowed, false);
      now += 1;
      assert.equal(limiter.check(packet, now).allowed, true);
      assert.equal(limiter.check(packet, now).allowed, false);
      assert.equal(limiter.counts.eventsOf(tier, 'allowed'), 4);
      assert.equal(limiter.counts.eventsOf(tier, 'limited'), 3);
    });
  }

  it('the brief defaults: 1,000 packets from one IP pass at once, the next is limited by the IP tier', () => {
    const limiter = limiterOf(defaultRateLimitPolicy);
    let allowedCount = 0;
    for (let i = 0; i < 1_001; i++) {
      // Spread over clients so the client tiers (burst 500) stay out of the way.
      if (limiter.check(publish(`dev-${i % 10}`), 0).allowed) allowedCount++;
    }
    assert.equal(allowedCount, 1_000);
    assert.deepEqual(refusal(limiter.check(publish('dev-x'), 0)), { tier: 'ip', action: 'drop' });
  });

  it('the brief defaults: one client sustains 50 packets/s (the per-client tier binds before PUBLISH 100/s)', () => {
    const limiter = limiterOf(defaultRateLimitPolicy);
    let now = 0;
    for (let i = 0; i < 500; i++) assert.ok(limiter.check(publish(), now).allowed);
    let passed = 0;
    for (let ms = 0; ms < 10_000; ms += 5) {
      now = 1 + ms;
      if (limiter.check(publish(), now).allowed) passed++;
    }
    assert.ok(passed >= 499 && passed <= 501, `passed ${passed}`);
  });
});

describe('RateLimiter: order of evaluation', () => {
  const exhausted = { packets: { perSecond: 0.001, burst: 1 } };
  const sequences: Array<[string, RateCheck, RateLimitTier[]]> = [
    ['PUBLISH', publish(), ['global', 'ip', 'publish', 'client']],
    ['SUBSCRIBE', subscribe(), ['global', 'ip', 'subscribe', 'client']],
    ['CONNECT', connect(), ['global', 'ip', 'connect']],
  ];
  for (const [name, packet, order] of sequences) {
    order.forEach((tier, i) => {
      const refusing = order.slice(i);
      it(`${name}: with ${refusing.join(', ')} all exhausted, ${tier} names the refusal`, () => {
        const tiers: Partial<Record<RateLimitTier, Partial<TierPolicy>>> = {};
        for (const t of refusing) tiers[t] = exhausted;
        const limiter = limiterOf(policyWith(tiers));
        assert.ok(limiter.check(packet, 0).allowed);
        assert.equal(refusal(limiter.check(packet, 1))?.tier, tier);
      });
    });
  }

  it('a refused packet costs nothing in the tiers it passed', () => {
    const limiter = limiterOf(
      policyWith({ global: { packets: { perSecond: 0.001, burst: 2 } }, client: exhausted }),
    );
    assert.ok(limiter.check(publish('a'), 0).allowed);
    for (let i = 0; i < 10; i++) assert.equal(refusal(limiter.check(publish('a'), 0))?.tier, 'client');
    assert.ok(limiter.check(publish('b'), 0).allowed, 'the global token was still there');
    assert.equal(refusal(limiter.check(publish('c'), 0))?.tier, 'global');
  });

  it('the client tiers do not see CONNECT, nor packets before a client id exists', () => {
    const limiter = limiterOf(policyWith({ client: exhausted }));
    for (let i = 0; i < 5; i++) assert.ok(limiter.check(connect(), 0).allowed);
    for (let i = 0; i < 5; i++) assert.ok(limiter.check(pingreq(''), 0).allowed);
  });

  it('acknowledgements and DISCONNECT are never limited', () => {
    const limiter = limiterOf(policyWith({ global: { packets: { perSecond: 0.001, burst: 1 } } }));
    assert.ok(limiter.check(publish(), 0).allowed);
    for (const packetType of [
      PacketType.PUBACK,
      PacketType.PUBREC,
      PacketType.PUBREL,
      PacketType.PUBCOMP,
      PacketType.DISCONNECT,
    ]) {
      assert.ok(limiter.check({ ip: '10.0.0.1', clientId: 'dev-1', packetType, bytes: 4 }, 0).allowed);
    }
    assert.equal(limiter.check(publish(), 0).allowed, false);
  });
});

describe('RateLimiter: bytes limits', () => {
  const bytesRows: Array<[RateLimitTier, RateCheck]> = [
    ['global', publish('dev-1', 0, 600)],
    ['ip', publish('dev-1', 0, 600)],
    ['publish', publish('dev-1', 0, 600)],
    ['client', publish('dev-1', 0, 600)],
  ];
  for (const [tier, packet] of bytesRows) {
    it(`${tier}: 1,000 bytes/s with burst 1,000 lets one 600-byte packet through, the next after 200 ms`, () => {
      const limiter = limiterOf(
        policyWith({
          [tier]: { packets: plenty, bytes: { perSecond: 1_000, burst: 1_000 }, response: 'delay' },
        }),
      );
      assert.ok(limiter.check(packet, 0).allowed);
      assert.deepEqual(limiter.check(packet, 0), { allowed: false, tier, action: 'delay', delayMs: 200 });
      assert.equal(limiter.check(packet, 199).allowed, false);
      assert.ok(limiter.check(packet, 200).allowed);
    });
  }

  it('a packet larger than the byte burst never passes, and is not delayed for nothing', () => {
    const limiter = limiterOf(
      policyWith({ ip: { packets: plenty, bytes: { perSecond: 1_000, burst: 1_000 }, response: 'delay' } }),
    );
    assert.deepEqual(refusal(limiter.check(publish('dev-1', 0, 1_001), 0)), { tier: 'ip', action: 'drop' });
  });
});

describe('RateLimiter: actions', () => {
  const tight = { perSecond: 10, burst: 1 };
  it('delay answers with the wait the bucket needs', () => {
    const limiter = limiterOf(policyWith({ publish: { packets: tight, response: 'delay' } }));
    limiter.check(publish(), 0);
    assert.deepEqual(limiter.check(publish(), 30), {
      allowed: false,
      tier: 'publish',
      action: 'delay',
      delayMs: 70,
    });
  });

  it('a wait longer than SENTINEL_RATE_MAX_DELAY_MS falls back to the packet rejection', () => {
    const limiter = limiterOf(
      policyWith({ publish: { packets: tight, response: 'delay' } }, { maxDelayMs: 50 }),
    );
    limiter.check(publish(), 0);
    assert.deepEqual(refusal(limiter.check(publish('dev-1', 1), 0)), {
      tier: 'publish',
      action: 'ack-and-drop',
    });
  });

  it('disconnect, when configured, whatever the packet', () => {
    const limiter = limiterOf(policyWith({ ip: { packets: tight, response: 'disconnect' } }));
    limiter.check(connect(), 0);
    for (const packet of [connect(), subscribe(), publish('dev-1', 0), pingreq()]) {
      assert.deepEqual(refusal(limiter.check(packet, 0)), { tier: 'ip', action: 'disconnect' });
    }
  });

  it('QoS 1/2 PUBLISH gets disconnect instead of ack-and-drop when SENTINEL_RATE_QOS_PUBLISH_ACTION says so', () => {
    const limiter = limiterOf(
      policyWith({ publish: { packets: tight } }, { qosPublishRejection: 'disconnect' }),
    );
    limiter.check(publish(), 0);
    assert.equal(refusal(limiter.check(publish('dev-1', 0), 0))?.action, 'drop');
    assert.equal(refusal(limiter.check(publish('dev-1', 1), 0))?.action, 'disconnect');
    assert.equal(refusal(limiter.check(publish('dev-1', 2), 0))?.action, 'disconnect');
  });

  it('PINGREQ and UNSUBSCRIBE are answered late, or the connection closes past the delay bound', () => {
    const slow = { perSecond: 0.5, burst: 1 };
    const limiter = limiterOf(policyWith({ client: { packets: slow } }, { maxDelayMs: 400 }));
    limiter.check(pingreq(), 0);
    const unsubscribe: RateCheck = { ...pingreq(), packetType: PacketType.UNSUBSCRIBE, bytes: 20 };
    assert.equal(refusal(limiter.check(pingreq(), 1_500))?.action, 'disconnect', 'needs 500 ms');
    assert.deepEqual(limiter.check(unsubscribe, 1_700), {
      allowed: false,
      tier: 'client',
      action: 'delay',
      delayMs: 300,
    });
  });

  it('refusals other than delay are shared constant objects (nothing allocated per refused packet)', () => {
    const limiter = limiterOf(policyWith({ publish: { packets: tight } }));
    limiter.check(publish(), 0);
    const first = limiter.check(publish(), 0);
    assert.equal(limiter.check(publish(), 0), first);
    assert.ok(Object.isFrozen(first));
  });
});

describe('RateLimiter: bounded memory', () => {
  it('holds at most SENTINEL_RATE_MAX_IP_BUCKETS / _CLIENT_BUCKETS entries whatever the key population', () => {
    const limiter = limiterOf({ ...defaultRateLimitPolicy, maxIpBuckets: 100, maxClientBuckets: 50 });
    for (let i = 0; i < 10_000; i++)
      limiter.check(publish(`dev-${i}`, 0, 100, `10.${i >> 8}.${i & 255}.1`), i);
    const status = limiter.status();
    assert.equal(status.ipBuckets, 100);
    assert.equal(status.clientBuckets, 50);
  });

  it('sweeps idle entries on the background tick', async () => {
    // Tables smaller than one tick's sweep, so every tick looks at every entry.
    const limiter = limiterOf({ ...defaultRateLimitPolicy, maxIpBuckets: 1_000, maxClientBuckets: 1_000 });
    for (let i = 0; i < 100; i++) limiter.check(publish(`dev-${i}`, 0, 100, `10.0.0.${i}`), 0);
    assert.equal(limiter.status().ipBuckets, 100);
    // Idle once every lane is full again: one packet each is 10 ms at 100/s (IP), 20 ms at 50/s (client).
    await limiter.reconcile(19);
    assert.equal(limiter.status().ipBuckets, 0);
    assert.equal(limiter.status().clientBuckets, 100);
    await limiter.reconcile(20);
    assert.equal(limiter.status().ipBuckets, 0);
    assert.equal(limiter.status().clientBuckets, 0);
  });
});

describe('RateLimiter: global tier without Redis', () => {
  it('holds global / SENTINEL_RATE_GLOBAL_EXPECTED_PROXIES, rate and burst', () => {
    const limiter = limiterOf(policyWith({ global: { packets: { perSecond: 100, burst: 10 } } }), 2);
    let passed = 0;
    for (let i = 0; i < 20; i++) if (limiter.check(publish(`d${i}`), 0).allowed) passed++;
    assert.equal(passed, 5);
    assert.equal(limiter.globalPacketsPerSecond, 50);
  });
});

describe('RateLimiter: metrics', () => {
  it('exports events and rejections by tier with bounded labels, never a client id or IP', async () => {
    const registry = new Registry();
    const limiter = new RateLimiter({
      policy: policyWith({ connect: { packets: { perSecond: 1, burst: 1 } } }),
      registry,
      log: silent,
      expectedProxies: 1,
      reconcileMs: 200,
    });
    limiter.check(connect('192.0.2.7'), 0);
    limiter.check(connect('192.0.2.7'), 0);
    const text = await registry.metrics();
    assert.match(text, /sentinel_ratelimit_events_total\{tier="connect",outcome="allowed"\} 1/);
    assert.match(text, /sentinel_ratelimit_events_total\{tier="connect",outcome="limited"\} 1/);
    assert.match(text, /sentinel_ratelimit_rejections_total\{tier="connect",action="refuse-connack"\} 1/);
    assert.match(text, /sentinel_ratelimit_buckets\{table="ip"\} 1/);
    assert.match(text, /^sentinel_ratelimit_redis_up 0$/m);
    assert.doesNotMatch(text, /192\.0\.2\.7/);
  });
});
