import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Delivery, Verdict } from '../schemas/types.generated.js';
import { samplePacketEvent } from '../test/fixtures/events.js';
import { forensicDdl } from './ddl.js';
import {
  deliveryRow,
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

  it('writes a delivery with its three times and packet reference', () => {
    const row = named(sinkColumns.deliveries, deliveryRow(delivery, { partition: 0, offset: 9 }));
    assert.equal(row.delivered_at, '2026-11-18 11:06:40.140');
    assert.equal(row.approved_at, '2026-11-18 11:06:40.127');
    assert.equal(row.end_to_end_ms, 17);
    assert.deepEqual([row.packet_partition, row.packet_offset], [4, 1234]);
  });

  it('names only columns its table has (a renamed column fails here, not at the first insert)', () => {
    const ddl = forensicDdl('sentinel');
    for (const [table, columns] of Object.entries(sinkColumns)) {
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
