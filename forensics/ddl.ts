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
 * highest offset the table already holds; see forensics/sink.ts.
 *
 * Access: ORDER BY starts with the device and the time, the way analysts filter; event ids and source
 * addresses have skip indexes for the lookups that do not start from a device.
 */
export const forensicDatabase = 'sentinel';

/** Raised when a change needs a migration step; the migrations below say what each one did. */
export const forensicSchemaVersion = 3;

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

export const decisions = "'allow' = 1, 'block' = 2, 'quarantine' = 3";

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
export const sinkTables = { packets: 'packets', verdicts: 'verdicts', deliveries: 'deliveries' } as const;
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
 * columns in place (older rows read them as empty).
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
  if (version === 2) {
    for (const column of packetsColumnsV3)
      await client.command({ query: `ALTER TABLE ${db}.packets ADD COLUMN IF NOT EXISTS ${column}` });
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
