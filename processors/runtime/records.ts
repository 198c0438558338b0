import type {
  ApprovedMessage,
  Finding as FindingRecord,
  HeldMessage,
  PacketEvent as PacketEventRecord,
  Verdict as VerdictRecord,
} from '../../schemas/types.generated.js';
import type { PacketEvent, PacketRef, PacketType, Verdict } from '../model.js';
import { isDeliverable } from '../steps/verdict.js';

/**
 * The boundary between the Avro records on the bus and the processors' model. The model's field
 * names are the record's own, so most of the mapping is a narrowing; what differs is said here.
 */

const INSPECTED_TYPES: ReadonlySet<string> = new Set<PacketType>([
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'PINGREQ',
  'DISCONNECT',
  'MALFORMED',
]);

/**
 * The packet event as the steps see it. SUBACK, UNSUBACK and PINGRESP only ever travel from a server
 * to a client, and UNKNOWN is a type the edge could not name, so from a device each of them is a
 * malformed packet (MQTT-4.8.0-1 lets the server close on it); the steps judge it as MALFORMED.
 */
export function toInspectedEvent(record: PacketEventRecord): PacketEvent {
  const known = INSPECTED_TYPES.has(record.packetType);
  return {
    packetType: known ? (record.packetType as PacketType) : 'MALFORMED',
    clientId: record.clientId,
    username: record.username,
    sourceIp: record.sourceIp,
    topic: record.topic,
    payload: record.payload,
    qos: record.qos,
    retain: record.retain,
    receivedAt: record.receivedAt,
    authResult: record.authResult,
    malformedReason: known
      ? record.malformedReason
      : (record.malformedReason ?? `unexpected packet type ${record.packetType} from a client`),
    subscriptions: record.subscriptions,
    edgeAction: record.edgeAction,
    refusal: record.refusal,
    acl: record.acl,
  };
}

/** Avro offsets are longs; Kafka's are decimal strings. Offsets stay far below 2^53. */
function packetRefRecord(ref: PacketRef): VerdictRecord['packetRef'] {
  return { topic: ref.topic, partition: ref.partition, offset: Number(ref.offset) };
}

/**
 * The verdict record of one packet event. Identity fields (event id, proxy, original packet type,
 * topic) come from the record itself, so a verdict names what the edge saw even when the steps judged
 * the event as another type. `decisionIfEnforced` has no field in the contract and is not written.
 */
export function toVerdictRecord(verdict: Verdict, source: PacketEventRecord): VerdictRecord {
  return {
    eventId: source.eventId,
    clientId: source.clientId,
    packetType: source.packetType,
    sourceIp: source.sourceIp,
    proxyId: source.proxyId,
    topic: source.topic,
    decision: verdict.decision,
    mode: verdict.mode,
    findings: verdict.findings.map(
      (f): FindingRecord => ({
        ruleId: f.ruleId,
        class: f.class,
        stage: f.stage,
        severity: f.severity,
        action: f.action,
        evidence: f.evidence,
        location: f.location,
        shadow: f.shadow,
      }),
    ),
    packetRef: packetRefRecord(verdict.packetRef),
    receivedAt: verdict.receivedAt,
    decidedAt: verdict.decidedAt,
    processingLatencyMs: verdict.decidedAt - verdict.receivedAt,
    review: null,
  };
}

/**
 * The approved record of what the verdict step emitted: the message (topic, payload, QoS, retain) is
 * the step's output as it is, the identity (event id, addresses, times) the packet record's. Only a
 * deliverable PUBLISH is ever emitted; anything else here is a bug and throws.
 */
export function toApprovedRecord(
  message: PacketEvent,
  source: PacketEventRecord,
  packetRef: PacketRef,
  approvedAt: number,
): ApprovedMessage {
  if (!isDeliverable(message) || message.topic === null || message.qos === null) {
    throw new Error(`event ${source.eventId} is not a deliverable PUBLISH and cannot be approved`);
  }
  return {
    eventId: source.eventId,
    clientId: message.clientId,
    topic: message.topic,
    payload: message.payload as Buffer,
    qos: message.qos,
    retain: message.retain,
    sourceIp: source.sourceIp,
    proxyId: source.proxyId,
    receivedAt: source.receivedAt,
    approvedAt,
    packetRef: packetRefRecord(packetRef),
  };
}

/**
 * The held record of a quarantined PUBLISH: the message as the device sent it (the packet record's
 * topic, payload, QoS and retain, not a step's rewrite) with the verdict's findings, so an operator
 * decides on exactly what would reach the origin. Null for anything that could never be delivered
 * (a refused packet, another packet type): there is nothing to release.
 */
export function toHeldRecord(
  verdict: Verdict,
  source: PacketEventRecord,
  packetRef: PacketRef,
  heldAt: number,
): HeldMessage | null {
  if (verdict.decision !== 'quarantine') return null;
  if (!isDeliverable(toInspectedEvent(source)) || source.topic === null || source.qos === null) return null;
  return {
    heldId: source.eventId,
    clientId: source.clientId,
    username: source.username,
    sourceIp: source.sourceIp,
    proxyId: source.proxyId,
    topic: source.topic,
    payload: source.payload as Buffer,
    qos: source.qos,
    retain: source.retain,
    findings: toVerdictRecord(verdict, source).findings,
    packetRef: packetRefRecord(packetRef),
    receivedAt: source.receivedAt,
    heldAt,
  };
}

/** Findings the runtime itself raises; they are listed in docs/processors.md beside the step rules. */
export const RUNTIME_RULES = {
  undecodable: 'RT-UNDECODABLE',
  inspectionError: 'RT-INSPECTION-ERROR',
} as const;

/**
 * A record that cannot be read as a packet event still gets its one verdict (block: nothing can be
 * said about it), so an analyst sees it; its event id is made from its position in the log.
 */
export function undecodableVerdict(input: {
  readonly clientId: string;
  readonly packetRef: PacketRef;
  readonly receivedAt: number;
  readonly decidedAt: number;
  readonly reason: string;
}): VerdictRecord {
  const ref = input.packetRef;
  return {
    eventId: `undecodable:${ref.topic}/${ref.partition}/${ref.offset}`,
    clientId: input.clientId,
    packetType: 'UNKNOWN',
    sourceIp: '',
    proxyId: '',
    topic: null,
    decision: 'block',
    mode: 'enforce',
    findings: [
      {
        ruleId: RUNTIME_RULES.undecodable,
        class: 'protocol',
        stage: 'validate',
        severity: 'high',
        action: 'block',
        evidence: input.reason.slice(0, 120),
        location: 'record',
        shadow: false,
      },
    ],
    packetRef: packetRefRecord(ref),
    receivedAt: input.receivedAt,
    decidedAt: input.decidedAt,
    processingLatencyMs: input.decidedAt - input.receivedAt,
    review: null,
  };
}

/**
 * A step threw on this event (a bug, never expected): the event is quarantined for review rather than
 * let through unchecked or allowed to stop the partition.
 */
export function inspectionErrorVerdict(
  source: PacketEventRecord,
  packetRef: PacketRef,
  decidedAt: number,
  reason: string,
): VerdictRecord {
  return toVerdictRecord(
    {
      clientId: source.clientId,
      packetType: 'MALFORMED',
      packetRef,
      decision: 'quarantine',
      decisionIfEnforced: 'quarantine',
      mode: 'enforce',
      findings: [
        {
          ruleId: RUNTIME_RULES.inspectionError,
          class: 'protocol',
          stage: 'validate',
          severity: 'high',
          action: 'quarantine',
          evidence: reason.slice(0, 120),
          location: 'processor',
          shadow: false,
        },
      ],
      receivedAt: source.receivedAt,
      decidedAt,
    },
    source,
  );
}

/**
 * Changelog records are keyed `<store>/<key>`: store names (`anomaly.device`) contain no '/', keys
 * (client ids, addresses) may, so the first '/' separates them.
 */
export function changelogKey(store: string, key: string): string {
  return `${store}/${key}`;
}

export function parseChangelogKey(text: string): { store: string; key: string } | null {
  const slash = text.indexOf('/');
  if (slash <= 0) return null;
  return { store: text.slice(0, slash), key: text.slice(slash + 1) };
}
