import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SentinelError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { GlobalBucket } from './global-bucket.js';
import type { TierPolicy } from './tiers.js';

/**
 * Max-min fair split of one budget (1.0) among proxies by demand (each in budget units, 1.0 = the
 * whole global rate). A proxy asking for less than an equal share gets what it asks; the rest is
 * shared equally among the ones asking for more; anything left when the fleet asks for less than
 * the budget is spread equally, so every proxy has headroom to grow into. The fractions add up to 1,
 * which is what keeps the fleet inside the global limit; a flooded proxy cannot starve a quiet one
 * below an equal share, and an idle proxy's share goes to the busy ones.
 */
export function waterFill(demands: readonly number[]): number[] {
  const n = demands.length;
  if (n === 0) return [];
  const order = demands.map((_, i) => i).sort((a, b) => demands[a]! - demands[b]!);
  const shares = new Array<number>(n).fill(0);
  let remaining = 1;
  order.forEach((index, rank) => {
    const fair = remaining / (n - rank);
    const given = Math.min(Math.max(0, demands[index]!), fair);
    shares[index] = given;
    remaining -= given;
  });
  const spare = remaining / n;
  return shares.map((share) => share + spare);
}

/**
 * One round trip per reconciliation: publish this proxy's demand and heartbeat, add what it let
 * through to the fleet's per-second window, drop proxies whose heartbeat is older than the TTL, and
 * read every live proxy's demand and the fleet's window totals. Liveness uses the Redis clock
 * (TIME) so proxies on hosts with skewed clocks agree on who is alive. All keys share one hash tag,
 * so the script also runs on Redis Cluster.
 *
 * KEYS: 1 live proxies (zset, score = last heartbeat ms), 2 demands (hash), 3 this window, 4 previous window.
 * ARGV: 1 proxy id, 2 demand, 3 packets let through, 4 bytes let through, 5 proxy TTL ms, 6 window TTL ms.
 * Returns: [window packets, window bytes, previous window packets, previous window bytes, [id, demand, ...]].
 */
const reconcileScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl))
for i = 1, #dead do
  redis.call('HDEL', KEYS[2], dead[i])
end
if #dead > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl))
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl * 10)
redis.call('PEXPIRE', KEYS[2], ttl * 10)
local packets = tonumber(ARGV[3])
local bytes = tonumber(ARGV[4])
if packets > 0 then redis.call('HINCRBY', KEYS[3], 'p', packets) end
if bytes > 0 then redis.call('HINCRBY', KEYS[3], 'b', bytes) end
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[6]))
local cur = redis.call('HMGET', KEYS[3], 'p', 'b')
local prev = redis.call('HMGET', KEYS[4], 'p', 'b')
return {cur[1] or '0', cur[2] or '0', prev[1] or '0', prev[2] or '0', redis.call('HGETALL', KEYS[2])}
`;
const leaveScript = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

const windowMs = 1000;

export interface FleetShareOptions {
  readonly redis: Redis;
  readonly proxyId: string;
  /** Prefix of every key; a per-run prefix keeps tests apart. */
  readonly keyPrefix: string;
  readonly globalPolicy: TierPolicy;
  readonly bucket: GlobalBucket;
  /** Proxies assumed when Redis cannot tell (at start and while it is unreachable). */
  readonly expectedProxies: number;
  /** A proxy silent for longer is no longer counted in the split. */
  readonly proxyTtlMs: number;
  readonly log: Logger;
  readonly onRedisUp: (up: boolean) => void;
  /** Wall clock for the per-second window keys; the hosts' clocks only need to agree to a window. */
  readonly wallClock?: () => number;
}

export interface FleetStatus {
  /** undefined until the first reconciliation ends. */
  readonly redisUp: boolean | undefined;
  readonly liveProxies: number;
  readonly fraction: number;
  /** Fleet totals of the current and the previous one-second window, as last read. */
  readonly windowPackets: number;
  readonly previousWindowPackets: number;
}

/**
 * The global tier across proxies. Per-packet decisions never wait for Redis: this class runs in the
 * background, every reconcile interval, and moves the local GlobalBucket's fraction.
 */
export class FleetShare {
  private redisUp: boolean | undefined;
  private liveProxies = 0;
  private lastKnownLive = 0;
  private windowPackets = 0;
  private previousWindowPackets = 0;
  private lastReconcileMs: number | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly keys: { live: string; demand: string; window: string };
  private readonly sha = createHash('sha1').update(reconcileScript).digest('hex');
  private readonly wallClock: () => number;

  constructor(private readonly options: FleetShareOptions) {
    const tag = `${options.keyPrefix}:{global}`;
    this.keys = { live: `${tag}:live`, demand: `${tag}:demand`, window: `${tag}:w:` };
    this.wallClock = options.wallClock ?? Date.now;
    options.bucket.setFraction(this.fallbackFraction());
  }

  status(): FleetStatus {
    return {
      redisUp: this.redisUp,
      liveProxies: this.liveProxies,
      fraction: this.options.bucket.fraction,
      windowPackets: this.windowPackets,
      previousWindowPackets: this.previousWindowPackets,
    };
  }

  /** One reconciliation; concurrent calls share the one in flight. Never rejects. */
  reconcile(nowMs: number): Promise<void> {
    if (this.inFlight === undefined) {
      this.inFlight = this.reconcileOnce(nowMs).finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  /** Takes this proxy out of the split at once, so the others need not wait for its heartbeat to age. */
  async leave(): Promise<void> {
    try {
      await this.options.redis.eval(leaveScript, 2, this.keys.live, this.keys.demand, this.options.proxyId);
    } catch {
      // Leaving is a courtesy: the heartbeat TTL removes a proxy that could not say goodbye.
    }
  }

  private async reconcileOnce(nowMs: number): Promise<void> {
    const { bucket } = this.options;
    const elapsedMs = this.lastReconcileMs === undefined ? 0 : nowMs - this.lastReconcileMs;
    this.lastReconcileMs = nowMs;
    const demand = elapsedMs > 0 ? this.demandOf(elapsedMs) : 0;
    const usedPackets = bucket.allowedPackets;
    const usedBytes = bucket.allowedBytes;
    bucket.resetCounts();
    const window = Math.floor(this.wallClock() / windowMs);
    try {
      const reply = await this.evalReconcile([
        this.keys.live,
        this.keys.demand,
        `${this.keys.window}${window}`,
        `${this.keys.window}${window - 1}`,
        this.options.proxyId,
        demand.toFixed(6),
        usedPackets,
        usedBytes,
        this.options.proxyTtlMs,
        windowMs * 3,
      ]);
      const parsed = parseReply(reply);
      const ids = parsed.demands.map(([id]) => id);
      const shares = waterFill(parsed.demands.map(([, d]) => d));
      const mine = ids.indexOf(this.options.proxyId);
      this.liveProxies = ids.length;
      this.lastKnownLive = ids.length;
      this.windowPackets = parsed.windowPackets;
      this.previousWindowPackets = parsed.previousWindowPackets;
      bucket.setFraction(mine >= 0 ? shares[mine]! : 1 / Math.max(1, ids.length));
      this.transition(true);
    } catch (err) {
      this.liveProxies = 0;
      bucket.setFraction(this.fallbackFraction());
      this.transition(false, err);
    }
  }

  private demandOf(elapsedMs: number): number {
    const { bucket, globalPolicy } = this.options;
    const seconds = elapsedMs / 1000;
    let demand = 0;
    if (globalPolicy.packets.perSecond > 0) {
      demand = Math.max(demand, bucket.demandPackets / seconds / globalPolicy.packets.perSecond);
    }
    const bytes = globalPolicy.bytes;
    if (bytes && bytes.perSecond > 0)
      demand = Math.max(demand, bucket.demandBytes / seconds / bytes.perSecond);
    return demand;
  }

  private async evalReconcile(args: Array<string | number>): Promise<unknown> {
    const [k1, k2, k3, k4, ...argv] = args as [string, string, string, string, ...Array<string | number>];
    try {
      return await this.options.redis.evalsha(this.sha, 4, k1, k2, k3, k4, ...argv);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await this.options.redis.eval(reconcileScript, 4, k1, k2, k3, k4, ...argv);
    }
  }

  /** Without Redis, the split is equal among the proxies last seen alive, or the expected count. */
  private fallbackFraction(): number {
    return 1 / Math.max(1, this.options.expectedProxies, this.lastKnownLive);
  }

  private transition(up: boolean, cause?: unknown): void {
    if (this.redisUp === up) return;
    const first = this.redisUp === undefined;
    this.redisUp = up;
    this.options.onRedisUp(up);
    const fraction = this.options.bucket.fraction;
    if (up) {
      this.options.log.info(
        { proxyId: this.options.proxyId, liveProxies: this.liveProxies, fraction },
        first
          ? 'rate limits: global tier shared through Redis'
          : 'rate limits: Redis back, global tier shared again',
      );
    } else {
      const err = new SentinelError(
        'SNT_RATELIMIT_REDIS_UNAVAILABLE',
        'Redis does not answer; the global tier runs on a fixed local share until it does',
        { cause },
      );
      this.options.log.warn(
        { err, code: err.code, proxyId: this.options.proxyId, fraction },
        'rate limits: Redis unreachable, global tier falls back to a local share',
      );
    }
  }
}

interface ReconcileReply {
  readonly windowPackets: number;
  readonly previousWindowPackets: number;
  readonly demands: ReadonlyArray<readonly [string, number]>;
}

function parseReply(reply: unknown): ReconcileReply {
  if (!Array.isArray(reply) || reply.length !== 5 || !Array.isArray(reply[4])) {
    throw new Error('unexpected reply from the reconcile script');
  }
  const flat = reply[4] as unknown[];
  const demands: Array<readonly [string, number]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const demand = Number(flat[i + 1]);
    demands.push([String(flat[i]), Number.isFinite(demand) ? demand : 0]);
  }
  return { windowPackets: Number(reply[0]), previousWindowPackets: Number(reply[2]), demands };
}
