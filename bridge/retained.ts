import type { Redis } from 'ioredis';
import type { Logger } from '../lib/log.js';
import { removeRetainedExcept, storeRetained } from '../lib/mqtt/retained.js';
import type { BridgeMetrics } from './metrics.js';
import type { InboundMessage } from './origin-link.js';

export interface RetainedFollowerOptions {
  readonly redis: Redis;
  readonly topicPrefix: string;
  readonly metrics: BridgeMetrics;
  readonly log: Logger;
  /** How long the origin stays silent after the SUBACK before its replay counts as complete. */
  readonly replayQuietMs?: number;
}

/**
 * The origin's retained state -> Redis, for the edge proxies' copies (lib/mqtt/retained.ts). It
 * listens on its own origin session (MQTT 5, Retain As Published, so a live retained PUBLISH keeps
 * its flag) and stores every message with RETAIN set; an empty one clears the topic. After each
 * (re)subscription the origin replays all it retains; once it has been quiet for `replayQuietMs`,
 * stored topics it did not replay are removed: they were cleared while no bridge listened.
 */
export class RetainedFollower {
  readonly #options: RetainedFollowerOptions;
  /** Topics stored since the last SUBACK, until the reconciliation after the replay is done. */
  #replayed: Set<string> | null = null;
  /** The replay is over (quiet) and the stale topics are being removed. */
  #sweeping = false;
  #quietTimer: NodeJS.Timeout | null = null;
  #sweeps: Promise<void> = Promise.resolve();

  constructor(options: RetainedFollowerOptions) {
    this.#options = options;
  }

  /** The link's SUBACK arrived: a replay of the origin's retained messages follows. */
  subscribed(): void {
    this.#replayed = new Set();
    this.#sweeping = false;
    this.#armQuietTimer();
  }

  /** The link's onMessage: resolves once stored, so the origin's PUBACK follows the write. */
  async onMessage(message: InboundMessage): Promise<void> {
    if (!message.retain) return;
    const { redis, topicPrefix, metrics } = this.#options;
    if (this.#replayed) {
      if (message.payload.length > 0) this.#replayed.add(message.topic);
      else this.#replayed.delete(message.topic);
      if (!this.#sweeping) this.#armQuietTimer();
    }
    await storeRetained(redis, topicPrefix, message.topic, { qos: message.qos, payload: message.payload });
    metrics.retainedStored.inc({ change: message.payload.length === 0 ? 'cleared' : 'set' });
  }

  stop(): Promise<void> {
    if (this.#quietTimer) clearTimeout(this.#quietTimer);
    this.#replayed = null;
    return this.#sweeps;
  }

  #armQuietTimer(): void {
    if (this.#quietTimer) clearTimeout(this.#quietTimer);
    this.#quietTimer = setTimeout(() => this.#reconcile(), this.#options.replayQuietMs ?? 2000);
    this.#quietTimer.unref();
  }

  #reconcile(): void {
    const replayed = this.#replayed;
    if (!replayed) return;
    // Topics stored while the sweep runs join `replayed`, so a live change is never swept away.
    this.#sweeping = true;
    const { redis, topicPrefix, metrics, log } = this.#options;
    this.#sweeps = this.#sweeps.then(async () => {
      try {
        const removed = await removeRetainedExcept(redis, topicPrefix, replayed);
        metrics.retainedStored.inc({ change: 'removed_after_replay' }, removed);
        log.info({ replayed: replayed.size, removed }, 'retained state reconciled with the origin');
      } catch (err) {
        log.warn(
          { err: (err as Error).message },
          'retained state not reconciled (Redis); next reconnect retries',
        );
      }
      if (this.#replayed === replayed) {
        this.#replayed = null;
        this.#sweeping = false;
      }
    });
  }
}
