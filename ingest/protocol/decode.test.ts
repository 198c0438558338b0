import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { connectBytes } from '../../test/helpers/raw-mqtt.js';
import { PacketDecoder } from './decode.js';
import { type Frame, FrameReader } from './frame.js';

/** The frame a connection's reader yields for it (other packets come after a CONNECT, as they must). */
const frameOf = (packet: mqttPacket.Packet | Buffer): Frame => {
  const reader = new FrameReader({ maxPacketBytes: 4096 });
  const bytes = Buffer.isBuffer(packet) ? packet : mqttPacket.generate(packet);
  const before = Buffer.isBuffer(packet) ? [] : [connectBytes('x', 'secret of x')];
  const { frames, refusal } = reader.push(Buffer.concat([...before, bytes]));
  assert.equal(refusal, undefined);
  assert.equal(frames.length, before.length + 1);
  return frames.at(-1)!;
};

describe('PacketDecoder', () => {
  it('decodes the frames of several connections interleaved, each whole', () => {
    const decoder = new PacketDecoder();
    const frames = [
      frameOf(connectBytes('a', 'secret of a')),
      frameOf(connectBytes('b', 'secret of b')),
      frameOf({
        cmd: 'publish',
        topic: 'devices/a/t',
        payload: Buffer.from('1'),
        qos: 1,
        messageId: 7,
        retain: false,
        dup: false,
      }),
      frameOf({ cmd: 'pingreq' }),
      frameOf({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: 'devices/b/#', qos: 1 }] }),
    ];
    const decoded = frames.map((frame) => decoder.decode(frame));
    assert.deepEqual(
      decoded.map((result) => ('packet' in result ? result.packet.cmd : result.refusal.code)),
      ['connect', 'connect', 'publish', 'pingreq', 'subscribe'],
    );
    const second = decoded[1];
    assert.ok(second && 'packet' in second && second.packet.cmd === 'connect');
    assert.equal(second.packet.clientId, 'b');
    assert.equal(second.packet.password?.toString(), 'secret of b');
    const publish = decoded[2];
    assert.ok(publish && 'packet' in publish && publish.packet.cmd === 'publish');
    assert.equal(publish.packet.messageId, 7);
    assert.equal(publish.packet.payload.toString(), '1');
  });

  it('leaves nothing of a frame it cannot decode for the next connection', () => {
    const decoder = new PacketDecoder();
    // PUBLISH whose topic claims 5 bytes of a 2-byte body: mqtt-packet gives up part way.
    const broken: Frame = {
      type: 3,
      flags: 0,
      headerLength: 2,
      remainingLength: 2,
      bytes: Buffer.from('30020005', 'hex'),
    };
    const refused = decoder.decode(broken);
    assert.ok('refusal' in refused);
    assert.equal(refused.refusal.code, 'SNT_MQTT_DECODE_FAILED');
    const next = decoder.decode(frameOf({ cmd: 'pingreq' }));
    assert.ok('packet' in next, 'the next frame decodes as if the broken one never came');
    assert.equal(next.packet.cmd, 'pingreq');
    const connect = decoder.decode(frameOf(connectBytes('c', 'secret of c')));
    assert.ok('packet' in connect && connect.packet.cmd === 'connect');
    assert.equal(connect.packet.clientId, 'c');
  });
});
