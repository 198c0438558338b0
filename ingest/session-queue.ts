import type { UnacknowledgedOutbound } from './protocol/session-state.js';

/**
 * What a persistent session (CleanSession 0) is owed while its device is away, kept in Redis as a
 * list per client id: the exchanges its last connection left unfinished (with their packet ids, to
 * be sent again with DUP set or as PUBREL, MQTT-4.4.0-1), then the QoS 1/2 messages that matched
 * its subscriptions meanwhile (no packet id yet), oldest first.
 */
export type OwedMessage = Omit<UnacknowledgedOutbound, 'packetId' | 'released'> &
  Partial<Pick<UnacknowledgedOutbound, 'packetId' | 'released'>>;

interface Stored {
  readonly t: string;
  readonly p: string;
  readonly q: 1 | 2;
  readonly r?: 1;
  readonly i?: number;
  readonly x?: 1;
}

export function encodeOwed(message: OwedMessage): string {
  const stored: Stored = {
    t: message.topic,
    p: message.payload.toString('base64'),
    q: message.qos,
    ...(message.retain ? { r: 1 } : {}),
    ...(message.packetId !== undefined ? { i: message.packetId } : {}),
    ...(message.released ? { x: 1 } : {}),
  };
  return JSON.stringify(stored);
}

/** undefined for an entry this version cannot read (it is skipped, and counted by the caller). */
export function decodeOwed(entry: string): OwedMessage | undefined {
  try {
    const stored = JSON.parse(entry) as Partial<Stored>;
    if (typeof stored.t !== 'string' || typeof stored.p !== 'string') return undefined;
    if (stored.q !== 1 && stored.q !== 2) return undefined;
    return {
      topic: stored.t,
      payload: Buffer.from(stored.p, 'base64'),
      qos: stored.q,
      retain: stored.r === 1,
      ...(typeof stored.i === 'number' ? { packetId: stored.i, released: stored.x === 1 } : {}),
    };
  } catch {
    return undefined;
  }
}
