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
}

/** What the authenticator needs from a cache; a Redis implementation below. */
export interface DecisionCache {
  lookup(credentials: CredentialMaterial): Promise<CacheLookup>;
  store(credentials: CredentialMaterial, epoch: string | null, decision: CachedDecision): Promise<void>;
  invalidateDevice(clientId: string): Promise<void>;
}

export interface RedisDecisionCacheOptions {
  /** Key prefix, e.g. "sentinel:auth:"; tests use a unique one. */
  readonly prefix: string;
  readonly ttlSeconds: number;
  /** HMAC key binding credentials to cache keys; the same on every proxy to share decisions. */
  readonly secret: string | Buffer;
}

/** Keeps an invalidation marker long enough to outlive any lookup that raced with it. */
const invalidationTtlSeconds = 86_400;

// KEYS[1] epoch key, KEYS[2] decision key; ARGV[1] epoch seen at lookup ('' = none), ARGV[2] a fresh
// epoch for a device without one, ARGV[3] decision JSON, ARGV[4] TTL seconds.
const storeScript = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
if not current then current = ARGV[2] end
redis.call('SET', KEYS[1], current, 'EX', tonumber(ARGV[4]) * 2)
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
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
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
    const [epoch, stored] = await this.redis.mget(
      this.epochKey(credentials.clientId),
      this.decisionKey(credentials),
    );
    if (epoch === null || epoch === undefined) return { decision: undefined, epoch: null };
    if (!stored?.startsWith(`${epoch}\n`)) return { decision: undefined, epoch };
    return { decision: parseCachedDecision(stored.slice(epoch.length + 1)), epoch };
  }

  async store(
    credentials: CredentialMaterial,
    epoch: string | null,
    decision: CachedDecision,
  ): Promise<void> {
    await this.redis.eval(
      storeScript,
      2,
      this.epochKey(credentials.clientId),
      this.decisionKey(credentials),
      epoch ?? '',
      newEpoch(),
      JSON.stringify(decision),
      this.options.ttlSeconds,
    );
  }

  /** Every decision cached for the device stops counting at once (disable, enable, add). */
  async invalidateDevice(clientId: string): Promise<void> {
    await this.redis.set(this.epochKey(clientId), newEpoch(), 'EX', invalidationTtlSeconds);
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
