import { randomBytes } from 'node:crypto';
import {
  type CachedDecision,
  type CacheLookup,
  type CheckedRow,
  type CredentialMaterial,
  credentialTag,
  type DecisionCache,
  encodeStoredDecision,
  type InvalidationFeed,
  type InvalidationListener,
  readStoredDecision,
  rowFingerprint,
} from './decision-cache.js';

/**
 * The Redis decision cache's test double: the same epochs, compare-and-set, TTLs and invalidation
 * feed, in a Map and on a clock the test drives. test/contract/decision-cache.contract.ts holds it
 * and `RedisDecisionCache` to one specification, so a unit test passing against it means the same
 * against Redis.
 */
export interface MemoryDecisionCacheOptions {
  readonly ttlSeconds: number;
  /** As `RedisDecisionCacheOptions.revalidateSeconds`. */
  readonly revalidateSeconds?: number;
  /** Wall-clock milliseconds; Date.now unless a test drives it. */
  readonly now?: () => number;
}

interface Stored {
  readonly value: string;
  readonly expiresAt: number;
}

/** As `RedisDecisionCache`: an invalidation marker outlives any lookup that raced with it. */
const invalidationTtlMs = 86_400_000;

export class MemoryDecisionCache implements DecisionCache, InvalidationFeed {
  /** While true every operation fails, as with Redis unreachable or past its deadline. */
  down = false;
  readonly #keys = new Map<string, Stored>();
  readonly #listeners = new Set<InvalidationListener>();
  readonly #secret = randomBytes(32);
  readonly #now: () => number;

  constructor(private readonly options: MemoryDecisionCacheOptions) {
    this.#now = options.now ?? Date.now;
  }

  async lookup(credentials: CredentialMaterial): Promise<CacheLookup> {
    this.#reachable();
    const epoch = this.#get(this.#epochKey(credentials.clientId));
    const stored = this.#get(this.#decisionKey(credentials));
    const remainingMs = stored ? stored.expiresAt - this.#now() : 0;
    return readStoredDecision(epoch?.value ?? null, stored?.value, remainingMs);
  }

  async store(
    credentials: CredentialMaterial,
    epoch: string | null,
    decision: CachedDecision,
    row?: string,
  ): Promise<void> {
    this.#reachable();
    const epochKey = this.#epochKey(credentials.clientId);
    const current = this.#get(epochKey)?.value;
    if ((current ?? '') !== (epoch ?? '')) return;
    const value = current ?? randomBytes(12).toString('base64url');
    const { ttlSeconds, revalidateSeconds = 0 } = this.options;
    const { json, lifetimeSeconds, epochLifetimeSeconds } = encodeStoredDecision(
      decision,
      row,
      ttlSeconds,
      revalidateSeconds,
    );
    this.#keys.set(epochKey, { value, expiresAt: this.#now() + epochLifetimeSeconds * 1000 });
    this.#keys.set(this.#decisionKey(credentials), {
      value: `${value}\n${json}`,
      expiresAt: this.#now() + lifetimeSeconds * 1000,
    });
  }

  rowFingerprint(clientId: string, row: CheckedRow | undefined): string {
    return rowFingerprint(this.#secret, clientId, row);
  }

  async invalidateDevice(clientId: string): Promise<void> {
    this.#reachable();
    this.#keys.set(this.#epochKey(clientId), {
      value: randomBytes(12).toString('base64url'),
      expiresAt: this.#now() + invalidationTtlMs,
    });
    // Pub/Sub delivers after the publisher's reply, never inside its call.
    const listeners = [...this.#listeners];
    queueMicrotask(() => {
      for (const listener of listeners) listener.device(clientId);
    });
  }

  watch(listener: InvalidationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** What a cut and restored subscription tells the watchers. */
  cutFeed(): void {
    for (const listener of this.#listeners) listener.all();
  }

  #reachable(): void {
    if (this.down) throw new Error('connect ECONNREFUSED (MemoryDecisionCache is down)');
  }

  #get(key: string): Stored | undefined {
    const stored = this.#keys.get(key);
    if (stored && stored.expiresAt <= this.#now()) {
      this.#keys.delete(key);
      return undefined;
    }
    return stored;
  }

  #epochKey(clientId: string): string {
    return `{${clientId}}:epoch`;
  }

  #decisionKey(credentials: CredentialMaterial): string {
    return `{${credentials.clientId}}:d:${credentialTag(this.#secret, credentials)}`;
  }
}
