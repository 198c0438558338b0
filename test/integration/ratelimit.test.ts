import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  createRateLimitRedis,
  defaultRateLimitPolicy,
  RateLimiter,
  type RateLimitPolicy,
  rateLimitTiers,
  type TierPolicy,
} from '../../ingest/limits/index.js';
import { PacketType } from '../../ingest/protocol/fixed-header.js';
import type { Logger } from '../../lib/log.js';
import { uniqueName } from '../helpers/platform.js';
import { deleteKeysWithPrefix } from '../helpers/redis-keys.js';

/**
 * The global tier across proxies, against the machine's real Redis (127.0.0.1:6379, never stopped:
 * outages are made by a TCP relay this test owns). Keys live under a per-run prefix and are deleted.
 */
const redisUrl = process.env.SENTINEL_REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyPrefix = uniqueName('sentinel-test:ratelimit');
const clients: Redis[] = [];
const limiters: RateLimiter[] = [];

after(async () => {
  for (const limiter of limiters) await limiter.close();
  const admin = createRateLimitRedis(redisUrl);
  await once(admin, 'ready');
  await deleteKeysWithPrefix(admin, keyPrefix);
  admin.disconnect();
  for (const client of clients) client.disconnect();
});

function globalOnly(perSecond: number, burst: number): RateLimitPolicy {
  const tiers = {} as Record<(typeof rateLimitTiers)[number], TierPolicy>;
  for (const tier of rateLimitTiers)
    tiers[tier] = { packets: { perSecond: 0, burst: 0 }, response: 'reject' };
  tiers.global = { packets: { perSecond, burst }, response: 'reject' };
  return { ...defaultRateLimitPolicy, tiers };
}

function logSink(): { log: Logger; lines: () => Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines: () => lines };
}

function proxy(
  proxyId: string,
  policy: RateLimitPolicy,
  redis: Redis,
  options: { expectedProxies?: number; log?: Logger; registry?: Registry } = {},
): RateLimiter {
  const limiter = new RateLimiter({
    policy,
    registry: options.registry ?? new Registry(),
    log: options.log ?? pino({ level: 'silent' }),
    expectedProxies: options.expectedProxies ?? 1,
    reconcileMs: 200,
    fleet: { redis, proxyId, keyPrefix, proxyTtlMs: 5_000 },
  });
  limiters.push(limiter);
  return limiter;
}

async function redisClient(url = redisUrl): Promise<Redis> {
  const redis = createRateLimitRedis(url);
  clients.push(redis);
  if (!url.endsWith(':1')) await once(redis, 'ready');
  return redis;
}

const packet = (n: number) => ({
  ip: `10.0.${n >> 8}.${n & 255}`,
  clientId: `dev-${n}`,
  packetType: PacketType.PUBLISH,
  bytes: 100,
  qos: 0 as const,
});

/**
 * Drives two proxies on a shared simulated clock: each millisecond proxy i is offered `offered[i]`
 * packets per ms; every 200 ms both reconcile through Redis. Returns what each let through after the
 * warm-up, per second.
 */
async function drive(
  pair: [RateLimiter, RateLimiter],
  offered: [number, number],
  seconds: number,
  warmupSeconds = 1,
): Promise<[number, number]> {
  const passed = [0, 0];
  const owed = [0, 0];
  const totalMs = (seconds + warmupSeconds) * 1000;
  for (let now = 1; now <= totalMs; now++) {
    for (const i of [0, 1] as const) {
      owed[i]! += offered[i];
      for (; owed[i]! >= 1; owed[i]!--) {
        if (pair[i].check(packet(now & 1023), now).allowed && now > warmupSeconds * 1000) passed[i]!++;
      }
    }
    if (now % 200 === 0) {
      await pair[0].reconcile(now);
      await pair[1].reconcile(now);
    }
  }
  return [passed[0]! / seconds, passed[1]! / seconds];
}

const within = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= expected * tolerance,
    `${what}: ${actual.toFixed(0)}/s, expected ${expected}/s ±${tolerance * 100}%`,
  );

describe('global tier across two proxies through the real Redis', () => {
  it('two flooded proxies (2x the limit each) together hold the global rate within 5%', async () => {
    const policy = globalOnly(1_000, 100);
    const pair: [RateLimiter, RateLimiter] = [
      proxy('even-a', policy, await redisClient()),
      proxy('even-b', policy, await redisClient()),
    ];
    const [a, b] = await drive(pair, [2, 2], 5);
    within(a + b, 1_000, 0.05, 'fleet');
    within(a, 500, 0.1, 'proxy a');
    assert.equal(pair[0].status().liveProxies, 2);
    assert.equal(pair[0].status().redisUp, true);
    await pair[0].close();
    await pair[1].close();
  });

  it('a quiet proxy keeps what it needs; the flooded one gets the rest, and the fleet still holds', async () => {
    const policy = globalOnly(1_000, 100);
    const pair: [RateLimiter, RateLimiter] = [
      proxy('uneven-a', policy, await redisClient()),
      proxy('uneven-b', policy, await redisClient()),
    ];
    const [flooded, quiet] = await drive(pair, [3, 0.2], 5);
    within(quiet, 200, 0.05, 'quiet proxy');
    within(flooded + quiet, 1_000, 0.05, 'fleet');
    await pair[0].close();
    await pair[1].close();
  });
});

describe('global tier when Redis is unreachable', () => {
  it('falls back to global / expected proxies, reports redis_up 0, and logs the transition once', async () => {
    const registry = new Registry();
    const sink = logSink();
    const limiter = proxy('no-redis', globalOnly(1_000, 100), await redisClient('redis://127.0.0.1:1'), {
      expectedProxies: 4,
      registry,
      log: sink.log,
    });
    await limiter.reconcile(200);
    await limiter.reconcile(400);
    assert.equal(limiter.status().redisUp, false);
    assert.equal(limiter.globalPacketsPerSecond, 250);
    assert.match(await registry.metrics(), /^sentinel_ratelimit_redis_up 0$/m);
    const warnings = sink.lines().filter((line) => line.level === 40);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /Redis unreachable/);
    let passed = 0;
    for (let now = 401; now <= 1_400; now++) if (limiter.check(packet(now), now).allowed) passed++;
    assert.ok(passed <= 250 + 25 + 1, `let through ${passed} in 1 s on a 250/s local share (+ its burst)`);
  });

  it('recovers on its own when Redis answers again', async () => {
    const relay = await TcpRelay.start(6379);
    const registry = new Registry();
    const sink = logSink();
    const redis = await redisClient(`redis://127.0.0.1:${relay.port}`);
    const limiter = proxy('flaky', globalOnly(1_000, 100), redis, {
      expectedProxies: 2,
      registry,
      log: sink.log,
    });
    const up = async () => /^sentinel_ratelimit_redis_up 1$/m.test(await registry.metrics());

    await limiter.reconcile(200);
    assert.equal(await up(), true);
    assert.equal(limiter.globalPacketsPerSecond, 1_000, 'alone in the fleet');

    await relay.stop();
    await limiter.reconcile(400);
    await limiter.reconcile(600);
    assert.equal(await up(), false);
    assert.equal(limiter.globalPacketsPerSecond, 500, 'global / max(expected 2, last seen alive 1)');

    const ready = once(redis, 'ready');
    await relay.resume();
    await ready;
    await limiter.reconcile(800);
    assert.equal(await up(), true);
    const transitions = sink.lines().map((line) => line.msg);
    assert.deepEqual(transitions, [
      'rate limits: global tier shared through Redis',
      'rate limits: Redis unreachable, global tier falls back to a local share',
      'rate limits: Redis back, global tier shared again',
    ]);
    await relay.stop();
  });
});

/** A TCP relay to the machine's Redis that this test can cut and restore on the same port. */
class TcpRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly target: number,
    public port: number,
  ) {}

  static async start(target: number): Promise<TcpRelay> {
    const relay = new TcpRelay(target, 0);
    await relay.listen(0);
    return relay;
  }

  async resume(): Promise<void> {
    await this.listen(this.port);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = tcpConnect(this.target, '127.0.0.1');
      for (const socket of [inbound, outbound]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
  }
}
