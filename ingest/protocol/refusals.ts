/**
 * Every way the protocol core refuses a client, keyed by a stable code. A refusal closes the
 * connection (MQTT 3.1.1 §4.8); `connackReturnCode` says that a CONNACK with that return code is
 * sent first. Codes never change meaning once released; the README lists each one.
 */
export type ConnackReturnCode = 1 | 2 | 3 | 4 | 5;

interface RefusalSpec {
  readonly clause: string;
  readonly summary: string;
  readonly connackReturnCode?: ConnackReturnCode;
}

export const refusalCatalog = {
  SNT_MQTT_RESERVED_PACKET_TYPE: {
    clause: '§2.2.1',
    summary: 'packet type 0 or 15 (reserved in 3.1.1)',
  },
  SNT_MQTT_SERVER_ONLY_PACKET: {
    clause: '§2.2.1',
    summary: 'CONNACK, SUBACK, UNSUBACK or PINGRESP sent by a client',
  },
  SNT_MQTT_FIXED_HEADER_FLAGS: {
    clause: 'MQTT-2.2.2-2',
    summary: 'fixed-header flag bits differ from Table 2.2',
  },
  SNT_MQTT_PUBLISH_QOS_INVALID: {
    clause: 'MQTT-3.3.1-4',
    summary: 'PUBLISH with both QoS bits set',
  },
  SNT_MQTT_PUBLISH_DUP_QOS0: {
    clause: 'MQTT-3.3.1-2',
    summary: 'PUBLISH with DUP set and QoS 0',
  },
  SNT_MQTT_REMAINING_LENGTH_MALFORMED: {
    clause: '§2.2.3',
    summary: 'Remaining Length longer than 4 bytes (continuation bit on the 4th byte)',
  },
  SNT_MQTT_REMAINING_LENGTH_NOT_MINIMAL: {
    clause: '§2.2.3',
    summary: 'Remaining Length not in its shortest encoding (normative in MQTT 5, MQTT-1.5.5-1)',
  },
  SNT_MQTT_PACKET_TOO_LARGE: {
    clause: '§2.2.3 (policy)',
    summary: 'packet larger than the configured maximum, refused from its fixed header',
  },
  SNT_MQTT_FIRST_PACKET_NOT_CONNECT: {
    clause: 'MQTT-3.1.0-1',
    summary: 'first packet on the connection is not CONNECT',
  },
  SNT_MQTT_SECOND_CONNECT: {
    clause: 'MQTT-3.1.0-2',
    summary: 'a second CONNECT on the same connection',
  },
  SNT_MQTT_PACKET_TRUNCATED: {
    clause: '§1.5.3, §2.2.3',
    summary: 'a field (length-prefixed string, packet identifier) runs past the Remaining Length',
  },
  SNT_MQTT_PACKET_TRAILING_BYTES: {
    clause: '§2.2.3',
    summary: 'bytes left after the last field the packet declares',
  },
  SNT_MQTT_PROTOCOL_NAME: {
    clause: 'MQTT-3.1.2-1',
    summary: 'CONNECT protocol name is not "MQTT" (nor the 3.1 name "MQIsdp")',
  },
  SNT_MQTT_PROTOCOL_LEVEL: {
    clause: 'MQTT-3.1.2-2',
    summary: 'protocol level other than 4 (MQTT 5, MQTT 3.1 "MQIsdp", unknown)',
    connackReturnCode: 1,
  },
  SNT_MQTT_CONNECT_RESERVED_FLAG: {
    clause: 'MQTT-3.1.2-3',
    summary: 'CONNECT reserved flag bit 0 is set',
  },
  SNT_MQTT_WILL_QOS_WITHOUT_WILL: {
    clause: 'MQTT-3.1.2-13',
    summary: 'Will QoS non-zero while the Will Flag is 0',
  },
  SNT_MQTT_WILL_QOS_INVALID: {
    clause: 'MQTT-3.1.2-14',
    summary: 'Will QoS 3',
  },
  SNT_MQTT_WILL_RETAIN_WITHOUT_WILL: {
    clause: 'MQTT-3.1.2-15',
    summary: 'Will Retain set while the Will Flag is 0',
  },
  SNT_MQTT_PASSWORD_WITHOUT_USERNAME: {
    clause: 'MQTT-3.1.2-22',
    summary: 'Password Flag set while the User Name Flag is 0',
  },
  SNT_MQTT_KEEPALIVE_OUT_OF_POLICY: {
    clause: '§3.1.2.10 (policy, SlowITe)',
    summary: 'Keep Alive 0 or above the configured maximum, when the policy refuses instead of capping',
  },
  SNT_MQTT_CLIENT_ID_EMPTY_PERSISTENT: {
    clause: 'MQTT-3.1.3-8',
    summary: 'zero-byte ClientId with CleanSession 0',
    connackReturnCode: 2,
  },
  SNT_MQTT_CLIENT_ID_REJECTED: {
    clause: 'MQTT-3.1.3-9',
    summary:
      'ClientId refused by the configured policy (empty, length, characters; MQTT-3.1.3-5 lets a server accept more)',
    connackReturnCode: 2,
  },
  SNT_MQTT_UTF8_ILL_FORMED: {
    clause: 'MQTT-1.5.3-1',
    summary: 'ill-formed UTF-8 (overlong, truncated sequence, code point above U+10FFFF)',
  },
  SNT_MQTT_UTF8_SURROGATE: {
    clause: 'MQTT-1.5.3-1',
    summary: 'UTF-8 encoding of a surrogate code point U+D800..U+DFFF',
  },
  SNT_MQTT_UTF8_NULL: {
    clause: 'MQTT-1.5.3-2',
    summary: 'U+0000 in a UTF-8 string',
  },
  SNT_MQTT_UTF8_CONTROL: {
    clause: '§1.5.3 (policy)',
    summary: 'control character U+0001..U+001F or U+007F..U+009F in a string, when the policy refuses them',
  },
  SNT_MQTT_TOPIC_EMPTY: {
    clause: 'MQTT-4.7.3-1',
    summary: 'zero-length topic name or topic filter',
  },
  SNT_MQTT_TOPIC_NAME_WILDCARD: {
    clause: 'MQTT-3.3.2-2',
    summary: 'wildcard "+" or "#" in a topic name (PUBLISH or Will Topic)',
  },
  SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL: {
    clause: 'MQTT-4.7.1-2',
    summary: '"#" not alone in the last level of a topic filter',
  },
  SNT_MQTT_TOPIC_FILTER_SINGLE_LEVEL: {
    clause: 'MQTT-4.7.1-3',
    summary: '"+" not occupying a whole level of a topic filter',
  },
  SNT_MQTT_TOPIC_TOO_LONG: {
    clause: '§4.7.3 (policy)',
    summary: 'topic name or filter longer than the configured maximum in bytes',
  },
  SNT_MQTT_TOPIC_TOO_DEEP: {
    clause: '§4.7.3 (policy)',
    summary: 'topic name or filter with more levels than the configured maximum',
  },
  SNT_MQTT_PACKET_ID_ZERO: {
    clause: 'MQTT-2.3.1-1',
    summary: 'packet identifier 0 on PUBLISH QoS > 0, SUBSCRIBE or UNSUBSCRIBE',
  },
  SNT_MQTT_PACKET_ID_IN_USE: {
    clause: 'MQTT-2.3.1-2',
    summary: 'a new PUBLISH reuses the identifier of an unfinished exchange at another QoS',
  },
  SNT_MQTT_SUBSCRIBE_EMPTY: {
    clause: 'MQTT-3.8.3-3',
    summary: 'SUBSCRIBE without any topic filter',
  },
  SNT_MQTT_SUBSCRIBE_QOS_RESERVED: {
    clause: 'MQTT-3-8.3-4',
    summary: 'requested-QoS byte with reserved bits set or QoS 3',
  },
  SNT_MQTT_UNSUBSCRIBE_EMPTY: {
    clause: 'MQTT-3.10.3-2',
    summary: 'UNSUBSCRIBE without any topic filter',
  },
  SNT_MQTT_PUBREL_BEFORE_PUBREC: {
    clause: 'MQTT-4.3.3-1',
    summary: 'PUBREL for a QoS 2 PUBLISH that has not been acknowledged with PUBREC yet',
  },
  SNT_MQTT_INFLIGHT_LIMIT: {
    clause: '§4.3.3 (policy: QoS 2 state exhaustion)',
    summary: 'more QoS 2 exchanges left awaiting PUBREL by the client than the configured maximum',
  },
  SNT_MQTT_CONNECT_TIMEOUT: {
    clause: '§3.1.4',
    summary: 'no complete CONNECT within the configured time after the connection opened',
  },
  SNT_MQTT_KEEPALIVE_EXPIRED: {
    clause: 'MQTT-3.1.2-24',
    summary: 'no packet from the client within 1.5 x the (capped) Keep Alive',
  },
  SNT_MQTT_DECODE_FAILED: {
    clause: '§4.8',
    summary: 'mqtt-packet refused a packet the structural checks let through (safety net)',
  },
} as const satisfies Record<string, RefusalSpec>;

export type RefusalCode = keyof typeof refusalCatalog;

export interface Refusal {
  readonly code: RefusalCode;
  /** The normative statement (MQTT-x.y.z-n) or section the rule comes from. */
  readonly clause: string;
  /** What was wrong with this packet, for the event and the log. */
  readonly message: string;
  /** Send CONNACK with this return code before closing (only in answer to a first CONNECT). */
  readonly connackReturnCode?: ConnackReturnCode;
}

export function refuse(code: RefusalCode, message: string): Refusal {
  const spec: RefusalSpec = refusalCatalog[code];
  return spec.connackReturnCode === undefined
    ? { code, clause: spec.clause, message }
    : { code, clause: spec.clause, message, connackReturnCode: spec.connackReturnCode };
}
