import mqttPacket, { type IPublishPacket, type Packet, type QoS } from 'mqtt-packet';
import type { Logger } from '../lib/log.js';
import type { Backoff } from './backoff.js';
import { type LinkTransport, openTransport } from './link-transport.js';
import type { BridgeMetrics } from './metrics.js';

/**
 * One MQTT session with the origin (3.1.1; 5 for the retained-state follower), carried over
 * WebSocket (subprotocol `mqtt`, binary frames), so the customer's L7 hop (WAF, Envoy, nginx) sees
 * HTTP and WebSocket, never raw MQTT; or over TCP/TLS where a setting says so (link-transport.ts). The bridge
 * is the MQTT client here: it sends CONNECT with its own credentials, keeps the session alive with
 * PINGREQ, publishes at QoS 1 or 2 with packet ids it allocates, and matches PUBACK / PUBREC-PUBCOMP.
 *
 * Messages leave in the order they were queued. At most `maxInFlight` are unacknowledged at a time.
 * When the connection drops, every message sent but not acknowledged is sent again, first and in its
 * original order, after the reconnect (DUP set): those, and only those, may reach the origin twice.
 */
export interface OutboundMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** QoS towards the origin, 1 or 2. */
  readonly qos: 1 | 2;
  readonly retain: boolean;
  /** Which Kafka partition it came from, so a revoked partition's queued messages can be dropped. */
  readonly partition: number;
  /** The origin acknowledged it (PUBACK, or PUBCOMP for QoS 2): `at` is Date.now(), `publishedAt` the last send. */
  readonly onAcknowledged: (at: number, publishedAt: number, attempts: number) => void;
}

export interface InboundMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly receivedAt: number;
}

export interface OriginLinkOptions {
  /** Label of this connection in logs and metrics (c0, c1, ..., downlink). */
  readonly name: string;
  readonly url: string;
  readonly clientId: string;
  readonly username: string;
  readonly password: string;
  readonly ca?: Buffer;
  readonly keepAliveSeconds: number;
  readonly cleanSession: boolean;
  readonly maxInFlight: number;
  readonly backoff: Backoff;
  readonly connectTimeoutMs: number;
  /**
   * Topic filters subscribed after every CONNACK, at QoS 2: the origin then forwards each message
   * at the QoS it was published with (MQTT-3.8.4-6 takes the lower of the two), which the edge
   * passes on to devices.
   */
  readonly subscriptions?: readonly string[];
  /**
   * MQTT 5 with Retain As Published on the subscriptions: a live message keeps the RETAIN flag its
   * publisher set, so the bridge sees every change of the origin's retained state (MQTT 3.1.1
   * clears the flag on everything but a subscription's replay, MQTT-3.3.1-9).
   */
  readonly retainAsPublished?: boolean;
  /** An origin PUBLISH for us; its PUBACK is sent (in arrival order) once the promise resolves. */
  readonly onMessage?: (message: InboundMessage) => Promise<void>;
  readonly metrics: BridgeMetrics;
  readonly log: Logger;
}

interface Pending {
  readonly message: OutboundMessage;
  packetId: number;
  attempts: number;
  publishedAt: number;
  /** QoS 2: PUBREC received and PUBREL sent; waiting for PUBCOMP. */
  released: boolean;
}

const connackReasons: Readonly<Record<number, string>> = {
  1: 'unacceptable protocol version',
  2: 'client identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorised',
};

export class OriginLink {
  readonly name: string;
  private readonly options: OriginLinkOptions;
  private socket: LinkTransport | null = null;
  /** Increases on every new connection, so late callbacks of an old one are ignored. */
  private generation = 0;
  private connected = false;
  private stopping = false;
  private readonly queue: Pending[] = [];
  private queueHead = 0;
  /** Unacknowledged, by packet id, in send order (Map keeps insertion order). */
  private readonly inFlight = new Map<number, Pending>();
  private nextPacketId = 1;
  private writes: Buffer[] = [];
  private flushScheduled = false;
  private lastSentAt = 0;
  private pingSentAt = 0;
  /** When the origin last sent anything: a server busy sending is alive, whatever its PINGRESP queue. */
  private lastReceivedAt = 0;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private inboundAcks: Promise<void> = Promise.resolve();
  private idleWaiters: Array<() => void> = [];
  private readyWaiters: Array<() => void> = [];
  private subscribed = false;
  /** Inbound QoS 2 packet ids stored and answered with PUBREC, until their PUBREL (MQTT-4.3.3). */
  private readonly receivedQos2 = new Set<number>();
  private readonly connectedListeners: Array<(connected: boolean) => void> = [];
  private readonly protocolVersion: 4 | 5;
  private readonly subackListeners: Array<() => void> = [];

  constructor(options: OriginLinkOptions) {
    this.options = options;
    this.name = options.name;
    this.protocolVersion = options.retainAsPublished ? 5 : 4;
  }

  /** Called after each SUBACK of the subscriptions (once per connection). */
  watchSubscribed(listener: () => void): void {
    this.subackListeners.push(listener);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Queued, not yet sent. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  get unacknowledged(): number {
    return this.inFlight.size;
  }

  /** Called on every change between connected (CONNACK 0) and disconnected. */
  watchConnected(listener: (connected: boolean) => void): void {
    this.connectedListeners.push(listener);
  }

  start(): void {
    this.open();
  }

  /** Connected, and the origin answered the downlink SUBSCRIBE (when there is one). */
  get isReady(): boolean {
    return this.connected && this.subscribed;
  }

  /** Resolves once the link is ready (at once when it is). */
  whenReady(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  publish(message: OutboundMessage): void {
    this.queue.push({ message, packetId: 0, attempts: 0, publishedAt: 0, released: false });
    this.pump();
  }

  /** Drops queued (never sent) messages of the given partitions; returns how many. */
  dropQueued(partitions: ReadonlySet<number>): number {
    const kept = this.queue.slice(this.queueHead).filter((p) => !partitions.has(p.message.partition));
    const dropped = this.queued - kept.length;
    this.queue.length = 0;
    this.queue.push(...kept);
    this.queueHead = 0;
    return dropped;
  }

  /**
   * Graceful stop: waits up to `drainMs` for queued and in-flight messages to be acknowledged,
   * then sends DISCONNECT (MQTT-3.14: the session ends without the will) and closes.
   */
  async stop(drainMs: number): Promise<void> {
    if (this.connected && (this.queued > 0 || this.inFlight.size > 0)) {
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref()),
      ]);
    }
    this.stopping = true;
    for (const timer of [this.reconnectTimer, this.keepAliveTimer, this.connectTimer]) {
      if (timer) clearTimeout(timer);
    }
    const socket = this.socket;
    this.socket = null;
    if (socket?.isOpen) {
      this.flushTo(socket);
      socket.send(this.encode({ cmd: 'disconnect' }));
      await socket.close();
    } else socket?.terminate();
    this.setConnected(false);
  }

  private open(): void {
    if (this.stopping) return;
    const generation = ++this.generation;
    const { options } = this;
    const parser = mqttPacket.parser({ protocolVersion: this.protocolVersion });
    parser.on('packet', (packet: Packet) => {
      if (generation === this.generation) this.onPacket(packet, generation);
    });
    const socket: LinkTransport = openTransport(
      {
        url: options.url,
        connectTimeoutMs: options.connectTimeoutMs,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      {
        onOpen: () => {
          this.connectTimer = setTimeout(() => {
            options.log.warn({ connection: this.name }, 'no CONNACK from the origin in time');
            socket.terminate();
          }, options.connectTimeoutMs);
          this.write(
            this.encode({
              cmd: 'connect',
              protocolId: 'MQTT',
              protocolVersion: this.protocolVersion,
              clean: options.cleanSession,
              keepalive: options.keepAliveSeconds,
              clientId: options.clientId,
              username: options.username,
              password: Buffer.from(options.password),
            }),
          );
        },
        onData: (chunk) => parser.parse(chunk),
        onError: (err) =>
          options.log.warn(
            { connection: this.name, url: options.url, err: err.message },
            'origin connection error',
          ),
        onClose: () => {
          if (generation === this.generation) this.onClosed();
        },
      },
    );
    this.socket = socket;
    parser.on('error', (err: Error) => {
      options.log.warn({ connection: this.name, err: err.message }, 'malformed packet from the origin');
      socket.terminate();
    });
  }

  private onClosed(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    this.socket = null;
    this.writes = [];
    // A persistent session's origin re-sends PUBREL for these after the reconnect; a clean one forgets them.
    if (this.options.cleanSession) this.receivedQos2.clear();
    this.setConnected(false);
    if (this.stopping) return;
    const delay = this.options.backoff.next();
    this.options.log.info({ connection: this.name, delayMs: delay }, 'origin connection lost; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.options.metrics.reconnects.inc({ connection: this.name });
      this.open();
    }, delay);
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.options.metrics.connected.set({ connection: this.name }, connected ? 1 : 0);
    for (const listener of this.connectedListeners) listener(connected);
    if (!connected) this.subscribed = false;
    this.wakeIfReady();
  }

  private wakeIfReady(): void {
    if (this.isReady) for (const wake of this.readyWaiters.splice(0)) wake();
  }

  private onPacket(packet: Packet, generation: number): void {
    this.lastReceivedAt = Date.now();
    switch (packet.cmd) {
      case 'connack': {
        if (this.connectTimer) clearTimeout(this.connectTimer);
        const code = packet.returnCode ?? packet.reasonCode ?? -1;
        if (code !== 0) {
          this.options.log.error(
            {
              connection: this.name,
              code: 'SNT_ORIGIN_REFUSED',
              returnCode: code,
              username: this.options.username,
            },
            `the origin refused the bridge: ${connackReasons[code] ?? 'unknown return code'}`,
          );
          this.socket?.terminate();
          return;
        }
        this.options.backoff.reset();
        // No session at the origin: ids it sent before are not coming back as PUBREL, and may be reused.
        if (!packet.sessionPresent) this.receivedQos2.clear();
        this.onConnected();
        return;
      }
      case 'puback': {
        const pending = this.inFlight.get(packet.messageId ?? 0);
        if (pending && pending.message.qos === 1) this.acknowledged(pending);
        return;
      }
      case 'pubrec': {
        const pending = this.inFlight.get(packet.messageId ?? 0);
        if (pending?.message.qos !== 2) return;
        // MQTT-4.3.3: after PUBREC the sender releases the packet id with PUBREL and awaits PUBCOMP.
        pending.released = true;
        this.write(this.encode({ cmd: 'pubrel', messageId: pending.packetId }));
        return;
      }
      case 'pubcomp': {
        const pending = this.inFlight.get(packet.messageId ?? 0);
        if (pending?.released) this.acknowledged(pending);
        return;
      }
      case 'publish':
        this.onInbound(packet, generation);
        return;
      case 'suback': {
        // 0x80 in MQTT 3.1.1; every code from 0x80 up is a refusal in MQTT 5.
        const refused = (packet.granted as number[]).filter((code) => code >= 0x80).length;
        if (refused > 0) {
          this.options.log.error(
            { connection: this.name, filters: this.options.subscriptions, granted: packet.granted },
            'the origin refused downlink subscriptions (SUBACK 0x80): check the ACL of the bridge account',
          );
        }
        this.subscribed = true;
        this.wakeIfReady();
        for (const listener of this.subackListeners) listener();
        return;
      }
      case 'pubrel':
        this.receivedQos2.delete(packet.messageId ?? 0);
        this.write(this.encode({ cmd: 'pubcomp', messageId: packet.messageId ?? 0 }));
        return;
      case 'pingresp':
        this.pingSentAt = 0;
        return;
      default:
        return;
    }
  }

  private onConnected(): void {
    const { options } = this;
    this.lastSentAt = Date.now();
    this.pingSentAt = 0;
    const intervalMs = (options.keepAliveSeconds * 1000) / 4;
    this.keepAliveTimer = setInterval(() => this.keepAlive(), intervalMs);
    this.keepAliveTimer.unref();
    const filters = options.subscriptions ?? [];
    this.subscribed = filters.length === 0;
    if (!this.subscribed) {
      this.write(
        this.encode({
          cmd: 'subscribe',
          messageId: this.allocatePacketId(),
          subscriptions: filters.map((topic) =>
            options.retainAsPublished ? { topic, qos: 2 as QoS, rap: true, rh: 0 } : { topic, qos: 2 as QoS },
          ),
        }),
      );
    }
    // Whatever was sent and not acknowledged goes first, in its original order.
    for (const pending of this.inFlight.values()) this.send(pending);
    this.setConnected(true);
    options.log.info({ connection: this.name, resent: this.inFlight.size }, 'connected to the origin');
    this.pump();
  }

  private keepAlive(): void {
    if (!this.connected || !this.socket) return;
    const now = Date.now();
    const keepAliveMs = this.options.keepAliveSeconds * 1000;
    // A PINGRESP queued behind a burst of PUBLISHes to us arrives late; only a silent origin is dead.
    if (
      this.pingSentAt > 0 &&
      now - this.pingSentAt > keepAliveMs &&
      now - this.lastReceivedAt > keepAliveMs
    ) {
      this.options.log.warn({ connection: this.name }, 'no PINGRESP within the keep-alive; reconnecting');
      this.socket.terminate();
      return;
    }
    // MQTT-3.1.2-23: a control packet at least once per Keep Alive; half of it leaves room for latency.
    // Again while an earlier one is unanswered: the origin must hear from us too.
    if (now - this.lastSentAt >= keepAliveMs / 2) {
      if (this.pingSentAt === 0) this.pingSentAt = now;
      this.write(this.encode({ cmd: 'pingreq' }));
    }
  }

  private onInbound(packet: IPublishPacket, generation: number): void {
    const messageId = packet.messageId ?? 0;
    if (packet.qos === 2) {
      // A re-sent QoS 2 PUBLISH whose PUBREC was lost: stored already, so only answered again.
      if (this.receivedQos2.has(messageId)) {
        this.inboundAcks = this.inboundAcks.then(() => {
          if (generation === this.generation) this.write(this.encode({ cmd: 'pubrec', messageId }));
        });
        return;
      }
      this.receivedQos2.add(messageId);
    }
    const handler = this.options.onMessage;
    const message: InboundMessage = {
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      retain: packet.retain,
      receivedAt: Date.now(),
    };
    const stored = handler ? handler(message) : Promise.resolve();
    if (packet.qos === 0) {
      stored.catch(() => undefined);
      return;
    }
    // MQTT-4.6.0-2: PUBACKs in the order the PUBLISHes arrived, each after its record is stored.
    this.inboundAcks = Promise.all([this.inboundAcks, stored]).then(
      () => {
        if (generation !== this.generation) return;
        this.write(
          this.encode(packet.qos === 1 ? { cmd: 'puback', messageId } : { cmd: 'pubrec', messageId }),
        );
      },
      (err: unknown) => {
        this.receivedQos2.delete(messageId);
        this.options.log.error(
          { connection: this.name, err: (err as Error).message },
          'downlink record not stored; dropping the origin connection so the message is not acknowledged',
        );
        this.inboundAcks = Promise.resolve();
        if (generation === this.generation) this.socket?.terminate();
      },
    );
  }

  private acknowledged(pending: Pending): void {
    this.inFlight.delete(pending.packetId);
    pending.message.onAcknowledged(Date.now(), pending.publishedAt, pending.attempts);
    this.pump();
    if (this.queued === 0 && this.inFlight.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private pump(): void {
    while (
      this.connected &&
      this.inFlight.size < this.options.maxInFlight &&
      this.queueHead < this.queue.length
    ) {
      const pending = this.queue[this.queueHead] as Pending;
      this.queue[this.queueHead] = undefined as unknown as Pending;
      this.queueHead++;
      pending.packetId = this.allocatePacketId();
      this.inFlight.set(pending.packetId, pending);
      this.send(pending);
    }
    if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  private send(pending: Pending): void {
    const { message } = pending;
    pending.attempts++;
    pending.released = false;
    pending.publishedAt = Date.now();
    this.write(
      this.encode({
        cmd: 'publish',
        topic: message.topic,
        payload: message.payload,
        qos: message.qos,
        retain: message.retain,
        // MQTT-3.3.1-1: DUP on a re-delivery of a PUBLISH.
        dup: pending.attempts > 1,
        messageId: pending.packetId,
      }),
    );
  }

  private encode(packet: Packet): Buffer {
    return mqttPacket.generate(packet, { protocolVersion: this.protocolVersion });
  }

  private allocatePacketId(): number {
    // MQTT-2.3.1-1: a non-zero id not used by another unacknowledged packet.
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.inFlight.has(id)) return id;
    }
  }

  /** Packets written in one tick travel in one WebSocket frame (MQTT over WebSocket allows it). */
  private write(bytes: Buffer): void {
    this.writes.push(bytes);
    this.lastSentAt = Date.now();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.socket) this.flushTo(this.socket);
    else this.writes = [];
  }

  private flushTo(socket: LinkTransport): void {
    if (this.writes.length === 0 || !socket.isOpen) {
      this.writes = [];
      return;
    }
    const frame = this.writes.length === 1 ? (this.writes[0] as Buffer) : Buffer.concat(this.writes);
    this.writes = [];
    socket.send(frame);
  }
}
