/**
 * Rate limiting: (1) cost of one `check()` on one core, on the paths a packet takes; (2) the global
 * tier across two proxies (two limiter instances, each with its own Redis connection and its real
 * 200 ms background reconciliation) driven above the limit against the machine's Redis.
 * Run: npx tsc -p tsconfig.json && node dist/bench/ratelimit.bench.js
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  createRateLimitRedis,
  defaultRateLimitPolicy,
  type RateCheck,
  RateLimiter,
  type RateLimitPolicy,
} from '../ingest/limits/index.js';
import { PacketType } from '../ingest/protocol/fixed-header.js';
import { writeJsonResult } from './lib/output.js';

const { values: output } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' } } });
const checkFigures: Array<{ path: string; nsPerCheck: number }> = [];
const fleetFigures: Array<{
  case: string;
  limitPerSecond: number;
  fleetMeanPerSecond: number;
  worstSecondOffPercent: number;
}> = [];

const silent = pino({ level: 'silent' });
const redisUrl = process.env.SENTINEL_REDIS_URL ?? 'redis://127.0.0.1:6379';

function limiterOf(policy: RateLimitPolicy, fleet?: { id: string; prefix: string }): RateLimiter {
  return new RateLimiter({
    policy,
    registry: new Registry(),
    log: silent,
    expectedProxies: 2,
    reconcileMs: 200,
    ...(fleet
      ? {
          fleet: {
            redis: createRateLimitRedis(redisUrl),
            proxyId: fleet.id,
            keyPrefix: fleet.prefix,
            proxyTtlMs: 1_000,
          },
        }
      : {}),
  });
}

function inputs(count: number, clientsPerIp: number): RateCheck[] {
  const result: RateCheck[] = [];
  for (let i = 0; i < count; i++) {
    const ip = Math.floor(i / clientsPerIp);
    result.push({
      ip: `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`,
      clientId: `device-${i.toString().padStart(8, '0')}`,
      packetType: PacketType.PUBLISH,
      bytes: 130,
      qos: 1,
    });
  }
  return result;
}

function measure(
  name: string,
  limiter: RateLimiter,
  packets: RateCheck[],
  checks: number,
  msPerCheck: number,
) {
  let allowed = 0;
  const run = (n: number, startMs: number) => {
    for (let i = 0; i < n; i++)
      if (limiter.check(packets[i % packets.length]!, startMs + i * msPerCheck).allowed) allowed++;
  };
  run(200_000, 0); // warm-up
  allowed = 0;
  const started = process.hrtime.bigint();
  run(checks, 1_000_000);
  const ns = Number(process.hrtime.bigint() - started);
  checkFigures.push({ path: name, nsPerCheck: Math.round(ns / checks) });
  console.log(
    `check() ${name}: ${(ns / checks).toFixed(0)} ns/op, ${Math.round((checks / ns) * 1e9).toLocaleString('en')} checks/s on one core (${((allowed / checks) * 100).toFixed(1)}% allowed)`,
  );
}

const roomy = (): RateLimitPolicy => {
  const big = { perSecond: 1e9, burst: 1e9 };
  const t = defaultRateLimitPolicy.tiers;
  return {
    ...defaultRateLimitPolicy,
    tiers: {
      global: { ...t.global, packets: big, bytes: big },
      ip: { ...t.ip, packets: big, bytes: big },
      connect: { ...t.connect, packets: big },
      publish: { ...t.publish, packets: big, bytes: big },
      subscribe: { ...t.subscribe, packets: big },
      client: { ...t.client, packets: big, bytes: big },
    },
  };
};

// 1. Per-packet cost. 10,000 clients on 2,500 IPs, all six tiers and all byte lanes on.
const checks = output.quick ? 1_000_000 : 5_000_000;
measure(
  'allowed (all tiers pay, 10k clients / 2.5k IPs, bytes lanes on)',
  limiterOf(roomy()),
  inputs(10_000, 4),
  checks,
  0.001,
);
measure(
  'limited (brief defaults, 1M checks/s offered: most refused by the global tier, first in order)',
  limiterOf(defaultRateLimitPolicy),
  inputs(10_000, 4),
  checks,
  0.001,
);
measure(
  'key churn (1M distinct clients through 50k-entry tables: insert + evict each)',
  limiterOf(roomy()),
  inputs(1_000_000, 1),
  checks,
  0.001,
);

// 2. Two proxies, one global limit, real Redis, real clock.
async function twoProxies(offeredPerSecond: [number, number], seconds: number, label: string): Promise<void> {
  const prefix = `sentinel-bench:ratelimit:${process.pid}:${Date.now()}`;
  const policy: RateLimitPolicy = defaultRateLimitPolicy;
  const pair = [
    limiterOf(policy, { id: 'bench-a', prefix }),
    limiterOf(policy, { id: 'bench-b', prefix }),
  ] as const;
  for (const p of pair) p.start();
  const packets = inputs(4_000, 1);
  const perSecond: Array<[number, number]> = [];
  const started = performance.now();
  const owed = [0, 0];
  let last = started;
  let second = 0;
  let counts: [number, number] = [0, 0];
  let n = 0;
  while (second < seconds + 1) {
    const now = performance.now();
    for (const i of [0, 1] as const) {
      owed[i]! += ((now - last) * offeredPerSecond[i]) / 1000;
      for (; owed[i]! >= 1; owed[i]!--) {
        // Each packet from its own client and IP: only the global tier can refuse.
        if (pair[i].check(packets[n++ % packets.length]!, Date.now()).allowed) counts[i]++;
      }
    }
    last = now;
    const s = Math.floor((now - started) / 1000);
    if (s > second) {
      if (second >= 1) perSecond.push(counts); // second 0 holds the starting bursts
      counts = [0, 0];
      second = s;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const totals = perSecond.map(([a, b]) => a + b);
  const mean = totals.reduce((x, y) => x + y, 0) / totals.length;
  const limit = policy.tiers.global.packets.perSecond;
  const worst = Math.max(...totals.map((t) => Math.abs(t - limit) / limit));
  fleetFigures.push({
    case: label,
    limitPerSecond: limit,
    fleetMeanPerSecond: Math.round(mean),
    worstSecondOffPercent: Math.round(worst * 1000) / 10,
  });
  console.log(
    `global tier, two proxies, ${label}: offered ${offeredPerSecond.map((o) => o.toLocaleString('en')).join(' + ')}/s against ${limit.toLocaleString('en')}/s; ` +
      `let through per second (a + b): ${perSecond.map(([a, b]) => `${a}+${b}`).join(', ')}; ` +
      `fleet mean ${Math.round(mean).toLocaleString('en')}/s (${(((mean - limit) / limit) * 100).toFixed(1)}%), worst second ${(worst * 100).toFixed(1)}% off`,
  );
  for (const p of pair) await p.close();
  const admin = createRateLimitRedis(redisUrl);
  await once(admin, 'ready');
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
}

await twoProxies([15_000, 15_000], output.quick ? 3 : 6, 'both flooded (3x the limit)');
await twoProxies([25_000, 2_000], output.quick ? 3 : 6, 'one flooded, one quiet');
writeJsonResult(output.json, { bench: 'ratelimit', checks: checkFigures, globalTier: fleetFigures });
process.exit(0);
