import { PacketType } from '../protocol/fixed-header.js';

/** The six tiers, in the order they are evaluated; the first that refuses names the decision. */
export const rateLimitTiers = ['global', 'ip', 'connect', 'publish', 'subscribe', 'client'] as const;
export type RateLimitTier = (typeof rateLimitTiers)[number];

/**
 * What a tier does with a packet it refuses. 'reject' is the packet type's own refusal (see
 * `RateLimitAction`); 'delay' pauses reading until the bucket can pay, bounded by `maxDelayMs`;
 * 'disconnect' closes the connection.
 */
export const tierResponses = ['reject', 'delay', 'disconnect'] as const;
export type TierResponse = (typeof tierResponses)[number];

/**
 * What the connection layer does with a refused packet:
 * - 'refuse-connack': CONNACK 0x05 (not authorized), then close (CONNECT only);
 * - 'suback-failure': SUBACK with 0x80 for every filter of the SUBSCRIBE;
 * - 'drop': QoS 0 PUBLISH discarded, nothing sent back;
 * - 'ack-and-drop': QoS 1 PUBACK / QoS 2 PUBREC sent, message discarded and recorded as a verdict
 *   (MQTT 3.1.1 §3.3.5 lets a server ack and discard; it may not leave the PUBLISH unanswered);
 * - 'delay': stop reading for `delayMs`, then check the same packet again;
 * - 'disconnect': close the connection.
 */
export const rateLimitActions = [
  'refuse-connack',
  'suback-failure',
  'drop',
  'ack-and-drop',
  'delay',
  'disconnect',
] as const;
export type RateLimitAction = (typeof rateLimitActions)[number];

/** What a limited QoS 1/2 PUBLISH gets when its tier answers 'reject'. */
export type QosPublishRejection = 'ack-and-drop' | 'disconnect';

export interface RateCheck {
  readonly ip: string;
  /** The session's client id; '' before CONNECT is accepted (the client tiers are then skipped). */
  readonly clientId: string;
  /** MQTT control packet type, `PacketType.*`. */
  readonly packetType: number;
  /** Whole packet size on the wire, fixed header included. */
  readonly bytes: number;
  /** PUBLISH QoS; it decides between drop and ack-and-drop. */
  readonly qos?: 0 | 1 | 2;
}

export type RateDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly tier: RateLimitTier;
      readonly action: Exclude<RateLimitAction, 'delay'>;
    }
  | {
      readonly allowed: false;
      readonly tier: RateLimitTier;
      readonly action: 'delay';
      readonly delayMs: number;
    };

/** Rate in units per second and the bucket size; `perSecond` 0 turns the limit off. */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

export interface TierPolicy {
  readonly packets: Rate;
  /** Bytes limit; absent for tiers where bytes say nothing the packet count does not (CONNECT, SUBSCRIBE). */
  readonly bytes?: Rate;
  readonly response: TierResponse;
}

export interface RateLimitPolicy {
  readonly tiers: Readonly<Record<RateLimitTier, TierPolicy>>;
  readonly qosPublishRejection: QosPublishRejection;
  /** Longest pause a 'delay' answer may ask for; a longer wait falls back to the packet's rejection. */
  readonly maxDelayMs: number;
  /** Upper bound of per-IP and per-client bucket entries held in memory. */
  readonly maxIpBuckets: number;
  readonly maxClientBuckets: number;
}

const off: Rate = { perSecond: 0, burst: 0 };

/** The brief's six tiers; byte limits start off because the brief gives no figure for them. */
export const defaultRateLimitPolicy: RateLimitPolicy = {
  tiers: {
    global: { packets: { perSecond: 10_000, burst: 5_000 }, bytes: off, response: 'reject' },
    ip: { packets: { perSecond: 100, burst: 1_000 }, bytes: off, response: 'reject' },
    connect: { packets: { perSecond: 10, burst: 500 }, response: 'reject' },
    publish: { packets: { perSecond: 100, burst: 500 }, bytes: off, response: 'reject' },
    subscribe: { packets: { perSecond: 20, burst: 500 }, response: 'reject' },
    client: { packets: { perSecond: 50, burst: 500 }, bytes: off, response: 'reject' },
  },
  qosPublishRejection: 'ack-and-drop',
  maxDelayMs: 1_000,
  maxIpBuckets: 50_000,
  maxClientBuckets: 50_000,
};

/**
 * Packets no tier counts: acknowledgements answer the server's own traffic (dropping one makes the
 * server resend, more load, not less) and DISCONNECT ends the session.
 */
export function isExemptPacketType(packetType: number): boolean {
  return (
    packetType === PacketType.PUBACK ||
    packetType === PacketType.PUBREC ||
    packetType === PacketType.PUBREL ||
    packetType === PacketType.PUBCOMP ||
    packetType === PacketType.DISCONNECT
  );
}

/**
 * The refusal MQTT 3.1.1 offers for each packet type. PINGREQ and UNSUBSCRIBE have none: the server
 * MUST answer them (MQTT-3.12.4-1, MQTT-3.10.4-4), so answering late ('delay') is the only refusal
 * that keeps the spec.
 */
export function rejectionOf(
  packetType: number,
  qos: 0 | 1 | 2,
  qosPublishRejection: QosPublishRejection,
): RateLimitAction {
  switch (packetType) {
    case PacketType.CONNECT:
      return 'refuse-connack';
    case PacketType.SUBSCRIBE:
      return 'suback-failure';
    case PacketType.PUBLISH:
      return qos === 0 ? 'drop' : qosPublishRejection;
    default:
      return 'delay';
  }
}
