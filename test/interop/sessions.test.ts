import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import mqtt, { type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import type { IConnectPacket } from 'mqtt-packet';
import type { RunningIngest } from '../../ingest/main.js';
import type { OriginSubscriber } from '../helpers/bridge-world.js';
import { edgeMetric, listenerPort, RawDevice } from '../helpers/edge.js';
import { connectDevice, deviceOptions } from '../helpers/mqtt-device.js';
import { PipelineTestWorld } from '../helpers/pipeline.js';
import { uniqueName } from '../helpers/platform.js';
import { connectBytes, sendRaw } from '../helpers/raw-mqtt.js';

/**
 * MQTT 3.1.1 session semantics through the whole pipeline, one test per behaviour of the Paho
 * interoperability suite (eclipse/paho.mqtt.testing, interoperability/client_test.py) that a plain
 * broker gives and a proxy in front of one must keep: zero-length client ids, the offline queue of
 * a persistent session, redelivery of unacknowledged messages on reconnect, QoS kept end to end,
 * SUBACK 0x80, and the 'overlap' ACL mode. Devices are MQTT.js clients at the edge; messages for
 * them come from the origin (an application there, or a device's own PUBLISH through the pipeline).
 */
const world = new PipelineTestWorld();
const password = 'interop-device-password';
const tag = uniqueName('ss').replaceAll('-', '');
const device = (name: string) => `${tag}-${name}`;
let origin: OriginSubscriber;
let overlapEdge: RunningIngest;
let redis: Redis;

function connect(clientId: string, options: mqtt.IClientOptions = {}, port?: number): Promise<MqttClient> {
  return connectDevice(port ?? listenerPort(world.edge, 'mqtt'), clientId, password, options);
}

/**
 * Connects with a collector attached before CONNACK: what a resumed session is owed arrives right
 * behind it, before connectAsync would hand the client over.
 */
async function connectCollecting(
  clientId: string,
  options: mqtt.IClientOptions = {},
): Promise<{ client: MqttClient; received: IPublishPacket[]; sessionPresent: boolean }> {
  const client = mqtt.connect(
    `mqtt://127.0.0.1:${listenerPort(world.edge, 'mqtt')}`,
    deviceOptions(clientId, password, options),
  );
  const received = collect(client);
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return { client, received, sessionPresent: connack.sessionPresent };
}

/** The SUBACK's return codes, 0x80 included (MQTT.js rejects a SUBACK holding one, with the packet). */
async function subackCodes(client: MqttClient, filters: mqtt.ISubscriptionMap): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters)).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted;
  }
}

function collect(client: MqttClient): IPublishPacket[] {
  const received: IPublishPacket[] = [];
  client.on('message', (_topic, _payload, packet) => received.push(packet));
  return received;
}

/** Waits (on the client's own events) until `done` holds over what arrived. */
async function until(client: MqttClient, received: IPublishPacket[], done: (r: IPublishPacket[]) => boolean) {
  while (!done(received)) await new Promise((resolve) => client.once('message', resolve));
}

/** A raw device (every byte decided by the test, nothing acknowledged unless sent) past CONNACK. */
async function rawConnect(
  id: string,
  connect: { clean: boolean; keepalive: number; will?: IConnectPacket['will'] },
): Promise<{ socket: Socket; raw: RawDevice }> {
  const socket = createConnection({ host: '127.0.0.1', port: listenerPort(world.edge, 'mqtt') });
  await once(socket, 'connect');
  const raw = RawDevice.over(socket);
  raw.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId: id,
    username: id,
    password: Buffer.from(password),
    ...connect,
  });
  await raw.waitFor((p) => p.cmd === 'connack');
  return { socket, raw };
}

/**
 * A raw persistent-session device (MQTT.js 3.1.1 always acknowledges) subscribed to
 * devices/<id>/cmd that receives `payload` from the origin at QoS 1 and never acknowledges it.
 */
async function unacknowledgedDelivery(
  id: string,
  payload: string,
): Promise<{ socket: Socket; first: Packet }> {
  const { socket, raw: silent } = await rawConnect(id, { clean: false, keepalive: 60 });
  silent.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `devices/${id}/cmd`, qos: 1 }] });
  await silent.waitFor((p) => p.cmd === 'suback');
  await origin.client.publishAsync(`devices/${id}/cmd`, payload, { qos: 1 });
  const first = await silent.waitFor((p) => p.cmd === 'publish' && p.payload.toString() === payload);
  return { socket, first };
}

/** The length of a parked session's queue in Redis (the edge world's session prefix). */
const queueLength = (clientId: string) =>
  redis.llen(`${world.edgeWorld.redisPrefix}s:session:queue:${clientId}`);

async function untilQueued(clientId: string, count: number): Promise<void> {
  for (let i = 0; i < 400 && (await queueLength(clientId)) < count; i++)
    await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok((await queueLength(clientId)) >= count, `${count} messages queued for ${clientId}`);
}

before(async () => {
  await world.setUp({}, { SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'devices/#,clients/+/#,$interop/#' });
  overlapEdge = await world.edgeWorld.startEdge({ SENTINEL_ACL_SUBSCRIBE_MATCH: 'overlap' });
  await world.edgeWorld.addDevices(
    ['zero', 'offline', 'redeliver', 'qos', 'acl', 'wide'].map(device),
    password,
    {
      publish: ['devices/%c/#'],
      subscribe: ['devices/%c/#'],
    },
  );
  await world.edgeWorld.addDevices(['watcher', 'dollar'].map(device), password, {
    publish: ['devices/%c/#'],
    subscribe: ['#', '$interop/#'],
  });
  origin = await world.subscribeAtOrigin(['devices/+/#']);
  redis = new Redis('redis://127.0.0.1:6379');
});

after(async () => {
  redis?.disconnect();
  await world.tearDown();
});

describe('MQTT 3.1.1 sessions through the pipeline', { timeout: 180_000 }, () => {
  it('a zero-length client id: accepted with CleanSession 1 under an assigned id (MQTT-3.1.3-6), refused with CONNACK 0x02 with CleanSession 0 (MQTT-3.1.3-8)', async () => {
    const port = listenerPort(world.edge, 'mqtt');
    // mqtt-packet will not encode this CONNECT: it is generated with CleanSession 1 and the flag cleared.
    const bytes = connectBytes('', password, { username: device('zero'), clean: true });
    bytes[9] = bytes[9]! & ~0x02;
    const persistent = await sendRaw(bytes, port);
    persistent.socket.destroy();
    assert.deepEqual([...persistent.answered.subarray(0, 4)], [0x20, 0x02, 0x00, 0x02]);
    // The assigned session publishes under its own id: the device's ACL (devices/%c/#) names the
    // assigned id, not the device's, so the device ACL decides what it may do.
    const anonymous = await connect('', { username: device('zero'), clean: true });
    assert.equal(anonymous.connected, true);
    await anonymous.endAsync();
  });

  it('a persistent session queues the QoS 1 and 2 messages its filters match while the device is away, and gets them on return with session present (MQTT-3.1.2-5)', async () => {
    const id = device('offline');
    const first = await connect(id, { clean: false });
    await first.subscribeAsync({ [`devices/${id}/inbox/+`]: { qos: 2 } });
    await first.endAsync();
    for (const qos of [0, 1, 2] as const)
      await origin.client.publishAsync(`devices/${id}/inbox/q${qos}`, `while away ${qos}`, { qos });
    await untilQueued(id, 2);

    const { client: back, received, sessionPresent } = await connectCollecting(id, { clean: false });
    assert.equal(sessionPresent, true);
    await until(back, received, (r) => r.length >= 2);
    await back.endAsync();
    assert.deepEqual(received.map((p) => [p.topic, p.payload.toString(), p.qos]).sort(), [
      [`devices/${id}/inbox/q1`, 'while away 1', 1],
      [`devices/${id}/inbox/q2`, 'while away 2', 2],
    ]);
    assert.equal(await queueLength(id), 0, 'the queue is handed over, not kept');
  });

  it('unacknowledged messages are sent again with DUP on reconnect of a persistent session (MQTT-4.4.0-1)', async () => {
    const id = device('redeliver');
    const payload = `unacknowledged-${randomUUID()}`;
    const { socket, first } = await unacknowledgedDelivery(id, payload);
    socket.destroy();
    await untilQueued(id, 1);

    const { client: back, received } = await connectCollecting(id, { clean: false });
    await until(back, received, (r) => r.some((p) => p.payload.toString() === payload));
    await back.endAsync();
    const again = received.find((p) => p.payload.toString() === payload)!;
    assert.equal(again.dup, true);
    assert.equal(again.qos, 1);
    assert.equal(again.messageId, (first as IPublishPacket).messageId, 'under its packet identifier');
  });

  it('a message keeps its QoS end to end: a device QoS 2 PUBLISH reaches a QoS 2 subscriber at QoS 2, a QoS 1 one at QoS 1', async () => {
    const id = device('qos');
    const client = await connect(id);
    const received = collect(client);
    await client.subscribeAsync({ [`devices/${id}/#`]: { qos: 2 } });
    await client.publishAsync(`devices/${id}/two`, 'two', { qos: 2 });
    await client.publishAsync(`devices/${id}/one`, 'one', { qos: 1 });
    await until(client, received, (r) => r.length >= 2);
    await client.endAsync();
    assert.deepEqual(received.map((p) => [p.payload.toString(), p.qos]).sort(), [
      ['one', 1],
      ['two', 2],
    ]);
  });

  it("SUBACK 0x80 for a filter outside the device's ACL (cover mode, the default)", async () => {
    const id = device('acl');
    const client = await connect(id);
    const granted = await subackCodes(client, {
      [`devices/${id}/#`]: { qos: 1 },
      'devices/#': { qos: 1 },
      'test/nosubscribe': { qos: 2 },
    });
    await client.endAsync();
    assert.deepEqual(granted, [1, 128, 128]);
  });

  it('overlap mode: a wider filter is granted and receives only what the ACL lets the device read; one that can deliver nothing readable gets 0x80', async () => {
    const id = device('wide');
    const other = device('acl');
    const client = await connect(id, {}, listenerPort(overlapEdge, 'mqtt'));
    const received = collect(client);
    const granted = await subackCodes(client, {
      'devices/+/note': { qos: 1 },
      'test/nosubscribe': { qos: 1 },
    });
    assert.deepEqual(granted, [1, 128]);
    const droppedBefore = await edgeMetric(overlapEdge, 'sentinel_ingest_downlink_dropped_total', {
      reason: 'acl',
    });
    await origin.client.publishAsync(`devices/${other}/note`, 'not yours', { qos: 1 });
    // The edge had it and held it back: its ACL drop is counted.
    for (
      let i = 0;
      i < 400 &&
      (await edgeMetric(overlapEdge, 'sentinel_ingest_downlink_dropped_total', { reason: 'acl' })) ===
        droppedBefore;
      i++
    )
      await new Promise((resolve) => setTimeout(resolve, 25));
    await origin.client.publishAsync(`devices/${id}/note`, 'yours', { qos: 1 });
    await until(client, received, (r) => r.some((p) => p.payload.toString() === 'yours'));
    await client.endAsync();
    assert.equal(
      await edgeMetric(overlapEdge, 'sentinel_ingest_downlink_dropped_total', { reason: 'acl' }),
      droppedBefore + 1,
    );
    assert.deepEqual(
      received.map((p) => p.payload.toString()),
      ['yours'],
    );
  });
  it('a will published on Keep Alive expiry reaches a subscriber at the edge (Paho test_keepalive)', async () => {
    const id = device('zero');
    const status = `devices/${id}/status`;
    const watcher = await connect(device('watcher'));
    const received = collect(watcher);
    await watcher.subscribeAsync({ [status]: { qos: 1 } });
    const { socket } = await rawConnect(id, {
      clean: true,
      keepalive: 1,
      will: { topic: status, payload: Buffer.from('keepalive expiry'), qos: 1, retain: false },
    });
    // It sends nothing more: the edge closes it after 1.5 x Keep Alive and publishes the will.
    await until(watcher, received, (r) => r.some((p) => p.payload.toString() === 'keepalive expiry'));
    await watcher.endAsync();
    socket.destroy();
  });

  it("a filter starting with a wildcard gets no '$' topic, a '$' filter does (MQTT-4.7.2-1, Paho test_dollar_topics)", async () => {
    const client = await connect(device('dollar'));
    const received = collect(client);
    // Overlapping filters give one message at the highest QoS of those that match (MQTT-3.3.5-1):
    // at QoS 1 only if neither wildcard filter (QoS 2) matched.
    await client.subscribeAsync({ '+/+': { qos: 2 }, '#': { qos: 2 }, '$interop/+': { qos: 1 } });
    const topic = `$interop/${tag}`;
    await origin.client.publishAsync(topic, 'dollar', { qos: 2 });
    await until(client, received, (r) => r.some((p) => p.topic === topic));
    await client.endAsync();
    const copies = received.filter((p) => p.topic === topic);
    assert.equal(copies.length, 1);
    assert.equal(copies[0]!.qos, 1, "delivered under '$interop/+' alone");
  });

  it('after UNSUBSCRIBE the filter delivers nothing more, the others still do (Paho test_unsubscribe)', async () => {
    const id = device('watcher');
    const client = await connect(id);
    const received = collect(client);
    await client.subscribeAsync({ [`clients/${id}/a`]: { qos: 1 }, [`clients/${id}/b`]: { qos: 1 } });
    await client.unsubscribeAsync(`clients/${id}/a`);
    // One device's downlink shares one partition, in order: b published after a arrives after it.
    await origin.client.publishAsync(`clients/${id}/a`, 'unsubscribed', { qos: 1 });
    await origin.client.publishAsync(`clients/${id}/b`, 'subscribed', { qos: 1 });
    await until(client, received, (r) => r.some((p) => p.payload.toString() === 'subscribed'));
    await client.endAsync();
    assert.deepEqual(
      received.map((p) => p.payload.toString()),
      ['subscribed'],
    );
  });
  it('a persistent session taken over while its old connection still stands gets that connection’s unacknowledged messages at once, DUP set (MQTT-4.4.0-1)', async () => {
    const id = device('redeliver');
    const payload = `taken-over-${randomUUID()}`;
    const { socket } = await unacknowledgedDelivery(id, payload);
    // The device comes back on a new connection before the old one is seen dead (a mobile network).
    const { client: back, received } = await connectCollecting(id, { clean: false });
    await until(back, received, (r) => r.some((p) => p.payload.toString() === payload));
    await back.endAsync();
    socket.destroy();
    assert.equal(received.find((p) => p.payload.toString() === payload)!.dup, true);
  });
});
