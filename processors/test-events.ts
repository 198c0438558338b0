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
    ...overrides,
  };
}

export function telemetry(value: unknown, overrides: Partial<PacketEvent> = {}): PacketEvent {
  return packetEvent({ payload: Buffer.from(JSON.stringify(value)), ...overrides });
}
