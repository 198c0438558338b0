import type { HeldMessage, QuarantineDecision } from '../schemas/types.generated.js';
import {
  type DecisionView,
  type HeldDetail,
  type HeldFilter,
  type HeldPage,
  type HeldStatus,
  type HeldSummary,
  statusOfAction,
} from './model.js';
import { payloadView } from './payload-view.js';

/**
 * A held message as the console keeps it: the record, and its one decision once there is one. The
 * payload may have been let go to bound memory (`payloadInMemory` false: `held.payload` is empty);
 * it is then read back from the forensic store when someone needs it.
 */
export interface HeldEntry {
  held: HeldMessage;
  decision: QuarantineDecision | null;
  readonly payloadSize: number;
  payloadInMemory: boolean;
}

const NO_PAYLOAD = Buffer.alloc(0);

/**
 * Held messages and their decisions, rebuilt from `sentinel.quarantine` and
 * `sentinel.quarantine.decisions`. Both arrive at least once (the processors replay after a crash;
 * the console re-reads its own decisions), so applying a record twice changes nothing: the first
 * held record of an id is kept, and the first decision of an id is the decision.
 *
 * A decision may be read before its held message (the two topics are read side by side); it waits
 * in `early` until the message arrives.
 */
export class HeldStore {
  private readonly entries = new Map<string, HeldEntry>();
  private readonly early = new Map<string, QuarantineDecision>();
  private payloadBytesHeld = 0;
  private bytesInMemory = 0;
  /** Ids whose payload is in memory, oldest first: decided ones are let go before pending ones. */
  private readonly decidedInMemory = new Set<string>();
  private readonly pendingInMemory = new Set<string>();

  /** `maxPayloadBytes`: payload bytes kept in memory at most (older ones are let go first). */
  constructor(private readonly maxPayloadBytes = Number.POSITIVE_INFINITY) {}

  get size(): number {
    return this.entries.size;
  }

  /** Payload bytes of messages still awaiting a decision (in memory or not). */
  get pendingPayloadBytes(): number {
    return this.payloadBytesHeld;
  }

  /** Payload bytes kept in memory, at most the bound. */
  get payloadBytesInMemory(): number {
    return this.bytesInMemory;
  }

  counts(): Record<HeldStatus, number> {
    const counts: Record<HeldStatus, number> = { held: 0, released: 0, dropped: 0, expired: 0 };
    for (const entry of this.entries.values()) counts[statusOf(entry)] += 1;
    return counts;
  }

  /** True when the message is new to the store. */
  addHeld(held: HeldMessage): boolean {
    if (this.entries.has(held.heldId)) return false;
    const decision = this.early.get(held.heldId) ?? null;
    this.early.delete(held.heldId);
    this.entries.set(held.heldId, {
      held,
      decision,
      payloadSize: held.payload.length,
      payloadInMemory: true,
    });
    if (!decision) this.payloadBytesHeld += held.payload.length;
    (decision ? this.decidedInMemory : this.pendingInMemory).add(held.heldId);
    this.bytesInMemory += held.payload.length;
    this.letGoOverBound();
    return true;
  }

  /** Takes a payload back into an entry whose payload was let go (read from the forensic store). */
  restorePayload(entry: HeldEntry, payload: Buffer): HeldEntry {
    return { ...entry, held: { ...entry.held, payload }, payloadInMemory: true };
  }

  private letGoOverBound(): void {
    for (const ids of [this.decidedInMemory, this.pendingInMemory]) {
      for (const id of ids) {
        if (this.bytesInMemory <= this.maxPayloadBytes) return;
        ids.delete(id);
        const entry = this.entries.get(id);
        if (!entry) continue;
        this.bytesInMemory -= entry.payloadSize;
        entry.held = { ...entry.held, payload: NO_PAYLOAD };
        entry.payloadInMemory = false;
      }
    }
  }

  /** True when this is the message's first decision (a later one for the same id is ignored). */
  applyDecision(decision: QuarantineDecision): boolean {
    const entry = this.entries.get(decision.heldId);
    if (!entry) {
      if (this.early.has(decision.heldId)) return false;
      this.early.set(decision.heldId, decision);
      return true;
    }
    if (entry.decision) return false;
    entry.decision = decision;
    this.payloadBytesHeld -= entry.payloadSize;
    if (this.pendingInMemory.delete(decision.heldId)) this.decidedInMemory.add(decision.heldId);
    return true;
  }

  get(heldId: string): HeldEntry | undefined {
    return this.entries.get(heldId);
  }

  /** Entries matching the filter, newest held first. */
  select(filter: HeldFilter): HeldEntry[] {
    const status = filter.status ?? 'held';
    const out: HeldEntry[] = [];
    for (const entry of this.entries.values()) {
      const { held } = entry;
      if (status !== 'all' && statusOf(entry) !== status) continue;
      if (filter.clientId && held.clientId !== filter.clientId) continue;
      if (filter.ruleId && !held.findings.some((f) => f.ruleId === filter.ruleId)) continue;
      if (filter.since !== undefined && held.heldAt < filter.since) continue;
      if (filter.until !== undefined && held.heldAt > filter.until) continue;
      out.push(entry);
    }
    return out.sort((a, b) => b.held.heldAt - a.held.heldAt || compare(a.held.heldId, b.held.heldId));
  }

  page(filter: HeldFilter, limit: number, offset = 0): HeldPage {
    const selected = this.select(filter);
    return { items: selected.slice(offset, offset + limit).map(summaryOf), total: selected.length };
  }

  /** Undecided messages held before `cutoff` (epoch ms), oldest first. */
  heldBefore(cutoff: number): HeldEntry[] {
    const out: HeldEntry[] = [];
    for (const entry of this.entries.values()) {
      if (!entry.decision && entry.held.heldAt < cutoff) out.push(entry);
    }
    return out.sort((a, b) => a.held.heldAt - b.held.heldAt);
  }

  /** Decided messages whose decision is older than `cutoff`: past the topics' retention, forgotten. */
  forgetDecidedBefore(cutoff: number): number {
    let forgotten = 0;
    for (const [id, entry] of this.entries) {
      if (entry.decision && entry.decision.decidedAt < cutoff) {
        this.entries.delete(id);
        if (this.decidedInMemory.delete(id)) this.bytesInMemory -= entry.payloadSize;
        forgotten += 1;
      }
    }
    for (const [id, decision] of this.early) {
      if (decision.decidedAt < cutoff) this.early.delete(id);
    }
    return forgotten;
  }

  /** Every decision, newest first (the audit trail as the console knows it). */
  decisions(): QuarantineDecision[] {
    const out: QuarantineDecision[] = [];
    for (const entry of this.entries.values()) if (entry.decision) out.push(entry.decision);
    return out.sort((a, b) => b.decidedAt - a.decidedAt);
  }
}

/** A bulk decision needs a filter narrower than a status: a client, a rule or a time bound. */
export function isNarrowed(filter: HeldFilter): boolean {
  return (
    Boolean(filter.clientId || filter.ruleId) || filter.since !== undefined || filter.until !== undefined
  );
}

export function statusOf(entry: HeldEntry): HeldStatus {
  return entry.decision ? statusOfAction[entry.decision.action] : 'held';
}

function decisionView(decision: QuarantineDecision | null): DecisionView | null {
  if (!decision) return null;
  const { decisionId, action, operator, reason, decidedAt } = decision;
  return { decisionId, action, operator, reason, decidedAt };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

export function summaryOf(entry: HeldEntry): HeldSummary {
  const { held } = entry;
  return {
    heldId: held.heldId,
    clientId: held.clientId,
    topic: held.topic,
    qos: held.qos,
    retain: held.retain,
    sourceIp: held.sourceIp,
    payloadSize: entry.payloadSize,
    receivedAt: held.receivedAt,
    heldAt: held.heldAt,
    ruleIds: unique(held.findings.map((f) => f.ruleId)),
    classes: unique(held.findings.map((f) => f.class)),
    status: statusOf(entry),
    decision: decisionView(entry.decision),
  };
}

/** The whole view of a held message; its payload must be in the entry (`restorePayload` when let go). */
export function detailOf(entry: HeldEntry): HeldDetail {
  const { held } = entry;
  return {
    ...summaryOf(entry),
    username: held.username,
    proxyId: held.proxyId,
    packetRef: held.packetRef,
    findings: held.findings,
    payload: payloadView(held.payload, held.findings),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
