/**
 * Items that leave together: `send` gets them `waitMs` after the first one came, or at once when
 * `max` are waiting, or when the owner takes them earlier (`take`).
 */
export class PendingBatch<T> {
  readonly #waitMs: number;
  readonly #max: number;
  readonly #send: () => void;
  #items: T[] = [];
  #timer: NodeJS.Timeout | undefined;

  /** `send` is expected to call `take()`. */
  constructor(waitMs: number, max: number, send: () => void) {
    this.#waitMs = waitMs;
    this.#max = max;
    this.#send = send;
  }

  add(item: T): void {
    this.#items.push(item);
    if (this.#items.length >= this.#max) this.#send();
    else this.#timer ??= setTimeout(this.#send, this.#waitMs);
  }

  /** Everything waiting, now; the timer is stopped. */
  take(): T[] {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const items = this.#items;
    this.#items = [];
    return items;
  }
}
