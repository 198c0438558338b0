/**
 * Raw capacity of the local cluster for the figure everything else sits on: 100-byte records
 * produced with acks=all to a replication-3 topic by ONE kafkajs producer. Batches of records go
 * out with a bounded number of requests in flight, the way the edge batches packets.
 *
 *   node dist/bench/kafka-produce.bench.js [--seconds 10] [--batch 2000] [--in-flight 2] [--partitions 12]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { createTopics } from '../lib/kafka/topics.js';
import { kafkaBootstrap, stackSchema } from '../lib/local-platform.js';
import { stackUp } from '../platform/stack.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '2000' },
    'in-flight': { type: 'string', default: '2' },
    partitions: { type: 'string', default: '12' },
    'record-bytes': { type: 'string', default: '100' },
  },
});
const seconds = Number(values.seconds);
const batchSize = Number(values.batch);
const inFlight = Number(values['in-flight']);
const recordBytes = Number(values['record-bytes']);

const config = loadConfig(stackSchema, { env: process.env });
await stackUp(config, () => undefined);
const kafka = createKafka({ brokers: kafkaBootstrap(config), clientId: 'bench-produce' });
const topic = `bench-produce-${Date.now().toString(36)}`;
const admin = kafka.admin();
await admin.connect();
await createTopics(admin, [topic], Number(values.partitions));

const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
const payload = Buffer.alloc(recordBytes, 'x');
const messages = Array.from({ length: batchSize }, (_, i) => ({ key: `device-${i % 1000}`, value: payload }));

// Warm-up: metadata, connections to every leader.
await producer.send({ topic, acks: -1, messages });

let sent = 0;
const batchLatenciesMs: number[] = [];
const deadline = Date.now() + seconds * 1000;
const started = process.hrtime.bigint();
async function lane(): Promise<void> {
  while (Date.now() < deadline) {
    const t0 = process.hrtime.bigint();
    await producer.send({ topic, acks: -1, messages });
    batchLatenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    sent += batchSize;
  }
}
await Promise.all(Array.from({ length: inFlight }, lane));
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;

batchLatenciesMs.sort((a, b) => a - b);
const pct = (p: number) =>
  batchLatenciesMs[Math.min(batchLatenciesMs.length - 1, Math.floor((p / 100) * batchLatenciesMs.length))] ??
  0;
const result = {
  bench: 'kafka-produce',
  recordBytes,
  acks: 'all',
  replicationFactor: 3,
  minInsyncReplicas: 2,
  partitions: Number(values.partitions),
  batchSize,
  inFlight,
  seconds: Number(elapsedS.toFixed(2)),
  records: sent,
  recordsPerSecond: Math.round(sent / elapsedS),
  megabytesPerSecond: Number(((sent * recordBytes) / elapsedS / 1e6).toFixed(2)),
  batchAckMs: {
    p50: Number(pct(50).toFixed(2)),
    p99: Number(pct(99).toFixed(2)),
    max: Number(pct(100).toFixed(2)),
  },
};
console.log(JSON.stringify(result, null, 2));

await producer.disconnect();
await admin.deleteTopics({ topics: [topic] });
await admin.disconnect();
