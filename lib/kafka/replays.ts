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
 *
 * An output may come from another source than `sentinel.packets`: a held message released by an
 * operator is approved by the console with the reference of its decision record in
 * `sentinel.quarantine.decisions`, written in order by one transactional writer. Each source
 * (topic and partition) has its own mark; the packets topic's partitions keep their bare number as
 * the key, so metadata written before other sources existed restores unchanged.
 */
export interface SourcePosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}
export class ReplayWatermark {
  /** output partition -> source (packets partition, or `<topic>/<partition>`) -> highest offset accepted */
  private readonly marks = new Map<number, Map<string, number>>();

  constructor(private readonly packetsTopic: string) {}

  /** True the first time a source position is seen in this output partition; false for a replay. */
  admit(outputPartition: number, source: SourcePosition): boolean {
    const marks = this.marksOf(outputPartition);
    const key = this.keyOf(source);
    const seen = marks.get(key);
    if (seen !== undefined && source.offset <= seen) return false;
    marks.set(key, source.offset);
    return true;
  }

  /** Raises a watermark (never lowers it), e.g. from stored rows. */
  raise(outputPartition: number, source: SourcePosition): void {
    this.raiseKey(outputPartition, this.keyOf(source), source.offset);
  }

  /** Forgets a partition this reader no longer owns; whoever takes it over restores its watermarks. */
  forget(outputPartition: number): void {
    this.marks.delete(outputPartition);
  }

  /** The watermarks of an output partition as text for commit metadata: `wm1:<source>=<offset>,...`. */
  encode(outputPartition: number): string {
    const marks = this.marks.get(outputPartition);
    const parts = [...(marks ?? [])].sort(([a], [b]) => compareKeys(a, b)).map(([k, o]) => `${k}=${o}`);
    return `${metadataVersion}${parts.join(',')}`;
  }

  /** Restores what `encode` wrote; anything else (no metadata, another writer's) restores nothing. */
  restore(outputPartition: number, metadata: string | null | undefined): void {
    if (!metadata?.startsWith(metadataVersion)) return;
    for (const part of metadata.slice(metadataVersion.length).split(',')) {
      const match = /^(\d+|[A-Za-z0-9._-]+\/\d+)=(\d+)$/.exec(part);
      if (match) this.raiseKey(outputPartition, match[1] as string, Number(match[2]));
    }
  }

  private keyOf(source: SourcePosition): string {
    return source.topic === this.packetsTopic
      ? String(source.partition)
      : `${source.topic}/${source.partition}`;
  }

  private marksOf(outputPartition: number): Map<string, number> {
    let marks = this.marks.get(outputPartition);
    if (!marks) {
      marks = new Map();
      this.marks.set(outputPartition, marks);
    }
    return marks;
  }

  private raiseKey(outputPartition: number, key: string, offset: number): void {
    const marks = this.marksOf(outputPartition);
    const seen = marks.get(key);
    if (seen === undefined || offset > seen) marks.set(key, offset);
  }
}

/** Packets partitions first, by number (the order metadata always had), then other sources by name. */
function compareKeys(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) return Number(a) - Number(b);
  if (na !== nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

const metadataVersion = 'wm1:';
