import { PacketType } from './fixed-header.js';
import type { Frame } from './frame.js';
import { type Refusal, refuse } from './refusals.js';
import { findUtf8Fault } from './utf8.js';

/**
 * Byte-level checks of a complete client packet, run before mqtt-packet decodes it. They cover
 * what mqtt-packet (v9, parser.js) accepts or hides:
 * - it turns ill-formed UTF-8 into U+FFFD, so strings are checked here on the raw bytes;
 * - it ignores bytes after the last CONNECT field, after a PUBACK/PUBREC/PUBREL/PUBCOMP identifier
 *   and in a 3.1.1 DISCONNECT or PINGREQ body;
 * - it reads a too-short packet identifier as -1 instead of failing;
 * - it accepts protocol name "MQIsdp", levels 3 and 5 and the bridge bit (0x80) on the level, and
 *   refuses other levels with an error, where MQTT-3.1.2-2 requires CONNACK 0x01;
 * - it does not check Will QoS 3 or a password without a user name.
 */
export function checkLayout(frame: Frame, refuseControl: boolean): Refusal | undefined {
  switch (frame.type) {
    case PacketType.CONNECT:
      return checkConnectLayout(frame, refuseControl);
    case PacketType.PUBLISH:
      return checkPublishLayout(frame, refuseControl);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      // §3.4.1, §3.5.1, §3.6.1, §3.7.1: Remaining Length is exactly 2 (the packet identifier).
      return exactLength(frame, 2);
    case PacketType.SUBSCRIBE:
      return checkSubscribeLayout(frame, refuseControl);
    case PacketType.UNSUBSCRIBE:
      return checkUnsubscribeLayout(frame, refuseControl);
    case PacketType.PINGREQ:
    case PacketType.DISCONNECT:
      // §3.12.1, §3.14.1: no variable header, no payload.
      return exactLength(frame, 0);
    default:
      return undefined;
  }
}

function exactLength(frame: Frame, expected: number): Refusal | undefined {
  if (frame.remainingLength < expected) {
    return refuse(
      'SNT_MQTT_PACKET_TRUNCATED',
      `Remaining Length ${frame.remainingLength}, expected ${expected}`,
    );
  }
  if (frame.remainingLength > expected) {
    return refuse(
      'SNT_MQTT_PACKET_TRAILING_BYTES',
      `Remaining Length ${frame.remainingLength}, expected ${expected}`,
    );
  }
  return undefined;
}

const truncated = -1;

/** End offset of the length-prefixed field at `at` (§1.5.3: 2-byte big-endian length, then data). */
function fieldEnd(bytes: Buffer, at: number, end: number): number {
  if (at + 2 > end) return truncated;
  const stop = at + 2 + ((bytes[at]! << 8) | bytes[at + 1]!);
  return stop > end ? truncated : stop;
}

function truncatedField(field: string): Refusal {
  return refuse('SNT_MQTT_PACKET_TRUNCATED', `${field} runs past the end of the packet`);
}

function stringFault(
  bytes: Buffer,
  start: number,
  stop: number,
  field: string,
  refuseControl: boolean,
): Refusal | undefined {
  const fault = findUtf8Fault(bytes, start, stop, refuseControl);
  switch (fault) {
    case undefined:
      return undefined;
    case 'ill-formed':
      return refuse('SNT_MQTT_UTF8_ILL_FORMED', `${field} is not well-formed UTF-8`);
    case 'surrogate':
      return refuse('SNT_MQTT_UTF8_SURROGATE', `${field} encodes a surrogate code point`);
    case 'null':
      return refuse('SNT_MQTT_UTF8_NULL', `${field} contains U+0000`);
    case 'control':
      return refuse('SNT_MQTT_UTF8_CONTROL', `${field} contains a control character`);
  }
}

/** A UTF-8 string field at `at`; returns its end offset or a refusal. */
function readString(
  bytes: Buffer,
  at: number,
  end: number,
  field: string,
  refuseControl: boolean,
): number | Refusal {
  const stop = fieldEnd(bytes, at, end);
  if (stop === truncated) return truncatedField(field);
  return stringFault(bytes, at + 2, stop, field, refuseControl) ?? stop;
}

const mqttName = Buffer.from('MQTT');
const mqisdpName = Buffer.from('MQIsdp');

/**
 * CONNECT (§3.1):
 *   variable header  00 04 'M' 'Q' 'T' 'T' | level (4) | connect flags | keep alive (2)
 *   connect flags    7 user name | 6 password | 5 will retain | 4-3 will QoS | 2 will | 1 clean | 0 reserved
 *   payload          client id, [will topic, will message], [user name], [password], each length-prefixed
 */
function checkConnectLayout(frame: Frame, refuseControl: boolean): Refusal | undefined {
  const bytes = frame.bytes;
  const end = bytes.length;
  let at = frame.headerLength;

  const nameEnd = fieldEnd(bytes, at, end);
  if (nameEnd === truncated) return truncatedField('protocol name');
  const name = bytes.subarray(at + 2, nameEnd);
  at = nameEnd;
  if (at >= end) return truncatedField('protocol level');
  const level = bytes[at]!;
  if (!name.equals(mqttName)) {
    if (name.equals(mqisdpName)) {
      // MQTT-3.1.2-1 lets a server go on under another specification; as an MQTT 3.1 server we
      // answer that the level is unacceptable (3.1 CONNACK 0x01) rather than drop silently.
      return refuse(
        'SNT_MQTT_PROTOCOL_LEVEL',
        `protocol "MQIsdp" level ${level} (MQTT 3.1) is not supported`,
      );
    }
    // MQTT-3.1.2-1: the server may disconnect on any other name.
    return refuse('SNT_MQTT_PROTOCOL_NAME', `protocol name is not "MQTT" (${name.length} bytes)`);
  }
  // MQTT-3.1.2-2: any level but 4 gets CONNACK 0x01; this includes the 0x80 bridge bit (0x84).
  if (level !== 4) {
    const what = level === 5 ? 'MQTT 5' : `level ${level}`;
    return refuse('SNT_MQTT_PROTOCOL_LEVEL', `protocol ${what} is not supported, only 3.1.1 (level 4)`);
  }
  at += 1;
  if (at >= end) return truncatedField('connect flags');
  const flags = bytes[at]!;
  at += 1;
  const hasUserName = (flags & 0x80) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const willRetain = (flags & 0x20) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const hasWill = (flags & 0x04) !== 0;
  // MQTT-3.1.2-3: the reserved flag must be 0.
  if ((flags & 0x01) !== 0) return refuse('SNT_MQTT_CONNECT_RESERVED_FLAG', 'connect flags bit 0 is set');
  if (!hasWill) {
    // MQTT-3.1.2-13 / MQTT-3.1.2-15: without a will, its QoS and retain must be 0.
    if (willQos !== 0) return refuse('SNT_MQTT_WILL_QOS_WITHOUT_WILL', `Will QoS ${willQos} without a will`);
    if (willRetain) return refuse('SNT_MQTT_WILL_RETAIN_WITHOUT_WILL', 'Will Retain set without a will');
  } else if (willQos === 3) {
    // MQTT-3.1.2-14
    return refuse('SNT_MQTT_WILL_QOS_INVALID', 'Will QoS is 3');
  }
  // MQTT-3.1.2-22: a password needs a user name.
  if (hasPassword && !hasUserName) {
    return refuse('SNT_MQTT_PASSWORD_WITHOUT_USERNAME', 'Password Flag set without User Name Flag');
  }
  if (at + 2 > end) return truncatedField('keep alive');
  at += 2;

  const afterClientId = readString(bytes, at, end, 'client id', refuseControl);
  if (typeof afterClientId !== 'number') return afterClientId;
  at = afterClientId;
  if (hasWill) {
    // MQTT-3.1.3-10: the will topic is a UTF-8 string; the will message is binary.
    const afterWillTopic = readString(bytes, at, end, 'will topic', refuseControl);
    if (typeof afterWillTopic !== 'number') return afterWillTopic;
    const afterWillMessage = fieldEnd(bytes, afterWillTopic, end);
    if (afterWillMessage === truncated) return truncatedField('will message');
    at = afterWillMessage;
  }
  if (hasUserName) {
    // MQTT-3.1.3-11: the user name is a UTF-8 string.
    const afterUserName = readString(bytes, at, end, 'user name', refuseControl);
    if (typeof afterUserName !== 'number') return afterUserName;
    at = afterUserName;
  }
  if (hasPassword) {
    const afterPassword = fieldEnd(bytes, at, end);
    if (afterPassword === truncated) return truncatedField('password');
    at = afterPassword;
  }
  // Fields present while their flag is off show up as bytes after the last announced field.
  if (at !== end) {
    return refuse('SNT_MQTT_PACKET_TRAILING_BYTES', `${end - at} bytes after the last CONNECT field`);
  }
  return undefined;
}

/** PUBLISH (§3.3): topic name (length-prefixed UTF-8), packet identifier if QoS > 0, payload. */
function checkPublishLayout(frame: Frame, refuseControl: boolean): Refusal | undefined {
  const bytes = frame.bytes;
  const end = bytes.length;
  const afterTopic = readString(bytes, frame.headerLength, end, 'topic name', refuseControl);
  if (typeof afterTopic !== 'number') return afterTopic;
  if ((frame.flags & 0x06) !== 0 && afterTopic + 2 > end) return truncatedField('packet identifier');
  return undefined;
}

/** SUBSCRIBE (§3.8): packet identifier, then pairs of topic filter and requested-QoS byte. */
function checkSubscribeLayout(frame: Frame, refuseControl: boolean): Refusal | undefined {
  const bytes = frame.bytes;
  const end = bytes.length;
  let at = frame.headerLength + 2;
  if (at > end) return truncatedField('packet identifier');
  while (at < end) {
    const afterFilter = readString(bytes, at, end, 'topic filter', refuseControl);
    if (typeof afterFilter !== 'number') return afterFilter;
    if (afterFilter >= end) return truncatedField('requested QoS');
    const requested = bytes[afterFilter]!;
    // MQTT-3-8.3-4: bits 7-2 are reserved and QoS 3 is not a QoS.
    if ((requested & 0xfc) !== 0 || requested === 3) {
      return refuse(
        'SNT_MQTT_SUBSCRIBE_QOS_RESERVED',
        `requested QoS byte 0x${requested.toString(16).padStart(2, '0')}`,
      );
    }
    at = afterFilter + 1;
  }
  return undefined;
}

/** UNSUBSCRIBE (§3.10): packet identifier, then topic filters. */
function checkUnsubscribeLayout(frame: Frame, refuseControl: boolean): Refusal | undefined {
  const bytes = frame.bytes;
  const end = bytes.length;
  let at = frame.headerLength + 2;
  if (at > end) return truncatedField('packet identifier');
  while (at < end) {
    const afterFilter = readString(bytes, at, end, 'topic filter', refuseControl);
    if (typeof afterFilter !== 'number') return afterFilter;
    at = afterFilter;
  }
  return undefined;
}
