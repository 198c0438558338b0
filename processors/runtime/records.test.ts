import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { avroTypeOf } from '../../schemas/catalog.js';
import type { PacketEvent as PacketEventRecord } from '../../schemas/types.generated.js';
import { samplePacketEvent } from '../../test/fixtures/events.js';
import type { PacketRef } from '../model.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { sessionOpened } from '../test-events.js';
import { buildTopology } from '../topology.js';
import { MemoryRuntime } from './memory.js';
import {
  changelogKey,
  inspectionErrorVerdict,
  parseChangelogKey,
  RUNTIME_RULES,
  toApprovedRecord,
  toHeldRecord,
  toInspectedEvent,
  toVerdictRecord,
  undecodableVerdict,
} from './records.js';

const ref: PacketRef = { topic: 'sentinel.packets', partition: 3, offset: '1234567' };

function record(overrides: Partial<PacketEventRecord> = {}): PacketEventRecord {
  return { ...samplePacketEvent, ...overrides };
}

function verdictOf(event: PacketEventRecord, decidedAt: number) {
  const runtime = new MemoryRuntime({ steps: buildTopology({ policy: DEFAULT_POLICY }), startAt: decidedAt });
  runtime.pipe(sessionOpened(event.clientId));
  const output = runtime.pipe(toInspectedEvent(event));
  const [verdict] = output.verdicts;
  assert.ok(verdict, 'the chain emits one verdict');
  return { verdict: { ...verdict, packetRef: ref }, output };
}

describe('packet event record -> inspected event', () => {
  it('keeps every field the steps read, under the same names', () => {
    const event = toInspectedEvent(record());
    assert.deepEqual(event, {
      packetType: 'PUBLISH',
      clientId: 'sensor-0001',
      username: 'sensor-0001',
      sourceIp: '127.0.0.1',
      topic: 'devices/sensor-0001/telemetry',
      payload: Buffer.from('{"t":21.5}'),
      qos: 1,
      retain: false,
      receivedAt: 1_795_000_000_123,
      authResult: null,
      malformedReason: null,
      subscriptions: null,
      edgeAction: null,
      refusal: null,
      acl: null,
    });
  });

  const serverOnly = [
    { packetType: 'SUBACK', reason: 'unexpected packet type SUBACK from a client' },
    { packetType: 'UNSUBACK', reason: 'unexpected packet type UNSUBACK from a client' },
    { packetType: 'PINGRESP', reason: 'unexpected packet type PINGRESP from a client' },
    { packetType: 'UNKNOWN', reason: 'unexpected packet type UNKNOWN from a client' },
  ] as const;
  for (const row of serverOnly) {
    it(`judges a ${row.packetType} from a device as MALFORMED (MQTT-4.8.0-1)`, () => {
      const event = toInspectedEvent(record({ packetType: row.packetType }));
      assert.equal(event.packetType, 'MALFORMED');
      assert.equal(event.malformedReason, row.reason);
    });
  }

  it('keeps the edge reason of an UNKNOWN packet when it gave one', () => {
    const event = toInspectedEvent(record({ packetType: 'UNKNOWN', malformedReason: 'reserved_type_15' }));
    assert.equal(event.malformedReason, 'reserved_type_15');
  });
});

describe('verdict -> verdict record', () => {
  it('carries identity from the packet record and latency = decidedAt - receivedAt', () => {
    const source = record({ packetType: 'SUBACK' });
    const { verdict } = verdictOf(source, source.receivedAt + 42);
    const out = toVerdictRecord(verdict, source);
    assert.equal(out.eventId, source.eventId);
    assert.equal(out.packetType, 'SUBACK', 'the type the edge saw, not the type it was judged as');
    assert.equal(out.proxyId, 'edge-a');
    assert.equal(out.sourceIp, '127.0.0.1');
    assert.equal(out.topic, source.topic);
    assert.equal(out.decision, 'block');
    assert.deepEqual(out.packetRef, { topic: 'sentinel.packets', partition: 3, offset: 1_234_567 });
    assert.equal(out.receivedAt, source.receivedAt);
    assert.equal(out.decidedAt, source.receivedAt + 42);
    assert.equal(out.processingLatencyMs, 42);
    assert.ok(avroTypeOf.verdicts.isValid(out));
  });

  it('copies every finding field, shadow flag included', () => {
    const source = record({ payload: Buffer.from(JSON.stringify({ note: "x' OR '1'='1" })) });
    const { verdict } = verdictOf(source, source.receivedAt + 1);
    const out = toVerdictRecord(verdict, source);
    assert.ok(out.findings.length > 0);
    assert.deepEqual(
      out.findings,
      verdict.findings.map((f) => ({
        ruleId: f.ruleId,
        class: f.class,
        stage: f.stage,
        severity: f.severity,
        action: f.action,
        evidence: f.evidence,
        location: f.location,
        shadow: f.shadow,
      })),
    );
    const encoded = avroTypeOf.verdicts.toBuffer(out);
    assert.ok(avroTypeOf.verdicts.toBuffer(avroTypeOf.verdicts.fromBuffer(encoded)).equals(encoded));
  });
});

describe('approved PUBLISH -> approved record', () => {
  it('is what the bridge needs, with the packet reference', () => {
    const source = record();
    const { output } = verdictOf(source, source.receivedAt + 5);
    assert.equal(output.approved.length, 1);
    const out = toApprovedRecord(output.approved[0]!, source, ref, source.receivedAt + 5);
    assert.deepEqual(out, {
      eventId: source.eventId,
      clientId: 'sensor-0001',
      topic: 'devices/sensor-0001/telemetry',
      payload: Buffer.from('{"t":21.5}'),
      qos: 1,
      retain: false,
      sourceIp: '127.0.0.1',
      proxyId: 'edge-a',
      receivedAt: source.receivedAt,
      approvedAt: source.receivedAt + 5,
      packetRef: { topic: 'sentinel.packets', partition: 3, offset: 1_234_567 },
    });
    assert.ok(avroTypeOf.approved.isValid(out));
  });

  it('takes the message as the step emitted it, not as the packet record has it', () => {
    const source = record();
    const emitted = { ...toInspectedEvent(source), payload: Buffer.from('{"t":22}') };
    assert.deepEqual(toApprovedRecord(emitted, source, ref, 1).payload, Buffer.from('{"t":22}'));
  });

  const undeliverable: Array<[string, Partial<PacketEventRecord>]> = [
    ['refused by the edge', { refusal: 'acl_denied', edgeAction: 'acl_denied:acked_and_dropped' }],
    ['recorded without its payload', { payload: null }],
    ['not a PUBLISH', { packetType: 'SUBSCRIBE' }],
  ];
  for (const [why, overrides] of undeliverable) {
    it(`refuses an event ${why}`, () => {
      const source = record(overrides);
      assert.throws(
        () => toApprovedRecord(toInspectedEvent(source), source, ref, 1),
        /not a deliverable PUBLISH/,
      );
    });
  }
});

describe('runtime verdicts', () => {
  it('an undecodable record is blocked, with an event id from its log position', () => {
    const out = undecodableVerdict({
      clientId: 'd1',
      packetRef: ref,
      receivedAt: 10,
      decidedAt: 15,
      reason: 'bad',
    });
    assert.equal(out.eventId, 'undecodable:sentinel.packets/3/1234567');
    assert.equal(out.decision, 'block');
    assert.equal(out.findings[0]?.ruleId, RUNTIME_RULES.undecodable);
    assert.equal(out.processingLatencyMs, 5);
    assert.ok(avroTypeOf.verdicts.isValid(out));
  });

  it('an event a step threw on is quarantined', () => {
    const out = inspectionErrorVerdict(record(), ref, samplePacketEvent.receivedAt + 1, 'boom');
    assert.equal(out.decision, 'quarantine');
    assert.equal(out.eventId, samplePacketEvent.eventId);
    assert.equal(out.findings[0]?.ruleId, RUNTIME_RULES.inspectionError);
    assert.ok(avroTypeOf.verdicts.isValid(out));
  });
});

describe('changelog keys', () => {
  const rows = [
    { store: 'anomaly.device', key: 'sensor-1' },
    { store: 'anomaly.device', key: 'plant/a/sensor-1' },
    { store: 'anomaly.source', key: '2001:db8::1' },
    { store: 'anomaly.device', key: '' },
  ];
  for (const row of rows) {
    it(`round-trips ${row.store} / ${JSON.stringify(row.key)}`, () => {
      assert.deepEqual(parseChangelogKey(changelogKey(row.store, row.key)), row);
    });
  }
  it('refuses a key without a store', () => {
    assert.equal(parseChangelogKey('no-slash'), null);
    assert.equal(parseChangelogKey('/key'), null);
  });
});

describe('quarantined PUBLISH -> held record', () => {
  const oversize = Buffer.from(JSON.stringify({ blob: 'x'.repeat(9000) }));

  it('keeps the message as the device sent it, with the findings that held it', () => {
    const source = record({ payload: oversize });
    const { verdict, output } = verdictOf(source, source.receivedAt + 5);
    assert.equal(verdict.decision, 'quarantine');
    assert.equal(output.approved.length, 0, 'nothing held is approved');
    const held = toHeldRecord(verdict, source, ref, source.receivedAt + 6);
    assert.ok(held);
    assert.equal(held.heldId, source.eventId);
    assert.deepEqual(held.payload, oversize);
    assert.equal(held.topic, 'devices/sensor-0001/telemetry');
    assert.equal(held.qos, 1);
    assert.equal(held.heldAt, source.receivedAt + 6);
    assert.deepEqual(held.packetRef, { topic: 'sentinel.packets', partition: 3, offset: 1_234_567 });
    assert.deepEqual(
      held.findings.map((f) => f.ruleId),
      verdict.findings.map((f) => f.ruleId),
    );
    assert.ok(held.findings.some((f) => f.action === 'quarantine'));
    assert.ok(avroTypeOf.quarantine.isValid(held));
  });

  it('holds nothing for an allowed or blocked event, or a refused packet', () => {
    const allowed = record();
    assert.equal(toHeldRecord(verdictOf(allowed, allowed.receivedAt).verdict, allowed, ref, 1), null);
    const refused = record({ payload: oversize, refusal: 'acl_denied' });
    const { verdict } = verdictOf(refused, refused.receivedAt);
    assert.notEqual(verdict.decision, 'allow');
    assert.equal(toHeldRecord({ ...verdict, decision: 'quarantine' }, refused, ref, 1), null);
  });
});
