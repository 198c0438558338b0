import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { samplePacketEvent } from '../test/fixtures/events.js';
import { ipv6Text, packetRow, payloadText, utcText } from './rows.js';

describe('Kafka records as forensic rows', () => {
  it('writes times as UTC text with milliseconds and addresses as IPv6', () => {
    assert.equal(utcText(1_795_000_000_123), '2026-11-18 11:06:40.123');
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
    const row = packetRow(samplePacketEvent, { partition: 2, offset: '41' });
    assert.equal(row.kafka_partition, 2);
    assert.equal(row.kafka_offset, '41');
    assert.equal(row.payload_size, samplePacketEvent.payload?.length);
  });
});
