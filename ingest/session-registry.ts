import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../lib/log.js';

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

// One round trip per CONNECT: the client id is claimed for this connection; a proxy holding an
// older connection for it is told to close it only when there is one (a takeover announcement per
// CONNECT would reach every proxy at the fleet's CONNECT rate); the stored session is loaded
// (CleanSession 0) or discarded (CleanSession 1). Returns the stored subscriptions as a flat
// field/value list.
const claimScript = `
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
if previous and previous ~= ARGV[1] then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
if ARGV[4] == '1' then return redis.call('HGETALL', KEYS[2]) end
redis.call('DEL', KEYS[2])
return {}
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

/** The scripts, registered once per client: ioredis sends EVALSHA and the script text only once. */
type ScriptedRedis = Redis & {
  sentinelSessionClaim(
    ownerKey: string,
    subscriptionsKey: string,
    connectionId: string,
    channel: string,
    takeover: string,
    persistent: '0' | '1',
  ): Promise<string[]>;
  sentinelSessionRelease(keyCount: number, ...keysThenConnectionIds: string[]): Promise<number>;
};

function withSessionScripts(redis: Redis): ScriptedRedis {
  const scripted = redis as ScriptedRedis;
  if (typeof scripted.sentinelSessionClaim !== 'function') {
    redis.defineCommand('sentinelSessionClaim', { numberOfKeys: 2, lua: claimScript });
    redis.defineCommand('sentinelSessionRelease', { lua: releaseScript });
  }
  return scripted;
}

export class SessionRegistry {
  readonly #options: SessionRegistryOptions;
  readonly #channel: string;
  readonly #up: Gauge;
  readonly #redis: ScriptedRedis;
  /** Owner keys to release, with the connection that must still own each. */
  #releases: Array<{ key: string; connectionId: string }> = [];
  #releaseTimer: NodeJS.Timeout | undefined;

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

  /**
   * Claims the client id for this connection, closes an older connection for it on any proxy
   * (MQTT-3.1.4-2), and returns the stored subscriptions of a persistent session (filter -> granted
   * QoS; undefined when there are none or Redis did not answer) or discards the stored session
   * (CleanSession 1, MQTT-3.1.2-6).
   */
  async claim(
    clientId: string,
    connectionId: string,
    persistent: boolean,
  ): Promise<Map<string, number> | undefined> {
    const takeover = JSON.stringify({
      clientId,
      proxyId: this.#options.proxyId,
      connectionId,
    } satisfies Takeover);
    return this.#guard(async () => {
      const stored = await this.#redis.sentinelSessionClaim(
        this.#ownerKey(clientId),
        this.#subscriptionsKey(clientId),
        connectionId,
        this.#channel,
        takeover,
        persistent ? '1' : '0',
      );
      if (stored.length === 0) return undefined;
      const subscriptions = new Map<string, number>();
      for (let i = 0; i + 1 < stored.length; i += 2) subscriptions.set(stored[i]!, Number(stored[i + 1]));
      return subscriptions;
    });
  }

  /**
   * Gives the client id back once this connection closed. Releases leave in batches (one script
   * call per 20 ms or 500 closes): a device reconnecting meanwhile claims the id over the pending
   * release, which then leaves the newer owner alone.
   */
  release(clientId: string, connectionId: string): void {
    this.#releases.push({ key: this.#ownerKey(clientId), connectionId });
    if (this.#releases.length >= releaseBatchMax) void this.flushReleases();
    else this.#releaseTimer ??= setTimeout(() => void this.flushReleases(), releaseBatchMs);
  }

  /** Sends the pending releases now (also on shutdown, before the Redis connection closes). */
  async flushReleases(): Promise<void> {
    clearTimeout(this.#releaseTimer);
    this.#releaseTimer = undefined;
    const batch = this.#releases;
    if (batch.length === 0) return;
    this.#releases = [];
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
