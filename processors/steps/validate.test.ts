import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PacketEvent } from '../model.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { packetEvent } from '../test-events.js';
import { createValidateStep } from './validate.js';

const step = createValidateStep({ policy: DEFAULT_POLICY });
const ctx = {
  packetRef: { topic: 't', partition: 0, offset: '0' },
  now: () => 0,
  findings: [],
  emitVerdict: () => {},
  emitApproved: () => {},
};
const ruleIds = (event: PacketEvent) =>
  step.process(event, { device: undefined, source: undefined }, ctx).map((f) => f.ruleId);

const cases: Array<[string, Partial<PacketEvent>, string[]]> = [
  ['a JSON telemetry PUBLISH in its own namespace', {}, []],
  [
    'a malformed packet',
    { packetType: 'MALFORMED', malformedReason: 'MQTT-3.3.1-4: QoS 3', topic: null },
    ['VAL-MALFORMED'],
  ],
  [
    'a denied CONNECT',
    { packetType: 'CONNECT', authResult: 'denied', topic: null, payload: null },
    ['VAL-AUTH-DENIED'],
  ],
  [
    'a CONNECT the edge could not decide',
    { packetType: 'CONNECT', authResult: 'error', topic: null, payload: null },
    ['VAL-AUTH-ERROR'],
  ],
  [
    'a client id that would widen an ACL template',
    { packetType: 'CONNECT', clientId: 'a/+', authResult: 'allowed', topic: null, payload: null },
    ['VAL-CLIENTID-CHARS'],
  ],
  ['a PUBLISH into another device namespace', { topic: 'devices/d2/telemetry' }, ['VAL-PUBLISH-BINDING']],
  ['a PUBLISH to a $SYS topic', { topic: '$SYS/broker/load' }, ['VAL-TOPIC-NAME', 'VAL-PUBLISH-BINDING']],
  ['a topic with an empty level', { topic: 'devices/d1//telemetry' }, ['VAL-TOPIC-NAME']],
  ['a topic with characters outside the policy', { topic: 'devices/d1/tele metry' }, ['VAL-TOPIC-NAME']],
  ['a topic deeper than the policy allows', { topic: 'devices/d1/a/b/c/d/e/f/g' }, ['VAL-TOPIC-NAME']],
  ['non-JSON on a JSON-only topic', { payload: Buffer.from('temp=21') }, ['VAL-PAYLOAD-FORMAT']],
  ['binary on a JSON-only topic', { payload: Buffer.from([0xff, 0xfe, 0x00]) }, ['VAL-PAYLOAD-FORMAT']],
  ['text on a status topic', { topic: 'devices/d1/status', payload: Buffer.from('online') }, []],
  [
    'a payload over the topic limit',
    { payload: Buffer.from(JSON.stringify({ blob: 'x'.repeat(9000) })) },
    ['VAL-PAYLOAD-SIZE'],
  ],
  [
    'binary firmware on the firmware topic',
    { topic: 'devices/d1/firmware/chunk/1', payload: Buffer.from([0, 1, 2, 255]) },
    [],
  ],
  [
    'a SUBSCRIBE to its own alerts',
    {
      packetType: 'SUBSCRIBE',
      topic: null,
      payload: null,
      subscriptions: [{ topic: 'clients/d1/alerts', qos: 1 }],
    },
    [],
  ],
  [
    'a SUBSCRIBE to everything',
    { packetType: 'SUBSCRIBE', topic: null, payload: null, subscriptions: [{ topic: '#', qos: 0 }] },
    ['VAL-SUBSCRIBE-BINDING'],
  ],
  [
    'a SUBSCRIBE across devices with +',
    {
      packetType: 'SUBSCRIBE',
      topic: null,
      payload: null,
      subscriptions: [{ topic: 'clients/+/alerts', qos: 0 }],
    },
    ['VAL-SUBSCRIBE-BINDING'],
  ],
  ['a PINGREQ', { packetType: 'PINGREQ', topic: null, payload: null }, []],
];

for (const [name, overrides, expected] of cases) {
  test(`validate: ${name} -> ${expected.join(', ') || 'no finding'}`, () => {
    assert.deepEqual(ruleIds(packetEvent(overrides)), expected);
  });
}

test('a finding carries class, stage, severity, action, bounded evidence and location', () => {
  const [finding] = step
    .process(
      packetEvent({ topic: 'devices/d2/x'.padEnd(300, 'y') }),
      { device: undefined, source: undefined },
      ctx,
    )
    .filter((f) => f.ruleId === 'VAL-PUBLISH-BINDING');
  assert.ok(finding);
  assert.equal(finding.class, 'topic-binding');
  assert.equal(finding.stage, 'validate');
  assert.equal(finding.action, 'block');
  assert.equal(finding.location, 'topic');
  assert.ok(finding.evidence.length <= 120);
});

test('a UTF-8 byte order mark before JSON is still JSON on a JSON topic', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  assert.deepEqual(ruleIds(packetEvent({ payload: Buffer.concat([bom, Buffer.from('{"t":21.5}')]) })), []);
});
