/**
 * The bridge on the local platform: approved messages produced to Kafka (acks=all, replication 3)
 * are consumed, published to the local origin Mosquitto over MQTT-over-WebSocket and acknowledged,
 * each delivery recorded in sentinel.deliveries.
 *
 * - paced runs (100 and 1,000 msg/s): delivery latency (approved record produced -> origin PUBACK,
 *   from the delivery records) and PUBACK latency (last PUBLISH -> PUBACK, from the bridge histogram)
 *   as P50/P95/P99;
 * - sustained rate: a backlog drained by one bridge, deliveries/s;
 * - crash: a `sentinel bridge` process SIGKILLed mid-stream and replaced; messages the origin got twice.
 *
 *   node dist/bench/bridge.bench.js [--seconds 10] [--backlog 50000] [--connections 2] [--only paced|sustained|crash]
 */
import { parseArgs } from 'node:util';
import type { ApprovedMessage } from '../schemas/types.generated.js';
import { BridgeTestWorld } from '../test/helpers/bridge-world.js';
import { uniqueName } from '../test/helpers/platform.js';
import { histogramQuantile } from './lib/prometheus.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    backlog: { type: 'string', default: '50000' },
    connections: { type: 'string', default: '2' },
    only: { type: 'string', default: '' },
  },
});
const seconds = Number(values.seconds);
const backlog = Number(values.backlog);
const connections = values.connections ?? '2';

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function quantiles(samples: readonly number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return ['P50', 'P95', 'P99']
    .map((name) => `${name} ${percentile(sorted, Number(name.slice(1))).toFixed(1)} ms`)
    .join('  ');
}

/** P50/P95/P99 of a seconds histogram of the service, in ms (bucket-interpolated, as Prometheus does). */
function histogramQuantiles(metrics: string, name: string): string {
  const at = (q: number) => histogramQuantile(metrics, name, q) * 1000;
  return `P50 ${at(0.5).toFixed(1)} ms  P95 ${at(0.95).toFixed(1)} ms  P99 ${at(0.99).toFixed(1)} ms (bucket-interpolated)`;
}

function message(world: BridgeTestWorld, i: number, tag: string): ApprovedMessage {
  const client = `${tag}-d${i % 100}`;
  return world.approved(client, `devices/${client}/telemetry`, JSON.stringify({ t: 21.5, i }));
}

async function paced(rate: number): Promise<void> {
  const world = new BridgeTestWorld(12);
  await world.setUp();
  try {
    const deliveries = await world.follow('deliveries');
    const bridge = await world.startBridge({
      SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none',
      SENTINEL_BRIDGE_CONNECTIONS: connections,
    });
    const tag = uniqueName('bench');
    const total = rate * seconds;
    // Batches every 10 ms keep the pace smooth without one produce request per message.
    const perTick = Math.max(1, Math.round(rate / 100));
    const began = Date.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - began) / 1000) * rate) + perTick);
      const batch: ApprovedMessage[] = [];
      while (sent < due) batch.push(message(world, sent++, tag));
      if (batch.length > 0) await world.produceApproved(batch);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await deliveries.until((rs) => rs.length >= total);
    const metrics = await (await fetch(`http://127.0.0.1:${bridge.metricsPort}/metrics`)).text();
    console.log(`bridge at ${rate} msg/s for ${seconds} s (${total} messages, ${connections} connections):`);
    console.log(
      `  delivery (produced to Kafka -> origin PUBACK): ${quantiles(deliveries.records.map((r) => r.value.endToEndMs))}`,
    );
    console.log(
      `  PUBACK (PUBLISH -> PUBACK):                     ${histogramQuantiles(metrics, 'sentinel_bridge_puback_latency_seconds')}`,
    );
  } finally {
    await world.tearDown();
  }
}

async function sustained(): Promise<void> {
  const world = new BridgeTestWorld(12);
  await world.setUp();
  try {
    const tag = uniqueName('bench');
    for (let i = 0; i < backlog; i += 5000) {
      await world.produceApproved(
        Array.from({ length: Math.min(5000, backlog - i) }, (_, j) => message(world, i + j, tag)),
      );
    }
    const deliveries = await world.follow('deliveries');
    const began = Date.now();
    await world.startBridge({
      SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none',
      SENTINEL_BRIDGE_CONNECTIONS: connections,
    });
    await deliveries.until((rs) => rs.length >= backlog);
    const elapsed = (Date.now() - began) / 1000;
    console.log(
      `bridge sustained: ${backlog} messages drained in ${elapsed.toFixed(1)} s = ${Math.round(backlog / elapsed)} deliveries/s (start-up and group join included, ${connections} connections)`,
    );
  } finally {
    await world.tearDown();
  }
}

async function crash(): Promise<void> {
  const world = new BridgeTestWorld(12);
  await world.setUp();
  const spawnBridge = () => world.spawnBridge({ SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none' });
  try {
    const tag = uniqueName('crash');
    const total = 20_000;
    for (let i = 0; i < total; i += 5000) {
      await world.produceApproved(Array.from({ length: 5000 }, (_, j) => message(world, i + j, tag)));
    }
    // Counted from the delivery records (one per origin PUBACK): an origin subscriber cannot keep up
    // with a drained backlog (Mosquitto drops past max_queued_messages), the records can.
    const deliveries = await world.follow('deliveries');
    const distinct = () => new Set(deliveries.records.map((r) => r.value.eventId)).size;
    const first = spawnBridge();
    await deliveries.until((rs) => rs.length >= total / 4);
    first.child.kill('SIGKILL');
    await first.exited;
    const atKill = deliveries.records.length;
    spawnBridge();
    await deliveries.until(() => distinct() >= total);
    // Marker: produced after everything, recorded last; nothing re-delivered can come after it.
    const marker = message(world, total, tag);
    await world.produceApproved([marker]);
    await deliveries.until((rs) => rs.some((r) => r.value.eventId === marker.eventId));
    const records = deliveries.records.length - 1;
    console.log(
      `crash: bridge SIGKILLed after ${atKill} of ${total} deliveries and replaced: ${records - total} delivered twice (${total} distinct, none lost; commit interval 100 ms, ${connections} x 256 in flight)`,
    );
  } finally {
    // Kills the bridge processes still running.
    await world.tearDown();
  }
}

const only = values.only ?? '';
if (only === '' || only === 'paced') {
  await paced(100);
  await paced(1000);
}
if (only === '' || only === 'sustained') await sustained();
if (only === '' || only === 'crash') await crash();
process.exit(0);
