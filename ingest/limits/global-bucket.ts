import type { TierPolicy } from './tiers.js';

const epsilon = 1e-9;

/**
 * This proxy's part of the fleet-wide global tier: a packets bucket and a bytes bucket whose rate
 * and size are `fraction` of the global figures. The fleet reconciliation sets the fraction so the
 * fractions of all live proxies add up to 1; between reconciliations every decision is local.
 * It also counts what the reconciliation reports: what it let through and what was asked of it.
 */
export class GlobalBucket {
  fraction = 1;
  /** Since the last `takeCounts()`: packets and bytes let through, and asked for (let through + refused here). */
  allowedPackets = 0;
  allowedBytes = 0;
  demandPackets = 0;
  demandBytes = 0;

  readonly packetsOn: boolean;
  readonly bytesOn: boolean;
  private packetRatePerMs = 0;
  private packetBurst = 0;
  private byteRatePerMs = 0;
  private byteBurst = 0;
  private packetTokens = 0;
  private byteTokens = 0;
  private stamp = Number.NEGATIVE_INFINITY;

  constructor(private readonly policy: TierPolicy) {
    this.packetsOn = policy.packets.perSecond > 0;
    this.bytesOn = policy.bytes !== undefined && policy.bytes.perSecond > 0;
    this.setFraction(1);
    this.packetTokens = this.packetBurst;
    this.byteTokens = this.byteBurst;
  }

  get on(): boolean {
    return this.packetsOn || this.bytesOn;
  }

  /** Packets per second this proxy may let through now. */
  get packetsPerSecond(): number {
    return this.packetRatePerMs * 1000;
  }

  /** Tokens above the new size are dropped; a larger share fills at the new rate, it is not granted at once. */
  setFraction(fraction: number): void {
    const f = Math.min(1, Math.max(0, fraction));
    this.fraction = f;
    const bytes = this.policy.bytes;
    this.packetRatePerMs = (this.policy.packets.perSecond * f) / 1000;
    this.packetBurst = this.policy.packets.burst * f;
    this.byteRatePerMs = bytes ? (bytes.perSecond * f) / 1000 : 0;
    this.byteBurst = bytes ? bytes.burst * f : 0;
    if (this.packetTokens > this.packetBurst) this.packetTokens = this.packetBurst;
    if (this.byteTokens > this.byteBurst) this.byteTokens = this.byteBurst;
  }

  refill(nowMs: number): void {
    const elapsed = nowMs - this.stamp;
    if (elapsed <= 0) return;
    if (this.stamp === Number.NEGATIVE_INFINITY) {
      this.stamp = nowMs;
      return;
    }
    this.stamp = nowMs;
    const p = this.packetTokens + elapsed * this.packetRatePerMs;
    this.packetTokens = Math.min(p, this.packetBurst);
    const b = this.byteTokens + elapsed * this.byteRatePerMs;
    this.byteTokens = Math.min(b, this.byteBurst);
  }

  /** After `refill`: can one packet of `bytes` pass? */
  canPay(bytes: number): boolean {
    return (
      (!this.packetsOn || this.packetTokens + epsilon >= 1) &&
      (!this.bytesOn || this.byteTokens + epsilon >= bytes)
    );
  }

  debit(bytes: number): void {
    if (this.packetsOn) this.packetTokens -= 1;
    if (this.bytesOn) this.byteTokens -= bytes;
    this.allowedPackets++;
    this.allowedBytes += bytes;
    this.demandPackets++;
    this.demandBytes += bytes;
  }

  /** A packet this tier refused still counts as demand, so a proxy starved by a stale share asks for more. */
  refused(bytes: number): void {
    this.demandPackets++;
    this.demandBytes += bytes;
  }

  /** Milliseconds until a packet of `bytes` can pass; Infinity when the share cannot ever pay it. */
  waitMs(bytes: number): number {
    let wait = 0;
    if (this.packetsOn)
      wait = Math.max(wait, missingMs(1, this.packetTokens, this.packetBurst, this.packetRatePerMs));
    if (this.bytesOn)
      wait = Math.max(wait, missingMs(bytes, this.byteTokens, this.byteBurst, this.byteRatePerMs));
    return wait;
  }

  resetCounts(): void {
    this.allowedPackets = 0;
    this.allowedBytes = 0;
    this.demandPackets = 0;
    this.demandBytes = 0;
  }
}

function missingMs(cost: number, tokens: number, burst: number, ratePerMs: number): number {
  if (cost > burst + epsilon || ratePerMs <= 0) return Number.POSITIVE_INFINITY;
  const missing = cost - tokens;
  return missing <= epsilon ? 0 : Math.ceil(missing / ratePerMs - 1e-6);
}
