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

// Deletes the owner key only if this connection still owns it (a newer owner must not be erased).
const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class SessionRegistry {
  readonly #options: SessionRegistryOptions;
  readonly #channel: string;
  readonly #up: Gauge;

  constructor(options: SessionRegistryOptions) {
    this.#options = options;
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

  /** Claims the client id for this connection and tells every proxy to close older connections. */
  async claim(clientId: string, connectionId: string): Promise<void> {
    const owner: SessionOwner = { proxyId: this.#options.proxyId, connectionId };
    const message = JSON.stringify({ clientId, ...owner } satisfies Takeover);
    await this.#guard(async () => {
      await this.#options.redis
        .multi()
        .set(this.#ownerKey(clientId), connectionId)
        .publish(this.#channel, message)
        .exec();
    });
  }

  async release(clientId: string, connectionId: string): Promise<void> {
    await this.#guard(async () => {
      await this.#options.redis.eval(releaseScript, 1, this.#ownerKey(clientId), connectionId);
    });
  }

  /** Stored subscriptions of a persistent session: filter -> granted QoS (undefined when unknown). */
  async loadSubscriptions(clientId: string): Promise<Map<string, number> | undefined> {
    return this.#guard(async () => {
      const stored = await this.#options.redis.hgetall(this.#subscriptionsKey(clientId));
      const entries = Object.entries(stored);
      return entries.length === 0
        ? undefined
        : new Map(entries.map(([filter, qos]) => [filter, Number(qos)]));
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

  /** CleanSession 1 discards any previous session (MQTT-3.1.2-6). */
  async discardSession(clientId: string): Promise<void> {
    await this.#guard(async () => {
      await this.#options.redis.del(this.#subscriptionsKey(clientId));
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
