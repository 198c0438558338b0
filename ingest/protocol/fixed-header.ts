import { type Refusal, refuse } from './refusals.js';

/** MQTT 3.1.1 Table 2.1 control packet types. 0 and 15 are reserved. */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

const typeNames = [
  'reserved(0)',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'reserved(15)',
] as const;

export function packetTypeName(type: number): string {
  return typeNames[type & 0x0f] ?? 'unknown';
}

function checkFirstByte(byte: number): Refusal | undefined {
  const type = byte >> 4;
  const flags = byte & 0x0f;
  const name = packetTypeName(type);
  if (type === 0 || type === 15) {
    return refuse('SNT_MQTT_RESERVED_PACKET_TYPE', `packet type ${type} is reserved in MQTT 3.1.1`);
  }
  if (
    type === PacketType.CONNACK ||
    type === PacketType.SUBACK ||
    type === PacketType.UNSUBACK ||
    type === PacketType.PINGRESP
  ) {
    return refuse('SNT_MQTT_SERVER_ONLY_PACKET', `${name} travels only from server to client`);
  }
  if (type === PacketType.PUBLISH) {
    // byte 0 of PUBLISH: 0011 DUP QoS(2) RETAIN
    const qos = (flags >> 1) & 0x03;
    // MQTT-3.3.1-4: a PUBLISH with both QoS bits set is malformed.
    if (qos === 3) return refuse('SNT_MQTT_PUBLISH_QOS_INVALID', 'PUBLISH QoS bits are 11');
    // MQTT-3.3.1-2: DUP must be 0 on every QoS 0 PUBLISH.
    if (qos === 0 && (flags & 0x08) !== 0) {
      return refuse('SNT_MQTT_PUBLISH_DUP_QOS0', 'PUBLISH has DUP set with QoS 0');
    }
    return undefined;
  }
  // MQTT-2.2.2-1/2 (Table 2.2): PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0010, every other type 0000.
  const required =
    type === PacketType.PUBREL || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE
      ? 0x2
      : 0x0;
  if (flags !== required) {
    return refuse(
      'SNT_MQTT_FIXED_HEADER_FLAGS',
      `${name} flags are 0b${flags.toString(2).padStart(4, '0')}, Table 2.2 requires 0b${required.toString(2).padStart(4, '0')}`,
    );
  }
  return undefined;
}

/** Refusal for each of the 256 possible first bytes, computed once: the check is on every packet. */
const firstByteRefusals: ReadonlyArray<Refusal | undefined> = Array.from({ length: 256 }, (_, byte) =>
  checkFirstByte(byte),
);

/** Rules decided by byte 0 alone (type and flags), for a packet sent by a client. */
export function checkFixedHeaderByte(byte: number): Refusal | undefined {
  return firstByteRefusals[byte & 0xff];
}
