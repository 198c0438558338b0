import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/log.js';
import { type Authenticator, createAuthenticator } from './authenticator.js';
import { createCacheRedis, RedisDecisionCache } from './decision-cache.js';
import { createDevicePool, DeviceStore } from './device-store.js';
import { type AuthConfig, scryptParamsOf } from './settings.js';

export { type AclIdentity, DeviceAclPolicy, type DeviceAcls } from './acl.js';
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
export { type DecisionCache, RedisDecisionCache } from './decision-cache.js';
export { type DeviceDirectory, DeviceStore, type DeviceSummary, type NewDevice } from './device-store.js';
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
    secret,
  });
  const devices = new DeviceStore(pool, {
    hashParams: scryptParamsOf(config),
    queryTimeoutMs: config.dbTimeoutMs,
  });
  const authenticator = await createAuthenticator({
    devices,
    cache,
    registry: deps.registry,
    logger: deps.logger,
    identity: config.identity,
    hashParams: scryptParamsOf(config),
  });
  return {
    authenticator,
    devices,
    cache,
    async close() {
      redis.disconnect();
      await pool.end();
    },
  };
}
