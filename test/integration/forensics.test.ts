import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import { applyForensicDdl } from '../../forensics/ddl.js';
import { ownerFileOf } from '../../forensics/owner.js';
import { packetRow, sinkColumns } from '../../forensics/rows.js';
import { batchToken, insertBatch } from '../../forensics/sink.js';
import { createClickHouse } from '../../lib/clickhouse/client.js';
import { createTopics, type TopicNames, topicList, topicNames } from '../../lib/kafka/topics.js';
import { registryUrl, type StackConfig } from '../../lib/local-platform.js';
import { SchemaCatalog } from '../../schemas/catalog.js';
import type { Delivery, Finding, PacketEvent, Verdict } from '../../schemas/types.generated.js';
import { samplePacketEvent } from '../fixtures/events.js';
import { type SinkProcess, spawnForensicsSink } from '../helpers/forensics-sink.js';
import { ensurePlatform, runCli, testKafka, uniqueName } from '../helpers/platform.js';

/**
 * The forensics sink on the real platform: its own topics (unique prefix), its own chDB data
 * directory in a temp dir and its own ports, so it never touches the shared .sentinel/clickhouse.
 * The sink runs as a child process (`sentinel forensics-sink`), as in production, so it can be killed.
 */
const world = uniqueName('forensics').replaceAll('-', '_');
const prefix = `${world}.`;
const topics: TopicNames = topicNames(prefix);
const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-forensics-test-'));
const storePath = join(dataDir, 'clickhouse');
const groupId = `${world}-sink`;

/** Crafted events sit in an hour of their own, an hour ago, aligned so that 1h buckets hold them all. */
const hour = 3_600_000;
const t0 = Math.floor(Date.now() / hour) * hour - hour;
const windowArgs = ['--since', new Date(t0).toISOString(), '--until', new Date(t0 + hour).toISOString()];

let platform: StackConfig;
let catalog: SchemaCatalog;
let producer: Producer;
let sequence = 0;
/** Packet offsets for crafted verdicts: rising in production order, like the processors' within a partition. */
let packetOffset = 0;

function packet(overrides: Partial<PacketEvent>): PacketEvent {
  sequence += 1;
  return {
    ...samplePacketEvent,
    eventId: `${world}-e${sequence}`,
    connectionId: 'c-1',
    ...overrides,
  };
}

function finding(ruleId: string, cls: string, evidence: string, shadow = false): Finding {
  return {
    ruleId,
    class: cls,
    stage: 'patterns',
    severity: 'high',
    action: 'block',
    evidence,
    location: 'payload',
    shadow,
  };
}

function verdictOf(
  event: PacketEvent,
  decision: Verdict['decision'],
  findings: Finding[],
  latencyMs: number,
): Verdict {
  return {
    eventId: event.eventId,
    clientId: event.clientId,
    packetType: event.packetType,
    sourceIp: event.sourceIp,
    proxyId: event.proxyId,
    topic: event.topic,
    decision,
    mode: 'enforce',
    findings,
    packetRef: { topic: topics.packets, partition: 0, offset: packetOffset++ },
    receivedAt: event.receivedAt,
    decidedAt: event.receivedAt + latencyMs,
    processingLatencyMs: latencyMs,
    review: null,
  };
}

function deliveryOf(event: PacketEvent, afterMs: number): Delivery {
  return {
    eventId: event.eventId,
    clientId: event.clientId,
    topic: event.topic ?? '',
    qos: 1,
    retain: false,
    payloadSize: event.payload?.length ?? 0,
    bridgeId: 'bridge-1',
    receivedAt: event.receivedAt,
    approvedAt: event.receivedAt + 2,
    deliveredAt: event.receivedAt + afterMs,
    endToEndMs: afterMs,
    packetRef: { topic: topics.packets, partition: 0, offset: 0 },
    attempts: 1,
  };
}

async function produce(packets: PacketEvent[], verdicts: Verdict[] = [], deliveries: Delivery[] = []) {
  const messages = <T extends { clientId: string }>(
    role: 'packets' | 'verdicts' | 'deliveries',
    values: T[],
  ) => values.map((value) => ({ key: value.clientId, value: catalog.encode(role, value as never) }));
  await producer.sendBatch({
    acks: -1,
    topicMessages: [
      { topic: topics.packets, messages: messages('packets', packets) },
      { topic: topics.verdicts, messages: messages('verdicts', verdicts) },
      { topic: topics.deliveries, messages: messages('deliveries', deliveries) },
    ].filter((t) => t.messages.length > 0),
  });
}

type RunningSink = SinkProcess;

function startSink(extra: Record<string, string> = {}): Promise<RunningSink> {
  return spawnForensicsSink({ platform, prefix, storePath, groupId, extra });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function queryUrl(): string {
  return (JSON.parse(readFileSync(ownerFileOf(storePath), 'utf8')) as { url: string }).url;
}

/** The sink has claimed the store (its pid in the owner file) and says it is ready. */
async function ready(sink: RunningSink): Promise<void> {
  await until('the sink to own the store', async () => {
    const owner = JSON.parse(readFileSync(ownerFileOf(storePath), 'utf8')) as { pid: number };
    return owner.pid === sink.child.pid ? true : undefined;
  });
  await until('the sink to be ready', async () =>
    (await fetch(`http://127.0.0.1:${sink.metricsPort}/readyz`)).ok ? true : undefined,
  );
}

async function rows<T>(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  const result = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return result.json<T>();
}

async function countOf(client: ClickHouseClient, table: string): Promise<number> {
  const [row] = await rows<{ n: string }>(client, `SELECT count() AS n FROM ${table}`);
  return Number(row?.n ?? 0);
}

async function metric(port: number, name: string, label: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function cli(args: string[]) {
  return runCli(['forensics', ...args], { SENTINEL_FORENSICS_URL: queryUrl() });
}

async function cliJson<T>(args: string[]): Promise<T[]> {
  const result = await cli([...args, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T[];
}

describe('forensics: Kafka -> embedded ClickHouse, queried through the sink', { timeout: 300_000 }, () => {
  let sink: RunningSink | undefined;
  let client: ClickHouseClient;
  const bulk: PacketEvent[] = [];

  before(async () => {
    platform = await ensurePlatform();
    const kafka = testKafka(platform);
    const admin = kafka.admin();
    await admin.connect();
    // Every topic of the contract: the sink reads the quarantine topics too (forensics-quarantine.test.ts).
    await createTopics(admin, topicList(topics), 3);
    await admin.disconnect();
    catalog = await SchemaCatalog.connect(registryUrl(platform), topics);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
  });

  after(async () => {
    await client?.close().catch(() => undefined);
    if (sink && sink.child.exitCode === null && sink.child.signalCode === null) {
      sink.child.kill('SIGTERM');
      await sink.exited;
    }
    await producer?.disconnect().catch(() => undefined);
    if (platform) {
      const admin = testKafka(platform).admin();
      await admin.connect();
      await admin.deleteTopics({ topics: topicList(topics) }).catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores every record once across a crash between an insert and its offset commit', async () => {
    for (let i = 0; i < 240; i++) {
      bulk.push(
        packet({ clientId: `bulk-${i % 24}`, receivedAt: t0 - 2 * hour + i, sourceIp: `10.1.0.${i % 24}` }),
      );
    }
    await produce(bulk);

    // The first sink dies by SIGKILL right after its first batch insert, before it commits. No
    // time-cut batches: that insert holds exactly 50 rows (of any of the three partitions).
    const crashing = await startSink({
      SENTINEL_FORENSICS_TEST_CRASH_AFTER_INSERTS: '1',
      SENTINEL_FORENSICS_BATCH_MAX_MS: '600000',
    });
    const [, signal] = await crashing.exited;
    assert.equal(signal, 'SIGKILL');

    sink = await startSink();
    await ready(sink);
    client = createClickHouse({ url: queryUrl(), embeddedPath: '', database: 'sentinel' });
    await until('all packets stored', async () =>
      (await countOf(client, 'packets')) === bulk.length ? true : undefined,
    );
    const [stored] = await rows<{ n: string; keys: string; events: string }>(
      client,
      'SELECT count() AS n, uniqExact(kafka_partition, kafka_offset) AS keys, uniqExact(event_id) AS events FROM packets',
    );
    assert.deepEqual(stored, { n: '240', keys: '240', events: '240' });
    // The batch the first sink stored was re-read from Kafka and skipped, not inserted again.
    const insertedByRestart = await until('metrics', async () => {
      const value = await metric(
        sink!.metricsPort,
        'sentinel_forensics_rows_inserted_total',
        'table="packets"',
      );
      return value > 0 ? value : undefined;
    });
    assert.equal(insertedByRestart, bulk.length - 50);
    // Everything stored is committed: no packets partition is behind its high watermark.
    await until('the lag of every packets partition reported as 0', async () => {
      const text = await (await fetch(`http://127.0.0.1:${sink?.metricsPort}/metrics`)).text();
      const lags = text
        .split('\n')
        .filter((l) => l.startsWith('sentinel_forensics_sink_lag{') && l.includes('topic="packets"'));
      return lags.length === 3 && lags.every((l) => l.endsWith(' 0')) ? true : undefined;
    });
  });

  it('drops a batch inserted twice with the same deduplication token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-forensics-token-'));
    const store = createClickHouse({ url: 'embedded', embeddedPath: dir });
    try {
      await applyForensicDdl(store);
      const batch = bulk.slice(0, 10).map((event, i) => packetRow(event, { partition: 1, offset: 100 + i }));
      const insert = (token: string) =>
        insertBatch(store, 'sentinel.packets', sinkColumns.packets, batch, token);
      const token = batchToken(topics.packets, [{ partition: 1, first: 100, last: 109 }]);
      await insert(token);
      await insert(token);
      assert.equal(await countOf(store, 'sentinel.packets'), 10);
      await insert(batchToken(topics.packets, [{ partition: 1, first: 100, last: 110 }]));
      assert.equal(await countOf(store, 'sentinel.packets'), 20, 'a different token is a different batch');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('named queries on a crafted incident', () => {
    const at = (ms: number) => t0 + 1000 + ms;
    const connect = packet({
      clientId: 'cam-1',
      packetType: 'CONNECT',
      topic: null,
      payload: null,
      authResult: 'allowed',
      sourceIp: '10.0.0.1',
      receivedAt: at(0),
    });
    const rm = packet({
      clientId: 'cam-1',
      payload: Buffer.from('{"cmd":"rm -rf /"}'),
      sourceIp: '10.0.0.1',
      receivedAt: at(1000),
    });
    const telemetry = packet({
      clientId: 'cam-1',
      payload: Buffer.from('{"t":21.5}'),
      sourceIp: '10.0.0.1',
      receivedAt: at(2000),
    });
    const sqli = packet({
      clientId: 'cam-2',
      payload: Buffer.from("' OR 1=1 --"),
      sourceIp: '10.0.0.2',
      receivedAt: at(3000),
    });
    const xss = packet({
      clientId: 'cam-2',
      payload: Buffer.from('<script>alert(1)</script>'),
      sourceIp: '10.0.0.2',
      receivedAt: at(4000),
    });
    const sqli2 = packet({
      clientId: 'cam-3',
      payload: Buffer.from("1' UNION SELECT"),
      sourceIp: '10.0.0.3',
      receivedAt: at(5000),
    });
    const quoted = packet({
      clientId: "o'brien\\7",
      payload: Buffer.from('x'),
      sourceIp: '10.0.0.4',
      receivedAt: at(6000),
    });
    const refused = [
      packet({
        clientId: 'x1',
        username: 'admin',
        packetType: 'CONNECT',
        authResult: 'denied',
        sourceIp: '10.9.9.9',
        receivedAt: at(7000),
      }),
      packet({
        clientId: 'x2',
        username: 'root',
        packetType: 'CONNECT',
        authResult: 'denied',
        sourceIp: '10.9.9.9',
        receivedAt: at(7100),
      }),
      packet({
        clientId: 'x1',
        username: 'admin',
        packetType: 'CONNECT',
        authResult: 'denied',
        sourceIp: '10.9.9.9',
        receivedAt: at(7200),
      }),
      packet({
        clientId: 'y1',
        username: 'svc',
        packetType: 'CONNECT',
        authResult: 'error',
        sourceIp: '10.9.9.8',
        receivedAt: at(7300),
      }),
      packet({
        clientId: 'y1',
        username: 'svc',
        packetType: 'CONNECT',
        authResult: 'denied',
        sourceIp: '10.9.9.8',
        receivedAt: at(7400),
      }),
    ];
    const incident = [connect, rm, telemetry, sqli, xss, sqli2, quoted, ...refused];

    before(async () => {
      await produce(
        incident,
        [
          verdictOf(rm, 'block', [finding('cmdi-rm', 'cmdi', 'rm -rf /')], 5),
          verdictOf(telemetry, 'allow', [], 3),
          verdictOf(sqli, 'block', [finding('sqli-1', 'sqli', "' OR 1=1")], 4),
          verdictOf(xss, 'quarantine', [finding('xss-1', 'xss', '<script>', true)], 4),
          verdictOf(sqli2, 'block', [finding('sqli-1', 'sqli', "' UNION SELECT")], 4),
        ],
        [deliveryOf(telemetry, 20)],
      );
      await until('incident stored', async () => {
        const [row] = await rows<{ p: string; v: string; d: string }>(
          client,
          'SELECT (SELECT count() FROM packets) AS p, (SELECT count() FROM verdicts) AS v, (SELECT count() FROM deliveries) AS d',
        );
        return row && Number(row.p) === bulk.length + incident.length && row.v === '5' && row.d === '1'
          ? true
          : undefined;
      });
    });

    it('device-timeline: every packet and verdict of one client, in time order', async () => {
      const timeline = await cliJson<{ kind: string; event_id: string; what: string; ip: string }>([
        'device-timeline',
        'cam-1',
        ...windowArgs,
      ]);
      assert.deepEqual(
        timeline.map((r) => [r.kind, r.event_id, r.what]),
        [
          ['packet', connect.eventId, 'CONNECT'],
          ['packet', rm.eventId, 'PUBLISH'],
          ['verdict', rm.eventId, 'block'],
          ['packet', telemetry.eventId, 'PUBLISH'],
          ['verdict', telemetry.eventId, 'allow'],
        ],
      );
      assert.equal(timeline[0]?.ip, '10.0.0.1');
    });

    it('binds a client id with quotes and backslashes as a parameter', async () => {
      const timeline = await cliJson<{ event_id: string }>(['device-timeline', "o'brien\\7", ...windowArgs]);
      assert.deepEqual(
        timeline.map((r) => r.event_id),
        [quoted.eventId],
      );
    });

    it('top-offenders: clients and addresses by blocked, then quarantined verdicts', async () => {
      const offenders = await cliJson<{
        client_id: string;
        ip: string;
        blocked: string;
        quarantined: string;
        rules: string;
      }>(['top-offenders', ...windowArgs]);
      assert.deepEqual(
        offenders.map((r) => [r.client_id, r.ip, Number(r.blocked), Number(r.quarantined), r.rules]),
        [
          ['cam-2', '10.0.0.2', 1, 1, 'sqli-1,xss-1'],
          ['cam-1', '10.0.0.1', 1, 0, 'cmdi-rm'],
          ['cam-3', '10.0.0.3', 1, 0, 'sqli-1'],
        ],
      );
    });

    it('findings-by-rule: counts per rule per bucket', async () => {
      const buckets = await cliJson<{
        bucket: string;
        rule_id: string;
        matches: string;
        shadow: string;
        clients: string;
      }>(['findings-by-rule', ...windowArgs, '--interval', '1h']);
      assert.deepEqual(
        buckets.map((r) => [r.rule_id, Number(r.matches), Number(r.shadow), Number(r.clients)]),
        [
          ['sqli-1', 2, 0, 2],
          ['cmdi-rm', 1, 0, 1],
          ['xss-1', 1, 1, 1],
        ],
      );
      const hourStart = new Date(t0).toISOString().replace('T', ' ').slice(0, 19);
      assert.ok(
        buckets.every((r) => r.bucket.startsWith(hourStart)),
        JSON.stringify(buckets),
      );
    });

    it('auth-failures-by-ip: refused CONNECTs per source address', async () => {
      const failures = await cliJson<{
        ip: string;
        denied: string;
        errors: string;
        clients: string;
        usernames: string;
      }>(['auth-failures-by-ip', ...windowArgs]);
      assert.deepEqual(
        failures.map((r) => [r.ip, Number(r.denied), Number(r.errors), Number(r.clients), r.usernames]),
        [
          ['10.9.9.9', 3, 0, 2, 'admin,root'],
          ['10.9.9.8', 1, 1, 1, 'svc'],
        ],
      );
    });

    it('payload-search: by substring, and by rule id', async () => {
      const bySubstring = await cliJson<{ event_id: string; excerpt: string }>([
        'payload-search',
        'rm -rf',
        ...windowArgs,
      ]);
      assert.deepEqual(
        bySubstring.map((r) => r.event_id),
        [rm.eventId],
      );
      assert.match(bySubstring[0]?.excerpt ?? '', /rm -rf/);
      const byRule = await cliJson<{ event_id: string; evidence: string }>([
        'payload-search',
        '--rule',
        'sqli-1',
        ...windowArgs,
      ]);
      assert.deepEqual(
        byRule.map((r) => [r.event_id, r.evidence]),
        [
          [sqli.eventId, "' OR 1=1"],
          [sqli2.eventId, "' UNION SELECT"],
        ],
      );
    });

    it('message-path: edge receipt -> verdict -> origin delivery with latencies', async () => {
      const path = await cliJson<{
        stage: string;
        ms_since_receipt: string | number;
        ms_since_previous: string | number;
      }>(['message-path', telemetry.eventId]);
      assert.deepEqual(
        path.map((r) => [r.stage, Number(r.ms_since_receipt), Number(r.ms_since_previous)]),
        [
          ['edge receipt', 0, 0],
          ['verdict', 3, 3],
          ['origin delivery', 20, 17],
        ],
      );
    });

    it('sql: any reading statement, as a table by default', async () => {
      const result = await cli([
        'sql',
        "SELECT client_id, count() AS packets FROM packets WHERE client_id LIKE 'cam-%' GROUP BY client_id ORDER BY client_id",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /client_id\s+packets/);
      assert.match(result.stdout, /cam-1\s+3/);
      assert.match(result.stdout, /\(3 rows\)/);
    });
  });

  describe('bad input gets SNT_FORENSICS_QUERY_INVALID and changes nothing', () => {
    const cases: [string, string[], RegExp][] = [
      ['an unknown query name', ['who-did-it'], /unknown query "who-did-it"/],
      [
        'a malformed time window',
        ['top-offenders', '--since', 'yesterday-ish'],
        /--since "yesterday-ish" is not a time/,
      ],
      ['an empty window', ['top-offenders', '--since', '1h', '--until', '2h'], /window is empty/],
      ['a write statement in sql', ['sql', 'DROP TABLE packets'], /only reading statements/],
      ['a second statement in sql', ['sql', 'SELECT 1; DROP TABLE packets'], /one statement per query/],
      [
        'an option the query does not take',
        ['message-path', 'e1', '--interval', '1m'],
        /does not take --interval/,
      ],
    ];
    for (const [what, args, reason] of cases) {
      it(what, async () => {
        const before = await countOf(client, 'packets');
        const result = await cli(args);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /SNT_FORENSICS_QUERY_INVALID/);
        assert.match(result.stderr, reason);
        assert.equal(await countOf(client, 'packets'), before);
      });
    }

    it('the endpoint itself refuses writes sent past the CLI, and the engine refuses what looks like a read', async () => {
      const url = queryUrl();
      const before = await countOf(client, 'packets');
      for (const query of [
        'DROP TABLE sentinel.packets',
        "INSERT INTO sentinel.packets (client_id) VALUES ('x')",
        'SELECT 1; TRUNCATE TABLE sentinel.packets',
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
      ]) {
        const response = await fetch(url, { method: 'POST', body: query });
        assert.equal(response.status, 403, query);
        assert.match(await response.text(), /\(READONLY\)/);
      }
      assert.equal(await countOf(client, 'packets'), before);
    });
  });

  it('answers queries while the sink is writing', async () => {
    const before = await countOf(client, 'packets');
    const more = Array.from({ length: 3000 }, (_, i) =>
      packet({ clientId: `stream-${i % 50}`, receivedAt: t0 - 3 * hour + i }),
    );
    let producing = true;
    const writing = (async () => {
      for (let i = 0; i < more.length; i += 100) await produce(more.slice(i, i + 100));
      producing = false;
    })();
    const seen: number[] = [];
    const deadline = Date.now() + 60_000;
    while ((producing || seen.at(-1) !== before + more.length) && Date.now() < deadline) {
      seen.push(await countOf(client, 'packets'));
    }
    await writing;
    const during = seen.filter((n) => n > before && n < before + more.length);
    assert.ok(during.length > 0, 'some answers saw the store part-way through the writes');
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'counts only grow',
    );
    assert.equal(seen.at(-1), before + more.length);
  });

  describe('replayed verdicts (issue 13): one row per packet, also across a crash between insert and commit', () => {
    // The processors write verdicts at once and checkpoint later: after a crash they write some again
    // with the same packetRef, at new offsets. One device, so one verdicts partition, in order.
    const device = 'replay-cam';
    const events = Array.from({ length: 21 }, (_, i) =>
      packet({ clientId: device, receivedAt: t0 - 4 * hour + i * 1000 }),
    );
    const verdictsOf = (from: number, to: number): Verdict[] =>
      events.slice(from, to).map((event, i) => ({
        ...verdictOf(event, 'allow', [], 2),
        packetRef: { topic: topics.packets, partition: 2, offset: 5000 + from + i },
      }));

    async function storedOnce(last: number): Promise<void> {
      // The verdict of the last packet comes after every replay in the partition: once it is stored,
      // the replays before it have been read.
      const lastEvent = events[last]?.eventId as string;
      await until('the last verdict stored', async () => {
        const [row] = await rows<{ n: string }>(
          client,
          'SELECT count() AS n FROM verdicts WHERE event_id = {e:String}',
          { e: lastEvent },
        );
        return row?.n === '1' ? true : undefined;
      });
      // Without FINAL: not collapsed at merge, never written twice.
      const perPacket = await rows<{ o: string; n: string; events: string }>(
        client,
        `SELECT packet_offset AS o, count() AS n, uniqExact(event_id) AS events FROM verdicts
         WHERE client_id = {c:String} GROUP BY o ORDER BY o`,
        { c: device },
      );
      assert.deepEqual(
        perPacket.map((r) => [Number(r.o), Number(r.n), Number(r.events)]),
        Array.from({ length: last + 1 }, (_, i) => [5000 + i, 1, 1]),
      );
    }

    it('stores a replayed range once and counts the skips', async () => {
      await produce([], [...verdictsOf(0, 10), ...verdictsOf(5, 10), ...verdictsOf(10, 12)]);
      await storedOnce(11);
      const running = sink as RunningSink;
      assert.equal(
        await metric(running.metricsPort, 'sentinel_forensics_replays_skipped_total', 'table="verdicts"'),
        5,
      );
    });

    it('after a crash between an insert and its commit, replays of that batch and of older verdicts are skipped', async () => {
      const previous = sink as RunningSink;
      previous.child.kill('SIGTERM');
      await previous.exited;
      // New verdicts 12-19, then replays of them and of 0-4 (stored by the sink before), then 20.
      await produce(
        [],
        [...verdictsOf(12, 20), ...verdictsOf(12, 20), ...verdictsOf(0, 5), ...verdictsOf(20, 21)],
      );
      // This sink stores 12-19 as its first insert and dies before it commits them.
      const crashing = await startSink({
        SENTINEL_FORENSICS_TEST_CRASH_AFTER_INSERTS: '1',
        SENTINEL_FORENSICS_BATCH_ROWS: '8',
        SENTINEL_FORENSICS_BATCH_MAX_MS: '600000',
      });
      const [, signal] = await crashing.exited;
      assert.equal(signal, 'SIGKILL');

      sink = await startSink();
      await ready(sink);
      await client.close();
      client = createClickHouse({ url: queryUrl(), embeddedPath: '', database: 'sentinel' });
      await storedOnce(20);
      // The restarted sink rebuilt its watermarks from the stored rows: 8 + 5 replays skipped.
      assert.equal(
        await metric(sink.metricsPort, 'sentinel_forensics_replays_skipped_total', 'table="verdicts"'),
        13,
      );
    });
  });
});
