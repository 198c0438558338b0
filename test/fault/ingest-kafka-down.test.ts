import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { RunningIngest } from '../../ingest/main.js';
import { artifactPaths } from '../../platform/artifacts.js';
import {
  brokerIndexes,
  startBroker,
  stopBroker,
  waitForBroker,
  waitForCluster,
} from '../../platform/kafka.js';
import { EdgeTestWorld, listenerPort } from '../helpers/edge.js';

/**
 * The edge's central promise: a QoS 1 PUBACK means Kafka has the event (acks=all). With the whole
 * cluster stopped, a device's QoS 1 PUBLISH gets no PUBACK, although the connection keeps
 * answering (the PINGREQ marker); once the cluster is back, the PUBACK arrives and the event is in Kafka.
 */
describe('QoS 1 acknowledgement waits for Kafka', () => {
  const world = new EdgeTestWorld();
  const password = 'kafka-down-device-password';
  let edge: RunningIngest;
  let socket: Socket;
  const received: Packet[] = [];
  const waiters: Array<() => void> = [];

  function nextPacket(cmd: Packet['cmd']): Promise<Packet> {
    return new Promise((resolve) => {
      const check = () => {
        const index = received.findIndex((p) => p.cmd === cmd);
        if (index >= 0) resolve(received.splice(index, 1)[0]!);
        else waiters.push(check);
      };
      check();
    });
  }

  before(async () => {
    await world.setUp();
    await world.addDevice({ clientId: 'kd-1', username: 'kd-1', password, publish: ['devices/%c/#'] });
    edge = await world.startEdge();
    socket = createConnection({ host: '127.0.0.1', port: listenerPort(edge, 'mqtt') });
    await once(socket, 'connect');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      received.push(packet);
      for (const wake of waiters.splice(0)) wake();
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        clientId: 'kd-1',
        username: 'kd-1',
        password: Buffer.from(password),
      }),
    );
    const connack = await nextPacket('connack');
    assert.equal((connack as mqttPacket.IConnackPacket).returnCode, 0);
  });

  after(async () => {
    const artifacts = artifactPaths(world.platform);
    for (const index of brokerIndexes) await startBroker(world.platform, artifacts, index);
    for (const index of brokerIndexes) await waitForBroker(world.platform, artifacts, index);
    await waitForCluster(world.platform);
    socket?.destroy();
    await world.tearDown();
  });

  it('sends no PUBACK while the cluster is down, and sends it once Kafka acknowledged the event', async () => {
    const artifacts = artifactPaths(world.platform);
    await Promise.all(brokerIndexes.map((index) => stopBroker(world.platform, artifacts, index)));

    socket.write(
      mqttPacket.generate({
        cmd: 'publish',
        topic: 'devices/kd-1/telemetry',
        payload: Buffer.from('while-kafka-down'),
        qos: 1,
        messageId: 7,
        retain: false,
        dup: false,
      }),
    );
    socket.write(mqttPacket.generate({ cmd: 'pingreq' }));
    await nextPacket('pingresp');
    assert.equal(
      received.some((p) => p.cmd === 'puback'),
      false,
      'the connection answered PINGREQ, but the PUBLISH is not acknowledged',
    );

    for (const index of brokerIndexes) await startBroker(world.platform, artifacts, index);
    const puback = (await nextPacket('puback')) as mqttPacket.IPubackPacket;
    assert.equal(puback.messageId, 7);
    const event = await world.waitForEvent(
      (e) => e.clientId === 'kd-1' && e.payload?.toString() === 'while-kafka-down',
    );
    assert.equal(event.qos, 1);
  });
});
