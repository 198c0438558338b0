import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { InboundPacketReader } from './inbound.js';
import { defaultProtocolPolicy } from './policy.js';
import { refusalCatalog } from './refusals.js';

const maxPacketBytes = 512;
const policy = { ...defaultProtocolPolicy, maxPacketBytes };

const validStream = Buffer.concat([
  mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId: 'dev1',
    clean: true,
    keepalive: 60,
    username: 'u',
    password: Buffer.from('p'),
  }),
  mqttPacket.generate({
    cmd: 'publish',
    topic: 'a/b',
    payload: Buffer.alloc(100, 7),
    qos: 1,
    dup: false,
    retain: false,
    messageId: 1,
  }),
  mqttPacket.generate({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a/+/#', qos: 1 }] }),
  mqttPacket.generate({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['a/+/#'] }),
  mqttPacket.generate({ cmd: 'pubrel', messageId: 4 }),
  mqttPacket.generate({ cmd: 'pingreq' }),
  mqttPacket.generate({ cmd: 'disconnect' }),
]);

/** Splits bytes at the given cut points, feeds them in order, checking the invariants at each step. */
function feed(bytes: Buffer, cuts: number[]): void {
  const reader = new InboundPacketReader(policy);
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  let previous = 0;
  for (const point of [...points, bytes.length]) {
    const result = reader.push(bytes.subarray(previous, point));
    previous = point;
    assert.ok(reader.bufferedBytes <= maxPacketBytes, `buffered ${reader.bufferedBytes}`);
    for (const { frame } of result.packets) assert.ok(frame.bytes.length <= maxPacketBytes);
    if (result.refusal !== undefined) {
      assert.ok(result.refusal.code in refusalCatalog);
      assert.equal(reader.bufferedBytes, 0);
      return;
    }
  }
}

describe('inbound reader under random and mutated input', () => {
  it('never throws and never buffers past the limit on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        feed(Buffer.from(bytes), cuts);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on random bytes after a valid CONNECT', () => {
    const connect = validStream.subarray(0, validStream[1]! + 2);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        feed(Buffer.concat([connect, Buffer.from(bytes)]), cuts);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on mutations of a valid client stream', () => {
    const mutation = fc.record({
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
      kind: fc.constantFrom('set', 'insert', 'delete'),
    });
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (mutations, cuts) => {
          const bytes = [...validStream];
          for (const { at, value, kind } of mutations) {
            const index = at % (bytes.length + 1);
            if (kind === 'set' && index < bytes.length) bytes[index] = value;
            else if (kind === 'insert') bytes.splice(index, 0, value);
            else if (kind === 'delete') bytes.splice(index, 1);
          }
          feed(Buffer.from(bytes), cuts);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('decodes the unmutated stream completely at any split', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        const reader = new InboundPacketReader(policy);
        const points = [...new Set(cuts.map((cut) => cut % (validStream.length + 1)))].sort((a, b) => a - b);
        let previous = 0;
        let count = 0;
        for (const point of [...points, validStream.length]) {
          const result = reader.push(validStream.subarray(previous, point));
          previous = point;
          assert.equal(result.refusal, undefined);
          count += result.packets.length;
        }
        assert.equal(count, 7);
      }),
      { numRuns: 500 },
    );
  });
});
