import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { createKafka } from '../lib/kafka/client.js';
import { readPartitionsToEnd } from '../lib/kafka/rdkafka.js';
import { kafkaSecurityOf } from '../lib/kafka/security.js';
import { describeTopics, topicNames } from '../lib/kafka/topics.js';
import { createLogger } from '../lib/log.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import type { PacketEvent as PacketEventRecord } from '../schemas/types.generated.js';
import type { DetectionFiles } from './detection-files.js';
import { brokersOf, registryUrlOf } from './main.js';
import type { PacketEvent } from './model.js';
import { emptyTally, mergeTally, type ReplayTally, reportOf } from './replay.js';
import type { ReplayWorkerSetup } from './replay-worker.js';
import { toInspectedEvent } from './runtime/records.js';
import type { ProcessorsConfig } from './settings.js';
import type { StepName } from './topology.js';

/**
 * `sentinel inspect --replay` on Kafka: reads sentinel.packets from a time to its end now and hands
 * each partition's packets, in order, to one of a few worker threads running the two chains
 * (processors/replay.ts); their tallies add up to the report. Nothing is written anywhere.
 */
export interface ReplayOptions {
  /** The live processors' settings: Kafka, registry, topic prefix, and the policy and rules in force. */
  readonly config: ProcessorsConfig;
  readonly candidate: DetectionFiles;
  /** Threads running the chains, partitions split between them; default: one per core, at most 4. */
  readonly workers?: number;
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
  const examplesPerRule = options.examplesPerRule ?? 3;
  const workerCount = Math.max(1, options.workers ?? Math.min(4, availableParallelism()));
  const lanes = Array.from(
    { length: workerCount },
    () =>
      new ReplayLane({
        current: { policyFile: config.policyFile, rulesFile: config.rulesFile },
        candidate: options.candidate,
        ...(options.chain ? { chain: options.chain } : {}),
        examplesPerRule,
      }),
  );
  const connection = {
    brokers: brokersOf(config),
    clientId: 'sentinel-inspect-replay',
    logger: createLogger({ name: 'inspect-replay', level: 'warn', destination: 2 }),
    security: kafkaSecurityOf(config),
  };
  const topics = topicNames(config.topicPrefix);
  const started = performance.now();
  let read = 0;
  try {
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
    let lastProgress = started;
    const add = (partition: number, record: PacketEventRecord) => {
      if (options.untilMs !== undefined && record.receivedAt > options.untilMs) return;
      read += 1;
      // A partition always goes to the same lane, in order: its devices' state stays in one chain.
      lanes[partition % lanes.length]!.push(toInspectedEvent(record));
      const at = performance.now();
      if (options.onProgress && at - lastProgress >= 1000) {
        lastProgress = at;
        options.onProgress(read, (at - started) / 1000);
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
          add(message.partition, current);
          return;
        }
        return catalog.decode('packets', message.value).then((record) => add(message.partition, record));
      },
    });
    const tally = emptyTally();
    for (const lane of lanes) mergeTally(tally, await lane.finish(), examplesPerRule);
    const seconds = (performance.now() - started) / 1000;
    options.onProgress?.(tally.packets, seconds);
    return {
      since: new Date(options.sinceMs).toISOString(),
      until: options.untilMs === undefined ? null : new Date(options.untilMs).toISOString(),
      seconds: Math.round(seconds * 10) / 10,
      packetsPerSecond: Math.round(tally.packets / Math.max(seconds, 0.001)),
      workers: workerCount,
      ...reportOf(tally),
    };
  } finally {
    for (const lane of lanes) await lane.terminate();
  }
}

/** One worker thread running the two chains over the events of its partitions, sent in batches. */
class ReplayLane {
  readonly #worker: Worker;
  #batch: PacketEvent[] = [];
  readonly #failed: Promise<never>;

  constructor(setup: ReplayWorkerSetup) {
    this.#worker = new Worker(new URL('./replay-worker.js', import.meta.url), { workerData: setup });
    this.#failed = new Promise<never>((_, reject) => this.#worker.once('error', reject));
    this.#failed.catch(() => undefined);
  }

  push(event: PacketEvent): void {
    this.#batch.push(event);
    if (this.#batch.length >= 500) this.#flush();
  }

  #flush(): void {
    if (this.#batch.length === 0) return;
    this.#worker.postMessage({ events: this.#batch });
    this.#batch = [];
  }

  async finish(): Promise<ReplayTally> {
    this.#flush();
    const tally = new Promise<ReplayTally>((resolve) => this.#worker.once('message', resolve));
    this.#worker.postMessage({ end: true });
    return Promise.race([tally, this.#failed]);
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}
