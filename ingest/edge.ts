import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type TLSSocket,
  type TlsOptions,
  type Server as TlsServer,
} from 'node:tls';
import type { Logger } from '../lib/log.js';
import { downlinkTargetOf } from '../lib/mqtt/downlink-target.js';
import type { RetainedIndex, RetainedMessage } from '../lib/mqtt/retained.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { DownlinkMessage, PacketEvent } from '../schemas/types.generated.js';
import { type AuthDecision, type AuthRequest, DeviceAclPolicy, type SubscribeMatch } from './auth/index.js';
import type { RestoredSession } from './chain/index.js';
import { type DeviceAccess, DeviceConnection, type EdgeServices } from './connection.js';
import { DeadlineSweep } from './deadline-sweep.js';
import type { PacketEventWriter } from './event-writer.js';
import type { RateCheck, RateDecision } from './limits/index.js';
import type { IngestMetrics } from './metrics.js';
import { type DownlinkSubscriber, ParkedSession } from './parked-sessions.js';
import {
  type PendingConnectLimits,
  PendingConnects,
  type PendingRefusal,
  type PendingSlot,
} from './pending-connects.js';
import type { ProtocolPolicy } from './protocol/index.js';
import {
  type ProxiedAddress,
  type ProxyProtocolMode,
  type ProxyRefusalCode,
  parseProxyHeader,
  type TrustedProxies,
} from './proxy-protocol.js';
import type { OwedMessage } from './session-queue.js';
import type { SessionRegistry, Takeover } from './session-registry.js';
import { SubscriptionIndex } from './subscription-index.js';

/**
 * One edge proxy: its listeners, its connections, and the services they share (auth, limits, the
 * event writer, the session registry, the downlink routing). Connections are plain objects driven
 * by socket events; one sweep per proxy enforces every CONNECT and keep-alive deadline, so an idle
 * connection costs no timer. Sockets that have not completed CONNECT are bounded in total and per
 * source address from the moment they are accepted (PendingConnects).
 */
export interface EdgeDependencies {
  readonly proxyId: string;
  readonly policy: ProtocolPolicy;
  readonly log: Logger;
  readonly metrics: IngestMetrics;
  readonly authenticate: (request: AuthRequest) => Promise<AuthDecision>;
  readonly limiter: { check(input: RateCheck, nowMs: number): RateDecision };
  readonly writer: PacketEventWriter;
  readonly catalog: SchemaCatalog;
  readonly sessions: SessionRegistry | undefined;
  /** The origin's retained messages, for new subscribers; absent = none are delivered. */
  readonly retained?: RetainedIndex;
  /** Bytes a connection may hold unread by its device before QoS 0 downlink is shed (default 1 MiB). */
  readonly maxOutboundBufferBytes?: number;
  /** How SUBSCRIBE filters are judged against the device's patterns (default 'cover'). */
  readonly subscribeMatch?: SubscribeMatch;
  /** Persistent sessions whose device is away: how long they are kept, how much is queued for each. */
  readonly persistentSessions?: PersistentSessionLimits;
  /** Bounds on sockets that have not completed CONNECT; over one, a socket is closed at accept. */
  readonly pendingConnects: PendingConnectLimits;
  /** Read a PROXY protocol header before MQTT (or TLS) on every listener; absent = off. */
  readonly proxyProtocol?: ProxyProtocolPolicy;
  readonly now?: () => number;
}

export interface PersistentSessionLimits {
  /** A parked session (claim, subscriptions, queue) is dropped this long after its device left. */
  readonly expiryMs: number;
  /** Messages queued per session; past it the oldest leave first. */
  readonly maxQueued: number;
  /** Sessions parked on this proxy at once; one more is not parked (its queue gets nothing new). */
  readonly maxParked: number;
}

export const defaultPersistentSessionLimits: PersistentSessionLimits = {
  expiryMs: 24 * 60 * 60 * 1000,
  maxQueued: 1000,
  maxParked: 100_000,
};

export interface ProxyProtocolPolicy {
  readonly mode: Exclude<ProxyProtocolMode, 'off'>;
  /** Peers allowed to send the header (the load balancers); others are refused. */
  readonly trusted: TrustedProxies;
  /** A header not complete within this is refused (slowloris before CONNECT). */
  readonly headerTimeoutMs: number;
}

export interface ListenerAddress {
  readonly name: 'mqtt' | 'mqtts';
  readonly host: string;
  readonly port: number;
}

const sweepIntervalMs = 250;
/** Connections closed for a passed deadline in one event-loop turn (each records an event and closes a socket). */
const expiriesPerTurn = 100;

export class EdgeProxy implements EdgeServices {
  readonly proxyId: string;
  readonly policy: ProtocolPolicy;
  readonly log: Logger;
  readonly metrics: IngestMetrics;
  readonly #deps: EdgeDependencies;
  readonly #connections = new Set<DeviceConnection>();
  readonly #byClientId = new Map<string, DeviceConnection>();
  readonly #index = new SubscriptionIndex<DownlinkSubscriber>();
  readonly #parked = new Map<string, ParkedSession>();
  /** Connections taken over on this proxy whose owed exchanges the newer connection took. */
  readonly #handedOver = new WeakSet<DeviceConnection>();
  readonly maxOutboundBufferBytes: number;
  get maxOwedMessages(): number {
    return (this.#deps.persistentSessions ?? defaultPersistentSessionLimits).maxQueued;
  }
  #parkedSweep: NodeJS.Timeout | undefined;
  readonly #servers: Array<Server | TlsServer> = [];
  readonly #pending: PendingConnects;
  readonly #sweep: DeadlineSweep<DeviceConnection>;
  #connectionSeq = 0;
  #shutdown: Promise<void> | undefined;

  constructor(deps: EdgeDependencies) {
    this.#deps = deps;
    this.maxOutboundBufferBytes = deps.maxOutboundBufferBytes ?? 1024 * 1024;
    this.proxyId = deps.proxyId;
    this.policy = deps.policy;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.#pending = new PendingConnects(deps.pendingConnects, (pending) =>
      this.metrics.pendingConnects.set(pending),
    );
    this.#sweep = new DeadlineSweep({
      items: () => this.#connections,
      now: () => this.now(),
      intervalMs: sweepIntervalMs,
      perTurn: expiriesPerTurn,
    });
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Sockets that have not completed CONNECT, and the source addresses they are counted under. */
  get pendingConnects(): { readonly sockets: number; readonly addresses: number } {
    return { sockets: this.#pending.size, addresses: this.#pending.addresses };
  }

  now(): number {
    return this.#deps.now ? this.#deps.now() : Date.now();
  }

  checkRate(check: RateCheck, nowMs: number): RateDecision {
    return this.#deps.limiter.check(check, nowMs);
  }

  authenticate(request: AuthRequest): Promise<AuthDecision> {
    return this.#deps.authenticate(request);
  }

  accessOf(
    decision: Extract<AuthDecision, { allow: true }>,
    identity: { clientId: string; username: string | null },
  ): DeviceAccess {
    return new DeviceAclPolicy(
      decision.acls,
      {
        clientId: identity.clientId,
        ...(identity.username === null ? {} : { username: identity.username }),
      },
      this.#deps.subscribeMatch,
    );
  }

  record(event: PacketEvent, onStored?: (error?: Error) => void): boolean {
    const lane = event.packetType === 'PUBLISH' ? 'publish' : 'connection';
    return this.#deps.writer.write(
      event.clientId,
      this.#deps.catalog.encode('packets', event),
      onStored,
      lane,
    );
  }

  recordDrained(): Promise<void> {
    return this.#deps.writer.onDrain();
  }

  assignClientId(): string {
    // MQTT-3.1.3-6: the server assigns a unique id to a client that sent none.
    return `sentinel-${randomUUID()}`;
  }

  async claimSession(connection: DeviceConnection): Promise<RestoredSession> {
    const clientId = connection.clientId;
    const previous = this.#byClientId.get(clientId);
    // A persistent session taken over on this proxy hands its unfinished exchanges to the new
    // connection at once (MQTT-4.4.0-1); a CleanSession 1 newcomer discards them with the session.
    let handedOver: OwedMessage[] = [];
    if (previous && previous !== connection) {
      if (previous.persistent && connection.persistent) handedOver = previous.unacknowledgedOutbound();
      this.#handedOver.add(previous);
      previous.takenOver();
    }
    this.#byClientId.set(clientId, connection);
    this.#unpark(clientId);
    const sessions = this.#deps.sessions;
    const stored = await sessions?.claim(clientId, connection.identity.connectionId, connection.persistent);
    if (stored && stored.unreadable > 0)
      this.metrics.sessionQueue.inc({ outcome: 'unreadable' }, stored.unreadable);
    // The claim returns a stored session only for a persistent one (it discards the others).
    const subscriptions: ReadonlyMap<string, number> = stored?.subscriptions ?? new Map();
    const owed = [...handedOver, ...(stored?.owed ?? [])];
    const sessionPresent = subscriptions.size > 0 || owed.length > 0;
    for (const [filter, qos] of subscriptions) this.#index.add(filter, connection, qos);
    return { sessionPresent, subscriptions, owed };
  }

  releaseSession(connection: DeviceConnection): void {
    for (const filter of connection.subscriptions.keys()) this.#index.remove(filter, connection);
    const { clientId } = connection;
    const connectionId = connection.identity.connectionId;
    const sessions = this.#deps.sessions;
    const limits = this.#deps.persistentSessions ?? defaultPersistentSessionLimits;
    const owed = connection.persistent ? connection.unacknowledgedOutbound() : [];
    if (this.#byClientId.get(clientId) !== connection) {
      // Taken over. On this proxy, what it owed went to the newer connection at the claim; from
      // another proxy, the newer connection has loaded the queue already and these are lost.
      if (!this.#handedOver.delete(connection) && owed.length > 0)
        this.metrics.sessionQueue.inc({ outcome: 'lost_on_takeover' }, owed.length);
      return;
    }
    this.#byClientId.delete(clientId);
    if (!connection.persistent || !sessions) {
      sessions?.release(clientId, connectionId);
      return;
    }
    // Parked at once, so a takeover announced before Redis answers finds it; undone if not owned.
    const parked = this.#park(
      clientId,
      connectionId,
      connection.subscriptions,
      connection.readAccess(),
      limits,
    );
    void sessions.park(clientId, connectionId, owed, limits.expiryMs, limits.maxQueued).then((owned) => {
      if (!owned && parked && this.#parked.get(clientId) === parked) this.#unpark(clientId);
    });
  }

  #park(
    clientId: string,
    connectionId: string,
    subscriptions: ReadonlyMap<string, number>,
    canRead: (topic: string) => boolean,
    limits: PersistentSessionLimits,
  ): ParkedSession | undefined {
    if (subscriptions.size === 0) return undefined;
    if (this.#parked.size >= limits.maxParked) {
      this.metrics.sessionQueue.inc({ outcome: 'not_parked' });
      return undefined;
    }
    const sessions = this.#deps.sessions!;
    const parked = new ParkedSession(
      clientId,
      new Map(subscriptions),
      canRead,
      this.now() + limits.expiryMs,
      (message) => {
        this.metrics.sessionQueue.inc({ outcome: 'queued' });
        void sessions.enqueue(clientId, connectionId, message, limits.maxQueued).then((stillParked) => {
          // The claim moved on (the device is back, or the session expired or was discarded).
          if (!stillParked && this.#parked.get(clientId) === parked) this.#unpark(clientId);
        });
      },
    );
    this.#parked.set(clientId, parked);
    for (const [filter, qos] of parked.subscriptions) this.#index.add(filter, parked, qos);
    this.metrics.sessionsParked.set(this.#parked.size);
    this.#parkedSweep ??= setInterval(() => this.#expireParked(), 60_000).unref();
    return parked;
  }

  #unpark(clientId: string): void {
    const parked = this.#parked.get(clientId);
    if (!parked) return;
    this.#parked.delete(clientId);
    for (const filter of parked.subscriptions.keys()) this.#index.remove(filter, parked);
    this.metrics.sessionsParked.set(this.#parked.size);
  }

  #expireParked(): void {
    const now = this.now();
    for (const [clientId, parked] of this.#parked) if (parked.expiresAt <= now) this.#unpark(clientId);
    if (this.#parked.size === 0) {
      clearInterval(this.#parkedSweep);
      this.#parkedSweep = undefined;
    }
  }

  subscriptionsChanged(
    connection: DeviceConnection,
    added: ReadonlyMap<string, number>,
    removed: readonly string[],
  ): void {
    for (const [filter, qos] of added) this.#index.add(filter, connection, qos);
    for (const filter of removed) this.#index.remove(filter, connection);
    if (connection.persistent)
      void this.#deps.sessions?.saveSubscriptions(connection.clientId, added, removed);
  }

  /**
   * MQTT-3.3.1-6: the retained messages that the filters of a SUBSCRIBE just granted match, RETAIN
   * set, each at the lower of its QoS and the subscription's. A topic matched by several of the
   * filters is sent once, at the highest of their QoS (MQTT-3.3.5-1).
   */
  deliverRetained(connection: DeviceConnection, granted: ReadonlyMap<string, number>): void {
    const retained = this.#deps.retained;
    if (!retained || retained.size === 0) return;
    const matched = new Map<string, { message: RetainedMessage; qos: number }>();
    for (const [filter, grantedQos] of granted) {
      for (const [topic, message] of retained.match(filter)) {
        if (!connection.canRead(topic)) continue;
        // As live delivery: a topic naming one device is that device's only.
        const target = downlinkTargetOf(topic);
        if (target !== null && target !== connection.clientId) continue;
        const qos = Math.min(grantedQos, message.qos);
        const previous = matched.get(topic);
        if (!previous || qos > previous.qos) matched.set(topic, { message, qos });
      }
    }
    for (const [topic, { message, qos }] of matched) {
      const sent = connection.deliverDownlink({
        topic,
        payload: message.payload,
        qos: qos as 0 | 1 | 2,
        retain: true,
      });
      this.metrics.retainedDelivered.inc({ outcome: sent ? 'sent' : 'not_deliverable' });
    }
  }

  /** MQTT-3.1.4-2: a CONNECT with this client id was accepted elsewhere (or here, on another connection). */
  onTakeover(takeover: Takeover): void {
    // The device is back on another connection: a session parked here stops queueing.
    if (takeover.proxyId !== this.proxyId) this.#unpark(takeover.clientId);
    const current = this.#byClientId.get(takeover.clientId);
    if (!current || current.identity.connectionId === takeover.connectionId) return;
    this.#byClientId.delete(takeover.clientId);
    for (const filter of current.subscriptions.keys()) this.#index.remove(filter, current);
    current.takenOver();
  }

  /**
   * Delivers a downlink message to the local sessions whose filters match, each at the lower of
   * the message's QoS and its subscription's. A message naming its target client goes to that
   * session only.
   */
  deliverDownlink(message: DownlinkMessage, producedAt: number): number {
    let delivered = 0;
    const matches = this.#index.match(message.topic);
    for (const [connection, grantedQos] of matches) {
      if (message.targetClientId !== null && connection.clientId !== message.targetClientId) continue;
      if (!connection.canRead(message.topic)) {
        this.metrics.downlinkDropped.inc({ reason: 'acl' });
        continue;
      }
      const qos = Math.min(grantedQos, message.qos) as 0 | 1 | 2;
      if (connection.deliverDownlink({ topic: message.topic, payload: message.payload, qos, retain: false }))
        delivered++;
    }
    if (delivered > 0) {
      this.metrics.forwardSeconds.observe(
        { direction: 'outbound' },
        Math.max(0, Date.now() - producedAt) / 1000,
      );
    }
    if (delivered === 0 && matches.size > 0) this.metrics.downlinkDropped.inc({ reason: 'not_deliverable' });
    return delivered;
  }

  /**
   * A device connection from an accepted socket. `peer` is the device's address stated by a PROXY
   * protocol header; without one the socket's own peer is the device. `pending` is the socket's
   * place among those that have not completed CONNECT, taken at accept; the connection gives it
   * back at CONNACK or close.
   */
  accept(
    socket: Socket | TLSSocket,
    listener: 'mqtt' | 'mqtts',
    peer?: ProxiedAddress,
    pending?: PendingSlot,
  ): DeviceConnection {
    socket.setNoDelay(true);
    const tlsSocket = listener === 'mqtts' ? (socket as TLSSocket) : undefined;
    const certificate = tlsSocket?.authorized ? tlsSocket.getPeerCertificate() : undefined;
    const subjectCn = certificate?.subject?.CN;
    const connection = new DeviceConnection(
      socket,
      {
        proxyId: this.proxyId,
        connectionId: `${this.proxyId}/${++this.#connectionSeq}`,
        sourceIp: normaliseIp(peer?.ip ?? socket.remoteAddress ?? ''),
        sourcePort: peer?.port ?? socket.remotePort ?? 0,
        tlsClientSubject: typeof subjectCn === 'string' ? subjectCn : null,
      },
      listener,
      this,
      pending,
    );
    this.#connections.add(connection);
    this.metrics.connectionsOpened.inc({ listener });
    this.metrics.connectionsActive.inc({ listener });
    socket.once('close', () => {
      this.#connections.delete(connection);
      pending?.release();
    });
    return connection;
  }

  /**
   * Counts a socket just accepted among those that have not completed CONNECT, or closes it at
   * once when a bound is reached. `address` undefined: the device's address comes later, from a
   * PROXY protocol header.
   */
  #admit(socket: Socket, address: string | undefined): PendingSlot | undefined {
    const slot = this.#pending.admit(address);
    if (typeof slot === 'string') {
      this.#refuseAtAccept(socket, slot);
      return undefined;
    }
    socket.once('close', () => slot.release());
    return slot;
  }

  /** Over a bound on pending sockets: closed at once, nothing read, counted by which bound. */
  #refuseAtAccept(socket: Socket, reason: PendingRefusal): void {
    this.metrics.connectionsRejected.inc({ reason });
    socket.on('error', () => undefined);
    socket.destroy();
  }

  /** The device behind a PROXY protocol header counts against its own address's bound. */
  #assignStatedAddress(socket: Socket, slot: PendingSlot, peer: ProxiedAddress | undefined): boolean {
    const refused = peer ? slot.assignAddress(peer.ip) : undefined;
    if (refused) this.#refuseAtAccept(socket, refused);
    return refused === undefined;
  }

  async listenTcp(host: string, port: number): Promise<ListenerAddress> {
    const server = createServer({ noDelay: true }, (socket) => {
      if (!this.#deps.proxyProtocol) {
        const slot = this.#admit(socket, socket.remoteAddress);
        if (slot) this.accept(socket, 'mqtt', undefined, slot);
        return;
      }
      const slot = this.#admit(socket, undefined);
      if (!slot) return;
      this.#readProxyHeader(socket, (peer) => {
        if (!this.#assignStatedAddress(socket, slot, peer)) return;
        this.accept(socket, 'mqtt', peer, slot);
        socket.resume();
      });
    });
    return this.#listen(server, 'mqtt', host, port);
  }

  async listenTls(host: string, port: number, tls: TlsOptions): Promise<ListenerAddress> {
    // A TCP listener accepts, counts the socket among the pending ones and reads the PROXY header
    // if any (it precedes the TLS handshake, in clear), then hands the socket to a TLS server that
    // does not listen itself. The TLS socket reports the same peer address and port as the TCP
    // socket, so what the TCP side learned waits in `handshaking`, keyed by them.
    const handshaking = new Map<string, { peer: ProxiedAddress | undefined; slot: PendingSlot }>();
    const keyOf = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
    const tlsServer = createTlsServer(
      // A handshake is part of the way to a CONNECT: it gets no longer than the CONNECT itself
      // (Node's default is 120 s), so a silent socket does not hold its pending slot for minutes.
      { handshakeTimeout: this.policy.connectTimeoutMs, ...tls, minVersion: 'TLSv1.2' },
      (socket) => {
        const key = keyOf(socket);
        const waiting = handshaking.get(key);
        handshaking.delete(key);
        this.accept(socket, 'mqtts', waiting?.peer, waiting?.slot);
      },
    );
    tlsServer.on('tlsClientError', (_error, socket) => {
      // The TCP socket under a failed handshake does not always report its close: release here.
      const key = keyOf(socket);
      handshaking.get(key)?.slot.release();
      handshaking.delete(key);
      this.metrics.connectionsRejected.inc({ reason: 'tls_error' });
      // A handshake timeout only reports the error: the socket stays open until closed here.
      socket.destroy();
    });
    const handshake = (socket: Socket, slot: PendingSlot, peer: ProxiedAddress | undefined) => {
      const key = keyOf(socket);
      handshaking.set(key, { peer, slot });
      socket.once('close', () => handshaking.delete(key));
      // tls.Server documents emitting 'connection' to inject a socket; bytes after a PROXY
      // header, unshifted back, are read by the TLS layer first.
      tlsServer.emit('connection', socket);
    };
    const server = createServer({ noDelay: true }, (socket) => {
      if (!this.#deps.proxyProtocol) {
        const slot = this.#admit(socket, socket.remoteAddress);
        if (slot) handshake(socket, slot, undefined);
        return;
      }
      const slot = this.#admit(socket, undefined);
      if (!slot) return;
      this.#readProxyHeader(socket, (peer) => {
        if (this.#assignStatedAddress(socket, slot, peer)) handshake(socket, slot, peer);
      });
    });
    return this.#listen(server, 'mqtts', host, port);
  }

  /**
   * Reads the PROXY protocol header off a fresh socket, then hands it on paused, with the bytes
   * after the header put back. A peer that is not a trusted balancer, a missing or bad header, or
   * one not complete in time closes the socket, counted by reason; nothing reaches MQTT.
   */
  #readProxyHeader(socket: Socket, next: (peer: ProxiedAddress | undefined) => void): void {
    const policy = this.#deps.proxyProtocol!;
    socket.on('error', () => undefined);
    const refuse = (code: ProxyRefusalCode | 'untrusted' | 'timeout') => {
      this.metrics.proxyProtocolRefused.inc({ reason: code });
      this.metrics.connectionsRejected.inc({ reason: 'proxy_protocol' });
      socket.destroy();
    };
    if (!policy.trusted.allows(socket.remoteAddress ?? '')) {
      refuse('untrusted');
      return;
    }
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      stop();
      refuse('timeout');
    }, policy.headerTimeoutMs);
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const result = parseProxyHeader(received, policy.mode);
      if (result.status === 'incomplete') return;
      stop();
      if (result.status === 'refused') {
        this.log.debug(
          { peer: socket.remoteAddress, reason: result.reason },
          'PROXY protocol header refused',
        );
        refuse(result.code);
        return;
      }
      socket.pause();
      if (received.length > result.length) socket.unshift(received.subarray(result.length));
      next(result.source);
    };
    const stop = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', stop);
    };
    socket.on('data', onData);
    socket.once('close', stop);
  }

  async #listen(
    server: Server | TlsServer,
    name: 'mqtt' | 'mqtts',
    host: string,
    port: number,
  ): Promise<ListenerAddress> {
    // A worker of a multi-process edge (ingest/workers.ts) binds a socket of its own on the shared
    // port (SO_REUSEPORT) and the kernel spreads new connections over the workers, instead of
    // node:cluster's primary accepting each one and passing it to a worker over IPC. Port 0 keeps
    // the shared handle: each worker would otherwise get a different port.
    const reusePort = cluster.isWorker && port !== 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 4096, reusePort }, () => resolve());
    });
    this.#servers.push(server);
    this.#sweep.start();
    const address = server.address() as AddressInfo;
    return { name, host, port: address.port };
  }

  /**
   * SIGTERM: stops accepting and reading, waits up to `graceMs` for Kafka to acknowledge every event
   * already sent (the PUBACKs of those PUBLISHes still reach their devices), then closes every
   * connection. A PUBLISH read but not acknowledged by then gets no PUBACK: its device sends it
   * again, to another proxy.
   */
  shutdown(graceMs: number): Promise<void> {
    this.#shutdown ??= this.#drainAndClose(graceMs);
    return this.#shutdown;
  }

  async #drainAndClose(graceMs: number): Promise<void> {
    // server.close() calls back only once every connection has ended, so the connections are
    // closed before it is awaited, not after.
    const listenersClosed = Promise.all(
      this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
    this.#sweep.stop();
    for (const connection of this.#connections) connection.stopReading();
    const started = performance.now();
    const waiting = this.#deps.writer.unackedEvents;
    const left = await this.#deps.writer.flush(graceMs);
    if (left > 0) {
      this.log.error(
        { unacknowledged: left, graceMs },
        'shutting down with packet events Kafka has not acknowledged: they are lost from the log; QoS 1/2 devices got no PUBACK and send them again',
      );
    } else if (waiting > 0) {
      this.log.info(
        { events: waiting, ms: Math.round(performance.now() - started) },
        'every packet event acknowledged by Kafka before shutdown',
      );
    }
    for (const connection of this.#connections) connection.shutdown();
    await listenersClosed;
  }
}

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; events carry the plain IPv4 form. */
function normaliseIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
