import type { Duplex } from 'node:stream';
import mqttPacket, {
  type IConnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  type Packet,
} from 'mqtt-packet';
import type { Logger } from '../lib/log.js';
import type { PacketEvent } from '../schemas/types.generated.js';
import type { AuthDecision, AuthRequest } from './auth/index.js';
import type { RateCheck, RateDecision } from './limits/index.js';
import type { IngestMetrics } from './metrics.js';
import {
  type ConnectionIdentity,
  malformedEventOf,
  markRefused,
  packetEventOf,
  packetTypeOf,
  type SessionIdentity,
} from './packet-events.js';
import {
  ConnectionSession,
  type Frame,
  type InboundPacket,
  InboundPacketReader,
  type ProtocolPolicy,
  type Refusal,
  type SessionAction,
} from './protocol/index.js';

/**
 * One device connection: bytes in, the protocol core's decisions out, applied to the socket, the
 * event log and the session services. Packets are handled strictly in arrival order; while a
 * CONNECT is being authenticated, or a rate-limit tier asks for a delay, reading pauses.
 *
 * Every inbound packet becomes a packet event. A QoS 1 PUBACK (QoS 2 PUBREC) is sent only from the
 * event writer's callback, i.e. after Kafka acknowledged the event with acks=all.
 *
 * A slow Kafka slows the device down, it never disconnects it: reading stops while the device has
 * `maxInboundInFlight` PUBLISHes waiting for Kafka, or while the proxy holds its bound of
 * unacknowledged event bytes, and starts again when Kafka catches up (TCP backpressure). The
 * device's Keep Alive does not run while the proxy is not reading.
 */
export interface DeviceAccess {
  canPublish(topic: string): boolean;
  canSubscribe(filter: string): boolean;
  /** The filters granted to this session, substituted: recorded on the CONNECT event. */
  granted(): { publish: string[]; subscribe: string[] };
}

export interface EdgeServices {
  readonly proxyId: string;
  readonly policy: ProtocolPolicy;
  readonly log: Logger;
  readonly metrics: IngestMetrics;
  now(): number;
  checkRate(check: RateCheck, nowMs: number): RateDecision;
  authenticate(request: AuthRequest): Promise<AuthDecision>;
  accessOf(
    decision: Extract<AuthDecision, { allow: true }>,
    identity: { clientId: string; username: string | null },
  ): DeviceAccess;
  /** Encodes and sends an event; false means the unacknowledged events are over their bound (pause reading). */
  record(event: PacketEvent, onStored?: (error?: Error) => void): boolean;
  /** Resolves when the unacknowledged events are back under their bound. */
  recordDrained(): Promise<void>;
  /** Claims the client id across proxies; older connections with it are closed. */
  claimSession(
    connection: DeviceConnection,
  ): Promise<{ sessionPresent: boolean; subscriptions: ReadonlyMap<string, number> }>;
  releaseSession(connection: DeviceConnection): void;
  subscriptionsChanged(
    connection: DeviceConnection,
    added: ReadonlyMap<string, number>,
    removed: readonly string[],
  ): void;
  assignClientId(): string;
}

type Phase = 'open' | 'closing' | 'closed';

/**
 * A rate-limit refusal a QoS 1/2 PUBLISH is acknowledged and dropped for: the packet still goes
 * through the session like any other (its identifier, duplicates, PUBREL), only its message is not
 * delivered.
 */
type AckAndDrop = Extract<RateDecision, { allowed: false }> & { readonly action: 'ack-and-drop' };

/**
 * A packet read and not handled yet; `admitted` once it passed the rate limits (it waits for a
 * store slot), with `dropped` the limit it is acknowledged and dropped for.
 */
type QueuedPacket = InboundPacket & { readonly admitted?: boolean; readonly dropped?: AckAndDrop };

/**
 * Why reading stopped: a step in progress (authentication, a rate-limit delay), or backpressure from
 * Kafka, which is the proxy's doing and so does not count against the device's Keep Alive.
 */
type PauseReason = 'step' | 'store_window' | 'kafka_unacked';

/**
 * Code of a failure inside the edge (a lookup that threw, a bug): the device did nothing wrong, so
 * it is neither a protocol refusal nor a CONNECT timeout.
 */
export const internalErrorCode = 'SNT_INGEST_INTERNAL_ERROR';

/** Where an internal failure happened: logged, and in the event's edgeAction (`internal_error:<step>`). */
type InternalStep = 'read' | 'handle' | 'authenticate' | 'session_claim' | 'pause' | 'expire';

const subackFailure = 0x80;

export class DeviceConnection {
  readonly identity: ConnectionIdentity;
  readonly listener: string;
  readonly #socket: Duplex;
  readonly #edge: EdgeServices;
  readonly #reader: InboundPacketReader;
  readonly #session: ConnectionSession;
  readonly #openedAt: number;
  #phase: Phase = 'open';
  #clientId = '';
  #username: string | null = null;
  #cleanSession = true;
  #access: DeviceAccess | undefined;
  #accepted = false;
  /** Filter -> granted QoS of this session. */
  readonly subscriptions = new Map<string, number>();
  #queue: Array<QueuedPacket | { refusal: Refusal; frame?: Frame }> = [];
  #blocked = false;
  #pauses = 0;
  /** Pauses for backpressure in progress: while any, the Keep Alive deadline is not enforced. */
  #backpressure = 0;
  #awaitingUnackedDrain = false;
  /** Woken when one of this connection's PUBLISHes is stored (a store slot is free). */
  #storeWaiters: Array<() => void> = [];
  #deadline = Number.POSITIVE_INFINITY;
  /** This socket's place among those that have not completed CONNECT; given back at CONNACK or close. */
  #pending: { release(): void } | undefined;
  /** Whether anything was written to the socket: a close with nothing to deliver need not linger. */
  #written = false;

  constructor(
    socket: Duplex,
    identity: ConnectionIdentity,
    listener: string,
    edge: EdgeServices,
    pending?: { release(): void },
  ) {
    this.#socket = socket;
    this.#pending = pending;
    this.identity = identity;
    this.listener = listener;
    this.#edge = edge;
    this.#openedAt = edge.now();
    this.#reader = new InboundPacketReader(edge.policy);
    this.#session = new ConnectionSession(edge.policy, this.#openedAt);
    this.#deadline = this.#session.deadlineMs();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#onTransportClosed());
  }

  get clientId(): string {
    return this.#clientId;
  }

  get username(): string | null {
    return this.#username;
  }

  get persistent(): boolean {
    return !this.#cleanSession;
  }

  get connected(): boolean {
    return this.#session.phase === 'connected' && this.#phase === 'open';
  }

  /** When the keep-alive or CONNECT deadline passes (ms); checked by the proxy's sweep. */
  get deadline(): number {
    return this.#deadline;
  }

  #sessionIdentity(): SessionIdentity {
    return { clientId: this.#clientId, username: this.#username };
  }

  #onData(chunk: Buffer): void {
    if (this.#phase !== 'open') return;
    const started = performance.now();
    let read: ReturnType<InboundPacketReader['push']>;
    try {
      read = this.#reader.push(chunk);
    } catch (error: unknown) {
      this.#failInternally(error, 'read');
      return;
    }
    for (const packet of read.packets) this.#queue.push(packet);
    if (read.refusal)
      this.#queue.push(
        read.refusedFrame ? { refusal: read.refusal, frame: read.refusedFrame } : { refusal: read.refusal },
      );
    this.#drain();
    if (read.packets.length > 0)
      this.#edge.metrics.prereadSeconds.observe((performance.now() - started) / 1000 / read.packets.length);
  }

  #drain(): void {
    while (!this.#blocked && this.#phase === 'open' && this.#queue.length > 0) {
      const item = this.#queue.shift()!;
      try {
        if ('refusal' in item) this.#onRefusal(item.refusal, item.frame);
        else this.#onPacket(item);
      } catch (error: unknown) {
        // A bug must cost this connection, not the process and its other devices.
        this.#failInternally(
          error,
          'handle',
          'refusal' in item ? undefined : () => this.#eventOf(item.packet, item.frame.bytes.length),
        );
      }
    }
  }

  #eventOf(packet: Packet, packetSize: number, receivedAt = this.#edge.now()): PacketEvent {
    return packetEventOf(this.identity, this.#sessionIdentity(), packet, packetSize, receivedAt);
  }

  #onPacket(item: QueuedPacket): void {
    const { packet, frame } = item;
    const now = this.#edge.now();
    let dropped = item.dropped;
    if (!item.admitted) {
      this.#edge.metrics.packet(packetTypeOf[packet.cmd], 'inbound', frame.bytes.length);
      const qos = packet.cmd === 'publish' ? packet.qos : undefined;
      const rate = this.#edge.checkRate(
        {
          ip: this.identity.sourceIp,
          clientId: this.#clientId,
          packetType: frame.type,
          bytes: frame.bytes.length,
          ...(qos === undefined ? {} : { qos }),
        },
        now,
      );
      if (!rate.allowed) {
        if (rate.action !== 'ack-and-drop') {
          this.#onRateLimited(item, rate);
          return;
        }
        dropped = rate as AckAndDrop;
      }
    }
    const actions = this.#session.receive(packet, now);
    this.#deadline = this.#session.deadlineMs();
    // CONNECT, PUBLISH and SUBSCRIBE are recorded where their outcome is known (auth result, Kafka
    // callback, ACL decision).
    if (packet.cmd !== 'connect' && packet.cmd !== 'publish' && packet.cmd !== 'subscribe') {
      this.#record(this.#eventOf(packet, frame.bytes.length, now));
    }
    this.#apply(actions, frame, dropped);
  }

  /** `dropped`: the packet the actions answer is a PUBLISH acknowledged and dropped for this limit. */
  #apply(actions: readonly SessionAction[], frame?: Frame, dropped?: AckAndDrop): void {
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          this.#send(action.packet);
          break;
        case 'authenticate':
          this.#authenticate(action.connect, frame?.bytes.length ?? 0);
          break;
        case 'deliver':
          this.#deliver(action.publish, frame?.bytes.length ?? 0, dropped);
          break;
        case 'subscribe':
          this.#subscribe(action.subscribe, frame?.bytes.length ?? 0);
          break;
        case 'unsubscribe':
          this.#unsubscribe(action.unsubscribe);
          break;
        case 'record':
          this.#edge.metrics.protocolEvents.inc({ code: action.event.code });
          break;
        case 'defer':
          this.#queue.unshift({ packet: action.packet, frame: frame ?? emptyFrame });
          break;
        case 'wait-for-store':
          // Handled again, without a second rate-limit check, once one of its predecessors is stored.
          this.#queue.unshift({
            packet: action.packet,
            frame: frame ?? emptyFrame,
            admitted: true,
            ...(dropped ? { dropped } : {}),
          });
          this.#pauseFor(new Promise<void>((resolve) => this.#storeWaiters.push(resolve)), 'store_window');
          break;
        case 'close':
          if (action.will) this.#publishWill(action.will);
          if (action.refusal) this.#recordRefusal(action.refusal, frame);
          this.#close(
            action.reason === 'refused' ? `refused:${action.refusal?.code ?? 'unknown'}` : action.reason,
          );
          break;
      }
    }
  }

  #onRefusal(refusal: Refusal, frame?: Frame): void {
    this.#apply(this.#session.refuse(refusal), frame);
  }

  #recordRefusal(refusal: Refusal, frame?: Frame): void {
    this.#edge.metrics.protocolViolations.inc({ code: refusal.code });
    if (this.#session.phase !== 'connected' && refusal.code !== 'SNT_MQTT_KEEPALIVE_EXPIRED') {
      this.#edge.metrics.connectionsRejected.inc({
        reason: refusal.code === 'SNT_MQTT_CONNECT_TIMEOUT' ? 'connect_timeout' : 'protocol_error',
      });
    }
    this.#edge.metrics.packet('MALFORMED', 'inbound', frame?.bytes.length ?? 0);
    this.#record(
      malformedEventOf(this.identity, this.#sessionIdentity(), refusal, this.#edge.now(), frame?.bytes),
    );
  }

  #onRateLimited(item: InboundPacket, rate: Extract<RateDecision, { allowed: false }>): void {
    const { packet, frame } = item;
    const now = this.#edge.now();
    // The global tier exists to protect the core: what it refuses is counted, not logged per packet.
    // A delayed packet is not refused: it is recorded when it is handled.
    if (rate.tier !== 'global' && rate.action !== 'delay') {
      const event = this.#eventOf(packet, frame.bytes.length, now);
      // A flood is not stored: the refused packet is recorded without its payload.
      event.payload = null;
      markRefused(event, 'rate_limited', `rate_limited:${rate.tier}:${rate.action}`);
      if (packet.cmd === 'connect') event.authResult = 'rate_limited';
      this.#record(event);
    }
    switch (rate.action) {
      case 'delay':
        this.#queue.unshift(item);
        this.#blockFor(new Promise((resolve) => setTimeout(resolve, rate.delayMs)));
        return;
      case 'refuse-connack':
        this.#edge.metrics.connectionsRejected.inc({ reason: 'rate_limited' });
        this.#send({ cmd: 'connack', returnCode: 5, sessionPresent: false });
        this.#close(`rate_limited:${rate.tier}`);
        return;
      case 'suback-failure':
        if (packet.cmd === 'subscribe') {
          this.#send({
            cmd: 'suback',
            messageId: packet.messageId ?? 0,
            granted: packet.subscriptions.map(() => subackFailure),
          });
        }
        return;
      case 'ack-and-drop':
        // Not reached: an acknowledged-and-dropped PUBLISH goes through the session (#deliver).
        return;
      case 'drop':
        return;
      case 'disconnect':
        this.#close(`rate_limited:${rate.tier}`);
        return;
    }
  }

  #authenticate(connect: IConnectPacket, packetSize: number): void {
    const receivedAt = this.#edge.now();
    const started = performance.now();
    const tlsCn = this.identity.tlsClientSubject ?? undefined;
    // The CONNECT's event is recorded once its outcome is known, so that a failure on the way is
    // recorded as what it is (an internal error), in the one event of this CONNECT.
    let step: Extract<InternalStep, 'authenticate' | 'session_claim'> = 'authenticate';
    let event: PacketEvent | undefined;
    let recorded = false;
    this.#blockFor(
      this.#edge
        .authenticate({
          clientId: connect.clientId,
          username: connect.username,
          password: connect.password,
          certificateCn: tlsCn,
          sourceAddress: this.identity.sourceIp,
        })
        .then(async (decision) => {
          // A CONNECT's preread phase ends with its auth decision.
          this.#edge.metrics.prereadSeconds.observe((performance.now() - started) / 1000);
          if (this.#phase !== 'open') return;
          this.#cleanSession = connect.clean !== false;
          this.#clientId = connect.clientId === '' ? this.#edge.assignClientId() : connect.clientId;
          this.#username = connect.username ?? null;
          event = this.#eventOf({ ...connect, clientId: this.#clientId }, packetSize, receivedAt);
          event.authResult =
            decision.result === 'cache_hit' ? (decision.allow ? 'allowed' : 'denied') : decision.result;
          if (!decision.allow) {
            markRefused(event, 'auth_denied', `auth_denied:${decision.reason}`);
            recorded = true;
            this.#record(event);
            this.#edge.metrics.connectionsRejected.inc({
              reason: decision.connackCode === 3 ? 'auth_error' : 'auth_failed',
            });
            this.#apply(this.#session.connectRefused(decision.connackCode));
            return;
          }
          step = 'session_claim';
          this.#access = this.#edge.accessOf(decision, {
            clientId: this.#clientId,
            username: this.#username,
          });
          event.acl = this.#access.granted();
          const restored = await this.#edge.claimSession(this);
          recorded = true;
          this.#record(event);
          if (this.#phase !== 'open') {
            // Closed while the session was claimed (the device left, the deadline passed): the
            // claim is given back, or the proxy would route to a connection that is gone.
            this.#edge.releaseSession(this);
            return;
          }
          for (const [filter, qos] of restored.subscriptions) this.subscriptions.set(filter, qos);
          this.#accepted = true;
          this.#releasePending();
          this.#apply(this.#session.connectAccepted(restored.sessionPresent, this.#edge.now()));
          this.#deadline = this.#session.deadlineMs();
          this.#edge.metrics.sessionsActive.inc();
          this.#edge.metrics.connectionSetupSeconds.observe((this.#edge.now() - this.#openedAt) / 1000);
        })
        .catch((error: unknown) => {
          if (step === 'session_claim' && !this.#accepted) this.#edge.releaseSession(this);
          const decided = event;
          // Without a decision, authentication could not be decided: authResult 'error'.
          const undecided = () => {
            const connectEvent = this.#eventOf(connect, packetSize, receivedAt);
            connectEvent.authResult = 'error';
            return connectEvent;
          };
          this.#failInternally(error, step, recorded ? undefined : decided ? () => decided : undecided);
        }),
    );
  }

  /**
   * A PUBLISH the session accepted: recorded, and for QoS 1/2 acknowledged once Kafka stored its
   * event. One refused by a rate limit or the ACL is acknowledged and dropped (MQTT 3.1.1 §3.3.5:
   * a server may acknowledge and discard; it must not leave a QoS 1/2 PUBLISH unanswered) the same
   * way: its refused event is stored first, so PUBACKs keep the order of their PUBLISHes
   * (MQTT-4.6.0-2) and a QoS 2 exchange awaits its PUBREL like any other.
   */
  #deliver(publish: IPublishPacket, packetSize: number, dropped?: AckAndDrop): void {
    const receivedAt = this.#edge.now();
    const event = this.#eventOf(publish, packetSize, receivedAt);
    const packetId = publish.messageId ?? 0;
    if (dropped) {
      // A flood is not stored: the refused packet is recorded without its payload. The global
      // tier protects the core: what it refuses is counted, not recorded, and acknowledged at once.
      if (dropped.tier === 'global') {
        this.#apply(this.#session.inboundStored(packetId));
        return;
      }
      event.payload = null;
      markRefused(event, 'rate_limited', `rate_limited:${dropped.tier}:ack-and-drop`);
      this.#recordThenAcknowledge(event, packetId);
      return;
    }
    if (!this.#access?.canPublish(publish.topic)) {
      // The payload stays in the event: an analyst sees what the device tried to write where.
      this.#edge.metrics.aclDenied.inc({ action: 'publish' });
      markRefused(
        event,
        'acl_denied',
        publish.qos > 0 ? 'acl_denied:acked_and_dropped' : 'acl_denied:dropped',
      );
      if (publish.qos > 0) this.#recordThenAcknowledge(event, packetId);
      else this.#record(event);
      return;
    }
    if (publish.qos === 0) {
      this.#record(event);
      return;
    }
    const started = performance.now();
    this.#recordThenAcknowledge(event, packetId, () =>
      this.#edge.metrics.forwardSeconds.observe(
        { direction: 'inbound' },
        (performance.now() - started) / 1000,
      ),
    );
  }

  /** Records a QoS 1/2 PUBLISH's event; its PUBACK (PUBREC) goes out once Kafka acknowledged it. */
  #recordThenAcknowledge(event: PacketEvent, packetId: number, onStored?: () => void): void {
    this.#record(event, (error) => {
      if (error || this.#phase !== 'open') return;
      onStored?.();
      this.#apply(this.#session.inboundStored(packetId));
      for (const wake of this.#storeWaiters.splice(0)) wake();
    });
  }

  #subscribe(subscribe: ISubscribePacket, packetSize: number): void {
    const granted: number[] = [];
    const added = new Map<string, number>();
    const denied: number[] = [];
    subscribe.subscriptions.forEach(({ topic, qos }, i) => {
      if (!this.#access?.canSubscribe(topic)) {
        this.#edge.metrics.aclDenied.inc({ action: 'subscribe' });
        granted.push(subackFailure);
        denied.push(i);
        return;
      }
      this.subscriptions.set(topic, qos);
      added.set(topic, qos);
      granted.push(qos);
    });
    const event = this.#eventOf(subscribe, packetSize);
    if (denied.length > 0) markRefused(event, 'acl_denied', `acl_denied:suback_failure:${denied.join(',')}`);
    this.#record(event);
    if (added.size > 0) this.#edge.subscriptionsChanged(this, added, []);
    this.#send({ cmd: 'suback', messageId: subscribe.messageId ?? 0, granted });
  }

  #unsubscribe(unsubscribe: IUnsubscribePacket): void {
    const removed = unsubscribe.unsubscriptions.filter((filter) => this.subscriptions.delete(filter));
    if (removed.length > 0) this.#edge.subscriptionsChanged(this, new Map(), removed);
    // 3.1.1 UNSUBACK has no payload; mqtt-packet's type lists MQTT 5 reason codes as `granted`.
    this.#send({ cmd: 'unsuback', messageId: unsubscribe.messageId ?? 0, granted: [] });
  }

  /** MQTT-3.1.2-8: the will is published when the connection closes without DISCONNECT. */
  #publishWill(will: NonNullable<IConnectPacket['will']>): void {
    const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload;
    const publish: IPublishPacket = {
      cmd: 'publish',
      topic: will.topic,
      payload,
      qos: will.qos ?? 0,
      retain: will.retain ?? false,
      dup: false,
    };
    const event = this.#eventOf(publish, 0);
    if (!this.#access?.canPublish(will.topic)) {
      this.#edge.metrics.aclDenied.inc({ action: 'will' });
      markRefused(event, 'acl_denied', 'will:acl_denied');
    } else {
      event.edgeAction = 'will';
    }
    this.#record(event);
  }

  /** A downlink message for this session; QoS is the lower of the message's and the subscription's. */
  deliverDownlink(message: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): boolean {
    if (!this.connected) return false;
    const actions = this.#session.outboundPublish(message);
    if (actions === 'window-full') {
      this.#edge.metrics.downlinkDropped.inc({ reason: 'inflight_window_full' });
      return false;
    }
    this.#apply(actions);
    return true;
  }

  /** Called by the proxy's sweep: closes when the CONNECT or keep-alive deadline passed. */
  expire(nowMs: number): void {
    if (nowMs < this.#deadline || this.#phase !== 'open') return;
    // Not reading because Kafka is slow: the device cannot be heard, so it is not judged silent.
    if (this.#backpressure > 0 && this.#session.phase === 'connected') return;
    try {
      this.#apply(this.#session.expire(nowMs));
    } catch (error: unknown) {
      this.#failInternally(error, 'expire');
    }
    this.#deadline = this.#session.deadlineMs();
  }

  /** MQTT-3.1.4-2: another connection took this client id over. */
  takenOver(): void {
    if (this.#phase !== 'open') return;
    this.#edge.metrics.protocolEvents.inc({ code: 'SNT_SESSION_TAKEN_OVER' });
    // A takeover is not a DISCONNECT from the client, so its will is published (MQTT-3.1.2-8).
    const actions = this.#session.transportClosed();
    for (const action of actions) if (action.kind === 'close' && action.will) this.#publishWill(action.will);
    this.#close('taken_over');
  }

  /**
   * First step of the proxy's shutdown: read and handle nothing more, but keep the socket open so
   * the PUBACKs of PUBLISHes Kafka is still acknowledging reach the device.
   */
  stopReading(): void {
    if (this.#phase !== 'open') return;
    this.#queue = [];
    this.#blocked = true;
    this.#pauses++;
    this.#socket.pause();
  }

  /** Graceful shutdown of the proxy: the socket closes once pending writes finish. */
  shutdown(): void {
    this.#close('proxy_shutdown');
  }

  #record(event: PacketEvent, onStored?: (error?: Error) => void): void {
    if (this.#edge.record(event, onStored) || this.#awaitingUnackedDrain) return;
    // Packets already read are still handled; only reading more waits.
    this.#awaitingUnackedDrain = true;
    this.#pauseFor(
      this.#edge.recordDrained().finally(() => {
        this.#awaitingUnackedDrain = false;
      }),
      'kafka_unacked',
    );
  }

  #send(packet: Packet): void {
    if (this.#phase === 'closed') return;
    const bytes = mqttPacket.generate(packet);
    this.#edge.metrics.packet(packetTypeOf[packet.cmd], 'outbound', bytes.length);
    this.#written = true;
    this.#socket.write(bytes);
  }

  /** Stops handling packets until `until` settles, and reading until then. */
  #blockFor(until: Promise<unknown>): void {
    this.#pauseFor(until, 'step');
  }

  /**
   * Stops reading until `until` settles; handling stops too, except while waiting for the proxy's
   * unacknowledged events to drain (the packets already read are handled meanwhile).
   */
  #pauseFor(until: Promise<unknown>, reason: PauseReason): void {
    const stopHandling = reason !== 'kafka_unacked';
    if (stopHandling) this.#blocked = true;
    if (reason !== 'step') {
      this.#backpressure++;
      this.#edge.metrics.connectionsPaused.inc({ reason });
    }
    this.#pauses++;
    this.#socket.pause();
    until
      .catch((error: unknown) => this.#failInternally(error, 'pause'))
      .finally(() => {
        if (stopHandling) this.#blocked = false;
        if (reason !== 'step') {
          this.#edge.metrics.connectionsPaused.dec({ reason });
          if (--this.#backpressure === 0) {
            this.#session.resumeListening(this.#edge.now());
            this.#deadline = this.#session.deadlineMs();
          }
        }
        if (--this.#pauses === 0 && this.#phase === 'open') this.#socket.resume();
        this.#drain();
      });
  }

  /**
   * A failure inside the edge (a lookup that threw, a bug) ends this connection under its own code:
   * logged with the error, counted as rejection reason `internal_error` before CONNECT completed,
   * and recorded as the packet it interrupted, refused with `internal_error` (never as a MALFORMED
   * packet the device did not send). A CONNECT read gets CONNACK 0x03 first.
   */
  #failInternally(error: unknown, step: InternalStep, event?: () => PacketEvent): void {
    this.#edge.log.error(
      {
        err: error,
        code: internalErrorCode,
        step,
        connectionId: this.identity.connectionId,
        clientId: this.#clientId,
      },
      'internal error: closing the connection',
    );
    if (this.#phase !== 'open') return;
    try {
      if (this.#session.phase !== 'connected')
        this.#edge.metrics.connectionsRejected.inc({ reason: 'internal_error' });
      if (event) this.#record(markRefused(event(), 'internal_error', `internal_error:${step}`));
      this.#apply(this.#session.internalError());
    } catch (again: unknown) {
      this.#edge.log.error(
        { err: again, code: internalErrorCode, connectionId: this.identity.connectionId },
        'internal error while closing after an internal error',
      );
    } finally {
      this.#close('internal-error');
    }
  }

  #close(reason: string): void {
    if (this.#phase !== 'open') return;
    this.#phase = 'closing';
    this.#queue = [];
    // Settle the pauses waiting for a store slot: nothing will be stored for a closed session.
    for (const wake of this.#storeWaiters.splice(0)) wake();
    this.#edge.metrics.connectionsClosed.inc({ reason: reason.split(':')[0] ?? reason });
    this.#releasePending();
    if (!this.#written) {
      // Nothing to deliver (a socket silent until its CONNECT deadline): its memory goes now,
      // without a timer of its own.
      this.#socket.destroy();
      return;
    }
    this.#socket.end();
    // A peer that never reads must not keep the socket (and its buffers) alive.
    setTimeout(() => this.#socket.destroy(), 2000).unref();
  }

  #releasePending(): void {
    this.#pending?.release();
    this.#pending = undefined;
  }

  #onTransportClosed(): void {
    if (this.#phase === 'closed') return;
    if (this.#phase === 'open') {
      // Closed by the device without DISCONNECT: publish the will (MQTT-3.1.2-8).
      const actions = this.#session.transportClosed();
      for (const action of actions)
        if (action.kind === 'close' && action.will) this.#publishWill(action.will);
      this.#edge.metrics.connectionsClosed.inc({ reason: 'transport_closed' });
    }
    this.#phase = 'closed';
    this.#releasePending();
    for (const wake of this.#storeWaiters.splice(0)) wake();
    if (this.#accepted) {
      this.#edge.metrics.sessionsActive.dec();
      this.#edge.releaseSession(this);
    }
    this.#edge.metrics.connectionsActive.dec({ listener: this.listener });
  }
}

const emptyFrame: Frame = { type: 0, flags: 0, headerLength: 0, remainingLength: 0, bytes: Buffer.alloc(0) };
