import { Counter, Gauge, type Registry } from 'prom-client';
import type { CachedDecision } from './decision-cache.js';
import { metricOf } from './metrics.js';

/**
 * Auth decisions kept in this process's memory, in front of the Redis decision cache, so that a slow
 * or unreachable Redis does not send every CONNECT to the device DB and scrypt (issue 14: the 50 ms
 * Redis deadline missed ~90 times a minute meant a database lookup and a KDF per CONNECT).
 *
 * Bounds:
 * - Time: an entry lives `ttlMs` (default 10 s, never above the Redis TTL), and never past the
 *   lifetime its Redis entry had left, so no decision is honoured longer after the device DB made
 *   it than the Redis TTL says.
 * - Memory: two LRUs keyed by client id, one for allows and one for denials (a flood of failing
 *   devices evicts other denials, never a working device's allow), each holding at most
 *   `variantsPerDevice` credential variants per device.
 * - Revocation: `invalidateDevice` (driven by the Redis invalidation channel that `sentinel devices
 *   disable|enable|add` publish on) drops the device's entries at once, and a decision being computed
 *   while it happens is not stored (see `begin`). If the channel misses a message, the entry still
 *   ends with its TTL: that TTL is the documented worst case (docs/ingest-auth.md).
 *
 * Entries are keyed by a credential tag (an HMAC of client id, user name and password or CN under a
 * per-process key), never by the password itself.
 */
export interface LocalDecisionCacheOptions {
  /** Longest a decision is served from memory, milliseconds; at most the Redis TTL. */
  readonly ttlMs: number;
  /** Devices whose allow is kept. */
  readonly maxAllowedDevices: number;
  /** Devices whose denials are kept (apart from allows, so failures cannot push allows out). */
  readonly maxDeniedDevices: number;
  /** Monotonic milliseconds (performance.now in production, a fake clock in tests). */
  readonly now: () => number;
  readonly registry: Registry;
}

/** Credential variants kept per device: a rotation (old and new secret) and a few wrong guesses. */
export const variantsPerDevice = 4;

interface Entry {
  readonly tag: string;
  readonly decision: CachedDecision;
  readonly expiresAt: number;
}

/** A decision being computed for a device; `stale` once the device was invalidated meanwhile. */
export interface LocalFill {
  readonly clientId: string;
  stale: boolean;
}

interface LocalCacheMetrics {
  readonly hits: Counter;
  readonly misses: Counter;
  readonly entries: Gauge;
  readonly invalidations: Counter<'scope'>;
}

function declareLocalCacheMetrics(registry: Registry): LocalCacheMetrics {
  const registers = [registry];
  return {
    hits: metricOf(
      registry,
      'sentinel_auth_local_cache_hits_total',
      (name) =>
        new Counter({ name, help: 'CONNECT decisions served from the in-process auth cache', registers }),
    ),
    misses: metricOf(
      registry,
      'sentinel_auth_local_cache_misses_total',
      (name) =>
        new Counter({
          name,
          help: 'CONNECT decisions not in the in-process auth cache (Redis, then the device DB, asked)',
          registers,
        }),
    ),
    entries: metricOf(
      registry,
      'sentinel_auth_local_cache_entries',
      (name) => new Gauge({ name, help: 'Decisions held in the in-process auth cache', registers }),
    ),
    invalidations: metricOf(
      registry,
      'sentinel_auth_local_cache_invalidations_total',
      (name) =>
        new Counter({
          name,
          help: 'In-process auth cache invalidations: device (one device revoked or changed), all (the invalidation channel was lost, so everything is dropped)',
          labelNames: ['scope'],
          registers,
        }),
    ),
  };
}

export class LocalDecisionCache {
  readonly #allowed = new Map<string, Entry[]>();
  readonly #denied = new Map<string, Entry[]>();
  readonly #fills = new Map<string, Set<LocalFill>>();
  readonly #metrics: LocalCacheMetrics;
  #count = 0;

  constructor(private readonly options: LocalDecisionCacheOptions) {
    for (const name of ['ttlMs', 'maxAllowedDevices', 'maxDeniedDevices'] as const) {
      if (!Number.isInteger(options[name]) || options[name] < 1)
        throw new RangeError(`${name} must be a positive integer`);
    }
    this.#metrics = declareLocalCacheMetrics(options.registry);
  }

  /** Decisions held. */
  get size(): number {
    return this.#count;
  }

  /** The decision for these credentials (by tag), while it lives. */
  get(clientId: string, tag: string): CachedDecision | undefined {
    const now = this.options.now();
    const found =
      this.#find(this.#allowed, clientId, tag, now) ?? this.#find(this.#denied, clientId, tag, now);
    (found ? this.#metrics.hits : this.#metrics.misses).inc();
    return found;
  }

  /**
   * Starts computing a decision for `clientId`; hand the fill to `put` and `end`. An invalidation
   * of the device before `put` marks the fill stale, so a decision read from a row that was
   * revoked meanwhile is never kept.
   */
  begin(clientId: string): LocalFill {
    const fill: LocalFill = { clientId, stale: false };
    const fills = this.#fills.get(clientId);
    if (fills) fills.add(fill);
    else this.#fills.set(clientId, new Set([fill]));
    return fill;
  }

  end(fill: LocalFill): void {
    const fills = this.#fills.get(fill.clientId);
    if (!fills) return;
    fills.delete(fill);
    if (fills.size === 0) this.#fills.delete(fill.clientId);
  }

  /**
   * Keeps `decision` for `ttlMs`, or for `lifetimeMs` when shorter (what its Redis entry has left).
   * Returns false when it was not kept: the fill is stale, or no lifetime is left.
   */
  put(fill: LocalFill, tag: string, decision: CachedDecision, lifetimeMs?: number): boolean {
    if (fill.stale) return false;
    const ttl = Math.min(this.options.ttlMs, lifetimeMs ?? Number.POSITIVE_INFINITY);
    if (!(ttl > 0)) return false;
    const clientId = fill.clientId;
    this.#remove(decision.allow ? this.#denied : this.#allowed, clientId, tag);
    const [lru, max] = decision.allow
      ? [this.#allowed, this.options.maxAllowedDevices]
      : [this.#denied, this.options.maxDeniedDevices];
    const entries = lru.get(clientId) ?? [];
    const kept = entries.filter((entry) => entry.tag !== tag);
    kept.unshift({ tag, decision, expiresAt: this.options.now() + ttl });
    if (kept.length > variantsPerDevice) kept.length = variantsPerDevice;
    this.#count += kept.length - entries.length;
    // Map order is insertion order: re-inserting makes the device the most recently used.
    lru.delete(clientId);
    lru.set(clientId, kept);
    while (lru.size > max) {
      const oldest = lru.keys().next().value as string;
      this.#count -= lru.get(oldest)?.length ?? 0;
      lru.delete(oldest);
    }
    this.#metrics.entries.set(this.#count);
    return true;
  }

  /**
   * Drops every decision whose time is up. Reading one drops it too, but a device that connected
   * once and stays connected never asks again: without this its decision stays until LRU eviction
   * (up to maxAllowedDevices of them, ~650 B each). Returns how many were dropped.
   */
  dropExpired(): number {
    const now = this.options.now();
    let dropped = 0;
    for (const lru of [this.#allowed, this.#denied]) {
      for (const [clientId, entries] of lru) {
        const live = entries.filter((entry) => entry.expiresAt > now);
        if (live.length === entries.length) continue;
        dropped += entries.length - live.length;
        // Deleting the key being visited is safe in a Map walk; set on it keeps its LRU place.
        if (live.length === 0) lru.delete(clientId);
        else lru.set(clientId, live);
      }
    }
    this.#count -= dropped;
    this.#metrics.entries.set(this.#count);
    return dropped;
  }

  /** Drops the device's decisions and stales the fills in progress for it. */
  invalidateDevice(clientId: string): void {
    this.#count -= (this.#allowed.get(clientId)?.length ?? 0) + (this.#denied.get(clientId)?.length ?? 0);
    this.#allowed.delete(clientId);
    this.#denied.delete(clientId);
    for (const fill of this.#fills.get(clientId) ?? []) fill.stale = true;
    this.#metrics.entries.set(this.#count);
    this.#metrics.invalidations.inc({ scope: 'device' });
  }

  /** Drops everything (invalidations may have been missed), and stales every fill in progress. */
  clear(): void {
    this.#allowed.clear();
    this.#denied.clear();
    for (const fills of this.#fills.values()) for (const fill of fills) fill.stale = true;
    this.#count = 0;
    this.#metrics.entries.set(0);
    this.#metrics.invalidations.inc({ scope: 'all' });
  }

  #find(lru: Map<string, Entry[]>, clientId: string, tag: string, now: number): CachedDecision | undefined {
    const entries = lru.get(clientId);
    const entry = entries?.find((e) => e.tag === tag);
    if (!entries || !entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#remove(lru, clientId, tag);
      this.#metrics.entries.set(this.#count);
      return undefined;
    }
    lru.delete(clientId);
    lru.set(clientId, entries);
    return entry.decision;
  }

  #remove(lru: Map<string, Entry[]>, clientId: string, tag: string): void {
    const entries = lru.get(clientId);
    if (!entries) return;
    const kept = entries.filter((entry) => entry.tag !== tag);
    if (kept.length === entries.length) return;
    this.#count -= entries.length - kept.length;
    if (kept.length === 0) lru.delete(clientId);
    else lru.set(clientId, kept);
  }
}
