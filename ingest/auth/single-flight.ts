/**
 * Concurrent calls for one key share one piece of work: the first starts it, the others join it
 * until it settles. Nothing is kept afterwards (keeping results is the caches' job), so a failure
 * is shared only by the calls that were waiting for it, never reused by a later one.
 */
export class SingleFlight<V> {
  readonly #running = new Map<string, Promise<V>>();

  /** `onJoined` runs each time a call joins work already running (a coalesced lookup). */
  constructor(private readonly onJoined: () => void = () => undefined) {}

  /** Work in flight, for metrics and tests. */
  get size(): number {
    return this.#running.size;
  }

  /** The work running for `key`, joined; undefined when none is. */
  join(key: string): Promise<V> | undefined {
    const running = this.#running.get(key);
    if (running) this.onJoined();
    return running;
  }

  /** Starts `work` for `key`; callers that `join` the key meanwhile get its result. */
  start(key: string, work: () => Promise<V>): Promise<V> {
    let promise: Promise<V>;
    try {
      promise = work();
    } catch (err) {
      return Promise.reject(err);
    }
    const shared = promise.finally(() => {
      if (this.#running.get(key) === shared) this.#running.delete(key);
    });
    this.#running.set(key, shared);
    return shared;
  }

  /** Joins the work running for `key`, or starts it. */
  run(key: string, work: () => Promise<V>): Promise<V> {
    return this.join(key) ?? this.start(key, work);
  }

  /**
   * Later calls for the matching keys start afresh instead of joining: the work running was begun
   * before something it read changed (a device's credentials were revoked). Its own callers still
   * get its result.
   */
  forget(matches: (key: string) => boolean): void {
    for (const key of [...this.#running.keys()]) if (matches(key)) this.#running.delete(key);
  }
}
