import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { createKafka } from '../../lib/kafka/client.js';
import { kafkaBootstrap } from '../../lib/local-platform.js';
import type { PacketEvent, Verdict } from '../../schemas/types.generated.js';
import type { OriginMessage, OriginSubscriber } from '../helpers/bridge-world.js';
import { listenerPort } from '../helpers/edge.js';
import { connectDevice } from '../helpers/mqtt-device.js';
import { PipelineTestWorld } from '../helpers/pipeline.js';
import { uniqueName } from '../helpers/platform.js';
import { connectBytes, sendRaw } from '../helpers/raw-mqtt.js';

/**
 * Nothing the edge refuses reaches the origin: for each reason the edge refuses a packet (ACL, rate
 * limit, size, protocol violation, authentication, a will on a denied topic) the packet is recorded
 * and blocked, and neither it nor an empty stand-in arrives at the origin; retained state at the
 * origin cannot be created, changed or cleared through a topic the device may not publish to.
 *
 * Absence is proved with a marker: after the refused packets the same client id publishes an
 * allowed marker. Packets of one client id share a partition end to end (edge, processors, bridge),
 * so once the marker is at the origin anything approved before it would have arrived before it.
 */
const world = new PipelineTestWorld();
const password = 'refusal-device-password';
const tag = uniqueName('rf').replaceAll('-', '');
let origin: OriginSubscriber;

const id = (name: string) => `${tag}-${name}`;
const fromDevice = (clientId: string) => (m: OriginMessage) => m.topic.startsWith(`devices/${clientId}/`);

function connect(clientId: string, options: mqtt.IClientOptions = {}, port?: number): Promise<MqttClient> {
  return connectDevice(port ?? listenerPort(world.edge, 'mqtt'), clientId, password, options);
}

/** Publishes an allowed marker from `clientId` and waits for it at the origin; returns what arrived from the device. */
async function throughMarker(clientId: string, port?: number): Promise<OriginMessage[]> {
  const marker = JSON.stringify({ marker: randomUUID() });
  const client = await connect(clientId, {}, port);
  await client.publishAsync(`devices/${clientId}/telemetry`, marker, { qos: 1 });
  await client.endAsync();
  await origin.until((ms) => ms.some((m) => m.payload.toString() === marker));
  return origin.messages.filter(fromDevice(clientId)).filter((m) => m.payload.toString() !== marker);
}

/** What a new subscriber at the origin is handed as retained on `topic` (a live marker ends the wait). */
async function retainedAtOrigin(topic: string): Promise<string[]> {
  const late = await world.subscribeAtOrigin([topic]);
  const marker = `end-${randomUUID()}`;
  await late.client.publishAsync(topic, marker, { qos: 1 });
  await late.until((ms) => ms.some((m) => m.payload.toString() === marker));
  return late.messages.filter((m) => m.retain).map((m) => m.payload.toString());
}

async function setRetainedAtOrigin(topic: string, payload: string): Promise<void> {
  await origin.client.publishAsync(topic, payload, { qos: 1, retain: true });
}

const verdictOf = (event: PacketEvent) => world.waitForVerdict((v) => v.eventId === event.eventId);
const edgeRefused = (verdict: Verdict) =>
  verdict.decision === 'block' && verdict.findings.some((f) => f.ruleId === 'EDGE-REFUSED');

before(async () => {
  await world.setUp({ SENTINEL_MQTT_MAX_PACKET_BYTES: '4096' });
  const narrow = ['acl', 'will', 'size', 'malformed', 'auth', 'ratelimit'];
  for (const name of narrow) {
    await world.edgeWorld.addDevice({
      clientId: id(name),
      username: id(name),
      password,
      // Narrower than the processors' topic rule (devices/{clientId}/#), as in docs/ingest.md.
      publish: ['devices/%c/telemetry'],
      subscribe: ['clients/%c/#'],
    });
  }
  await world.edgeWorld.addDevice({
    clientId: id('willok'),
    username: id('willok'),
    password,
    publish: ['devices/%c/#'],
  });
  origin = await world.subscribeAtOrigin(['devices/+/#']);
});

after(() => world.tearDown());

describe('nothing the edge refuses reaches the origin', { timeout: 180_000 }, () => {
  it('ACL: a PUBLISH outside the device ACL reaches nothing and cannot create, change or clear retained state', async () => {
    const device = id('acl');
    const config = `devices/${device}/config`;
    await setRetainedAtOrigin(config, 'keep');
    const client = await connect(device);
    await client.publishAsync(config, '', { qos: 1, retain: true }); // would clear the retained message
    await client.publishAsync(config, 'evil', { qos: 1, retain: true }); // would replace it
    await client.publishAsync(`devices/${device}/new`, 'created', { qos: 0, retain: true }); // would create one
    await client.endAsync();
    const refused = await world.edgeWorld.waitForEvent(
      (e) => e.clientId === device && e.topic === `devices/${device}/new` && e.refusal === 'acl_denied',
    );
    assert.ok(edgeRefused(await verdictOf(refused)));

    const arrived = await throughMarker(device);
    assert.deepEqual(
      arrived.map((m) => [m.topic, m.payload.toString()]),
      [[config, 'keep']],
      'only the origin application own retained message',
    );
    assert.deepEqual(await retainedAtOrigin(config), ['keep']);
    assert.deepEqual(await retainedAtOrigin(`devices/${device}/new`), []);
    await setRetainedAtOrigin(config, '');
  });

  it('will on a denied topic: recorded and blocked, the origin retained state is untouched; an allowed will is delivered', async () => {
    const device = id('will');
    const status = `devices/${device}/status`;
    await setRetainedAtOrigin(status, 'online');
    const client = await connect(device, {
      will: { topic: status, payload: Buffer.alloc(0), qos: 1, retain: true },
    });
    client.stream.destroy(); // no DISCONNECT: the will is due (MQTT-3.1.2-8)
    const will = await world.edgeWorld.waitForEvent(
      (e) => e.clientId === device && e.edgeAction === 'will:acl_denied',
    );
    assert.equal(will.refusal, 'acl_denied');
    assert.ok(edgeRefused(await verdictOf(will)));
    const arrived = await throughMarker(device);
    assert.deepEqual(
      arrived.map((m) => m.payload.toString()),
      ['online'],
    );
    assert.deepEqual(await retainedAtOrigin(status), ['online']);
    await setRetainedAtOrigin(status, '');

    // The control: the same will on a topic the device may publish to is delivered, retained.
    const allowed = id('willok');
    const okClient = await connect(allowed, {
      will: {
        topic: `devices/${allowed}/status`,
        payload: Buffer.from('{"status":"offline"}'),
        qos: 1,
        retain: true,
      },
    });
    okClient.stream.destroy();
    await origin.until((ms) => ms.some((m) => m.topic === `devices/${allowed}/status`));
    assert.deepEqual(await retainedAtOrigin(`devices/${allowed}/status`), ['{"status":"offline"}']);
    await setRetainedAtOrigin(`devices/${allowed}/status`, '');
  });

  it('size: a PUBLISH over the packet limit is refused from its header and nothing of it arrives', async () => {
    const device = id('size');
    const publish = mqttPacket.generate({
      cmd: 'publish',
      topic: `devices/${device}/telemetry`,
      payload: Buffer.alloc(8192, 0x61),
      qos: 1,
      messageId: 1,
      retain: false,
      dup: false,
    });
    await sendRaw(Buffer.concat([connectBytes(device, password), publish]), listenerPort(world.edge, 'mqtt'));
    const refused = await world.edgeWorld.waitForEvent(
      (e) => e.clientId === device && e.packetType === 'MALFORMED',
    );
    assert.equal(refused.refusal, 'protocol');
    assert.ok(edgeRefused(await verdictOf(refused)));
    assert.deepEqual(await throughMarker(device), []);
  });

  it('protocol violation: a PUBLISH with a wildcard in its topic name closes the connection and nothing arrives', async () => {
    const device = id('malformed');
    // MQTT-3.3.2-2: fixed header 0x32 (PUBLISH, QoS 1), topic "devices/<id>/+", packet id 1, payload "evil".
    const topic = Buffer.from(`devices/${device}/+`);
    const body = Buffer.concat([
      Buffer.from([topic.length >> 8, topic.length & 0xff]),
      topic,
      Buffer.from([0, 1]),
      Buffer.from('evil'),
    ]);
    const publish = Buffer.concat([Buffer.from([0x32, body.length]), body]);
    await sendRaw(Buffer.concat([connectBytes(device, password), publish]), listenerPort(world.edge, 'mqtt'));
    const refused = await world.edgeWorld.waitForEvent(
      (e) => e.clientId === device && e.packetType === 'MALFORMED',
    );
    assert.ok(edgeRefused(await verdictOf(refused)));
    assert.deepEqual(await throughMarker(device), []);
  });

  it('authentication: a PUBLISH sent behind a refused CONNECT is never recorded nor delivered', async () => {
    const device = id('auth');
    const publish = mqttPacket.generate({
      cmd: 'publish',
      topic: `devices/${device}/telemetry`,
      payload: Buffer.from('evil'),
      qos: 1,
      messageId: 1,
      retain: true,
      dup: false,
    });
    const { answered } = await sendRaw(
      Buffer.concat([connectBytes(device, 'wrong-password'), publish]),
      listenerPort(world.edge, 'mqtt'),
    );
    assert.deepEqual([...answered], [0x20, 0x02, 0x00, 0x05], 'CONNACK 5 and nothing more');
    const refused = await world.edgeWorld.waitForEvent(
      (e) => e.clientId === device && e.packetType === 'CONNECT',
    );
    assert.equal(refused.refusal, 'auth_denied');
    assert.ok(edgeRefused(await verdictOf(refused)));
    assert.deepEqual(await throughMarker(device), []);
    assert.ok(
      !world.edgeWorld.events.some((e) => e.clientId === device && e.payload?.toString() === 'evil'),
      'the PUBLISH behind the refused CONNECT was not even recorded',
    );
  });

  it('rate limit: QoS 0 and QoS 1 PUBLISHes over the limit are acknowledged, dropped, recorded and never delivered', async () => {
    const device = id('ratelimit');
    const limited = await world.edgeWorld.startEdge({
      SENTINEL_RATE_PUBLISH_PER_SECOND: '1',
      SENTINEL_RATE_PUBLISH_BURST: '1',
    });
    const port = listenerPort(limited, 'mqtt');
    const client = await connect(device, {}, port);
    const topic = `devices/${device}/telemetry`;
    await client.publishAsync(topic, '{"r":0}', { qos: 1 });
    for (let i = 1; i <= 3; i++) await client.publishAsync(topic, `{"r":${i}}`, { qos: 1 });
    client.publish(topic, '{"r":4}', { qos: 0 });
    await client.endAsync();
    const refusedOf = () =>
      world.edgeWorld.events.filter((e) => e.clientId === device && e.refusal === 'rate_limited');
    await world.edgeWorld.waitForEvent(() => refusedOf().length >= 4);
    const refusedEvents = refusedOf();
    assert.deepEqual(
      refusedEvents.map((e) => [e.qos, e.edgeAction, e.payload]),
      [
        [1, 'rate_limited:publish:ack-and-drop', null],
        [1, 'rate_limited:publish:ack-and-drop', null],
        [1, 'rate_limited:publish:ack-and-drop', null],
        [0, 'rate_limited:publish:drop', null],
      ],
    );
    for (const event of refusedEvents) assert.ok(edgeRefused(await verdictOf(event)));

    // The marker must itself pass the limiter (one PUBLISH per second): it is sent again until the
    // edge records it as accepted, each attempt found by its connection and packet identifier.
    const marker = JSON.stringify({ marker: randomUUID() });
    const since = Date.now();
    const markerClient = await connect(device, {}, port);
    const session = await world.edgeWorld.waitForEvent(
      (e) => e.clientId === device && e.packetType === 'CONNECT' && e.receivedAt >= since,
    );
    for (;;) {
      const sent = await markerClient.publishAsync(topic, marker, { qos: 1 });
      const attempt = await world.edgeWorld.waitForEvent(
        (e) =>
          e.connectionId === session.connectionId &&
          e.packetType === 'PUBLISH' &&
          e.messageId === sent?.messageId,
      );
      if (attempt.refusal === null) break;
    }
    await markerClient.endAsync();
    await origin.until((ms) => ms.some((m) => m.payload.toString() === marker));
    assert.deepEqual(
      origin.messages.filter(fromDevice(device)).map((m) => m.payload.toString()),
      ['{"r":0}', marker],
      'the one PUBLISH within the limit and the marker: no refused message, no empty one',
    );
  });

  it('defence in depth: a PUBLISH a faulty edge let through outside the session ACL is blocked by the processors', async () => {
    const device = id('faulty');
    const connectEvent: PacketEvent = {
      ...baseEvent(device),
      packetType: 'CONNECT',
      authResult: 'allowed',
      acl: { publish: [`devices/${device}/telemetry`], subscribe: [] },
    };
    const outside: PacketEvent = {
      ...baseEvent(device),
      topic: `devices/${device}/config`,
      qos: 1,
      retain: true,
      payload: Buffer.alloc(0),
    };
    const marker: PacketEvent = {
      ...baseEvent(device),
      topic: `devices/${device}/telemetry`,
      qos: 1,
      payload: Buffer.from(JSON.stringify({ marker: randomUUID() })),
    };
    const producer = createKafka({
      brokers: kafkaBootstrap(world.edgeWorld.platform),
      clientId: uniqueName('faulty-edge'),
    }).producer();
    await producer.connect();
    try {
      await producer.send({
        topic: world.edgeWorld.topics.packets,
        acks: -1,
        messages: [connectEvent, outside, marker].map((e) => ({
          key: device,
          value: world.edgeWorld.catalog.encode('packets', e),
        })),
      });
    } finally {
      await producer.disconnect();
    }
    const verdict = await verdictOf(outside);
    assert.equal(verdict.decision, 'block');
    assert.ok(verdict.findings.some((f) => f.ruleId === 'ACL-PUBLISH-DENIED'));
    await origin.until((ms) => ms.some((m) => m.payload.equals(marker.payload as Buffer)));
    assert.deepEqual(
      origin.messages.filter(fromDevice(device)).map((m) => m.topic),
      [`devices/${device}/telemetry`],
    );
  });
});

function baseEvent(clientId: string): PacketEvent {
  return {
    eventId: randomUUID(),
    packetType: 'PUBLISH',
    clientId,
    username: clientId,
    sourceIp: '127.0.0.1',
    sourcePort: 40000,
    proxyId: 'faulty-edge',
    connectionId: 'c-1',
    receivedAt: Date.now(),
    topic: null,
    qos: null,
    retain: false,
    dup: false,
    messageId: null,
    payload: null,
    packetSize: 0,
    protocolLevel: null,
    keepAlive: null,
    cleanSession: null,
    willTopic: null,
    subscriptions: null,
    authResult: null,
    edgeAction: null,
    refusal: null,
    acl: null,
    malformedReason: null,
    malformedClause: null,
    tlsClientSubject: null,
  };
}
