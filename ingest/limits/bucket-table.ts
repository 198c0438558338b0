/**
 * Token buckets for many keys (IPs, client ids), bounded in memory, without timers.
 *
 * Why hand-written rather than rate-limiter-flexible's RateLimiterMemory: its `consume()` returns a
 * Promise (the check is on the per-packet path and must be synchronous), allocates a result object
 * per call, reads `Date.now()` itself (no clock to drive in tests), counts fixed windows rather than
 * a bucket with its own rate and burst, arms one `setTimeout` per key and window to expire it, and
 * has no upper bound on the number of keys. A token bucket is a few lines of arithmetic; the part
 * that needs care is the memory bound, which is what this class is about.
 *
 * Layout: one slot per key; each slot holds `lanes` buckets (e.g. packets and bytes of the per-IP
 * tier and packets of the CONNECT tier share the IP's slot) in flat Float64Arrays, and one refill
 * stamp. A Map gives the key's slot. Refill is lazy: touching a slot brings all its lanes up to now.
 *
 * Eviction: a slot whose lanes have all refilled to their burst by now is idle: removing it loses
 * nothing, since a new slot starts full too. When the
 * table is full, a clock hand scans a few slots for such an idle one; if none is idle, the least
 * recently touched of the scanned slots goes (pressure eviction, counted: its key may start again
 * with a full bucket, so a sustained count means the bound is too small for the key population).
 */
export interface LaneRate {
  /** Units per second; 0 turns the lane off (it never refuses). */
  readonly perSecond: number;
  readonly burst: number;
}

/** Tolerance for float refill arithmetic, so 10 ms at 100/s pays for exactly one packet. */
const epsilon = 1e-9;
/** Slots inspected per insertion into a full table: O(1) work, close to LRU in practice. */
const scanPerInsert = 8;

export class BucketTable {
  readonly capacity: number;
  readonly lanes: number;
  evictedIdle = 0;
  evictedPressure = 0;

  private readonly ratePerMs: Float64Array;
  private readonly burst: Float64Array;
  private readonly tokens: Float64Array;
  private readonly stamps: Float64Array;
  private readonly keys: Array<string | undefined>;
  private readonly slots = new Map<string, number>();
  private readonly free: Int32Array;
  private freeCount: number;
  private hand = 0;

  constructor(capacity: number, lanes: readonly LaneRate[]) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.lanes = lanes.length;
    this.ratePerMs = new Float64Array(lanes.length);
    this.burst = new Float64Array(lanes.length);
    lanes.forEach((lane, i) => {
      const on = lane.perSecond > 0;
      this.ratePerMs[i] = on ? lane.perSecond / 1000 : 0;
      this.burst[i] = on ? lane.burst : Number.POSITIVE_INFINITY;
    });
    this.tokens = new Float64Array(capacity * lanes.length);
    this.stamps = new Float64Array(capacity);
    this.keys = new Array<string | undefined>(capacity).fill(undefined);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeCount = capacity;
  }

  get size(): number {
    return this.slots.size;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** The key's slot, refilled to `nowMs`; a new key gets a full slot (evicting one if the table is full). */
  slot(key: string, nowMs: number): number {
    const found = this.slots.get(key);
    if (found !== undefined) {
      this.refill(found, nowMs);
      return found;
    }
    const slot = this.freeCount > 0 ? this.free[--this.freeCount]! : this.evictFor(nowMs);
    this.keys[slot] = key;
    this.slots.set(key, slot);
    this.stamps[slot] = nowMs;
    const base = slot * this.lanes;
    for (let lane = 0; lane < this.lanes; lane++) this.tokens[base + lane] = this.burst[lane]!;
    return slot;
  }

  /** True when `cost` units are available in the lane (the slot must be fresh from `slot()`). */
  canPay(slot: number, lane: number, cost: number): boolean {
    return this.tokens[slot * this.lanes + lane]! + epsilon >= cost;
  }

  debit(slot: number, lane: number, cost: number): void {
    this.tokens[slot * this.lanes + lane]! -= cost;
  }

  available(slot: number, lane: number): number {
    return this.tokens[slot * this.lanes + lane]!;
  }

  /** Milliseconds until the lane can pay `cost`; Infinity when it never can (cost above the burst). */
  waitMs(slot: number, lane: number, cost: number): number {
    if (cost > this.burst[lane]!) return Number.POSITIVE_INFINITY;
    const missing = cost - this.tokens[slot * this.lanes + lane]!;
    return missing <= epsilon ? 0 : Math.ceil(missing / this.ratePerMs[lane]! - 1e-6);
  }

  /**
   * Removes up to `maxScan` slots' worth of idle entries, so the size gauge and the key strings
   * shrink when traffic goes away. Called from the limiter's one maintenance tick, not per key.
   */
  sweep(nowMs: number, maxScan: number = this.capacity): number {
    let removed = 0;
    const scan = Math.min(maxScan, this.capacity);
    for (let i = 0; i < scan && this.slots.size > 0; i++) {
      const slot = this.advanceHand();
      if (this.keys[slot] !== undefined && this.isIdle(slot, nowMs)) {
        this.release(slot);
        this.free[this.freeCount++] = slot;
        this.evictedIdle++;
        removed++;
      }
    }
    return removed;
  }

  private refill(slot: number, nowMs: number): void {
    const elapsed = nowMs - this.stamps[slot]!;
    // A clock that goes back (or the same instant) adds nothing.
    if (elapsed <= 0) return;
    this.stamps[slot] = nowMs;
    const base = slot * this.lanes;
    for (let lane = 0; lane < this.lanes; lane++) {
      const filled = this.tokens[base + lane]! + elapsed * this.ratePerMs[lane]!;
      const cap = this.burst[lane]!;
      this.tokens[base + lane] = Math.min(filled, cap);
    }
  }

  /** Every lane would be back at its burst by `nowMs`: the slot holds nothing a new one would not. */
  private isIdle(slot: number, nowMs: number): boolean {
    const elapsed = nowMs - this.stamps[slot]!;
    const base = slot * this.lanes;
    for (let lane = 0; lane < this.lanes; lane++) {
      const cap = this.burst[lane]!;
      if (cap === Number.POSITIVE_INFINITY) continue;
      if (this.tokens[base + lane]! + elapsed * this.ratePerMs[lane]! + epsilon < cap) return false;
    }
    return true;
  }

  private evictFor(nowMs: number): number {
    let oldest = -1;
    for (let i = 0; i < scanPerInsert; i++) {
      const slot = this.advanceHand();
      if (this.isIdle(slot, nowMs)) {
        this.release(slot);
        this.evictedIdle++;
        return slot;
      }
      if (oldest < 0 || this.stamps[slot]! < this.stamps[oldest]!) oldest = slot;
    }
    this.release(oldest);
    this.evictedPressure++;
    return oldest;
  }

  private advanceHand(): number {
    const slot = this.hand;
    this.hand = slot + 1 === this.capacity ? 0 : slot + 1;
    return slot;
  }

  private release(slot: number): void {
    const key = this.keys[slot];
    if (key !== undefined) this.slots.delete(key);
    this.keys[slot] = undefined;
  }
}
