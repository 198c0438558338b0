import type { SourcePosition } from '../lib/kafka/replays.js';

/** What an approved record's `packetRef` points at: its packet in sentinel.packets, or a decision. */
export type PacketPosition = SourcePosition;

/**
 * Which offset of one approved partition may be committed. The consumer position moves ahead of
 * the commit: records are taken in offset order, acknowledged (origin PUBACK and delivery record
 * stored, or skipped) in any order, and the commit point is the first offset not yet acknowledged,
 * or the end of what was taken when nothing is outstanding.
 *
 * Only offsets that were taken are tracked, so gaps in a partition's offsets (records removed by
 * retention or compaction, aborted records and transaction markers of older transactional writers)
 * never hold the commit point back.
 *
 * A delivered record's packet position is handed to `settle` once the commit point has passed it:
 * what `settle` collects is exactly the replay watermark of what lies below the commit point, the
 * one that may be stored with the commit (after a restart everything from the commit point on is
 * read again, so a watermark that included it would skip records never delivered).
 */
export class PartitionProgress {
  /** Taken offsets in order; an entry is true once acknowledged. */
  private offsets: number[] = [];
  private done: boolean[] = [];
  private packets: Array<PacketPosition | undefined> = [];
  private head = 0;
  private readonly indexOf = new Map<number, number>();
  /** Everything below this has been taken (handed to the origin link, or skipped). */
  private takenEnd: number;
  private highWatermark = -1;

  constructor(
    start: number,
    private readonly settle: (packet: PacketPosition) => void = () => undefined,
  ) {
    this.takenEnd = start;
  }

  /** True when `offset` was already taken by this process (a refetch after a resume or a seek). */
  alreadyTaken(offset: number): boolean {
    return offset < this.takenEnd;
  }

  /** The record at `offset` goes to the origin; `packet` settles when the commit point passes it. */
  submitted(offset: number, packet?: PacketPosition): void {
    this.indexOf.set(offset, this.offsets.length);
    this.offsets.push(offset);
    this.done.push(false);
    this.packets.push(packet);
    this.takenEnd = offset + 1;
  }

  /** The record at `offset` is not delivered (a replay, undecodable): nothing to wait for. */
  skipped(offset: number): void {
    this.submitted(offset);
    this.acknowledged(offset);
  }

  /** The origin acknowledged the message at `offset` and its delivery record is stored. */
  acknowledged(offset: number): void {
    const index = this.indexOf.get(offset);
    if (index === undefined) return;
    this.done[index] = true;
    this.indexOf.delete(offset);
    this.advance();
  }

  /** The partition's end as last seen (polled: librdkafka's records do not carry it). */
  observeHighWatermark(highWatermark: number): void {
    if (highWatermark > this.highWatermark) this.highWatermark = highWatermark;
  }

  /** The offset to commit: every record before it is acknowledged. */
  commitPoint(): number {
    const first = this.offsets[this.head];
    return first !== undefined ? first : this.takenEnd;
  }

  /** Records in Kafka past the commit point (unsent, in flight or awaiting their delivery record). */
  lag(): number {
    if (this.highWatermark < 0) return 0;
    return Math.max(0, this.highWatermark - this.commitPoint());
  }

  /** Taken and not yet acknowledged. */
  outstanding(): number {
    return this.offsets.length - this.head;
  }

  private advance(): void {
    while (this.head < this.offsets.length && this.done[this.head]) {
      const packet = this.packets[this.head];
      if (packet) this.settle(packet);
      this.head++;
    }
    // Compact now and then so the arrays do not grow with the partition's history.
    if (this.head > 1024 && this.head * 2 > this.offsets.length) {
      this.offsets = this.offsets.slice(this.head);
      this.done = this.done.slice(this.head);
      this.packets = this.packets.slice(this.head);
      this.head = 0;
      this.indexOf.clear();
      for (let i = 0; i < this.offsets.length; i++) {
        if (!this.done[i]) this.indexOf.set(this.offsets[i] as number, i);
      }
    }
  }
}
