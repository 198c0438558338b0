/**
 * Retro-hunt (`sentinel inspect --replay`): the packets Kafka still holds go through two chains side
 * by side, the one in force and a candidate, and whatever the candidate would decide differently is
 * reported. Nothing is written anywhere: the live verdicts stay as they are.
 *
 * Each chain sees every packet in partition order (CONNECTs open sessions and grant ACLs, baselines
 * build up), so a difference is the candidate's alone. Per-source state (CONNECT rates, auth failures
 * per address) spans partitions live and is rebuilt here in read order, close to but not exactly
 * the live interleaving.
 */
import type { Decision, PacketEvent, Verdict } from './model.js';
import { MemoryRuntime } from './runtime/memory.js';
import { acts } from './steps/verdict.js';
import { buildTopology, type StepDependencies, type StepName } from './topology.js';

export interface ReplayExample {
  readonly clientId: string;
  readonly topic: string | null;
  readonly receivedAt: string;
  readonly current: Decision;
  readonly candidate: Decision;
  readonly rules: readonly string[];
  readonly payload: string | null;
}

export interface ReplayReport {
  readonly packets: number;
  readonly changed: number;
  /** 'allow -> block': how many packets moved that way. */
  readonly transitions: Record<string, number>;
  /** Per rule: changed packets where it acts only with the candidate (added) or only now (removed). */
  readonly rules: Record<string, { added: number; removed: number; examples: ReplayExample[] }>;
  /** Devices with the most changed packets. */
  readonly devices: Array<{ clientId: string; changed: number }>;
}

const PAYLOAD_EXCERPT = 160;

/** The rules that decide a verdict: findings that act (not shadow, not a flag). */
function actingRules(verdict: Verdict): Set<string> {
  return new Set(verdict.findings.filter(acts).map((f) => f.ruleId));
}

/** What a replay counted: plain data, so that the tallies of several workers add up. */
export interface ReplayTally {
  packets: number;
  changed: number;
  transitions: Record<string, number>;
  rules: Record<string, { added: number; removed: number; examples: ReplayExample[] }>;
  devices: Record<string, number>;
}

export function emptyTally(): ReplayTally {
  return { packets: 0, changed: 0, transitions: {}, rules: {}, devices: {} };
}

function ruleEntry(tally: ReplayTally, ruleId: string): ReplayTally['rules'][string] {
  let entry = tally.rules[ruleId];
  if (!entry) {
    entry = { added: 0, removed: 0, examples: [] };
    tally.rules[ruleId] = entry;
  }
  return entry;
}

export function mergeTally(into: ReplayTally, from: ReplayTally, examplesPerRule: number): void {
  into.packets += from.packets;
  into.changed += from.changed;
  for (const [k, n] of Object.entries(from.transitions)) into.transitions[k] = (into.transitions[k] ?? 0) + n;
  for (const [k, n] of Object.entries(from.devices)) into.devices[k] = (into.devices[k] ?? 0) + n;
  for (const [id, r] of Object.entries(from.rules)) {
    const entry = ruleEntry(into, id);
    entry.added += r.added;
    entry.removed += r.removed;
    for (const example of r.examples)
      if (entry.examples.length < examplesPerRule) entry.examples.push(example);
  }
}

export function reportOf(tally: ReplayTally, topDevices = 20): ReplayReport {
  return {
    packets: tally.packets,
    changed: tally.changed,
    transitions: Object.fromEntries(Object.entries(tally.transitions).sort((a, b) => b[1] - a[1])),
    rules: Object.fromEntries(
      Object.entries(tally.rules).sort((a, b) => b[1].added + b[1].removed - (a[1].added + a[1].removed)),
    ),
    devices: Object.entries(tally.devices)
      .sort((a, b) => b[1] - a[1])
      .slice(0, topDevices)
      .map(([clientId, changed]) => ({ clientId, changed })),
  };
}

export class PolicyReplay {
  readonly #current: MemoryRuntime;
  readonly #candidate: MemoryRuntime;
  readonly #examplesPerRule: number;
  readonly tally = emptyTally();

  constructor(options: {
    readonly current: StepDependencies;
    readonly candidate: StepDependencies;
    readonly chain?: readonly StepName[];
    readonly examplesPerRule?: number;
  }) {
    const runtime = (setup: StepDependencies) =>
      new MemoryRuntime({ steps: buildTopology(setup, options.chain) });
    this.#current = runtime(options.current);
    this.#candidate = runtime(options.candidate);
    this.#examplesPerRule = options.examplesPerRule ?? 3;
  }

  add(event: PacketEvent): void {
    const tally = this.tally;
    tally.packets += 1;
    this.#current.setTime(event.receivedAt);
    this.#candidate.setTime(event.receivedAt);
    const current = this.#current.pipe(event).verdicts[0];
    const candidate = this.#candidate.pipe(event).verdicts[0];
    if (!current || !candidate || current.decision === candidate.decision) return;
    tally.changed += 1;
    const transition = `${current.decision} -> ${candidate.decision}`;
    tally.transitions[transition] = (tally.transitions[transition] ?? 0) + 1;
    tally.devices[event.clientId] = (tally.devices[event.clientId] ?? 0) + 1;
    const before = actingRules(current);
    const after = actingRules(candidate);
    const example: ReplayExample = {
      clientId: event.clientId,
      topic: event.topic,
      receivedAt: new Date(event.receivedAt).toISOString(),
      current: current.decision,
      candidate: candidate.decision,
      rules: [...after],
      payload: event.payload === null ? null : event.payload.subarray(0, PAYLOAD_EXCERPT).toString('utf8'),
    };
    for (const id of after) if (!before.has(id)) this.#count(id, 'added', example);
    for (const id of before) if (!after.has(id)) this.#count(id, 'removed', example);
  }

  #count(ruleId: string, how: 'added' | 'removed', example: ReplayExample): void {
    const entry = ruleEntry(this.tally, ruleId);
    entry[how] += 1;
    if (entry.examples.length < this.#examplesPerRule) entry.examples.push(example);
  }
}
