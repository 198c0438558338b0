import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { PacketEvent } from '../schemas/types.generated.js';
import { type AuthDecision, DeviceAclPolicy } from './auth/index.js';
import { DeviceConnection, type EdgeServices, internalErrorCode } from './connection.js';
import type { RateCheck, RateDecision } from './limits/index.js';
import { IngestMetrics } from './metrics.js';
import { defaultProtocolPolicy, PacketType } from './protocol/index.js';

/**
 * DeviceConnection over an in-memory duplex, with a Kafka the test acknowledges by hand, a clock it
 * moves, rate limits, authentication and session claims it decides: how the connection answers a
 * slow Kafka, a limit or a failing lookup, without sockets or brokers.
 */
class SlowKafkaEdge implements EdgeServices {
  readonly proxyId = 'proxy-test';
  constructor(readonly policy = { ...defaultProtocolPolicy, maxInboundInFlight: 4 }) {}
  /** Error log lines, parsed. */
  readonly logged: Array<Record<string, unknown>> = [];
  readonly log = pino({ level: 'error' }, { write: (line: string) => this.logged.push(JSON.parse(line)) });
  readonly metrics = new IngestMetrics(new Registry());
  clock = 0;
  /** The rate limiter's answer to each packet. */
  limit: (check: RateCheck) => RateDecision = () => ({ allowed: true });
  decide: () => Promise<AuthDecision> = async () => ({
    allow: true,
    result: 'allowed',
    acls: { publish: ['devices/%c/#'], subscribe: [] },
    connackCode: 0,
  });
  claim: () => Promise<void> = async () => undefined;
  /** Session claims given back. */
  released = 0;
  /** Events sent to Kafka and not acknowledged, in order. */
  readonly pending: Array<{ event: PacketEvent; onStored?: (error?: Error) => void }> = [];
  /** Whether the proxy holds more unacknowledged bytes than its bound. */
  over = false;
  #drainWaiters: Array<() => void> = [];

  now(): number {
    return this.clock;
  }
  checkRate(check: RateCheck): RateDecision {
    return this.limit(check);
  }
  authenticate(): Promise<AuthDecision> {
    return this.decide();
  }
  accessOf(_decision: unknown, identity: { clientId: string }) {
    return new DeviceAclPolicy(
      { publish: ['devices/%c/#'], subscribe: ['clients/%c/#'] },
      { clientId: identity.clientId },
    );
  }
  record(event: PacketEvent, onStored?: (error?: Error) => void): boolean {
    this.pending.push(onStored ? { event, onStored } : { event });
    return !this.over;
  }
  recordDrained(): Promise<void> {
    return this.over ? new Promise((resolve) => this.#drainWaiters.push(resolve)) : Promise.resolve();
  }
  /** Kafka acknowledges the `count` oldest events. */
  acknowledge(count = this.pending.length): void {
    for (const { onStored } of this.pending.splice(0, count)) onStored?.();
  }
  drained(): void {
    this.over = false;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }
  async claimSession() {
    await this.claim();
    return { sessionPresent: false, subscriptions: new Map<string, number>() };
  }
  releaseSession(): void {
    this.released++;
  }
  subscriptionsChanged(): void {}
  deliverRetained(): void {}
  readonly maxOutboundBufferBytes = 1024 * 1024;
  readonly maxOwedMessages = 1000;
  assignClientId(): string {
    return 'assigned';
  }
}

/**
 * The device end of an in-memory connection; `pending` counts the connection among those that
 * have not completed CONNECT (the proxy's PendingConnects).
 */
function connectDevice(edge: SlowKafkaEdge, pending?: { release(): void }) {
  const answered: Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (packet: Packet) => answered.push(packet));
  let closed = false;
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      parser.parse(chunk);
      callback();
    },
    final(callback) {
      closed = true;
      callback();
    },
  });
  const connection = new DeviceConnection(
    socket,
    {
      proxyId: edge.proxyId,
      connectionId: 'c1',
      sourceIp: '10.0.0.1',
      sourcePort: 1,
      tlsClientSubject: null,
    },
    'mqtt',
    edge,
    pending,
  );
  /** One chunk, as one TCP segment would bring them. */
  const send = (...packets: Packet[]) => {
    socket.push(Buffer.concat(packets.map((packet) => mqttPacket.generate(packet))));
  };
  return {
    connection,
    answered,
    send,
    /** Ended by the proxy (after what it wrote), or destroyed at once. */
    closed: () => closed || socket.destroyed,
    /** Destroyed without an end: nothing was left to deliver. */
    destroyed: () => socket.destroyed && !closed,
    pubacks: () => answered.flatMap((p) => (p.cmd === 'puback' ? [p.messageId] : [])),
  };
}

/** Lets stream and promise callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function publish(messageId: number, qos: 0 | 1 | 2 = 1, topic = 'devices/dev-1/telemetry'): Packet {
  return {
    cmd: 'publish',
    topic,
    payload: Buffer.from(`m${messageId}`),
    qos,
    dup: false,
    retain: false,
    ...(qos === 0 ? {} : { messageId }),
  };
}

const connect: IConnectPacket = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  keepalive: 2,
  clientId: 'dev-1',
};

async function connected(edge: SlowKafkaEdge, keepalive = 2) {
  const device = connectDevice(edge);
  device.send({ ...connect, keepalive });
  await settle();
  await settle();
  assert.deepEqual(
    device.answered.map((p) => p.cmd),
    ['connack'],
  );
  edge.acknowledge();
  return device;
}

describe('DeviceConnection under a slow Kafka', () => {
  it('acknowledges a QoS 1 PUBLISH only once Kafka stored its event; QoS 0 is written without waiting', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    device.send(publish(1), publish(2, 0));
    await settle();
    assert.deepEqual(
      edge.pending.map((p) => p.event.messageId),
      [1, null],
    );
    assert.deepEqual(device.pubacks(), []);
    edge.acknowledge();
    assert.deepEqual(device.pubacks(), [1]);
  });

  it('past the store window it stops reading instead of refusing, and takes the rest in order as Kafka stores', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    device.send(...[1, 2, 3, 4, 5, 6, 7].map((id) => publish(id)), { cmd: 'pingreq' });
    await settle();
    assert.equal(edge.pending.length, 4, 'the window (4) is sent to Kafka, the rest waits unread');
    assert.equal(device.closed(), false);
    assert.equal(await edge.metrics.connectionsPaused.get().then((m) => m.values[0]?.value), 1);
    edge.acknowledge(1);
    await settle();
    assert.deepEqual(device.pubacks(), [1]);
    assert.deepEqual(
      edge.pending.map((p) => p.event.messageId),
      [2, 3, 4, 5],
      'one stored, one more taken',
    );
    while (edge.pending.some((p) => p.onStored)) {
      edge.acknowledge();
      await settle();
    }
    assert.deepEqual(device.pubacks(), [1, 2, 3, 4, 5, 6, 7]);
    assert.ok(
      device.answered.some((p) => p.cmd === 'pingresp'),
      'the PINGREQ behind them is answered',
    );
    assert.equal(device.closed(), false);
  });

  it('does not expire a device for the silence of a long stall, and counts Keep Alive again from the resume', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge, 2);
    device.send(...[1, 2, 3, 4, 5].map((id) => publish(id)));
    await settle();
    // Kafka stalls for a minute; the proxy's sweep runs as usual.
    for (edge.clock = 0; edge.clock <= 60_000; edge.clock += 250) device.connection.expire(edge.clock);
    assert.equal(device.closed(), false, 'the proxy stopped reading: the device was not silent');
    edge.acknowledge();
    await settle();
    edge.acknowledge();
    await settle();
    assert.deepEqual(device.pubacks(), [1, 2, 3, 4, 5]);
    device.connection.expire(edge.clock + 2999);
    assert.equal(device.closed(), false, 'within 1.5 x Keep Alive of the resume');
    device.connection.expire(edge.clock + 3000);
    assert.equal(
      device.closed(),
      true,
      'a device silent for 1.5 x Keep Alive while read is closed (MQTT-3.1.2-24)',
    );
  });

  it('past the bound of unacknowledged bytes it handles what it read but reads no more until Kafka drains', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    edge.over = true;
    device.send(publish(1, 0), publish(2, 0));
    await settle();
    assert.equal(edge.pending.length, 2, 'both read in one chunk, both handled');
    device.send(publish(3, 0));
    await settle();
    assert.equal(edge.pending.length, 2, 'nothing more read while over the bound');
    for (edge.clock = 0; edge.clock <= 30_000; edge.clock += 250) device.connection.expire(edge.clock);
    assert.equal(device.closed(), false);
    edge.drained();
    await settle();
    await settle();
    assert.equal(edge.pending.length, 3);
    assert.equal(device.closed(), false);
  });
});

/** What the device heard, one word each: `connack:3`, `pubrec:7`, `pingresp`. */
function heard(answered: readonly Packet[]): string[] {
  return answered.map((p) => {
    if (p.cmd === 'connack') return `connack:${p.returnCode}`;
    const id = 'messageId' in p ? p.messageId : undefined;
    return id === undefined ? p.cmd : `${p.cmd}:${id}`;
  });
}

async function counted(metric: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> }) {
  const { values } = await metric.get();
  return Object.fromEntries(values.map((v) => [Object.values(v.labels).join(','), v.value]));
}

describe('DeviceConnection when the edge itself fails', () => {
  const failedConnects = [
    {
      what: 'an authentication lookup that throws: the CONNECT is recorded as undecided',
      fail: (edge: SlowKafkaEdge) => {
        edge.decide = () => Promise.reject(new Error('device DB driver bug'));
      },
      recorded: ['CONNECT', 'error', 'internal_error', 'internal_error:authenticate'],
      claimsGivenBack: 0,
      clean: true,
    },
    {
      what: 'a persistent session claim that throws after auth allowed: the claim is given back, the CONNECT recorded as allowed',
      fail: (edge: SlowKafkaEdge) => {
        edge.claim = () => Promise.reject(new Error('device DB driver bug'));
      },
      recorded: ['CONNECT', 'allowed', 'internal_error', 'internal_error:session_claim'],
      claimsGivenBack: 1,
      clean: false,
    },
  ];
  for (const { what, fail, recorded, claimsGivenBack, clean } of failedConnects) {
    it(`${what}; CONNACK 0x03, its own code in the log and metrics, no MALFORMED event`, async () => {
      const edge = new SlowKafkaEdge();
      fail(edge);
      const device = connectDevice(edge);
      device.send({ ...connect, clean });
      await settle();
      await settle();
      assert.deepEqual(heard(device.answered), ['connack:3']);
      assert.equal(device.closed(), true);
      assert.deepEqual(
        edge.pending.map(({ event }) => [
          event.packetType,
          event.authResult,
          event.refusal,
          event.edgeAction,
        ]),
        [recorded],
      );
      assert.equal(edge.released, claimsGivenBack);
      assert.deepEqual(await counted(edge.metrics.connectionsRejected), { internal_error: 1 });
      assert.deepEqual(await counted(edge.metrics.connectionsClosed), { 'internal-error': 1 });
      assert.deepEqual(await counted(edge.metrics.protocolViolations), {});
      const [line] = edge.logged;
      assert.equal(line?.code, internalErrorCode);
      assert.equal((line?.err as { message?: string } | undefined)?.message, 'device DB driver bug');
    });
  }

  it('a CleanSession 1 session claim that throws after its CONNACK: the connection ends as an internal error, the CONNECT stays recorded as allowed', async () => {
    const edge = new SlowKafkaEdge();
    let failClaim: (error: Error) => void = () => undefined;
    edge.claim = () =>
      new Promise((_, reject) => {
        failClaim = reject;
      });
    const device = connectDevice(edge);
    device.send({ ...connect, clean: true });
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:0']);
    failClaim(new Error('session registry bug'));
    await settle();
    assert.equal(device.closed(), true);
    assert.deepEqual(
      edge.pending.map(({ event }) => [event.packetType, event.authResult, event.refusal ?? null]),
      [['CONNECT', 'allowed', null]],
    );
    assert.deepEqual(await counted(edge.metrics.connectionsRejected), {});
    assert.deepEqual(await counted(edge.metrics.connectionsClosed), { 'internal-error': 1 });
    const [line] = edge.logged;
    assert.equal(line?.code, internalErrorCode);
    assert.equal(line?.step, 'session_claim');
  });

  it('a bug in a handler step names that step: an ACL that throws on PUBLISH', async () => {
    const edge = new SlowKafkaEdge();
    edge.accessOf = () => {
      const access = new DeviceAclPolicy({ publish: ['devices/%c/#'], subscribe: [] }, { clientId: 'dev-1' });
      access.canPublish = () => {
        throw new TypeError('ACL bug');
      };
      return access;
    };
    const device = await connected(edge);
    device.send(publish(1));
    await settle();
    assert.equal(device.closed(), true);
    assert.deepEqual(
      edge.pending.map(({ event }) => [event.packetType, event.messageId, event.refusal, event.edgeAction]),
      [['PUBLISH', 1, 'internal_error', 'internal_error:acl']],
    );
    assert.deepEqual(await counted(edge.metrics.connectionsClosed), { 'internal-error': 1 });
  });

  it('a bug while handling a packet of a session closes that connection without CONNACK, records the packet, and throws nothing', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    edge.limit = () => {
      throw new TypeError('limiter bug');
    };
    device.send(publish(1));
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:0']);
    assert.equal(device.closed(), true);
    assert.deepEqual(
      edge.pending.map(({ event }) => [event.packetType, event.messageId, event.refusal, event.edgeAction]),
      [['PUBLISH', 1, 'internal_error', 'internal_error:rate_limit']],
    );
    assert.deepEqual(await counted(edge.metrics.connectionsRejected), {});
    assert.deepEqual(await counted(edge.metrics.connectionsClosed), { 'internal-error': 1 });
  });
});

describe('DeviceConnection: the CONNACK and the session claim', () => {
  for (const { clean, answeredBeforeClaim } of [
    { clean: true, answeredBeforeClaim: ['connack:0'] },
    { clean: false, answeredBeforeClaim: [] },
  ]) {
    it(`CleanSession ${clean ? 1 : 0}: the CONNACK ${clean ? 'does not wait' : 'waits'} for the claim's round trip`, async () => {
      const edge = new SlowKafkaEdge();
      let landClaim: () => void = () => undefined;
      edge.claim = () =>
        new Promise<void>((resolve) => {
          landClaim = resolve;
        });
      const device = connectDevice(edge);
      device.send({ ...connect, clean });
      await settle();
      assert.deepEqual(heard(device.answered), answeredBeforeClaim);
      landClaim();
      await settle();
      assert.deepEqual(heard(device.answered), ['connack:0']);
      assert.equal(device.closed(), false);
    });
  }
});

describe('DeviceConnection: acknowledged-and-dropped PUBLISHes go through the session', () => {
  const limitedPublishes = (check: RateCheck): RateDecision =>
    check.packetType === PacketType.PUBLISH
      ? { allowed: false, tier: 'publish', action: 'ack-and-drop' }
      : { allowed: true };

  it('a rate-limited QoS 2 PUBLISH: PUBREC once its refused event is stored, then its PUBREL is expected (PUBCOMP, no PUBREL_UNKNOWN_ID)', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    edge.limit = limitedPublishes;
    device.send(publish(7, 2));
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:0'], 'no PUBREC before its event is stored');
    const [recorded] = edge.pending;
    assert.equal(recorded?.event.refusal, 'rate_limited');
    assert.equal(recorded?.event.edgeAction, 'rate_limited:publish:ack-and-drop');
    assert.equal(recorded?.event.payload, null, 'a flood is recorded without its payload');
    edge.acknowledge();
    assert.deepEqual(heard(device.answered), ['connack:0', 'pubrec:7']);
    device.send({ cmd: 'pubrel', messageId: 7 });
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:0', 'pubrec:7', 'pubcomp:7']);
    assert.deepEqual(await counted(edge.metrics.protocolEvents), {});
    assert.equal(device.closed(), false);
  });

  it('a rate-limited QoS 2 PUBLISH sent again before its PUBREL is a duplicate: PUBREC again, recorded once (MQTT-4.3.3-2)', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    edge.limit = limitedPublishes;
    device.send(publish(7, 2));
    await settle();
    edge.acknowledge();
    device.send({ ...publish(7, 2), dup: true } as Packet);
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:0', 'pubrec:7', 'pubrec:7']);
    assert.deepEqual(await counted(edge.metrics.protocolEvents), {
      SNT_MQTT_DUPLICATE_PUBLISH_SUPPRESSED: 1,
    });
  });

  it('PUBACKs keep the order of their PUBLISHes when one of them is rate limited or outside the ACL (MQTT-4.6.0-2)', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    let publishes = 0;
    // The second PUBLISH is over the client tier.
    edge.limit = (check) =>
      check.packetType === PacketType.PUBLISH && ++publishes === 2
        ? { allowed: false, tier: 'client', action: 'ack-and-drop' }
        : { allowed: true };
    device.send(publish(1), publish(2), publish(30, 1, 'elsewhere/x'), publish(4));
    await settle();
    assert.deepEqual(device.pubacks(), [], 'nothing is acknowledged before its event is stored');
    assert.deepEqual(
      edge.pending.map((p) => [p.event.messageId, p.event.refusal]),
      [
        [1, null],
        [2, 'rate_limited'],
        [30, 'acl_denied'],
        [4, null],
      ],
    );
    edge.acknowledge(1);
    assert.deepEqual(device.pubacks(), [1]);
    edge.acknowledge();
    assert.deepEqual(device.pubacks(), [1, 2, 30, 4]);
  });

  it('a PUBLISH refused by the global tier is not recorded and still gets its PUBREC and PUBCOMP through the session', async () => {
    const edge = new SlowKafkaEdge();
    const device = await connected(edge);
    edge.limit = (check) =>
      check.packetType === PacketType.PUBLISH
        ? { allowed: false, tier: 'global', action: 'ack-and-drop' }
        : { allowed: true };
    device.send(publish(9, 2));
    await settle();
    assert.deepEqual(edge.pending, []);
    device.send({ cmd: 'pubrel', messageId: 9 });
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:0', 'pubrec:9', 'pubcomp:9']);
    assert.deepEqual(await counted(edge.metrics.protocolEvents), {});
  });
});

describe('DeviceConnection before CONNECT completes', () => {
  function pendingPlace() {
    const place = { released: 0, release: () => place.released++ };
    return place;
  }

  it('a socket silent until its CONNECT deadline is destroyed at once, its pending place given back, a connect timeout recorded', async () => {
    const edge = new SlowKafkaEdge();
    const place = pendingPlace();
    const device = connectDevice(edge, place);
    device.connection.expire(defaultProtocolPolicy.connectTimeoutMs - 1);
    assert.equal(device.closed(), false);
    device.connection.expire(defaultProtocolPolicy.connectTimeoutMs);
    await settle();
    assert.equal(device.destroyed(), true, 'nothing to deliver: no lingering end, no timer');
    assert.equal(place.released, 1);
    assert.deepEqual(
      edge.pending.map(({ event }) => [event.packetType, event.malformedReason]),
      [['MALFORMED', 'SNT_MQTT_CONNECT_TIMEOUT']],
    );
    assert.deepEqual(await counted(edge.metrics.connectionsRejected), { connect_timeout: 1 });
  });

  it('an accepted CONNECT gives its pending place back at CONNACK, once', async () => {
    const edge = new SlowKafkaEdge();
    const place = pendingPlace();
    const device = connectDevice(edge, place);
    device.send(connect);
    await settle();
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:0']);
    assert.equal(place.released, 1);
    device.send({ cmd: 'disconnect' });
    await settle();
    assert.equal(device.closed(), true);
    assert.equal(place.released, 1);
  });

  it('a refused CONNECT is answered with its CONNACK before the socket ends, and gives its place back', async () => {
    const edge = new SlowKafkaEdge();
    edge.decide = async () => ({ allow: false, result: 'denied', reason: 'bad_credentials', connackCode: 5 });
    const place = pendingPlace();
    const device = connectDevice(edge, place);
    device.send(connect);
    await settle();
    await settle();
    assert.deepEqual(heard(device.answered), ['connack:5']);
    assert.equal(device.closed(), true);
    assert.equal(device.destroyed(), false, 'ended, so the CONNACK is delivered');
    assert.equal(place.released, 1);
  });
});

describe('DeviceConnection: downlink beyond the in-flight window', () => {
  it('QoS 1/2 messages past the window wait in order and go out as acknowledgements free places; QoS 0 is not held', async () => {
    const edge = new SlowKafkaEdge({
      ...defaultProtocolPolicy,
      maxInboundInFlight: 4,
      maxOutboundInFlight: 2,
    });
    const device = await connected(edge);
    const message = (n: number, qos: 0 | 1) => ({
      topic: `clients/dev-1/m${n}`,
      payload: Buffer.from(`m${n}`),
      qos,
      retain: false,
    });
    for (let n = 1; n <= 4; n++) assert.equal(device.connection.deliverDownlink(message(n, 1)), true);
    await settle();
    const sent = () => device.answered.flatMap((p) => (p.cmd === 'publish' ? [p.payload.toString()] : []));
    assert.deepEqual(sent(), ['m1', 'm2']);
    const [first] = device.answered.filter((p) => p.cmd === 'publish') as Array<{ messageId: number }>;
    device.send({ cmd: 'puback', messageId: first!.messageId });
    await settle();
    assert.deepEqual(sent(), ['m1', 'm2', 'm3']);
    // Behind the backlog, a new QoS 1 message keeps its place; QoS 0 goes at once.
    assert.equal(device.connection.deliverDownlink(message(5, 1)), true);
    assert.equal(device.connection.deliverDownlink(message(6, 0)), true);
    await settle();
    assert.deepEqual(sent(), ['m1', 'm2', 'm3', 'm6']);
    assert.deepEqual(
      device.connection.unacknowledgedOutbound().map((m) => m.topic),
      ['clients/dev-1/m2', 'clients/dev-1/m3', 'clients/dev-1/m4', 'clients/dev-1/m5'],
    );
  });
});
