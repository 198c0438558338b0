import { Counter, Gauge, type Registry } from 'prom-client';
import { type RateLimitAction, type RateLimitTier, rateLimitActions, rateLimitTiers } from './tiers.js';

/**
 * What the limiter counts on the packet path. Incrementing a prom-client counter with labels builds
 * a label key and looks it up (hundreds of ns); an index into a Float64Array costs a few. So the
 * packet path only bumps these arrays and the metrics read them when Prometheus scrapes.
 */
export class RateLimitCounts {
  /** [tier * 2 + 0] allowed through the tier, [tier * 2 + 1] limited by it. */
  readonly events = new Float64Array(rateLimitTiers.length * 2);
  /** [tier * actions + action] */
  readonly rejections = new Float64Array(rateLimitTiers.length * rateLimitActions.length);

  rejection(tier: number, action: number): void {
    this.rejections[tier * rateLimitActions.length + action]!++;
  }

  rejectionsOf(tier: RateLimitTier, action: RateLimitAction): number {
    return this.rejections[
      rateLimitTiers.indexOf(tier) * rateLimitActions.length + rateLimitActions.indexOf(action)
    ]!;
  }

  eventsOf(tier: RateLimitTier, outcome: 'allowed' | 'limited'): number {
    return this.events[rateLimitTiers.indexOf(tier) * 2 + (outcome === 'allowed' ? 0 : 1)]!;
  }
}

export interface BucketTableStats {
  readonly size: number;
  readonly capacity: number;
  readonly evictedIdle: number;
  readonly evictedPressure: number;
}

export interface RateLimitMetricsSource {
  readonly counts: RateLimitCounts;
  bucketTables(): Readonly<Record<'ip' | 'client', BucketTableStats>>;
  /** Fraction of the global budget this proxy holds, and the live proxies it is shared with (0 when unknown). */
  globalShare(): { readonly fraction: number; readonly liveProxies: number };
}

export interface RateLimitMetrics {
  /** 1 while the global tier reconciles through Redis, 0 while it runs on the local fallback share. */
  readonly redisUp: Gauge;
}

/**
 * Declares the rate-limit metrics in `registry`. Labels are bounded: tier (6), outcome (2), action
 * (6), table (2), reason (2); never an IP or a client id. One limiter per registry.
 */
export function registerRateLimitMetrics(
  registry: Registry,
  source: RateLimitMetricsSource,
): RateLimitMetrics {
  new Counter({
    name: 'sentinel_ratelimit_events_total',
    help: 'Packets each rate-limit tier evaluated, by outcome (allowed: passed the tier, limited: refused by it)',
    labelNames: ['tier', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      rateLimitTiers.forEach((tier, t) => {
        this.inc({ tier, outcome: 'allowed' }, source.counts.events[t * 2]!);
        this.inc({ tier, outcome: 'limited' }, source.counts.events[t * 2 + 1]!);
      });
    },
  });
  new Counter({
    name: 'sentinel_ratelimit_rejections_total',
    help: 'Packets refused by a rate-limit tier, by the action the connection layer was told to take',
    labelNames: ['tier', 'action'],
    registers: [registry],
    collect() {
      this.reset();
      rateLimitTiers.forEach((tier, t) => {
        rateLimitActions.forEach((action, a) => {
          const value = source.counts.rejections[t * rateLimitActions.length + a]!;
          if (value > 0) this.inc({ tier, action }, value);
        });
      });
    },
  });
  new Gauge({
    name: 'sentinel_ratelimit_buckets',
    help: 'Per-key token bucket entries held in memory, by table (ip: per-IP and CONNECT tiers; client: client tiers)',
    labelNames: ['table'],
    registers: [registry],
    collect() {
      const tables = source.bucketTables();
      this.set({ table: 'ip' }, tables.ip.size);
      this.set({ table: 'client' }, tables.client.size);
    },
  });
  new Gauge({
    name: 'sentinel_ratelimit_bucket_capacity',
    help: 'Upper bound of per-key token bucket entries, by table (SENTINEL_RATE_MAX_*_BUCKETS)',
    labelNames: ['table'],
    registers: [registry],
    collect() {
      const tables = source.bucketTables();
      this.set({ table: 'ip' }, tables.ip.capacity);
      this.set({ table: 'client' }, tables.client.capacity);
    },
  });
  new Counter({
    name: 'sentinel_ratelimit_bucket_evictions_total',
    help: 'Bucket entries removed, by table and reason (idle: full again, nothing lost; pressure: table full, state lost)',
    labelNames: ['table', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      const tables = source.bucketTables();
      for (const table of ['ip', 'client'] as const) {
        this.inc({ table, reason: 'idle' }, tables[table].evictedIdle);
        this.inc({ table, reason: 'pressure' }, tables[table].evictedPressure);
      }
    },
  });
  new Gauge({
    name: 'sentinel_ratelimit_global_share_ratio',
    help: "This proxy's fraction of the fleet-wide global tier budget (0..1)",
    registers: [registry],
    collect() {
      this.set(source.globalShare().fraction);
    },
  });
  new Gauge({
    name: 'sentinel_ratelimit_global_live_proxies',
    help: 'Proxies sharing the global tier as last read from Redis (0 while Redis is unreachable)',
    registers: [registry],
    collect() {
      this.set(source.globalShare().liveProxies);
    },
  });
  const redisUp = new Gauge({
    name: 'sentinel_ratelimit_redis_up',
    help: '1 while the global tier reconciles through Redis, 0 while it falls back to a local share',
    registers: [registry],
  });
  redisUp.set(0);
  return { redisUp };
}
