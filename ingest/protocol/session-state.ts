import type {
  IConnectPacket,
  IPublishPacket,
  ISubscribePacket,
  IUnsubscribePacket,
  Packet,
  QoS,
} from 'mqtt-packet';
import type { ProtocolPolicy } from './policy.js';
import { type ConnackReturnCode, type Refusal, refuse } from './refusals.js';
import { effectiveKeepAliveSeconds } from './validate.js';

/** Things worth an event that do not close the connection. */
export type ProtocolEventCode =
  | 'SNT_MQTT_ACK_UNKNOWN_ID'
  | 'SNT_MQTT_PUBREL_UNKNOWN_ID'
  | 'SNT_MQTT_DUPLICATE_PUBLISH_SUPPRESSED'
  | 'SNT_MQTT_KEEPALIVE_CAPPED';

export interface ProtocolEvent {
  readonly code: ProtocolEventCode;
  readonly clause: string;
  readonly message: string;
  readonly packetId?: number;
}

export type CloseReason =
  | 'refused'
  | 'client-disconnect'
  | 'connect-refused'
  | 'transport-closed'
  /** The server could not go on (a lookup failed, a bug): not the client's doing. */
  | 'internal-error';

/** What the connection should do; the state machine itself never touches a socket or a timer. */
export type SessionAction =
  | { readonly kind: 'send'; readonly packet: Packet }
  /** Authenticate and authorise; answer with connectAccepted() or connectRefused(). */
  | { readonly kind: 'authenticate'; readonly connect: IConnectPacket }
  /** Write to Kafka; for QoS 1/2 call inboundStored(packetId) once Kafka acknowledged it. */
  | { readonly kind: 'deliver'; readonly publish: IPublishPacket }
  | { readonly kind: 'subscribe'; readonly subscribe: ISubscribePacket }
  | { readonly kind: 'unsubscribe'; readonly unsubscribe: IUnsubscribePacket }
  | { readonly kind: 'record'; readonly event: ProtocolEvent }
  /** Received while authenticating: hand it to receive() again after the CONNECT decision. */
  | { readonly kind: 'defer'; readonly packet: Packet }
  /**
   * A QoS 1/2 PUBLISH while the server still stores `maxInboundInFlight` earlier ones: the server is
   * the slow party, so stop reading and hand it to receive() again after the next inboundStored().
   */
  | { readonly kind: 'wait-for-store'; readonly packet: IPublishPacket }
  | {
      readonly kind: 'close';
      readonly reason: CloseReason;
      readonly refusal?: Refusal;
      /** MQTT-3.1.2-8: publish the will (closed without DISCONNECT, including for a protocol error). */
      readonly will?: NonNullable<IConnectPacket['will']>;
    };

export type SessionPhase = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

/** A downlink PUBLISH of QoS 1 or 2 as a persistent session keeps it (MQTT-4.4.0-1). */
export interface OutboundMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 1 | 2;
  readonly retain: boolean;
}

/** One not yet completed outbound exchange: the PUBLISH to send again, or only its PUBREL. */
export interface UnacknowledgedOutbound extends OutboundMessage {
  readonly packetId: number;
  /** PUBREC received: what is owed is the PUBREL, not the PUBLISH. */
  readonly released: boolean;
}

type InboundExchange = 'storing-qos1' | 'storing-qos2' | 'awaiting-pubrel';
type OutboundExchange = 'awaiting-puback' | 'awaiting-pubrec' | 'awaiting-pubcomp';

interface OutboundEntry {
  state: OutboundExchange;
  readonly message: OutboundMessage;
}

export type SessionPolicy = Pick<
  ProtocolPolicy,
  'connectTimeoutMs' | 'maxKeepAliveSeconds' | 'maxInboundInFlight' | 'maxOutboundInFlight'
>;

const noActions: readonly SessionAction[] = Object.freeze([]);

/**
 * The MQTT 3.1.1 server side of one connection as a pure state machine over packets and a clock
 * value (milliseconds). Packets arrive here already framed and validated (InboundPacketReader).
 */
export class ConnectionSession {
  readonly #policy: SessionPolicy;
  readonly #openedAtMs: number;
  #phase: SessionPhase = 'awaiting-connect';
  /** The CONNECT's will, published if the connection ends without DISCONNECT; nothing else of it is kept. */
  #will: IConnectPacket['will'];
  #keepAliveSeconds = 0;
  #lastPacketAtMs: number;
  // The two maps are made on first use: an idle session holds none (an empty Map is ~180 bytes).
  #inbound: Map<number, InboundExchange> | undefined;
  /** Inbound exchanges waiting for the server (Kafka), as opposed to waiting for the client's PUBREL. */
  #storing = 0;
  /** Each unacknowledged outbound packet id: where its exchange stands and what it carries (to send again on a resumed session). */
  #outbound: Map<number, OutboundEntry> | undefined;
  #nextOutboundId = 1;

  constructor(policy: SessionPolicy, openedAtMs: number) {
    this.#policy = policy;
    this.#openedAtMs = openedAtMs;
    this.#lastPacketAtMs = openedAtMs;
  }

  get phase(): SessionPhase {
    return this.#phase;
  }

  /** Keep Alive the server enforces, seconds (0 = none). */
  get keepAliveSeconds(): number {
    return this.#keepAliveSeconds;
  }

  #inboundExchanges(): Map<number, InboundExchange> {
    this.#inbound ??= new Map();
    return this.#inbound;
  }

  #outboundExchanges(): Map<number, OutboundEntry> {
    this.#outbound ??= new Map();
    return this.#outbound;
  }

  get inboundInFlight(): number {
    return this.#inbound?.size ?? 0;
  }

  get outboundInFlight(): number {
    return this.#outbound?.size ?? 0;
  }

  /** Inbound QoS 1/2 PUBLISHes received and not yet stored (their PUBACK / PUBREC waits for Kafka). */
  get inboundStoring(): number {
    return this.#storing;
  }

  /** When the connection must be closed if no further packet arrives (ms), or Infinity. */
  deadlineMs(): number {
    switch (this.#phase) {
      case 'awaiting-connect':
      case 'authenticating':
        // §3.1.4: close a connection that does not complete CONNECT in reasonable time.
        return this.#openedAtMs + this.#policy.connectTimeoutMs;
      case 'connected':
        // MQTT-3.1.2-24: one and a half times the Keep Alive after the last packet.
        return this.#keepAliveSeconds === 0
          ? Number.POSITIVE_INFINITY
          : this.#lastPacketAtMs + this.#keepAliveSeconds * 1500;
      case 'closed':
        return Number.POSITIVE_INFINITY;
    }
  }

  /**
   * The server stopped reading from this client (backpressure: Kafka is slow) and starts again at
   * `nowMs`. MQTT-3.1.2-24 is about what the server receives; while it was not reading it could not
   * receive anything, so that silence does not count against the client's Keep Alive.
   */
  resumeListening(nowMs: number): void {
    if (nowMs > this.#lastPacketAtMs) this.#lastPacketAtMs = nowMs;
  }

  /** Call when the clock reaches deadlineMs(); closes if nothing arrived meanwhile. */
  expire(nowMs: number): readonly SessionAction[] {
    if (this.#phase === 'closed' || nowMs < this.deadlineMs()) return noActions;
    if (this.#phase === 'connected') {
      return this.#close(
        'refused',
        refuse('SNT_MQTT_KEEPALIVE_EXPIRED', `nothing received for 1.5 x ${this.#keepAliveSeconds} s`),
      );
    }
    return this.#close(
      'refused',
      refuse('SNT_MQTT_CONNECT_TIMEOUT', `no CONNECT within ${this.#policy.connectTimeoutMs} ms`),
    );
  }

  receive(packet: Packet, nowMs: number): readonly SessionAction[] {
    if (this.#phase === 'closed') return noActions;
    if (this.#phase === 'authenticating') return [{ kind: 'defer', packet }];
    this.#lastPacketAtMs = nowMs;
    if (this.#phase === 'awaiting-connect') {
      if (packet.cmd !== 'connect') {
        // MQTT-3.1.0-1
        return this.refuse(refuse('SNT_MQTT_FIRST_PACKET_NOT_CONNECT', `first packet is ${packet.cmd}`));
      }
      return this.#onConnect(packet);
    }
    switch (packet.cmd) {
      case 'connect':
        // MQTT-3.1.0-2
        return this.refuse(refuse('SNT_MQTT_SECOND_CONNECT', 'a second CONNECT on the same connection'));
      case 'publish':
        return this.#onPublish(packet);
      case 'pubrel':
        return this.#onPubrel(packet.messageId ?? 0);
      case 'puback':
        return this.#onOutboundAck('puback', packet.messageId ?? 0);
      case 'pubrec':
        return this.#onOutboundAck('pubrec', packet.messageId ?? 0);
      case 'pubcomp':
        return this.#onOutboundAck('pubcomp', packet.messageId ?? 0);
      case 'subscribe':
        return [{ kind: 'subscribe', subscribe: packet }];
      case 'unsubscribe':
        return [{ kind: 'unsubscribe', unsubscribe: packet }];
      case 'pingreq':
        // §3.12.4: answer with PINGRESP.
        return [{ kind: 'send', packet: { cmd: 'pingresp' } }];
      case 'disconnect':
        // MQTT-3.14.4-3: a DISCONNECT discards the will.
        this.#will = undefined;
        this.#phase = 'closed';
        return [{ kind: 'close', reason: 'client-disconnect' }];
      default:
        // Server-only and MQTT 5 types are refused by the frame reader; a direct caller gets the same.
        return this.refuse(refuse('SNT_MQTT_SERVER_ONLY_PACKET', `${packet.cmd} is not sent by clients`));
    }
  }

  /** Close for a refusal from any stage; a first CONNECT refused with a return code gets CONNACK first. */
  refuse(refusal: Refusal): readonly SessionAction[] {
    if (this.#phase === 'closed') return noActions;
    const actions: SessionAction[] = [];
    if (this.#phase === 'awaiting-connect' && refusal.connackReturnCode !== undefined) {
      actions.push({ kind: 'send', packet: connack(refusal.connackReturnCode, false) });
    }
    actions.push(...this.#close('refused', refusal));
    return actions;
  }

  connectAccepted(sessionPresent: boolean, nowMs: number): readonly SessionAction[] {
    if (this.#phase !== 'authenticating') return noActions;
    this.#phase = 'connected';
    this.#lastPacketAtMs = nowMs;
    return [{ kind: 'send', packet: connack(0, sessionPresent) }];
  }

  /** CONNACK with the return code (e.g. 5 not authorised), then close (MQTT-3.2.2-5). */
  connectRefused(returnCode: ConnackReturnCode): readonly SessionAction[] {
    if (this.#phase !== 'authenticating') return noActions;
    this.#phase = 'closed';
    return [
      { kind: 'send', packet: connack(returnCode, false) },
      { kind: 'close', reason: 'connect-refused' },
    ];
  }

  /**
   * The server cannot go on with this connection (a lookup threw, a bug): the client did nothing
   * wrong. A CONNECT read and not answered yet gets CONNACK 0x03, server unavailable (§3.2.2.3: the
   * client may try again later), rather than a silent close; then the connection closes. An
   * accepted session's will is published, as for any close without DISCONNECT (MQTT-3.1.2-8).
   */
  internalError(): readonly SessionAction[] {
    if (this.#phase === 'closed') return noActions;
    const actions: SessionAction[] = [];
    if (this.#phase === 'authenticating') actions.push({ kind: 'send', packet: connack(3, false) });
    actions.push(...this.#close('internal-error'));
    return actions;
  }

  /** Kafka acknowledged the inbound QoS 1/2 PUBLISH with this identifier: acknowledge it to the client. */
  inboundStored(packetId: number): readonly SessionAction[] {
    if (this.#phase !== 'connected') return noActions;
    const exchange = this.#inbound?.get(packetId);
    if (exchange === 'storing-qos1') {
      this.#inbound?.delete(packetId);
      this.#storing--;
      return [{ kind: 'send', packet: { cmd: 'puback', messageId: packetId } }];
    }
    if (exchange === 'storing-qos2') {
      this.#inboundExchanges().set(packetId, 'awaiting-pubrel');
      this.#storing--;
      return [{ kind: 'send', packet: { cmd: 'pubrec', messageId: packetId } }];
    }
    return noActions;
  }

  /**
   * A downlink message for this client. QoS 1/2 take a free packet identifier; when
   * maxOutboundInFlight are unacknowledged, 'window-full' asks the caller to hold it.
   */
  outboundPublish(message: {
    readonly topic: string;
    readonly payload: Buffer;
    readonly qos: QoS;
    readonly retain?: boolean;
  }): readonly SessionAction[] | 'window-full' {
    if (this.#phase !== 'connected') return noActions;
    const base = { cmd: 'publish', topic: message.topic, payload: message.payload, dup: false } as const;
    if (message.qos === 0) {
      return [{ kind: 'send', packet: { ...base, qos: 0, retain: message.retain ?? false } }];
    }
    if ((this.#outbound?.size ?? 0) >= this.#policy.maxOutboundInFlight) return 'window-full';
    const packetId = this.#allocateOutboundId();
    this.#outboundExchanges().set(packetId, {
      state: message.qos === 1 ? 'awaiting-puback' : 'awaiting-pubrec',
      message: {
        topic: message.topic,
        payload: message.payload,
        qos: message.qos,
        retain: message.retain ?? false,
      },
    });
    return [
      {
        kind: 'send',
        packet: { ...base, qos: message.qos, retain: message.retain ?? false, messageId: packetId },
      },
    ];
  }

  /**
   * The outbound QoS 1/2 exchanges not completed, oldest first: what a persistent session owes the
   * client when it comes back (MQTT-4.4.0-1).
   */
  unacknowledgedOutbound(): UnacknowledgedOutbound[] {
    const owed: UnacknowledgedOutbound[] = [];
    for (const [packetId, { state, message }] of this.#outbound ?? [])
      owed.push({ ...message, packetId, released: state === 'awaiting-pubcomp' });
    return owed;
  }

  /**
   * An exchange a previous connection of this persistent session left unfinished, resumed under
   * its packet identifier: the PUBLISH again with DUP set, or the PUBREL (MQTT-4.4.0-1). An
   * identifier already in use here gets a new one (the message goes as a fresh PUBLISH).
   */
  resumeOutbound(owed: UnacknowledgedOutbound): readonly SessionAction[] | 'window-full' {
    if (this.#phase !== 'connected') return noActions;
    if (this.#outbound?.has(owed.packetId) || owed.packetId < 1 || owed.packetId > 0xffff)
      return this.outboundPublish(owed);
    if ((this.#outbound?.size ?? 0) >= this.#policy.maxOutboundInFlight) return 'window-full';
    const { topic, payload, qos, retain } = owed;
    const message = { topic, payload, qos, retain };
    if (owed.released) {
      this.#outboundExchanges().set(owed.packetId, { state: 'awaiting-pubcomp', message });
      return [{ kind: 'send', packet: { cmd: 'pubrel', messageId: owed.packetId } }];
    }
    this.#outboundExchanges().set(owed.packetId, {
      state: qos === 1 ? 'awaiting-puback' : 'awaiting-pubrec',
      message,
    });
    return [
      {
        kind: 'send',
        packet: { cmd: 'publish', topic, payload, qos, retain, dup: true, messageId: owed.packetId },
      },
    ];
  }

  /** The transport closed without DISCONNECT (reset, timeout handled elsewhere): publish the will. */
  transportClosed(): readonly SessionAction[] {
    if (this.#phase === 'closed') return noActions;
    return this.#close('transport-closed');
  }

  #onConnect(connect: IConnectPacket): readonly SessionAction[] {
    this.#will = connect.will;
    this.#phase = 'authenticating';
    const requested = connect.keepalive ?? 0;
    this.#keepAliveSeconds = effectiveKeepAliveSeconds(requested, this.#policy);
    const actions: SessionAction[] = [{ kind: 'authenticate', connect }];
    if (this.#keepAliveSeconds !== requested) {
      actions.push({
        kind: 'record',
        event: {
          code: 'SNT_MQTT_KEEPALIVE_CAPPED',
          clause: 'MQTT-3.1.2-24',
          message: `Keep Alive ${requested} s enforced as ${this.#keepAliveSeconds} s`,
        },
      });
    }
    return actions;
  }

  #onPublish(publish: IPublishPacket): readonly SessionAction[] {
    if (publish.qos === 0) return [{ kind: 'deliver', publish }];
    const packetId = publish.messageId ?? 0;
    const exchange = this.#inbound?.get(packetId);
    if (exchange !== undefined) {
      const sameQos = publish.qos === 1 ? exchange === 'storing-qos1' : exchange !== 'storing-qos1';
      if (!sameQos) {
        // MQTT-2.3.1-2: a new exchange needs an unused identifier.
        return this.refuse(
          refuse(
            'SNT_MQTT_PACKET_ID_IN_USE',
            `QoS ${publish.qos} PUBLISH reuses packet identifier ${packetId}`,
          ),
        );
      }
      // MQTT-4.3.3-2: a QoS 2 PUBLISH seen again before PUBREL is not delivered again; if PUBREC
      // was sent, it is sent again. A QoS 1 retransmission still being stored gets its PUBACK then.
      const actions: SessionAction[] = [
        {
          kind: 'record',
          event: {
            code: 'SNT_MQTT_DUPLICATE_PUBLISH_SUPPRESSED',
            clause: 'MQTT-4.3.3-2',
            message: `QoS ${publish.qos} PUBLISH ${packetId} (dup=${publish.dup}) arrived again before its exchange finished`,
            packetId,
          },
        },
      ];
      if (exchange === 'awaiting-pubrel')
        actions.push({ kind: 'send', packet: { cmd: 'pubrec', messageId: packetId } });
      return actions;
    }
    // MQTT 3.1.1 gives a client no receive maximum: many PUBLISHes waiting for their PUBACK are
    // normal when the server is slow. Only exchanges the client itself leaves open (QoS 2 without
    // PUBREL) are held against it; those waiting for Kafka slow the client down instead.
    if ((this.#inbound?.size ?? 0) - this.#storing >= this.#policy.maxInboundInFlight) {
      return this.refuse(
        refuse(
          'SNT_MQTT_INFLIGHT_LIMIT',
          `more than ${this.#policy.maxInboundInFlight} QoS 2 exchanges awaiting PUBREL`,
        ),
      );
    }
    if (this.#storing >= this.#policy.maxInboundInFlight)
      return [{ kind: 'wait-for-store', packet: publish }];
    this.#inboundExchanges().set(packetId, publish.qos === 1 ? 'storing-qos1' : 'storing-qos2');
    this.#storing++;
    return [{ kind: 'deliver', publish }];
  }

  #onPubrel(packetId: number): readonly SessionAction[] {
    const exchange = this.#inbound?.get(packetId);
    if (exchange === 'awaiting-pubrel') {
      this.#inbound?.delete(packetId);
      return [{ kind: 'send', packet: { cmd: 'pubcomp', messageId: packetId } }];
    }
    if (exchange === 'storing-qos2') {
      // MQTT-4.3.3-1: the sender releases only after our PUBREC, which waits for Kafka.
      return this.refuse(
        refuse('SNT_MQTT_PUBREL_BEFORE_PUBREC', `PUBREL ${packetId} before PUBREC was sent`),
      );
    }
    // MQTT-4.3.3-2: answer every PUBREL with PUBCOMP, even for an identifier we no longer hold
    // (normal after a reconnect with a clean session).
    return [
      {
        kind: 'record',
        event: {
          code: 'SNT_MQTT_PUBREL_UNKNOWN_ID',
          clause: 'MQTT-4.3.3-2',
          message: `PUBREL for packet identifier ${packetId} not awaiting release`,
          packetId,
        },
      },
      { kind: 'send', packet: { cmd: 'pubcomp', messageId: packetId } },
    ];
  }

  #onOutboundAck(ack: 'puback' | 'pubrec' | 'pubcomp', packetId: number): readonly SessionAction[] {
    const exchange = this.#outbound?.get(packetId);
    if (ack === 'puback' && exchange?.state === 'awaiting-puback') {
      this.#outbound?.delete(packetId);
      return noActions;
    }
    if (
      ack === 'pubrec' &&
      (exchange?.state === 'awaiting-pubrec' || exchange?.state === 'awaiting-pubcomp')
    ) {
      // MQTT-4.3.2-2 (sender): answer PUBREC with PUBREL, again if the PUBREC is repeated.
      exchange.state = 'awaiting-pubcomp';
      return [{ kind: 'send', packet: { cmd: 'pubrel', messageId: packetId } }];
    }
    if (ack === 'pubcomp' && exchange?.state === 'awaiting-pubcomp') {
      this.#outbound?.delete(packetId);
      return noActions;
    }
    return [
      {
        kind: 'record',
        event: {
          code: 'SNT_MQTT_ACK_UNKNOWN_ID',
          clause: '§4.3',
          message: `${ack.toUpperCase()} for packet identifier ${packetId} the server is not waiting for`,
          packetId,
        },
      },
    ];
  }

  #allocateOutboundId(): number {
    // The window is far below 65,535, so a free identifier is always found.
    while (this.#outbound?.has(this.#nextOutboundId)) this.#advanceOutboundId();
    const packetId = this.#nextOutboundId;
    this.#advanceOutboundId();
    return packetId;
  }

  #advanceOutboundId(): void {
    this.#nextOutboundId = this.#nextOutboundId === 0xffff ? 1 : this.#nextOutboundId + 1;
  }

  #close(reason: CloseReason, refusal?: Refusal): SessionAction[] {
    const will = this.#phase === 'connected' ? this.#will : undefined;
    this.#phase = 'closed';
    this.#will = undefined;
    this.#inbound = undefined;
    this.#storing = 0;
    return [
      {
        kind: 'close',
        reason,
        ...(refusal === undefined ? {} : { refusal }),
        ...(will === undefined ? {} : { will }),
      },
    ];
  }
}

function connack(returnCode: number, sessionPresent: boolean): Packet {
  return { cmd: 'connack', returnCode, sessionPresent };
}
