/**
 * Origin -> device: an application publishes at the origin, the bridge's downlink session takes the
 * message into sentinel.downlink (acks=all, replication 3), the edge delivers it to the subscribed
 * device. Beside it, plain Mosquitto's own fan-out: a subscriber at the origin, same messages.
 *
 * For QoS 0 and QoS 1, `--bytes` payloads (8 KB) at `--rate` msg/s (100) for `--seconds` (10):
 * messages delivered and origin publish -> receipt latency P50 / P99 / max.
 *
 *   node dist/bench/downlink.bench.js [--quick] [--json FILE] [--rate 100] [--seconds 10] [--bytes 8192]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { originCredentials } from '../lib/local-platform.js';
import { runWithCleanup, type ScenarioCleanup } from './lib/cleanup.js';
import { formatTable, writeJsonResult } from './lib/output.js';
import { startSentinelPipeline } from './lib/services.js';
import { openBenchWorld } from './support.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string' },
    bytes: { type: 'string', default: '8192' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds ?? (values.quick ? 3 : 10));
const payloadBytes = Number(values.bytes);

export interface DownlinkRun {
  readonly target: 'sentinel' | 'direct';
  readonly qos: 0 | 1;
  readonly sent: number;
  readonly delivered: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One subscriber's receipts: latency from the publish time the payload carries. */
function receiver(client: MqttClient): {
  readonly latencies: number[];
  untilCount(n: number, quietMs: number): Promise<void>;
} {
  const latencies: number[] = [];
  let wake: () => void = () => undefined;
  client.on('message', (_topic, payload) => {
    latencies.push(performance.timeOrigin + performance.now() - payload.readDoubleBE(0));
    wake();
  });
  return {
    latencies,
    // Until all arrived, or nothing more for `quietMs` (what is lost stays lost).
    async untilCount(n, quietMs) {
      while (latencies.length < n) {
        const before = latencies.length;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, quietMs).unref();
        });
        if (latencies.length === before) return;
      }
    },
  };
}

/**
 * Until a message published at the origin reaches the device: the bridge's subscription at the
 * origin and the edge's downlink consumer both in place. A QoS 0 message the origin gets before the
 * bridge subscribed is dropped there, so measuring before this counts start-up, not delivery.
 */
async function untilDownlinkFlows(publisher: MqttClient, device: MqttClient, topic: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  let arrived = false;
  const onMessage = (received: string) => {
    if (received === topic) arrived = true;
  };
  device.on('message', onMessage);
  try {
    await device.subscribeAsync(topic, { qos: 1 });
    while (!arrived) {
      if (performance.now() > deadline)
        throw new Error(`downlink: nothing published at the origin on ${topic} reached the device in 60 s`);
      await publisher.publishAsync(topic, 'probe', { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await device.unsubscribeAsync(topic);
  } finally {
    device.off('message', onMessage);
  }
}

async function measure(cleanup: ScenarioCleanup): Promise<DownlinkRun[]> {
  const world = await openBenchWorld('downlink', cleanup);
  const password = randomBytes(12).toString('base64url');
  const device = `${world.id}-dev`;
  await world.addDevices([device], password, undefined, ['clients/%c/#']);
  const pipeline = await startSentinelPipeline(world, {
    stages: ['ingest', 'bridge'],
    ingestEnv: { SENTINEL_INGEST_DOWNLINK: 'true' },
    bridgeEnv: { SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'clients/+/#' },
    cleanup,
  });
  console.log(
    `downlink: started for this run (stopped and removed at the end, also on a failure or Ctrl-C): topics ${world.prefix}*, device ${device}, edge pid ${pipeline.ingest.process.pid} on 127.0.0.1:${pipeline.edgePort}, bridge pid ${pipeline.bridge?.process.pid}; ${rate} msg/s x ${payloadBytes} B for ${seconds} s per QoS; used, not started: the platform's brokers, origin Mosquitto, Redis, MariaDB`,
  );
  const { app } = originCredentials(world.platform);
  const originUrl = `mqtt://127.0.0.1:${world.platform.originMqttPort}`;
  const connectOrigin = (clientId: string) =>
    mqtt.connectAsync(originUrl, {
      clientId,
      username: app.username,
      password: app.password,
      reconnectPeriod: 0,
    });
  const atEdge = await mqtt.connectAsync(`mqtt://127.0.0.1:${pipeline.edgePort}`, {
    clientId: device,
    username: device,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const atOrigin = await connectOrigin(`${world.id}-direct`);
  const publisher = await connectOrigin(`${world.id}-app`);
  cleanup.add('downlink clients', async () => {
    for (const client of [atEdge, atOrigin, publisher]) await client.endAsync(true).catch(() => undefined);
  });
  await untilDownlinkFlows(publisher, atEdge, `clients/${device}/bench/ready`);
  const runs: DownlinkRun[] = [];
  for (const qos of [0, 1] as const) {
    const topic = `clients/${device}/bench/q${qos}`;
    const sentinel = receiver(atEdge);
    const direct = receiver(atOrigin);
    await atEdge.subscribeAsync(topic, { qos });
    await atOrigin.subscribeAsync(topic, { qos });
    const count = Math.round(rate * seconds);
    const payload = Buffer.alloc(payloadBytes, 0x61);
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const message = Buffer.from(payload);
      message.writeDoubleBE(performance.timeOrigin + performance.now(), 0);
      publisher.publish(topic, message, { qos });
    }
    await Promise.all([sentinel.untilCount(count, 5000), direct.untilCount(count, 5000)]);
    await atEdge.unsubscribeAsync(topic);
    await atOrigin.unsubscribeAsync(topic);
    atEdge.removeAllListeners('message');
    atOrigin.removeAllListeners('message');
    for (const [target, got] of [
      ['sentinel', sentinel],
      ['direct', direct],
    ] as const) {
      const sorted = [...got.latencies].sort((a, b) => a - b);
      const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
      runs.push({
        target,
        qos,
        sent: count,
        delivered: sorted.length,
        p50Ms: round(quantile(sorted, 0.5)),
        p99Ms: round(quantile(sorted, 0.99)),
        maxMs: round(sorted.at(-1) ?? null),
      });
    }
  }
  return runs;
}

runWithCleanup('downlink', async (cleanup) => {
  const runs = await measure(cleanup);
  console.log(
    formatTable(
      ['target', 'QoS', 'payload B', 'msg/s', 'delivered', 'P50 ms', 'P99 ms', 'max ms'],
      runs.map((r) => [
        r.target,
        r.qos,
        payloadBytes,
        rate,
        `${r.delivered}/${r.sent}`,
        r.p50Ms ?? '—',
        r.p99Ms ?? '—',
        r.maxMs ?? '—',
      ]),
    ),
  );
  writeJsonResult(values.json, { bench: 'downlink', settings: { rate, seconds, payloadBytes }, runs });
});
