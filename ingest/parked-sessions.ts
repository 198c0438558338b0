import type { OwedMessage } from './session-queue.js';

/** Whoever a downlink message can be handed to: a connected session, or a parked one. */
export interface DownlinkSubscriber {
  readonly clientId: string;
  /** Whether its ACL lets a message on `topic` reach it (a filter may be wider, in overlap mode). */
  canRead(topic: string): boolean;
  /** False when it was not taken (not connected, window full, or QoS 0 for a parked session). */
  deliverDownlink(message: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): boolean;
}

/**
 * A persistent session (CleanSession 0) whose device went away, kept on the proxy that last held
 * it: it stays in the proxy's subscription index, and the QoS 1/2 messages its filters match go to
 * its queue in Redis (MQTT-3.1.2-5), until the device claims the session again (on any proxy: the
 * claim's takeover announcement reaches this one) or the session expires. QoS 0 messages are not
 * queued (as Mosquitto's default).
 */
export class ParkedSession implements DownlinkSubscriber {
  readonly clientId: string;
  readonly subscriptions: ReadonlyMap<string, number>;
  readonly expiresAt: number;
  readonly #enqueue: (message: OwedMessage) => void;
  readonly canRead: (topic: string) => boolean;

  constructor(
    clientId: string,
    subscriptions: ReadonlyMap<string, number>,
    canRead: (topic: string) => boolean,
    expiresAt: number,
    enqueue: (message: OwedMessage) => void,
  ) {
    this.clientId = clientId;
    this.canRead = canRead;
    this.subscriptions = subscriptions;
    this.expiresAt = expiresAt;
    this.#enqueue = enqueue;
  }

  deliverDownlink(message: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): boolean {
    if (message.qos === 0) return false;
    this.#enqueue({
      topic: message.topic,
      payload: message.payload,
      qos: message.qos,
      retain: message.retain,
    });
    return true;
  }
}
