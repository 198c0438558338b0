import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/log.js';
import { PacketType } from '../protocol/fixed-header.js';
import { BucketTable } from './bucket-table.js';
import { FleetShare, type FleetStatus } from './fleet-share.js';
import { GlobalBucket } from './global-bucket.js';
import { RateLimitCounts, type RateLimitMetrics, registerRateLimitMetrics } from './metrics.js';
import {
  isExemptPacketType,
  type RateCheck,
  type RateDecision,
  type RateLimitPolicy,
  rateLimitActions,
  rateLimitTiers,
  rejectionOf,
  type TierResponse,
} from './tiers.js';

const GLOBAL = 0;
const IP = 1;
const CONNECT = 2;
const PUBLISH = 3;
const SUBSCRIBE = 4;
const CLIENT = 5;

// Lanes of the IP table (per-IP and CONNECT-per-IP tiers share the IP's entry).
const IP_PACKETS = 0;
const IP_BYTES = 1;
const CONNECT_PACKETS = 2;
// Lanes of the client table.
const CLIENT_PACKETS = 0;
const CLIENT_BYTES = 1;
const PUBLISH_PACKETS = 2;
const PUBLISH_BYTES = 3;
const SUBSCRIBE_PACKETS = 4;

const DISCONNECT_ACTION = rateLimitActions.indexOf('disconnect');
const DELAY_ACTION = rateLimitActions.indexOf('delay');

/** Slots the maintenance tick inspects per table and tick; bounds the tick's work whatever the capacity. */
const sweepPerTick = 4096;

const allowed: RateDecision = Object.freeze({ allowed: true });

export interface FleetOptions {
  /** A client made with `createRateLimitRedis` (commands fail fast instead of queueing while disconnected). */
  readonly redis: Redis;
  /** Unique among live proxies; the ingest's proxy id. */
  readonly proxyId: string;
  readonly keyPrefix: string;
  readonly proxyTtlMs: number;
  /** Wall clock for window keys (tests). */
  readonly wallClock?: () => number;
}

export interface RateLimiterOptions {
  readonly policy: RateLimitPolicy;
  readonly registry: Registry;
  readonly log: Logger;
  /** Without it the global tier is local only: this proxy holds 1/expectedProxies of it. */
  readonly fleet?: FleetOptions;
  /** Proxies assumed when Redis cannot say how many are alive. */
  readonly expectedProxies: number;
  /** Interval of the background reconciliation and idle-bucket sweep started by `start()`. */
  readonly reconcileMs: number;
  /** The clock `check()` is given; the background tick reads it. Default Date.now. */
  readonly clock?: () => number;
}

export interface RateLimiterStatus extends FleetStatus {
  readonly ipBuckets: number;
  readonly clientBuckets: number;
}

/**
 * The edge's multi-tier rate limiter. `check()` is synchronous, takes no lock, makes no I/O and
 * allocates nothing on the usual paths (constant decisions; only a 'delay' answer carries its own
 * wait). The global tier's fleet-wide share is moved in the background by `reconcile()`.
 *
 * A packet is checked against every tier that applies before any bucket is charged: a refused packet
 * costs nothing in any tier, and the first tier in order that refuses names the decision.
 */
export class RateLimiter {
  readonly counts = new RateLimitCounts();
  private readonly policy: RateLimitPolicy;
  private readonly global: GlobalBucket;
  private readonly ipTable: BucketTable;
  private readonly clientTable: BucketTable;
  private readonly fleet: FleetShare | undefined;
  private readonly metrics: RateLimitMetrics;
  private readonly on: boolean[];
  private readonly ipOn: boolean;
  private readonly clientOn: boolean;
  private readonly responses: TierResponse[];
  /** decisions[tier][action]: frozen, shared by every refusal with that tier and action. */
  private readonly decisions: RateDecision[][];
  /** rejections[packetType * 3 + qos]: the action index of 'reject' for that packet. */
  private readonly rejections: Int8Array;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RateLimiterOptions) {
    const policy = options.policy;
    const t = policy.tiers;
    this.policy = policy;
    this.clock = options.clock ?? Date.now;
    const off = { perSecond: 0, burst: 0 };
    this.global = new GlobalBucket(t.global);
    this.ipTable = new BucketTable(policy.maxIpBuckets, [t.ip.packets, t.ip.bytes ?? off, t.connect.packets]);
    this.clientTable = new BucketTable(policy.maxClientBuckets, [
      t.client.packets,
      t.client.bytes ?? off,
      t.publish.packets,
      t.publish.bytes ?? off,
      t.subscribe.packets,
    ]);
    this.on = rateLimitTiers.map((tier) => {
      const p = t[tier];
      return p.packets.perSecond > 0 || (p.bytes !== undefined && p.bytes.perSecond > 0);
    });
    this.ipOn = this.on[IP]! || this.on[CONNECT]!;
    this.clientOn = this.on[PUBLISH]! || this.on[SUBSCRIBE]! || this.on[CLIENT]!;
    this.responses = rateLimitTiers.map((tier) => t[tier].response);
    this.decisions = rateLimitTiers.map((tier) =>
      rateLimitActions.map((action) =>
        Object.freeze(
          action === 'delay'
            ? { allowed: false, tier, action, delayMs: 0 }
            : { allowed: false, tier, action },
        ),
      ),
    );
    this.rejections = new Int8Array(16 * 3);
    for (let type = 0; type < 16; type++) {
      for (const qos of [0, 1, 2] as const) {
        const action = rejectionOf(type, qos, policy.qosPublishRejection);
        this.rejections[type * 3 + qos] = rateLimitActions.indexOf(action);
      }
    }
    this.metrics = registerRateLimitMetrics(options.registry, {
      counts: this.counts,
      bucketTables: () => ({ ip: statsOf(this.ipTable), client: statsOf(this.clientTable) }),
      globalShare: () => ({ fraction: this.global.fraction, liveProxies: this.status().liveProxies }),
    });
    this.fleet = options.fleet
      ? new FleetShare({
          redis: options.fleet.redis,
          proxyId: options.fleet.proxyId,
          keyPrefix: options.fleet.keyPrefix,
          proxyTtlMs: options.fleet.proxyTtlMs,
          globalPolicy: t.global,
          bucket: this.global,
          expectedProxies: options.expectedProxies,
          log: options.log,
          onRedisUp: (up) => this.metrics.redisUp.set(up ? 1 : 0),
          ...(options.fleet.wallClock ? { wallClock: options.fleet.wallClock } : {}),
        })
      : undefined;
    if (!this.fleet) this.global.setFraction(1 / Math.max(1, options.expectedProxies));
  }

  /** One decision per packet, from the bucket state at `nowMs` (the clock given as `clock`). */
  check(input: RateCheck, nowMs: number): RateDecision {
    const type = input.packetType;
    if (isExemptPacketType(type)) return allowed;
    const bytes = input.bytes;
    const on = this.on;

    const global = this.global;
    if (on[GLOBAL]) {
      global.refill(nowMs);
      if (!global.canPay(bytes)) {
        global.refused(bytes);
        return this.refuse(GLOBAL, input, global.waitMs(bytes));
      }
    }

    const ips = this.ipTable;
    const isConnect = type === PacketType.CONNECT;
    let ipSlot = -1;
    if (this.ipOn) {
      ipSlot = ips.slot(input.ip, nowMs);
      if (!ips.canPay(ipSlot, IP_PACKETS, 1))
        return this.refuse(IP, input, ips.waitMs(ipSlot, IP_PACKETS, 1));
      if (!ips.canPay(ipSlot, IP_BYTES, bytes))
        return this.refuse(IP, input, ips.waitMs(ipSlot, IP_BYTES, bytes));
      if (isConnect && !ips.canPay(ipSlot, CONNECT_PACKETS, 1)) {
        return this.refuse(CONNECT, input, ips.waitMs(ipSlot, CONNECT_PACKETS, 1));
      }
    }

    // The client tiers start after CONNECT: before it the client id is only a claim.
    const clients = this.clientTable;
    const isPublish = type === PacketType.PUBLISH;
    const isSubscribe = type === PacketType.SUBSCRIBE;
    let clientSlot = -1;
    if (this.clientOn && !isConnect && input.clientId !== '') {
      clientSlot = clients.slot(input.clientId, nowMs);
      if (isPublish) {
        if (!clients.canPay(clientSlot, PUBLISH_PACKETS, 1)) {
          return this.refuse(PUBLISH, input, clients.waitMs(clientSlot, PUBLISH_PACKETS, 1));
        }
        if (!clients.canPay(clientSlot, PUBLISH_BYTES, bytes)) {
          return this.refuse(PUBLISH, input, clients.waitMs(clientSlot, PUBLISH_BYTES, bytes));
        }
      } else if (isSubscribe && !clients.canPay(clientSlot, SUBSCRIBE_PACKETS, 1)) {
        return this.refuse(SUBSCRIBE, input, clients.waitMs(clientSlot, SUBSCRIBE_PACKETS, 1));
      }
      if (!clients.canPay(clientSlot, CLIENT_PACKETS, 1)) {
        return this.refuse(CLIENT, input, clients.waitMs(clientSlot, CLIENT_PACKETS, 1));
      }
      if (!clients.canPay(clientSlot, CLIENT_BYTES, bytes)) {
        return this.refuse(CLIENT, input, clients.waitMs(clientSlot, CLIENT_BYTES, bytes));
      }
    }

    // Every tier can pay: charge them all.
    const events = this.counts.events;
    if (on[GLOBAL]) {
      global.debit(bytes);
      events[GLOBAL * 2]!++;
    }
    if (ipSlot >= 0) {
      ips.debit(ipSlot, IP_PACKETS, 1);
      ips.debit(ipSlot, IP_BYTES, bytes);
      if (on[IP]) events[IP * 2]!++;
      if (isConnect) {
        ips.debit(ipSlot, CONNECT_PACKETS, 1);
        if (on[CONNECT]) events[CONNECT * 2]!++;
      }
    }
    if (clientSlot >= 0) {
      clients.debit(clientSlot, CLIENT_PACKETS, 1);
      clients.debit(clientSlot, CLIENT_BYTES, bytes);
      if (on[CLIENT]) events[CLIENT * 2]!++;
      if (isPublish) {
        clients.debit(clientSlot, PUBLISH_PACKETS, 1);
        clients.debit(clientSlot, PUBLISH_BYTES, bytes);
        if (on[PUBLISH]) events[PUBLISH * 2]!++;
      } else if (isSubscribe) {
        clients.debit(clientSlot, SUBSCRIBE_PACKETS, 1);
        if (on[SUBSCRIBE]) events[SUBSCRIBE * 2]!++;
      }
    }
    return allowed;
  }

  /** One background round: the fleet share through Redis (when configured) and a bounded idle sweep. */
  async reconcile(nowMs: number = this.clock()): Promise<void> {
    this.ipTable.sweep(nowMs, sweepPerTick);
    this.clientTable.sweep(nowMs, sweepPerTick);
    if (this.fleet) await this.fleet.reconcile(nowMs);
  }

  /** Starts the one background timer (reconcile + sweep every `reconcileMs`). */
  start(): void {
    if (this.timer) return;
    void this.reconcile();
    this.timer = setInterval(() => void this.reconcile(), this.options.reconcileMs);
    this.timer.unref();
  }

  /** Stops the timer and leaves the fleet split, so the other proxies take this share at their next round. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.fleet) await this.fleet.leave();
  }

  status(): RateLimiterStatus {
    const fleet: FleetStatus = this.fleet?.status() ?? {
      redisUp: undefined,
      liveProxies: 0,
      fraction: this.global.fraction,
      windowPackets: 0,
      previousWindowPackets: 0,
    };
    return { ...fleet, ipBuckets: this.ipTable.size, clientBuckets: this.clientTable.size };
  }

  /** Packets per second this proxy's part of the global tier lets through now. */
  get globalPacketsPerSecond(): number {
    return this.global.packetsPerSecond;
  }

  private refuse(tier: number, input: RateCheck, waitMs: number): RateDecision {
    const maxDelayMs = this.policy.maxDelayMs;
    const response = this.responses[tier]!;
    let action: number;
    if (response === 'disconnect') action = DISCONNECT_ACTION;
    else if (response === 'delay' && waitMs <= maxDelayMs) action = DELAY_ACTION;
    else {
      const rejection = this.rejections[(input.packetType & 0x0f) * 3 + (input.qos ?? 0)]!;
      // PINGREQ and UNSUBSCRIBE can only be answered late; past the bound the connection goes.
      action =
        rejection !== DELAY_ACTION ? rejection : waitMs <= maxDelayMs ? DELAY_ACTION : DISCONNECT_ACTION;
    }
    this.counts.events[tier * 2 + 1]!++;
    this.counts.rejection(tier, action);
    if (action === DELAY_ACTION) {
      return { allowed: false, tier: rateLimitTiers[tier]!, action: 'delay', delayMs: Math.max(1, waitMs) };
    }
    return this.decisions[tier]![action]!;
  }
}

function statsOf(table: BucketTable) {
  return {
    size: table.size,
    capacity: table.capacity,
    evictedIdle: table.evictedIdle,
    evictedPressure: table.evictedPressure,
  };
}
