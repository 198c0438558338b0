import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningIngest } from '../../ingest/main.js';
import type { OriginSubscriber } from '../helpers/bridge-world.js';
import { edgeMetric, listenerPort, RawDevice } from '../helpers/edge.js';
import { connectDevice } from '../helpers/mqtt-device.js';
import { PipelineTestWorld } from '../helpers/pipeline.js';
import { uniqueName } from '../helpers/platform.js';

/**
 * Origin -> device under a burst (issue: 100 msg/s of 8 KB QoS 0 reached devices at about half,
 * and the bridge's origin session dropped with "no PINGRESP"): every message reaches a subscriber
 * that reads, a subscriber that does not read is shed for (counted), and the bridge's origin
 * sessions stay up throughout.
 */
const world = new PipelineTestWorld();
const password = 'burst-device-password';
const tag = uniqueName('bu').replaceAll('-', '');
const topic = `fleet/${tag}/burst`;
const count = 1500;
const perSecond = 250;
let origin: OriginSubscriber;
let edge: RunningIngest;

before(async () => {
  await world.setUp(
    { SENTINEL_INGEST_MAX_OUTBOUND_BUFFER_BYTES: String(64 * 1024) },
    { SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'fleet/#' },
  );
  edge = world.edge;
  await world.edgeWorld.addDevices([`${tag}-reader`, `${tag}-sleeper`], password, {
    publish: [],
    subscribe: ['fleet/#'],
  });
  origin = await world.subscribeAtOrigin([topic]);
});

after(() => world.tearDown());

describe('downlink under a burst', { timeout: 120_000 }, () => {
  it(`${count} QoS 0 messages of 8 KB at ${perSecond}/s: all reach a reading device; a device that does not read is shed for, counted; the bridge stays connected`, async () => {
    const reader = await connectDevice(listenerPort(edge, 'mqtt'), `${tag}-reader`, password);
    let read = 0;
    const allRead = new Promise<void>((resolve) =>
      reader.on('message', () => {
        if (++read === count) resolve();
      }),
    );
    await reader.subscribeAsync(topic, { qos: 0 });

    const socket = createConnection({ host: '127.0.0.1', port: listenerPort(edge, 'mqtt') });
    await once(socket, 'connect');
    const sleeper = await RawDevice.handshake(socket, { clientId: `${tag}-sleeper`, password, keepalive: 0 });
    sleeper.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
    await sleeper.waitFor((p) => p.cmd === 'suback');
    socket.pause();

    const shedBefore = await edgeMetric(edge, 'sentinel_ingest_downlink_dropped_total', {
      reason: 'slow_subscriber',
    });
    const payload = Buffer.alloc(8192, 0x61);
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const wait = start + (i * 1000) / perSecond - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      origin.client.publish(topic, payload, { qos: 0 });
    }
    await allRead;
    const shed =
      (await edgeMetric(edge, 'sentinel_ingest_downlink_dropped_total', { reason: 'slow_subscriber' })) -
      shedBefore;
    await reader.endAsync();
    socket.destroy();
    assert.equal(read, count);
    assert.ok(shed > 0, 'the device that does not read was shed for');
    assert.ok(world.bridges.every((bridge) => bridge.links.every((link) => link.isConnected)));
  });
});
