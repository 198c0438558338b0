import type { PacketEvent } from './model.js';

/** Builds events for tests: a PUBLISH from device 'd1' unless overridden. */
export function packetEvent(overrides: Partial<PacketEvent> = {}): PacketEvent {
  return {
    packetType: 'PUBLISH',
    clientId: 'd1',
    username: 'user-d1',
    sourceIp: '192.0.2.10',
    topic: 'devices/d1/telemetry',
    payload: Buffer.from('{"temp":21.5}'),
    qos: 1,
    retain: false,
    receivedAt: 1_700_000_000_000,
    authResult: null,
    malformedReason: null,
    subscriptions: null,
    edgeAction: null,
    refusal: null,
    acl: null,
    ...overrides,
  };
}

export function telemetry(value: unknown, overrides: Partial<PacketEvent> = {}): PacketEvent {
  return packetEvent({ payload: Buffer.from(JSON.stringify(value)), ...overrides });
}

/**
 * The accepted CONNECT that opens a session for `clientId`, granting `publish` filters: the admission
 * step judges the session's PUBLISHes against them.
 */
export function sessionOpened(
  clientId = 'd1',
  publish: readonly string[] = [`devices/${clientId}/#`],
  overrides: Partial<PacketEvent> = {},
): PacketEvent {
  return packetEvent({
    packetType: 'CONNECT',
    clientId,
    username: `user-${clientId}`,
    topic: null,
    payload: null,
    qos: null,
    authResult: 'allowed',
    acl: { publish, subscribe: [`clients/${clientId}/#`] },
    ...overrides,
  });
}
