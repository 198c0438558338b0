import type { Packet } from 'mqtt-packet';
import type { PacketEvent } from '../../schemas/types.generated.js';
import type { AuthDecision, AuthRequest } from '../auth/index.js';
import type { RateCheck, RateDecision } from '../limits/index.js';
import type { IngestMetrics } from '../metrics.js';
import type { ConnectionIdentity } from '../packet-events.js';
import type { ConnectionSession, Frame, InboundPacket, SessionAction } from '../protocol/index.js';
import type { OwedMessage } from '../session-queue.js';

/** What a device may do once authenticated: its ACL, substituted for its session. */
export interface DeviceAccess {
  canPublish(topic: string): boolean;
  canSubscribe(filter: string): boolean;
  /** Whether a downlink message on this topic may reach the session (checked on every delivery). */
  canRead(topic: string): boolean;
  /** The filters granted to this session, substituted: recorded on the CONNECT event. */
  granted(): { publish: string[]; subscribe: string[] };
}

/**
 * A rate-limit refusal a QoS 1/2 PUBLISH is acknowledged and dropped for: the packet still goes
 * through the session like any other (its identifier, duplicates, PUBREL), only its message is not
 * delivered.
 */
export type AckAndDrop = Extract<RateDecision, { allowed: false }> & { readonly action: 'ack-and-drop' };

/**
 * A packet read and not handled yet; `admitted` once it passed the rate limits (it waits for a
 * store slot), with `dropped` the limit it is acknowledged and dropped for.
 */
export type QueuedPacket = InboundPacket & { readonly admitted?: boolean; readonly dropped?: AckAndDrop };

/** What a restored session brings to an accepted CONNECT. */
export interface RestoredSession {
  readonly sessionPresent: boolean;
  readonly subscriptions: ReadonlyMap<string, number>;
  /** What a persistent session is owed from before (unfinished exchanges first), oldest first. */
  readonly owed?: readonly OwedMessage[];
}

/**
 * What the edge's steps and packet handlers may do with the connection a packet arrived on (Envoy's
 * filter callbacks): the lookups of the edge, the session state machine, recording and answering.
 * Socket, queue, pauses and the connection's lifecycle stay with the connection.
 */
export interface ConnectionPort {
  readonly identity: ConnectionIdentity;
  readonly metrics: IngestMetrics;
  readonly session: ConnectionSession;
  /** Filter -> granted QoS of this session. */
  readonly subscriptions: Map<string, number>;
  /** The client id this session goes by: the CONNECT's, or the one assigned for an empty one. */
  readonly clientId: string;
  /**
   * The device the client tier of the rate limits counts against: the client id, or for a session
   * under an assigned id (zero-length client id) the device it authenticated as, so that fresh
   * assigned ids do not bring fresh buckets.
   */
  readonly rateKey: string;
  readonly access: DeviceAccess | undefined;
  /** Whether the connection still handles packets (not closing or closed). */
  readonly open: boolean;
  /** Whether its CONNECT was accepted (a session runs). */
  readonly accepted: boolean;
  /** Whether the session outlives the connection (CleanSession 0); known once the CONNECT is identified. */
  readonly persistent: boolean;
  now(): number;

  checkRate(check: RateCheck, nowMs: number): RateDecision;
  authenticate(request: AuthRequest): Promise<AuthDecision>;
  accessOf(decision: Extract<AuthDecision, { allow: true }>): DeviceAccess;
  claimSession(): Promise<RestoredSession>;
  releaseSession(): void;
  subscriptionsChanged(added: ReadonlyMap<string, number>, removed: readonly string[]): void;
  /** Sends the retained messages the granted filters match (after the SUBACK). */
  deliverRetained(granted: ReadonlyMap<string, number>): void;

  eventOf(packet: Packet, packetSize: number, receivedAt?: number): PacketEvent;
  /** Sends the event to Kafka; `onStored` runs once the in-sync replicas have it (or it failed). */
  record(event: PacketEvent, onStored?: (error?: Error) => void): void;
  /** Records a QoS 1/2 PUBLISH's event; its PUBACK (PUBREC) goes out once Kafka acknowledged it. */
  recordThenAcknowledge(event: PacketEvent, packetId: number, onStored?: () => void): void;
  send(packet: Packet): void;
  /** Carries out what the session state machine decided. */
  apply(actions: readonly SessionAction[], frame?: Frame, dropped?: AckAndDrop): void;
  /** The session's deadline moved (a packet received, a CONNECT accepted). */
  deadlineChanged(): void;

  /** The CONNECT's identity, once authentication decided: the session goes by it from now on. */
  identify(connect: { clientId: string; username: string | null; cleanSession: boolean }): void;
  grant(access: DeviceAccess): void;
  /** The CONNECT is accepted: CONNACK 0 with the restored session, and the session runs. */
  accept(restored: RestoredSession): void;
  close(reason: string): void;
  /** Handles and reads nothing more until `until` settles (a lookup in progress). */
  pause(until: Promise<unknown>): void;
  /**
   * A failure inside the edge (a lookup that threw, a bug) ends the connection under its own code,
   * recording `event` (the packet it interrupted) as refused with `internal_error:<step>`.
   */
  failInternally(error: unknown, step: string, event?: () => PacketEvent): void;
}

/** SUBACK return code for a filter refused (MQTT-3.9.3). */
export const subackFailure = 0x80;
