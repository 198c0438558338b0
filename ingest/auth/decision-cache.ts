import { createHmac, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { DeviceAcls } from './acl.js';
import type { PasswordInput } from './password.js';

/**
 * Auth decisions cached in Redis, shared by every proxy.
 *
 * Keys (one hash tag per device, so a Redis Cluster keeps a device's keys on one slot):
 *   <prefix>{<client id>}:epoch          random token; replaced to invalidate the device
 *   <prefix>{<client id>}:d:<credential> "<epoch>\n<decision JSON>", expires after the TTL
 * <credential> is HMAC-SHA256(secret, client id, user name, password | certificate CN): the key
 * binds the exact credentials, and neither the password nor its stored hash is ever written. A
 * leaked cache gives an attacker nothing to test guesses against without the secret.
 *
 * A decision counts only while its epoch equals the device's current epoch. Epochs are random and
 * never reused, so a lost or evicted epoch key turns every cached decision into a miss (safe), and
 * the store is a compare-and-set against the epoch read before the DB lookup, so a decision computed
 * from a row that was disabled meanwhile is never stored.
 *
 * An invalidation is also published on `<prefix>invalidations` (the client id as the message), so
 * every proxy drops the device from its in-process cache (local-cache.ts) at once.
 *
 * Past its TTL a password decision is kept for `revalidateSeconds` more, with the fingerprint of the
 * device row its password check was made against (an HMAC of client id, user name and stored hash).
 * A lookup then reports it as expired: the authenticator reads the row again, and if the row still
 * has that fingerprint the password check stands (a changed password always changes the hash, whose
 * salt is new), so only the row's enabled flag and ACLs are taken afresh and no scrypt runs. A fleet
 * whose decisions were cached together thus expires into device-DB reads, not a burst of KDF work.
 */
export type CachedDenyReason = 'unknown_device' | 'bad_credentials' | 'disabled';

export type CachedDecision =
  | { readonly allow: true; readonly acls: DeviceAcls }
  | { readonly allow: false; readonly reason: CachedDenyReason };

export interface CredentialMaterial {
  readonly clientId: string;
  readonly username?: string | undefined;
  readonly password?: PasswordInput | undefined;
  /** Certificate subject CN, in certificate identity mode. */
  readonly certificateCn?: string | undefined;
}

export interface CacheLookup {
  readonly decision: CachedDecision | undefined;
  /** The device's epoch at lookup time (null: none yet); pass it back to `store`. */
  readonly epoch: string | null;
  /** With a decision: milliseconds it has left to live, so a copy kept elsewhere does not outlive it. */
  readonly remainingMs?: number;
  /** Without a decision: one past its TTL, still of this epoch, that a device row can revalidate. */
  readonly expired?: ExpiredDecision;
}

/** A password decision past its TTL, and the fingerprint of the device row it was checked against. */
export interface ExpiredDecision {
  readonly decision: CachedDecision;
  readonly row: string;
}

/** What of a device row a password check depends on; undefined: no such device. */
export interface CheckedRow {
  readonly username: string;
  readonly passwordHash: string;
}

/**
 * What the authenticator needs from a cache: a Redis implementation below, an in-memory one in
 * memory-decision-cache.ts, both held to test/contract/decision-cache.contract.ts.
 */
export interface DecisionCache {
  lookup(credentials: CredentialMaterial): Promise<CacheLookup>;
  /** `row`: the fingerprint of the row a password check was made against (`rowFingerprint`). */
  store(
    credentials: CredentialMaterial,
    epoch: string | null,
    decision: CachedDecision,
    row?: string,
  ): Promise<void>;
  /** Fingerprint of the device row a password check is made against, under this cache's secret. */
  rowFingerprint(clientId: string, row: CheckedRow | undefined): string;
  /** Every decision cached for the device stops counting, and watchers of the feed are told. */
  invalidateDevice(clientId: string): Promise<void>;
}

/** Hears invalidations made anywhere (any proxy, the CLI). */
export interface InvalidationListener {
  /** One device's decisions stopped counting. */
  device(clientId: string): void;
  /** Invalidations may have been missed (the feed was cut): drop everything. */
  all(): void;
}

export interface InvalidationFeed {
  /** Starts telling `listener`; the returned function stops. */
  watch(listener: InvalidationListener): () => void;
}

export interface RedisDecisionCacheOptions {
  /** Key prefix, e.g. "sentinel:auth:"; tests use a unique one. */
  readonly prefix: string;
  readonly ttlSeconds: number;
  /** How long past its TTL a password decision stays for a row to revalidate it (0: none). */
  readonly revalidateSeconds?: number;
  /** HMAC key binding credentials to cache keys; the same on every proxy to share decisions. */
  readonly secret: string | Buffer;
}

/** Keeps an invalidation marker long enough to outlive any lookup that raced with it. */
const invalidationTtlSeconds = 86_400;

// KEYS[1] epoch key, KEYS[2] decision key; ARGV[1] epoch seen at lookup ('' = none), ARGV[2] a fresh
// epoch for a device without one, ARGV[3] decision JSON, ARGV[4] the decision key's lifetime
// (TTL, plus the revalidation window when kept), ARGV[5] the epoch key's, seconds.
const storeScript = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
if not current then current = ARGV[2] end
redis.call('SET', KEYS[1], current, 'EX', tonumber(ARGV[5]))
redis.call('SET', KEYS[2], current .. '\\n' .. ARGV[3], 'EX', tonumber(ARGV[4]))
return 1
`;

function newEpoch(): string {
  return randomBytes(12).toString('base64url');
}

function field(hmac: ReturnType<typeof createHmac>, value: PasswordInput | undefined): void {
  const bytes =
    value === undefined ? undefined : typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const header = Buffer.alloc(5);
  header[0] = bytes === undefined ? 0 : 1;
  header.writeUInt32BE(bytes?.length ?? 0, 1);
  hmac.update(header);
  if (bytes) hmac.update(bytes);
}

/** HMAC over length-prefixed fields, so ("ab", "c") and ("a", "bc") never share a tag. */
export function credentialTag(secret: string | Buffer, credentials: CredentialMaterial): string {
  const hmac = createHmac('sha256', secret);
  hmac.update('sentinel-auth-v1');
  field(hmac, credentials.clientId);
  field(hmac, credentials.username);
  field(hmac, credentials.password);
  field(hmac, credentials.certificateCn);
  return hmac.digest('base64url');
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

const denyReasons: readonly string[] = ['unknown_device', 'bad_credentials', 'disabled'];

/** Reads a stored decision; anything unexpected is a miss, never an allow. */
export function parseCachedDecision(json: string): CachedDecision | undefined {
  return decisionFrom(parseJson(json));
}

function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

function decisionFrom(value: unknown): CachedDecision | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.allow === true) {
    const acls = record.acls as Record<string, unknown> | undefined;
    if (!acls || !isStringArray(acls.publish) || !isStringArray(acls.subscribe)) return undefined;
    return { allow: true, acls: { publish: acls.publish, subscribe: acls.subscribe } };
  }
  if (record.allow === false && typeof record.reason === 'string' && denyReasons.includes(record.reason)) {
    return { allow: false, reason: record.reason as CachedDenyReason };
  }
  return undefined;
}

/** What a decision key holds after the epoch: the decision, and when kept past its TTL, why. */
interface StoredDecision {
  readonly decision: CachedDecision;
  /** Fingerprint of the device row the password check was made against. */
  readonly row?: string;
  /** Seconds the key outlives the decision's TTL (the writer's revalidation window). */
  readonly keep?: number;
}

/** The decision key's value (after the epoch), its lifetime and the epoch key's, in seconds. */
export function encodeStoredDecision(
  decision: CachedDecision,
  row: string | undefined,
  ttlSeconds: number,
  revalidateSeconds: number,
): { readonly json: string; readonly lifetimeSeconds: number; readonly epochLifetimeSeconds: number } {
  const keep = row === undefined ? 0 : revalidateSeconds;
  const json = JSON.stringify(keep > 0 ? { ...decision, row, keep } : decision);
  // The epoch outlives every decision stored against it, so none is read as "no epoch yet".
  return { json, lifetimeSeconds: ttlSeconds + keep, epochLifetimeSeconds: 2 * ttlSeconds + keep };
}

/**
 * A lookup's answer from the device's epoch, the decision key's value and the milliseconds that key
 * has left: fresh while more than its revalidation window is left, expired (revalidatable) after.
 * Anything unexpected is a miss.
 */
export function readStoredDecision(
  epoch: string | null,
  stored: string | null | undefined,
  remainingMs: number,
): CacheLookup {
  if (epoch === null) return { decision: undefined, epoch: null };
  if (!stored?.startsWith(`${epoch}\n`)) return { decision: undefined, epoch };
  const found = parseStoredDecision(stored.slice(epoch.length + 1));
  if (!found || remainingMs <= 0) return { decision: undefined, epoch };
  const keepMs = (found.keep ?? 0) * 1000;
  if (remainingMs > keepMs) return { decision: found.decision, epoch, remainingMs: remainingMs - keepMs };
  return found.row === undefined
    ? { decision: undefined, epoch }
    : { decision: undefined, epoch, expired: { decision: found.decision, row: found.row } };
}

function parseStoredDecision(json: string): StoredDecision | undefined {
  const value = parseJson(json);
  const decision = decisionFrom(value);
  if (!decision) return undefined;
  const { row, keep } = value as Record<string, unknown>;
  if (typeof row === 'string' && typeof keep === 'number' && Number.isInteger(keep) && keep > 0)
    return { decision, row, keep };
  return { decision };
}

/** HMAC of what a password check depends on in the device row; "no such device" has one too. */
export function rowFingerprint(
  secret: string | Buffer,
  clientId: string,
  row: CheckedRow | undefined,
): string {
  const hmac = createHmac('sha256', secret);
  hmac.update('sentinel-auth-row-v1');
  field(hmac, clientId);
  field(hmac, row?.username);
  field(hmac, row?.passwordHash);
  return hmac.digest('base64url');
}

export class RedisDecisionCache implements DecisionCache {
  constructor(
    private readonly redis: Redis,
    private readonly options: RedisDecisionCacheOptions,
  ) {}

  epochKey(clientId: string): string {
    return `${this.options.prefix}{${clientId}}:epoch`;
  }

  decisionKey(credentials: CredentialMaterial): string {
    return `${this.options.prefix}{${credentials.clientId}}:d:${credentialTag(this.options.secret, credentials)}`;
  }

  async lookup(credentials: CredentialMaterial): Promise<CacheLookup> {
    const decisionKey = this.decisionKey(credentials);
    // One round trip: both keys, and what the decision has left to live.
    const replies = await this.redis
      .pipeline()
      .mget(this.epochKey(credentials.clientId), decisionKey)
      .pttl(decisionKey)
      .exec();
    const [[mgetError, values] = [], [pttlError, pttl] = []] = replies ?? [];
    if (mgetError || pttlError || !replies) {
      throw mgetError ?? pttlError ?? new Error('Redis answered no replies to the lookup');
    }
    const [epoch, stored] = values as Array<string | null>;
    // PTTL: -1 no expiry (never written so), -2 gone since the MGET; either way a miss.
    const remainingMs = typeof pttl === 'number' ? Math.max(0, pttl) : 0;
    return readStoredDecision(epoch ?? null, stored, remainingMs);
  }

  async store(
    credentials: CredentialMaterial,
    epoch: string | null,
    decision: CachedDecision,
    row?: string,
  ): Promise<void> {
    const { ttlSeconds, revalidateSeconds = 0 } = this.options;
    const stored = encodeStoredDecision(decision, row, ttlSeconds, revalidateSeconds);
    await this.redis.eval(
      storeScript,
      2,
      this.epochKey(credentials.clientId),
      this.decisionKey(credentials),
      epoch ?? '',
      newEpoch(),
      stored.json,
      stored.lifetimeSeconds,
      stored.epochLifetimeSeconds,
    );
  }

  rowFingerprint(clientId: string, row: CheckedRow | undefined): string {
    return rowFingerprint(this.options.secret, clientId, row);
  }

  /** The channel invalidations are published on. */
  get invalidationChannel(): string {
    return invalidationChannel(this.options.prefix);
  }

  /**
   * Every decision cached for the device stops counting at once (disable, enable, add), in Redis
   * and, through the invalidation channel, in every proxy's memory. The epoch is replaced before the
   * message goes out, so a proxy that hears it and asks Redis again finds the new epoch.
   */
  async invalidateDevice(clientId: string): Promise<void> {
    const replies = await this.redis
      .multi()
      .set(this.epochKey(clientId), newEpoch(), 'EX', invalidationTtlSeconds)
      .publish(this.invalidationChannel, clientId)
      .exec();
    const failed = replies?.find(([err]) => err)?.[0];
    if (!replies || failed) throw failed ?? new Error('Redis discarded the invalidation transaction');
  }
}

export function invalidationChannel(prefix: string): string {
  return `${prefix}invalidations`;
}

/**
 * The invalidation channel, heard over a subscriber connection of its own. Redis Pub/Sub delivers at
 * most once: a message sent while the connection is down is lost. So when the connection comes back
 * the listeners are told to drop everything (`all`); between the cut and that moment, an entry kept
 * in memory ends with its TTL at the latest, which is the bound docs/ingest-auth.md states.
 */
/** What the feed uses of its ioredis subscriber connection (a fake one in unit tests). */
export interface SubscriberConnection {
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'close' | 'ready', listener: () => void): unknown;
  subscribe(channel: string): Promise<unknown>;
}

export class RedisInvalidationFeed implements InvalidationFeed {
  readonly #listeners = new Set<InvalidationListener>();
  readonly #channel: string;
  #cut = false;

  constructor(
    private readonly subscriber: SubscriberConnection,
    prefix: string,
  ) {
    this.#channel = invalidationChannel(prefix);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      for (const listener of this.#listeners) listener.device(message);
    });
    subscriber.on('close', () => {
      this.#cut = true;
    });
    // ioredis subscribes again after it reports ready; our own SUBSCRIBE is answered after its one,
    // so once it is, the channel is live again and whatever came before is dropped by `all`.
    subscriber.on('ready', () => {
      if (!this.#cut) return;
      this.#cut = false;
      subscriber.subscribe(this.#channel).then(
        () => {
          for (const listener of this.#listeners) listener.all();
        },
        () => {
          this.#cut = true;
        },
      );
    });
  }

  /** Subscribes; resolves once Redis confirmed the subscription. */
  async start(): Promise<void> {
    await this.subscriber.subscribe(this.#channel);
  }

  watch(listener: InvalidationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export interface CacheRedisOptions {
  /** Per-command deadline, milliseconds: a slow Redis is treated as a down one. */
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs?: number;
}

/**
 * A Redis client for the auth cache that fails fast instead of queueing: with Redis away, commands
 * reject at once and auth falls through to the device DB; it keeps reconnecting in the background.
 */
export function createCacheRedis(url: string, options: CacheRedisOptions): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Failures surface on each command (and in sentinel_auth_cache_up); the event itself is not news.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * The subscriber connection of `RedisInvalidationFeed`: no command deadline (a subscription waits
 * for messages by design) and a queue for the SUBSCRIBE sent before the connection is up.
 */
export function createInvalidationSubscriber(url: string): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  redis.on('error', () => undefined);
  return redis;
}
