import type { Decision, Finding, PacketEvent } from '../model.js';
import type { Policy } from '../policy/policy.js';
import type { Step } from '../step.js';

const RANK: Readonly<Record<Decision, number>> = { allow: 0, quarantine: 1, block: 2 };

/** A finding that decides: not recorded in shadow only, and not a flag (which allows). */
export function acts(finding: Finding): boolean {
  return !finding.shadow && finding.action !== 'flag';
}

/** The strictest action among findings: block over quarantine over allow ('flag' allows). */
export function decide(findings: readonly Finding[], includeShadow: boolean): Decision {
  let decision: Decision = 'allow';
  for (const f of findings) {
    if (f.shadow && !includeShadow) continue;
    const wanted: Decision = f.action === 'flag' ? 'allow' : f.action;
    if (RANK[wanted] > RANK[decision]) decision = wanted;
  }
  return decision;
}

/**
 * Only a PUBLISH the edge accepted, with its payload, can ever reach the origin. The admission step
 * blocks the others; this holds even in a chain an operator configured without it.
 */
export function isDeliverable(event: PacketEvent): boolean {
  return event.packetType === 'PUBLISH' && event.refusal === null && event.payload !== null;
}

/**
 * One verdict per event, from the findings of every earlier step; an allowed PUBLISH also goes to
 * the approved output for delivery to the origin. Shadow findings are recorded and never decide.
 */
export function createVerdictStep(options: { readonly policy: Policy }): Step {
  const { policy } = options;
  return {
    name: 'verdict',
    process(event, _state, ctx) {
      const decision = decide(ctx.findings, false);
      ctx.emitVerdict({
        clientId: event.clientId,
        packetType: event.packetType,
        packetRef: ctx.packetRef,
        decision,
        decisionIfEnforced: decide(ctx.findings, true),
        mode: policy.mode,
        findings: [...ctx.findings],
        receivedAt: event.receivedAt,
        decidedAt: ctx.now(),
      });
      if (decision === 'allow' && isDeliverable(event)) ctx.emitApproved(event);
      return [];
    },
  };
}
