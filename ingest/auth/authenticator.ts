import { randomBytes } from 'node:crypto';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { describeError, isSentinelError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { DeviceAcls } from './acl.js';
import {
  type CachedDecision,
  type CachedDenyReason,
  type CredentialMaterial,
  credentialTag,
  type DecisionCache,
  type ExpiredDecision,
} from './decision-cache.js';
import type { DeviceCredentials, DeviceDirectory } from './device-store.js';
import type { AddressFailureThrottle } from './failure-throttle.js';
import type { KdfQueue } from './kdf-queue.js';
import type { LocalDecisionCache, LocalFill } from './local-cache.js';
import { metricOf } from './metrics.js';
import {
  createDummyHash,
  defaultScryptParams,
  type PasswordInput,
  type ScryptParams,
  verifyPassword,
} from './password.js';
import { SingleFlight } from './single-flight.js';

/**
 * The CONNECT auth decision, cheapest answer first:
 *   1. the in-process cache (LocalDecisionCache): no I/O at all;
 *   2. the Redis decision cache, shared by every proxy;
 *   3. the device DB and a password verification (scrypt), queued in the KdfQueue, after the
 *      per-address failure tier (AddressFailureThrottle) let the CONNECT spend one.
 * Concurrent CONNECTs with the same credentials share steps 2-3 (single-flight), and concurrent
 * lookups of one device's row share one query, so a reconnect storm costs one decision per device.
 *
 * Failure policy (brief): Redis unreachable or slow -> decisions still come from the in-process
 * cache, misses go to the device DB (sentinel_auth_cache_up 0, one log line per change); device DB
 * unreachable -> only a cached decision is used, otherwise the CONNECT is refused (fail closed) with
 * result "error" and CONNACK 0x03 (server unavailable), so well-behaved devices retry later instead
 * of treating it as bad credentials. The KDF queue full, or the address throttled, refuse the same
 * way: nothing was checked, so the device is told to come back, not that it is wrong.
 */
export type AuthResult = 'allowed' | 'denied' | 'cache_hit' | 'error';

export type AuthDenyReason =
  | CachedDenyReason
  | 'no_credentials'
  | 'identity_mismatch'
  | 'device_db_unavailable'
  | 'hash_invalid'
  | 'kdf_busy'
  | 'address_throttled';

export type IdentityMode = 'password' | 'certificate';

export interface AuthRequest {
  readonly clientId: string;
  readonly username?: string | undefined;
  readonly password?: PasswordInput | undefined;
  /** Subject CN of a verified TLS client certificate, when the TLS layer has one. */
  readonly certificateCn?: string | undefined;
  /** The device's address (after PROXY protocol), for the per-address failure tier. */
  readonly sourceAddress?: string | undefined;
  /**
   * How long from now the device still waits for the answer (ms): its CONNECT deadline less what
   * follows the decision. A password check the KDF queue cannot finish within it is refused with
   * 0x03 (server unavailable) instead of running for a connection that has timed out.
   */
  readonly answerWithinMs?: number | undefined;
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
  readonly coalesced: Counter<'stage'>;
  readonly revalidated: Counter;
}

/** Declares the auth metrics in `registry`; a second authenticator on the same registry shares them. */
export function declareAuthMetrics(registry: Registry): AuthMetrics {
  const registers = [registry];
  const reuse = <T>(name: string, make: (name: string) => T): T => metricOf(registry, name, make);
  return {
    revalidated: reuse(
      'sentinel_auth_revalidated_total',
      (name) =>
        new Counter({
          name,
          help: 'Expired cached decisions renewed from an unchanged device row, without a password check',
          registers,
        }),
    ),
    coalesced: reuse(
      'sentinel_auth_coalesced_total',
      (name) =>
        new Counter({
          name,
          help: 'CONNECTs that joined a lookup already running instead of starting one: decision (same credentials: Redis, DB and scrypt shared), device_db (same device, one row query shared)',
          labelNames: ['stage'],
          registers,
        }),
    ),
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
  /** In-process decisions in front of `cache`; feed it invalidations through `invalidateDevice`/`invalidateAll`. */
  readonly local?: LocalDecisionCache;
  /** Where password verifications wait; without one they run at once, unbounded. */
  readonly kdf?: KdfQueue;
  /** Per-address failure tier before the KDF; without one, none. */
  readonly throttle?: AddressFailureThrottle;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Verified against when a device does not exist; see `createDummyHash`. */
  readonly dummyHash: string;
  readonly identity?: IdentityMode;
}

/** The device DB's answer with the fingerprint of the row it was checked against, or why the KDF did not run. */
type Consulted = { readonly decision: CachedDecision; readonly row?: string | undefined } | 'kdf_busy';

/** After the credentials were checked against `device` (`credentialsOk`): its decision. */
function fromRow(device: DeviceCredentials | undefined, credentialsOk: boolean): CachedDecision {
  if (!device) return { allow: false, reason: 'unknown_device' };
  if (!credentialsOk) return { allow: false, reason: 'bad_credentials' };
  if (!device.enabled) return { allow: false, reason: 'disabled' };
  return { allow: true, acls: device.acls };
}

/** Whether the password check behind a cached decision passed ("disabled" is told only then). */
function passwordWasRight(decision: CachedDecision): boolean {
  return decision.allow || decision.reason === 'disabled';
}

/** NUL never occurs in an MQTT client id (MQTT-1.5.3-2), so it separates the id from the tag. */
const keySeparator = '\u0000';

type Health = 'up' | 'down' | 'unknown';

export class Authenticator {
  private readonly metrics: AuthMetrics;
  private readonly identity: IdentityMode;
  private cacheHealth: Health = 'unknown';
  private dbHealth: Health = 'unknown';
  /** Keys credentials in memory (local cache, flights) without holding the password. */
  readonly #tagSecret = randomBytes(32);
  /** Per credentials (client id + tag): the whole decision after the in-process cache. */
  readonly #decisions: SingleFlight<AuthDecision>;
  /** Per client id: the device row, shared by different credentials presented at once. */
  readonly #rows: SingleFlight<DeviceCredentials | undefined>;

  constructor(private readonly deps: AuthenticatorDeps) {
    this.metrics = declareAuthMetrics(deps.registry);
    this.identity = deps.identity ?? 'password';
    this.metrics.cacheUp.set(deps.cache ? 1 : 0);
    this.metrics.deviceDbUp.set(1);
    this.#decisions = new SingleFlight(() => this.metrics.coalesced.inc({ stage: 'decision' }));
    this.#rows = new SingleFlight(() => this.metrics.coalesced.inc({ stage: 'device_db' }));
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

  /**
   * The device's credentials or ACLs changed (heard on the invalidation feed): its in-process
   * decisions go, decisions being computed for it are not kept, and later CONNECTs do not join a
   * lookup that began before the change.
   */
  invalidateDevice(clientId: string): void {
    this.deps.local?.invalidateDevice(clientId);
    const prefix = `${clientId}${keySeparator}`;
    this.#decisions.forget((key) => key.startsWith(prefix));
    this.#rows.forget((key) => key === clientId);
  }

  /** Invalidations may have been missed: forget every in-process decision and lookup. */
  invalidateAll(): void {
    this.deps.local?.clear();
    this.#decisions.forget(() => true);
    this.#rows.forget(() => true);
  }

  private decide(request: AuthRequest): Promise<AuthDecision> {
    let credentials: CredentialMaterial;
    if (this.identity === 'certificate') {
      if (!certificateIdentityMatches(request.clientId, request.certificateCn)) {
        return Promise.resolve(deny('identity_mismatch', 'denied'));
      }
      credentials = { clientId: request.clientId, certificateCn: request.certificateCn };
    } else {
      if (request.username === undefined || request.password === undefined)
        return Promise.resolve(deny('no_credentials', 'denied'));
      credentials = { clientId: request.clientId, username: request.username, password: request.password };
    }
    const tag = credentialTag(this.#tagSecret, credentials);
    const local = this.deps.local?.get(request.clientId, tag);
    if (local) return Promise.resolve(fromCache(local));
    return this.#decisions.run(`${request.clientId}${keySeparator}${tag}`, () =>
      this.resolve(request, credentials, tag),
    );
  }

  /** Steps 2-5 for one set of credentials; callers presenting the same ones at once share it. */
  private async resolve(
    request: AuthRequest,
    credentials: CredentialMaterial,
    tag: string,
  ): Promise<AuthDecision> {
    const fill = this.deps.local?.begin(request.clientId);
    try {
      return await this.resolveWith(request, credentials, tag, fill);
    } finally {
      if (fill) this.deps.local?.end(fill);
    }
  }

  private async resolveWith(
    request: AuthRequest,
    credentials: CredentialMaterial,
    tag: string,
    fill: LocalFill | undefined,
  ): Promise<AuthDecision> {
    const cache = this.deps.cache;
    const answerBy = performance.now() + (request.answerWithinMs ?? Number.POSITIVE_INFINITY);
    // undefined: the cache cannot be used for this request (none configured, or Redis failed).
    let epoch: string | null | undefined;
    let expired: ExpiredDecision | undefined;
    if (cache) {
      try {
        const found = await cache.lookup(credentials);
        this.cacheAnswered();
        if (found.decision) {
          if (fill) this.deps.local?.put(fill, tag, found.decision, found.remainingMs);
          return fromCache(found.decision);
        }
        epoch = found.epoch;
        expired = found.expired;
      } catch (err) {
        this.cacheFailed(err);
      }
    }

    // The per-address failure tier and the KDF queue act before the device DB is even asked.
    const needsKdf = this.identity === 'password';
    // An unknown address ('') is not a bucket every such device would share.
    const address =
      needsKdf && this.deps.throttle && request.sourceAddress ? request.sourceAddress : undefined;
    if (address !== undefined && !this.deps.throttle?.admit(address)) return busy('address_throttled');
    let failed = false;
    try {
      // With an expired decision in hand the row may spare the KDF; `verify` refuses if it cannot.
      // Checked before the device DB is asked, so a CONNECT the KDF would refuse costs no lookup.
      if (needsKdf && !expired && this.deps.kdf?.turnsAway(answerBy - performance.now()))
        return busy('kdf_busy');
      let consulted: Consulted;
      try {
        consulted = await this.consultDeviceDb(request, cache, expired, answerBy);
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
      if (consulted === 'kdf_busy') return busy('kdf_busy');
      const { decision: computed, row } = consulted;
      failed = !computed.allow && computed.reason !== 'disabled';

      if (fill) this.deps.local?.put(fill, tag, computed);
      if (cache && epoch !== undefined) {
        // The CONNACK does not wait for this write: Redis runs one connection's commands in order,
        // so a later lookup from this proxy sees it, and the compare-and-set needs nobody waiting.
        cache.store(credentials, epoch, computed, row).catch((err: unknown) => this.cacheFailed(err));
      }
      return computed.allow
        ? { allow: true, result: 'allowed', acls: computed.acls, connackCode: 0 }
        : deny(computed.reason, 'denied');
    } finally {
      if (address !== undefined) this.deps.throttle?.settle(address, failed);
    }
  }

  /**
   * Same work for "no such device" and "wrong password"; "disabled" only once the password is right.
   * An expired decision whose row fingerprint the row still has keeps its password check (the row's
   * stored hash and user name are those it was checked against); enabled and ACLs come from the row.
   */
  private async consultDeviceDb(
    request: AuthRequest,
    cache: DecisionCache | undefined,
    expired: ExpiredDecision | undefined,
    answerBy: number,
  ): Promise<Consulted> {
    const device = await this.#rows.run(request.clientId, () =>
      this.deps.devices.findForAuth(request.clientId),
    );
    if (this.identity === 'certificate') return { decision: fromRow(device, true) };
    const row = cache?.rowFingerprint(request.clientId, device);
    let passwordOk: boolean | undefined;
    if (expired && row === expired.row) {
      passwordOk = passwordWasRight(expired.decision);
      this.metrics.revalidated.inc();
    } else {
      passwordOk = await this.verify(
        request.password ?? '',
        device?.passwordHash ?? this.deps.dummyHash,
        answerBy,
      );
      if (passwordOk === undefined) return 'kdf_busy';
    }
    return { decision: fromRow(device, passwordOk && device?.username === request.username), row };
  }

  /** scrypt through the KDF queue; undefined when the queue refused it. */
  private verify(password: PasswordInput, hash: string, answerBy: number): Promise<boolean | undefined> {
    const kdf = this.deps.kdf;
    return kdf
      ? kdf.run(() => verifyPassword(password, hash), answerBy - performance.now())
      : verifyPassword(password, hash);
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

/** Refused before any credential was checked: CONNACK 0x03, so the device retries later. */
function busy(reason: 'kdf_busy' | 'address_throttled'): AuthDecision {
  return { allow: false, result: 'error', reason, connackCode: 3 };
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
