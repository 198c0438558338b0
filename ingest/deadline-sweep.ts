/** A connection whose CONNECT or Keep Alive deadline the sweep enforces. */
export interface Expiring {
  /** When it must be closed if nothing arrives (ms), or Infinity. */
  readonly deadline: number;
  /** Closes it if its deadline passed by `nowMs`. */
  expire(nowMs: number): void;
}

export interface DeadlineSweepOptions<T extends Expiring> {
  /** Everything that may expire, read on every sweep. */
  readonly items: () => Iterable<T>;
  readonly now: () => number;
  /** How often deadlines are looked at; a deadline is enforced up to this late. */
  readonly intervalMs: number;
  /** The most expired in one event-loop turn; the rest follow in the next turns. */
  readonly perTurn: number;
}

/**
 * One timer per proxy for every CONNECT and Keep Alive deadline, so an idle connection costs no
 * timer of its own. Closing a connection is work (its event, its socket): thousands of sockets
 * accepted in the same second reach their CONNECT deadline in the same sweep, and closing them all
 * in one turn would stall every other connection of the process for as long. So the due ones are
 * closed `perTurn` at a time, each batch in a turn of its own (setImmediate), with the sockets'
 * I/O, a legitimate CONNECT included, handled in between.
 */
export class DeadlineSweep<T extends Expiring> {
  readonly #options: DeadlineSweepOptions<T>;
  #timer: NodeJS.Timeout | undefined;
  /** Found due and not expired yet, oldest first; while any wait, the next sweep does not look again. */
  #due: T[] = [];
  #next = 0;
  #scheduled = false;

  constructor(options: DeadlineSweepOptions<T>) {
    this.#options = options;
  }

  /** Due connections waiting for their turn. */
  get waiting(): number {
    return this.#due.length - this.#next;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.sweep(), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#due = [];
    this.#next = 0;
  }

  /** Looks for due connections and expires the first batch of them now. */
  sweep(): void {
    if (this.waiting > 0) return;
    const now = this.#options.now();
    const due: T[] = [];
    for (const item of this.#options.items()) if (item.deadline <= now) due.push(item);
    this.#due = due;
    this.#next = 0;
    this.#expireBatch();
  }

  #expireBatch(): void {
    const now = this.#options.now();
    const end = Math.min(this.#due.length, this.#next + this.#options.perTurn);
    while (this.#next < end) this.#due[this.#next++]!.expire(now);
    if (this.waiting === 0) {
      // Nothing kept of the connections that were due.
      this.#due = [];
      this.#next = 0;
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#expireBatch();
    });
  }
}
