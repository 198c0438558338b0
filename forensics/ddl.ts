import type { ClickHouseClient } from '@clickhouse/client';
import { SentinelError } from '../lib/errors.js';

/**
 * The forensic store's tables, in one place; `sentinel stack up` and the forensics sink apply them
 * (every statement is idempotent). docs/forensics.md describes each column.
 *
 * Idempotency: every row carries its Kafka coordinates (partition, offset) at the end of a
 * ReplacingMergeTree sorting key, so a record written twice collapses to one at merge time (and
 * reads with FINAL never see it twice). The sink also sends an insert deduplication token per batch
 * (non_replicated_deduplication_window keeps the recent tokens), and resumes a partition after the
 * highest offset the table already holds; see forensics/sink.ts. The quarantine tables are keyed by
 * the record's own id instead: the processors write a held message at least once, so a replay is
 * the same held_id at a new offset, and a decision is one decision_id; those collapse at merge, and
 * queries read them with FINAL.
 *
 * Access: ORDER BY starts with the device and the time, the way analysts filter; event ids and source
 * addresses have skip indexes for the lookups that do not start from a device.
 */
export const forensicDatabase = 'sentinel';

/** Raised when a change needs a migration step; the migrations below say what each one did. */
export const forensicSchemaVersion = 4;

/** Version 3 added what the edge refused and the session ACL to packets (issue: refusals are final). */
const packetsColumnsV3 = [
  "refusal LowCardinality(String) COMMENT 'set when the edge refused the packet: acl_denied, rate_limited, auth_denied, protocol'",
  "acl_publish Array(String) COMMENT 'accepted CONNECT: publish filters granted to the session'",
  "acl_subscribe Array(String) COMMENT 'accepted CONNECT: subscribe filters granted to the session'",
];

/** How long the forensic store keeps rows; Kafka keeps 72 hours, investigations need longer. */
export const forensicRetentionDays = 90;

const packetTypes =
  "'CONNECT' = 1, 'CONNACK' = 2, 'PUBLISH' = 3, 'PUBACK' = 4, 'PUBREC' = 5, 'PUBREL' = 6, 'PUBCOMP' = 7, " +
  "'SUBSCRIBE' = 8, 'SUBACK' = 9, 'UNSUBSCRIBE' = 10, 'UNSUBACK' = 11, 'PINGREQ' = 12, 'PINGRESP' = 13, " +
  "'DISCONNECT' = 14, 'MALFORMED' = 15, 'UNKNOWN' = 16";

/** The processors' decisions, then the outcomes of an operator's review of a quarantined PUBLISH. */
/** The findings of a verdict or a held message, as one Nested column (rows.ts: findingColumns). */
const findingsNested = `findings Nested(
        rule_id LowCardinality(String),
        class LowCardinality(String),
        stage LowCardinality(String),
        severity LowCardinality(String),
        action LowCardinality(String),
        evidence String,
        location String,
        shadow Bool
      )`;

export const decisions =
  "'allow' = 1, 'block' = 2, 'quarantine' = 3, 'released' = 4, 'dropped' = 5, 'expired' = 6";

/** What an operator (or the expiry) did with a held message. */
export const quarantineActions = "'release' = 1, 'drop' = 2, 'expire' = 3";

/** Version 4 said what these columns hold in a review verdict. */
const verdictsCommentsV4 = {
  packet_partition: 'where the packet event (or, for a review verdict, the decision record) is in Kafka',
  processing_latency_ms: 'edge receipt to decision (for a review verdict: to the review)',
} as const;

/**
 * Version 4 added the review of a held message to verdicts (issue: quarantine review), each column
 * after the one named, so a migrated table has the columns of a new one in the same order.
 * packet_topic says which topic packet_partition/packet_offset point into: a review verdict's
 * source is its decision record in sentinel.quarantine.decisions, not a packet. Rows of earlier
 * versions read it as '' (the packets topic).
 */
const verdictsColumnsV4: readonly { readonly column: string; readonly after: string }[] = [
  {
    column:
      "packet_topic LowCardinality(String) COMMENT 'topic of packet_partition/packet_offset: the packets topic, or the decisions topic for a review verdict; empty in rows stored before version 4 (the packets topic)'",
    after: '`findings.shadow`',
  },
  {
    column:
      "review_decision_id String DEFAULT '' COMMENT 'released, dropped, expired: the decision record (quarantine_decisions.decision_id)'",
    after: 'processing_latency_ms',
  },
  {
    column:
      "review_operator LowCardinality(String) DEFAULT '' COMMENT 'operator who decided; system for an expiry'",
    after: 'review_decision_id',
  },
  {
    column: "review_reason String DEFAULT '' COMMENT 'why, as the operator wrote it'",
    after: 'review_operator',
  },
];

// Tokens of the last 10,000 inserted blocks per table are remembered; a batch retried or replayed
// within that many inserts is dropped by the engine.
const tableSettings = 'SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1';

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function requireIdentifier(name: string, what: string): string {
  if (!identifier.test(name)) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `${what} ${JSON.stringify(name)} is not a plain identifier`,
    );
  }
  return name;
}

/** The tables the sink writes, by Kafka topic role. */
export const sinkTables = {
  packets: 'packets',
  verdicts: 'verdicts',
  deliveries: 'deliveries',
  quarantine: 'held_messages',
  decisions: 'quarantine_decisions',
} as const;
export type SinkRole = keyof typeof sinkTables;

export function forensicDdl(database: string = forensicDatabase): string[] {
  const db = requireIdentifier(database, 'database');
  const ttl = (column: string) => `TTL toDateTime(${column}) + INTERVAL ${forensicRetentionDays} DAY`;
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${db}.packets (
      received_at DateTime64(3, 'UTC') COMMENT 'edge receipt time',
      client_id String COMMENT 'MQTT client id (empty before CONNECT was accepted)',
      event_id String COMMENT 'id of the packet event; verdicts and deliveries carry the same id',
      packet_type Enum8(${packetTypes}),
      username String,
      source_ip IPv6 COMMENT 'device address; IPv4 stored as ::ffff:a.b.c.d',
      source_port UInt16,
      proxy_id LowCardinality(String) COMMENT 'edge proxy that received the packet',
      connection_id String,
      topic String COMMENT 'PUBLISH topic name',
      qos UInt8,
      retain Bool,
      dup Bool,
      message_id UInt16,
      payload String COMMENT 'UTF-8 text, or base64 when payload_binary' CODEC(ZSTD(3)),
      payload_binary Bool COMMENT 'payload was not valid UTF-8 and is stored base64-encoded',
      payload_size UInt32 COMMENT 'payload bytes as received',
      packet_size UInt32 COMMENT 'bytes on the wire, fixed header included',
      protocol_level UInt8,
      keep_alive UInt16,
      clean_session Bool,
      will_topic String,
      subscriptions Nested(topic String, qos UInt8),
      auth_result LowCardinality(String) COMMENT 'CONNECT: allowed, denied, error or rate_limited',
      edge_action LowCardinality(String) COMMENT 'what the edge did when it did not simply accept',
      ${packetsColumnsV3.join(',\n      ')},
      malformed_reason LowCardinality(String),
      malformed_clause LowCardinality(String) COMMENT 'MQTT 3.1.1 normative statement broken',
      tls_client_subject String,
      kafka_partition UInt16,
      kafka_offset UInt64,
      inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
      INDEX event_id_bf event_id TYPE bloom_filter(0.01) GRANULARITY 4,
      INDEX source_ip_bf source_ip TYPE bloom_filter(0.01) GRANULARITY 4
    ) ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMMDD(received_at)
    ORDER BY (client_id, received_at, kafka_partition, kafka_offset)
    ${ttl('received_at')}
    ${tableSettings}`,
    `CREATE TABLE IF NOT EXISTS ${db}.verdicts (
      decided_at DateTime64(3, 'UTC'),
      received_at DateTime64(3, 'UTC') COMMENT 'edge receipt time of the packet',
      client_id String,
      event_id String,
      packet_type LowCardinality(String),
      source_ip IPv6,
      proxy_id LowCardinality(String),
      topic String,
      decision Enum8(${decisions}),
      mode LowCardinality(String) COMMENT 'enforce, or shadow when findings were only recorded',
      ${findingsNested},
      ${verdictsColumnsV4[0]?.column},
      packet_partition UInt16 COMMENT '${verdictsCommentsV4.packet_partition}',
      packet_offset UInt64,
      processing_latency_ms Float32 COMMENT '${verdictsCommentsV4.processing_latency_ms}',
      ${verdictsColumnsV4
        .slice(1)
        .map((c) => c.column)
        .join(',\n      ')},
      kafka_partition UInt16,
      kafka_offset UInt64,
      inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
      INDEX event_id_bf event_id TYPE bloom_filter(0.01) GRANULARITY 4
    ) ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMMDD(decided_at)
    ORDER BY (client_id, decided_at, kafka_partition, kafka_offset)
    ${ttl('decided_at')}
    ${tableSettings}`,
    `CREATE TABLE IF NOT EXISTS ${db}.deliveries (
      delivered_at DateTime64(3, 'UTC') COMMENT 'origin PUBACK time',
      received_at DateTime64(3, 'UTC') COMMENT 'edge receipt time of the message',
      approved_at DateTime64(3, 'UTC'),
      client_id String,
      event_id String,
      topic String,
      qos UInt8,
      retain Bool,
      payload_size UInt32,
      bridge_id LowCardinality(String),
      end_to_end_ms Float32 COMMENT 'edge receipt to origin PUBACK',
      attempts UInt16,
      packet_partition UInt16,
      packet_offset UInt64,
      kafka_partition UInt16,
      kafka_offset UInt64,
      inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
      INDEX event_id_bf event_id TYPE bloom_filter(0.01) GRANULARITY 4
    ) ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMMDD(delivered_at)
    ORDER BY (client_id, delivered_at, kafka_partition, kafka_offset)
    ${ttl('delivered_at')}
    ${tableSettings}`,
    // A quarantined PUBLISH kept whole. The processors write it at least once: a replay is the same
    // held_id (same client, same edge receipt time) at a later offset, so the sorting key is the held
    // id and the partition the receipt day, and the two collapse at merge; read it with FINAL.
    // payload holds the bytes as received; the sink sends them as payload_base64 (JSON carries no bytes).
    `CREATE TABLE IF NOT EXISTS ${db}.held_messages (
      held_at DateTime64(3, 'UTC') COMMENT 'when the processors quarantined it',
      received_at DateTime64(3, 'UTC') COMMENT 'edge receipt time',
      held_id String COMMENT 'event id of the packet event and of its quarantine verdict; decisions name it',
      client_id String,
      username String,
      source_ip IPv6,
      proxy_id LowCardinality(String),
      topic String COMMENT 'PUBLISH topic name',
      payload_base64 String EPHEMERAL COMMENT 'what the sink sends: payload as base64, not stored',
      payload String DEFAULT base64Decode(payload_base64) COMMENT 'the payload bytes as received' CODEC(ZSTD(3)),
      payload_size UInt32 COMMENT 'payload bytes',
      qos UInt8,
      retain Bool,
      ${findingsNested},
      packet_partition UInt16 COMMENT 'where the packet event is in Kafka',
      packet_offset UInt64,
      kafka_partition UInt16,
      kafka_offset UInt64,
      inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
      INDEX held_at_mm held_at TYPE minmax GRANULARITY 1
    ) ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMMDD(received_at)
    ORDER BY (client_id, held_id)
    ${ttl('received_at')}
    ${tableSettings}`,
    // The operators' (and the expiry's) decisions on held messages: the audit trail. One per
    // decision_id; two decisions on one held message are both kept (evidence of a conflict).
    `CREATE TABLE IF NOT EXISTS ${db}.quarantine_decisions (
      decided_at DateTime64(3, 'UTC'),
      held_at DateTime64(3, 'UTC') COMMENT 'when the message was quarantined',
      decision_id String,
      held_id String COMMENT 'the held message decided on (held_messages.held_id)',
      client_id String,
      topic String COMMENT 'MQTT topic of the held message',
      action Enum8(${quarantineActions}),
      operator LowCardinality(String) COMMENT 'operator account; system for an expiry',
      reason String COMMENT 'why, as the operator wrote it',
      kafka_partition UInt16,
      kafka_offset UInt64,
      inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
      INDEX held_id_bf held_id TYPE bloom_filter(0.01) GRANULARITY 4
    ) ENGINE = ReplacingMergeTree(inserted_at)
    PARTITION BY toYYYYMMDD(decided_at)
    ORDER BY (client_id, held_id, decision_id)
    ${ttl('decided_at')}
    ${tableSettings}`,
    // Dashboards read per-minute counts instead of scanning verdicts. The view's blocks are
    // deduplicated at this table (its own window, the sink's token), so a replayed batch counts once.
    `CREATE TABLE IF NOT EXISTS ${db}.verdicts_per_minute (
      minute DateTime('UTC'),
      decision Enum8(${decisions}),
      packet_type LowCardinality(String),
      rule_id LowCardinality(String) COMMENT 'empty for verdicts without findings',
      verdicts UInt64 COMMENT 'verdicts (rule_id empty) or findings of the rule',
      latency_ms_sum Float64
    ) ENGINE = SummingMergeTree
    PARTITION BY toYYYYMM(minute)
    ORDER BY (minute, decision, packet_type, rule_id)
    TTL minute + INTERVAL ${forensicRetentionDays} DAY
    ${tableSettings}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.verdicts_per_minute_mv TO ${db}.verdicts_per_minute AS
    SELECT toStartOfMinute(decided_at) AS minute, decision, packet_type, rule_id,
      count() AS verdicts, sum(processing_latency_ms) AS latency_ms_sum
    FROM ${db}.verdicts
    ARRAY JOIN arrayConcat([''], findings.rule_id) AS rule_id
    GROUP BY minute, decision, packet_type, rule_id`,
    `CREATE TABLE IF NOT EXISTS ${db}.schema_version (
      version UInt32,
      applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = MergeTree ORDER BY version`,
  ];
}

/**
 * Version 1 created packets, verdicts and deliveries with fewer columns and no writer existed; an
 * empty version-1 table is replaced. A non-empty one is refused: the store is derived from Kafka,
 * so the operator drops it and lets the sink replay (the reason says so). Version 2 -> 3 adds
 * columns in place (older rows read them as empty). Version 3 -> 4 extends the decision enum of
 * verdicts and of its per-minute rollup (adding values only changes metadata; the rollup's target
 * first, so the view never meets a value its target lacks) and adds the review columns; the
 * quarantine tables are new and made by forensicDdl. Every step is idempotent: a migration
 * interrupted half-way runs again whole.
 */
async function migrate(client: ClickHouseClient, db: string): Promise<void> {
  const tables = await forensicTables(client, db);
  let version = 0;
  if (tables.includes('schema_version')) {
    const result = await client.query({
      query: `SELECT max(version) AS v FROM ${db}.schema_version`,
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ v: number | string }>();
    version = Number(row?.v ?? 0);
  }
  if (version >= forensicSchemaVersion) return;
  if (version >= 2) {
    if (version < 3) {
      for (const column of packetsColumnsV3)
        await client.command({ query: `ALTER TABLE ${db}.packets ADD COLUMN IF NOT EXISTS ${column}` });
    }
    if (version < 4) {
      for (const table of ['verdicts_per_minute', 'verdicts']) {
        if (!tables.includes(table)) continue;
        await client.command({
          query: `ALTER TABLE ${db}.${table} MODIFY COLUMN decision Enum8(${decisions})`,
        });
      }
      if (tables.includes('verdicts')) {
        for (const { column, after } of verdictsColumnsV4)
          await client.command({
            query: `ALTER TABLE ${db}.verdicts ADD COLUMN IF NOT EXISTS ${column} AFTER ${after}`,
          });
        for (const [column, comment] of Object.entries(verdictsCommentsV4))
          await client.command({ query: `ALTER TABLE ${db}.verdicts COMMENT COLUMN ${column} '${comment}'` });
      }
    }
    return;
  }
  for (const table of ['packets', 'verdicts', 'deliveries']) {
    if (!tables.includes(table)) continue;
    const result = await client.query({
      query: `SELECT count() AS n FROM ${db}.${table}`,
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ n: string }>();
    if (Number(row?.n ?? 0) > 0) {
      throw new SentinelError(
        'SNT_COMPONENT_START_FAILED',
        `${db}.${table} predates forensic schema ${forensicSchemaVersion} and holds rows; drop it (the sink replays Kafka's 72 hours) and run \`sentinel stack up\` again`,
      );
    }
    await client.command({ query: `DROP TABLE ${db}.${table}` });
  }
}

export async function applyForensicDdl(
  client: ClickHouseClient,
  database: string = forensicDatabase,
): Promise<void> {
  const db = requireIdentifier(database, 'database');
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await migrate(client, db);
  for (const query of forensicDdl(db)) await client.command({ query });
  const result = await client.query({
    query: `SELECT count() AS n FROM ${db}.schema_version WHERE version = {v:UInt32}`,
    query_params: { v: forensicSchemaVersion },
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ n: string }>();
  if (Number(row?.n ?? 0) === 0) {
    await client.insert({
      table: `${db}.schema_version`,
      values: [{ version: forensicSchemaVersion }],
      format: 'JSONEachRow',
    });
  }
}

export async function forensicTables(
  client: ClickHouseClient,
  database: string = forensicDatabase,
): Promise<string[]> {
  const result = await client.query({
    query: 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name',
    query_params: { db: database },
    format: 'JSONEachRow',
  });
  return (await result.json<{ name: string }>()).map((row) => row.name);
}
