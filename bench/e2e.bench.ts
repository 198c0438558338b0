/**
 * Device -> origin, end to end: edge (acks=all, RF 3) -> processors (inspection, transactions) ->
 * bridge (MQTT over WebSocket, commit after the origin's PUBACK). The latency is the Delivery
 * record's endToEndMs (edge receipt to origin PUBACK), for every message, at fixed offered rates;
 * then rising rates until deliveries fall behind, for the highest sustained rate.
 *
 * The load generator paces by schedule (message i is due at start + i/rate), so a stall delays
 * the messages behind it in the measurement instead of hiding them (coordinated omission).
 * Each rate also reports its tail: which hops the slowest 1 % waited in, and into how many
 * separate bursts they fall (a few bursts: stalls that every message in flight shares).
 *
 *   node dist/bench/e2e.bench.js [--rates 100,1000] [--seconds 10] [--ramp 2000,4000,8000]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot, registryUrl } from '../lib/local-platform.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import { BenchMqttClient } from './lib/mqtt-client.js';
import { scrapeMetrics } from './lib/prometheus.js';
import { startSentinelPipeline } from './lib/services.js';
import { openBenchWorld } from './support.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '100,1000' },
    seconds: { type: 'string', default: '10' },
    ramp: { type: 'string', default: '2000,4000,8000' },
    devices: { type: 'string', default: '20' },
  },
});
const seconds = Number(values.seconds);
const deviceCount = Number(values.devices);
const password = 'e2e-bench-password';

const world = await openBenchWorld('e2e');
const { id, platform, topics, kafka } = world;
const catalog = await SchemaCatalog.connect(registryUrl(platform), topics);
const ids = Array.from({ length: deviceCount }, (_, i) => `e2e-${i}`);
await world.addDevices(ids, password);

const pipeline = await startSentinelPipeline(world);

/**
 * Taps: two more consumers note when each packet event and each approved message becomes
 * visible to a reader (packets as soon as the edge's acks=all write is replicated; approved only
 * once the processors' transaction is committed and its markers are written, read_committed), and
 * the approved record's own timestamp (set by the processors' producer when the produce request
 * is built, i.e. after AddPartitionsToTxn). With the Delivery record's receivedAt / approvedAt /
 * deliveredAt this splits every message into five hops (all clocks are this machine's).
 */
const packetSeen = new Map<string, number>();
const approvedSeen = new Map<string, { createdAt: number; seenAt: number }>();
const taps = [
  kafka.consumer({ groupId: `${id}-tap-packets`, readUncommitted: true }),
  kafka.consumer({ groupId: `${id}-tap-approved` }),
];
const [packetsTap, approvedTap] = taps as [(typeof taps)[0], (typeof taps)[0]];
await packetsTap.connect();
await packetsTap.subscribe({ topic: topics.packets, fromBeginning: true });
await packetsTap.run({
  partitionsConsumedConcurrently: 3,
  eachBatch: async ({ batch }) => {
    const seenAt = Date.now();
    for (const m of batch.messages) packetSeen.set(`${batch.partition}/${m.offset}`, seenAt);
  },
});
await approvedTap.connect();
await approvedTap.subscribe({ topic: topics.approved, fromBeginning: true });
await approvedTap.run({
  partitionsConsumedConcurrently: 3,
  eachBatch: async ({ batch }) => {
    const seenAt = Date.now();
    for (const m of batch.messages) {
      if (!m.value) continue;
      const approved = await catalog.decode('approved', m.value);
      approvedSeen.set(approved.eventId, { createdAt: Number(m.timestamp), seenAt });
    }
  },
});

// Every delivery record's latency, by event id, in arrival order.
const latencies = new Map<string, number>();
/** The hops of each message, in ms (see the taps above). */
interface Legs {
  /** edge receipt (epoch ms), to tell a stall shared by consecutive messages from slowness of one */
  readonly receivedAt: number;
  /** edge receipt -> approval (the Delivery record's two timestamps) */
  readonly toApproval: number;
  /** approval -> origin PUBACK */
  readonly toDelivery: number;
  /** edge receipt -> packet event readable in Kafka (edge batching, acks=all replication) */
  readonly edge: number;
  /** packet readable -> approved by the chain (processors' fetch, waiting for the partition's previous transaction, inspection) */
  readonly processorsFetch: number;
  /** approved -> approved record built (the transaction's AddPartitionsToTxn, with its retries) */
  readonly txnSend: number;
  /** approved record built -> readable by read_committed (produce, offsets, EndTxn, markers) */
  readonly txnCommit: number;
  /** approved readable -> origin PUBACK (bridge fetch, publish, PUBACK) */
  readonly bridge: number;
}
const legs = new Map<string, Legs>();
const deliveries = kafka.consumer({ groupId: `${id}-reader`, maxWaitTimeInMs: 20 });
await deliveries.connect();
await deliveries.subscribe({ topic: topics.deliveries, fromBeginning: true });
await deliveries.run({
  eachMessage: async ({ message }) => {
    if (!message.value) return;
    const delivery = await catalog.decode('deliveries', message.value);
    latencies.set(delivery.eventId, delivery.endToEndMs);
    const packetAt =
      packetSeen.get(`${delivery.packetRef.partition}/${delivery.packetRef.offset}`) ?? Number.NaN;
    const approved = approvedSeen.get(delivery.eventId);
    const createdAt = approved?.createdAt ?? Number.NaN;
    const seenAt = approved?.seenAt ?? Number.NaN;
    legs.set(delivery.eventId, {
      receivedAt: delivery.receivedAt,
      toApproval: delivery.approvedAt - delivery.receivedAt,
      toDelivery: delivery.deliveredAt - delivery.approvedAt,
      edge: packetAt - delivery.receivedAt,
      processorsFetch: delivery.approvedAt - packetAt,
      txnSend: createdAt - delivery.approvedAt,
      txnCommit: seenAt - createdAt,
      bridge: delivery.deliveredAt - seenAt,
    });
  },
});

const connect = (clientId: string) =>
  BenchMqttClient.connect(
    { host: '127.0.0.1', port: pipeline.edgePort },
    { clientId, username: clientId, password },
    { keepaliveSeconds: 60 },
  );
const devices = await Promise.all(ids.map(connect));

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const hopNames = ['edge', 'processorsFetch', 'txnSend', 'txnCommit', 'bridge'] as const;
type Hops = Record<(typeof hopNames)[number], { p50: number; p99: number }>;
/** P50 / P99 of each hop over the messages where both ends were seen. */
function hopPercentiles(sample: readonly Legs[]): Hops {
  const hops = {} as Hops;
  for (const name of hopNames) {
    const values = sample
      .map((l) => l[name])
      .filter((v) => Number.isFinite(v))
      .sort((a, b) => a - b);
    hops[name] = { p50: percentile(values, 50), p99: percentile(values, 99) };
  }
  return hops;
}

/** Slow messages received within this long of each other count as one burst (one shared stall). */
const burstGapMs = 200;

interface Tail {
  /** The slowest 1 % of messages by the delivery record's end-to-end time. */
  readonly messages: number;
  /** How many separate stalls they fall into: runs of slow messages received < burstGapMs apart. */
  readonly bursts: number;
  /** Mean of each hop over those messages: which hops the end-to-end P99 actually waited in. */
  readonly hopMeans: Record<(typeof hopNames)[number], number>;
}

function tailOf(sample: readonly Legs[]): Tail {
  const total = (l: Legs) => l.toApproval + l.toDelivery;
  const complete = sample.filter((l) => hopNames.every((h) => Number.isFinite(l[h])));
  const tail = [...complete].sort((a, b) => total(a) - total(b)).slice(Math.floor(complete.length * 0.99));
  const received = tail.map((l) => l.receivedAt).sort((a, b) => a - b);
  const bursts = received.filter((at, i) => i === 0 || at - received[i - 1]! >= burstGapMs).length;
  const hopMeans = {} as Tail['hopMeans'];
  for (const name of hopNames)
    hopMeans[name] =
      tail.length === 0
        ? Number.NaN
        : Number((tail.reduce((sum, l) => sum + l[name], 0) / tail.length).toFixed(1));
  return { messages: tail.length, bursts, hopMeans };
}

/** Offers `rate` QoS 1 PUBLISH/s for `seconds`, round-robin over the devices, then waits for their deliveries. */
async function offer(rate: number): Promise<{
  hops: Hops;
  tail: Tail;
  /** Means (ms, or events) of the services' own timing histograms during this rate. */
  serviceMeans: Record<string, number>;
  edgeToApprovalP50: number;
  edgeToApprovalP99: number;
  approvalToOriginP50: number;
  approvalToOriginP99: number;
  rate: number;
  sent: number;
  delivered: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  achieved: number;
}> {
  const total = rate * seconds;
  const before = latencies.size;
  const metricsBefore = await scrapeServices();
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate) + 1;
    while (sent < Math.min(due, total)) {
      const device = devices[sent % devices.length]!;
      const topic = `devices/${ids[sent % devices.length]}/telemetry`;
      device.publish(topic, Buffer.from(JSON.stringify({ t: 21.5, seq: sent })), 1);
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const sendSeconds = (performance.now() - started) / 1000;
  // Wait until every message was delivered, or nothing arrived for 10 s.
  let last = latencies.size;
  let quietSince = Date.now();
  while (latencies.size - before < sent && Date.now() - quietSince < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (latencies.size !== last) {
      last = latencies.size;
      quietSince = Date.now();
    }
  }
  const drainSeconds = (performance.now() - started) / 1000;
  const sample = [...latencies.values()].slice(before).sort((a, b) => a - b);
  const legSample = [...legs.values()].slice(before);
  const approval = legSample.map((l) => l.toApproval).sort((a, b) => a - b);
  const delivery = legSample.map((l) => l.toDelivery).sort((a, b) => a - b);
  return {
    rate,
    sent,
    delivered: sample.length,
    p50: percentile(sample, 50),
    p95: percentile(sample, 95),
    p99: percentile(sample, 99),
    max: sample.at(-1) ?? Number.NaN,
    achieved: Math.round(sample.length / Math.max(sendSeconds, drainSeconds)),
    edgeToApprovalP50: percentile(approval, 50),
    edgeToApprovalP99: percentile(approval, 99),
    approvalToOriginP50: percentile(delivery, 50),
    approvalToOriginP99: percentile(delivery, 99),
    hops: hopPercentiles(legSample),
    tail: tailOf(legSample),
    serviceMeans: meansBetween(metricsBefore, await scrapeServices()),
  };
}

/** Sum and count of every histogram series in a /metrics text, by series name and labels. */
function histogramTotals(text: string): Map<string, { sum: number; count: number }> {
  const totals = new Map<string, { sum: number; count: number }>();
  for (const match of text.matchAll(/^(\w+)_(sum|count)(\{[^}]*\})? (\S+)$/gm)) {
    const labels = (match[3] ?? '').replace(/,?instance="[^"]*"|,?service="[^"]*"/g, '').replace('{,', '{');
    const key = `${match[1]}${labels === '{}' ? '' : labels}`;
    const entry = totals.get(key) ?? { sum: 0, count: 0 };
    entry[match[2] as 'sum' | 'count'] = Number(match[4]);
    totals.set(key, entry);
  }
  return totals;
}
async function scrapeServices(): Promise<Map<string, { sum: number; count: number }>> {
  const all = new Map<string, { sum: number; count: number }>();
  for (const service of [pipeline.processors, pipeline.bridge]) {
    const text = service ? await scrapeMetrics(service.metricsPort).catch(() => '') : '';
    for (const [key, value] of histogramTotals(text)) all.set(key, value);
  }
  return all;
}
/** Mean in ms of the services' timing histograms over one offered rate (after minus before). */
const timedSeries = [
  'sentinel_processor_transaction_phase_seconds',
  'sentinel_processor_fetch_to_commit_seconds',
  'sentinel_processor_transaction_duration_seconds',
  'sentinel_processor_transaction_events',
  'sentinel_processor_transaction_partitions',
  'sentinel_bridge_puback_latency_seconds',
];
function meansBetween(
  before: Map<string, { sum: number; count: number }>,
  after: Map<string, { sum: number; count: number }>,
): Record<string, number> {
  const means: Record<string, number> = {};
  for (const [key, value] of after) {
    if (!timedSeries.some((name) => key.startsWith(name))) continue;
    const was = before.get(key) ?? { sum: 0, count: 0 };
    const count = value.count - was.count;
    if (count <= 0) continue;
    const scale = key.includes('_seconds') ? 1000 : 1;
    means[key] = Number((((value.sum - was.sum) / count) * scale).toFixed(2));
  }
  return means;
}

// Warm-up: consumers joined, producers connected, JIT.
await offer(50);
const fixed = [];
for (const rate of values.rates.split(',').filter(Boolean).map(Number)) {
  const result = await offer(rate);
  fixed.push(result);
  console.error(
    `e2e bench: ${rate}/s -> P50 ${result.p50} ms, P99 ${result.p99} ms, ${result.delivered}/${result.sent} delivered`,
  );
  console.error(
    `  hops P50/P99 ms: ${hopNames.map((h) => `${h} ${result.hops[h].p50}/${result.hops[h].p99}`).join(', ')}`,
  );
  console.error(
    `  slowest 1 %: ${result.tail.messages} messages in ${result.tail.bursts} bursts (< ${burstGapMs} ms apart); mean ms per hop: ${hopNames.map((h) => `${h} ${result.tail.hopMeans[h]}`).join(', ')}`,
  );
  console.error(`  service means: ${JSON.stringify(result.serviceMeans)}`);
}
const ramp = [];
for (const rate of values.ramp.split(',').filter(Boolean).map(Number)) {
  const result = await offer(rate);
  ramp.push(result);
  console.error(
    `e2e bench: ramp ${rate}/s -> achieved ${result.achieved}/s, P99 ${result.p99} ms, ${result.delivered}/${result.sent} delivered`,
  );
  if (result.delivered < result.sent || result.p99 > 1000) break;
}
const sustained = ramp.filter((r) => r.delivered === r.sent && r.p99 <= 1000).map((r) => r.rate);
const result = {
  bench: 'e2e',
  path: 'device -> edge -> Kafka (acks=all, RF 3) -> processors (inspection, transactions) -> bridge -> origin PUBACK',
  settings: { devices: deviceCount, seconds, qos: 1, payload: 'JSON ~25 bytes' },
  fixedRates: fixed,
  ramp,
  highestSustainedRate: sustained.length > 0 ? Math.max(...sustained) : null,
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(projectRoot, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(projectRoot, 'bench', 'results', `e2e-${new Date().toISOString().replaceAll(':', '-')}.json`),
  `${JSON.stringify(result, null, 2)}\n`,
);

for (const device of devices) device.socket.destroy();
await pipeline.stop();
await deliveries.disconnect();
for (const tap of taps) await tap.disconnect();
await world.dispose();
process.exit(0);
