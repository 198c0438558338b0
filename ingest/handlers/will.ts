import type { IConnectPacket, IPublishPacket } from 'mqtt-packet';
import type { ConnectionPort } from '../chain/index.js';
import { markRefused } from '../packet-events.js';

/**
 * MQTT-3.1.2-8: the will is published when the connection closes without DISCONNECT, as a PUBLISH
 * event of its own; one on a topic the device may not publish to is recorded refused, never forwarded.
 */
export function publishWill(port: ConnectionPort, will: NonNullable<IConnectPacket['will']>): void {
  const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload;
  const publish: IPublishPacket = {
    cmd: 'publish',
    topic: will.topic,
    payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    dup: false,
  };
  const event = port.eventOf(publish, 0);
  if (!port.access?.canPublish(will.topic)) {
    port.metrics.aclDenied.inc({ action: 'will' });
    markRefused(event, 'acl_denied', 'will:acl_denied');
  } else {
    event.edgeAction = 'will';
  }
  port.record(event);
}
