import { type ConfigOf, settings } from '../../lib/config.js';
import { stackSchema } from '../../lib/local-platform.js';
import { defaultScryptParams, type ScryptParams, scryptLimits } from './password.js';

/**
 * Settings of device authentication (the ingest edge and `sentinel devices`). The DB and Redis
 * addresses are the platform's own settings, shared with the rest of the stack.
 */
export const authSchema = {
  mysqlUrl: stackSchema.mysqlUrl,
  redisUrl: stackSchema.redisUrl,
  identity: settings.oneOf(
    'SENTINEL_AUTH_IDENTITY',
    'password',
    ['password', 'certificate'] as const,
    'how a device proves who it is: user name + password against the device DB, or a TLS client certificate whose subject CN equals its client id',
  ),
  cacheTtlSeconds: settings.int(
    'SENTINEL_AUTH_CACHE_TTL_SECONDS',
    60,
    'how long an auth decision (allow or deny) is reused from Redis before the device DB is asked again',
    { min: 1, max: 86_400, unit: 's' },
  ),
  cacheRevalidateSeconds: settings.int(
    'SENTINEL_AUTH_CACHE_REVALIDATE_SECONDS',
    3600,
    "how long past its TTL a password decision stays in Redis with the fingerprint of the device row it was checked against: a CONNECT then reads the row, and while the row's user name and password hash are unchanged the password is not checked again (enabled and ACLs are taken from the row); 0 checks the password at every expiry",
    { min: 0, max: 604_800, unit: 's' },
  ),
  cachePrefix: settings.string(
    'SENTINEL_AUTH_CACHE_PREFIX',
    'sentinel:auth:',
    'Redis key prefix of cached auth decisions',
    { pattern: /^[A-Za-z0-9:._-]{1,64}$/ },
  ),
  cacheSecret: settings.string(
    'SENTINEL_AUTH_CACHE_SECRET',
    '',
    'HMAC key that binds cached decisions to credentials; at least 32 characters, the same on every proxy. Empty: a random key per process (decisions are then not shared between proxies)',
    { secret: true, pattern: /^(|.{32,})$/ },
  ),
  cacheTimeoutMs: settings.int(
    'SENTINEL_AUTH_CACHE_TIMEOUT_MS',
    50,
    'deadline of one Redis command on the CONNECT path; past it the cache counts as down and auth asks the device DB',
    { min: 1, max: 10_000, unit: 'ms' },
  ),
  localCacheTtlSeconds: settings.int(
    'SENTINEL_AUTH_LOCAL_CACHE_TTL_SECONDS',
    10,
    "how long a decision is reused from the proxy's own memory without asking Redis; also the longest a revoked device can still connect from it if the invalidation message is lost (at most SENTINEL_AUTH_CACHE_TTL_SECONDS; 0 turns the in-process cache off)",
    { min: 0, max: 86_400, unit: 's' },
  ),
  localCacheDevices: settings.int(
    'SENTINEL_AUTH_LOCAL_CACHE_DEVICES',
    20_000,
    'devices whose allow the in-process cache keeps, least recently used first out (~650 B each, measured); the default covers every connection one process can hold (20,000 open files)',
    { min: 1, max: 10_000_000 },
  ),
  localCacheDeniedDevices: settings.int(
    'SENTINEL_AUTH_LOCAL_CACHE_DENIED_DEVICES',
    5_000,
    'devices whose denials the in-process cache keeps, apart from allows so failing devices cannot push them out',
    { min: 1, max: 10_000_000 },
  ),
  kdfConcurrency: settings.int(
    'SENTINEL_AUTH_KDF_CONCURRENCY',
    2,
    'password verifications (scrypt) run at once; keep it under the libuv thread pool size (UV_THREADPOOL_SIZE, default 4) and near the cores this process may use',
    { min: 1, max: 64 },
  ),
  kdfQueue: settings.int(
    'SENTINEL_AUTH_KDF_QUEUE',
    4000,
    'password verifications that may wait for a slot; past it an uncached CONNECT gets CONNACK 0x03 (server unavailable) at once. It bounds memory; time is bounded apart from it: a verification predicted to end after its device stops waiting (the CONNECT deadline) is refused the same way, so a count high enough for a fleet reconnecting at once never turns into CONNECT timeouts',
    { min: 0, max: 100_000 },
  ),
  addressFailureBurst: settings.int(
    'SENTINEL_AUTH_ADDRESS_FAILURE_BURST',
    0,
    'failed password checks a source address (IPv6: its /64) may have in a row before its uncached CONNECTs are refused (CONNACK 0x03) without a DB lookup or scrypt; 0 (the default) turns the tier off: every device behind the address (a NAT, a gateway, a test host) is refused with it, so turn it on where devices have addresses of their own',
    { min: 0, max: 100_000 },
  ),
  addressFailuresPerMinute: settings.int(
    'SENTINEL_AUTH_ADDRESS_FAILURES_PER_MINUTE',
    6,
    'failed password checks forgiven per source address and minute (the sustained rate a guesser gets)',
    { min: 1, max: 1_000_000 },
  ),
  addressFailureTracked: settings.int(
    'SENTINEL_AUTH_ADDRESS_FAILURE_TRACKED',
    50_000,
    'source addresses the failure tier remembers at most (bounded memory; idle ones go first)',
    { min: 1, max: 10_000_000 },
  ),
  dbTimeoutMs: settings.int(
    'SENTINEL_AUTH_DB_TIMEOUT_MS',
    2000,
    'connect and query deadline of the device DB; past it the CONNECT is refused (fail closed)',
    { min: 50, max: 60_000, unit: 'ms' },
  ),
  scryptLog2N: settings.int(
    'SENTINEL_AUTH_SCRYPT_LOG2N',
    defaultScryptParams.log2N,
    'scrypt cost of new password hashes, log2 of N (memory = 128 * N * r bytes); existing hashes keep theirs',
    scryptLimits.log2N,
  ),
  scryptR: settings.int(
    'SENTINEL_AUTH_SCRYPT_R',
    defaultScryptParams.r,
    'scrypt block size r of new password hashes',
    scryptLimits.r,
  ),
  scryptP: settings.int(
    'SENTINEL_AUTH_SCRYPT_P',
    defaultScryptParams.p,
    'scrypt parallelisation p of new password hashes',
    scryptLimits.p,
  ),
} as const;

export type AuthConfig = ConfigOf<typeof authSchema>;

export function scryptParamsOf(
  config: Pick<AuthConfig, 'scryptLog2N' | 'scryptR' | 'scryptP'>,
): ScryptParams {
  return { log2N: config.scryptLog2N, r: config.scryptR, p: config.scryptP };
}
