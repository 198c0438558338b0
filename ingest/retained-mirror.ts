import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../lib/log.js';
import { decodeRetained, RetainedIndex, retainedKeys } from '../lib/mqtt/retained.js';

export interface RetainedMirrorOptions {
  readonly redis: Redis;
  /** A connection in subscriber mode (it may serve other channels too). */
  readonly subscriber: Redis;
  readonly topicPrefix: string;
  readonly maxBytes: number;
  readonly log: Logger;
  readonly registry: Registry;
}

/**
 * This proxy's copy of the origin's retained messages (lib/mqtt/retained.ts has the design): loaded
 * from the Redis hash at start and after every reconnect of the subscriber, then kept current by
 * the change channel, each named topic read again. Redis unreachable: the copy stays as it was
 * (new subscribers get what was retained when Redis was last seen) until it answers again.
 */
export class RetainedMirror {
  readonly index: RetainedIndex;
  readonly #options: RetainedMirrorOptions;
  readonly #keys: { readonly hash: string; readonly channel: string };
  readonly #notKept: Counter;
  #loading: Promise<void> | null = null;
  /** Topics a change notice refreshed while a scan ran (a scan may miss what is added meanwhile). */
  #refreshedDuringScan: Set<string> | null = null;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: RetainedMirrorOptions) {
    this.#options = options;
    this.#keys = retainedKeys(options.topicPrefix);
    this.index = new RetainedIndex(options.maxBytes);
    const index = this.index;
    new Gauge({
      name: 'sentinel_ingest_retained_messages',
      help: "retained messages this proxy holds for new subscribers (its copy of the origin's)",
      registers: [options.registry],
      collect() {
        this.set(index.size);
      },
    });
    new Gauge({
      name: 'sentinel_ingest_retained_bytes',
      help: 'topic and payload bytes of the retained messages this proxy holds',
      registers: [options.registry],
      collect() {
        this.set(index.bytes);
      },
    });
    this.#notKept = new Counter({
      name: 'sentinel_ingest_retained_not_kept_total',
      help: 'retained messages left out of the copy because SENTINEL_INGEST_RETAINED_MAX_BYTES was reached',
      registers: [options.registry],
    });
  }

  async start(): Promise<void> {
    const { subscriber, log } = this.#options;
    subscriber.on('message', (channel: string, topic: string) => {
      if (channel === this.#keys.channel) void this.#refresh(topic);
    });
    // After a reconnect the changes sent meanwhile are lost: read everything again.
    subscriber.on('ready', () => {
      if (this.#stopped) return;
      void subscriber.subscribe(this.#keys.channel).then(
        () => this.#load(),
        () => undefined,
      );
    });
    try {
      await subscriber.subscribe(this.#keys.channel);
      await this.#load();
    } catch (err) {
      log.warn(
        { err: (err as Error).message },
        'retained messages not loaded (Redis); new subscribers get none until it answers',
      );
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
  }

  #load(): Promise<void> {
    this.#loading ??= this.#scan().finally(() => {
      this.#loading = null;
    });
    return this.#loading;
  }

  async #scan(): Promise<void> {
    const { redis, log } = this.#options;
    const present = new Set<string>();
    this.#refreshedDuringScan = new Set();
    let cursor = '0';
    do {
      const [next, entries] = await redis.hscanBuffer(this.#keys.hash, cursor, 'COUNT', 500);
      cursor = next.toString();
      for (let i = 0; i + 1 < entries.length; i += 2) {
        const topic = entries[i]!.toString('utf8');
        present.add(topic);
        this.#apply(topic, entries[i + 1]!);
      }
    } while (cursor !== '0');
    // What the copy holds and the hash no longer does was cleared while this proxy was not listening.
    const refreshed = this.#refreshedDuringScan;
    this.#refreshedDuringScan = null;
    for (const topic of this.index.topics())
      if (!present.has(topic) && !refreshed.has(topic)) this.index.delete(topic);
    log.info({ retained: this.index.size, bytes: this.index.bytes }, 'retained messages loaded');
  }

  async #refresh(topic: string): Promise<void> {
    this.#refreshedDuringScan?.add(topic);
    try {
      const value = await this.#options.redis.hgetBuffer(this.#keys.hash, topic);
      if (value === null) this.index.delete(topic);
      else this.#apply(topic, value);
    } catch {
      // This change was not read (a timeout, Redis away): read everything again a little later.
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined;
        if (!this.#stopped) void this.#load().catch(() => this.#refresh(topic));
      }, 1000).unref();
    }
  }

  #apply(topic: string, value: Buffer): void {
    const message = decodeRetained(value);
    if (message === undefined) return;
    if (!this.index.set(topic, message)) this.#notKept.inc();
  }
}
