import type { Finding, PacketEvent, PacketRef, Verdict } from '../model.js';
import type { AnyStep, StepContext } from '../step.js';
import type { StateStore, StoreFactory } from '../stores/state-store.js';

/** What one event produced; a runtime writes these (and the state changes) atomically with the offset. */
export interface ChainOutput {
  readonly verdicts: Verdict[];
  readonly approved: PacketEvent[];
  readonly findings: readonly Finding[];
}

interface BoundStep {
  readonly step: AnyStep;
  readonly deviceStore: StateStore<unknown> | undefined;
  readonly sourceStore: StateStore<unknown> | undefined;
}

/**
 * Runs a list of steps over one event at a time. Shared by the memory runtime (tests) and the Kafka
 * runtime, so both execute the same chain with the same state semantics.
 */
export class ChainRunner {
  readonly stores: ReadonlyMap<string, StateStore<unknown>>;
  private readonly bound: BoundStep[];

  constructor(steps: readonly AnyStep[], createStore: StoreFactory) {
    const stores = new Map<string, StateStore<unknown>>();
    const names = new Set<string>();
    this.bound = steps.map((step) => {
      if (names.has(step.name)) throw new Error(`step name ${step.name} appears twice in the topology`);
      names.add(step.name);
      const deviceStore = step.state?.device ? createStore(`${step.name}.device`) : undefined;
      const sourceStore = step.state?.source ? createStore(`${step.name}.source`) : undefined;
      if (deviceStore) stores.set(deviceStore.name, deviceStore);
      if (sourceStore) stores.set(sourceStore.name, sourceStore);
      return { step, deviceStore, sourceStore };
    });
    this.stores = stores;
  }

  init(now: () => number): void {
    for (const { step } of this.bound) step.init?.({ now });
  }

  process(event: PacketEvent, packetRef: PacketRef, now: () => number): ChainOutput {
    const findings: Finding[] = [];
    const verdicts: Verdict[] = [];
    const approved: PacketEvent[] = [];
    const ctx: StepContext = {
      packetRef,
      now,
      findings,
      emitVerdict: (verdict) => verdicts.push(verdict),
      emitApproved: (approvedEvent) => approved.push(approvedEvent),
    };
    for (const { step, deviceStore, sourceStore } of this.bound) {
      const device = deviceStore ? (deviceStore.get(event.clientId) ?? step.state?.device?.()) : undefined;
      const source = sourceStore ? (sourceStore.get(event.sourceIp) ?? step.state?.source?.()) : undefined;
      const stepFindings = step.process(event, { device, source }, ctx);
      if (deviceStore && device !== undefined) deviceStore.put(event.clientId, device);
      if (sourceStore && source !== undefined) sourceStore.put(event.sourceIp, source);
      for (const finding of stepFindings) findings.push(finding);
    }
    return { verdicts, approved, findings };
  }

  close(): void {
    for (const { step } of this.bound) step.close?.();
  }
}
