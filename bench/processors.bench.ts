/**
 * Events per second ONE processor instance sustains on the local cluster: verdicts and approved
 * messages written at once (idempotent, replication 3, acks=all), state and offsets checkpointed in
 * a transaction every `--checkpoint` ms.
 * N pre-encoded packet events (telemetry from many devices, with some attacks) are produced first;
 * then the processor starts and the clock runs until the group's committed offsets reach the end.
 *
 *   node dist/bench/processors.bench.js [--events 200000] [--devices 2000] [--partitions 12]
 *                                       [--max-batch 1000] [--checkpoint 1000]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { createTopics, topicNames } from '../lib/kafka/topics.js';
import { kafkaBootstrap, registryUrl, stackSchema } from '../lib/local-platform.js';
import { createLogger } from '../lib/log.js';
import { stackUp } from '../platform/stack.js';
import { startProcessors } from '../processors/main.js';
import { changelogTopicName } from '../processors/runtime/changelog.js';
import { processorsSchema } from '../processors/settings.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import type { PacketEvent } from '../schemas/types.generated.js';
import { samplePacketEvent } from '../test/fixtures/events.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    devices: { type: 'string', default: '2000' },
    partitions: { type: 'string', default: '12' },
    'max-batch': { type: 'string', default: '1000' },
    checkpoint: { type: 'string', default: '1000' },
  },
});
const total = Number(values.events);
const deviceCount = Number(values.devices);
const partitions = Number(values.partitions);

const stack = loadConfig(stackSchema, { env: process.env });
await stackUp(stack, () => undefined);
const kafka = createKafka({ brokers: kafkaBootstrap(stack), clientId: 'bench-processors' });
const prefix = `bench-proc-${Date.now().toString(36)}.`;
const topics = topicNames(prefix);
const admin = kafka.admin();
await admin.connect();
await createTopics(admin, [topics.packets, topics.verdicts, topics.approved, topics.quarantine], partitions);
const catalog = await SchemaCatalog.connect(registryUrl(stack), topics);

// Typical telemetry (about 60-byte JSON), one in 200 an injection attempt that gets blocked.
const t0 = Date.now() - 3_600_000;
const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
const produceStarted = performance.now();
for (let sent = 0; sent < total; ) {
  const messages = [];
  for (let i = 0; i < 5000 && sent < total; i++, sent++) {
    const clientId = `sensor-${sent % deviceCount}`;
    const attack = sent % 200 === 199;
    const event: PacketEvent = {
      ...samplePacketEvent,
      eventId: randomUUID(),
      clientId,
      username: clientId,
      sourceIp: `10.${(sent % deviceCount) >> 8}.${sent % 256}.1`,
      sourcePort: 40000 + (sent % 20000),
      proxyId: 'edge-bench',
      connectionId: `c-${sent % deviceCount}`,
      receivedAt: t0 + Math.floor(sent / deviceCount) * 1000,
      topic: `devices/${clientId}/telemetry`,
      qos: 1,
      retain: false,
      dup: false,
      messageId: (sent % 65535) + 1,
      payload: Buffer.from(
        attack
          ? JSON.stringify({ note: "1' UNION SELECT password FROM users--" })
          : JSON.stringify({ temp: 20 + (sent % 100) / 10, hum: 40 + (sent % 30), seq: sent }),
      ),
      packetSize: 90,
    };
    messages.push({ key: clientId, value: catalog.encode('packets', event) });
  }
  await producer.send({ topic: topics.packets, acks: -1, messages });
}
const produceSeconds = (performance.now() - produceStarted) / 1000;
await producer.disconnect();

const groupId = `bench-proc-${Date.now().toString(36)}`;
const config = loadConfig(processorsSchema, {
  env: {
    ...process.env,
    SENTINEL_TOPIC_PREFIX: prefix,
    SENTINEL_PROCESSORS_GROUP_ID: groupId,
    SENTINEL_PROCESSORS_METRICS_PORT: '0',
    SENTINEL_PROCESSORS_MAX_BATCH: String(values['max-batch']),
    SENTINEL_PROCESSORS_CHECKPOINT_INTERVAL_MS: String(values.checkpoint),
  },
});
const log = createLogger({ name: 'bench-processors', level: 'fatal' });

async function committedTotal(): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topics.packets] });
  return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}
const endOffsets = (await admin.fetchTopicOffsets(topics.packets)).reduce(
  (sum, p) => sum + Number(p.high),
  0,
);

const started = performance.now();
const service = await startProcessors(config, { log });
let firstCommitAt = 0;
let firstCommitted = 0;
let done = 0;
// A bench may poll: it reports a figure, it asserts nothing.
while (done < endOffsets) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  done = await committedTotal();
  if (firstCommitAt === 0 && done > 0) {
    firstCommitAt = performance.now();
    firstCommitted = done;
  }
}
const finished = performance.now();
const metricsText = await (await fetch(`http://127.0.0.1:${service.http.port}/metrics`)).text();
await service.stop();

function histogramMean(name: string): number {
  const sum = Number(new RegExp(`^${name}_sum\\{[^}]*\\} (\\S+)`, 'm').exec(metricsText)?.[1] ?? 0);
  const count = Number(new RegExp(`^${name}_count\\{[^}]*\\} (\\S+)`, 'm').exec(metricsText)?.[1] ?? 0);
  return count > 0 ? sum / count : 0;
}
const transactions = Number(
  /^sentinel_processor_transactions_total\{[^}]*outcome="committed"[^}]*\} (\S+)/m.exec(metricsText)?.[1] ??
    0,
);

const steadySeconds = (finished - firstCommitAt) / 1000;
console.log(
  JSON.stringify(
    {
      bench: 'processors',
      events: total,
      devices: deviceCount,
      partitions,
      maxBatch: Number(values['max-batch']),
      checkpointIntervalMs: Number(values.checkpoint),
      produceSeconds: Number(produceSeconds.toFixed(2)),
      startToFirstCommitSeconds: Number(((firstCommitAt - started) / 1000).toFixed(2)),
      drainSeconds: Number(((finished - started) / 1000).toFixed(2)),
      eventsPerSecondIncludingStart: Math.round(total / ((finished - started) / 1000)),
      eventsPerSecondSteady: Math.round((done - firstCommitted) / steadySeconds),
      checkpoints: transactions,
      meanEventsPerCheckpoint: Math.round(total / Math.max(1, transactions)),
      meanCheckpointMs: Number(
        (histogramMean('sentinel_processor_transaction_duration_seconds') * 1000).toFixed(2),
      ),
      meanInspectMicros: Number(
        (histogramMean('sentinel_processor_inspect_duration_seconds') * 1e6).toFixed(1),
      ),
    },
    null,
    2,
  ),
);

await admin.deleteTopics({
  topics: [topics.packets, topics.verdicts, topics.approved, topics.quarantine, changelogTopicName(prefix)],
});
await admin.disconnect();
