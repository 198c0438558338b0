/**
 * The limits a server may choose under MQTT 3.1.1, in one object. The ingest config schema maps
 * SENTINEL_* settings onto it; the defaults below are what an unconfigured edge enforces.
 */
export interface ProtocolPolicy {
  /** Largest whole packet (fixed header included), bytes. Refused from the fixed header. */
  readonly maxPacketBytes: number;
  /** Longest topic name or filter, bytes of UTF-8 (the spec allows 65,535). */
  readonly maxTopicBytes: number;
  /** Most levels ("/"-separated parts) in a topic name or filter. */
  readonly maxTopicLevels: number;
  /** Longest accepted ClientId, bytes. MQTT-3.1.3-5 requires 23; a server may accept more. */
  readonly maxClientIdBytes: number;
  /**
   * Characters accepted in a ClientId. 'spec': only 0-9a-zA-Z (MQTT-3.1.3-5). 'safe': printable
   * ASCII without space, '+', '#', '/' and '%', so an id substituted into an ACL pattern cannot
   * widen it (Mosquitto CVE-2017-7650); accepts MQTT.js 'mqttjs_…' and mosquitto 'mosq-…' ids.
   * 'utf8' (the default): any well-formed string, as MQTT-3.1.3-5 lets a server accept; ACL
   * substitution refuses to put an id with '/', '+', '#' or a leading '$' into a pattern
   * (ingest/auth/acl.ts), so the id cannot widen what a pattern grants.
   */
  readonly clientIdCharacters: 'spec' | 'safe' | 'utf8';
  /** Accept a zero-byte ClientId with CleanSession 1 (the server then assigns one, MQTT-3.1.3-6). */
  readonly allowEmptyClientId: boolean;
  /** Refuse U+0001..U+001F and U+007F..U+009F in strings (§1.5.3 allows either). */
  readonly refuseControlCharacters: boolean;
  /** Longest Keep Alive honoured, seconds; 0 turns the cap off. Against SlowITe idle connections. */
  readonly maxKeepAliveSeconds: number;
  /**
   * What a Keep Alive of 0 or above the maximum gets. 'cap': accepted, and the server's idle
   * deadline uses the maximum instead. 'refuse': the connection is closed without CONNACK
   * (3.1.1 has no return code for it).
   */
  readonly keepAliveOutOfPolicy: 'cap' | 'refuse';
  /** Time from connection open to a complete CONNECT, milliseconds. */
  readonly connectTimeoutMs: number;
  /**
   * Inbound QoS 1/2 PUBLISHes of one client stored at once (past it the connection stops reading
   * until one is stored: backpressure), and QoS 2 exchanges the client leaves awaiting PUBREL (past
   * it the connection is refused: state exhaustion).
   */
  readonly maxInboundInFlight: number;
  /** Unacknowledged QoS 1/2 messages sent to one client at a time. */
  readonly maxOutboundInFlight: number;
}

export const defaultProtocolPolicy: ProtocolPolicy = {
  maxPacketBytes: 256 * 1024,
  maxTopicBytes: 1024,
  maxTopicLevels: 16,
  maxClientIdBytes: 128,
  clientIdCharacters: 'utf8',
  allowEmptyClientId: true,
  refuseControlCharacters: true,
  maxKeepAliveSeconds: 300,
  keepAliveOutOfPolicy: 'cap',
  connectTimeoutMs: 10_000,
  maxInboundInFlight: 100,
  maxOutboundInFlight: 100,
};

/** The largest packet MQTT 3.1.1 can express: 268,435,455 bytes of body plus a 5-byte header. */
export const protocolMaxPacketBytes = 268_435_455 + 5;
