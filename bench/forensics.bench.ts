/**
 * The forensic store's figures on this machine, in phases (`--only`, comma-separated):
 *  rows   CPU-ms per 1000 records turned into insert text (Avro decode, row, serialisation),
 *         in this process, no I/O: the sink's per-record cost;
 *  cpu    the sink as production runs it (`sentinel forensics-sink`, a process of its own, default
 *         settings) fed packets, verdicts and deliveries: its CPU (all threads: Node, librdkafka,
 *         the chDB engine, from /proc) per 1000 rows stored, for a backlog drained at once and for a
 *         steady rate, plus its idle CPU;
 *  sink   rows/s the sink sustains from Kafka (packet events) into chDB;
 *  store  bytes on disk per million packets (system.parts), and the time of each named query over
 *         >= 10 million rows per table generated with INSERT ... SELECT FROM numbers() into a
 *         database of its own, asked through the sink's read-only query endpoint exactly as
 *         `sentinel forensics` asks it.
 * Everything lives in a temp dir and topics of its own, removed at the end.
 *
 *   node dist/bench/forensics.bench.js [--only rows,cpu,sink,store] [--backlog 20000] [--rate 1000]
 *     [--seconds 15] [--events 200000] [--rows 10000000] [--partitions 6] [--runs 3] [--json file]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import { applyForensicDdl } from '../forensics/ddl.js';
import { startForensicsSink } from '../forensics/main.js';
import { prepareNamedQuery, runPreparedQuery } from '../forensics/queries.js';
import { deliveryRow, packetRow, verdictRow } from '../forensics/rows.js';
import { forensicsSinkSchema } from '../forensics/settings.js';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { loadConfig } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { type Delivered, RecordProducer } from '../lib/kafka/rdkafka.js';
import { createTopics, topicList, topicNames } from '../lib/kafka/topics.js';
import { kafkaBootstrap, projectRoot, registryUrl, stackSchema } from '../lib/local-platform.js';
import { createLogger } from '../lib/log.js';
import { freePort } from '../platform/processes.js';
import { stackUp } from '../platform/stack.js';
import { SchemaCatalog } from '../schemas/catalog.js';
import type { Delivery, PacketEvent, Verdict } from '../schemas/types.generated.js';
import { samplePacketEvent } from '../test/fixtures/events.js';
import { writeJsonResult } from './lib/output.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'rows,cpu,sink,store' },
    backlog: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '15' },
    events: { type: 'string', default: '200000' },
    rows: { type: 'string', default: '10000000' },
    partitions: { type: 'string', default: '6' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const phases = new Set(String(values.only).split(','));
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
await createTopics(admin, topicList(topics), Number(values.partitions));
const groups: string[] = [];

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const report: string[] = [];
const figures: Record<string, number> = {};

async function json<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  return (await client.query({ query, format: 'JSONEachRow' })).json<T>();
}

/** A telemetry PUBLISH of device `j % devices`, as the edge records it. */
function packetOf(j: number, base: number, devices = 5000): PacketEvent {
  const clientId = `dev-${j % devices}`;
  return {
    ...samplePacketEvent,
    eventId: `${id}-${j}`,
    clientId,
    username: clientId,
    sourceIp: `10.0.${(j >> 8) & 255}.${j & 255}`,
    receivedAt: base + j,
    topic: `devices/${clientId}/telemetry`,
    payload: Buffer.from(`{"t":${(j % 400) / 10},"seq":${j},"fw":"1.4.2"}`),
  };
}

/** Every 33rd packet is blocked with a finding (and not delivered); the others are allowed. */
function blocked(j: number): boolean {
  return j % 33 === 0;
}

function verdictOf(j: number, packet: PacketEvent, at: Delivered): Verdict {
  return {
    eventId: packet.eventId,
    clientId: packet.clientId,
    packetType: packet.packetType,
    sourceIp: packet.sourceIp,
    proxyId: packet.proxyId,
    topic: packet.topic,
    decision: blocked(j) ? 'block' : 'allow',
    mode: 'enforce',
    findings: blocked(j)
      ? [
          {
            ruleId: 'cmdi-rm',
            class: 'cmdi',
            stage: 'patterns',
            severity: 'high',
            action: 'block',
            evidence: 'rm -rf /',
            location: 'payload.json:$.cmd',
            shadow: false,
          },
        ]
      : [],
    packetRef: { topic: topics.packets, partition: at.partition, offset: at.offset },
    receivedAt: packet.receivedAt,
    decidedAt: packet.receivedAt + 3,
    processingLatencyMs: 3.2,
    review: null,
  };
}

function deliveryOf(packet: PacketEvent, at: Delivered): Delivery {
  return {
    eventId: packet.eventId,
    clientId: packet.clientId,
    topic: packet.topic ?? '',
    qos: 1,
    retain: false,
    payloadSize: packet.payload?.length ?? 0,
    bridgeId: 'bridge-1',
    receivedAt: packet.receivedAt,
    approvedAt: packet.receivedAt + 4,
    deliveredAt: packet.receivedAt + 15,
    endToEndMs: 15,
    packetRef: { topic: topics.packets, partition: at.partition, offset: at.offset },
    attempts: 1,
  };
}

/** Packets j in [from, to) and then their verdicts and deliveries; resolves when all are acknowledged. Returns the rows that makes. */
async function produceFlow(
  producer: RecordProducer,
  catalog: SchemaCatalog,
  from: number,
  to: number,
  base: number,
): Promise<number> {
  const packets: PacketEvent[] = [];
  for (let j = from; j < to; j++) packets.push(packetOf(j, base));
  const refs = await Promise.all(
    packets.map((p) =>
      producer.send({ topic: topics.packets, key: p.clientId, value: catalog.encode('packets', p) }),
    ),
  );
  const follow: Promise<Delivered>[] = [];
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i] as PacketEvent;
    const at = refs[i] as Delivered;
    const j = from + i;
    follow.push(
      producer.send({
        topic: topics.verdicts,
        key: p.clientId,
        value: catalog.encode('verdicts', verdictOf(j, p, at)),
      }),
    );
    if (!blocked(j)) {
      follow.push(
        producer.send({
          topic: topics.deliveries,
          key: p.clientId,
          value: catalog.encode('deliveries', deliveryOf(p, at)),
        }),
      );
    }
  }
  await Promise.all(follow);
  return packets.length + follow.length;
}

/** CPU time (user + system, every thread) a process has used, in ms, from /proc. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based, in clock ticks of 10 ms).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function metricSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
  return sum;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Phase rows: the per-record work of the sink, without Kafka or the store. */
async function rowsPhase(catalog: SchemaCatalog): Promise<void> {
  const base = Date.now() - 3_600_000;
  const at = (j: number): Delivered => ({ partition: j % 6, offset: 1_000_000 + j });
  const n = 1000;
  const encoded = {
    packets: [] as Buffer[],
    verdicts: [] as Buffer[],
    deliveries: [] as Buffer[],
  };
  for (let j = 0; j < n; j++) {
    const p = packetOf(j, base);
    encoded.packets.push(catalog.encode('packets', p));
    encoded.verdicts.push(catalog.encode('verdicts', verdictOf(j, p, at(j))));
    encoded.deliveries.push(catalog.encode('deliveries', deliveryOf(p, at(j))));
  }
  // What the sink does per record: decode through the catalog, build the row, serialise it the way
  // @clickhouse/client does for JSONCompactEachRow (JSON.stringify of the value list + newline).
  const textOf = async (role: 'packets' | 'verdicts' | 'deliveries', buffers: Buffer[]) => {
    const lines: string[] = [];
    for (let i = 0; i < buffers.length; i++) {
      const coordinates = { partition: i % 6, offset: i };
      const buffer = buffers[i] as Buffer;
      const row =
        role === 'packets'
          ? packetRow(await catalog.decode('packets', buffer), coordinates)
          : role === 'verdicts'
            ? verdictRow(await catalog.decode('verdicts', buffer), coordinates)
            : deliveryRow(await catalog.decode('deliveries', buffer), coordinates);
      lines.push(`${JSON.stringify(row)}\n`);
    }
    return lines.join('');
  };
  for (const role of ['packets', 'verdicts', 'deliveries'] as const) {
    for (let i = 0; i < 30; i++) await textOf(role, encoded[role]);
    const iterations = 200;
    const cpu = process.cpuUsage();
    let bytes = 0;
    for (let i = 0; i < iterations; i++) bytes += (await textOf(role, encoded[role])).length;
    const used = process.cpuUsage(cpu);
    const perThousand = (used.user + used.system) / 1000 / iterations;
    figures[`rows_${role}_cpu_ms_per_1000`] = perThousand;
    report.push(
      `rows ${role.padEnd(10)}: ${perThousand.toFixed(2)} CPU-ms per 1000 records (decode, row, insert text; ${Math.round(bytes / iterations / n)} bytes/row)`,
    );
  }
}

interface SinkProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
  readonly metricsPort: number;
}

async function spawnSink(storePath: string, groupId: string): Promise<SinkProcess> {
  const metricsPort = await freePort();
  groups.push(groupId);
  // Production settings: only where it is (topics, store, ports, group) differs.
  const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), 'forensics-sink'], {
    env: {
      ...process.env,
      SENTINEL_KAFKA_BROKERS: kafkaBootstrap(platform).join(','),
      SENTINEL_REGISTRY_URL: registryUrl(platform),
      SENTINEL_TOPIC_PREFIX: `${id}.`,
      SENTINEL_CLICKHOUSE_URL: 'embedded',
      SENTINEL_CLICKHOUSE_PATH: storePath,
      SENTINEL_FORENSICS_GROUP_ID: groupId,
      SENTINEL_FORENSICS_METRICS_PORT: String(metricsPort),
      SENTINEL_FORENSICS_QUERY_PORT: '0',
      SENTINEL_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = once(child, 'exit');
  await until('the sink to be ready', async () => {
    if (child.exitCode !== null) throw new Error('the sink exited');
    return (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok ? true : undefined;
  });
  return { child, exited, metricsPort };
}

/** Phase cpu: the sink process's CPU per 1000 rows, backlog and steady rate. */
async function cpuPhase(catalog: SchemaCatalog): Promise<void> {
  const backlog = Number(values.backlog);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const producer = new RecordProducer({
    connection: { brokers: kafkaBootstrap(platform), clientId: `${id}-cpu` },
    lingerMs: 5,
  });
  await producer.connect();
  const sink = await spawnSink(join(dir, 'cpu-clickhouse'), `${id}-cpu`);
  const pid = sink.child.pid as number;
  const stored = () => metricSum(sink.metricsPort, 'sentinel_forensics_rows_inserted_total');
  const cpuPerThousand = (cpuMs: number, rows: number) => cpuMs / (rows / 1000);
  try {
    // Idle first: what the sink costs when nothing arrives.
    const idleSeconds = 5;
    let cpu = cpuMsOf(pid);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const idle = (cpuMsOf(pid) - cpu) / (idleSeconds * 10);
    figures.cpu_idle_percent_of_core = idle;
    report.push(`cpu idle      : ${idle.toFixed(1)} % of a core`);

    // A backlog produced at once (a restart after an outage, a replay).
    const base = Date.now() - 3_600_000;
    cpu = cpuMsOf(pid);
    let expected = 0;
    for (let j = 0; j < backlog; j += 5000)
      expected += await produceFlow(producer, catalog, j, Math.min(backlog, j + 5000), base);
    await until('the backlog stored', async () => ((await stored()) >= expected ? true : undefined));
    const burst = cpuMsOf(pid) - cpu;
    figures.cpu_backlog_ms_per_1000_rows = cpuPerThousand(burst, expected);
    report.push(
      `cpu backlog   : ${expected} rows (${backlog} packets + verdicts + deliveries) for ${burst} CPU-ms = ${cpuPerThousand(burst, expected).toFixed(1)} CPU-ms per 1000 rows`,
    );

    // A steady rate of packets per second, each with its verdict and (mostly) a delivery, in 100 ms steps.
    const before = await stored();
    cpu = cpuMsOf(pid);
    const started = performance.now();
    const steps: Promise<number>[] = [];
    let j = backlog;
    const perStep = Math.max(1, Math.round(rate / 10));
    for (let step = 0; step < seconds * 10; step++) {
      const wait = started + step * 100 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      steps.push(produceFlow(producer, catalog, j, j + perStep, Date.now() - (j + perStep)));
      j += perStep;
    }
    const produced = (await Promise.all(steps)).reduce((a, b) => a + b, 0);
    await until('the steady rows stored', async () =>
      (await stored()) - before >= produced ? true : undefined,
    );
    const steadyWall = (performance.now() - started) / 1000;
    const steady = cpuMsOf(pid) - cpu;
    figures.cpu_steady_ms_per_1000_rows = cpuPerThousand(steady, produced);
    figures.cpu_steady_percent_of_core = steady / (steadyWall * 10);
    report.push(
      `cpu steady    : ${rate} packets/s for ${seconds} s = ${produced} rows in ${steadyWall.toFixed(1)} s, ${steady} CPU-ms = ${cpuPerThousand(steady, produced).toFixed(1)} CPU-ms per 1000 rows, ${(steady / (steadyWall * 10)).toFixed(1)} % of a core`,
    );
  } finally {
    sink.child.kill('SIGTERM');
    await sink.exited;
    await producer.disconnect();
  }
}

/** Phase sink: rows/s, the topic filled first, then drained from the beginning. */
async function sinkPhase(catalog: SchemaCatalog): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const base = Date.now() - 3_600_000;
  for (let i = 0; i < events; i += 5000) {
    const messages = [];
    for (let j = i; j < Math.min(events, i + 5000); j++) {
      const packet = packetOf(j, base);
      messages.push({ key: packet.clientId, value: catalog.encode('packets', packet) });
    }
    await producer.send({ topic: topics.packets, acks: -1, messages });
  }
  await producer.disconnect();
}

try {
  const catalog = await SchemaCatalog.connect(registryUrl(platform), topics);
  if (phases.has('rows')) await rowsPhase(catalog);
  if (phases.has('cpu')) {
    await cpuPhase(catalog);
    // The sink phase drains packets from the beginning: give it topics of its own.
    await admin.deleteTopics({ topics: topicList(topics) });
    await createTopics(admin, topicList(topics), Number(values.partitions));
  }
  if (phases.has('sink') || phases.has('store')) {
    await sinkPhase(catalog);
    const groupId = `${id}-sink`;
    groups.push(groupId);
    const config = loadConfig(forensicsSinkSchema, {
      env: {
        SENTINEL_KAFKA_BROKERS: kafkaBootstrap(platform).join(','),
        SENTINEL_REGISTRY_URL: registryUrl(platform),
        SENTINEL_TOPIC_PREFIX: `${id}.`,
        SENTINEL_CLICKHOUSE_PATH: join(dir, 'clickhouse'),
        SENTINEL_FORENSICS_GROUP_ID: groupId,
        SENTINEL_FORENSICS_METRICS_PORT: '0',
        SENTINEL_FORENSICS_QUERY_PORT: '0',
      },
    });
    const started = performance.now();
    const service = await startForensicsSink(config, {
      log: createLogger({ name: 'bench', level: 'warn' }),
    });
    const url = service.query?.url as string;
    const reader = createClickHouse({ url, embeddedPath: '', database: 'sentinel' });
    for (;;) {
      const [row] = await json<{ n: string }>(reader, 'SELECT count() AS n FROM packets');
      if (Number(row?.n) >= events) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    figures.sink_rows_per_second = events / seconds;
    report.push(
      `sink: ${events} packet events from Kafka into chDB in ${seconds.toFixed(1)} s = ${Math.round(events / seconds)} rows/s (start-up and group join included)`,
    );
    if (phases.has('store')) await storePhase(url);
    await reader.close();
    await service.stop();
  }
} finally {
  await admin.deleteTopics({ topics: topicList(topics) }).catch(() => undefined);
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
console.log(report.join('\n'));
writeJsonResult(values.json, { bench: 'forensics', figures, report });
process.exit(0);

/** Phase store: generated rows in a database of their own, written through a second session of the owner. */
async function storePhase(url: string): Promise<void> {
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
  await writer.close();
}
