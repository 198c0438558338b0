import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import { applyForensicDdl, forensicSchemaVersion } from '../../forensics/ddl.js';
import { ownerFileOf } from '../../forensics/owner.js';
import { prepareNamedQuery, runPreparedQuery } from '../../forensics/queries.js';
import { sinkColumns, verdictRow } from '../../forensics/rows.js';
import { insertBatch } from '../../forensics/sink.js';
import { createClickHouse } from '../../lib/clickhouse/client.js';
import { createTopics, type TopicNames, topicList, topicNames } from '../../lib/kafka/topics.js';
import { registryUrl, type StackConfig } from '../../lib/local-platform.js';
import { SchemaCatalog } from '../../schemas/catalog.js';
import type {
  Finding,
  HeldMessage,
  PacketRef,
  QuarantineDecision,
  Verdict,
} from '../../schemas/types.generated.js';
import { type SinkProcess, spawnForensicsSink } from '../helpers/forensics-sink.js';
import { ensurePlatform, runCli, testKafka, uniqueName } from '../helpers/platform.js';

/**
 * Quarantine review in the forensic store: the sink on its own topics (unique prefix) and its own
 * chDB directory stores held messages (a replayed one once), the operators' decisions and the review
 * verdicts, and the named queries read them; and a store made by schema version 3 is migrated at
 * start with its rows kept.
 */

async function rows<T>(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  const result = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return result.json<T>();
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

/** The verdicts tables as forensic schema 3 made them (forensics/ddl.ts before quarantine review). */
function schemaV3(db: string): string[] {
  const decisionsV3 = "'allow' = 1, 'block' = 2, 'quarantine' = 3";
  const settings = 'SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1';
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE ${db}.verdicts (
      decided_at DateTime64(3, 'UTC'),
      received_at DateTime64(3, 'UTC') COMMENT 'edge receipt time of the packet',
      client_id String,
      event_id String,
      packet_type LowCardinality(String),
      source_ip IPv6,
      proxy_id LowCardinality(String),
      topic String,
      decision Enum8(${decisionsV3}),
      mode LowCardinality(String) COMMENT 'enforce, or shadow when findings were only recorded',
      findings Nested(
        rule_id LowCardinality(String),
        class LowCardinality(String),
        stage LowCardinality(String),
        severity LowCardinality(String),
        action LowCardinality(String),
        evidence String,
        location String,
        shadow Bool
      ),
      packet_partition UInt16 COMMENT 'where the packet event is in Kafka',
      packet_offset UInt64,
      processing_latency_ms Float32 COMMENT 'edge receipt to decision',
      kafka_partition UInt16,
      kafka_offset UInt64,
      inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
      INDEX event_id_bf event_id TYPE bloom_filter(0.01) GRANULARITY 4
    ) ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMMDD(decided_at)
    ORDER BY (client_id, decided_at, kafka_partition, kafka_offset)
    TTL toDateTime(decided_at) + INTERVAL 90 DAY
    ${settings}`,
    `CREATE TABLE ${db}.verdicts_per_minute (
      minute DateTime('UTC'),
      decision Enum8(${decisionsV3}),
      packet_type LowCardinality(String),
      rule_id LowCardinality(String) COMMENT 'empty for verdicts without findings',
      verdicts UInt64 COMMENT 'verdicts (rule_id empty) or findings of the rule',
      latency_ms_sum Float64
    ) ENGINE = SummingMergeTree
    PARTITION BY toYYYYMM(minute)
    ORDER BY (minute, decision, packet_type, rule_id)
    TTL minute + INTERVAL 90 DAY
    ${settings}`,
    `CREATE MATERIALIZED VIEW ${db}.verdicts_per_minute_mv TO ${db}.verdicts_per_minute AS
    SELECT toStartOfMinute(decided_at) AS minute, decision, packet_type, rule_id,
      count() AS verdicts, sum(processing_latency_ms) AS latency_ms_sum
    FROM ${db}.verdicts
    ARRAY JOIN arrayConcat([''], findings.rule_id) AS rule_id
    GROUP BY minute, decision, packet_type, rule_id`,
    `CREATE TABLE ${db}.schema_version (
      version UInt32,
      applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = MergeTree ORDER BY version`,
    `INSERT INTO ${db}.schema_version (version) VALUES (2), (3)`,
  ];
}

const finding = (ruleId: string): Finding => ({
  ruleId,
  class: 'anomaly',
  stage: 'rate',
  severity: 'medium',
  action: 'quarantine',
  evidence: 'burst',
  location: 'client',
  shadow: false,
});

describe('forensic schema 3 -> 4: an upgrade keeps its data', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-forensics-migrate-'));
  let store: ClickHouseClient;

  before(async () => {
    store = createClickHouse({ url: 'embedded', embeddedPath: dir });
    for (const query of schemaV3('sentinel')) await store.command({ query });
    await store.command({
      query: `INSERT INTO sentinel.verdicts (decided_at, received_at, client_id, event_id, packet_type, source_ip,
        proxy_id, topic, decision, mode, findings.rule_id, findings.class, findings.stage, findings.severity,
        findings.action, findings.evidence, findings.location, findings.shadow, packet_partition, packet_offset,
        processing_latency_ms, kafka_partition, kafka_offset) VALUES
        ('2026-11-18 11:06:40.126', '2026-11-18 11:06:40.123', 'old-1', 'e-old-1', 'PUBLISH', '::ffff:10.0.0.1',
          'edge-a', 't', 'block', 'enforce', ['sqli-1'], ['sqli'], ['patterns'], ['high'], ['block'], ['x'], ['payload'],
          [false], 1, 40, 3, 0, 7),
        ('2026-11-18 11:06:41.000', '2026-11-18 11:06:40.990', 'old-2', 'e-old-2', 'PUBLISH', '::ffff:10.0.0.2',
          'edge-a', 't', 'quarantine', 'enforce', [], [], [], [], [], [], [], [], 1, 41, 4, 0, 8)`,
    });
  });

  after(async () => {
    await store?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates the verdicts and their rollup in place, as a new store has them, and keeps the rows', async () => {
    await applyForensicDdl(store, 'sentinel');
    await applyForensicDdl(store, 'fresh');
    const [version] = await rows<{ v: number }>(
      store,
      'SELECT max(version) AS v FROM sentinel.schema_version',
    );
    assert.equal(Number(version?.v), forensicSchemaVersion);
    assert.equal(forensicSchemaVersion, 4);

    // Same columns, types, defaults and comments, in the same order, as the tables of a new store.
    const columnsOf = (db: string, table: string) =>
      rows<Record<string, string>>(
        store,
        `SELECT name, type, default_kind, default_expression, comment FROM system.columns
         WHERE database = {db:String} AND table = {table:String} ORDER BY position`,
        { db, table },
      );
    for (const table of ['verdicts', 'verdicts_per_minute']) {
      assert.deepEqual(await columnsOf('sentinel', table), await columnsOf('fresh', table), table);
    }
    const tables = await rows<{ name: string }>(
      store,
      "SELECT name FROM system.tables WHERE database = 'sentinel' ORDER BY name",
    );
    assert.ok(tables.some((t) => t.name === 'held_messages'));
    assert.ok(tables.some((t) => t.name === 'quarantine_decisions'));

    // The rows of version 3 are there, with neutral values in the new columns.
    const old = await rows<Record<string, string>>(
      store,
      `SELECT event_id, toString(decision) AS decision, packet_topic, packet_offset, review_decision_id,
        review_operator, review_reason FROM sentinel.verdicts FINAL ORDER BY event_id`,
    );
    assert.deepEqual(old, [
      {
        event_id: 'e-old-1',
        decision: 'block',
        packet_topic: '',
        packet_offset: '40',
        review_decision_id: '',
        review_operator: '',
        review_reason: '',
      },
      {
        event_id: 'e-old-2',
        decision: 'quarantine',
        packet_topic: '',
        packet_offset: '41',
        review_decision_id: '',
        review_operator: '',
        review_reason: '',
      },
    ]);

    // A review verdict goes in, and through the rollup view, which now knows the new decisions.
    const review: Verdict = {
      eventId: 'e-old-2',
      clientId: 'old-2',
      packetType: 'PUBLISH',
      sourceIp: '10.0.0.2',
      proxyId: 'edge-a',
      topic: 't',
      decision: 'released',
      mode: 'enforce',
      findings: [],
      packetRef: { topic: 'sentinel.quarantine.decisions', partition: 0, offset: 3 },
      receivedAt: Date.parse('2026-11-18T11:06:40.990Z'),
      decidedAt: Date.parse('2026-11-18T11:16:00.000Z'),
      processingLatencyMs: 559_010,
      review: { decisionId: 'd-1', operator: 'alice', reason: 'expected' },
    };
    await insertBatch(
      store,
      'sentinel.verdicts',
      sinkColumns.verdicts,
      [verdictRow(review, { partition: 0, offset: 9 })],
      'sentinel.verdicts/0:9-9',
    );
    const rollup = await rows<{ decision: string; n: string }>(
      store,
      `SELECT toString(decision) AS decision, sum(verdicts) AS n FROM sentinel.verdicts_per_minute
       WHERE rule_id = '' GROUP BY decision ORDER BY decision`,
    );
    assert.deepEqual(rollup, [
      { decision: 'block', n: '1' },
      { decision: 'quarantine', n: '1' },
      { decision: 'released', n: '1' },
    ]);

    // Starting again changes nothing.
    await applyForensicDdl(store, 'sentinel');
    const versions = await rows<{ version: number }>(
      store,
      'SELECT version FROM sentinel.schema_version ORDER BY version',
    );
    assert.deepEqual(
      versions.map((v) => Number(v.version)),
      [2, 3, 4],
    );
    const [count] = await rows<{ n: string }>(store, 'SELECT count() AS n FROM sentinel.verdicts');
    assert.equal(count?.n, '3');
  });
});

describe('forensics: quarantine review from Kafka to the named queries', { timeout: 300_000 }, () => {
  const world = uniqueName('forensics-q').replaceAll('-', '_');
  const prefix = `${world}.`;
  const topics: TopicNames = topicNames(prefix);
  const dataDir = mkdtempSync(join(tmpdir(), 'sentinel-forensics-quarantine-'));
  const storePath = join(dataDir, 'clickhouse');
  const groupId = `${world}-sink`;

  /** Everything sits in an hour of its own, an hour ago; one review is of a message held before it. */
  const hour = 3_600_000;
  const t0 = Math.floor(Date.now() / hour) * hour - hour;
  const windowArgs = ['--since', new Date(t0).toISOString(), '--until', new Date(t0 + hour).toISOString()];

  let platform: StackConfig;
  let catalog: SchemaCatalog;
  let producer: Producer;
  let sink: SinkProcess | undefined;
  let client: ClickHouseClient;

  async function startSink() {
    const running = await spawnForensicsSink({ platform, prefix, storePath, groupId });
    const { child, metricsPort } = running;
    await until('the sink to own the store', async () => {
      const owner = JSON.parse(readFileSync(ownerFileOf(storePath), 'utf8')) as { pid: number };
      return owner.pid === child.pid ? true : undefined;
    });
    await until('the sink to be ready', async () =>
      (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok ? true : undefined,
    );
    return running;
  }

  async function stopSink(): Promise<void> {
    if (sink && sink.child.exitCode === null && sink.child.signalCode === null) {
      sink.child.kill('SIGTERM');
      await sink.exited;
    }
  }

  function queryUrl(): string {
    return (JSON.parse(readFileSync(ownerFileOf(storePath), 'utf8')) as { url: string }).url;
  }

  async function replaysSkipped(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${sink?.metricsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) => l.startsWith('sentinel_forensics_replays_skipped_total{') && l.includes('table="verdicts"'),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  async function cliJson<T>(args: string[]): Promise<T[]> {
    const result = await runCli(['forensics', ...args, '--json'], { SENTINEL_FORENSICS_URL: queryUrl() });
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as T[];
  }

  // Held messages: cam-1 twice (h1 released, h3 still held), cam-2 once (h2 dropped); cam-3's (h4)
  // was held before the window and expires in it.
  const at = (ms: number) => t0 + 60_000 + ms;
  let packetOffset = 1000;
  function heldMessage(heldId: string, clientId: string, heldAt: number, payload: Buffer): HeldMessage {
    return {
      heldId,
      clientId,
      username: clientId,
      sourceIp: '10.0.0.9',
      proxyId: 'edge-a',
      topic: `devices/${clientId}/cmd`,
      payload,
      qos: 1,
      retain: false,
      findings: [finding('rate-burst'), finding('cmd-topic')],
      // Packets partition 0 like the decisions below: the reviews' source is another topic.
      packetRef: { topic: topics.packets, partition: 0, offset: packetOffset++ },
      receivedAt: heldAt - 3,
      heldAt,
    };
  }
  const h1 = heldMessage(`${world}-h1`, 'cam-1', at(0), Buffer.from([0x00, 0xff, 0x10, 0x41]));
  const h2 = heldMessage(`${world}-h2`, 'cam-2', at(1000), Buffer.from('{"cmd":"reboot"}'));
  const h3 = heldMessage(`${world}-h3`, 'cam-1', at(2000), Buffer.from('{"cmd":"flash"}'));
  const h4 = heldMessage(`${world}-h4`, 'cam-3', t0 - 600_000, Buffer.from('{"cmd":"old"}'));

  function verdictOf(held: HeldMessage, decision: Verdict['decision'], decidedAt: number, ref: PacketRef) {
    return {
      eventId: held.heldId,
      clientId: held.clientId,
      packetType: 'PUBLISH',
      sourceIp: held.sourceIp,
      proxyId: held.proxyId,
      topic: held.topic,
      decision,
      mode: 'enforce',
      findings: decision === 'quarantine' ? held.findings : [],
      packetRef: ref,
      receivedAt: held.receivedAt,
      decidedAt,
      processingLatencyMs: decidedAt - held.receivedAt,
      review: null,
    } satisfies Verdict;
  }

  function decisionOf(
    held: HeldMessage,
    action: QuarantineDecision['action'],
    operator: string,
    reason: string,
    decidedAt: number,
  ): QuarantineDecision {
    return {
      decisionId: `${held.heldId}-d`,
      heldId: held.heldId,
      clientId: held.clientId,
      topic: held.topic,
      action,
      operator,
      reason,
      heldAt: held.heldAt,
      decidedAt,
    };
  }

  /** Writes a decision record, then its review verdict with the record's position as packetRef. */
  async function decide(held: HeldMessage, decision: QuarantineDecision): Promise<Verdict> {
    const [meta] = await producer.send({
      topic: topics.decisions,
      acks: -1,
      messages: [{ key: held.heldId, value: catalog.encode('decisions', decision) }],
    });
    const ref = {
      topic: topics.decisions,
      partition: meta?.partition ?? -1,
      offset: Number(meta?.baseOffset),
    };
    const outcome = { release: 'released', drop: 'dropped', expire: 'expired' } as const;
    return {
      ...verdictOf(held, outcome[decision.action], decision.decidedAt, ref),
      review: { decisionId: decision.decisionId, operator: decision.operator, reason: decision.reason },
    };
  }

  async function produceVerdicts(verdicts: Verdict[]): Promise<void> {
    await producer.send({
      topic: topics.verdicts,
      acks: -1,
      messages: verdicts.map((v) => ({ key: v.clientId, value: catalog.encode('verdicts', v) })),
    });
  }

  const reviews: Verdict[] = [];

  before(async () => {
    platform = await ensurePlatform();
    const kafka = testKafka(platform);
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, topicList(topics), 3);
    await admin.disconnect();
    catalog = await SchemaCatalog.connect(registryUrl(platform), topics);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    sink = await startSink();
    client = createClickHouse({ url: queryUrl(), embeddedPath: '', database: 'sentinel' });

    // The processors: held messages (h1 written twice: a replay after a crash) and quarantine verdicts.
    await producer.send({
      topic: topics.quarantine,
      acks: -1,
      messages: [h1, h2, h3, h4, h1].map((h) => ({
        key: h.clientId,
        value: catalog.encode('quarantine', h),
      })),
    });
    await produceVerdicts([h1, h2, h3, h4].map((h) => verdictOf(h, 'quarantine', h.heldAt, h.packetRef)));
    // The console: decisions, and review verdicts whose source is the decision record. Their offsets
    // in the decisions topic are far below the packet offsets of the quarantine verdicts.
    reviews.push(
      await decide(h1, decisionOf(h1, 'release', 'alice', 'firmware update, expected', at(600_000))),
      await decide(h2, decisionOf(h2, 'drop', 'bob', "reboot loop; 'not now'", at(610_000))),
      await decide(h4, decisionOf(h4, 'expire', 'system', 'not reviewed in time', at(620_000))),
    );
    // A review verdict written twice (the console retried): stored once.
    await produceVerdicts([...reviews, reviews[0] as Verdict]);

    await until('everything stored', async () => {
      const [row] = await rows<{ h: string; d: string; v: string }>(
        client,
        `SELECT (SELECT uniqExact(held_id) FROM held_messages) AS h,
          (SELECT count() FROM quarantine_decisions) AS d, (SELECT count() FROM verdicts) AS v`,
      );
      return row?.h === '4' && row.d === '3' && row.v === '7' ? true : undefined;
    });
  });

  after(async () => {
    await client?.close().catch(() => undefined);
    await stopSink();
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

  it('keeps each held message once, whole: the replayed one collapses by held_id', async () => {
    const held = await rows<Record<string, string>>(
      client,
      `SELECT held_id, client_id, hex(payload) AS payload, payload_size, arrayStringConcat(findings.rule_id, ',') AS rules,
        packet_offset FROM held_messages FINAL ORDER BY held_id`,
    );
    assert.deepEqual(
      held.map((h) => [h.held_id, h.client_id, h.payload, Number(h.payload_size), h.rules]),
      [h1, h2, h3, h4].map((h) => [
        h.heldId,
        h.clientId,
        h.payload.toString('hex').toUpperCase(),
        h.payload.length,
        'rate-burst,cmd-topic',
      ]),
    );
    assert.equal(held[0]?.packet_offset, String(h1.packetRef.offset));
  });

  it('stores the decisions and the review verdicts with their source and review, once each', async () => {
    const decisions = await rows<Record<string, string>>(
      client,
      `SELECT held_id, toString(action) AS action, operator, reason FROM quarantine_decisions FINAL ORDER BY held_id`,
    );
    assert.deepEqual(
      decisions.map((d) => [d.held_id, d.action, d.operator]),
      [
        [h1.heldId, 'release', 'alice'],
        [h2.heldId, 'drop', 'bob'],
        [h4.heldId, 'expire', 'system'],
      ],
    );
    const verdicts = await rows<Record<string, string>>(
      client,
      `SELECT event_id, toString(decision) AS decision, packet_topic, packet_partition, packet_offset,
        review_decision_id, review_operator, review_reason
       FROM verdicts WHERE review_decision_id != '' ORDER BY event_id`,
    );
    assert.deepEqual(
      verdicts.map((v) => [
        v.event_id,
        v.decision,
        v.packet_topic,
        Number(v.packet_partition),
        Number(v.packet_offset),
        v.review_decision_id,
        v.review_operator,
        v.review_reason,
      ]),
      reviews.map((r) => [
        r.eventId,
        r.decision,
        topics.decisions,
        r.packetRef.partition,
        r.packetRef.offset,
        r.review?.decisionId,
        r.review?.operator,
        r.review?.reason,
      ]),
    );
    const [quarantined] = await rows<{ n: string; topics: string[] }>(
      client,
      "SELECT count() AS n, groupUniqArray(packet_topic) AS topics FROM verdicts WHERE decision = 'quarantine'",
    );
    assert.deepEqual(quarantined, { n: '4', topics: [topics.packets] });
    assert.equal(await replaysSkipped(), 1, 'the second copy of a review verdict');
  });

  it('quarantine: the messages held in the window, each with what became of it', async () => {
    const held = await cliJson<Record<string, string | null>>(['quarantine', ...windowArgs]);
    assert.deepEqual(held, [
      {
        held_at: new Date(h1.heldAt).toISOString().replace('T', ' ').replace('Z', ''),
        held_id: h1.heldId,
        client_id: 'cam-1',
        topic: 'devices/cam-1/cmd',
        rules: 'cmd-topic,rate-burst',
        status: 'released',
        operator: 'alice',
        reason: 'firmware update, expected',
        decided_at: new Date(at(600_000)).toISOString().replace('T', ' ').replace('Z', ''),
      },
      {
        held_at: new Date(h2.heldAt).toISOString().replace('T', ' ').replace('Z', ''),
        held_id: h2.heldId,
        client_id: 'cam-2',
        topic: 'devices/cam-2/cmd',
        rules: 'cmd-topic,rate-burst',
        status: 'dropped',
        operator: 'bob',
        reason: "reboot loop; 'not now'",
        decided_at: new Date(at(610_000)).toISOString().replace('T', ' ').replace('Z', ''),
      },
      {
        held_at: new Date(h3.heldAt).toISOString().replace('T', ' ').replace('Z', ''),
        held_id: h3.heldId,
        client_id: 'cam-1',
        topic: 'devices/cam-1/cmd',
        rules: 'cmd-topic,rate-burst',
        status: 'held',
        operator: '',
        reason: '',
        decided_at: null,
      },
    ]);
    // Held before the window: listed by a window that holds it, expired.
    const earlier = await cliJson<{ held_id: string; status: string; operator: string }>([
      'quarantine',
      '--since',
      new Date(t0 - hour).toISOString(),
      '--until',
      new Date(t0).toISOString(),
    ]);
    assert.deepEqual(
      earlier.map((r) => [r.held_id, r.status, r.operator]),
      [[h4.heldId, 'expired', 'system']],
    );
  });

  it('quarantine --client: one client only, bound as a parameter', async () => {
    const prepared = prepareNamedQuery('quarantine', {
      positional: [],
      since: new Date(t0).toISOString(),
      until: new Date(t0 + hour).toISOString(),
      client: 'cam-1',
    });
    const held = await runPreparedQuery(client, prepared);
    assert.deepEqual(
      held.map((r) => [r.held_id, r.status]),
      [
        [h1.heldId, 'released'],
        [h3.heldId, 'held'],
      ],
    );
    const none = await runPreparedQuery(
      client,
      prepareNamedQuery('quarantine-decisions', { positional: [], since: '1d', client: "cam-1' OR 1=1" }),
    );
    assert.deepEqual(none, []);
  });

  it('quarantine-decisions: the audit trail, in decision order', async () => {
    const trail = await cliJson<Record<string, string>>(['quarantine-decisions', ...windowArgs]);
    assert.deepEqual(trail, [
      {
        decided_at: new Date(at(600_000)).toISOString().replace('T', ' ').replace('Z', ''),
        operator: 'alice',
        action: 'release',
        held_id: h1.heldId,
        client_id: 'cam-1',
        reason: 'firmware update, expected',
      },
      {
        decided_at: new Date(at(610_000)).toISOString().replace('T', ' ').replace('Z', ''),
        operator: 'bob',
        action: 'drop',
        held_id: h2.heldId,
        client_id: 'cam-2',
        reason: "reboot loop; 'not now'",
      },
      {
        decided_at: new Date(at(620_000)).toISOString().replace('T', ' ').replace('Z', ''),
        operator: 'system',
        action: 'expire',
        held_id: h4.heldId,
        client_id: 'cam-3',
        reason: 'not reviewed in time',
      },
    ]);
  });

  it('top-offenders counts the quarantines, not their reviews', async () => {
    const offenders = await cliJson<{ client_id: string; blocked: string; quarantined: string }>([
      'top-offenders',
      ...windowArgs,
    ]);
    // cam-3's only verdict in the window is the expiry of a message held before it.
    assert.deepEqual(
      offenders.map((r) => [r.client_id, Number(r.blocked), Number(r.quarantined)]),
      [
        ['cam-1', 0, 2],
        ['cam-2', 0, 1],
      ],
    );
  });

  it('after a restart, a replayed review verdict is still known by its decision record', async () => {
    await stopSink();
    // The console writes the verdict of h2's drop again, then the processors a new quarantine verdict
    // of cam-2 (same verdicts partition) that tells when the replay has been read.
    const h5 = heldMessage(`${world}-h5`, 'cam-2', at(3000), Buffer.from('{"cmd":"again"}'));
    await produceVerdicts([reviews[1] as Verdict, verdictOf(h5, 'quarantine', h5.heldAt, h5.packetRef)]);
    sink = await startSink();
    await client.close();
    client = createClickHouse({ url: queryUrl(), embeddedPath: '', database: 'sentinel' });
    await until('the last verdict stored', async () => {
      const [row] = await rows<{ n: string }>(
        client,
        'SELECT count() AS n FROM verdicts WHERE event_id = {e:String}',
        {
          e: h5.heldId,
        },
      );
      return row?.n === '1' ? true : undefined;
    });
    const [dropped] = await rows<{ n: string }>(
      client,
      "SELECT count() AS n FROM verdicts WHERE event_id = {e:String} AND decision = 'dropped'",
      { e: h2.heldId },
    );
    assert.equal(dropped?.n, '1');
    assert.equal(await replaysSkipped(), 1);
  });
});
