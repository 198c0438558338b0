import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { avroTypeOf } from '../schemas/catalog.js';
import type { Delivery, HeldMessage, QuarantineDecision, Verdict } from '../schemas/types.generated.js';
import { samplePacketEvent } from '../test/fixtures/events.js';
import { decisions, forensicDdl, quarantineActions, sinkTables } from './ddl.js';
import {
  decisionRow,
  deliveryRow,
  heldMessageRow,
  ipv6Text,
  packetRow,
  payloadText,
  type Row,
  sinkColumns,
  utcText,
  verdictRow,
} from './rows.js';

const verdict: Verdict = {
  eventId: 'e-1',
  clientId: 'sensor-0001',
  packetType: 'PUBLISH',
  sourceIp: '10.0.0.1',
  proxyId: 'edge-a',
  topic: 'devices/sensor-0001/telemetry',
  decision: 'block',
  mode: 'enforce',
  findings: [
    {
      ruleId: 'cmdi-rm',
      class: 'cmdi',
      stage: 'patterns',
      severity: 'high',
      action: 'block',
      evidence: 'rm -rf /',
      location: 'payload',
      shadow: false,
    },
  ],
  packetRef: { topic: 'sentinel.packets', partition: 4, offset: 1234 },
  receivedAt: 1_795_000_000_123,
  decidedAt: 1_795_000_000_126,
  processingLatencyMs: 3,
  review: null,
};

const delivery: Delivery = {
  eventId: 'e-1',
  clientId: 'sensor-0001',
  topic: 'devices/sensor-0001/telemetry',
  qos: 1,
  retain: false,
  payloadSize: 10,
  bridgeId: 'bridge-1',
  receivedAt: 1_795_000_000_123,
  approvedAt: 1_795_000_000_127,
  deliveredAt: 1_795_000_000_140,
  endToEndMs: 17,
  packetRef: { topic: 'sentinel.packets', partition: 4, offset: 1234 },
  attempts: 1,
};

const held: HeldMessage = {
  heldId: 'e-9',
  clientId: 'sensor-0001',
  username: null,
  sourceIp: '10.0.0.1',
  proxyId: 'edge-a',
  topic: 'devices/sensor-0001/cmd',
  payload: Buffer.from([0xff, 0x00, 0x41]),
  qos: 1,
  retain: true,
  findings: [
    {
      ruleId: 'rate-burst',
      class: 'anomaly',
      stage: 'rate',
      severity: 'medium',
      action: 'quarantine',
      evidence: '150 in 150 ms',
      location: 'client',
      shadow: false,
    },
  ],
  packetRef: { topic: 'sentinel.packets', partition: 3, offset: 88 },
  receivedAt: 1_795_000_000_123,
  heldAt: 1_795_000_000_130,
};

const decision: QuarantineDecision = {
  decisionId: 'd-1',
  heldId: 'e-9',
  clientId: 'sensor-0001',
  topic: 'devices/sensor-0001/cmd',
  action: 'release',
  operator: 'alice',
  reason: 'firmware update, expected',
  heldAt: 1_795_000_000_130,
  decidedAt: 1_795_000_060_000,
};

/** The symbols of an Avro enum field of a topic's record. */
function enumSymbols(role: 'verdicts' | 'decisions', field: string): string[] {
  const schema = avroTypeOf[role].schema() as { fields: { name: string; type: { symbols: string[] } }[] };
  return schema.fields.find((f) => f.name === field)?.type.symbols ?? [];
}

/** A positional row read back by its table's column names. */
function named(columns: readonly string[], row: Row): Record<string, unknown> {
  assert.equal(row.length, columns.length, 'one value per column');
  return Object.fromEntries(columns.map((column, i) => [column, row[i]]));
}

describe('Kafka records as forensic rows', () => {
  it('writes times as UTC text with milliseconds and addresses as IPv6', () => {
    assert.equal(utcText(1_795_000_000_123), '2026-11-18 11:06:40.123');
    // Leap days, century rules, year ends and the first and last instants, then any instant: as Date says.
    const edges = [
      0, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 1_704_067_199_999, 253_402_300_799_999,
    ];
    const random = Array.from({ length: 20_000 }, () => Math.floor(Math.random() * 253_402_300_800_000));
    for (const ms of [...edges, ...random]) {
      assert.equal(utcText(ms), new Date(ms).toISOString().replace('T', ' ').replace('Z', ''), String(ms));
    }
    assert.equal(ipv6Text('10.0.0.1'), '::ffff:10.0.0.1');
    assert.equal(ipv6Text('2001:db8::1'), '2001:db8::1');
    assert.equal(ipv6Text('not an address'), '::');
  });

  it('keeps UTF-8 payloads searchable and flags binary ones as base64', () => {
    assert.deepEqual(payloadText(Buffer.from('{"t":1}')), { text: '{"t":1}', binary: false });
    assert.deepEqual(payloadText(Buffer.from([0xff, 0x00])), { text: '/wA=', binary: true });
    assert.deepEqual(payloadText(null), { text: '', binary: false });
  });

  it('carries the Kafka coordinates that make a replayed record the same row', () => {
    const row = named(sinkColumns.packets, packetRow(samplePacketEvent, { partition: 2, offset: 41 }));
    assert.equal(row.kafka_partition, 2);
    assert.equal(row.kafka_offset, 41);
    assert.equal(row.payload_size, samplePacketEvent.payload?.length);
    assert.equal(row.received_at, '2026-11-18 11:06:40.123');
    assert.equal(row.source_ip, '::ffff:127.0.0.1');
    assert.equal(row.payload, '{"t":21.5}');
    assert.deepEqual(row['subscriptions.topic'], []);
  });

  it('keeps a verdict’s findings as parallel arrays and its packet reference', () => {
    const row = named(sinkColumns.verdicts, verdictRow(verdict, { partition: 1, offset: 7 }));
    assert.equal(row.decided_at, '2026-11-18 11:06:40.126');
    assert.equal(row.decision, 'block');
    assert.deepEqual(row['findings.rule_id'], ['cmdi-rm']);
    assert.deepEqual(row['findings.shadow'], [false]);
    assert.deepEqual([row.packet_partition, row.packet_offset], [4, 1234]);
    assert.deepEqual([row.kafka_partition, row.kafka_offset], [1, 7]);
  });

  it('keeps the source topic and the review of a verdict an operator decided', () => {
    const plain = named(sinkColumns.verdicts, verdictRow(verdict, { partition: 1, offset: 7 }));
    assert.deepEqual(
      [plain.packet_topic, plain.review_decision_id, plain.review_operator, plain.review_reason],
      ['sentinel.packets', '', '', ''],
    );
    const reviewed: Verdict = {
      ...verdict,
      decision: 'released',
      packetRef: { topic: 'sentinel.quarantine.decisions', partition: 2, offset: 5 },
      review: { decisionId: 'd-1', operator: 'alice', reason: 'expected' },
    };
    const row = named(sinkColumns.verdicts, verdictRow(reviewed, { partition: 1, offset: 8 }));
    assert.equal(row.decision, 'released');
    assert.deepEqual(
      [row.packet_topic, row.packet_partition, row.packet_offset],
      ['sentinel.quarantine.decisions', 2, 5],
    );
    assert.deepEqual(
      [row.review_decision_id, row.review_operator, row.review_reason],
      ['d-1', 'alice', 'expected'],
    );
  });

  it('keeps a held message whole: its payload bytes (as base64 for the insert), findings and packet', () => {
    const row = named(sinkColumns.quarantine, heldMessageRow(held, { partition: 5, offset: 12 }));
    assert.equal(row.held_at, '2026-11-18 11:06:40.130');
    assert.equal(row.received_at, '2026-11-18 11:06:40.123');
    assert.equal(row.held_id, 'e-9');
    assert.equal(row.username, '');
    assert.equal(row.source_ip, '::ffff:10.0.0.1');
    assert.deepEqual(Buffer.from(row.payload_base64 as string, 'base64'), held.payload);
    assert.equal(row.payload_size, 3);
    assert.equal(row.retain, true);
    assert.deepEqual(row['findings.rule_id'], ['rate-burst']);
    assert.deepEqual(row['findings.action'], ['quarantine']);
    assert.deepEqual([row.packet_partition, row.packet_offset], [3, 88]);
    assert.deepEqual([row.kafka_partition, row.kafka_offset], [5, 12]);
    const bare = named(
      sinkColumns.quarantine,
      heldMessageRow({ ...held, findings: [], payload: Buffer.alloc(0) }, { partition: 0, offset: 0 }),
    );
    assert.deepEqual(bare['findings.shadow'], []);
    assert.equal(bare.payload_base64, '');
  });

  it('writes a quarantine decision with who, what and why', () => {
    const row = named(sinkColumns.decisions, decisionRow(decision, { partition: 2, offset: 5 }));
    assert.equal(row.decided_at, '2026-11-18 11:07:40.000');
    assert.equal(row.held_at, '2026-11-18 11:06:40.130');
    assert.deepEqual(
      [row.decision_id, row.held_id, row.action, row.operator, row.reason],
      ['d-1', 'e-9', 'release', 'alice', 'firmware update, expected'],
    );
    assert.deepEqual([row.kafka_partition, row.kafka_offset], [2, 5]);
  });

  it('has an enum value for every decision and quarantine action of the schemas', () => {
    for (const symbol of enumSymbols('verdicts', 'decision'))
      assert.match(decisions, new RegExp(`'${symbol}' = \\d`), symbol);
    for (const symbol of enumSymbols('decisions', 'action'))
      assert.match(quarantineActions, new RegExp(`'${symbol}' = \\d`), symbol);
    // The values stored before the review outcomes existed keep their numbers.
    assert.match(decisions, /^'allow' = 1, 'block' = 2, 'quarantine' = 3, /);
  });

  it('writes a delivery with its three times and packet reference', () => {
    const row = named(sinkColumns.deliveries, deliveryRow(delivery, { partition: 0, offset: 9 }));
    assert.equal(row.delivered_at, '2026-11-18 11:06:40.140');
    assert.equal(row.approved_at, '2026-11-18 11:06:40.127');
    assert.equal(row.end_to_end_ms, 17);
    assert.deepEqual([row.packet_partition, row.packet_offset], [4, 1234]);
  });

  it('names only columns its table has (a renamed column fails here, not at the first insert)', () => {
    const ddl = forensicDdl('sentinel');
    for (const [role, columns] of Object.entries(sinkColumns)) {
      const table = sinkTables[role as keyof typeof sinkTables];
      const statement = ddl.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS sentinel.${table} (`));
      assert.ok(statement, table);
      for (const column of columns) {
        const [name, nested] = column.split('.');
        const declared = nested
          ? new RegExp(`\\b${name} Nested\\([^]*?\\b${nested} `).test(statement)
          : new RegExp(`^\\s*${name} `, 'm').test(statement);
        assert.ok(declared, `${table}.${column}`);
      }
    }
  });
});
