// Generated from schemas/*.avsc by `npm run schemas:types`. Do not edit by hand.

export type PacketType = 'CONNECT' | 'CONNACK' | 'PUBLISH' | 'PUBACK' | 'PUBREC' | 'PUBREL' | 'PUBCOMP' | 'SUBSCRIBE' | 'SUBACK' | 'UNSUBSCRIBE' | 'UNSUBACK' | 'PINGREQ' | 'PINGRESP' | 'DISCONNECT' | 'MALFORMED' | 'UNKNOWN';

export interface Subscription {
  /** topic filter */
  topic: string;
  /** requested QoS */
  qos: number;
}

/** the topic filters the session was granted, with %c and %u already substituted */
export interface SessionAcl {
  publish: string[];
  subscribe: string[];
}

/** One MQTT packet as the edge proxy received it (topic sentinel.packets, key = client id). CONNECT events never carry the password. */
export interface PacketEvent {
  /** unique id of this event (UUID v4) */
  eventId: string;
  packetType: PacketType;
  /** MQTT client id of the session ('' before CONNECT was accepted) */
  clientId: string;
  username: null | string;
  /** device address as the edge saw it (PROXY protocol aware) */
  sourceIp: string;
  sourcePort: number;
  /** id of the edge proxy process that received the packet */
  proxyId: string;
  /** id of the TCP/TLS connection, unique per proxy */
  connectionId: string;
  /** edge receipt time */
  receivedAt: number;
  /** PUBLISH topic name */
  topic: null | string;
  qos: null | number;
  retain: boolean;
  dup: boolean;
  /** packet identifier, where the packet has one */
  messageId: null | number;
  payload: null | Buffer;
  /** bytes on the wire, fixed header included */
  packetSize: number;
  /** CONNECT: 4 for MQTT 3.1.1 */
  protocolLevel: null | number;
  /** CONNECT: seconds */
  keepAlive: null | number;
  cleanSession: null | boolean;
  willTopic: null | string;
  /** SUBSCRIBE: filters with requested QoS; UNSUBSCRIBE: filters with qos 0 */
  subscriptions: null | Subscription[];
  /** CONNECT: allowed, denied, error or rate_limited */
  authResult: null | string;
  /** what the edge did when it did not simply accept: e.g. rate_limited:publish:ack-and-drop, acl_denied:acked_and_dropped, will */
  edgeAction: null | string;
  /** set when the edge refused the packet: acl_denied, rate_limited, auth_denied or protocol (edgeAction and malformedReason say more). A refused packet is recorded for forensics and never reaches the origin. */
  refusal: null | string;
  /** CONNECT accepted: the device's topic ACL for this session; the processors check every PUBLISH against it again */
  acl: null | SessionAcl;
  /** MALFORMED: stable reason code */
  malformedReason: null | string;
  /** MALFORMED: the MQTT 3.1.1 normative statement broken, e.g. MQTT-3.1.0-1 */
  malformedClause: null | string;
  /** subject of the client certificate, in client-certificate mode */
  tlsClientSubject: null | string;
}

export type Decision = 'allow' | 'block' | 'quarantine' | 'released' | 'dropped' | 'expired';

export interface Finding {
  ruleId: string;
  /** e.g. sqli, xss, cmdi, path_traversal, size, entropy, rate, auth_failures, protocol */
  class: string;
  /** processor step: validate, patterns, anomaly */
  stage: string;
  /** critical, high, medium or low */
  severity: string;
  /** what the rule asked for: allow, block or quarantine */
  action: string;
  /** bounded excerpt of what matched */
  evidence: string;
  /** where it matched, e.g. payload.json:$.cmd or topic */
  location: string;
  /** recorded only; did not change the decision */
  shadow: boolean;
}

/** where the packet event is in Kafka */
export interface PacketRef {
  topic: string;
  partition: number;
  offset: number;
}

export interface Review {
  decisionId: string;
  /** operator account; 'system' for an expiry */
  operator: string;
  reason: string;
}

/** The processors' decision on one packet event (topic sentinel.verdicts, key = client id). Exactly one per event, and for a quarantined PUBLISH one more when it is reviewed (released, dropped or expired, with review set). */
export interface Verdict {
  /** eventId of the packet event decided on */
  eventId: string;
  clientId: string;
  packetType: string;
  sourceIp: string;
  proxyId: string;
  topic: null | string;
  decision: Decision;
  /** enforce, or shadow when findings were only recorded */
  mode: string;
  findings: Finding[];
  packetRef: PacketRef;
  /** edge receipt time of the packet */
  receivedAt: number;
  decidedAt: number;
  /** time from edge receipt to the decision */
  processingLatencyMs: number;
  /** who decided on a held message, and why: set on released, dropped and expired verdicts only */
  review: null | Review;
}

/** A PUBLISH the processors allowed, ready for the origin (topic sentinel.approved, key = client id). */
export interface ApprovedMessage {
  /** eventId of the packet event */
  eventId: string;
  clientId: string;
  topic: string;
  payload: Buffer;
  /** QoS the device published with */
  qos: number;
  retain: boolean;
  sourceIp: string;
  proxyId: string;
  /** edge receipt time */
  receivedAt: number;
  approvedAt: number;
  packetRef: PacketRef;
}

/** A message from the origin for devices (topic sentinel.downlink, key = target client id, or the topic when the message is for every subscriber). */
export interface DownlinkMessage {
  /** unique id (UUID v4) assigned by the bridge */
  messageId: string;
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  /** set when the topic names one device, e.g. clients/{client_id}/alerts */
  targetClientId: null | string;
  /** when the bridge received it from the origin */
  originReceivedAt: number;
  bridgeId: string;
}

/** One approved message acknowledged by the origin (topic sentinel.deliveries, key = client id): the last leg of a message's path, with its end-to-end latency. */
export interface Delivery {
  /** eventId of the packet event (and of its verdict and approved message) */
  eventId: string;
  clientId: string;
  topic: string;
  /** QoS used towards the origin (at least 1) */
  qos: number;
  retain: boolean;
  payloadSize: number;
  /** id of the bridge instance that delivered it */
  bridgeId: string;
  /** edge receipt time */
  receivedAt: number;
  /** when the processors approved it */
  approvedAt: number;
  /** when the origin acknowledged it (PUBACK) */
  deliveredAt: number;
  /** deliveredAt - receivedAt: edge receipt to origin PUBACK */
  endToEndMs: number;
  packetRef: PacketRef;
  /** publish attempts to the origin (more than 1 after a reconnect) */
  attempts: number;
}

/** A PUBLISH the processors quarantined, kept whole for an operator's decision (topic sentinel.quarantine, key = client id). Nothing of it reaches the origin until it is released. */
export interface HeldMessage {
  /** eventId of the packet event (and of its quarantine verdict): decisions name it */
  heldId: string;
  clientId: string;
  username: null | string;
  sourceIp: string;
  proxyId: string;
  topic: string;
  payload: Buffer;
  /** QoS the device published with */
  qos: number;
  retain: boolean;
  /** the findings of the quarantine verdict */
  findings: Finding[];
  packetRef: PacketRef;
  /** edge receipt time */
  receivedAt: number;
  /** when the processors quarantined it */
  heldAt: number;
}

export type QuarantineAction = 'release' | 'drop' | 'expire';

/** The one decision on a held message (topic sentinel.quarantine.decisions, key = held id): released to the origin, dropped, or expired unreviewed. Written by the console in one Kafka transaction with the verdict it records and, for a release, the approved message. */
export interface QuarantineDecision {
  /** unique id of this decision */
  decisionId: string;
  /** the held message decided on (its packet event's eventId) */
  heldId: string;
  clientId: string;
  /** MQTT topic of the held message */
  topic: string;
  action: QuarantineAction;
  /** operator account that decided; 'system' for an expiry */
  operator: string;
  /** why, as the operator wrote it (bounded) */
  reason: string;
  heldAt: number;
  decidedAt: number;
}
