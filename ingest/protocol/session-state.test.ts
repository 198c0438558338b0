import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IConnectPacket, IPublishPacket } from 'mqtt-packet';
import { defaultProtocolPolicy } from './policy.js';
import { ConnectionSession, type SessionAction } from './session-state.js';

const policy = { ...defaultProtocolPolicy, maxInboundInFlight: 2, maxOutboundInFlight: 2 };
const connect: IConnectPacket = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clientId: 'dev1',
  clean: true,
  keepalive: 60,
  will: { topic: 'clients/dev1/status', payload: Buffer.from('offline'), qos: 0, retain: false },
};

function publish(qos: 0 | 1 | 2, messageId?: number, dup = false): IPublishPacket {
  return {
    cmd: 'publish',
    topic: 'a',
    payload: Buffer.from('x'),
    qos,
    dup,
    retain: false,
    ...(messageId === undefined ? {} : { messageId }),
  };
}

function connected(openedAtMs = 0): ConnectionSession {
  const session = new ConnectionSession(policy, openedAtMs);
  session.receive(connect, openedAtMs);
  session.connectAccepted(false, openedAtMs);
  return session;
}

function kinds(actions: readonly SessionAction[]): string[] {
  return actions.map((action) => (action.kind === 'send' ? `send:${action.packet.cmd}` : action.kind));
}

function refusalOf(actions: readonly SessionAction[]): string | undefined {
  const close = actions.find((action) => action.kind === 'close');
  return close?.kind === 'close' ? close.refusal?.code : undefined;
}

describe('ConnectionSession: packet order', () => {
  it('asks to authenticate the first CONNECT and answers CONNACK 0 once accepted', () => {
    const session = new ConnectionSession(policy, 0);
    assert.deepEqual(kinds(session.receive(connect, 5)), ['authenticate']);
    assert.equal(session.phase, 'authenticating');
    const accepted = session.connectAccepted(true, 10);
    assert.deepEqual(accepted, [
      { kind: 'send', packet: { cmd: 'connack', returnCode: 0, sessionPresent: true } },
    ]);
    assert.equal(session.phase, 'connected');
  });

  it('closes when the first packet is not CONNECT (MQTT-3.1.0-1)', () => {
    const session = new ConnectionSession(policy, 0);
    assert.equal(refusalOf(session.receive({ cmd: 'pingreq' }, 1)), 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT');
  });

  it('closes on a second CONNECT and publishes the will (MQTT-3.1.0-2, MQTT-3.1.2-8)', () => {
    const session = connected();
    const actions = session.receive(connect, 1);
    assert.equal(refusalOf(actions), 'SNT_MQTT_SECOND_CONNECT');
    const close = actions.find((action) => action.kind === 'close');
    assert.equal(close?.kind === 'close' ? close.will?.topic : undefined, 'clients/dev1/status');
  });

  it('defers packets sent while the CONNECT is being authenticated', () => {
    const session = new ConnectionSession(policy, 0);
    session.receive(connect, 0);
    assert.deepEqual(kinds(session.receive(publish(0), 1)), ['defer']);
  });

  it('sends CONNACK with the return code and closes when the CONNECT is refused', () => {
    const session = new ConnectionSession(policy, 0);
    session.receive(connect, 0);
    assert.deepEqual(kinds(session.connectRefused(5)), ['send:connack', 'close']);
  });

  it('an internal failure answers a CONNECT being decided with CONNACK 0x03 and closes without a refusal; a session just closes, with its will', () => {
    const deciding = new ConnectionSession(policy, 0);
    deciding.receive(connect, 0);
    const actions = deciding.internalError();
    assert.deepEqual(actions, [
      { kind: 'send', packet: { cmd: 'connack', returnCode: 3, sessionPresent: false } },
      { kind: 'close', reason: 'internal-error' },
    ]);
    assert.deepEqual(deciding.internalError(), []);
    assert.deepEqual(new ConnectionSession(policy, 0).internalError(), [
      { kind: 'close', reason: 'internal-error' },
    ]);
    const [close] = connected().internalError();
    assert.equal(close?.kind === 'close' ? close.will?.topic : undefined, 'clients/dev1/status');
  });

  it('sends CONNACK 0x01 before closing for an unsupported level, only on a first CONNECT', () => {
    const first = new ConnectionSession(policy, 0);
    const refusal = {
      code: 'SNT_MQTT_PROTOCOL_LEVEL',
      clause: 'MQTT-3.1.2-2',
      message: 'MQTT 5',
      connackReturnCode: 1,
    } as const;
    const actions = first.refuse(refusal);
    assert.deepEqual(kinds(actions), ['send:connack', 'close']);
    assert.deepEqual(actions[0], {
      kind: 'send',
      packet: { cmd: 'connack', returnCode: 1, sessionPresent: false },
    });
    assert.deepEqual(kinds(connected().refuse(refusal)), ['close']);
  });

  it('answers PINGREQ with PINGRESP', () => {
    assert.deepEqual(kinds(connected().receive({ cmd: 'pingreq' }, 1)), ['send:pingresp']);
  });

  it('closes without the will on DISCONNECT (MQTT-3.14.4-3)', () => {
    const actions = connected().receive({ cmd: 'disconnect' }, 1);
    assert.deepEqual(actions, [{ kind: 'close', reason: 'client-disconnect' }]);
  });

  it('publishes the will when the transport drops', () => {
    const [close] = connected().transportClosed();
    assert.equal(close?.kind === 'close' ? close.will?.payload.toString() : undefined, 'offline');
  });
});

describe('ConnectionSession: inbound QoS', () => {
  it('delivers QoS 0 at once', () => {
    assert.deepEqual(kinds(connected().receive(publish(0), 1)), ['deliver']);
  });

  it('sends PUBACK only once the message is stored', () => {
    const session = connected();
    assert.deepEqual(kinds(session.receive(publish(1, 7), 1)), ['deliver']);
    assert.deepEqual(session.inboundStored(7), [{ kind: 'send', packet: { cmd: 'puback', messageId: 7 } }]);
    assert.equal(session.inboundInFlight, 0);
  });

  it('does not deliver a QoS 1 retransmission still being stored', () => {
    const session = connected();
    session.receive(publish(1, 7), 1);
    assert.deepEqual(kinds(session.receive(publish(1, 7, true), 2)), ['record']);
    assert.deepEqual(kinds(session.inboundStored(7)), ['send:puback']);
  });

  it('delivers a QoS 2 message once however often it is repeated before PUBREL (MQTT-4.3.3-2)', () => {
    const session = connected();
    assert.deepEqual(kinds(session.receive(publish(2, 9), 1)), ['deliver']);
    assert.deepEqual(kinds(session.receive(publish(2, 9, true), 2)), ['record']);
    assert.deepEqual(kinds(session.inboundStored(9)), ['send:pubrec']);
    assert.deepEqual(kinds(session.receive(publish(2, 9, true), 3)), ['record', 'send:pubrec']);
    assert.deepEqual(kinds(session.receive(publish(2, 9, false), 3)), ['record', 'send:pubrec']);
    assert.deepEqual(kinds(session.receive({ cmd: 'pubrel', messageId: 9 }, 4)), ['send:pubcomp']);
    assert.deepEqual(kinds(session.receive(publish(2, 9), 5)), ['deliver']);
  });

  it('answers an unknown PUBREL with PUBCOMP and records it', () => {
    assert.deepEqual(kinds(connected().receive({ cmd: 'pubrel', messageId: 4 }, 1)), [
      'record',
      'send:pubcomp',
    ]);
  });

  it('closes on PUBREL before PUBREC was sent', () => {
    const session = connected();
    session.receive(publish(2, 9), 1);
    assert.equal(
      refusalOf(session.receive({ cmd: 'pubrel', messageId: 9 }, 2)),
      'SNT_MQTT_PUBREL_BEFORE_PUBREC',
    );
  });

  it('closes when an identifier in flight is reused at another QoS (MQTT-2.3.1-2)', () => {
    const session = connected();
    session.receive(publish(2, 9), 1);
    assert.equal(refusalOf(session.receive(publish(1, 9), 2)), 'SNT_MQTT_PACKET_ID_IN_USE');
  });

  it('holds a PUBLISH past the store window instead of refusing it: the server is the slow party', () => {
    const session = connected();
    session.receive(publish(1, 1), 1);
    session.receive(publish(2, 2), 1);
    assert.equal(session.inboundStoring, 2);
    const third = publish(1, 3);
    const waiting = session.receive(third, 1);
    assert.deepEqual(kinds(waiting), ['wait-for-store']);
    assert.equal(waiting[0]?.kind === 'wait-for-store' ? waiting[0].packet : undefined, third);
    assert.equal(session.phase, 'connected');
    assert.deepEqual(kinds(session.inboundStored(1)), ['send:puback']);
    assert.deepEqual(kinds(session.receive(third, 2)), ['deliver']);
  });

  it('lets QoS 0 through while the store window is full', () => {
    const session = connected();
    session.receive(publish(1, 1), 1);
    session.receive(publish(1, 2), 1);
    assert.deepEqual(kinds(session.receive(publish(0), 1)), ['deliver']);
  });

  it('closes past the in-flight cap of QoS 2 exchanges the client leaves awaiting PUBREL', () => {
    const session = connected();
    for (const id of [1, 2]) {
      session.receive(publish(2, id), 1);
      assert.deepEqual(kinds(session.inboundStored(id)), ['send:pubrec']);
    }
    assert.equal(session.inboundStoring, 0);
    assert.equal(refusalOf(session.receive(publish(2, 3), 1)), 'SNT_MQTT_INFLIGHT_LIMIT');
  });
});

describe('ConnectionSession: outbound QoS', () => {
  it('numbers QoS 1 messages, waits for PUBACK and holds messages past the window', () => {
    const session = connected();
    const first = session.outboundPublish({
      topic: 'clients/dev1/alerts',
      payload: Buffer.from('a'),
      qos: 1,
    });
    const second = session.outboundPublish({
      topic: 'clients/dev1/alerts',
      payload: Buffer.from('b'),
      qos: 2,
    });
    assert.notEqual(first, 'window-full');
    assert.notEqual(second, 'window-full');
    assert.equal(session.outboundPublish({ topic: 't', payload: Buffer.alloc(0), qos: 1 }), 'window-full');
    assert.deepEqual(session.receive({ cmd: 'puback', messageId: 1 }, 1), []);
    assert.deepEqual(kinds(session.receive({ cmd: 'pubrec', messageId: 2 }, 1)), ['send:pubrel']);
    assert.deepEqual(session.receive({ cmd: 'pubcomp', messageId: 2 }, 1), []);
    assert.equal(session.outboundInFlight, 0);
  });

  it('records acknowledgements for identifiers it never sent', () => {
    const session = connected();
    for (const cmd of ['puback', 'pubrec', 'pubcomp'] as const) {
      const [action] = session.receive({ cmd, messageId: 42 }, 1);
      assert.equal(action?.kind === 'record' ? action.event.code : undefined, 'SNT_MQTT_ACK_UNKNOWN_ID');
    }
  });
});

describe('ConnectionSession: deadlines', () => {
  it('closes a connection without CONNECT at the connect timeout', () => {
    const session = new ConnectionSession(policy, 1_000);
    assert.equal(session.deadlineMs(), 11_000);
    assert.deepEqual(session.expire(10_999), []);
    assert.equal(refusalOf(session.expire(11_000)), 'SNT_MQTT_CONNECT_TIMEOUT');
  });

  it('closes after 1.5 x Keep Alive of silence and publishes the will (MQTT-3.1.2-24)', () => {
    const session = connected(0);
    session.receive({ cmd: 'pingreq' }, 10_000);
    assert.equal(session.deadlineMs(), 10_000 + 90_000);
    assert.deepEqual(session.expire(99_999), []);
    const actions = session.expire(100_000);
    assert.equal(refusalOf(actions), 'SNT_MQTT_KEEPALIVE_EXPIRED');
    const close = actions.find((action) => action.kind === 'close');
    assert.ok(close?.kind === 'close' && close.will !== undefined);
  });

  it('does not count the time the server was not reading against Keep Alive', () => {
    const session = connected(0);
    session.receive(publish(1, 1), 10_000);
    // The connection stopped reading at 10 s (Kafka slow) and starts again at 200 s.
    session.resumeListening(200_000);
    assert.equal(session.deadlineMs(), 200_000 + 90_000);
    assert.deepEqual(session.expire(289_999), []);
    session.resumeListening(5_000);
    assert.equal(session.deadlineMs(), 290_000, 'a resume in the past moves nothing back');
  });

  it('caps Keep Alive 0 and 65,535 and records it (SlowITe)', () => {
    for (const keepalive of [0, 65_535]) {
      const session = new ConnectionSession(policy, 0);
      const actions = session.receive({ ...connect, keepalive }, 0);
      assert.deepEqual(kinds(actions), ['authenticate', 'record']);
      session.connectAccepted(false, 0);
      assert.equal(session.keepAliveSeconds, 300);
      assert.equal(session.deadlineMs(), 450_000);
    }
  });

  it('has no deadline when Keep Alive is 0 and the cap is off', () => {
    const session = new ConnectionSession({ ...policy, maxKeepAliveSeconds: 0 }, 0);
    session.receive({ ...connect, keepalive: 0 }, 0);
    session.connectAccepted(false, 0);
    assert.equal(session.deadlineMs(), Number.POSITIVE_INFINITY);
  });
});

describe('ConnectionSession: what a persistent session is owed (MQTT-4.4.0-1)', () => {
  const message = (topic: string, qos: 1 | 2) => ({ topic, payload: Buffer.from(topic), qos, retain: false });
  const sent = (actions: readonly SessionAction[] | 'window-full') => {
    assert.notEqual(actions, 'window-full');
    const send = (actions as readonly SessionAction[])[0];
    assert.equal(send?.kind, 'send');
    return (send as { packet: IPublishPacket }).packet;
  };

  it('lists the unfinished outbound exchanges oldest first, a PUBREC-ed one as owing its PUBREL only', () => {
    const session = connected();
    const a = sent(session.outboundPublish(message('a', 1)));
    const b = sent(session.outboundPublish(message('b', 2)));
    session.receive({ cmd: 'pubrec', messageId: b.messageId! }, 1);
    assert.deepEqual(
      session.unacknowledgedOutbound().map((o) => [o.topic, o.packetId, o.released]),
      [
        ['a', a.messageId, false],
        ['b', b.messageId, true],
      ],
    );
    session.receive({ cmd: 'puback', messageId: a.messageId! }, 2);
    session.receive({ cmd: 'pubcomp', messageId: b.messageId! }, 3);
    assert.deepEqual(session.unacknowledgedOutbound(), []);
  });

  it('a resumed exchange goes again under its packet id with DUP set, or as its PUBREL; its acknowledgement completes it', () => {
    const session = connected();
    const again = sent(session.resumeOutbound({ ...message('a', 1), packetId: 7, released: false }));
    assert.equal(again.messageId, 7);
    assert.equal(again.dup, true);
    const pubrel = session.resumeOutbound({ ...message('b', 2), packetId: 9, released: true });
    assert.deepEqual(pubrel, [{ kind: 'send', packet: { cmd: 'pubrel', messageId: 9 } }]);
    assert.deepEqual(session.receive({ cmd: 'puback', messageId: 7 }, 1), []);
    assert.deepEqual(session.receive({ cmd: 'pubcomp', messageId: 9 }, 2), []);
    assert.equal(session.outboundInFlight, 0);
  });

  it('a resumed packet id already in use here is sent as a new PUBLISH; past the window it waits', () => {
    const session = connected();
    const live = sent(session.outboundPublish(message('live', 1)));
    const moved = sent(
      session.resumeOutbound({ ...message('old', 1), packetId: live.messageId!, released: false }),
    );
    assert.notEqual(moved.messageId, live.messageId);
    assert.equal(moved.dup, false);
    assert.equal(
      session.resumeOutbound({ ...message('more', 1), packetId: 300, released: false }),
      'window-full',
    );
  });
});
