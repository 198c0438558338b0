import { isIP } from 'node:net';
import { TextDecoder } from 'node:util';
import type { Delivery, PacketEvent, Verdict } from '../schemas/types.generated.js';

/**
 * Kafka records -> rows of the forensic tables (JSONEachRow objects), pure. Times are written as
 * UTC text with milliseconds, which DateTime64(3, 'UTC') parses exactly whatever the session's
 * date_time_input_format; absent optional fields become the column's neutral value.
 */
export interface KafkaCoordinates {
  readonly partition: number;
  readonly offset: string;
}

export type Row = Record<string, string | number | boolean | readonly (string | number | boolean)[]>;

export function utcText(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
}

/** IPv6 column text: IPv4 becomes its IPv4-mapped form; anything unparsable becomes '::'. */
export function ipv6Text(address: string): string {
  const kind = isIP(address);
  if (kind === 4) return `::ffff:${address}`;
  if (kind === 6) return address;
  return '::';
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Payload as text an analyst can search, or base64 when it is not UTF-8 (flagged). */
export function payloadText(payload: Buffer | null): { text: string; binary: boolean } {
  if (!payload || payload.length === 0) return { text: '', binary: false };
  try {
    const text = strictUtf8.decode(payload);
    // NUL cannot round-trip through every client format; such payloads are binary in practice.
    if (!text.includes('\u0000')) return { text, binary: false };
  } catch {
    // not UTF-8: fall through to base64
  }
  return { text: payload.toString('base64'), binary: true };
}

export function packetRow(event: PacketEvent, at: KafkaCoordinates): Row {
  const payload = payloadText(event.payload);
  return {
    received_at: utcText(event.receivedAt),
    client_id: event.clientId,
    event_id: event.eventId,
    packet_type: event.packetType,
    username: event.username ?? '',
    source_ip: ipv6Text(event.sourceIp),
    source_port: event.sourcePort,
    proxy_id: event.proxyId,
    connection_id: event.connectionId,
    topic: event.topic ?? '',
    qos: event.qos ?? 0,
    retain: event.retain,
    dup: event.dup,
    message_id: event.messageId ?? 0,
    payload: payload.text,
    payload_binary: payload.binary,
    payload_size: event.payload?.length ?? 0,
    packet_size: event.packetSize,
    protocol_level: event.protocolLevel ?? 0,
    keep_alive: event.keepAlive ?? 0,
    clean_session: event.cleanSession ?? false,
    will_topic: event.willTopic ?? '',
    'subscriptions.topic': (event.subscriptions ?? []).map((s) => s.topic),
    'subscriptions.qos': (event.subscriptions ?? []).map((s) => s.qos),
    auth_result: event.authResult ?? '',
    edge_action: event.edgeAction ?? '',
    refusal: event.refusal ?? '',
    acl_publish: event.acl?.publish ?? [],
    acl_subscribe: event.acl?.subscribe ?? [],
    malformed_reason: event.malformedReason ?? '',
    malformed_clause: event.malformedClause ?? '',
    tls_client_subject: event.tlsClientSubject ?? '',
    kafka_partition: at.partition,
    kafka_offset: at.offset,
  };
}

export function verdictRow(verdict: Verdict, at: KafkaCoordinates): Row {
  const f = verdict.findings;
  return {
    decided_at: utcText(verdict.decidedAt),
    received_at: utcText(verdict.receivedAt),
    client_id: verdict.clientId,
    event_id: verdict.eventId,
    packet_type: verdict.packetType,
    source_ip: ipv6Text(verdict.sourceIp),
    proxy_id: verdict.proxyId,
    topic: verdict.topic ?? '',
    decision: verdict.decision,
    mode: verdict.mode,
    'findings.rule_id': f.map((x) => x.ruleId),
    'findings.class': f.map((x) => x.class),
    'findings.stage': f.map((x) => x.stage),
    'findings.severity': f.map((x) => x.severity),
    'findings.action': f.map((x) => x.action),
    'findings.evidence': f.map((x) => x.evidence),
    'findings.location': f.map((x) => x.location),
    'findings.shadow': f.map((x) => x.shadow),
    packet_partition: verdict.packetRef.partition,
    packet_offset: String(verdict.packetRef.offset),
    processing_latency_ms: verdict.processingLatencyMs,
    kafka_partition: at.partition,
    kafka_offset: at.offset,
  };
}

export function deliveryRow(delivery: Delivery, at: KafkaCoordinates): Row {
  return {
    delivered_at: utcText(delivery.deliveredAt),
    received_at: utcText(delivery.receivedAt),
    approved_at: utcText(delivery.approvedAt),
    client_id: delivery.clientId,
    event_id: delivery.eventId,
    topic: delivery.topic,
    qos: delivery.qos,
    retain: delivery.retain,
    payload_size: delivery.payloadSize,
    bridge_id: delivery.bridgeId,
    end_to_end_ms: delivery.endToEndMs,
    attempts: delivery.attempts,
    packet_partition: delivery.packetRef.partition,
    packet_offset: String(delivery.packetRef.offset),
    kafka_partition: at.partition,
    kafka_offset: at.offset,
  };
}
