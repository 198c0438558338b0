/**
 * Which offsets of one partition may be committed. The consumer position moves ahead of the
 * commit: messages are submitted in offset order, acknowledged (origin PUBACK and delivery record
 * stored) in any order, and the commit point is the first offset not yet acknowledged.
 *
 * Offsets are not contiguous on sentinel.approved: the processors write it in transactions, so
 * commit markers (and aborted records) sit between messages. A fetched batch therefore reports
 * where it ended (`fetchedThrough`), which lets the commit point step over markers that follow the
 * last acknowledged message instead of leaving a lag of one behind every transaction.
 */
export class PartitionProgress {
  /** Submitted offsets in order; an entry is true once acknowledged. */
  private readonly offsets: bigint[] = [];
  private readonly done: boolean[] = [];
  private head = 0;
  private readonly indexOf = new Map<bigint, number>();
  /** Everything below this has been handed to the origin link (or skipped). */
  private submittedEnd: bigint;
  /** End of the last fetched batch whose messages were all submitted. */
  private fetchedEnd: bigint;
  private highWatermark = -1n;

  constructor(start: bigint) {
    this.submittedEnd = start;
    this.fetchedEnd = start;
  }

  /** True when `offset` was already submitted by this process (a refetch after a rebalance or resume). */
  alreadySubmitted(offset: bigint): boolean {
    return offset < this.submittedEnd;
  }

  submitted(offset: bigint): void {
    this.indexOf.set(offset, this.offsets.length);
    this.offsets.push(offset);
    this.done.push(false);
    this.submittedEnd = offset + 1n;
  }

  /** The origin acknowledged the message at `offset` and its delivery record is stored. */
  acknowledged(offset: bigint): void {
    const index = this.indexOf.get(offset);
    if (index === undefined) return;
    this.done[index] = true;
    this.indexOf.delete(offset);
    this.advance();
  }

  /** A fetched batch ended at `end` (exclusive) and every message in it was submitted. */
  fetchedThrough(end: bigint, highWatermark: bigint): void {
    if (end > this.fetchedEnd) this.fetchedEnd = end;
    if (end > this.submittedEnd) this.submittedEnd = end;
    if (highWatermark > this.highWatermark) this.highWatermark = highWatermark;
  }

  /** The partition's end as last seen (fetch responses stop while it is paused, so it is also polled). */
  observeHighWatermark(highWatermark: bigint): void {
    if (highWatermark > this.highWatermark) this.highWatermark = highWatermark;
  }

  /** The offset to commit: every message before it is acknowledged. */
  commitPoint(): bigint {
    const first = this.offsets[this.head];
    return first !== undefined ? first : this.fetchedEnd;
  }

  /** Messages in Kafka past the commit point (unsent, in flight or awaiting their delivery record). */
  lag(): number {
    if (this.highWatermark < 0n) return 0;
    const lag = this.highWatermark - this.commitPoint();
    return lag > 0n ? Number(lag) : 0;
  }

  /** Submitted and not yet acknowledged. */
  outstanding(): number {
    return this.offsets.length - this.head;
  }

  private advance(): void {
    while (this.head < this.offsets.length && this.done[this.head]) this.head++;
    // Compact now and then so the arrays do not grow with the partition's history.
    if (this.head > 1024 && this.head * 2 > this.offsets.length) {
      this.offsets.splice(0, this.head);
      this.done.splice(0, this.head);
      this.head = 0;
      this.indexOf.clear();
      for (let i = 0; i < this.offsets.length; i++) {
        if (!this.done[i]) this.indexOf.set(this.offsets[i] as bigint, i);
      }
    }
  }
}
