/**
 * The forensic store's figures on this machine:
 *  1. rows/s the sink sustains from Kafka (packet events, Avro through the registry) into chDB;
 *  2. bytes on disk per million packets (system.parts), for the sink's rows and for generated ones;
 *  3. the time of each named query over >= 10 million rows per table, generated with
 *     INSERT ... SELECT FROM numbers() into a database of its own, asked through the sink's
 *     read-only query endpoint exactly as `sentinel forensics` asks it.
 * Everything lives in a temp dir and topics of its own, removed at the end.
 *
 *   node dist/bench/forensics.bench.js [--events 200000] [--rows 10000000] [--partitions 6] [--runs 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import { applyForensicDdl } from '../forensics/ddl.js';
import { startForensicsSink } from '../forensics/main.js';
import { prepareNamedQuery, runPreparedQuery } from '../forensics/queries.js';
import { forensicsSinkSchema } from '../forensics/settings.js';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { createTopics, topicNames, topicRoles } from '../lib/kafka/topics.js';
import { createLogger } from '../lib/log.js';
import { kafkaBootstrap, registryUrl, stackSchema } from '../lib/stack/settings.js';
import { stackUp } from '../lib/stack/stack.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import { samplePacketEvent } from '../test/fixtures/events.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    rows: { type: 'string', default: '10000000' },
    partitions: { type: 'string', default: '6' },
    runs: { type: 'string', default: '3' },
  },
});
const events = Number(values.events);
const generated = Number(values.rows);
const runs = Number(values.runs);

const platform = loadConfig(stackSchema, { env: process.env });
await stackUp(platform, () => undefined);
const id = `bench_forensics_${Date.now().toString(36)}`;
const topics = topicNames(`${id}.`);
const dir = mkdtempSync(join(tmpdir(), 'sentinel-forensics-bench-'));
const kafka = createKafka({ brokers: kafkaBootstrap(platform), clientId: id });
const admin = kafka.admin();
await admin.connect();
await createTopics(
  admin,
  topicRoles.map((role) => topics[role]),
  Number(values.partitions),
);

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const report: string[] = [];

async function json<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  return (await client.query({ query, format: 'JSONEachRow' })).json<T>();
}

try {
  // 1. Sink throughput: the topic is filled first, then the sink drains it from the beginning.
  const catalog = await SchemaCatalog.connect(registryUrl(platform), topics);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const base = Date.now() - 3_600_000;
  for (let i = 0; i < events; i += 5000) {
    const messages = [];
    for (let j = i; j < Math.min(events, i + 5000); j++) {
      const clientId = `dev-${j % 5000}`;
      messages.push({
        key: clientId,
        value: catalog.encode('packets', {
          ...samplePacketEvent,
          eventId: `${id}-${j}`,
          clientId,
          username: clientId,
          sourceIp: `10.0.${(j >> 8) & 255}.${j & 255}`,
          receivedAt: base + j,
          topic: `devices/${clientId}/telemetry`,
          payload: Buffer.from(`{"t":${(j % 400) / 10},"seq":${j},"fw":"1.4.2"}`),
        }),
      });
    }
    await producer.send({ topic: topics.packets, acks: -1, messages });
  }
  await producer.disconnect();

  const config = loadConfig(forensicsSinkSchema, {
    env: {
      SENTINEL_KAFKA_BROKERS: kafkaBootstrap(platform).join(','),
      SENTINEL_REGISTRY_URL: registryUrl(platform),
      SENTINEL_TOPIC_PREFIX: `${id}.`,
      SENTINEL_CLICKHOUSE_PATH: join(dir, 'clickhouse'),
      SENTINEL_FORENSICS_GROUP_ID: id,
      SENTINEL_FORENSICS_METRICS_PORT: '0',
      SENTINEL_FORENSICS_QUERY_PORT: '0',
    },
  });
  const started = performance.now();
  const service = await startForensicsSink(config, { log: createLogger({ name: 'bench', level: 'warn' }) });
  const url = service.query?.url as string;
  const reader = createClickHouse({ url, embeddedPath: '', database: 'sentinel' });
  for (;;) {
    const [row] = await json<{ n: string }>(reader, 'SELECT count() AS n FROM packets');
    if (Number(row?.n) >= events) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  report.push(
    `sink: ${events} packet events from Kafka into chDB in ${seconds.toFixed(1)} s = ${Math.round(events / seconds)} rows/s (start-up and group join included)`,
  );

  // 2 + 3. Generated rows in a database of their own, written through a second session of the owner.
  const writer = createClickHouse({ url: 'embedded', embeddedPath: join(dir, 'clickhouse') });
  await applyForensicDdl(writer, 'bench');
  const t0 = `toDateTime64(now() - ${8 * 86_400}, 3, 'UTC')`;
  const genStart = performance.now();
  await writer.command({
    query: `INSERT INTO bench.packets (received_at, client_id, event_id, packet_type, username, source_ip, source_port,
      proxy_id, connection_id, topic, qos, payload, payload_size, packet_size, auth_result, kafka_partition, kafka_offset)
    SELECT ${t0} + toIntervalMillisecond(number * 60) AS received_at,
      concat('dev-', toString(number % 100000)) AS client_id,
      concat('ev-', toString(number)) AS event_id,
      multiIf(number % 50 = 0, 'CONNECT', number % 50 = 1, 'SUBSCRIBE', number % 50 = 2, 'PINGREQ', 'PUBLISH') AS packet_type,
      client_id AS username,
      toIPv6(IPv4NumToString(toUInt32(167772160 + number % 100000))) AS source_ip,
      number % 65535 AS source_port,
      concat('edge-', toString(number % 4)) AS proxy_id,
      concat('c-', toString(intDiv(number, 1000))) AS connection_id,
      concat('devices/dev-', toString(number % 100000), '/telemetry') AS topic,
      number % 2 AS qos,
      concat('{"t":', toString((number % 400) / 10), ',"seq":', toString(number),
        if(number % 10007 = 0, ',"cmd":"rm -rf /"', ''), '}') AS payload,
      length(payload) AS payload_size,
      payload_size + 30 AS packet_size,
      if(packet_type = 'CONNECT', if(number % 7 = 0, 'denied', 'allowed'), '') AS auth_result,
      number % 12 AS kafka_partition,
      intDiv(number, 12) AS kafka_offset
    FROM numbers(${generated})`,
  });
  await writer.command({
    query: `INSERT INTO bench.verdicts (decided_at, received_at, client_id, event_id, packet_type, source_ip, proxy_id, topic,
      decision, mode, findings.rule_id, findings.class, findings.stage, findings.severity, findings.action,
      findings.evidence, findings.location, findings.shadow, processing_latency_ms, kafka_partition, kafka_offset)
    SELECT ${t0} + toIntervalMillisecond(number * 60 + 3) AS decided_at,
      ${t0} + toIntervalMillisecond(number * 60) AS received_at,
      concat('dev-', toString(number % 100000)) AS client_id,
      concat('ev-', toString(number)) AS event_id,
      'PUBLISH' AS packet_type,
      toIPv6(IPv4NumToString(toUInt32(167772160 + number % 100000))) AS source_ip,
      concat('edge-', toString(number % 4)) AS proxy_id,
      concat('devices/dev-', toString(number % 100000), '/telemetry') AS topic,
      multiIf(number % 97 = 0, 'block', number % 389 = 0, 'quarantine', 'allow') AS decision,
      'enforce' AS mode,
      if(decision = 'allow', [], [['sqli-1', 'xss-1', 'cmdi-rm', 'path-1'][number % 4 + 1]]) AS rule_ids,
      arrayMap(r -> splitByChar('-', r)[1], rule_ids),
      arrayMap(r -> 'patterns', rule_ids),
      arrayMap(r -> 'high', rule_ids),
      arrayMap(r -> 'block', rule_ids),
      arrayMap(r -> concat('evidence of ', r), rule_ids),
      arrayMap(r -> 'payload', rule_ids),
      arrayMap(r -> false, rule_ids),
      3 + (number % 10) / 10 AS processing_latency_ms,
      number % 12, intDiv(number, 12)
    FROM numbers(${generated})`,
  });
  await writer.command({
    query: `INSERT INTO bench.deliveries (delivered_at, received_at, approved_at, client_id, event_id, topic, qos, retain,
      payload_size, bridge_id, end_to_end_ms, attempts, kafka_partition, kafka_offset)
    SELECT ${t0} + toIntervalMillisecond(number * 60 + 15), ${t0} + toIntervalMillisecond(number * 60),
      ${t0} + toIntervalMillisecond(number * 60 + 4), concat('dev-', toString(number % 100000)),
      concat('ev-', toString(number)), concat('devices/dev-', toString(number % 100000), '/telemetry'), 1, false,
      40, 'bridge-1', 15, 1, number % 12, intDiv(number, 12)
    FROM numbers(${generated}) WHERE number % 97 != 0 AND number % 389 != 0`,
  });
  report.push(
    `generated ${generated} rows per table in ${((performance.now() - genStart) / 1000).toFixed(1)} s`,
  );

  const parts = await json<{ db: string; table: string; rows: string; disk: string; raw: string }>(
    writer,
    `SELECT database AS db, table, sum(rows) AS rows, sum(bytes_on_disk) AS disk, sum(data_uncompressed_bytes) AS raw
     FROM system.parts WHERE active AND database IN ('sentinel', 'bench') AND table IN ('packets', 'verdicts', 'deliveries')
     GROUP BY db, table ORDER BY db, table`,
  );
  for (const p of parts) {
    const perMillion = (Number(p.disk) / Number(p.rows)) * 1e6;
    report.push(
      `disk ${p.db}.${p.table}: ${p.rows} rows, ${mb(Number(p.disk))} on disk (${mb(Number(p.raw))} uncompressed) = ${mb(perMillion)} per million rows`,
    );
  }

  const bench = createClickHouse({ url, embeddedPath: '', database: 'bench' });
  const cases: [string, string[], { since?: string; interval?: string; rule?: string }][] = [
    ['device-timeline', ['dev-4242'], { since: '9d' }],
    ['top-offenders', [], { since: '9d' }],
    ['findings-by-rule', [], { since: '9d', interval: '1h' }],
    ['auth-failures-by-ip', [], { since: '9d' }],
    ['payload-search', ['rm -rf'], { since: '9d' }],
    ['payload-search', [], { since: '9d', rule: 'sqli-1' }],
    ['message-path', ['ev-4242'], {}],
    ['sql', ['SELECT count() FROM packets'], {}],
  ];
  for (const [name, positional, options] of cases) {
    const prepared = prepareNamedQuery(name, { positional, ...options });
    const times: number[] = [];
    let rows = 0;
    for (let run = 0; run < runs; run++) {
      const t = performance.now();
      rows = (await runPreparedQuery(bench, prepared)).length;
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const label = `${name}${options.rule ? ' --rule' : ''}`;
    report.push(
      `query ${label.padEnd(24)} median ${times[Math.floor(times.length / 2)]?.toFixed(0)} ms (min ${times[0]?.toFixed(0)}, ${rows} rows) over ${generated} rows/table`,
    );
  }
  await bench.close();
  await reader.close();
  await writer.close();
  await service.stop();
} finally {
  await admin.deleteTopics({ topics: topicRoles.map((role) => topics[role]) }).catch(() => undefined);
  await admin.deleteGroups([id]).catch(() => undefined);
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
console.log(report.join('\n'));
process.exit(0);
