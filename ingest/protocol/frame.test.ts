import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameReader } from './frame.js';

const connect = Buffer.from('101000044d5154540402003c0004646576 31'.replace(/\s/g, ''), 'hex');

describe('FrameReader', () => {
  it('yields a packet that arrives whole as a view into the chunk', () => {
    const reader = new FrameReader({ maxPacketBytes: 1024 });
    const { frames, refusal } = reader.push(connect);
    assert.equal(refusal, undefined);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.type, 1);
    assert.equal(frames[0]?.headerLength, 2);
    assert.equal(frames[0]?.remainingLength, 16);
    assert.equal(frames[0]?.bytes.buffer, connect.buffer);
  });

  it('reassembles a packet split at every possible point', () => {
    const stream = Buffer.concat([connect, Buffer.from('3005000161ffee', 'hex'), Buffer.from('c000', 'hex')]);
    for (let cut = 1; cut < stream.length; cut++) {
      const reader = new FrameReader({ maxPacketBytes: 1024 });
      const first = reader.push(stream.subarray(0, cut));
      const second = reader.push(stream.subarray(cut));
      const frames = [...first.frames, ...second.frames];
      assert.deepEqual(
        frames.map((frame) => frame.bytes.toString('hex')),
        [connect.toString('hex'), '3005000161ffee', 'c000'],
        `cut at ${cut}`,
      );
      assert.equal(reader.bufferedBytes, 0);
    }
  });

  it('decodes a 3-byte Remaining Length', () => {
    const body = Buffer.alloc(16_384 - 3);
    body.writeUInt16BE(1, 0);
    body[2] = 0x61;
    const publish = Buffer.concat([Buffer.from([0x30, 0x80, 0x80, 0x01]), body.subarray(0, 16_384 - 3)]);
    // 0x80 0x80 0x01 = 16,384
    const packet = Buffer.concat([publish, Buffer.alloc(3)]);
    const reader = new FrameReader({ maxPacketBytes: 20_000 });
    reader.push(connect);
    const { frames, refusal } = reader.push(packet);
    assert.equal(refusal, undefined);
    assert.equal(frames[0]?.remainingLength, 16_384);
    assert.equal(frames[0]?.headerLength, 4);
  });

  it('refuses an oversized packet from its header, holding none of its body', () => {
    const reader = new FrameReader({ maxPacketBytes: 1024 });
    reader.push(connect);
    const { refusal } = reader.push(Buffer.from([0x30, 0x81, 0x08]));
    assert.equal(refusal?.code, 'SNT_MQTT_PACKET_TOO_LARGE');
    assert.equal(reader.bufferedBytes, 0);
  });

  it('keeps only the bytes that arrived of a large declared packet', () => {
    const reader = new FrameReader({ maxPacketBytes: 256 * 1024 });
    reader.push(connect);
    reader.push(Buffer.from([0x30, 0x80, 0x80, 0x08, 0x00, 0x01, 0x61]));
    assert.equal(reader.bufferedBytes, 7);
  });

  it('accepts nothing more after a refusal', () => {
    const reader = new FrameReader({ maxPacketBytes: 1024 });
    assert.equal(reader.push(Buffer.from([0xc0, 0x00])).refusal?.code, 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT');
    const after = reader.push(connect);
    assert.deepEqual(after.frames, []);
    assert.equal(after.refusal?.code, 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT');
  });

  it('refuses a maximum below the smallest packet', () => {
    assert.throws(() => new FrameReader({ maxPacketBytes: 1 }), RangeError);
  });
});
