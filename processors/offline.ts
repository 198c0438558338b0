import { SentinelError } from '../lib/errors.js';
import type { Decision, Finding, FindingClass, PacketEvent, Verdict } from './model.js';
import { MemoryRuntime } from './runtime/memory.js';
import { acts } from './steps/verdict.js';
import { buildTopology, type StepDependencies, type StepName } from './topology.js';

/**
 * The processors' chain run offline (`sentinel inspect`): the same steps, built by the same
 * factories from a policy and rules, over payloads an operator supplies, with no broker. An operator
 * tries a rule or policy change here before deploying it.
 *
 * What differs from the live chain, and why:
 * - The session ACL: live, a device may publish only where its accepted CONNECT's ACL allows (from
 *   the device directory, not the policy). Offline there is no CONNECT, so each client id gets a
 *   session granting every topic; the policy's own topic rules (publish templates) still apply.
 * - The clock: a case's `received_at` (epoch ms) when given, else one second after the previous
 *   case, so a file of payloads does not look like a burst to the rate detectors. Per-device state
 *   (baselines, warm-up) builds up across the cases of one client id as it would live.
 */
export interface InspectCase {
  readonly id: string;
  readonly clientId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAt?: number;
}

export interface InspectResult {
  readonly id: string;
  readonly decision: Decision;
  /** What enforce mode would decide (differs in shadow mode or for shadow rules). */
  readonly decisionIfEnforced: Decision;
  /** Classes of the findings that act (not shadow, not 'flag'), in first-seen order. */
  readonly classes: readonly FindingClass[];
  readonly findings: ReadonlyArray<{
    readonly rule: string;
    readonly class: FindingClass;
    readonly action: Finding['action'];
    readonly severity: Finding['severity'];
    readonly location: string;
    readonly evidence: string;
    readonly shadow: boolean;
  }>;
}

/** Start of the offline clock when cases carry no time: a fixed instant, so runs repeat exactly. */
const OFFLINE_EPOCH_MS = Date.UTC(2026, 0, 1);

export class OfflineInspector {
  readonly #runtime: MemoryRuntime;
  readonly #sessions = new Set<string>();
  #clock = OFFLINE_EPOCH_MS;

  constructor(options: StepDependencies & { readonly chain?: readonly StepName[] }) {
    this.#runtime = new MemoryRuntime({
      steps: buildTopology(options, options.chain),
      startAt: OFFLINE_EPOCH_MS,
    });
  }

  inspect(item: InspectCase): InspectResult {
    this.#clock = item.receivedAt ?? this.#clock + 1000;
    this.#runtime.setTime(this.#clock);
    if (!this.#sessions.has(item.clientId)) {
      this.#sessions.add(item.clientId);
      this.#runtime.pipe(sessionEvent(item.clientId, this.#clock));
    }
    const output = this.#runtime.pipe(publishEvent(item, this.#clock));
    const verdict = output.verdicts[0];
    if (!verdict) throw new Error(`the chain gave no verdict for case ${item.id}`);
    return resultOf(item.id, verdict);
  }
}

function resultOf(id: string, verdict: Verdict): InspectResult {
  const classes: FindingClass[] = [];
  for (const finding of verdict.findings)
    if (acts(finding) && !classes.includes(finding.class)) classes.push(finding.class);
  return {
    id,
    decision: verdict.decision,
    decisionIfEnforced: verdict.decisionIfEnforced,
    classes,
    findings: verdict.findings.map((f) => ({
      rule: f.ruleId,
      class: f.class,
      action: f.action,
      severity: f.severity,
      location: f.location,
      evidence: f.evidence,
      shadow: f.shadow,
    })),
  };
}

const baseEvent = {
  username: null,
  sourceIp: '127.0.0.1',
  retain: false,
  malformedReason: null,
  subscriptions: null,
  edgeAction: null,
  refusal: null,
} as const;

function sessionEvent(clientId: string, at: number): PacketEvent {
  return {
    ...baseEvent,
    packetType: 'CONNECT',
    clientId,
    topic: null,
    payload: null,
    qos: null,
    receivedAt: at,
    authResult: 'allowed',
    acl: { publish: ['#'], subscribe: [] },
  };
}

function publishEvent(item: InspectCase, at: number): PacketEvent {
  return {
    ...baseEvent,
    packetType: 'PUBLISH',
    clientId: item.clientId,
    topic: item.topic,
    payload: item.payload,
    qos: 1,
    receivedAt: at,
    authResult: null,
    acl: null,
  };
}

/**
 * One line of `sentinel inspect` input: `{"id","client_id","topic","payload"|"payload_base64"}`,
 * optionally `"received_at"` (epoch ms). Errors name the line.
 */
export function parseInspectLine(line: string, lineNumber: number): InspectCase {
  const where = `line ${lineNumber}`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (cause) {
    throw new SentinelError('SNT_INPUT_INVALID', `${where}: not JSON`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SentinelError('SNT_INPUT_INVALID', `${where}: must be a JSON object`);
  const record = value as Record<string, unknown>;
  const text = (key: string): string => {
    const field = record[key];
    if (typeof field !== 'string' || field === '')
      throw new SentinelError('SNT_INPUT_INVALID', `${where}: "${key}" must be a non-empty string`);
    return field;
  };
  const id = typeof record.id === 'number' ? String(record.id) : text('id');
  let payload: Buffer;
  if (typeof record.payload === 'string' && record.payload_base64 === undefined)
    payload = Buffer.from(record.payload, 'utf8');
  else if (typeof record.payload_base64 === 'string' && record.payload === undefined)
    payload = Buffer.from(record.payload_base64, 'base64');
  else
    throw new SentinelError(
      'SNT_INPUT_INVALID',
      `${where}: give exactly one of "payload" (UTF-8 text) and "payload_base64"`,
    );
  const receivedAt = record.received_at;
  if (receivedAt !== undefined && (typeof receivedAt !== 'number' || !Number.isFinite(receivedAt)))
    throw new SentinelError('SNT_INPUT_INVALID', `${where}: "received_at" must be epoch milliseconds`);
  return {
    id,
    clientId: text('client_id'),
    topic: text('topic'),
    payload,
    ...(receivedAt === undefined ? {} : { receivedAt }),
  };
}

/** Counts for the summary: decisions, acting classes and rules over every case inspected. */
export class InspectSummary {
  cases = 0;
  readonly decisions: Record<Decision, number> = { allow: 0, quarantine: 0, block: 0 };
  readonly classes = new Map<string, number>();
  readonly rules = new Map<string, number>();

  add(result: InspectResult): void {
    this.cases += 1;
    this.decisions[result.decision] += 1;
    for (const cls of result.classes) this.classes.set(cls, (this.classes.get(cls) ?? 0) + 1);
    for (const finding of result.findings)
      this.rules.set(finding.rule, (this.rules.get(finding.rule) ?? 0) + 1);
  }

  toJSON() {
    const sorted = (map: Map<string, number>) =>
      Object.fromEntries([...map].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
    return {
      cases: this.cases,
      decisions: this.decisions,
      classes: sorted(this.classes),
      rules: sorted(this.rules),
    };
  }
}
