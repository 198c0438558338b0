/**
 * The one rule by which readers of the processors' outputs (`sentinel.approved`, `sentinel.verdicts`)
 * drop replays.
 *
 * The processors write outputs at once with an idempotent producer and checkpoint their input
 * offsets later (docs/processors.md), so after a crash or a rebalance the events since the last
 * checkpoint are inspected again and their outputs written a second time, with the same packet
 * reference (`packetRef`: the packet's partition and offset in `sentinel.packets`). Outputs are
 * keyed by client id like the packets, so the outputs of one packets partition arrive in one output
 * partition in packet-offset order; a replay shows up there as a packet offset at or below one
 * already seen. A reader keeps, per output partition and packets partition, the highest packet
 * offset it has accepted, and skips anything at or below it.
 *
 * Readers persist the watermarks of a partition together with their own progress (the bridge in
 * its commit metadata, the sink in the rows it stores), so a replay is recognised across restarts.
 */
export class ReplayWatermark {
  /** output partition -> packets partition -> highest packet offset accepted */
  private readonly marks = new Map<number, Map<number, number>>();

  /** True the first time a packet is seen in this output partition; false for a replay. */
  admit(outputPartition: number, packetPartition: number, packetOffset: number): boolean {
    let marks = this.marks.get(outputPartition);
    if (!marks) {
      marks = new Map();
      this.marks.set(outputPartition, marks);
    }
    const seen = marks.get(packetPartition);
    if (seen !== undefined && packetOffset <= seen) return false;
    marks.set(packetPartition, packetOffset);
    return true;
  }

  /** Raises a watermark (never lowers it), e.g. from stored rows. */
  raise(outputPartition: number, packetPartition: number, packetOffset: number): void {
    const marks = this.marks.get(outputPartition) ?? new Map<number, number>();
    this.marks.set(outputPartition, marks);
    const seen = marks.get(packetPartition);
    if (seen === undefined || packetOffset > seen) marks.set(packetPartition, packetOffset);
  }

  /** Forgets a partition this reader no longer owns; whoever takes it over restores its watermarks. */
  forget(outputPartition: number): void {
    this.marks.delete(outputPartition);
  }

  /** The watermarks of an output partition as text for commit metadata: `wm1:<packetPartition>=<offset>,...`. */
  encode(outputPartition: number): string {
    const marks = this.marks.get(outputPartition);
    const parts = [...(marks ?? [])].sort(([a], [b]) => a - b).map(([p, o]) => `${p}=${o}`);
    return `${metadataVersion}${parts.join(',')}`;
  }

  /** Restores what `encode` wrote; anything else (no metadata, another writer's) restores nothing. */
  restore(outputPartition: number, metadata: string | null | undefined): void {
    if (!metadata?.startsWith(metadataVersion)) return;
    for (const part of metadata.slice(metadataVersion.length).split(',')) {
      const match = /^(\d+)=(\d+)$/.exec(part);
      if (match) this.raise(outputPartition, Number(match[1]), Number(match[2]));
    }
  }
}

const metadataVersion = 'wm1:';
