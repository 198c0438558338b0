import type { Finding, QuarantineAction } from '../schemas/types.generated.js';

/**
 * What the console knows about held messages, as the API, the CLI and the pages see it. The held
 * records themselves are `HeldMessage`s in `sentinel.quarantine`; decisions are
 * `QuarantineDecision`s in `sentinel.quarantine.decisions`.
 */
export type HeldStatus = 'held' | 'released' | 'dropped' | 'expired';

export const heldStatuses: readonly HeldStatus[] = ['held', 'released', 'dropped', 'expired'];

export const statusOfAction: Readonly<Record<QuarantineAction, Exclude<HeldStatus, 'held'>>> = {
  release: 'released',
  drop: 'dropped',
  expire: 'expired',
};

export type Role = 'viewer' | 'operator';

/** Who is asking: an operator signed in with a password (browser) or a bearer token (CLI, API). */
export interface Principal {
  readonly name: string;
  readonly role: Role;
  readonly via: 'session' | 'token';
}

export interface DecisionView {
  readonly decisionId: string;
  readonly action: QuarantineAction;
  readonly operator: string;
  readonly reason: string;
  readonly decidedAt: number;
}

export interface HeldSummary {
  readonly heldId: string;
  readonly clientId: string;
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly sourceIp: string;
  readonly payloadSize: number;
  readonly receivedAt: number;
  readonly heldAt: number;
  /** Rule ids of the findings, in order, without repeats. */
  readonly ruleIds: readonly string[];
  /** Finding classes (sqli, xss, size, ...), without repeats. */
  readonly classes: readonly string[];
  readonly status: HeldStatus;
  readonly decision: DecisionView | null;
}

/** A span of the payload text a finding's evidence was found at (UTF-16 indices into `payload.text`). */
export interface Highlight {
  readonly start: number;
  readonly end: number;
  readonly ruleId: string;
}

export interface PayloadView {
  readonly size: number;
  readonly base64: string;
  /** The payload as UTF-8 text; null when it is not valid UTF-8. */
  readonly text: string | null;
  /** Pretty-printed JSON; null when the text is not JSON. */
  readonly json: string | null;
  /** Classic hex dump (offset, 16 bytes in hex, ASCII), bounded. */
  readonly hex: string;
  /** Where the findings' evidence sits in `text` (empty when it cannot be located). */
  readonly highlights: readonly Highlight[];
}

export interface HeldDetail extends HeldSummary {
  readonly username: string | null;
  readonly proxyId: string;
  readonly packetRef: { readonly topic: string; readonly partition: number; readonly offset: number };
  readonly findings: readonly Finding[];
  readonly payload: PayloadView;
}

export interface HeldFilter {
  readonly status?: HeldStatus | 'all';
  readonly clientId?: string;
  readonly ruleId?: string;
  /** heldAt bounds, epoch ms, inclusive. */
  readonly since?: number;
  readonly until?: number;
}

export interface HeldPage {
  readonly items: readonly HeldSummary[];
  readonly total: number;
}

/** One verdict as the live stream sends it (Server-Sent Events, event name `verdict`). */
export interface VerdictEvent {
  readonly eventId: string;
  readonly clientId: string;
  readonly packetType: string;
  readonly topic: string | null;
  readonly decision: string;
  readonly mode: string;
  readonly ruleIds: readonly string[];
  readonly decidedAt: number;
  readonly operator: string | null;
}

/** A row of the top-offenders table (forensics named query `top-offenders`). */
export interface OffenderRow {
  readonly clientId: string;
  readonly ip: string;
  readonly blocked: number;
  readonly quarantined: number;
  /** Up to five rule ids seen, sorted. */
  readonly rules: readonly string[];
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/** A row of a device's timeline (forensics named query `device-timeline`): a packet or a verdict. */
export interface TimelineRow {
  readonly at: number;
  readonly kind: 'packet' | 'verdict';
  readonly eventId: string;
  /** Packet type for a packet, decision for a verdict. */
  readonly what: string;
  readonly topic: string | null;
  readonly ip: string;
  readonly detail: string;
}
