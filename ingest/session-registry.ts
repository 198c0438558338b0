import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../lib/log.js';
import { PendingBatch } from './pending-batch.js';
import { decodeOwed, encodeOwed, type OwedMessage } from './session-queue.js';

/**
 * Sessions across every edge proxy, in Redis. A CONNECT that is accepted claims its client id and
 * announces it on a channel every proxy listens to; whichever proxy holds an older connection for
 * that client id closes it (MQTT-3.1.4-2: the server disconnects the existing client). Persistent
 * sessions (CleanSession 0) keep their subscriptions here, so a device that reconnects through any
 * proxy gets them back (MQTT-3.1.2-4).
 *
 * Redis unreachable: takeover still works between connections of the same proxy (the caller keeps
 * a local map), subscriptions of persistent sessions last only as long as the connection, and
 * `sentinel_ingest_session_registry_up` is 0.
 */
export interface SessionOwner {
  readonly proxyId: string;
  readonly connectionId: string;
}

export interface Takeover extends SessionOwner {
  readonly clientId: string;
}

export interface SessionRegistryOptions {
  readonly redis: Redis;
  /** A second connection: a Redis connection in subscriber mode cannot run other commands. */
  readonly subscriber: Redis;
  readonly keyPrefix: string;
  readonly proxyId: string;
  readonly log: Logger;
  readonly registry: Registry;
  readonly onTakeover: (takeover: Takeover) => void;
}

// One round trip per persistent (CleanSession 0) CONNECT: the client id is claimed for this
// connection (SET also ends the expiry a parked session's claim had); a proxy holding an older
// connection, or the parked session, for it is told to let go only when there is one (a takeover
// announcement per CONNECT would reach every proxy at the fleet's CONNECT rate); the stored session
// is kept and loaded, and its queue handed over. Returns the stored subscriptions as a flat
// field/value list and the queued messages.
const claimScript = `
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
if previous and previous ~= ARGV[1] then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
redis.call('PERSIST', KEYS[2])
local queued = redis.call('LRANGE', KEYS[3], 0, -1)
redis.call('DEL', KEYS[3])
return {redis.call('HGETALL', KEYS[2]), queued}
`;

// The claim of CleanSession 1 CONNECTs, many in one call (batched: nobody waits for it). KEYS
// are owner, subscriptions and queue key per claim; ARGV the channel, then connection id and
// takeover announcement per claim. The stored session is discarded (MQTT-3.1.2-6).
const cleanClaimsScript = `
for i = 0, #KEYS / 3 - 1 do
  local owner, connection = KEYS[i * 3 + 1], ARGV[i * 2 + 2]
  local previous = redis.call('GET', owner)
  redis.call('SET', owner, connection)
  if previous and previous ~= connection then redis.call('PUBLISH', ARGV[1], ARGV[i * 2 + 3]) end
  redis.call('DEL', KEYS[i * 3 + 2], KEYS[i * 3 + 3])
end
return #KEYS / 3
`;

// A persistent session whose connection closed, if that connection still owns the client id: what
// it was owed joins its queue (bounded, the oldest dropped), and the claim, the subscriptions and
// the queue live on for the session expiry. Returns 1 when the session was parked here.
const parkScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 4, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
`;

// A message for a parked session: queued only while the claim still names the connection that
// parked it (else the device is back, or the session expired or was discarded: 0, stop queueing),
// and the queue expires with the claim.
const enqueueScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`;

// Deletes each owner key only if the connection that closed still owns it (a newer owner, on any
// proxy, must not be erased).
const releaseScript = `
local released = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then redis.call('DEL', key); released = released + 1 end
end
return released
`;

/** Releases wait this long to leave together: a closed connection's claim is not on anyone's path. */
const releaseBatchMs = 20;
const releaseBatchMax = 500;
/**
 * CleanSession 1 claims wait this long to leave together: their CONNACK does not wait for them, and
 * one script call per CONNECT was most of the edge's Redis writes at fleet CONNECT rates.
 */
const cleanClaimBatchMs = 5;
const cleanClaimBatchMax = 500;

/** What a claim brings back: a persistent session's subscriptions and owed messages (empty for a clean one). */
export interface RestoredClaim {
  readonly subscriptions: Map<string, number>;
  readonly owed: OwedMessage[];
  readonly unreadable: number;
}

/** The scripts, registered once per client: ioredis sends EVALSHA and the script text only once. */
type ScriptedRedis = Redis & {
  sentinelSessionClaim(
    ownerKey: string,
    subscriptionsKey: string,
    queueKey: string,
    connectionId: string,
    channel: string,
    takeover: string,
  ): Promise<[string[], string[]]>;
  sentinelSessionRelease(keyCount: number, ...keysThenConnectionIds: string[]): Promise<number>;
  sentinelSessionClaimClean(keyCount: number, ...keysThenArguments: string[]): Promise<number>;
  sentinelSessionPark(
    ownerKey: string,
    subscriptionsKey: string,
    queueKey: string,
    connectionId: string,
    expiryMs: string,
    maxQueued: string,
    ...entries: string[]
  ): Promise<number>;
  sentinelSessionEnqueue(
    ownerKey: string,
    queueKey: string,
    connectionId: string,
    maxQueued: string,
    entry: string,
  ): Promise<number>;
};

function withSessionScripts(redis: Redis): ScriptedRedis {
  const scripted = redis as ScriptedRedis;
  if (typeof scripted.sentinelSessionClaim !== 'function') {
    redis.defineCommand('sentinelSessionClaim', { numberOfKeys: 3, lua: claimScript });
    redis.defineCommand('sentinelSessionPark', { numberOfKeys: 3, lua: parkScript });
    redis.defineCommand('sentinelSessionEnqueue', { numberOfKeys: 2, lua: enqueueScript });
    redis.defineCommand('sentinelSessionRelease', { lua: releaseScript });
    redis.defineCommand('sentinelSessionClaimClean', { lua: cleanClaimsScript });
  }
  return scripted;
}

export class SessionRegistry {
  readonly #options: SessionRegistryOptions;
  readonly #channel: string;
  readonly #up: Gauge;
  readonly #redis: ScriptedRedis;
  /** Owner keys to release, with the connection that must still own each. */
  readonly #releases = new PendingBatch<{ key: string; connectionId: string }>(
    releaseBatchMs,
    releaseBatchMax,
    () => void this.flushReleases(),
  );
  /** CleanSession 1 claims to send together, each with its caller's resolve. */
  readonly #cleanClaims = new PendingBatch<{
    clientId: string;
    connectionId: string;
    takeover: string;
    settle: (claimed: boolean) => void;
  }>(cleanClaimBatchMs, cleanClaimBatchMax, () => this.#flushCleanClaims());

  constructor(options: SessionRegistryOptions) {
    this.#options = options;
    this.#redis = withSessionScripts(options.redis);
    this.#channel = `${options.keyPrefix}session:takeover`;
    this.#up = new Gauge({
      name: 'sentinel_ingest_session_registry_up',
      help: '1 while the Redis session registry answers, 0 while sessions fall back to this proxy only',
      registers: [options.registry],
    });
    this.#up.set(0);
  }

  async start(): Promise<void> {
    const { subscriber } = this.#options;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      try {
        const takeover = JSON.parse(message) as Takeover;
        this.#options.onTakeover(takeover);
      } catch (err) {
        this.#options.log.warn({ err }, 'ignoring a malformed session takeover message');
      }
    });
    subscriber.on('ready', () => {
      void subscriber.subscribe(this.#channel).catch(() => undefined);
    });
    try {
      await subscriber.subscribe(this.#channel);
      this.#up.set(1);
    } catch (err) {
      this.#options.log.warn(
        { err: (err as Error).message },
        'session registry unavailable; takeover works on this proxy only',
      );
    }
  }

  #ownerKey(clientId: string): string {
    return `${this.#options.keyPrefix}session:owner:${clientId}`;
  }

  #subscriptionsKey(clientId: string): string {
    return `${this.#options.keyPrefix}session:subs:${clientId}`;
  }

  #queueKey(clientId: string): string {
    return `${this.#options.keyPrefix}session:queue:${clientId}`;
  }

  /**
   * Claims the client id for this connection, closes an older connection for it on any proxy
   * (MQTT-3.1.4-2), and returns a persistent session's stored subscriptions (filter -> granted QoS)
   * and the messages it is owed, oldest first; or discards the stored session (CleanSession 1,
   * MQTT-3.1.2-6). undefined when Redis did not answer.
   */
  async claim(
    clientId: string,
    connectionId: string,
    persistent: boolean,
  ): Promise<RestoredClaim | undefined> {
    const takeover = JSON.stringify({
      clientId,
      proxyId: this.#options.proxyId,
      connectionId,
    } satisfies Takeover);
    if (!persistent) return this.#claimClean(clientId, connectionId, takeover);
    this.#flushCleanClaims();
    return this.#guard(async () => {
      const [stored, queued] = await this.#redis.sentinelSessionClaim(
        this.#ownerKey(clientId),
        this.#subscriptionsKey(clientId),
        this.#queueKey(clientId),
        connectionId,
        this.#channel,
        takeover,
      );
      const subscriptions = new Map<string, number>();
      for (let i = 0; i + 1 < stored.length; i += 2) subscriptions.set(stored[i]!, Number(stored[i + 1]));
      const owed: OwedMessage[] = [];
      let unreadable = 0;
      for (const entry of queued) {
        const message = decodeOwed(entry);
        if (message) owed.push(message);
        else unreadable++;
      }
      return { subscriptions, owed, unreadable };
    });
  }

  #claimClean(clientId: string, connectionId: string, takeover: string): Promise<RestoredClaim | undefined> {
    return new Promise((resolve) => {
      const settle = (claimed: boolean) =>
        resolve(claimed ? { subscriptions: new Map(), owed: [], unreadable: 0 } : undefined);
      this.#cleanClaims.add({ clientId, connectionId, takeover, settle });
    });
  }

  /**
   * Sends the pending CleanSession 1 claims. Every other call of this registry sends them first, on
   * the same Redis connection, so a claim is never overtaken by what follows it (a release, a
   * persistent claim of the same client id, a park).
   */
  #flushCleanClaims(): void {
    const batch = this.#cleanClaims.take();
    if (batch.length === 0) return;
    const keys = batch.flatMap((claim) => [
      this.#ownerKey(claim.clientId),
      this.#subscriptionsKey(claim.clientId),
      this.#queueKey(claim.clientId),
    ]);
    const args = batch.flatMap((claim) => [claim.connectionId, claim.takeover]);
    void this.#guard(() =>
      this.#redis.sentinelSessionClaimClean(keys.length, ...keys, this.#channel, ...args),
    ).then((claimed) => {
      for (const claim of batch) claim.settle(claimed !== undefined);
    });
  }

  /**
   * A persistent session's connection closed: if this connection still owns the client id, `owed`
   * (its unfinished exchanges) joins the session's queue and the session is kept for `expiryMs`
   * (claim, subscriptions, queue). Resolves true when it is parked here: the caller then queues
   * what matches its subscriptions until a takeover announcement says the device is back.
   */
  async park(
    clientId: string,
    connectionId: string,
    owed: readonly OwedMessage[],
    expiryMs: number,
    maxQueued: number,
  ): Promise<boolean> {
    this.#flushCleanClaims();
    const parked = await this.#guard(() =>
      this.#redis.sentinelSessionPark(
        this.#ownerKey(clientId),
        this.#subscriptionsKey(clientId),
        this.#queueKey(clientId),
        connectionId,
        String(expiryMs),
        String(maxQueued),
        ...owed.map(encodeOwed),
      ),
    );
    return parked === 1;
  }

  /**
   * Appends to a parked session's queue (bounded: the oldest leave first) while `connectionId`, the
   * connection that parked it, still holds the claim; false when it no longer does (stop queueing).
   */
  async enqueue(
    clientId: string,
    connectionId: string,
    message: OwedMessage,
    maxQueued: number,
  ): Promise<boolean> {
    this.#flushCleanClaims();
    const queued = await this.#guard(() =>
      this.#redis.sentinelSessionEnqueue(
        this.#ownerKey(clientId),
        this.#queueKey(clientId),
        connectionId,
        String(maxQueued),
        encodeOwed(message),
      ),
    );
    return queued !== 0;
  }

  /**
   * Gives the client id back once this connection closed. Releases leave in batches (one script
   * call per 20 ms or 500 closes): a device reconnecting meanwhile claims the id over the pending
   * release, which then leaves the newer owner alone.
   */
  release(clientId: string, connectionId: string): void {
    this.#releases.add({ key: this.#ownerKey(clientId), connectionId });
  }

  /** Sends the pending releases now (also on shutdown, before the Redis connection closes). */
  async flushReleases(): Promise<void> {
    this.#flushCleanClaims();
    const batch = this.#releases.take();
    if (batch.length === 0) return;
    await this.#guard(async () => {
      await this.#redis.sentinelSessionRelease(
        batch.length,
        ...batch.map((release) => release.key),
        ...batch.map((release) => release.connectionId),
      );
    });
  }

  async saveSubscriptions(
    clientId: string,
    added: ReadonlyMap<string, number>,
    removed: readonly string[] = [],
  ): Promise<void> {
    this.#flushCleanClaims();
    await this.#guard(async () => {
      const key = this.#subscriptionsKey(clientId);
      const tx = this.#options.redis.multi();
      if (added.size > 0) tx.hset(key, Object.fromEntries(added));
      if (removed.length > 0) tx.hdel(key, ...removed);
      await tx.exec();
    });
  }

  async #guard<T>(work: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await work();
      this.#up.set(1);
      return result;
    } catch (err) {
      this.#up.set(0);
      this.#options.log.warn(
        { err: (err as Error).message },
        'session registry call failed; continuing on this proxy only',
      );
      return undefined;
    }
  }
}
