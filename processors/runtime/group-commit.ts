/**
 * Group commit: many submitters, one transaction at a time, each transaction carrying everything
 * submitted while the previous one was in flight.
 *
 * The partitions of one partition group are handled concurrently (one kafkajs batch each). A
 * partition announces a chunk (`begin`) when it starts inspecting it, then submits it and waits.
 * A transaction starts when none of the group is in flight, something is submitted and no announced
 * chunk is still being inspected: chunks of the group's partitions fetched at about the same time
 * go into one transaction instead of the first one starting alone. A chunk submitted while a
 * transaction is in flight joins the group's next one. Inspection is bounded (chunk size and
 * time), so the wait is too. Transactions of a group never overlap, which keeps the order of
 * each partition's records and the "previous EndTxn succeeded before the next begins" rule that
 * the two producers in turn rely on.
 *
 * After a failed transaction the committer is closed: that transaction and everything waiting get
 * `false`, and nothing commits again (the owner rebuilds the group from the log). Generic and free
 * of Kafka, so its ordering rules are unit tested.
 */
export class GroupCommitter<T> {
  private readonly run: (items: readonly T[]) => Promise<boolean>;
  private pending: Array<{ readonly item: T; readonly resolve: (committed: boolean) => void }> = [];
  private draining: Promise<void> | null = null;
  private closed = false;
  /** Chunks announced and not yet submitted (or abandoned). */
  private inspecting = 0;
  private wake: (() => void) | null = null;

  /** `run` commits the items in one transaction; true when it committed. A throw counts as false. */
  constructor(run: (items: readonly T[]) => Promise<boolean>) {
    this.run = run;
  }

  /**
   * Announces a chunk: the group's next transaction waits for it. Exactly one of the ticket's
   * `submit` (resolves true once a transaction holding the item committed; false if it failed or the
   * committer closed) or `abandon` must follow.
   */
  begin(): { submit(item: T): Promise<boolean>; abandon(): void } {
    this.inspecting += 1;
    let used = false;
    const done = () => {
      if (used) throw new Error('a chunk ticket is used once');
      used = true;
      this.inspecting -= 1;
    };
    return {
      submit: (item) => {
        done();
        return this.enqueue(item);
      },
      abandon: () => {
        done();
        this.kick();
      },
    };
  }

  /** `begin` and `submit` at once (nothing to wait for). */
  submit(item: T): Promise<boolean> {
    return this.begin().submit(item);
  }

  /** True until a transaction failed or `close` was called. */
  get open(): boolean {
    return !this.closed;
  }

  /** Nothing new commits; waits for the transaction in flight. Waiting submitters get false. */
  async close(): Promise<void> {
    this.closed = true;
    this.kick();
    await this.draining;
  }

  private enqueue(item: T): Promise<boolean> {
    if (this.closed) {
      this.kick();
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      this.pending.push({ item, resolve });
      this.draining ??= this.drain();
      this.kick();
    });
  }

  private kick(): void {
    if (this.inspecting > 0 && !this.closed) return;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async drain(): Promise<void> {
    // Chunks finished in the same turn of the event loop go into the same transaction.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      if (this.inspecting > 0 && !this.closed) {
        // Chunks of the group's other partitions are being inspected: they join this transaction.
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      const taken = this.pending;
      this.pending = [];
      let committed = false;
      if (!this.closed) {
        try {
          committed = await this.run(taken.map((entry) => entry.item));
        } catch {
          committed = false;
        }
        if (!committed) this.closed = true;
      }
      for (const entry of taken) entry.resolve(committed);
    }
    this.draining = null;
  }
}
