import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * What the bridge exposes. Labels are bounded: `partition` by the topic's partition count,
 * `connection` by SENTINEL_BRIDGE_CONNECTIONS (+ `downlink`, `retained`).
 */
export interface BridgeMetrics {
  readonly lag: Gauge<'partition'>;
  readonly connected: Gauge<'connection'>;
  readonly reconnects: Counter<'connection'>;
  readonly deliveries: Counter<string>;
  readonly republished: Counter<string>;
  readonly pubackSeconds: Histogram<string>;
  readonly deliverySeconds: Histogram<string>;
  readonly downlink: Counter<string>;
  readonly skipped: Counter<'reason'>;
  readonly retainedStored: Counter<'change'>;
  readonly replaysSkipped: Counter<string>;
  readonly pending: Gauge<string>;
  readonly commits: Counter<string>;
}

/** 1 ms .. 5 s: fine enough below 20 ms for the delivery P99 target, wide enough for an outage's tail. */
export const deliveryLatencyBuckets = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5,
];

export function createBridgeMetrics(registry: Registry): BridgeMetrics {
  const registers = [registry];
  return {
    lag: new Gauge({
      name: 'sentinel_bridge_consumer_lag',
      help: 'approved messages past the committed offset (not yet acknowledged by the origin), per partition',
      labelNames: ['partition'],
      registers,
    }),
    connected: new Gauge({
      name: 'sentinel_bridge_origin_connected',
      help: '1 while the WebSocket MQTT session with the origin is up',
      labelNames: ['connection'],
      registers,
    }),
    reconnects: new Counter({
      name: 'sentinel_bridge_reconnects_total',
      help: 'reconnect attempts to the origin',
      labelNames: ['connection'],
      registers,
    }),
    deliveries: new Counter({
      name: 'sentinel_bridge_deliveries_total',
      help: 'approved messages acknowledged by the origin (PUBACK / PUBCOMP)',
      registers,
    }),
    republished: new Counter({
      name: 'sentinel_bridge_republished_total',
      help: 'deliveries that needed more than one PUBLISH (sent again after a reconnect; the origin may hold a duplicate)',
      registers,
    }),
    pubackSeconds: new Histogram({
      name: 'sentinel_bridge_puback_latency_seconds',
      help: 'last PUBLISH to the origin until its PUBACK',
      buckets: deliveryLatencyBuckets,
      registers,
    }),
    deliverySeconds: new Histogram({
      name: 'sentinel_bridge_delivery_latency_seconds',
      help: 'edge receipt to origin PUBACK (end to end), per delivered message',
      buckets: deliveryLatencyBuckets,
      registers,
    }),
    downlink: new Counter({
      name: 'sentinel_bridge_downlink_messages_total',
      help: 'origin messages written to sentinel.downlink',
      registers,
    }),
    skipped: new Counter({
      name: 'sentinel_bridge_skipped_total',
      help: 'approved records not delivered, by reason (undecodable, empty, retained_replay)',
      labelNames: ['reason'],
      registers,
    }),
    retainedStored: new Counter({
      name: 'sentinel_bridge_retained_changes_total',
      help: "changes of the origin's retained state written for the edge proxies, by change (set, cleared, removed_after_replay)",
      labelNames: ['change'],
      registers,
    }),
    replaysSkipped: new Counter({
      name: 'sentinel_bridge_replays_skipped_total',
      help: 'approved records not delivered because their packet was already delivered (a processors replay, lib/kafka/replays.ts)',
      registers,
    }),
    pending: new Gauge({
      name: 'sentinel_bridge_pending_messages',
      help: 'messages consumed and not yet committed (queued, in flight or awaiting their delivery record)',
      registers,
    }),
    commits: new Counter({
      name: 'sentinel_bridge_offset_commits_total',
      help: 'offset commits to the consumer group',
      registers,
    }),
  };
}
