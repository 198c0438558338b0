import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { RunningIngest } from '../../ingest/main.js';
import { artifactPaths } from '../../platform/artifacts.js';
import { brokerIndexes, brokerProcess, waitForCluster } from '../../platform/kafka.js';
import { runningPid } from '../../platform/processes.js';
import { EdgeTestWorld, edgeMetric, listenerPort, RawDevice } from '../helpers/edge.js';
import { FrozenProcesses } from '../helpers/freeze.js';
import { testKafka } from '../helpers/platform.js';
import { boundedTeardown } from '../helpers/teardown.js';

/**
 * A slow Kafka slows devices down, it never disconnects them (issue 14). The leader of the
 * packets partition is frozen (SIGSTOP: it neither answers nor fails, as a broker in a long GC
 * pause or behind a stalled disk) while three devices publish more QoS 1 messages than their store
 * window (SENTINEL_MQTT_MAX_INFLIGHT) and, together, more bytes than the proxy holds
 * (SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES). The stall lasts longer than 1.5 x their Keep Alive.
 * Every device stays connected and gets no PUBACK while nothing is stored; once the broker runs
 * again, every message is acknowledged, in order, and is in Kafka exactly once.
 */
describe('edge under a Kafka stall', () => {
  // One partition: every device's events wait on the one leader the test freezes.
  const world = new EdgeTestWorld({ partitions: 1 });
  const password = 'kafka-stall-device-password';
  const window = 20;
  const perDevice = 60;
  const keepAliveSeconds = 2;
  const devices: RawDevice[] = [];
  let edge: RunningIngest;
  const frozen = new FrozenProcesses(60);

  /** Re-checks a condition of the proxy's state until it holds (metrics raise no events). */
  async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
    for (;;) {
      if (await check()) return;
      if (devices.some((device) => device.closed)) {
        const closed = await edge.registry.getSingleMetric('sentinel_ingest_connections_closed_total')?.get();
        const reasons = closed?.values.map((v) => `${v.labels.reason}=${v.value}`).join(', ');
        assert.fail(`${what}: a device was disconnected (closed by reason: ${reasons})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  function publishes(clientId: string, payloadBytes: number, firstId = 1, count = perDevice) {
    return Array.from({ length: count }, (_, i) => ({
      cmd: 'publish' as const,
      topic: `devices/${clientId}/telemetry`,
      payload: Buffer.concat([Buffer.from(`${clientId}:${firstId + i}:`), Buffer.alloc(payloadBytes, 0x61)]),
      qos: 1 as const,
      messageId: firstId + i,
      retain: false,
      dup: false,
    }));
  }

  before(async () => {
    await world.setUp();
    for (const id of ['stall-a', 'stall-b', 'stall-c']) {
      await world.addDevice({ clientId: id, username: id, password, publish: ['devices/%c/#'] });
    }
    edge = await world.startEdge({
      SENTINEL_MQTT_MAX_INFLIGHT: String(window),
      SENTINEL_INGEST_KAFKA_MAX_UNACKED_BYTES: String(64 * 1024),
      SENTINEL_INGEST_KAFKA_STALL_MS: '1000',
    });
    for (const id of ['stall-a', 'stall-b', 'stall-c']) {
      devices.push(
        await RawDevice.connect(listenerPort(edge, 'mqtt'), {
          clientId: id,
          password,
          keepalive: keepAliveSeconds,
        }),
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

  it('keeps every device connected, withholds PUBACKs while nothing is stored, and stores everything after', {
    timeout: 180_000,
  }, async () => {
    const [a, b, c] = devices as [RawDevice, RawDevice, RawDevice];
    // Warm-up through the same leader: the producer and the reader know it, and the path works.
    a.send(...publishes('stall-a', 10, 1000, 1));
    await a.waitFor((p) => p.cmd === 'puback' && p.messageId === 1000);
    await world.waitForEvent((e) => e.clientId === 'stall-a' && e.messageId === 1000);

    const admin = testKafka(world.platform).admin();
    await admin.connect();
    const [topic] = (await admin.fetchTopicMetadata({ topics: [world.topics.packets] })).topics;
    await admin.disconnect();
    const leader = topic?.partitions[0]?.leader;
    const index = brokerIndexes.find((i) => i + 1 === leader);
    assert.ok(index !== undefined, `leader ${leader} is one of the stack's brokers`);
    const pid = runningPid(brokerProcess(world.platform, artifactPaths(world.platform), index));
    assert.ok(pid !== undefined, `kafka-${index + 1} runs`);
    frozen.freeze(pid);

    const acknowledgedBefore = devices.map((d) => d.pubacks().length);
    a.send(...publishes('stall-a', 100));
    b.send(...publishes('stall-b', 100));
    // 4 KiB each: stall-c alone holds more than the proxy's 64 KiB before its window is full.
    c.send(...publishes('stall-c', 4096));

    // stall-a and stall-b read all their PUBLISHes and wait for store slots; stall-c's first
    // chunk put the proxy over its bytes, so it is not read further at all.
    await until('two devices paused at their store window', async () => {
      return (await edgeMetric(edge, 'sentinel_ingest_connections_paused', { reason: 'store_window' })) >= 2;
    });
    await until('the proxy over its unacknowledged bytes, not reading', async () => {
      return (
        (await edgeMetric(edge, 'sentinel_ingest_kafka_backpressure')) === 1 &&
        (await edgeMetric(edge, 'sentinel_ingest_connections_paused', { reason: 'kafka_unacked' })) >= 1
      );
    });
    await until('Kafka judged stalled', () => !edge.ready());
    // Longer than 1.5 x Keep Alive: a proxy that counted its own silence would close them now.
    await until('the stall outlasts the Keep Alive', async () => {
      return (
        (await edgeMetric(edge, 'sentinel_ingest_kafka_oldest_unacked_seconds')) >
        keepAliveSeconds * 1.5 + 0.5
      );
    });
    assert.deepEqual(
      devices.map((d) => d.pubacks().length),
      acknowledgedBefore,
      'no PUBACK while Kafka stores nothing',
    );
    assert.equal(await edgeMetric(edge, 'sentinel_ingest_kafka_up'), 0);

    frozen.thawAll();
    const expected = Array.from({ length: perDevice }, (_, i) => i + 1);
    for (const [device, clientId] of [
      [a, 'stall-a'],
      [b, 'stall-b'],
      [c, 'stall-c'],
    ] as const) {
      await device.until(() => device.pubacks().filter((id) => id !== 1000).length >= perDevice);
      assert.deepEqual(
        device.pubacks().filter((id) => id !== 1000),
        expected,
        `${clientId}: every PUBLISH acknowledged, in order (MQTT-4.6.0-2)`,
      );
      await device.ping();
    }

    // What Kafka holds, read record by record: the world's group reader may replay records after
    // the frozen broker (which may be its coordinator) comes back, which says nothing about Kafka.
    await world.assertStoredOnceInOrder(['stall-a'], [1000, ...expected]);
    await world.assertStoredOnceInOrder(['stall-b', 'stall-c'], expected);

    await until('Kafka judged up again', () => edge.ready());
    assert.equal(await edgeMetric(edge, 'sentinel_ingest_connections_paused', { reason: 'store_window' }), 0);
    assert.equal(await edgeMetric(edge, 'sentinel_ingest_kafka_backpressure'), 0);
    for (const code of ['SNT_MQTT_INFLIGHT_LIMIT', 'SNT_MQTT_KEEPALIVE_EXPIRED']) {
      assert.equal(await edgeMetric(edge, 'sentinel_ingest_protocol_violations_total', { code }), 0, code);
    }
  });
});
