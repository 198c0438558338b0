import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PacketType } from './protocol/index.js';

/**
 * The edge's metrics: one per panel of the seed's Proxy, Connections and MQTT Packets sections.
 * Labels are bounded: packet types, directions, listeners and reason codes, never a client id or IP.
 */
export type Direction = 'inbound' | 'outbound';

// Label values of the packet metrics: the 3.1.1 control packet types, MALFORMED for refused bytes.
const packetTypes = [...Object.keys(PacketType), 'MALFORMED'] as const;

const latencyBuckets = [
  0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

export class IngestMetrics {
  readonly connectionsActive: Gauge<'listener'>;
  readonly connectionsOpened: Counter<'listener'>;
  readonly connectionsRejected: Counter<'reason'>;
  readonly connectionsClosed: Counter<'reason'>;
  readonly proxyProtocolRefused: Counter<'reason'>;
  readonly sessionsActive: Gauge;
  readonly sessionsParked: Gauge;
  readonly sessionQueue: Counter<'outcome'>;
  readonly protocolViolations: Counter<'code'>;
  readonly protocolEvents: Counter<'code'>;
  readonly aclDenied: Counter<'action'>;
  readonly downlinkDropped: Counter<'reason'>;
  readonly retainedDelivered: Counter<'outcome'>;
  readonly connectionsPaused: Gauge<'reason'>;
  readonly pendingConnects: Gauge;
  readonly prereadSeconds: Histogram;
  readonly forwardSeconds: Histogram<'direction'>;
  readonly connectionSetupSeconds: Histogram;
  readonly #packets: Counter<'type' | 'direction'>;
  readonly #bytes: Counter<'type' | 'direction'>;
  // prom-client label lookups cost a string join per call; the hot path uses pre-bound children.
  readonly #packetChildren = new Map<string, { packets: Counter.Internal; bytes: Counter.Internal }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.connectionsActive = new Gauge({
      name: 'sentinel_ingest_connections_active',
      help: 'Open device connections on this proxy',
      labelNames: ['listener'],
      registers,
    });
    this.connectionsOpened = new Counter({
      name: 'sentinel_ingest_connections_opened_total',
      help: 'Device connections accepted at the transport (TCP or TLS)',
      labelNames: ['listener'],
      registers,
    });
    this.connectionsRejected = new Counter({
      name: 'sentinel_ingest_connections_rejected_total',
      help: 'Connections refused before or at CONNECT, by reason (auth_failed, auth_error, rate_limited, protocol_error, connect_timeout, internal_error: the edge failed, tls_error, proxy_protocol, pending_connects and pending_connects_per_address: refused at accept over a bound on sockets without CONNECT)',
      labelNames: ['reason'],
      registers,
    });
    this.proxyProtocolRefused = new Counter({
      name: 'sentinel_ingest_proxy_protocol_refused_total',
      help: 'Connections closed before MQTT because of their PROXY protocol header, by reason (missing, malformed, version, oversized, untrusted, timeout)',
      labelNames: ['reason'],
      registers,
    });
    this.connectionsClosed = new Counter({
      name: 'sentinel_ingest_connections_closed_total',
      help: 'Closed connections by reason',
      labelNames: ['reason'],
      registers,
    });
    this.sessionsParked = new Gauge({
      name: 'sentinel_ingest_sessions_parked',
      help: 'persistent sessions whose device is away, queueing on this proxy (SENTINEL_INGEST_SESSION_EXPIRY_SECONDS)',
      registers,
    });
    this.sessionQueue = new Counter({
      name: 'sentinel_ingest_session_queue_total',
      help: 'messages for persistent sessions whose device is away: queued, redelivered on return, or lost (not_parked: the proxy held SENTINEL_INGEST_MAX_PARKED_SESSIONS; unreadable: an entry this version cannot read; window_full: more than the in-flight window on return)',
      labelNames: ['outcome'],
      registers,
    });
    this.sessionsActive = new Gauge({
      name: 'sentinel_ingest_sessions_active',
      help: 'MQTT sessions past CONNACK on this proxy',
      registers,
    });
    this.protocolViolations = new Counter({
      name: 'sentinel_ingest_protocol_violations_total',
      help: 'Connections closed for an MQTT 3.1.1 violation, by refusal code',
      labelNames: ['code'],
      registers,
    });
    this.protocolEvents = new Counter({
      name: 'sentinel_ingest_protocol_events_total',
      help: 'Protocol irregularities that did not close the connection, by code',
      labelNames: ['code'],
      registers,
    });
    this.aclDenied = new Counter({
      name: 'sentinel_ingest_acl_denied_total',
      help: 'PUBLISH topics and SUBSCRIBE filters refused by the device ACL',
      labelNames: ['action'],
      registers,
    });
    this.downlinkDropped = new Counter({
      name: 'sentinel_ingest_downlink_dropped_total',
      help: 'Downlink messages not delivered to a subscriber, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.retainedDelivered = new Counter({
      name: 'sentinel_ingest_retained_delivered_total',
      help: 'retained messages sent to new subscribers (sent), or not (not_deliverable: the outbound window was full)',
      labelNames: ['outcome'],
      registers,
    });
    this.connectionsPaused = new Gauge({
      name: 'sentinel_ingest_connections_paused',
      help: 'Device connections not being read because Kafka is slow, by reason (store_window: the device has SENTINEL_MQTT_MAX_INFLIGHT PUBLISHes waiting for Kafka; kafka_unacked: the proxy holds SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES)',
      labelNames: ['reason'],
      registers,
    });
    this.pendingConnects = new Gauge({
      name: 'sentinel_ingest_pending_connects',
      help: 'Sockets accepted that have not completed CONNECT (TLS handshake and PROXY header included), bounded by SENTINEL_MQTT_MAX_PENDING_CONNECTS and, per source address, SENTINEL_MQTT_MAX_PENDING_CONNECTS_PER_ADDRESS',
      registers,
    });
    this.prereadSeconds = new Histogram({
      name: 'sentinel_ingest_preread_seconds',
      help: 'Per packet: framing, parsing, validation, rate limiting and (for CONNECT) authentication',
      buckets: latencyBuckets,
      registers,
    });
    this.forwardSeconds = new Histogram({
      name: 'sentinel_ingest_forward_seconds',
      help: 'Packet forwarding: inbound = receipt to Kafka acknowledgement; outbound = downlink record to socket write',
      labelNames: ['direction'],
      buckets: latencyBuckets,
      registers,
    });
    this.connectionSetupSeconds = new Histogram({
      name: 'sentinel_ingest_connection_setup_seconds',
      help: 'Transport accept (after the TLS handshake) to CONNACK sent',
      buckets: latencyBuckets,
      registers,
    });
    this.#packets = new Counter({
      name: 'sentinel_ingest_packets_total',
      help: 'MQTT packets by type and direction (inbound from devices, outbound to devices)',
      labelNames: ['type', 'direction'],
      registers,
    });
    this.#bytes = new Counter({
      name: 'sentinel_ingest_bytes_total',
      help: 'Bytes of MQTT packets by type and direction',
      labelNames: ['type', 'direction'],
      registers,
    });
    for (const type of packetTypes) {
      for (const direction of ['inbound', 'outbound'] as const) {
        this.#packetChildren.set(`${type}/${direction}`, {
          packets: this.#packets.labels(type, direction),
          bytes: this.#bytes.labels(type, direction),
        });
      }
    }
  }

  /** Unknown types are not counted: label values stay the bounded set above. */
  packet(type: string, direction: Direction, bytes: number): void {
    const children = this.#packetChildren.get(`${type}/${direction}`);
    if (!children) return;
    children.packets.inc();
    children.bytes.inc(bytes);
  }
}
