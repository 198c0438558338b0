/**
 * The edge's flows as ordered lists of named steps (Envoy's network filters, Aedes' CONNECT steps):
 * a step looks at what is in hand and says whether the flow goes on, stops there (the packet is
 * handled: answered, refused or dropped), or waits for a lookup before going on. While a flow
 * waits, its connection handles and reads nothing more, so packets keep their arrival order.
 */
export type StepResult =
  | { readonly kind: 'continue' }
  | { readonly kind: 'stop' }
  | {
      readonly kind: 'pause';
      readonly until: Promise<unknown>;
      /** `next`: the flow goes on after this step once `until` settles; `again`: this step runs again. */
      readonly then: 'next' | 'again';
    };

export interface Step<C> {
  /** Names the step in logs and in `internal_error:<step>` when it fails. */
  readonly name: string;
  run(context: C): StepResult;
}

export const proceed: StepResult = { kind: 'continue' };
export const stop: StepResult = { kind: 'stop' };

export function pauseUntil(until: Promise<unknown>, then: 'next' | 'again' = 'next'): StepResult {
  return { kind: 'pause', until, then };
}

/**
 * What running a flow needs from its connection. It is handed the flow's context, so one host serves
 * every run of a flow: nothing is allocated per packet but the context itself.
 */
export interface FlowHost<C> {
  /** Handles and reads nothing more until `until` settles (the flow's rest runs inside it). */
  pause(until: Promise<unknown>, context: C): void;
  /** A step threw or its lookup failed: the edge's fault, never the device's. */
  fail(error: unknown, step: string, context: C): void;
}

/** Runs `steps` from `from` on `context`, synchronously until a step stops or pauses. */
export function runFlow<C>(steps: readonly Step<C>[], context: C, host: FlowHost<C>, from = 0): void {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i]!;
    let result: StepResult;
    try {
      result = step.run(context);
    } catch (error: unknown) {
      host.fail(error, step.name, context);
      return;
    }
    if (result.kind === 'continue') continue;
    if (result.kind === 'stop') return;
    const resumeAt = result.then === 'again' ? i : i + 1;
    host.pause(
      result.until.then(
        () => runFlow(steps, context, host, resumeAt),
        (error: unknown) => host.fail(error, step.name, context),
      ),
      context,
    );
    return;
  }
}
