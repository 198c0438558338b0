/**
 * What the inspection steps read and what they emit. `PacketEvent` is the narrow view of the
 * sentinel.packets Avro record the steps need: the real record carries more fields (proxy id,
 * packet size, flags) and is assignable to this type because the names below are the record's own.
 */
export type PacketType =
  | 'CONNECT'
  | 'CONNACK'
  | 'PUBLISH'
  | 'PUBACK'
  | 'PUBREC'
  | 'PUBREL'
  | 'PUBCOMP'
  | 'SUBSCRIBE'
  | 'UNSUBSCRIBE'
  | 'PINGREQ'
  | 'DISCONNECT'
  | 'MALFORMED';

export interface Subscription {
  readonly topic: string;
  readonly qos: number;
}

export interface PacketEvent {
  readonly packetType: PacketType;
  readonly clientId: string;
  readonly username: string | null;
  readonly sourceIp: string;
  readonly topic: string | null;
  readonly payload: Buffer | null;
  readonly qos: number | null;
  readonly retain: boolean;
  /** Epoch milliseconds at which the edge received the packet. */
  readonly receivedAt: number;
  /** On CONNECT events: 'allowed', 'denied' or 'error'; null elsewhere. */
  readonly authResult: string | null;
  readonly malformedReason: string | null;
  /** SUBSCRIBE filters, UNSUBSCRIBE filters (qos 0); null on other packets. */
  readonly subscriptions: readonly Subscription[] | null;
  /** What the edge did when it did not simply accept (e.g. 'will', 'acl_denied:acked_and_dropped'). */
  readonly edgeAction: string | null;
  /** Set when the edge refused the packet ('acl_denied', 'rate_limited', ...): it is never delivered. */
  readonly refusal: string | null;
  /** On an accepted CONNECT: the topic filters the session was granted, already substituted. */
  readonly acl: SessionAcl | null;
}

export interface SessionAcl {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** Where the event sits in the log; the memory runtime numbers events from offset 0. */
export interface PacketRef {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export type Stage = 'admission' | 'validate' | 'patterns' | 'anomaly';
export type Severity = 'critical' | 'high' | 'medium' | 'low';
/** What a finding asks for; 'flag' records it and lets the message through. */
export type FindingAction = 'block' | 'quarantine' | 'flag';
export type Decision = 'allow' | 'block' | 'quarantine';
/** Global mode: 'shadow' records every finding but allows everything. */
export type Mode = 'enforce' | 'shadow';

export type FindingClass =
  | 'edge-refusal'
  | 'acl'
  | 'sqli'
  | 'xss'
  | 'command-injection'
  | 'path-traversal'
  | 'protocol'
  | 'payload-policy'
  | 'topic-policy'
  | 'topic-binding'
  | 'auth'
  | 'rate'
  | 'size'
  | 'entropy'
  | 'connection-rate'
  | 'auth-burst';

export interface Finding {
  readonly ruleId: string;
  readonly class: FindingClass;
  readonly stage: Stage;
  readonly severity: Severity;
  readonly action: FindingAction;
  /** Short excerpt of what matched, at most EVIDENCE_MAX_CHARS, control characters escaped. */
  readonly evidence: string;
  /** Where it matched: 'topic', 'clientId', 'payload.json:$.cmd', 'payload.text', 'subscriptions[0]'. */
  readonly location: string;
  /** Recorded only: the rule (or the whole policy) is in shadow mode, so it does not decide. */
  readonly shadow: boolean;
}

export interface Verdict {
  readonly clientId: string;
  readonly packetType: PacketType;
  readonly packetRef: PacketRef;
  readonly decision: Decision;
  /** What enforce mode would have decided; differs from `decision` only in shadow mode or on shadow rules. */
  readonly decisionIfEnforced: Decision;
  readonly mode: Mode;
  readonly findings: readonly Finding[];
  readonly receivedAt: number;
  readonly decidedAt: number;
}

export const EVIDENCE_MAX_CHARS = 120;
const LOCATION_MAX_CHARS = 200;

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters to escape them is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Bounded, printable excerpt for a finding: an analyst reads it, a log line carries it. */
export function excerpt(text: string, start = 0, length = EVIDENCE_MAX_CHARS): string {
  const from = Math.max(0, Math.min(start, text.length));
  const slice = text.slice(from, from + Math.min(length, EVIDENCE_MAX_CHARS));
  const printable = slice.replace(
    CONTROL_CHARACTERS,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return printable.length > EVIDENCE_MAX_CHARS ? printable.slice(0, EVIDENCE_MAX_CHARS) : printable;
}

export function boundedLocation(location: string): string {
  return location.length > LOCATION_MAX_CHARS ? `${location.slice(0, LOCATION_MAX_CHARS - 1)}…` : location;
}
