/**
 * Device -> origin through Sentinel, and the same workload straight into a plain Mosquitto.
 *
 * Sentinel: devices publish to the edge (`sentinel ingest`: auth, limits off, acks=all to a
 * replication-3 topic), the processors inspect and approve in Kafka transactions, the bridge
 * publishes over MQTT-over-WebSocket to the origin Mosquitto; a subscriber at the origin receives.
 * Direct: the same publishers and subscriber, one plain Mosquitto between them.
 *
 * Load comes from separate processes (bench/load/publisher.ts) on a schedule, each message
 * carrying the time it was due; the subscriber (bench/load/subscriber.ts) records scheduled send
 * -> receipt in an HdrHistogram and which messages arrived. Every device publishes at the same
 * rate (--per-device, 20/s): a higher total rate means more devices, as in a growing fleet, and no
 * device's own rate jumps (the anomaly detector would rightly flag a tenfold jump).
 *
 *  - latency: QoS 1, 100 B, at fixed rates (100, 1,000, 5,000 msg/s);
 *  - throughput: for QoS 0/1 x 100 B/4 KB, rates doubling until a step loses a message or its P99
 *    exceeds the bound; the highest passing rate is the sustained rate;
 *  - stage cost: CPU seconds each stage's processes used during the steps, per event.
 *
 *   node dist/bench/pipeline.bench.js [--quick] [--json FILE] [--targets sentinel,direct]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { topicRoles } from '../lib/kafka/topics.js';
import { originCredentials } from '../lib/local-platform.js';
import { type BenchChild, startBenchChild } from './lib/child.js';
import { failHereInTests, runWithCleanup, type ScenarioCleanup } from './lib/cleanup.js';
import { type LatencySummary, mergeHistograms, monotonicMicros, summarise } from './lib/histogram.js';
import {
  climbLadder,
  deliveryQuietMs,
  latencyCells,
  latencyHeader,
  type MeasuredStep,
  type Sustained,
  scheduleFrom,
  scheduleOptions,
} from './lib/ladder.js';
import type { MqttIdentity, MqttTarget } from './lib/mqtt-client.js';
import { formatTable, writeJsonResult } from './lib/output.js';
import { platformPids, treeCpuSeconds } from './lib/processes.js';
import { brokersCompileSeconds, jitDuring } from './lib/prometheus.js';
import {
  type PlainMosquitto,
  type RunningService,
  type SentinelPipeline,
  startPlainMosquitto,
  startSentinelPipeline,
} from './lib/services.js';
import type { PublisherResult, PublisherRun } from './load/publisher.js';
import type { SubscriberReport } from './load/subscriber.js';
import { type BenchWorld, openBenchWorld } from './support.js';

const { values } = parseArgs({
  options: {
    ...scheduleOptions,
    targets: { type: 'string', default: 'sentinel,direct' },
    'per-device': { type: 'string', default: '20' },
    matrix: { type: 'string' },
    publishers: { type: 'string', default: '2' },
  },
});
const { quick, stepSeconds, latencySeconds, latencyRates, latencyBoundMs } = scheduleFrom(
  values,
  '100,1000,5000',
);
/** Where each target's ladder starts: the plain broker passes every rate up to 5,000/s (its latency runs show it). */
const ladderStart = (target: 'sentinel' | 'direct') =>
  Math.min(Number(values['ladder-start'] ?? (target === 'direct' ? 4000 : 250)), ladderMax(target));
/** Where each target's ladder ends: Sentinel on this box is far below 16,000/s, and every device it
 * would need is a scrypt check at connect time. */
const ladderMax = (target: 'sentinel' | 'direct') =>
  Number(values['ladder-max'] ?? (quick ? 4000 : target === 'direct' ? 64000 : 16000));
const perDevice = Number(values['per-device']);
const publisherCount = Number(values.publishers);
const matrix = (values.matrix ?? (quick ? 'qos1-100' : 'qos0-100,qos1-100,qos0-4096,qos1-4096'))
  .split(',')
  .map((cell) => {
    const [, qos, bytes] = /^qos([01])-(\d+)$/.exec(cell) ?? [];
    if (qos === undefined || bytes === undefined)
      throw new Error(`--matrix: ${cell} is not qos<0|1>-<bytes>`);
    return { qos: Number(qos) as 0 | 1, payloadBytes: Number(bytes) };
  });
const targets = values.targets.split(',') as Array<'sentinel' | 'direct'>;
const deviceCountOf = (target: 'sentinel' | 'direct') =>
  Math.ceil(Math.max(ladderMax(target), ...latencyRates) / perDevice);
const password = randomBytes(12).toString('base64url');

interface Step extends MeasuredStep {
  readonly target: 'sentinel' | 'direct';
  readonly qos: 0 | 1;
  readonly payloadBytes: number;
  readonly devices: number;
  readonly puback: LatencySummary | null;
  /** CPU ms per delivered message of every stage (for Sentinel: edge, processors, bridge, forensics sink, the three brokers, origin). */
  readonly cpuMsPerMessage: number;
  /**
   * Seconds the brokers' JIT compilers worked during the step (null: not Sentinel, or an exporter
   * did not answer): tens of seconds mean the step measured brokers still compiling, not warm ones.
   */
  readonly brokersJitSeconds: number | null;
}

interface Target {
  readonly name: 'sentinel' | 'direct';
  readonly publishers: BenchChild[];
  readonly subscriber: BenchChild;
  /** The processes (with their children) whose CPU time is a stage's cost. */
  readonly stages: Record<string, number[]>;
  /** The brokers' JIT seconds so far (brokersCompileSeconds); null where no broker is measured. */
  brokersJitSeconds(): Promise<number | null>;
  close(): Promise<void>;
}

async function openTarget(name: 'sentinel' | 'direct', cleanup: ScenarioCleanup): Promise<Target> {
  let world: BenchWorld | null = null;
  let pipeline: SentinelPipeline | null = null;
  let mosquitto: PlainMosquitto | null = null;
  const ids = Array.from({ length: deviceCountOf(name) }, (_, i) => `pb${i}`);
  let publishTarget: MqttTarget;
  let subscribeTarget: MqttTarget;
  let subscriberIdentity: MqttIdentity;
  let identities: MqttIdentity[];
  let stages: Record<string, number[]>;
  const started: string[] = [];
  const used: string[] = [];
  if (name === 'sentinel') {
    world = await openBenchWorld('pipeline', cleanup);
    await world.addDevices(ids, password);
    pipeline = await startSentinelPipeline(world, {
      stages: ['ingest', 'processors', 'bridge', 'forensics-sink'],
      cleanup,
    });
    publishTarget = { host: '127.0.0.1', port: pipeline.edgePort };
    subscribeTarget = { host: '127.0.0.1', port: world.platform.originMqttPort };
    const app = originCredentials(world.platform).app;
    subscriberIdentity = { clientId: `${world.id}-sink`, username: app.username, password: app.password };
    identities = ids.map((clientId) => ({ clientId: `${clientId}`, username: clientId, password }));
    const platform = platformPids(world.platform.stateDir);
    stages = {
      ingest: [pipeline.ingest.process.pid!],
      processors: [pipeline.processors!.process.pid!],
      bridge: [pipeline.bridge!.process.pid!],
      forensics: [pipeline.forensicsSink!.process.pid!],
      // Three brokers with replication 3 on this one machine: the cluster's whole cost per event.
      kafka: platform.kafka,
      origin: platform.origin,
    };
    const pid = (service: RunningService | null) => service?.process.pid ?? 'none';
    started.push(
      `topics ${world.prefix}{${topicRoles.join(',')}}: ${world.platform.kafkaPartitions} partitions, replication 3, min ISR 2`,
      `device database ${world.id} (MariaDB 127.0.0.1:3306): ${ids.length} devices pb0..pb${ids.length - 1}, one password`,
      `edge (sentinel ingest) pid ${pid(pipeline.ingest)} on 127.0.0.1:${pipeline.edgePort}, rate limits off, Redis keys ${world.id}:*`,
      `processors pid ${pid(pipeline.processors)}, bridge pid ${pid(pipeline.bridge)}, forensics sink pid ${pid(pipeline.forensicsSink)} (embedded ClickHouse in ${pipeline.forensicsDir}), groups ${world.id}-*`,
    );
    used.push(
      `Kafka brokers pids ${platform.kafka.join(', ') || 'unknown'}, origin Mosquitto pid ${platform.origin.join(', ') || 'unknown'} on ${world.platform.originMqttPort}, registry, Redis, MariaDB`,
    );
  } else {
    mosquitto = await startPlainMosquitto();
    const plain = mosquitto;
    cleanup.add(`plain Mosquitto (pid ${plain.process.pid})`, () => plain.stop());
    publishTarget = { host: '127.0.0.1', port: mosquitto.port };
    subscribeTarget = publishTarget;
    subscriberIdentity = { clientId: 'direct-sink' };
    identities = ids.map((clientId) => ({ clientId }));
    stages = { mosquitto: [mosquitto.process.pid!] };
    started.push(
      `plain Mosquitto pid ${mosquitto.process.pid} on 127.0.0.1:${mosquitto.port}, anonymous, no persistence`,
    );
  }
  const subscriber = startBenchChild('subscriber', new URL('./load/subscriber.js', import.meta.url));
  cleanup.add(`subscriber (pid ${subscriber.pid})`, () => closeLoad(subscriber));
  await subscriber.request('connect', {
    target: subscribeTarget,
    identity: subscriberIdentity,
    filter: 'devices/#',
    qos: 1,
  });
  const publishers = Array.from({ length: publisherCount }, (_, p) =>
    startBenchChild(`publisher-${p}`, new URL('./load/publisher.js', import.meta.url)),
  );
  for (const publisher of publishers)
    cleanup.add(`${publisher.name} (pid ${publisher.pid})`, () => closeLoad(publisher));
  // Publisher p gets devices p, p + P, p + 2P...: the first k active devices of each publisher
  // together are the first k * P devices of the fleet.
  await Promise.all(
    publishers.map((publisher, p) =>
      publisher.request('connect', {
        target: publishTarget,
        devices: identities.filter((_, i) => i % publisherCount === p),
      }),
    ),
  );
  started.push(
    `load: ${publisherCount} publisher processes (pids ${publishers.map((p) => p.pid).join(', ')}) with ${ids.length} devices at ${perDevice} msg/s each, 1 subscriber (pid ${subscriber.pid})`,
  );
  console.error(
    [
      `pipeline: ${name}: started for this run (stopped and removed at the end, also on a failure or Ctrl-C):`,
      ...started.map((line) => `  ${line}`),
      `  limits: latency at ${latencyRates.join(', ')} msg/s for ${latencySeconds} s each (QoS 1, 100 B); ladder ${matrix.map((m) => `QoS ${m.qos} ${m.payloadBytes} B`).join(', ')} from ${ladderStart(name)}/s doubling to ${ladderMax(name)}/s, ${stepSeconds} s a step, stops at the first step that loses a message or has P99 > ${latencyBoundMs} ms`,
      ...used.map((line) => `  used, not started: ${line}`),
    ].join('\n'),
  );
  return {
    name,
    publishers,
    subscriber,
    stages,
    brokersJitSeconds: async () => (world ? brokersCompileSeconds(world.platform) : null),
    async close() {
      await Promise.all([...publishers, subscriber].map(closeLoad));
      await pipeline?.stop();
      await mosquitto?.stop();
      await world?.dispose();
    },
  };
}

/** Closes a load process's connections, then ends it. */
async function closeLoad(child: BenchChild): Promise<void> {
  await Promise.race([
    child.request('close').catch(() => undefined),
    new Promise((resolve) => setTimeout(resolve, 10_000)),
  ]);
  await child.stop();
}

async function step(
  target: Target,
  qos: 0 | 1,
  payloadBytes: number,
  rate: number,
  seconds: number,
): Promise<Step> {
  const run = randomBytes(6).toString('base64url').slice(0, 8);
  const devices = Math.min(deviceCountOf(target.name), Math.max(1, Math.ceil(rate / perDevice)));
  const P = target.publishers.length;
  const perPublisher = Math.round((rate * seconds) / P);
  await target.subscriber.request('expect', { run, expected: perPublisher * P });
  const stageCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
  // Read first: the exporters' answers are then outside the step's CPU, as the read after it is.
  const jitBefore = await target.brokersJitSeconds();
  const cpuBefore = Object.fromEntries(Object.entries(target.stages).map(([k, pids]) => [k, stageCpu(pids)]));
  const loadCpuBefore = target.publishers.reduce((sum, child) => sum + treeCpuSeconds(child.pid), 0);
  const startAtUs = monotonicMicros() + 300_000;
  const results = await Promise.all(
    target.publishers.map((publisher, p) =>
      publisher.request<PublisherResult>('run', {
        run,
        rate: rate / P,
        durationMs: seconds * 1000,
        qos,
        payloadBytes,
        topic: 'devices/{clientId}/telemetry',
        window: 200,
        startAtUs,
        activeDevices: Math.ceil(devices / P),
        seqOffset: p,
        seqStride: P,
      } satisfies PublisherRun),
    ),
  );
  const sent = results.reduce((sum, r) => sum + r.sent, 0);
  const report = await target.subscriber.request<SubscriberReport>('report', {
    run,
    sent,
    quietMs: deliveryQuietMs,
  });
  const cpuSeconds = Object.fromEntries(
    Object.entries(target.stages).map(([k, pids]) => [
      k,
      Math.round((stageCpu(pids) - cpuBefore[k]!) * 100) / 100,
    ]),
  );
  cpuSeconds.load =
    Math.round((target.publishers.reduce((sum, c) => sum + treeCpuSeconds(c.pid), 0) - loadCpuBefore) * 100) /
    100;
  const jitAfter = await target.brokersJitSeconds();
  const brokersJitSeconds = jitDuring(jitBefore, jitAfter);
  const latency = summarise(mergeHistograms([report.latency]));
  const puback = qos === 1 ? summarise(mergeHistograms(results.map((r) => r.puback))) : null;
  const spanSeconds = report.lastReceiptUs > 0 ? (report.lastReceiptUs - startAtUs) / 1e6 : Number.NaN;
  const lost = sent - report.unique;
  const stagesCpu = Object.keys(target.stages).reduce((sum, k) => sum + (cpuSeconds[k] ?? 0), 0);
  const result: Step = {
    target: target.name,
    qos,
    payloadBytes,
    rate,
    seconds,
    devices,
    sent,
    delivered: report.unique,
    lost,
    duplicates: report.duplicates,
    achievedPerSecond: Math.round(report.unique / Math.max(seconds, spanSeconds)),
    latency,
    puback,
    generatorMaxBehindMs: Math.max(...results.map((r) => r.maxBehindMs)),
    cpuSeconds,
    cpuMsPerMessage: report.unique > 0 ? Math.round((stagesCpu * 1e6) / report.unique) / 1000 : Number.NaN,
    brokersJitSeconds,
    passed: lost === 0 && sent === perPublisher * P && latency.p99Ms <= latencyBoundMs,
  };
  console.error(
    `pipeline: ${target.name} qos${qos} ${payloadBytes}B ${rate}/s: ${report.unique}/${sent} delivered, ` +
      `P50 ${latency.p50Ms} P99 ${latency.p99Ms} max ${latency.maxMs} ms, ${result.cpuMsPerMessage} CPU ms/msg ` +
      `(${Object.keys(target.stages).join(' + ')})` +
      (brokersJitSeconds === null ? '' : `, brokers' JIT ${brokersJitSeconds} s`) +
      `${result.passed ? '' : ' (fails)'}`,
  );
  return result;
}

const latencySteps: Step[] = [];
const throughput: Array<{ target: string; qos: 0 | 1; payloadBytes: number } & Sustained<Step>> = [];
async function measure(cleanup: ScenarioCleanup): Promise<void> {
  for (const name of targets) {
    console.error(`pipeline: opening ${name} with ${deviceCountOf(name)} devices`);
    const target = await openTarget(name, cleanup);
    failHereInTests(`pipeline-${name}-started`);
    try {
      // Warm-up: sessions, consumers and producers settle, the JIT compiles the paths.
      await step(target, 1, 100, 200, 2);
      for (const rate of latencyRates) latencySteps.push(await step(target, 1, 100, rate, latencySeconds));
      for (const { qos, payloadBytes } of matrix) {
        const sustained = await climbLadder(ladderStart(name), ladderMax(name), (rate) =>
          step(target, qos, payloadBytes, rate, stepSeconds),
        );
        throughput.push({ target: name, qos, payloadBytes, ...sustained });
      }
    } finally {
      await target.close();
    }
  }
}

/** Events per CPU-second of each stage, over every step (an event is a message the subscriber got). */
function stageCost(): Record<string, number> {
  const passed = [...latencySteps, ...throughput.flatMap((t) => t.steps)].filter((s) => s.delivered > 0);
  const cost: Record<string, number> = {};
  for (const target of targets) {
    const steps = passed.filter((s) => s.target === target);
    const delivered = steps.reduce((sum, s) => sum + s.delivered, 0);
    for (const stage of Object.keys(steps[0]?.cpuSeconds ?? {})) {
      if (stage === 'load') continue;
      const cpu = steps.reduce((sum, s) => sum + (s.cpuSeconds[stage] ?? 0), 0);
      cost[stage] = cpu > 0 ? Math.round(delivered / cpu) : Number.NaN;
    }
  }
  return cost;
}

runWithCleanup('pipeline', async (cleanup) => {
  await measure(cleanup);
  const result = {
    bench: 'pipeline',
    settings: {
      quick,
      publishers: publisherCount,
      perDeviceRate: perDevice,
      devices: { sentinel: deviceCountOf('sentinel'), direct: deviceCountOf('direct') },
      stepSeconds,
      latencySeconds,
      latencyBoundMs,
      ladder: `from ${ladderStart('sentinel')}/s (Sentinel) and ${ladderStart('direct')}/s (direct), doubling to ${ladderMax('sentinel')}/s and ${ladderMax('direct')}/s`,
      sentinel:
        'edge (acks=all, RF 3, min ISR 2) -> processors (default policy, transactions) -> bridge (QoS 1 over WebSocket) -> origin Mosquitto',
      direct: 'plain Mosquitto, anonymous, no persistence',
      subscriber: 'QoS 1 subscription at the origin / at the direct broker',
    },
    latency: latencySteps,
    throughput,
    eventsPerCpuSecond: stageCost(),
  };

  console.log(
    formatTable(
      ['target', 'rate/s', ...latencyHeader, 'CPU ms/msg, every stage', "brokers' JIT s"],
      latencySteps.map((s) => [
        s.target,
        s.rate,
        ...latencyCells(s),
        s.cpuMsPerMessage,
        s.brokersJitSeconds ?? Number.NaN,
      ]),
    ),
  );
  console.log(
    formatTable(
      ['target', 'QoS', 'payload B', 'sustained msg/s', 'limited by'],
      throughput.map((t) => [t.target, t.qos, t.payloadBytes, t.highestSustained ?? Number.NaN, t.limitedBy]),
    ),
  );
  console.log(`events per CPU-second: ${JSON.stringify(result.eventsPerCpuSecond)}`);
  writeJsonResult(values.json, result);
});
