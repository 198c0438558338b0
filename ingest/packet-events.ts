import { randomUUID } from 'node:crypto';
import type { Packet } from 'mqtt-packet';
import type { PacketEvent, PacketType } from '../schemas/types.generated.js';
import type { Refusal } from './protocol/index.js';

/** Who sent a packet: fixed for the life of one connection. */
export interface ConnectionIdentity {
  readonly proxyId: string;
  readonly connectionId: string;
  readonly sourceIp: string;
  readonly sourcePort: number;
  readonly tlsClientSubject: string | null;
}

/** The session facts known when the packet arrived ('' and null before CONNECT). */
export interface SessionIdentity {
  readonly clientId: string;
  readonly username: string | null;
}

/**
 * Why the edge refused a packet. A refused packet is recorded (forensics) and is final: the
 * processors never approve it, so nothing of it reaches the origin. `internal_error`: the edge
 * failed while handling it (a lookup threw, a bug), not the device.
 */
export type EdgeRefusal = 'acl_denied' | 'rate_limited' | 'auth_denied' | 'protocol' | 'internal_error';

/** Marks an event refused; `action` is the edgeAction text that says what the edge answered. */
export function markRefused(event: PacketEvent, refusal: EdgeRefusal, action: string): PacketEvent {
  event.refusal = refusal;
  event.edgeAction = action;
  return event;
}

/** The event's packet type of an mqtt-packet command. */
export const packetTypeOf: Readonly<Record<Packet['cmd'], PacketType>> = {
  connect: 'CONNECT',
  connack: 'CONNACK',
  publish: 'PUBLISH',
  puback: 'PUBACK',
  pubrec: 'PUBREC',
  pubrel: 'PUBREL',
  pubcomp: 'PUBCOMP',
  subscribe: 'SUBSCRIBE',
  suback: 'SUBACK',
  unsubscribe: 'UNSUBSCRIBE',
  unsuback: 'UNSUBACK',
  pingreq: 'PINGREQ',
  pingresp: 'PINGRESP',
  disconnect: 'DISCONNECT',
  auth: 'UNKNOWN',
};

function baseEvent(
  connection: ConnectionIdentity,
  session: SessionIdentity,
  receivedAt: number,
  packetSize: number,
): PacketEvent {
  return {
    eventId: randomUUID(),
    packetType: 'UNKNOWN',
    clientId: session.clientId,
    username: session.username,
    sourceIp: connection.sourceIp,
    sourcePort: connection.sourcePort,
    proxyId: connection.proxyId,
    connectionId: connection.connectionId,
    receivedAt,
    topic: null,
    qos: null,
    retain: false,
    dup: false,
    messageId: null,
    payload: null,
    packetSize,
    protocolLevel: null,
    keepAlive: null,
    cleanSession: null,
    willTopic: null,
    subscriptions: null,
    authResult: null,
    edgeAction: null,
    refusal: null,
    acl: null,
    malformedReason: null,
    malformedClause: null,
    tlsClientSubject: connection.tlsClientSubject,
  };
}

/** The event of one accepted packet. A CONNECT never carries its password into the log. */
export function packetEventOf(
  connection: ConnectionIdentity,
  session: SessionIdentity,
  packet: Packet,
  packetSize: number,
  receivedAt: number,
): PacketEvent {
  const event = baseEvent(connection, session, receivedAt, packetSize);
  event.packetType = packetTypeOf[packet.cmd];
  switch (packet.cmd) {
    case 'connect':
      event.clientId = packet.clientId;
      event.username = packet.username ?? null;
      event.protocolLevel = packet.protocolVersion ?? null;
      event.keepAlive = packet.keepalive ?? null;
      event.cleanSession = packet.clean ?? null;
      event.willTopic = packet.will?.topic ?? null;
      break;
    case 'publish':
      event.topic = packet.topic;
      event.qos = packet.qos;
      event.retain = packet.retain;
      event.dup = packet.dup;
      event.messageId = packet.qos > 0 ? (packet.messageId ?? null) : null;
      event.payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      break;
    case 'subscribe':
      event.messageId = packet.messageId ?? null;
      event.subscriptions = packet.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos }));
      break;
    case 'unsubscribe':
      event.messageId = packet.messageId ?? null;
      event.subscriptions = packet.unsubscriptions.map((topic) => ({ topic, qos: 0 }));
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      event.messageId = packet.messageId ?? null;
      break;
    default:
      break;
  }
  return event;
}

/** Bytes kept of a refused packet, so an analyst sees what was sent without storing a flood. */
export const malformedExcerptBytes = 1024;

/** The event of a refused packet or connection: reason code, clause, and an excerpt of the bytes. */
export function malformedEventOf(
  connection: ConnectionIdentity,
  session: SessionIdentity,
  refusal: Refusal,
  receivedAt: number,
  bytes?: Buffer,
): PacketEvent {
  const event = baseEvent(connection, session, receivedAt, bytes?.length ?? 0);
  event.packetType = 'MALFORMED';
  event.malformedReason = refusal.code;
  event.malformedClause = refusal.clause;
  markRefused(event, 'protocol', 'closed');
  event.payload = bytes ? Buffer.from(bytes.subarray(0, malformedExcerptBytes)) : null;
  return event;
}
