import type { IPublishPacket } from 'mqtt-packet';
import type { PacketEvent } from '../../schemas/types.generated.js';
import {
  type AckAndDrop,
  type ConnectionPort,
  type FlowHost,
  proceed,
  runFlow,
  type Step,
  stop,
} from '../chain/index.js';
import { markRefused } from '../packet-events.js';

/** A PUBLISH the session accepted, on its way to Kafka and to its PUBACK. */
interface PublishFlow {
  readonly port: ConnectionPort;
  readonly publish: IPublishPacket;
  readonly event: PacketEvent;
  readonly packetId: number;
  readonly dropped: AckAndDrop | undefined;
}

/**
 * Acknowledged and dropped for a rate limit (MQTT 3.1.1 §3.3.5: a server may acknowledge and
 * discard; it must not leave a QoS 1/2 PUBLISH unanswered): its refused event is stored first, so
 * PUBACKs keep the order of their PUBLISHes (MQTT-4.6.0-2).
 */
const rateLimitedDrop: Step<PublishFlow> = {
  name: 'rate_limit',
  run({ port, event, packetId, dropped }) {
    if (!dropped) return proceed;
    // The global tier protects the core: what it refuses is counted, not recorded, and acknowledged at once.
    if (dropped.tier === 'global') {
      port.apply(port.session.inboundStored(packetId));
      return stop;
    }
    // A flood is not stored: the refused packet is recorded without its payload.
    event.payload = null;
    markRefused(event, 'rate_limited', `rate_limited:${dropped.tier}:ack-and-drop`);
    port.recordThenAcknowledge(event, packetId);
    return stop;
  },
};

/** Refused by the device's ACL: recorded with its payload (what it tried to write where), never forwarded. */
const acl: Step<PublishFlow> = {
  name: 'acl',
  run({ port, publish, event, packetId }) {
    if (port.access?.canPublish(publish.topic)) return proceed;
    port.metrics.aclDenied.inc({ action: 'publish' });
    markRefused(event, 'acl_denied', publish.qos > 0 ? 'acl_denied:acked_and_dropped' : 'acl_denied:dropped');
    if (publish.qos > 0) port.recordThenAcknowledge(event, packetId);
    else port.record(event);
    return stop;
  },
};

/** Recorded; QoS 1/2 acknowledged once Kafka stored its event. */
const emitPublish: Step<PublishFlow> = {
  name: 'emit',
  run({ port, publish, event, packetId }) {
    if (publish.qos === 0) {
      port.record(event);
      return stop;
    }
    const started = performance.now();
    port.recordThenAcknowledge(event, packetId, () =>
      port.metrics.forwardSeconds.observe({ direction: 'inbound' }, (performance.now() - started) / 1000),
    );
    return stop;
  },
};

const publishFlow: readonly Step<PublishFlow>[] = [rateLimitedDrop, acl, emitPublish];

const publishHost: FlowHost<PublishFlow> = {
  pause: (until, flow) => flow.port.pause(until),
  fail: (error, step, flow) => flow.port.failInternally(error, step, () => flow.event),
};

/** A PUBLISH the session delivered; `dropped` when a rate limit acknowledges and drops it. */
export function handlePublish(
  port: ConnectionPort,
  publish: IPublishPacket,
  packetSize: number,
  dropped: AckAndDrop | undefined,
): void {
  const event = port.eventOf(publish, packetSize);
  const flow: PublishFlow = { port, publish, event, packetId: publish.messageId ?? 0, dropped };
  runFlow(publishFlow, flow, publishHost);
}
