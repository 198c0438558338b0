import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import { type ConnectionPort, subackFailure } from '../chain/index.js';
import { markRefused } from '../packet-events.js';

/** SUBSCRIBE: each filter checked against the device's ACL (SUBACK 0x80 where refused), recorded, answered. */
export function handleSubscribe(port: ConnectionPort, subscribe: ISubscribePacket, packetSize: number): void {
  const granted: number[] = [];
  const added = new Map<string, number>();
  const denied: number[] = [];
  subscribe.subscriptions.forEach(({ topic, qos }, i) => {
    if (!port.access?.canSubscribe(topic)) {
      port.metrics.aclDenied.inc({ action: 'subscribe' });
      granted.push(subackFailure);
      denied.push(i);
      return;
    }
    port.subscriptions.set(topic, qos);
    added.set(topic, qos);
    granted.push(qos);
  });
  const event = port.eventOf(subscribe, packetSize);
  if (denied.length > 0) markRefused(event, 'acl_denied', `acl_denied:suback_failure:${denied.join(',')}`);
  port.record(event);
  if (added.size > 0) port.subscriptionsChanged(added, []);
  port.send({ cmd: 'suback', messageId: subscribe.messageId ?? 0, granted });
  if (added.size > 0) port.deliverRetained(added);
}

/** UNSUBSCRIBE: the filters this session had are removed; UNSUBACK whatever it named (MQTT-3.10.4-5). */
export function handleUnsubscribe(port: ConnectionPort, unsubscribe: IUnsubscribePacket): void {
  const removed = unsubscribe.unsubscriptions.filter((filter) => port.subscriptions.delete(filter));
  if (removed.length > 0) port.subscriptionsChanged(new Map(), removed);
  // 3.1.1 UNSUBACK has no payload; mqtt-packet's type lists MQTT 5 reason codes as `granted`.
  port.send({ cmd: 'unsuback', messageId: unsubscribe.messageId ?? 0, granted: [] });
}
