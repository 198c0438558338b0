import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { Registry } from 'prom-client';
import type { PacketEvent } from '../../schemas/types.generated.js';
import type { RateDecision } from '../limits/index.js';
import { IngestMetrics } from '../metrics.js';
import { packetEventOf } from '../packet-events.js';
import { PacketType } from '../protocol/index.js';
import type { InboundContext } from './context.js';
import type { ConnectionPort, QueuedPacket } from './port.js';
import { rateLimit } from './rate-limit.js';

const identity = {
  proxyId: 'p',
  connectionId: 'c',
  sourceIp: '10.0.0.9',
  sourcePort: 5,
  tlsClientSubject: null,
};

/** The members of a connection the rate-limit step uses, recording what it did with them. */
function portAnswering(decision: RateDecision) {
  const recorded: PacketEvent[] = [];
  const sent: Packet[] = [];
  const closed: string[] = [];
  let checks = 0;
  const port = {
    identity,
    clientId: 'dev-9',
    metrics: new IngestMetrics(new Registry()),
    checkRate: () => {
      checks++;
      return decision;
    },
    eventOf: (packet: Packet, size: number, at = 0) =>
      packetEventOf(identity, { clientId: 'dev-9', username: null }, packet, size, at),
    record: (event: PacketEvent) => recorded.push(event),
    send: (packet: Packet) => sent.push(packet),
    close: (reason: string) => closed.push(reason),
  };
  // The step's whole view of the connection is the members above; the rest of the port is not
  // reached by it, which this cast states instead of stubbing them.
  return { port: port as unknown as ConnectionPort, recorded, sent, closed, checks: () => checks };
}

function context(port: ConnectionPort, packet: Packet, extra: Partial<QueuedPacket> = {}): InboundContext {
  const type =
    packet.cmd === 'connect'
      ? PacketType.CONNECT
      : packet.cmd === 'subscribe'
        ? PacketType.SUBSCRIBE
        : PacketType.PUBLISH;
  const frame = { type, flags: 0, headerLength: 2, remainingLength: 10, bytes: Buffer.alloc(12) };
  return { port, item: { packet, frame, ...extra }, now: 1000, actions: [] };
}

const publish: Packet = {
  cmd: 'publish',
  topic: 'devices/dev-9/t',
  payload: Buffer.from('x'),
  qos: 1,
  messageId: 3,
  retain: false,
  dup: false,
};
const connect: Packet = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  keepalive: 30,
  clientId: 'dev-9',
};
const subscribe: Packet = {
  cmd: 'subscribe',
  messageId: 4,
  subscriptions: [
    { topic: 'a/#', qos: 0 },
    { topic: 'b', qos: 1 },
  ],
};

describe('chain step rate_limit', () => {
  it('an allowed packet goes on, nothing recorded', () => {
    const { port, recorded } = portAnswering({ allowed: true });
    assert.equal(rateLimit.run(context(port, publish)).kind, 'continue');
    assert.equal(recorded.length, 0);
  });

  it('a QoS 1 PUBLISH acknowledged and dropped goes on through the session, marked', () => {
    const { port, recorded } = portAnswering({ allowed: false, tier: 'publish', action: 'ack-and-drop' });
    const ctx = context(port, publish);
    assert.equal(rateLimit.run(ctx).kind, 'continue');
    assert.equal(ctx.dropped?.tier, 'publish');
    assert.equal(recorded.length, 0, 'recorded by the PUBLISH handler, in order with its PUBACK');
  });

  it('a delay pauses and asks again, recording nothing', () => {
    const { port, recorded } = portAnswering({ allowed: false, tier: 'client', action: 'delay', delayMs: 1 });
    const result = rateLimit.run(context(port, publish));
    assert.equal(result.kind, 'pause');
    assert.equal(result.kind === 'pause' && result.then, 'again');
    assert.equal(recorded.length, 0);
  });

  it('a refused CONNECT: recorded without payload as rate_limited, CONNACK 5, closed', () => {
    const { port, recorded, sent, closed } = portAnswering({
      allowed: false,
      tier: 'connect',
      action: 'refuse-connack',
    });
    assert.equal(rateLimit.run(context(port, connect)).kind, 'stop');
    assert.deepEqual(
      recorded.map((e) => [e.packetType, e.refusal, e.edgeAction, e.authResult, e.payload]),
      [['CONNECT', 'rate_limited', 'rate_limited:connect:refuse-connack', 'rate_limited', null]],
    );
    assert.deepEqual(sent, [{ cmd: 'connack', returnCode: 5, sessionPresent: false }]);
    assert.deepEqual(closed, ['rate_limited:connect']);
  });

  it('a refused SUBSCRIBE: SUBACK 0x80 for each filter, the connection stays', () => {
    const { port, sent, closed } = portAnswering({
      allowed: false,
      tier: 'subscribe',
      action: 'suback-failure',
    });
    assert.equal(rateLimit.run(context(port, subscribe)).kind, 'stop');
    assert.deepEqual(sent, [{ cmd: 'suback', messageId: 4, granted: [0x80, 0x80] }]);
    assert.deepEqual(closed, []);
  });

  it('the global tier is counted, not recorded per packet', () => {
    const { port, recorded } = portAnswering({ allowed: false, tier: 'global', action: 'drop' });
    assert.equal(rateLimit.run(context(port, publish)).kind, 'stop');
    assert.equal(recorded.length, 0);
  });

  it('a packet back from waiting for a store slot is not checked again and keeps its drop mark', () => {
    const { port, checks } = portAnswering({ allowed: true });
    const dropped = { allowed: false, tier: 'publish', action: 'ack-and-drop' } as const;
    const ctx = context(port, publish, { admitted: true, dropped });
    assert.equal(rateLimit.run(ctx).kind, 'continue');
    assert.equal(checks(), 0);
    assert.equal(ctx.dropped, dropped);
  });
});
