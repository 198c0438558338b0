import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { InboundPacketReader } from './inbound.js';
import { defaultProtocolPolicy, type ProtocolPolicy } from './policy.js';
import { type RefusalCode, refusalCatalog } from './refusals.js';

/** A valid first packet: CONNECT "MQTT" level 4, clean session, keep alive 60, client id "dev1". */
const connect = '10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 65 76 31';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function utf8Hex(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]).toString('hex');
}

/** Remaining Length for a body given as hex (lengths below 16,384 here). */
function lengthHex(bodyHex: string): string {
  const length = bodyHex.length / 2;
  if (length < 0x80) return length.toString(16).padStart(2, '0');
  return `${(0x80 | (length & 0x7f)).toString(16)}${(length >> 7).toString(16).padStart(2, '0')}`;
}

/** PUBLISH QoS 0 to a topic given as text, as hex. */
function publishHex(topic: string): string {
  const body = utf8Hex(topic);
  return `30 ${lengthHex(body)} ${body}`;
}

/** CONNECT with the given client id (clean session, keep alive 60), as hex. */
function connectWithClientIdHex(clientId: string): string {
  const body = `00044d5154540402003c${utf8Hex(clientId)}`;
  return `10 ${lengthHex(body)} ${body}`;
}

interface MalformedRow {
  readonly what: string;
  readonly bytes: string;
  readonly code: RefusalCode;
  readonly clause: string;
  readonly connack?: number;
  readonly policy?: Partial<ProtocolPolicy>;
}

// Rows marked with `${connect}` first send a valid CONNECT, so the rule under test is reached.
const rows: MalformedRow[] = [
  // Framing and fixed header
  { what: 'reserved type 0', bytes: '00 00', code: 'SNT_MQTT_RESERVED_PACKET_TYPE', clause: '§2.2.1' },
  { what: 'reserved type 15', bytes: 'f0 00', code: 'SNT_MQTT_RESERVED_PACKET_TYPE', clause: '§2.2.1' },
  {
    what: 'reserved type 15 after CONNECT',
    bytes: `${connect} f0 00`,
    code: 'SNT_MQTT_RESERVED_PACKET_TYPE',
    clause: '§2.2.1',
  },
  {
    what: 'CONNACK from a client (CVE-2021-28166)',
    bytes: `${connect} 20 02 00 00`,
    code: 'SNT_MQTT_SERVER_ONLY_PACKET',
    clause: '§2.2.1',
  },
  {
    what: 'SUBACK from a client',
    bytes: `${connect} 90 03 00 01 00`,
    code: 'SNT_MQTT_SERVER_ONLY_PACKET',
    clause: '§2.2.1',
  },
  {
    what: 'UNSUBACK from a client',
    bytes: `${connect} b0 02 00 01`,
    code: 'SNT_MQTT_SERVER_ONLY_PACKET',
    clause: '§2.2.1',
  },
  {
    what: 'PINGRESP from a client',
    bytes: `${connect} d0 00`,
    code: 'SNT_MQTT_SERVER_ONLY_PACKET',
    clause: '§2.2.1',
  },
  {
    what: 'CONNECT flags 0001',
    bytes: '11 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_FIXED_HEADER_FLAGS',
    clause: 'MQTT-2.2.2-2',
  },
  {
    what: 'PUBACK flags 0001',
    bytes: `${connect} 41 02 00 01`,
    code: 'SNT_MQTT_FIXED_HEADER_FLAGS',
    clause: 'MQTT-2.2.2-2',
  },
  {
    what: 'PUBREL flags 0000',
    bytes: `${connect} 60 02 00 01`,
    code: 'SNT_MQTT_FIXED_HEADER_FLAGS',
    clause: 'MQTT-2.2.2-2',
  },
  {
    what: 'SUBSCRIBE flags 0000',
    bytes: `${connect} 80 06 00 01 00 01 61 00`,
    code: 'SNT_MQTT_FIXED_HEADER_FLAGS',
    clause: 'MQTT-2.2.2-2',
  },
  {
    what: 'UNSUBSCRIBE flags 0000',
    bytes: `${connect} a0 05 00 01 00 01 61`,
    code: 'SNT_MQTT_FIXED_HEADER_FLAGS',
    clause: 'MQTT-2.2.2-2',
  },
  {
    what: 'PINGREQ flags 0001',
    bytes: `${connect} c1 00`,
    code: 'SNT_MQTT_FIXED_HEADER_FLAGS',
    clause: 'MQTT-2.2.2-2',
  },
  {
    what: 'DISCONNECT flags 0010',
    bytes: `${connect} e2 00`,
    code: 'SNT_MQTT_FIXED_HEADER_FLAGS',
    clause: 'MQTT-2.2.2-2',
  },
  {
    what: 'PUBLISH QoS 3',
    bytes: `${connect} 36 05 00 01 61 00 01`,
    code: 'SNT_MQTT_PUBLISH_QOS_INVALID',
    clause: 'MQTT-3.3.1-4',
  },
  {
    what: 'PUBLISH DUP with QoS 0',
    bytes: `${connect} 38 03 00 01 61`,
    code: 'SNT_MQTT_PUBLISH_DUP_QOS0',
    clause: 'MQTT-3.3.1-2',
  },
  {
    what: 'Remaining Length of 5 bytes',
    bytes: `${connect} 30 ff ff ff ff 01`,
    code: 'SNT_MQTT_REMAINING_LENGTH_MALFORMED',
    clause: '§2.2.3',
  },
  {
    what: 'Remaining Length 0 in 2 bytes',
    bytes: `${connect} 30 80 00`,
    code: 'SNT_MQTT_REMAINING_LENGTH_NOT_MINIMAL',
    clause: '§2.2.3',
  },
  {
    what: 'Remaining Length 127 in 3 bytes',
    bytes: `${connect} 30 ff 80 00`,
    code: 'SNT_MQTT_REMAINING_LENGTH_NOT_MINIMAL',
    clause: '§2.2.3',
  },
  {
    what: 'Remaining Length 268,435,455 (256 MB, CVE-2023-0809)',
    bytes: `${connect} 30 ff ff ff 7f`,
    code: 'SNT_MQTT_PACKET_TOO_LARGE',
    clause: '§2.2.3 (policy)',
  },
  {
    what: 'packet 4 bytes over 256 KB',
    bytes: `${connect} 30 80 80 10`,
    code: 'SNT_MQTT_PACKET_TOO_LARGE',
    clause: '§2.2.3 (policy)',
  },
  {
    what: 'CONNECT over the configured limit',
    bytes: connect,
    code: 'SNT_MQTT_PACKET_TOO_LARGE',
    clause: '§2.2.3 (policy)',
    policy: { maxPacketBytes: 16 },
  },
  // Packet order
  {
    what: 'PUBLISH before CONNECT',
    bytes: '30 03 00 01 61',
    code: 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT',
    clause: 'MQTT-3.1.0-1',
  },
  {
    what: 'PINGREQ before CONNECT',
    bytes: 'c0 00',
    code: 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT',
    clause: 'MQTT-3.1.0-1',
  },
  {
    what: 'huge PUBLISH before CONNECT',
    bytes: '30 ff ff 0f',
    code: 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT',
    clause: 'MQTT-3.1.0-1',
  },
  {
    what: 'second CONNECT',
    bytes: `${connect} ${connect}`,
    code: 'SNT_MQTT_SECOND_CONNECT',
    clause: 'MQTT-3.1.0-2',
  },
  // CONNECT
  {
    what: 'protocol name MQTX',
    bytes: '10 10 00 04 4d 51 54 58 04 02 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_PROTOCOL_NAME',
    clause: 'MQTT-3.1.2-1',
  },
  {
    what: 'protocol name length past the packet',
    bytes: '10 02 00 04',
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'MQTT 5 (level 5)',
    bytes: '10 11 00 04 4d 51 54 54 05 02 00 3c 00 00 04 64 65 76 31',
    code: 'SNT_MQTT_PROTOCOL_LEVEL',
    clause: 'MQTT-3.1.2-2',
    connack: 1,
  },
  {
    what: 'level 3 with name MQTT',
    bytes: '10 10 00 04 4d 51 54 54 03 02 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_PROTOCOL_LEVEL',
    clause: 'MQTT-3.1.2-2',
    connack: 1,
  },
  {
    what: 'MQTT 3.1 (MQIsdp level 3)',
    bytes: '10 12 00 06 4d 51 49 73 64 70 03 02 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_PROTOCOL_LEVEL',
    clause: 'MQTT-3.1.2-2',
    connack: 1,
  },
  {
    what: 'bridge bit on level 4 (0x84)',
    bytes: '10 10 00 04 4d 51 54 54 84 02 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_PROTOCOL_LEVEL',
    clause: 'MQTT-3.1.2-2',
    connack: 1,
  },
  {
    what: 'reserved connect flag',
    bytes: '10 10 00 04 4d 51 54 54 04 03 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_CONNECT_RESERVED_FLAG',
    clause: 'MQTT-3.1.2-3',
  },
  {
    what: 'Will QoS without will',
    bytes: '10 10 00 04 4d 51 54 54 04 0a 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_WILL_QOS_WITHOUT_WILL',
    clause: 'MQTT-3.1.2-13',
  },
  {
    what: 'Will QoS 3',
    bytes: '10 10 00 04 4d 51 54 54 04 1e 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_WILL_QOS_INVALID',
    clause: 'MQTT-3.1.2-14',
  },
  {
    what: 'Will Retain without will',
    bytes: '10 10 00 04 4d 51 54 54 04 22 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_WILL_RETAIN_WITHOUT_WILL',
    clause: 'MQTT-3.1.2-15',
  },
  {
    what: 'password without user name',
    bytes: '10 13 00 04 4d 51 54 54 04 42 00 3c 00 04 64 65 76 31 00 01 70',
    code: 'SNT_MQTT_PASSWORD_WITHOUT_USERNAME',
    clause: 'MQTT-3.1.2-22',
  },
  {
    what: 'User Name Flag with no user name',
    bytes: '10 10 00 04 4d 51 54 54 04 82 00 3c 00 04 64 65 76 31',
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'user name present with its flag off',
    bytes: '10 13 00 04 4d 51 54 54 04 02 00 3c 00 04 64 65 76 31 00 01 78',
    code: 'SNT_MQTT_PACKET_TRAILING_BYTES',
    clause: '§2.2.3',
  },
  {
    what: 'client id length past the packet',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 3c 00 09 64 65 76 31',
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'CONNECT cut after the flags',
    bytes: '10 08 00 04 4d 51 54 54 04 02',
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'will message length past the packet',
    bytes: '10 15 00 04 4d 51 54 54 04 06 00 3c 00 04 64 65 76 31 00 01 61 00 09',
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'empty client id with CleanSession 0',
    bytes: '10 0c 00 04 4d 51 54 54 04 00 00 3c 00 00',
    code: 'SNT_MQTT_CLIENT_ID_EMPTY_PERSISTENT',
    clause: 'MQTT-3.1.3-8',
    connack: 2,
  },
  {
    what: 'empty client id when the policy wants one',
    bytes: '10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00',
    code: 'SNT_MQTT_CLIENT_ID_REJECTED',
    clause: 'MQTT-3.1.3-9',
    connack: 2,
    policy: { allowEmptyClientId: false },
  },
  {
    what: 'client id with "/" under the safe character set',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 65 2f 31',
    code: 'SNT_MQTT_CLIENT_ID_REJECTED',
    clause: 'MQTT-3.1.3-9',
    connack: 2,
    policy: { clientIdCharacters: 'safe' },
  },
  {
    what: 'client id with "+" under the safe character set (CVE-2017-7650)',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 65 2b 31',
    code: 'SNT_MQTT_CLIENT_ID_REJECTED',
    clause: 'MQTT-3.1.3-9',
    connack: 2,
    policy: { clientIdCharacters: 'safe' },
  },
  {
    what: 'client id with "_" under the spec character set',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 65 5f 31',
    code: 'SNT_MQTT_CLIENT_ID_REJECTED',
    clause: 'MQTT-3.1.3-9',
    connack: 2,
    policy: { clientIdCharacters: 'spec' },
  },
  {
    what: 'client id of 129 bytes',
    bytes: connectWithClientIdHex('d'.repeat(129)),
    code: 'SNT_MQTT_CLIENT_ID_REJECTED',
    clause: 'MQTT-3.1.3-9',
    connack: 2,
  },
  {
    what: 'client id ill-formed UTF-8',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 c3 28 31',
    code: 'SNT_MQTT_UTF8_ILL_FORMED',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'client id overlong NUL (C0 80)',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 c0 80 31',
    code: 'SNT_MQTT_UTF8_ILL_FORMED',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'client id surrogate U+D800',
    bytes: '10 11 00 04 4d 51 54 54 04 02 00 3c 00 05 64 ed a0 80 31',
    code: 'SNT_MQTT_UTF8_SURROGATE',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'client id with U+0000',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 00 76 31',
    code: 'SNT_MQTT_UTF8_NULL',
    clause: 'MQTT-1.5.3-2',
  },
  {
    what: 'user name ill-formed UTF-8',
    bytes: '10 14 00 04 4d 51 54 54 04 82 00 3c 00 04 64 65 76 31 00 02 61 ff',
    code: 'SNT_MQTT_UTF8_ILL_FORMED',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'Keep Alive 0 when the policy refuses it',
    bytes: '10 10 00 04 4d 51 54 54 04 02 00 00 00 04 64 65 76 31',
    code: 'SNT_MQTT_KEEPALIVE_OUT_OF_POLICY',
    clause: '§3.1.2.10 (policy, SlowITe)',
    policy: { keepAliveOutOfPolicy: 'refuse' },
  },
  {
    what: 'Keep Alive 65,535 when the policy refuses it',
    bytes: '10 10 00 04 4d 51 54 54 04 02 ff ff 00 04 64 65 76 31',
    code: 'SNT_MQTT_KEEPALIVE_OUT_OF_POLICY',
    clause: '§3.1.2.10 (policy, SlowITe)',
    policy: { keepAliveOutOfPolicy: 'refuse' },
  },
  {
    what: 'will topic with a wildcard',
    bytes: '10 17 00 04 4d 51 54 54 04 06 00 3c 00 04 64 65 76 31 00 03 61 2f 23 00 00',
    code: 'SNT_MQTT_TOPIC_NAME_WILDCARD',
    clause: 'MQTT-3.3.2-2',
  },
  // PUBLISH
  {
    what: 'PUBLISH empty topic (CVE-2021-34432)',
    bytes: `${connect} 30 02 00 00`,
    code: 'SNT_MQTT_TOPIC_EMPTY',
    clause: 'MQTT-4.7.3-1',
  },
  {
    what: 'PUBLISH topic with "+"',
    bytes: `${connect} 30 05 00 03 61 2f 2b`,
    code: 'SNT_MQTT_TOPIC_NAME_WILDCARD',
    clause: 'MQTT-3.3.2-2',
  },
  {
    what: 'PUBLISH topic with "#"',
    bytes: `${connect} 30 05 00 03 61 2f 23`,
    code: 'SNT_MQTT_TOPIC_NAME_WILDCARD',
    clause: 'MQTT-3.3.2-2',
  },
  {
    what: 'PUBLISH topic ill-formed UTF-8 (CVE-2017-7653)',
    bytes: `${connect} 30 04 00 02 ff 61`,
    code: 'SNT_MQTT_UTF8_ILL_FORMED',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'PUBLISH topic truncated UTF-8 sequence',
    bytes: `${connect} 30 04 00 02 61 e2`,
    code: 'SNT_MQTT_UTF8_ILL_FORMED',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'PUBLISH topic above U+10FFFF',
    bytes: `${connect} 30 06 00 04 f4 90 80 80`,
    code: 'SNT_MQTT_UTF8_ILL_FORMED',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'PUBLISH topic surrogate U+DFFF',
    bytes: `${connect} 30 05 00 03 ed bf bf`,
    code: 'SNT_MQTT_UTF8_SURROGATE',
    clause: 'MQTT-1.5.3-1',
  },
  {
    what: 'PUBLISH topic with U+0000',
    bytes: `${connect} 30 04 00 02 61 00`,
    code: 'SNT_MQTT_UTF8_NULL',
    clause: 'MQTT-1.5.3-2',
  },
  {
    what: 'PUBLISH topic with BEL',
    bytes: `${connect} 30 04 00 02 61 07`,
    code: 'SNT_MQTT_UTF8_CONTROL',
    clause: '§1.5.3 (policy)',
  },
  {
    what: 'PUBLISH topic with U+0085',
    bytes: `${connect} 30 05 00 03 61 c2 85`,
    code: 'SNT_MQTT_UTF8_CONTROL',
    clause: '§1.5.3 (policy)',
  },
  {
    what: 'PUBLISH topic length past the packet',
    bytes: `${connect} 30 03 00 05 61`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'PUBLISH QoS 1 without packet identifier',
    bytes: `${connect} 32 03 00 01 61`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'PUBLISH QoS 1 with half a packet identifier',
    bytes: `${connect} 32 04 00 01 61 00`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'PUBLISH QoS 1 packet identifier 0',
    bytes: `${connect} 32 05 00 01 61 00 00`,
    code: 'SNT_MQTT_PACKET_ID_ZERO',
    clause: 'MQTT-2.3.1-1',
  },
  {
    what: 'PUBLISH QoS 2 packet identifier 0',
    bytes: `${connect} 34 05 00 01 61 00 00`,
    code: 'SNT_MQTT_PACKET_ID_ZERO',
    clause: 'MQTT-2.3.1-1',
  },
  {
    what: 'PUBLISH topic of 1,025 bytes',
    bytes: `${connect} ${publishHex('t'.repeat(1025))}`,
    code: 'SNT_MQTT_TOPIC_TOO_LONG',
    clause: '§4.7.3 (policy)',
  },
  {
    what: 'PUBLISH topic of 17 levels',
    bytes: `${connect} ${publishHex(`${'a/'.repeat(16)}a`)}`,
    code: 'SNT_MQTT_TOPIC_TOO_DEEP',
    clause: '§4.7.3 (policy)',
  },
  // SUBSCRIBE
  {
    what: 'SUBSCRIBE without filters',
    bytes: `${connect} 82 02 00 01`,
    code: 'SNT_MQTT_SUBSCRIBE_EMPTY',
    clause: 'MQTT-3.8.3-3',
  },
  {
    what: 'SUBSCRIBE without packet identifier',
    bytes: `${connect} 82 01 00`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'SUBSCRIBE packet identifier 0',
    bytes: `${connect} 82 06 00 00 00 01 61 00`,
    code: 'SNT_MQTT_PACKET_ID_ZERO',
    clause: 'MQTT-2.3.1-1',
  },
  {
    what: 'SUBSCRIBE reserved bits in requested QoS',
    bytes: `${connect} 82 06 00 01 00 01 61 04`,
    code: 'SNT_MQTT_SUBSCRIBE_QOS_RESERVED',
    clause: 'MQTT-3-8.3-4',
  },
  {
    what: 'SUBSCRIBE requested QoS 3',
    bytes: `${connect} 82 06 00 01 00 01 61 03`,
    code: 'SNT_MQTT_SUBSCRIBE_QOS_RESERVED',
    clause: 'MQTT-3-8.3-4',
  },
  {
    what: 'SUBSCRIBE filter without QoS byte',
    bytes: `${connect} 82 05 00 01 00 01 61`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'SUBSCRIBE "a#" (wolfMQTT #524)',
    bytes: `${connect} 82 07 00 01 00 02 61 23 00`,
    code: 'SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL',
    clause: 'MQTT-4.7.1-2',
  },
  {
    what: 'SUBSCRIBE "sport/#/ranking"',
    bytes: `${connect} 82 14 00 01 00 0f 73 70 6f 72 74 2f 23 2f 72 61 6e 6b 69 6e 67 00`,
    code: 'SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL',
    clause: 'MQTT-4.7.1-2',
  },
  {
    what: 'SUBSCRIBE "a+"',
    bytes: `${connect} 82 07 00 01 00 02 61 2b 00`,
    code: 'SNT_MQTT_TOPIC_FILTER_SINGLE_LEVEL',
    clause: 'MQTT-4.7.1-3',
  },
  {
    what: 'SUBSCRIBE "+a/b"',
    bytes: `${connect} 82 09 00 01 00 04 2b 61 2f 62 00`,
    code: 'SNT_MQTT_TOPIC_FILTER_SINGLE_LEVEL',
    clause: 'MQTT-4.7.1-3',
  },
  {
    what: 'SUBSCRIBE empty filter',
    bytes: `${connect} 82 05 00 01 00 00 00`,
    code: 'SNT_MQTT_TOPIC_EMPTY',
    clause: 'MQTT-4.7.3-1',
  },
  {
    what: 'SUBSCRIBE second filter ill-formed',
    bytes: `${connect} 82 0a 00 01 00 01 61 00 00 01 ff 00`,
    code: 'SNT_MQTT_UTF8_ILL_FORMED',
    clause: 'MQTT-1.5.3-1',
  },
  // UNSUBSCRIBE
  {
    what: 'UNSUBSCRIBE without filters',
    bytes: `${connect} a2 02 00 01`,
    code: 'SNT_MQTT_UNSUBSCRIBE_EMPTY',
    clause: 'MQTT-3.10.3-2',
  },
  {
    what: 'UNSUBSCRIBE packet identifier 0',
    bytes: `${connect} a2 05 00 00 00 01 61`,
    code: 'SNT_MQTT_PACKET_ID_ZERO',
    clause: 'MQTT-2.3.1-1',
  },
  {
    what: 'UNSUBSCRIBE "#a"',
    bytes: `${connect} a2 06 00 01 00 02 23 61`,
    code: 'SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL',
    clause: 'MQTT-4.7.1-2',
  },
  {
    what: 'UNSUBSCRIBE filter length past the packet',
    bytes: `${connect} a2 05 00 01 00 05 61`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  // Fixed-length packets
  {
    what: 'PUBACK with a trailing byte',
    bytes: `${connect} 40 03 00 01 00`,
    code: 'SNT_MQTT_PACKET_TRAILING_BYTES',
    clause: '§2.2.3',
  },
  {
    what: 'PUBACK with one byte',
    bytes: `${connect} 40 01 00`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'PUBREC with no identifier',
    bytes: `${connect} 50 00`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'PUBREL with no identifier',
    bytes: `${connect} 62 00`,
    code: 'SNT_MQTT_PACKET_TRUNCATED',
    clause: '§1.5.3, §2.2.3',
  },
  {
    what: 'PUBCOMP with a trailing byte',
    bytes: `${connect} 70 03 00 01 ff`,
    code: 'SNT_MQTT_PACKET_TRAILING_BYTES',
    clause: '§2.2.3',
  },
  {
    what: 'PINGREQ with a body',
    bytes: `${connect} c0 01 00`,
    code: 'SNT_MQTT_PACKET_TRAILING_BYTES',
    clause: '§2.2.3',
  },
  {
    what: 'DISCONNECT with a body (MQTT 5 reason code)',
    bytes: `${connect} e0 01 00`,
    code: 'SNT_MQTT_PACKET_TRAILING_BYTES',
    clause: '§2.2.3',
  },
];

function readAll(bytes: Buffer, policy: ProtocolPolicy, chunkSize: number) {
  const reader = new InboundPacketReader(policy);
  const packets: Packet[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) {
    const result = reader.push(bytes.subarray(at, at + chunkSize));
    packets.push(...result.packets.map((inbound) => inbound.packet));
    if (result.refusal !== undefined) return { packets, refusal: result.refusal };
  }
  return { packets, refusal: undefined };
}

describe('malformed packets from a client are refused with their code and clause', () => {
  for (const row of rows) {
    const policy = { ...defaultProtocolPolicy, ...row.policy };
    const bytes = hex(row.bytes);
    for (const [how, chunkSize] of [
      ['in one chunk', bytes.length],
      ['byte by byte', 1],
    ] as const) {
      it(`${row.what} -> ${row.code} (${how})`, () => {
        const { refusal } = readAll(bytes, policy, chunkSize);
        assert.ok(refusal, 'expected a refusal');
        assert.equal(refusal.code, row.code, refusal.message);
        assert.equal(refusal.clause, row.clause);
        assert.equal(refusal.connackReturnCode, row.connack);
      });
    }
  }

  it('has at least one row for every refusal the reader can produce', () => {
    const sessionOnly = new Set<RefusalCode>([
      'SNT_MQTT_PACKET_ID_IN_USE',
      'SNT_MQTT_PUBREL_BEFORE_PUBREC',
      'SNT_MQTT_INFLIGHT_LIMIT',
      'SNT_MQTT_CONNECT_TIMEOUT',
      'SNT_MQTT_KEEPALIVE_EXPIRED',
      'SNT_MQTT_DECODE_FAILED',
    ]);
    const covered = new Set(rows.map((row) => row.code));
    const missing = Object.keys(refusalCatalog).filter(
      (code) => !covered.has(code as RefusalCode) && !sessionOnly.has(code as RefusalCode),
    );
    assert.deepEqual(missing, []);
  });

  it('the README lists every refusal code with its clause', () => {
    const readme = readFileSync(
      fileURLToPath(new URL('../../../ingest/protocol/README.md', import.meta.url)),
      'utf8',
    );
    for (const [code, spec] of Object.entries(refusalCatalog)) {
      const line = readme.split('\n').find((text) => text.includes(`\`${code}\``));
      assert.ok(line, `${code} missing from README.md`);
      assert.ok(line.includes(spec.clause), `${code} line lacks clause ${spec.clause}`);
    }
  });
});

/** Packets shaped as MQTT.js (which encodes with mqtt-packet) and mosquitto_pub send them. */
const validClientTraffic: Array<[string, Buffer]> = [
  // Captured from mosquitto_pub 2.0.11 -u alice -P secret: empty client id, clean session.
  ['mosquitto_pub CONNECT', hex('101b00044d51545404c2003c00000005616c6963650006736563726574')],
  [
    'PUBLISH QoS 0',
    mqttPacket.generate({
      cmd: 'publish',
      topic: 'sensors/dev1/temp',
      payload: Buffer.from('21.5'),
      qos: 0,
      dup: false,
      retain: false,
    }),
  ],
  [
    'PUBLISH QoS 1 retained',
    mqttPacket.generate({
      cmd: 'publish',
      topic: 'sensors/dev1/état',
      payload: Buffer.alloc(100, 1),
      qos: 1,
      dup: false,
      retain: true,
      messageId: 1,
    }),
  ],
  [
    'PUBLISH QoS 2 DUP, empty payload',
    mqttPacket.generate({
      cmd: 'publish',
      topic: 'a',
      payload: Buffer.alloc(0),
      qos: 2,
      dup: true,
      retain: false,
      messageId: 65535,
    }),
  ],
  ['PUBREL', mqttPacket.generate({ cmd: 'pubrel', messageId: 65535 })],
  ['PUBACK', mqttPacket.generate({ cmd: 'puback', messageId: 7 })],
  [
    'SUBSCRIBE with wildcards',
    mqttPacket.generate({
      cmd: 'subscribe',
      messageId: 2,
      subscriptions: [
        { topic: 'clients/dev1/alerts', qos: 1 },
        { topic: 'sport/+/player1/#', qos: 2 },
        { topic: '#', qos: 0 },
        { topic: '+', qos: 0 },
        { topic: '/+/', qos: 0 },
      ],
    }),
  ],
  [
    'UNSUBSCRIBE',
    mqttPacket.generate({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['sport/#', 'a/b'] }),
  ],
  ['PINGREQ', mqttPacket.generate({ cmd: 'pingreq' })],
  ['DISCONNECT', mqttPacket.generate({ cmd: 'disconnect' })],
];

describe('valid client traffic passes', () => {
  const stream = Buffer.concat(validClientTraffic.map(([, bytes]) => bytes));
  for (const chunkSize of [stream.length, 1, 7]) {
    it(`decodes every packet in order (chunks of ${chunkSize} bytes)`, () => {
      const { packets, refusal } = readAll(stream, defaultProtocolPolicy, chunkSize);
      assert.equal(refusal, undefined, refusal?.message);
      assert.deepEqual(
        packets.map((packet) => packet.cmd),
        [
          'connect',
          'publish',
          'publish',
          'publish',
          'pubrel',
          'puback',
          'subscribe',
          'unsubscribe',
          'pingreq',
          'disconnect',
        ],
      );
    });
  }

  it('decodes an MQTT.js style CONNECT with will, user name and password', () => {
    const bytes = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: 'mqttjs_3f2a9c1d',
      clean: false,
      keepalive: 60,
      username: 'device-17',
      password: Buffer.from('s3cret'),
      will: { topic: 'clients/device-17/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    const { packets, refusal } = readAll(bytes, defaultProtocolPolicy, bytes.length);
    assert.equal(refusal, undefined, refusal?.message);
    const [packet] = packets;
    assert.equal(packet?.cmd, 'connect');
    if (packet?.cmd === 'connect') {
      assert.equal(packet.clientId, 'mqttjs_3f2a9c1d');
      assert.equal(packet.will?.topic, 'clients/device-17/status');
      assert.equal(packet.password?.toString(), 's3cret');
    }
  });

  it('accepts a packet of exactly the configured maximum size', () => {
    const connectBytes = hex(connect);
    const publish = mqttPacket.generate({
      cmd: 'publish',
      topic: 'a',
      payload: Buffer.alloc(200),
      qos: 0,
      dup: false,
      retain: false,
    });
    const policy = { ...defaultProtocolPolicy, maxPacketBytes: publish.length };
    const { packets, refusal } = readAll(Buffer.concat([connectBytes, publish]), policy, 64);
    assert.equal(refusal, undefined, refusal?.message);
    assert.equal(packets.length, 2);
  });

  it('hands over the valid packets that came before a refusal', () => {
    const { packets, refusal } = readAll(hex(`${connect} 30 03 00 01 61 c1 00`), defaultProtocolPolicy, 100);
    assert.deepEqual(
      packets.map((packet) => packet.cmd),
      ['connect', 'publish'],
    );
    assert.equal(refusal?.code, 'SNT_MQTT_FIXED_HEADER_FLAGS');
  });
});
