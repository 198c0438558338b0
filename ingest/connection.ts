import type { Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { Logger } from '../lib/log.js';
import type { PacketEvent } from '../schemas/types.generated.js';
import type { AuthDecision, AuthRequest } from './auth/index.js';
import {
  type AckAndDrop,
  type ConnectionPort,
  type DeviceAccess,
  type FlowHost,
  type InboundContext,
  inboundChain,
  type QueuedPacket,
  type RestoredSession,
  runFlow,
} from './chain/index.js';
import {
  handleConnect,
  handlePublish,
  handleSubscribe,
  handleUnsubscribe,
  publishWill,
} from './handlers/index.js';
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
  InboundPacketReader,
  type ProtocolPolicy,
  type Refusal,
  type SessionAction,
} from './protocol/index.js';
import type { OwedMessage } from './session-queue.js';

export type { DeviceAccess } from './chain/index.js';

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
  claimSession(connection: DeviceConnection): Promise<RestoredSession>;
  releaseSession(connection: DeviceConnection): void;
  subscriptionsChanged(
    connection: DeviceConnection,
    added: ReadonlyMap<string, number>,
    removed: readonly string[],
  ): void;
  deliverRetained(connection: DeviceConnection, granted: ReadonlyMap<string, number>): void;
  /** Bytes a connection may have waiting for its device to read before QoS 0 downlink is shed. */
  readonly maxOutboundBufferBytes: number;
  /** QoS 1/2 messages a connection holds beyond its in-flight window (a resumed session's queue too). */
  readonly maxOwedMessages: number;
  assignClientId(): string;
}

type Phase = 'open' | 'closing' | 'closed';

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

/**
 * Where an internal failure happened, logged and in the event's edgeAction (`internal_error:<step>`):
 * reading, a pause, the deadline sweep, or the name of the chain or handler step that failed.
 */
type InternalStep = 'read' | 'pause' | 'expire' | (string & {});

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
  /** Set for a session under an assigned id: the device it authenticated as (port.rateKey). */
  #rateKey: string | undefined;
  /** A resumed session's owed messages that did not fit the in-flight window yet. */
  #owed: OwedMessage[] = [];
  #drainingOwed = false;
  #access: DeviceAccess | undefined;
  #accepted = false;
  /** Filter -> granted QoS of this session. */
  readonly subscriptions = new Map<string, number>();
  #queue: Array<QueuedPacket | { refusal: Refusal; frame?: Frame }> = [];
  /** Steps in progress that hold the handling of further packets (a lookup, a delay, a store slot). */
  #blocks = 0;
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
  /** What the chain's steps and the packet handlers may do with this connection. */
  readonly #port: ConnectionPort;
  /** How the inbound chain pauses and fails on this connection; one for every packet. */
  readonly #inboundHost: FlowHost<InboundContext> = {
    pause: (until) => this.#blockFor(until),
    fail: (error, step, { item }) =>
      this.#failInternally(error, step, () => this.#eventOf(item.packet, item.frame.bytes.length)),
  };

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
    this.#port = new DeviceConnection.#Port(this);
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

  /** Whether this session's ACL lets a downlink message on `topic` reach it. */
  canRead(topic: string): boolean {
    return this.#access?.canRead(topic) ?? false;
  }

  /** The same check, holding the session's ACL only (for a parked session that outlives this connection). */
  readAccess(): (topic: string) => boolean {
    const access = this.#access;
    return (topic) => access?.canRead(topic) ?? false;
  }

  /**
   * What a persistent session is still owed when this connection ends: its unfinished outbound
   * QoS 1/2 exchanges, then the owed messages not sent yet, oldest first.
   */
  unacknowledgedOutbound(): OwedMessage[] {
    return [...this.#session.unacknowledgedOutbound(), ...this.#owed];
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
    while (this.#blocks === 0 && this.#phase === 'open' && this.#queue.length > 0) {
      const item = this.#queue.shift()!;
      if ('refusal' in item) {
        try {
          this.#apply(this.#session.refuse(item.refusal), item.frame);
        } catch (error: unknown) {
          // A bug must cost this connection, not the process and its other devices.
          this.#failInternally(error, 'refusal');
        }
        continue;
      }
      const context: InboundContext = { port: this.#port, item, now: this.#edge.now(), actions: [] };
      runFlow(inboundChain, context, this.#inboundHost);
    }
  }

  #eventOf(packet: Packet, packetSize: number, receivedAt = this.#edge.now()): PacketEvent {
    return packetEventOf(this.identity, this.#sessionIdentity(), packet, packetSize, receivedAt);
  }

  /** `dropped`: the packet the actions answer is a PUBLISH acknowledged and dropped for this limit. */
  #apply(actions: readonly SessionAction[], frame?: Frame, dropped?: AckAndDrop): void {
    const packetSize = frame?.bytes.length ?? 0;
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          this.#send(action.packet);
          break;
        case 'authenticate':
          handleConnect(this.#port, action.connect, packetSize);
          break;
        case 'deliver':
          handlePublish(this.#port, action.publish, packetSize, dropped);
          break;
        case 'subscribe':
          handleSubscribe(this.#port, action.subscribe, packetSize);
          break;
        case 'unsubscribe':
          handleUnsubscribe(this.#port, action.unsubscribe);
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
          if (action.will) publishWill(this.#port, action.will);
          if (action.refusal) this.#recordRefusal(action.refusal, frame);
          this.#close(
            action.reason === 'refused' ? `refused:${action.refusal?.code ?? 'unknown'}` : action.reason,
          );
          break;
      }
    }
    // An acknowledgement may have freed a place in the in-flight window for what the session is owed.
    this.#drainOwedOnce();
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

  /** Records a QoS 1/2 PUBLISH's event; its PUBACK (PUBREC) goes out once Kafka acknowledged it. */
  #recordThenAcknowledge(event: PacketEvent, packetId: number, onStored?: () => void): void {
    this.#record(event, (error) => {
      if (error || this.#phase !== 'open') return;
      onStored?.();
      this.#apply(this.#session.inboundStored(packetId));
      for (const wake of this.#storeWaiters.splice(0)) wake();
    });
  }

  /**
   * The connection as the chain's steps and the packet handlers see it. Declared in this class's
   * body so it reaches the connection's private state; its methods are shared by every connection
   * (one two-field object per device, where a port of closures cost each idle device about 2 KB).
   */
  static readonly #Port = class Port implements ConnectionPort {
    readonly #c: DeviceConnection;
    readonly identity: ConnectionIdentity;

    constructor(connection: DeviceConnection) {
      this.#c = connection;
      this.identity = connection.identity;
    }
    get metrics(): IngestMetrics {
      return this.#c.#edge.metrics;
    }
    get session(): ConnectionSession {
      return this.#c.#session;
    }
    get subscriptions(): Map<string, number> {
      return this.#c.subscriptions;
    }
    get clientId(): string {
      return this.#c.#clientId;
    }
    get rateKey(): string {
      return this.#c.#rateKey ?? this.#c.#clientId;
    }
    get access(): DeviceAccess | undefined {
      return this.#c.#access;
    }
    get open(): boolean {
      return this.#c.#phase === 'open';
    }
    get accepted(): boolean {
      return this.#c.#accepted;
    }
    get persistent(): boolean {
      return this.#c.persistent;
    }
    now(): number {
      return this.#c.#edge.now();
    }
    checkRate(check: RateCheck, nowMs: number): RateDecision {
      return this.#c.#edge.checkRate(check, nowMs);
    }
    authenticate(request: AuthRequest): Promise<AuthDecision> {
      return this.#c.#edge.authenticate(request);
    }
    accessOf(decision: Extract<AuthDecision, { allow: true }>): DeviceAccess {
      const c = this.#c;
      return c.#edge.accessOf(decision, { clientId: c.#clientId, username: c.#username });
    }
    claimSession(): Promise<RestoredSession> {
      // Held by the connection from here, not from CONNACK: a device that leaves before it has its
      // subscriptions taken out of the index and what it is owed parked again (releaseSession).
      return this.#c.#edge.claimSession(this.#c).then((restored) => {
        for (const [filter, qos] of restored.subscriptions) this.#c.subscriptions.set(filter, qos);
        this.#c.#owed.push(...(restored.owed ?? []));
        return restored;
      });
    }
    releaseSession(): void {
      this.#c.#edge.releaseSession(this.#c);
    }
    subscriptionsChanged(added: ReadonlyMap<string, number>, removed: readonly string[]): void {
      this.#c.#edge.subscriptionsChanged(this.#c, added, removed);
    }
    deliverRetained(granted: ReadonlyMap<string, number>): void {
      this.#c.#edge.deliverRetained(this.#c, granted);
    }
    eventOf(packet: Packet, packetSize: number, receivedAt?: number): PacketEvent {
      return this.#c.#eventOf(packet, packetSize, receivedAt);
    }
    record(event: PacketEvent, onStored?: (error?: Error) => void): void {
      this.#c.#record(event, onStored);
    }
    recordThenAcknowledge(event: PacketEvent, packetId: number, onStored?: () => void): void {
      this.#c.#recordThenAcknowledge(event, packetId, onStored);
    }
    send(packet: Packet): void {
      this.#c.#send(packet);
    }
    apply(actions: readonly SessionAction[], frame?: Frame, dropped?: AckAndDrop): void {
      this.#c.#apply(actions, frame, dropped);
    }
    deadlineChanged(): void {
      this.#c.#deadline = this.#c.#session.deadlineMs();
    }
    identify(connect: { clientId: string; username: string | null; cleanSession: boolean }): void {
      const c = this.#c;
      c.#cleanSession = connect.cleanSession;
      c.#clientId = connect.clientId === '' ? c.#edge.assignClientId() : connect.clientId;
      if (connect.clientId === '' && connect.username !== null) c.#rateKey = connect.username;
      c.#username = connect.username;
    }
    grant(access: DeviceAccess): void {
      this.#c.#access = access;
    }
    accept(restored: RestoredSession): void {
      this.#c.#accept(restored);
    }
    close(reason: string): void {
      this.#c.#close(reason);
    }
    pause(until: Promise<unknown>): void {
      this.#c.#blockFor(until);
    }
    failInternally(error: unknown, step: string, event?: () => PacketEvent): void {
      this.#c.#failInternally(error, step, event);
    }
  };

  /** CONNECT accepted: CONNACK 0 with the restored session, and the session runs from here. */
  #accept(restored: RestoredSession): void {
    this.#accepted = true;
    this.#releasePending();
    this.#apply(this.#session.connectAccepted(restored.sessionPresent, this.#edge.now()));
    this.#deadline = this.#session.deadlineMs();
    this.#drainOwedOnce();
    this.#edge.metrics.sessionsActive.inc();
    this.#edge.metrics.connectionSetupSeconds.observe((this.#edge.now() - this.#openedAt) / 1000);
  }

  /**
   * After CONNACK of a resumed persistent session: its unfinished exchanges again under their packet
   * ids (PUBLISH with DUP, or PUBREL), then what was queued while it was away (MQTT-4.4.0-1,
   * MQTT-3.1.2-5). What does not fit the in-flight window waits for acknowledgements.
   */
  #owe(message: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): boolean {
    if (this.#owed.length >= this.#edge.maxOwedMessages) {
      this.#edge.metrics.downlinkDropped.inc({ reason: 'inflight_window_full' });
      return false;
    }
    this.#owed.push({
      topic: message.topic,
      payload: message.payload,
      qos: message.qos as 1 | 2,
      retain: message.retain,
    });
    return true;
  }

  #drainOwedOnce(): void {
    if (this.#owed.length === 0 || this.#drainingOwed) return;
    this.#drainingOwed = true;
    try {
      this.#drainOwed();
    } finally {
      this.#drainingOwed = false;
    }
  }

  #drainOwed(): void {
    while (this.#owed.length > 0 && this.connected) {
      const next = this.#owed[0]!;
      // The ACL may have narrowed while the device was away: what it may no longer read is dropped.
      if (!this.canRead(next.topic)) {
        this.#owed.shift();
        this.#edge.metrics.sessionQueue.inc({ outcome: 'acl' });
        continue;
      }
      const actions =
        next.packetId !== undefined
          ? this.#session.resumeOutbound({
              ...next,
              packetId: next.packetId,
              released: next.released === true,
            })
          : this.#session.outboundPublish(next);
      if (actions === 'window-full') return;
      this.#owed.shift();
      this.#edge.metrics.sessionQueue.inc({ outcome: 'redelivered' });
      this.#apply(actions);
    }
  }

  /** A downlink message for this session; QoS is the lower of the message's and the subscription's. */
  deliverDownlink(message: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): boolean {
    if (!this.connected) return false;
    // A device that does not read: QoS 0 is shed rather than buffered without bound (QoS 1/2 are
    // bounded by the in-flight window).
    if (message.qos === 0 && this.#socket.writableLength > this.#edge.maxOutboundBufferBytes) {
      this.#edge.metrics.downlinkDropped.inc({ reason: 'slow_subscriber' });
      return false;
    }
    // QoS 1/2 behind a backlog (or a full in-flight window) wait in order, up to a bound.
    if (message.qos > 0 && this.#owed.length > 0) return this.#owe(message);
    const actions = this.#session.outboundPublish(message);
    if (actions === 'window-full') return message.qos > 0 ? this.#owe(message) : false;
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
    for (const action of actions)
      if (action.kind === 'close' && action.will) publishWill(this.#port, action.will);
    this.#close('taken_over');
  }

  /**
   * First step of the proxy's shutdown: read and handle nothing more, but keep the socket open so
   * the PUBACKs of PUBLISHes Kafka is still acknowledging reach the device.
   */
  stopReading(): void {
    if (this.#phase !== 'open') return;
    this.#queue = [];
    this.#blocks++;
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
    if (stopHandling) this.#blocks++;
    if (reason !== 'step') {
      this.#backpressure++;
      this.#edge.metrics.connectionsPaused.inc({ reason });
    }
    this.#pauses++;
    this.#socket.pause();
    until
      .catch((error: unknown) => this.#failInternally(error, 'pause'))
      .finally(() => {
        if (stopHandling) this.#blocks--;
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
    // A peer that never reads must not keep the socket (and its buffers) alive; the timer goes
    // when the socket closes, so it does not hold a closed connection's objects for its 2 s.
    const destroyLater = setTimeout(() => this.#socket.destroy(), 2000).unref();
    this.#socket.once('close', () => clearTimeout(destroyLater));
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
        if (action.kind === 'close' && action.will) publishWill(this.#port, action.will);
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
