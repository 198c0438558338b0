import { isIP } from 'node:net';
import { TextDecoder } from 'node:util';
import type {
  Delivery,
  Finding,
  HeldMessage,
  PacketEvent,
  QuarantineDecision,
  Verdict,
} from '../schemas/types.generated.js';

/**
 * Kafka records -> rows of the forensic tables, pure. A row is the list of its values in the order
 * of its table's column list below, inserted as JSONCompactEachRow (`[v1, v2, ...]` per line): the
 * engine reads values by position instead of matching 34 names per row, which halves its parse cost
 * (bench/forensics.bench.ts), and no object is built per record. Times are written as UTC text
 * with milliseconds, which DateTime64(3, 'UTC') parses exactly whatever the session's
 * date_time_input_format; absent optional fields become the column's neutral value.
 */
export interface KafkaCoordinates {
  readonly partition: number;
  readonly offset: number;
}

export type Cell = string | number | boolean | readonly (string | number | boolean)[];
export type Row = readonly Cell[];

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/**
 * `YYYY-MM-DD hh:mm:ss.mmm` in UTC, what `new Date(ms).toISOString()` says without its T and Z, for
 * years 1970-9999, computed without a Date: two or three per record made it the sink's costliest
 * JavaScript. Days to a civil date after Howard Hinnant's `civil_from_days` (eras of 400 years
 * starting 1 March, so the leap day ends a year).
 */
export function utcText(epochMs: number): string {
  const ms = ((epochMs % 1000) + 1000) % 1000;
  const seconds = (epochMs - ms) / 1000;
  const second = ((seconds % 86_400) + 86_400) % 86_400;
  const z = (seconds - second) / 86_400 + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const m = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * m + 2) / 5) + 1;
  const month = m < 10 ? m + 3 : m - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const fraction = ms < 10 ? `00${ms}` : ms < 100 ? `0${ms}` : `${ms}`;
  return `${year}-${two(month)}-${two(day)} ${two(Math.floor(second / 3600))}:${two(Math.floor(second / 60) % 60)}:${two(second % 60)}.${fraction}`;
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

/** Columns of `packets` in the order packetRow writes them. */
export const packetColumns = [
  'received_at',
  'client_id',
  'event_id',
  'packet_type',
  'username',
  'source_ip',
  'source_port',
  'proxy_id',
  'connection_id',
  'topic',
  'qos',
  'retain',
  'dup',
  'message_id',
  'payload',
  'payload_binary',
  'payload_size',
  'packet_size',
  'protocol_level',
  'keep_alive',
  'clean_session',
  'will_topic',
  'subscriptions.topic',
  'subscriptions.qos',
  'auth_result',
  'edge_action',
  'refusal',
  'acl_publish',
  'acl_subscribe',
  'malformed_reason',
  'malformed_clause',
  'tls_client_subject',
  'kafka_partition',
  'kafka_offset',
] as const;

const none: readonly never[] = [];

export function packetRow(event: PacketEvent, at: KafkaCoordinates): Row {
  const payload = payloadText(event.payload);
  const subscriptions = event.subscriptions;
  return [
    utcText(event.receivedAt),
    event.clientId,
    event.eventId,
    event.packetType,
    event.username ?? '',
    ipv6Text(event.sourceIp),
    event.sourcePort,
    event.proxyId,
    event.connectionId,
    event.topic ?? '',
    event.qos ?? 0,
    event.retain,
    event.dup,
    event.messageId ?? 0,
    payload.text,
    payload.binary,
    event.payload?.length ?? 0,
    event.packetSize,
    event.protocolLevel ?? 0,
    event.keepAlive ?? 0,
    event.cleanSession ?? false,
    event.willTopic ?? '',
    subscriptions ? subscriptions.map((s) => s.topic) : none,
    subscriptions ? subscriptions.map((s) => s.qos) : none,
    event.authResult ?? '',
    event.edgeAction ?? '',
    event.refusal ?? '',
    event.acl?.publish ?? none,
    event.acl?.subscribe ?? none,
    event.malformedReason ?? '',
    event.malformedClause ?? '',
    event.tlsClientSubject ?? '',
    at.partition,
    at.offset,
  ];
}

/** Columns of `verdicts` in the order verdictRow writes them. */
/** The Nested findings columns, in the order `findingCells` writes them. */
const findingColumns = [
  'findings.rule_id',
  'findings.class',
  'findings.stage',
  'findings.severity',
  'findings.action',
  'findings.evidence',
  'findings.location',
  'findings.shadow',
] as const;

export const verdictColumns = [
  'decided_at',
  'received_at',
  'client_id',
  'event_id',
  'packet_type',
  'source_ip',
  'proxy_id',
  'topic',
  'decision',
  'mode',
  ...findingColumns,
  'packet_topic',
  'packet_partition',
  'packet_offset',
  'processing_latency_ms',
  'review_decision_id',
  'review_operator',
  'review_reason',
  'kafka_partition',
  'kafka_offset',
] as const;

/** The eight parallel arrays of a findings Nested column, in its declared order. */
function findingCells(f: readonly Finding[]): Cell[] {
  // Most verdicts have no findings: one shared empty array instead of eight new ones.
  if (f.length === 0) return [none, none, none, none, none, none, none, none];
  return [
    f.map((x) => x.ruleId),
    f.map((x) => x.class),
    f.map((x) => x.stage),
    f.map((x) => x.severity),
    f.map((x) => x.action),
    f.map((x) => x.evidence),
    f.map((x) => x.location),
    f.map((x) => x.shadow),
  ];
}

export function verdictRow(verdict: Verdict, at: KafkaCoordinates): Row {
  const f = verdict.findings;
  const some = f.length > 0;
  const review = verdict.review;
  return [
    utcText(verdict.decidedAt),
    utcText(verdict.receivedAt),
    verdict.clientId,
    verdict.eventId,
    verdict.packetType,
    ipv6Text(verdict.sourceIp),
    verdict.proxyId,
    verdict.topic ?? '',
    verdict.decision,
    verdict.mode,
    // Most verdicts have no findings: one shared empty array instead of eight new ones.
    some ? f.map((x) => x.ruleId) : none,
    some ? f.map((x) => x.class) : none,
    some ? f.map((x) => x.stage) : none,
    some ? f.map((x) => x.severity) : none,
    some ? f.map((x) => x.action) : none,
    some ? f.map((x) => x.evidence) : none,
    some ? f.map((x) => x.location) : none,
    some ? f.map((x) => x.shadow) : none,
    verdict.packetRef.topic,
    verdict.packetRef.partition,
    verdict.packetRef.offset,
    verdict.processingLatencyMs,
    review?.decisionId ?? '',
    review?.operator ?? '',
    review?.reason ?? '',
    at.partition,
    at.offset,
  ];
}

/** Columns of `deliveries` in the order deliveryRow writes them. */
export const deliveryColumns = [
  'delivered_at',
  'received_at',
  'approved_at',
  'client_id',
  'event_id',
  'topic',
  'qos',
  'retain',
  'payload_size',
  'bridge_id',
  'end_to_end_ms',
  'attempts',
  'packet_partition',
  'packet_offset',
  'kafka_partition',
  'kafka_offset',
] as const;

export function deliveryRow(delivery: Delivery, at: KafkaCoordinates): Row {
  return [
    utcText(delivery.deliveredAt),
    utcText(delivery.receivedAt),
    utcText(delivery.approvedAt),
    delivery.clientId,
    delivery.eventId,
    delivery.topic,
    delivery.qos,
    delivery.retain,
    delivery.payloadSize,
    delivery.bridgeId,
    delivery.endToEndMs,
    delivery.attempts,
    delivery.packetRef.partition,
    delivery.packetRef.offset,
    at.partition,
    at.offset,
  ];
}

/**
 * Columns of `held_messages` in the order heldMessageRow writes them. The payload goes as base64 to
 * the ephemeral payload_base64, from which the table stores the bytes (JSON text carries no bytes).
 */
export const heldMessageColumns = [
  'held_at',
  'received_at',
  'held_id',
  'client_id',
  'username',
  'source_ip',
  'proxy_id',
  'topic',
  'payload_base64',
  'payload_size',
  'qos',
  'retain',
  ...findingColumns,
  'packet_partition',
  'packet_offset',
  'kafka_partition',
  'kafka_offset',
] as const;

export function heldMessageRow(held: HeldMessage, at: KafkaCoordinates): Row {
  return [
    utcText(held.heldAt),
    utcText(held.receivedAt),
    held.heldId,
    held.clientId,
    held.username ?? '',
    ipv6Text(held.sourceIp),
    held.proxyId,
    held.topic,
    held.payload.toString('base64'),
    held.payload.length,
    held.qos,
    held.retain,
    ...findingCells(held.findings),
    held.packetRef.partition,
    held.packetRef.offset,
    at.partition,
    at.offset,
  ];
}

/** Columns of `quarantine_decisions` in the order decisionRow writes them. */
export const decisionColumns = [
  'decided_at',
  'held_at',
  'decision_id',
  'held_id',
  'client_id',
  'topic',
  'action',
  'operator',
  'reason',
  'kafka_partition',
  'kafka_offset',
] as const;

export function decisionRow(decision: QuarantineDecision, at: KafkaCoordinates): Row {
  return [
    utcText(decision.decidedAt),
    utcText(decision.heldAt),
    decision.decisionId,
    decision.heldId,
    decision.clientId,
    decision.topic,
    decision.action,
    decision.operator,
    decision.reason,
    at.partition,
    at.offset,
  ];
}

/** The column list of each table the sink writes, by Kafka topic role. */
export const sinkColumns = {
  packets: packetColumns,
  verdicts: verdictColumns,
  deliveries: deliveryColumns,
  quarantine: heldMessageColumns,
  decisions: decisionColumns,
} as const;
