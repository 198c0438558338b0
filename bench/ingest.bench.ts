/**
 * The edge's figures, measured against the real platform with the edge in its own process:
 *  - PUBLISH/s one ingest process sustains into Kafka (acks=all, replication 3), QoS 0 and QoS 1,
 *    100-byte payloads, from a load generator in this process over loopback;
 *  - memory per idle connection at N connections (each a completed MQTT CONNECT).
 *
 *   node dist/bench/ingest.bench.js [--seconds 10] [--connections 20] [--idle 10000] [--window 64]
 */
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { projectRoot } from '../lib/local-platform.js';
import { BenchMqttClient } from './lib/mqtt-client.js';
import { startSentinelPipeline } from './lib/services.js';
import { openBenchWorld } from './support.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '20' },
    idle: { type: 'string', default: '10000' },
    // Past SENTINEL_MQTT_MAX_INFLIGHT (100) PUBLISHes waiting for Kafka the edge stops reading the
    // connection until one is stored; a window under it measures the edge, not that pause.
    window: { type: 'string', default: '64' },
  },
});
const seconds = Number(values.seconds);
const publishers = Number(values.connections);
const idleCount = Number(values.idle);
const window = Number(values.window);
const password = 'bench-device-password';

const world = await openBenchWorld('ingest');
const { topics, admin } = world;
await world.addDevices(
  Array.from({ length: publishers + idleCount }, (_, i) => `bench-${i}`),
  password,
);

// A heap snapshot runs a full garbage collection first: SIGUSR2 before each memory sample makes
// the heap figure the live heap, not whatever garbage the CONNECT burst left.
const snapshotDir = mkdtempSync(join(tmpdir(), 'sentinel-bench-heap-'));
console.error('ingest bench: starting the edge');
const pipeline = await startSentinelPipeline(world, {
  stages: ['ingest'],
  nodeArgs: ['--heapsnapshot-signal=SIGUSR2'],
  cwd: snapshotDir,
});
const { edgePort } = pipeline;
const { metricsPort } = pipeline.ingest;
const edge = pipeline.ingest.process;

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function collectGarbage(pid: number): Promise<void> {
  const before = readdirSync(snapshotDir).length;
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600 && readdirSync(snapshotDir).length === before; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  // The file appears when writing starts; its size settles when the snapshot is complete.
  let size = -1;
  for (let i = 0; i < 600; i++) {
    const latest = readdirSync(snapshotDir).sort().at(-1);
    const now = latest ? statSync(join(snapshotDir, latest)).size : 0;
    if (now === size && now > 0) break;
    size = now;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  for (const file of readdirSync(snapshotDir)) rmSync(join(snapshotDir, file));
}

async function heapUsedBytes(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

type Device = BenchMqttClient;

const connectDevice = (clientId: string, sourceAddress = '127.0.0.1'): Promise<Device> =>
  BenchMqttClient.connect(
    { host: '127.0.0.1', port: edgePort },
    { clientId, username: clientId, password },
    { localAddress: sourceAddress },
  );

const payload = Buffer.alloc(100, 'x');

async function packetsInKafka(): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topics.packets);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

/** QoS 1: each publisher keeps `window` PUBLISHes unacknowledged; counts PUBACKs. */
async function runQos1(devices: Device[]): Promise<{ perSecond: number; acked: number }> {
  let acked = 0;
  let running = true;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    devices.map(
      (device, d) =>
        new Promise<void>((resolve) => {
          let nextId = 1;
          let inFlight = 0;
          const topic = `devices/bench-${d}/telemetry`;
          const send = () => {
            while (running && inFlight < window) {
              device.socket.write(
                mqttPacket.generate({
                  cmd: 'publish',
                  topic,
                  payload,
                  qos: 1,
                  messageId: nextId,
                  retain: false,
                  dup: false,
                }),
              );
              nextId = nextId === 65535 ? 1 : nextId + 1;
              inFlight++;
            }
          };
          device.socket.once('close', () => {
            running = false;
            resolve();
          });
          device.onPacket = (packet) => {
            if (packet.cmd !== 'puback') return;
            inFlight--;
            acked++;
            if (Date.now() >= deadline) running = false;
            if (running) send();
            else if (inFlight === 0) resolve();
          };
          send();
        }),
    ),
  );
  return { perSecond: Math.round(acked / seconds), acked };
}

/** QoS 0: each publisher writes as fast as the socket accepts; counts events that reached Kafka. */
async function runQos0(devices: Device[]): Promise<{ perSecond: number; stored: number }> {
  const before = await packetsInKafka();
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const frame = (d: number) =>
    mqttPacket.generate({
      cmd: 'publish',
      topic: `devices/bench-${d}/telemetry`,
      payload,
      qos: 0,
      retain: false,
      dup: false,
    });
  await Promise.all(
    devices.map(async (device, d) => {
      const bytes = frame(d);
      const batch = Buffer.concat(Array.from({ length: 50 }, () => bytes));
      while (Date.now() < deadline) {
        if (!device.socket.write(batch)) await once(device.socket, 'drain');
      }
    }),
  );
  // Let the edge drain what it accepted, then count what Kafka holds.
  // Sustained means stored: the rate counts until the edge has drained what it accepted into Kafka.
  let stored = 0;
  let lastChange = Date.now();
  for (let i = 0; i < 200; i++) {
    const now = (await packetsInKafka()) - before;
    if (now === stored && i > 0) break;
    if (now !== stored) lastChange = Date.now();
    stored = now;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { perSecond: Math.round(stored / ((lastChange - started) / 1000)), stored };
}

// Idle connections: completed CONNECTs that then say nothing. Memory is sampled at half and at all
// of them; the slope between the two samples is the cost of one more connection, free of the
// start-up and CONNECT-burst (scrypt) allocations both samples share.
const edgePid = edge.pid!;
const idle: Device[] = [];
const samples: Array<{ connections: number; rss: number; heap: number }> = [];
console.error(`ingest bench: opening ${idleCount} idle connections`);
const concurrency = 200;
let connectMs = 0;
for (const target of [Math.floor(idleCount / 2), idleCount]) {
  const stageStarted = Date.now();
  for (let start = idle.length; start < target; start += concurrency) {
    const batch = [];
    for (let i = start; i < Math.min(target, start + concurrency); i++) {
      // Spread over several loopback sources, as a fleet behind NATs would arrive.
      batch.push(connectDevice(`bench-${publishers + i}`, `127.0.0.${1 + (i % 8)}`));
    }
    idle.push(...(await Promise.all(batch)));
  }
  connectMs += Date.now() - stageStarted;
  await collectGarbage(edgePid);
  samples.push({ connections: idle.length, rss: rssBytes(edgePid), heap: await heapUsedBytes() });
}
const connectSeconds = connectMs / 1000;
const [half, full] = samples as [(typeof samples)[0], (typeof samples)[0]];
const perConnection = {
  rss: Math.round((full.rss - half.rss) / (full.connections - half.connections)),
  heap: Math.round((full.heap - half.heap) / (full.connections - half.connections)),
};
console.error(`ingest bench: ${idle.length} idle connections, ${JSON.stringify(perConnection)} bytes each`);

for (const device of idle) device.socket.destroy();
await new Promise((resolve) => setTimeout(resolve, 2000));

const publisherDevices: Device[] = [];
for (let i = 0; i < publishers; i++) publisherDevices.push(await connectDevice(`bench-${i}`));
console.error(`ingest bench: ${publishers} publishers connected; QoS 1 for ${seconds} s`);
const qos1 = await runQos1(publisherDevices);
console.error(`ingest bench: QoS 1 ${qos1.perSecond}/s; QoS 0 for ${seconds} s`);
const qos0 = await runQos0(publisherDevices);
console.error(`ingest bench: QoS 0 ${qos0.perSecond}/s`);
for (const device of publisherDevices) device.socket.destroy();
await new Promise((resolve) => setTimeout(resolve, 1000));

const result = {
  bench: 'ingest',
  machine: { cores: (await import('node:os')).cpus().length, node: process.version },
  settings: {
    publishers,
    window,
    seconds,
    payloadBytes: payload.length,
    linger: 'default 2 ms',
    acks: 'all',
    replicationFactor: 3,
  },
  qos1PublishPerSecond: qos1.perSecond,
  qos0PublishPerSecond: qos0.perSecond,
  idleConnections: idleCount,
  connectPerSecond: Math.round(idleCount / connectSeconds),
  bytesPerIdleConnection: perConnection,
  edgeMemoryAtIdle: samples.map((sample) => ({
    connections: sample.connections,
    rssMiB: Math.round(sample.rss / 2 ** 20),
    heapMiB: Math.round(sample.heap / 2 ** 20),
  })),
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(projectRoot, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(projectRoot, 'bench', 'results', `ingest-${new Date().toISOString().replaceAll(':', '-')}.json`),
  `${JSON.stringify(result, null, 2)}\n`,
);

await pipeline.stop();
rmSync(snapshotDir, { recursive: true, force: true });
await world.dispose();
process.exit(0);
