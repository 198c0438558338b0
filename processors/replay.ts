import { createKafka } from '../lib/kafka/client.js';
import { readPartitionsToEnd } from '../lib/kafka/rdkafka.js';
import { kafkaSecurityOf } from '../lib/kafka/security.js';
import { describeTopics, topicNames } from '../lib/kafka/topics.js';
import { createLogger } from '../lib/log.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import type { PacketEvent as PacketEventRecord } from '../schemas/types.generated.js';
import type { CompiledRule } from './inspect/rules.js';
import { brokersOf, loadDetectionFiles, registryUrlOf } from './main.js';
import type { Decision, PacketEvent, Verdict } from './model.js';
import type { Policy } from './policy/policy.js';
import { MemoryRuntime } from './runtime/memory.js';
import { toInspectedEvent } from './runtime/records.js';
import type { ProcessorsConfig } from './settings.js';
import { buildTopology, DEFAULT_CHAIN, type StepName } from './topology.js';

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
export interface DetectionSetup {
  readonly policy: Policy;
  readonly rules: readonly CompiledRule[];
}

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
  return new Set(verdict.findings.filter((f) => !f.shadow && f.action !== 'flag').map((f) => f.ruleId));
}

export class PolicyReplay {
  readonly #current: MemoryRuntime;
  readonly #candidate: MemoryRuntime;
  readonly #examplesPerRule: number;
  #packets = 0;
  #changed = 0;
  readonly #transitions = new Map<string, number>();
  readonly #rules = new Map<string, { added: number; removed: number; examples: ReplayExample[] }>();
  readonly #devices = new Map<string, number>();

  constructor(options: {
    readonly current: DetectionSetup;
    readonly candidate: DetectionSetup;
    readonly chain?: readonly StepName[];
    readonly examplesPerRule?: number;
  }) {
    const runtime = (setup: DetectionSetup) =>
      new MemoryRuntime({ steps: buildTopology(setup, options.chain ?? DEFAULT_CHAIN) });
    this.#current = runtime(options.current);
    this.#candidate = runtime(options.candidate);
    this.#examplesPerRule = options.examplesPerRule ?? 3;
  }

  get packets(): number {
    return this.#packets;
  }

  add(event: PacketEvent): void {
    this.#packets += 1;
    this.#current.setTime(event.receivedAt);
    this.#candidate.setTime(event.receivedAt);
    const current = this.#current.pipe(event).verdicts[0];
    const candidate = this.#candidate.pipe(event).verdicts[0];
    if (!current || !candidate || current.decision === candidate.decision) return;
    this.#changed += 1;
    const transition = `${current.decision} -> ${candidate.decision}`;
    this.#transitions.set(transition, (this.#transitions.get(transition) ?? 0) + 1);
    this.#devices.set(event.clientId, (this.#devices.get(event.clientId) ?? 0) + 1);
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
    let entry = this.#rules.get(ruleId);
    if (!entry) {
      entry = { added: 0, removed: 0, examples: [] };
      this.#rules.set(ruleId, entry);
    }
    entry[how] += 1;
    if (entry.examples.length < this.#examplesPerRule) entry.examples.push(example);
  }

  report(topDevices = 20): ReplayReport {
    return {
      packets: this.#packets,
      changed: this.#changed,
      transitions: Object.fromEntries([...this.#transitions].sort((a, b) => b[1] - a[1])),
      rules: Object.fromEntries(
        [...this.#rules].sort((a, b) => b[1].added + b[1].removed - (a[1].added + a[1].removed)),
      ),
      devices: [...this.#devices]
        .sort((a, b) => b[1] - a[1])
        .slice(0, topDevices)
        .map(([clientId, changed]) => ({ clientId, changed })),
    };
  }
}

export interface ReplayOptions {
  /** The live processors' settings: Kafka, registry, topic prefix, and the policy and rules in force. */
  readonly config: ProcessorsConfig;
  readonly candidate: DetectionSetup;
  readonly chain?: readonly StepName[];
  readonly sinceMs: number;
  readonly untilMs?: number;
  readonly examplesPerRule?: number;
  /** Called about once a second while reading. */
  readonly onProgress?: (packets: number, seconds: number) => void;
}

/** Reads sentinel.packets from `sinceMs` to its end now and compares the two chains on every packet. */
export async function replayPackets(options: ReplayOptions) {
  const { config } = options;
  const replay = new PolicyReplay({
    current: loadDetectionFiles(config),
    candidate: options.candidate,
    ...(options.chain ? { chain: options.chain } : {}),
    ...(options.examplesPerRule === undefined ? {} : { examplesPerRule: options.examplesPerRule }),
  });
  const connection = {
    brokers: brokersOf(config),
    clientId: 'sentinel-inspect-replay',
    logger: createLogger({ name: 'inspect-replay', level: 'warn', destination: 2 }),
    security: kafkaSecurityOf(config),
  };
  const topics = topicNames(config.topicPrefix);
  const admin = createKafka(connection).admin();
  await admin.connect();
  let partitions: number[];
  try {
    const [topic] = await describeTopics(admin, [topics.packets]);
    partitions = Array.from({ length: topic?.partitions ?? 0 }, (_, p) => p);
  } finally {
    await admin.disconnect();
  }
  const catalog = await SchemaCatalog.connect(registryUrlOf(config), topics);
  const started = performance.now();
  let lastProgress = started;
  const add = (record: PacketEventRecord) => {
    const event = toInspectedEvent(record);
    if (options.untilMs !== undefined && event.receivedAt > options.untilMs) return;
    replay.add(event);
    const at = performance.now();
    if (options.onProgress && at - lastProgress >= 1000) {
      lastProgress = at;
      options.onProgress(replay.packets, (at - started) / 1000);
    }
  };
  await readPartitionsToEnd({
    connection,
    topic: topics.packets,
    partitions,
    fromTimestampMs: options.sinceMs,
    timeoutMs: 120_000,
    onRecord: (message) => {
      if (!message.value) return;
      // Records of the current schema decode at once; an older writer schema needs the registry.
      const current = catalog.decodeCurrent('packets', message.value);
      if (current) {
        add(current);
        return;
      }
      return catalog.decode('packets', message.value).then(add);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  options.onProgress?.(replay.packets, seconds);
  return {
    since: new Date(options.sinceMs).toISOString(),
    until: options.untilMs === undefined ? null : new Date(options.untilMs).toISOString(),
    seconds: Math.round(seconds * 10) / 10,
    packetsPerSecond: Math.round(replay.packets / Math.max(seconds, 0.001)),
    ...replay.report(),
  };
}
