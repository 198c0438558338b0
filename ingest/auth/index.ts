import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { describeError, SentinelError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { type Authenticator, createAuthenticator } from './authenticator.js';
import {
  createCacheRedis,
  createInvalidationSubscriber,
  RedisDecisionCache,
  RedisInvalidationFeed,
} from './decision-cache.js';
import { createDevicePool, DeviceStore } from './device-store.js';
import { AddressFailureThrottle } from './failure-throttle.js';
import { KdfQueue } from './kdf-queue.js';
import { LocalDecisionCache } from './local-cache.js';
import { type AuthConfig, scryptParamsOf } from './settings.js';

export { type AclIdentity, DeviceAclPolicy, type DeviceAcls, type SubscribeMatch } from './acl.js';
export {
  type AuthDecision,
  type AuthDenyReason,
  Authenticator,
  type AuthRequest,
  type AuthResult,
  certificateIdentityMatches,
  createAuthenticator,
  declareAuthMetrics,
} from './authenticator.js';
export {
  type DecisionCache,
  type InvalidationFeed,
  RedisDecisionCache,
  RedisInvalidationFeed,
} from './decision-cache.js';
export {
  type DeviceDirectory,
  type DeviceRegistry,
  DeviceStore,
  type DeviceSummary,
  type NewDevice,
} from './device-store.js';
export { AddressFailureThrottle } from './failure-throttle.js';
export { KdfQueue } from './kdf-queue.js';
export { LocalDecisionCache } from './local-cache.js';
export { hashPassword, type ScryptParams, verifyPassword } from './password.js';
export { type AuthConfig, authSchema } from './settings.js';

export interface OpenAuth {
  readonly authenticator: Authenticator;
  readonly devices: DeviceStore;
  readonly cache: RedisDecisionCache;
  close(): Promise<void>;
}

/** Wires the authenticator to the device DB and Redis named in config (for an ingest main). */
export async function openAuth(
  config: AuthConfig,
  deps: { readonly registry: Registry; readonly logger: Logger },
): Promise<OpenAuth> {
  checkAuthConfig(config);
  const pool = createDevicePool(config.mysqlUrl, { timeoutMs: config.dbTimeoutMs });
  const redis = createCacheRedis(config.redisUrl, { commandTimeoutMs: config.cacheTimeoutMs });
  // Give Redis a moment so the first CONNECTs do not report it down; starting without it is allowed.
  await Promise.race([once(redis, 'ready'), setTimeout(2000, undefined, { ref: false })]).catch(
    () => undefined,
  );
  let secret: string | Buffer = config.cacheSecret;
  if (secret === '') {
    deps.logger.warn(
      'auth: SENTINEL_AUTH_CACHE_SECRET is not set; using a random key, so cached decisions are not shared between proxies',
    );
    secret = randomBytes(32);
  }
  const cache = new RedisDecisionCache(redis, {
    prefix: config.cachePrefix,
    ttlSeconds: config.cacheTtlSeconds,
    revalidateSeconds: config.cacheRevalidateSeconds,
    secret,
  });
  const devices = new DeviceStore(pool, {
    hashParams: scryptParamsOf(config),
    queryTimeoutMs: config.dbTimeoutMs,
  });
  const now = () => performance.now();
  const local =
    config.localCacheTtlSeconds > 0
      ? new LocalDecisionCache({
          ttlMs: config.localCacheTtlSeconds * 1000,
          maxAllowedDevices: config.localCacheDevices,
          maxDeniedDevices: config.localCacheDeniedDevices,
          now,
          registry: deps.registry,
        })
      : undefined;
  // Once a TTL, so a fleet that connected and stays connected does not keep its decisions in memory.
  const localSweep =
    local === undefined
      ? undefined
      : setInterval(() => local.dropExpired(), config.localCacheTtlSeconds * 1000).unref();
  const authenticator = await createAuthenticator({
    devices,
    cache,
    ...(local === undefined ? {} : { local }),
    kdf: new KdfQueue({
      concurrency: config.kdfConcurrency,
      maxQueued: config.kdfQueue,
      registry: deps.registry,
    }),
    throttle: new AddressFailureThrottle({
      burst: config.addressFailureBurst,
      perMinute: config.addressFailuresPerMinute,
      maxAddresses: config.addressFailureTracked,
      now,
    }),
    registry: deps.registry,
    logger: deps.logger,
    identity: config.identity,
    hashParams: scryptParamsOf(config),
  });
  // Revocations reach this proxy's memory over Redis Pub/Sub (`sentinel devices` publishes them).
  const subscriber = createInvalidationSubscriber(config.redisUrl);
  const feed = new RedisInvalidationFeed(subscriber, config.cachePrefix);
  feed.watch({
    device: (clientId) => authenticator.invalidateDevice(clientId),
    all: () => authenticator.invalidateAll(),
  });
  feed.start().catch((err: unknown) => {
    deps.logger.warn(
      { err: describeError(err) },
      `auth: not subscribed to cache invalidations; a revoked device may connect from this proxy's memory for up to ${config.localCacheTtlSeconds} s`,
    );
  });
  return {
    authenticator,
    devices,
    cache,
    async close() {
      clearInterval(localSweep);
      subscriber.disconnect();
      redis.disconnect();
      await pool.end();
    },
  };
}

/** Settings that bound each other; each alone was checked by the schema. */
export function checkAuthConfig(config: AuthConfig): void {
  if (config.localCacheTtlSeconds > config.cacheTtlSeconds) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `setting SENTINEL_AUTH_LOCAL_CACHE_TTL_SECONDS (${config.localCacheTtlSeconds}) must not exceed SENTINEL_AUTH_CACHE_TTL_SECONDS (${config.cacheTtlSeconds}): a decision kept in memory would outlive the cache lifetime operators are told about`,
    );
  }
}
