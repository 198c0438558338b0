import type { CompiledRule } from './inspect/rules.js';
import type { Policy } from './policy/policy.js';
import type { AnyStep } from './step.js';
import { createAdmissionStep } from './steps/admission.js';
import { createAnomalyStep } from './steps/anomaly.js';
import { createPatternsStep } from './steps/patterns.js';
import { createValidateStep } from './steps/validate.js';
import { createVerdictStep } from './steps/verdict.js';

/**
 * The processor chain as data: a list of step names, each built by its factory from the same
 * dependencies. Adding a check is one factory and one name in the list; a deployment can run a
 * shorter list (say, only 'admission', 'validate' and 'verdict') as its own service. Every chain
 * starts with 'admission' (the edge's refusals and the session ACL) and ends with 'verdict'.
 */
export interface StepDependencies {
  readonly policy: Policy;
  /** Pattern rules; the shipped default-rules.json when omitted. */
  readonly rules?: readonly CompiledRule[];
}

export const STEP_FACTORIES = {
  admission: (): AnyStep => createAdmissionStep() as AnyStep,
  validate: (deps: StepDependencies): AnyStep => createValidateStep(deps),
  patterns: (deps: StepDependencies): AnyStep =>
    createPatternsStep(deps.rules ? { policy: deps.policy, rules: deps.rules } : { policy: deps.policy }),
  anomaly: (deps: StepDependencies): AnyStep => createAnomalyStep(deps) as AnyStep,
  verdict: (deps: StepDependencies): AnyStep => createVerdictStep(deps),
} as const;

export type StepName = keyof typeof STEP_FACTORIES;

/** sentinel.packets -> admission -> validate -> patterns -> anomaly -> verdict -> sentinel.verdicts + sentinel.approved */
export const DEFAULT_CHAIN: readonly StepName[] = ['admission', 'validate', 'patterns', 'anomaly', 'verdict'];

export function isStepName(name: string): name is StepName {
  return Object.hasOwn(STEP_FACTORIES, name);
}

export function buildTopology(deps: StepDependencies, chain: readonly StepName[] = DEFAULT_CHAIN): AnyStep[] {
  return chain.map((name) => STEP_FACTORIES[name](deps));
}
