import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { describeError, isSentinelError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { DeviceAcls } from './acl.js';
import type {
  CachedDecision,
  CachedDenyReason,
  CredentialMaterial,
  DecisionCache,
} from './decision-cache.js';
import type { DeviceDirectory } from './device-store.js';
import {
  createDummyHash,
  defaultScryptParams,
  type PasswordInput,
  type ScryptParams,
  verifyPassword,
} from './password.js';

/**
 * The CONNECT auth decision: Redis decision cache, then the device DB.
 *
 * Failure policy (brief): Redis unreachable -> the device DB decides (sentinel_auth_cache_up 0, one
 * log line per change); device DB unreachable -> only a cached decision is used, otherwise the
 * CONNECT is refused (fail closed) with result "error" and CONNACK 0x03 (server unavailable), so
 * well-behaved devices retry later instead of treating it as bad credentials.
 */
export type AuthResult = 'allowed' | 'denied' | 'cache_hit' | 'error';

export type AuthDenyReason =
  | CachedDenyReason
  | 'no_credentials'
  | 'identity_mismatch'
  | 'device_db_unavailable'
  | 'hash_invalid';

export type IdentityMode = 'password' | 'certificate';

export interface AuthRequest {
  readonly clientId: string;
  readonly username?: string | undefined;
  readonly password?: PasswordInput | undefined;
  /** Subject CN of a verified TLS client certificate, when the TLS layer has one. */
  readonly certificateCn?: string | undefined;
}

export type AuthDecision =
  | { readonly allow: true; readonly result: AuthResult; readonly acls: DeviceAcls; readonly connackCode: 0 }
  | {
      readonly allow: false;
      readonly result: AuthResult;
      readonly reason: AuthDenyReason;
      /** MQTT 3.1.1 §3.2.2.3: 0x05 not authorised, 0x03 server unavailable. */
      readonly connackCode: 3 | 5;
    };

export interface AuthMetrics {
  readonly requests: Counter<'result'>;
  readonly duration: Histogram<'result'>;
  readonly denials: Counter<'reason'>;
  readonly cacheUp: Gauge;
  readonly deviceDbUp: Gauge;
}

/** Declares the auth metrics in `registry`; a second authenticator on the same registry shares them. */
export function declareAuthMetrics(registry: Registry): AuthMetrics {
  const registers = [registry];
  const reuse = <T>(name: string, make: (name: string) => T): T =>
    (registry.getSingleMetric(name) as T | undefined) ?? make(name);
  return {
    requests: reuse(
      'sentinel_auth_requests_total',
      (name) =>
        new Counter({
          name,
          help: 'CONNECT auth decisions by result: allowed, denied (device DB), cache_hit (either way), error (fail closed)',
          labelNames: ['result'],
          registers,
        }),
    ),
    duration: reuse(
      'sentinel_auth_duration_seconds',
      (name) =>
        new Histogram({
          name,
          help: 'Time to decide a CONNECT, by result',
          labelNames: ['result'],
          buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1],
          registers,
        }),
    ),
    denials: reuse(
      'sentinel_auth_denials_total',
      (name) => new Counter({ name, help: 'Refused CONNECTs by reason', labelNames: ['reason'], registers }),
    ),
    cacheUp: reuse(
      'sentinel_auth_cache_up',
      (name) =>
        new Gauge({
          name,
          help: '1 if the last auth cache operation reached Redis, 0 if auth is falling through to the device DB',
          registers,
        }),
    ),
    deviceDbUp: reuse(
      'sentinel_auth_device_db_up',
      (name) =>
        new Gauge({
          name,
          help: '1 if the last device DB lookup answered, 0 if uncached CONNECTs are refused',
          registers,
        }),
    ),
  };
}

/**
 * Certificate identity mode: the TLS layer verified the chain; the device is who the certificate
 * names only if its client id is exactly the subject CN.
 */
export function certificateIdentityMatches(clientId: string, subjectCn: string | undefined): boolean {
  return subjectCn !== undefined && subjectCn.length > 0 && clientId === subjectCn;
}

export interface AuthenticatorDeps {
  readonly devices: DeviceDirectory;
  /** Undefined runs without a cache (every CONNECT asks the device DB). */
  readonly cache: DecisionCache | undefined;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Verified against when a device does not exist; see `createDummyHash`. */
  readonly dummyHash: string;
  readonly identity?: IdentityMode;
}

type Health = 'up' | 'down' | 'unknown';

export class Authenticator {
  private readonly metrics: AuthMetrics;
  private readonly identity: IdentityMode;
  private cacheHealth: Health = 'unknown';
  private dbHealth: Health = 'unknown';

  constructor(private readonly deps: AuthenticatorDeps) {
    this.metrics = declareAuthMetrics(deps.registry);
    this.identity = deps.identity ?? 'password';
    this.metrics.cacheUp.set(deps.cache ? 1 : 0);
    this.metrics.deviceDbUp.set(1);
  }

  async authenticate(request: AuthRequest): Promise<AuthDecision> {
    const started = process.hrtime.bigint();
    const decision = await this.decide(request);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.requests.inc({ result: decision.result });
    this.metrics.duration.observe({ result: decision.result }, seconds);
    if (!decision.allow) this.metrics.denials.inc({ reason: decision.reason });
    return decision;
  }

  private async decide(request: AuthRequest): Promise<AuthDecision> {
    let credentials: CredentialMaterial;
    if (this.identity === 'certificate') {
      if (!certificateIdentityMatches(request.clientId, request.certificateCn)) {
        return deny('identity_mismatch', 'denied');
      }
      credentials = { clientId: request.clientId, certificateCn: request.certificateCn };
    } else {
      if (request.username === undefined || request.password === undefined)
        return deny('no_credentials', 'denied');
      credentials = { clientId: request.clientId, username: request.username, password: request.password };
    }

    const cache = this.deps.cache;
    // undefined: the cache cannot be used for this request (none configured, or Redis failed).
    let epoch: string | null | undefined;
    if (cache) {
      try {
        const found = await cache.lookup(credentials);
        this.cacheAnswered();
        if (found.decision) return fromCache(found.decision);
        epoch = found.epoch;
      } catch (err) {
        this.cacheFailed(err);
      }
    }

    let computed: CachedDecision;
    try {
      computed = await this.consultDeviceDb(request);
      this.dbAnswered();
    } catch (err) {
      if (isSentinelError(err, 'SNT_AUTH_HASH_INVALID')) {
        this.deps.logger.error(
          { clientId: request.clientId, err: describeError(err) },
          'auth: stored hash unusable',
        );
        return deny('hash_invalid', 'error');
      }
      this.dbFailed(err);
      return { allow: false, result: 'error', reason: 'device_db_unavailable', connackCode: 3 };
    }

    if (cache && epoch !== undefined) {
      try {
        await cache.store(credentials, epoch, computed);
      } catch (err) {
        this.cacheFailed(err);
      }
    }
    return computed.allow
      ? { allow: true, result: 'allowed', acls: computed.acls, connackCode: 0 }
      : deny(computed.reason, 'denied');
  }

  /** Same work for "no such device" and "wrong password"; "disabled" only once the password is right. */
  private async consultDeviceDb(request: AuthRequest): Promise<CachedDecision> {
    const device = await this.deps.devices.findForAuth(request.clientId);
    if (this.identity === 'certificate') {
      if (!device) return { allow: false, reason: 'unknown_device' };
      if (!device.enabled) return { allow: false, reason: 'disabled' };
      return { allow: true, acls: device.acls };
    }
    const password = request.password ?? '';
    if (!device) {
      await verifyPassword(password, this.deps.dummyHash);
      return { allow: false, reason: 'unknown_device' };
    }
    const passwordOk = await verifyPassword(password, device.passwordHash);
    if (!passwordOk || device.username !== request.username)
      return { allow: false, reason: 'bad_credentials' };
    if (!device.enabled) return { allow: false, reason: 'disabled' };
    return { allow: true, acls: device.acls };
  }

  private cacheAnswered(): void {
    if (this.cacheHealth !== 'up') {
      if (this.cacheHealth === 'down') this.deps.logger.info('auth: Redis decision cache reachable again');
      this.cacheHealth = 'up';
      this.metrics.cacheUp.set(1);
    }
  }

  private cacheFailed(err: unknown): void {
    if (this.cacheHealth !== 'down') {
      this.deps.logger.warn(
        { err: describeError(err) },
        'auth: Redis decision cache unreachable; authenticating against the device DB only',
      );
      this.cacheHealth = 'down';
      this.metrics.cacheUp.set(0);
    }
  }

  private dbAnswered(): void {
    if (this.dbHealth !== 'up') {
      if (this.dbHealth === 'down') this.deps.logger.info('auth: device DB reachable again');
      this.dbHealth = 'up';
      this.metrics.deviceDbUp.set(1);
    }
  }

  private dbFailed(err: unknown): void {
    if (this.dbHealth !== 'down') {
      this.deps.logger.error(
        { err: describeError(err) },
        'auth: device DB unreachable; only cached decisions are honoured, other CONNECTs are refused',
      );
      this.dbHealth = 'down';
      this.metrics.deviceDbUp.set(0);
    }
  }
}

function deny(reason: AuthDenyReason, result: AuthResult): AuthDecision {
  return { allow: false, result, reason, connackCode: 5 };
}

function fromCache(decision: CachedDecision): AuthDecision {
  return decision.allow
    ? { allow: true, result: 'cache_hit', acls: decision.acls, connackCode: 0 }
    : deny(decision.reason, 'cache_hit');
}

/** An authenticator with a fresh dummy hash at the cost new passwords get. */
export async function createAuthenticator(
  deps: Omit<AuthenticatorDeps, 'dummyHash'> & { readonly hashParams?: ScryptParams },
): Promise<Authenticator> {
  const dummyHash = await createDummyHash(deps.hashParams ?? defaultScryptParams);
  return new Authenticator({ ...deps, dummyHash });
}
