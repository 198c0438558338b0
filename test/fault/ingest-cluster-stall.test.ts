import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Packet } from 'mqtt-packet';
import type { RunningIngest } from '../../ingest/main.js';
import { artifactPaths } from '../../platform/artifacts.js';
import { brokerIndexes, brokerProcess, waitForCluster } from '../../platform/kafka.js';
import { runningPid } from '../../platform/processes.js';
import { EdgeTestWorld, edgeMetric, listenerPort, RawDevice } from '../helpers/edge.js';
import { FrozenProcesses } from '../helpers/freeze.js';
import { boundedTeardown } from '../helpers/teardown.js';

/**
 * The whole cluster stalls (issue 14): SIGSTOP to all three brokers for 30 s while devices keep
 * publishing QoS 1. Nothing can be stored, so no PUBACK may go out; devices are slowed down (their
 * sockets not read), never disconnected; what the proxy holds stays under its byte bound; once the
 * brokers run again every PUBLISH is acknowledged in order and is in Kafka exactly once.
 */
describe('edge when every broker stalls for 30 s', () => {
  const world = new EdgeTestWorld({ partitions: 3, followPackets: false });
  const password = 'cluster-stall-device-password';
  const clientIds = Array.from({ length: 8 }, (_, i) => `cstall-${i}`);
  const perSecond = 20;
  const stallMs = 30_000;
  const payloadBytes = 1024;
  const maxUnackedBytes = 512 * 1024;
  const devices: RawDevice[] = [];
  const frozen = new FrozenProcesses();
  let edge: RunningIngest;

  function publish(device: RawDevice, clientId: string, messageId: number): void {
    const packet: Packet = {
      cmd: 'publish',
      topic: `devices/${clientId}/telemetry`,
      payload: Buffer.concat([Buffer.from(`${messageId}:`), Buffer.alloc(payloadBytes, 0x61)]),
      qos: 1,
      messageId,
      retain: false,
      dup: false,
    };
    device.send(packet);
  }

  before(async () => {
    await world.setUp();
    await world.addDevices(clientIds, password, { publish: ['devices/%c/#'], subscribe: [] });
    edge = await world.startEdge({
      SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES: String(maxUnackedBytes),
      SENTINEL_INGEST_KAFKA_STALL_MS: '2000',
    });
    for (const clientId of clientIds) {
      devices.push(
        await RawDevice.connect(listenerPort(edge, 'mqtt'), { clientId, password, keepalive: 10 }),
      );
    }
  });

  boundedTeardown(async () => {
    frozen.thawAll();
    for (const device of devices) device.destroy();
    try {
      await waitForCluster(world.platform);
    } finally {
      await world.tearDown();
    }
  }, 180_000);

  it('keeps devices connected, sends no PUBACK while nothing is stored, stays bounded, delivers everything after', {
    timeout: 240_000,
  }, async (t) => {
    // Warm-up: the producer knows every leader and the schema ids are cached.
    for (const [i, device] of devices.entries()) publish(device, clientIds[i]!, 1);
    for (const device of devices) await device.waitFor((p) => p.cmd === 'puback' && p.messageId === 1);

    const artifacts = artifactPaths(world.platform);
    for (const index of brokerIndexes) {
      const pid = runningPid(brokerProcess(world.platform, artifacts, index));
      assert.ok(pid !== undefined, `kafka-${index + 1} runs`);
      frozen.freeze(pid);
    }
    const frozenAt = performance.now();
    const total = 1 + (perSecond * stallMs) / 1000;
    let acknowledgedAtGrace: number[] | undefined;
    let mostBuffered = 0;
    let wasReady = false;
    for (let n = 2; n <= total; n++) {
      // Open loop through the stall: each message leaves when it is due, whatever the edge answered.
      const due = frozenAt + ((n - 2) * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      for (const [i, device] of devices.entries()) publish(device, clientIds[i]!, n);
      // A produce response already on its way when the brokers stopped may still arrive just after.
      if (!acknowledgedAtGrace && performance.now() - frozenAt >= 1500)
        acknowledgedAtGrace = devices.map((d) => d.pubacks().length);
      mostBuffered = Math.max(mostBuffered, await edgeMetric(edge, 'sentinel_ingest_kafka_buffered_bytes'));
      if (performance.now() - frozenAt > 5000) wasReady ||= edge.ready();
    }
    const remaining = frozenAt + stallMs - performance.now();
    if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining));

    const closed = clientIds.filter((_, i) => devices[i]!.closed);
    assert.deepEqual(closed, [], 'no device disconnected during the stall');
    assert.deepEqual(
      devices.map((d) => d.pubacks().length),
      acknowledgedAtGrace,
      'no PUBACK while no broker runs',
    );
    assert.equal(wasReady, false, 'the proxy is not ready while Kafka stores nothing');
    assert.ok(
      (await edgeMetric(edge, 'sentinel_ingest_connections_paused')) > 0,
      'devices are slowed down (their sockets not read), not disconnected',
    );
    // The bound of docs/ingest.md: the proxy's unacknowledged bytes, exceeded by at most one socket
    // read (64 KiB) per connection, whatever the length of the stall.
    const bound = maxUnackedBytes + devices.length * 64 * 1024;
    t.diagnostic(`most bytes held for Kafka during the stall: ${mostBuffered} (bound ${bound})`);
    assert.ok(mostBuffered <= bound, `held ${mostBuffered} bytes, over the bound of ${bound}`);

    const thawedAt = performance.now();
    frozen.thawAll();
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    for (const [i, device] of devices.entries()) {
      await device.until(() => device.closed || device.pubacks().length >= total);
      assert.equal(device.closed, false, `${clientIds[i]} was disconnected after the stall`);
      assert.deepEqual(device.pubacks(), expected, `${clientIds[i]}: every PUBLISH acknowledged, in order`);
    }
    t.diagnostic(
      `every PUBLISH acknowledged ${Math.round(performance.now() - thawedAt)} ms after the brokers ran again`,
    );

    await world.assertStoredOnceInOrder(clientIds, expected);
  });
});
