/**
 * The floor: a bare two-hop Kafka relay on the platform's own brokers, which is what the pipeline's
 * device -> origin latency is held against (issue 13: P99 within 1.5x of it, in the same run).
 *
 *   source --produce--> topic A --consume--> relay --produce--> topic B --consume--> sink
 *
 * Same client and settings as the pipeline (lib/kafka/rdkafka.ts: idempotent producer, acks=all,
 * linger `defaultLingerMs`; batch consumer, 100 ms fetch wait as the processors and the bridge), topics as the contract makes them
 * (3 partitions here, replication 3, min ISR 2), no inspection, no transactions, no schema. Each
 * end is a process of its own (bench/load/kafka-hop.ts), as each service is.
 *
 *  - latency: 100 B messages at fixed open-loop rates (100, 1,000 msg/s; the full run adds 3,000),
 *    timed from the moment each was due at the source to its consumption at the sink (the due time
 *    travels in the payload), P50 / P99 / max;
 *  - sustained: rates doubling from 250/s (as the pipeline's ladder) until a step loses a message
 *    or its P99 exceeds 1 s; the highest passing rate;
 *  - cost: CPU seconds of the relay and of the three brokers per delivered message.
 *
 * Its topics and groups have unique names and are deleted at the end, also on a failure or Ctrl-C.
 *
 *   node dist/bench/floor.bench.js [--quick] [--json FILE] [--latency-rates 100,1000]
 *     [--latency-seconds 15] [--seconds 5] [--ladder-start 250] [--ladder-max 16000] [--partitions 3]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { defaultLingerMs } from '../lib/kafka/defaults.js';
import { createTopics, describeTopics } from '../lib/kafka/topics.js';
import { kafkaBootstrap, stackSchema } from '../lib/local-platform.js';
import { stackDown, stackUp } from '../platform/stack.js';
import type { ArrivalReport } from './lib/arrivals.js';
import { type BenchChild, startBenchChild } from './lib/child.js';
import { failHereInTests, runWithCleanup } from './lib/cleanup.js';
import { type LatencySummary, mergeHistograms, monotonicMicros, summarise } from './lib/histogram.js';
import {
  climbLadder,
  deliveryQuietMs,
  latencyCells,
  latencyHeader,
  type MeasuredStep,
  scheduleFrom,
  scheduleOptions,
} from './lib/ladder.js';
import { deleteGroupsNamed, deleteTopicsNamed } from './lib/leftovers.js';
import { formatTable, writeJsonResult } from './lib/output.js';
import { platformPids, treeCpuSeconds } from './lib/processes.js';
import { brokersCompileSeconds, jitDuring } from './lib/prometheus.js';
import type { HopConnect, HopRun, HopRunResult, HopStats } from './load/kafka-hop.js';

const { values } = parseArgs({
  options: {
    ...scheduleOptions,
    partitions: { type: 'string', default: '3' },
    'payload-bytes': { type: 'string', default: '100' },
    'fetch-wait-ms': { type: 'string', default: '100' },
    keys: { type: 'string', default: '64' },
  },
});
const { quick, stepSeconds, latencySeconds, latencyRates, latencyBoundMs } = scheduleFrom(
  values,
  '100,1000,3000',
);
/** Where the ladder starts and ends: as the pipeline's Sentinel ladder, so the two compare step by step. */
const ladderStart = Number(values['ladder-start'] ?? 250);
const ladderMax = Number(values['ladder-max'] ?? (quick ? 4000 : 16000));
const partitions = Number(values.partitions);
const payloadBytes = Number(values['payload-bytes']);
const fetchWaitMs = Number(values['fetch-wait-ms']);
const keys = Number(values.keys);

interface FloorStep extends MeasuredStep {
  /** Due at the source -> acknowledged by the in-sync replicas of topic A: the first produce. */
  readonly firstAck: LatencySummary;
  /** CPU ms per delivered message of the relay and the three brokers (the source and the sink are the load). */
  readonly cpuMsPerMessage: number;
  /** Seconds the brokers' JIT compilers worked during the step (bench/lib/prometheus.ts); null: not read. */
  readonly brokersJitSeconds: number | null;
}

/** Closes a hop's clients (its consumer leaves its group), then ends its process. */
async function closeHop(hop: BenchChild): Promise<void> {
  await Promise.race([
    hop.request('close').catch(() => undefined),
    new Promise((resolve) => setTimeout(resolve, 15_000)),
  ]);
  await hop.stop();
}

runWithCleanup('floor', async (cleanup) => {
  const platform = loadConfig(stackSchema, { env: process.env });
  const up = await stackUp(platform, () => undefined);
  if (up.started.length > 0) {
    console.error(`floor: started platform components ${up.started.join(', ')} (stopped at the end)`);
    cleanup.add('platform components', () => stackDown(platform, () => undefined, new Set(up.started)));
  }
  const brokers = kafkaBootstrap(platform);
  const id = `bench_floor_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
  const topicA = `${id}.a`;
  const topicB = `${id}.b`;
  const groups = [`${id}-relay`, `${id}-sink`];
  const admin = createKafka({ brokers, clientId: id }).admin();
  await admin.connect();
  cleanup.add('admin connection', () => admin.disconnect());
  // Undone after the hops have left their groups (last in, first out): a group with members cannot go.
  cleanup.add(`consumer groups ${groups.join(', ')}`, () => deleteGroupsNamed(admin, `${id}-`));
  cleanup.add(`topics ${topicA}, ${topicB}`, () => deleteTopicsNamed(admin, `${id}.`));
  await createTopics(admin, [topicA, topicB], partitions);
  const described = await describeTopics(admin, [topicA, topicB]);

  const hops = {
    source: startBenchChild('floor-source', new URL('./load/kafka-hop.js', import.meta.url)),
    relay: startBenchChild('floor-relay', new URL('./load/kafka-hop.js', import.meta.url)),
    sink: startBenchChild('floor-sink', new URL('./load/kafka-hop.js', import.meta.url)),
  };
  for (const [name, hop] of Object.entries(hops))
    cleanup.add(`${name} (pid ${hop.pid})`, () => closeHop(hop));
  const common = { brokers, partitions, fetchWaitMs } as const;
  await Promise.all([
    hops.sink.request('connect', {
      ...common,
      role: 'sink',
      clientId: `${id}-sink`,
      from: topicB,
      groupId: groups[1],
    } satisfies HopConnect),
    hops.relay.request('connect', {
      ...common,
      role: 'relay',
      clientId: `${id}-relay`,
      from: topicA,
      to: topicB,
      groupId: groups[0],
    } satisfies HopConnect),
    hops.source.request('connect', {
      ...common,
      role: 'source',
      clientId: `${id}-source`,
      to: topicA,
    } satisfies HopConnect),
  ]);
  const brokerPids = platformPids(platform.stateDir).kafka;
  console.error(
    [
      'floor: started for this run (stopped and removed at the end, also on a failure or Ctrl-C):',
      ...described.map(
        (t) =>
          `  topic ${t.name}: ${t.partitions} partitions, replication ${t.replicationFactor}, min ISR ${t.configs['min.insync.replicas']}`,
      ),
      `  source pid ${hops.source.pid} -> relay pid ${hops.relay.pid} (group ${groups[0]}) -> sink pid ${hops.sink.pid} (group ${groups[1]})`,
      `  clients: lib/kafka/rdkafka.ts, idempotent acks=all, linger ${defaultLingerMs} ms, fetch wait ${fetchWaitMs} ms, ${keys} keys, ${payloadBytes} B`,
      `  limits: latency at ${latencyRates.join(', ')} msg/s for ${latencySeconds} s each; ladder from ${ladderStart}/s doubling to ${ladderMax}/s, ${stepSeconds} s a step, stops at the first step that loses a message or has P99 > ${latencyBoundMs} ms`,
      `  used, not started: Kafka brokers ${brokers.join(', ')} (pids ${brokerPids.join(', ') || 'unknown'})`,
    ].join('\n'),
  );
  failHereInTests('floor-started');

  const stages: Record<string, number[]> = {
    source: [hops.source.pid],
    relay: [hops.relay.pid],
    sink: [hops.sink.pid],
    kafka: brokerPids,
  };
  const stageCpu = () =>
    Object.fromEntries(
      Object.entries(stages).map(([k, pids]) => [k, pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0)]),
    );

  async function step(rate: number, seconds: number): Promise<FloorStep> {
    const run = randomBytes(6).toString('base64url').slice(0, 8);
    const total = Math.round(rate * seconds);
    await hops.sink.request('expect', { run, expected: total });
    // Read first: the exporters' answers are then outside the step's CPU, as the read after it is.
    const jitBefore = await brokersCompileSeconds(platform);
    const cpuBefore = stageCpu();
    const startAtUs = monotonicMicros() + 300_000;
    const sent = await hops.source.request<HopRunResult>('run', {
      run,
      rate,
      durationMs: seconds * 1000,
      payloadBytes,
      startAtUs,
      keys,
      to: topicA,
    } satisfies HopRun & { to: string });
    const report = await hops.sink.request<ArrivalReport>('report', {
      run,
      sent: sent.sent,
      quietMs: deliveryQuietMs,
    });
    const cpuAfter = stageCpu();
    const jitAfter = await brokersCompileSeconds(platform);
    const brokersJitSeconds = jitDuring(jitBefore, jitAfter);
    const cpuSeconds = Object.fromEntries(
      Object.keys(stages).map((k) => [k, Math.round((cpuAfter[k]! - cpuBefore[k]!) * 100) / 100]),
    );
    const latency = summarise(mergeHistograms([report.latency]));
    const spanSeconds = report.lastReceiptUs > 0 ? (report.lastReceiptUs - startAtUs) / 1e6 : Number.NaN;
    const lost = sent.sent - report.unique;
    const result: FloorStep = {
      rate,
      seconds,
      sent: sent.sent,
      delivered: report.unique,
      lost,
      duplicates: report.duplicates,
      achievedPerSecond: Math.round(report.unique / Math.max(seconds, spanSeconds)),
      latency,
      firstAck: summarise(mergeHistograms([sent.ack])),
      generatorMaxBehindMs: sent.maxBehindMs,
      cpuSeconds,
      cpuMsPerMessage:
        report.unique > 0
          ? Math.round((((cpuSeconds.relay ?? 0) + (cpuSeconds.kafka ?? 0)) * 1e6) / report.unique) / 1000
          : Number.NaN,
      brokersJitSeconds,
      passed: lost === 0 && sent.failed === 0 && sent.sent === total && latency.p99Ms <= latencyBoundMs,
    };
    console.error(
      `floor: ${rate}/s: ${report.unique}/${sent.sent} delivered, P50 ${latency.p50Ms} P99 ${latency.p99Ms} ` +
        `max ${latency.maxMs} ms, ${result.cpuMsPerMessage} CPU ms/msg (relay + brokers)` +
        (brokersJitSeconds === null ? '' : `, brokers' JIT ${brokersJitSeconds} s`) +
        `${result.passed ? '' : ' (fails)'}`,
    );
    return result;
  }

  // Warm-up: producers connected to every leader, the JIT compiled the paths.
  await step(200, 2);
  const latency: FloorStep[] = [];
  for (const rate of latencyRates) latency.push(await step(rate, latencySeconds));
  const throughput = await climbLadder(ladderStart, ladderMax, (rate) => step(rate, stepSeconds));
  const ladder = throughput.steps;
  const relayStats = await hops.relay.request<HopStats>('stats');
  const measured = [...latency, ...ladder];
  const delivered = measured.reduce((sum, s) => sum + s.delivered, 0);
  const cpuTotal = (stage: string) => measured.reduce((sum, s) => sum + (s.cpuSeconds[stage] ?? 0), 0);

  const result = {
    bench: 'floor',
    settings: {
      quick,
      path: 'source -> topic A -> relay -> topic B -> sink, each a process, no inspection, no transactions',
      client: `@confluentinc/kafka-javascript through lib/kafka/rdkafka.ts: RecordProducer (idempotent, acks=all, linger ${defaultLingerMs} ms), BatchConsumer (fetch wait ${fetchWaitMs} ms, read_committed, cooperative-sticky)`,
      topics: described.map((t) => ({
        partitions: t.partitions,
        replicationFactor: t.replicationFactor,
        minInsyncReplicas: Number(t.configs['min.insync.replicas']),
      }))[0],
      payloadBytes,
      keys,
      latencySeconds,
      stepSeconds,
      latencyBoundMs,
      ladder: `from ${ladderStart}/s doubling to ${ladderMax}/s`,
    },
    latency,
    throughput,
    relay: relayStats,
    /** Over every measured step: CPU ms per delivered message, by stage. */
    cpuMsPerMessage: Object.fromEntries(
      Object.keys(stages).map((k) => [
        k,
        delivered > 0 ? Math.round((cpuTotal(k) * 1e6) / delivered) / 1000 : null,
      ]),
    ),
  };
  console.log(
    formatTable(
      ['floor rate/s', ...latencyHeader, 'first ack P99 ms', 'CPU ms/msg', "brokers' JIT s"],
      [...latency, ...ladder].map((s) => [
        s.rate,
        ...latencyCells(s),
        s.firstAck.p99Ms,
        s.cpuMsPerMessage,
        s.brokersJitSeconds ?? Number.NaN,
      ]),
    ),
  );
  console.log(
    `floor: sustained ${result.throughput.highestSustained ?? '—'} msg/s (next: ${result.throughput.limitedBy})`,
  );
  writeJsonResult(values.json, result);
});
