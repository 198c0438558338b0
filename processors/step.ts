import type { Finding, PacketEvent, PacketRef, Verdict } from './model.js';

/**
 * A step is pure over (event, its own explicit state): everything it remembers lives in the state
 * objects the runtime hands it, keyed by client id (`device`) or by source address (`source`), so a
 * runtime can persist them to a changelog and a restarted processor carries on. A step mutates the
 * state objects it is given; the runtime writes them back after `process` returns.
 */
export interface Step<DeviceState = undefined, SourceState = undefined> {
  readonly name: string;
  /** Fresh state for a key never seen (or evicted); omit when the step keeps none. */
  readonly state?: {
    readonly device?: () => DeviceState;
    readonly source?: () => SourceState;
  };
  init?(ctx: StepInitContext): void;
  process(
    event: PacketEvent,
    state: StepState<DeviceState, SourceState>,
    ctx: StepContext,
  ): readonly Finding[];
  close?(): void;
}

export interface StepState<DeviceState, SourceState> {
  /** State of `event.clientId` for this step (undefined when the step declares none). */
  readonly device: DeviceState;
  /** State of `event.sourceIp` for this step (undefined when the step declares none). */
  readonly source: SourceState;
}

export interface StepInitContext {
  now(): number;
}

export interface StepContext {
  readonly packetRef: PacketRef;
  /** Processing time; the memory runtime's clock is set by the test. Detection uses event time. */
  now(): number;
  /** Findings the earlier steps returned for this event. */
  readonly findings: readonly Finding[];
  emitVerdict(verdict: Verdict): void;
  /** An allowed PUBLISH, to be delivered to the origin. */
  emitApproved(event: PacketEvent): void;
}

// Methods are bivariant in their parameters, so every Step<D, S> is an AnyStep.
export type AnyStep = Step<unknown, unknown>;
