import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Packet } from 'mqtt-packet';
import type { RunningIngest } from '../../ingest/main.js';
import { artifactPaths } from '../../platform/artifacts.js';
import {
  brokerIndexes,
  brokerProcess,
  startBroker,
  waitForBroker,
  waitForCluster,
  waitForSettledCluster,
} from '../../platform/kafka.js';
import { runningPid } from '../../platform/processes.js';
import { EdgeTestWorld, listenerPort, RawDevice } from '../helpers/edge.js';
import { testKafka } from '../helpers/platform.js';
import { boundedTeardown } from '../helpers/teardown.js';

/**
 * A broker dies under load (issue 14): SIGKILL, no controlled shutdown, while devices publish QoS 1
 * at a steady rate. The partitions it led move to the survivors once the controller notices (the
 * broker session timeout), and until then the edge holds those devices' PUBACKs. No device is
 * disconnected, every PUBLISH is acknowledged (the longest wait reported against the issue's 10 s),
 * in order, and every acknowledged message is in Kafka exactly once.
 */
describe('edge when a broker is killed under QoS 1 load', () => {
  const world = new EdgeTestWorld({ partitions: 3, followPackets: false });
  const password = 'broker-kill-device-password';
  const clientIds = ['kill-a', 'kill-b', 'kill-c', 'kill-d', 'kill-e', 'kill-f'];
  const perSecond = 20;
  const seconds = 16;
  const killAfterMs = 4000;
  const devices: RawDevice[] = [];
  const sentAt = new Map<string, number>();
  let edge: RunningIngest;
  let killedIndex: number | undefined;

  before(async () => {
    await world.setUp();
    await world.addDevices(clientIds, password, { publish: ['devices/%c/#'], subscribe: [] });
    // The scenario is a healthy cluster losing one broker: after an earlier test's restarts, a
    // replica still catching up, or leadership still on the brokers that stayed up, is not that.
    await waitForSettledCluster(world.platform);
    edge = await world.startEdge();
    for (const clientId of clientIds) {
      devices.push(await RawDevice.connect(listenerPort(edge, 'mqtt'), { clientId, password, keepalive: 5 }));
    }
  });

  boundedTeardown(async () => {
    for (const device of devices) device.destroy();
    try {
      if (killedIndex !== undefined) {
        const artifacts = artifactPaths(world.platform);
        await startBroker(world.platform, artifacts, killedIndex);
        await waitForBroker(world.platform, artifacts, killedIndex);
      }
      await waitForCluster(world.platform);
      await waitForSettledCluster(world.platform);
    } finally {
      await world.tearDown();
    }
  }, 240_000);

  function publish(device: RawDevice, clientId: string, messageId: number): void {
    const packet: Packet = {
      cmd: 'publish',
      topic: `devices/${clientId}/telemetry`,
      payload: Buffer.from(JSON.stringify({ n: messageId })),
      qos: 1,
      messageId,
      retain: false,
      dup: false,
    };
    sentAt.set(`${clientId}/${messageId}`, performance.now());
    device.send(packet);
  }

  /** A broker leading a packets partition (its index), and the active controller, with one admin. */
  async function victimAndController(): Promise<{ victim: number; controller: number }> {
    const admin = testKafka(world.platform).admin();
    await admin.connect();
    try {
      const [topic] = (await admin.fetchTopicMetadata({ topics: [world.topics.packets] })).topics;
      const leaders = (topic?.partitions ?? []).map((p) => p.leader);
      const victim = brokerIndexes.find((i) => leaders.includes(i + 1));
      assert.ok(victim !== undefined, `a stack broker leads a partition of ${world.topics.packets}`);
      return { victim, controller: (await admin.describeCluster()).controller ?? -1 };
    } finally {
      await admin.disconnect();
    }
  }

  it('keeps every device connected, acknowledges every PUBLISH in order, stores each acknowledged message once', {
    timeout: 180_000,
  }, async (t) => {
    const { victim, controller } = await victimAndController();
    // Killing the active controller too adds a controller election before the victim is fenced.
    t.diagnostic(`killing kafka-${victim + 1}; active controller: kafka-${controller}`);
    const total = perSecond * seconds;
    const began = performance.now();
    for (let n = 1; n <= total; n++) {
      // Open loop: each message leaves when it is due, whatever the edge answered.
      const due = began + ((n - 1) * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      for (const [i, device] of devices.entries()) publish(device, clientIds[i]!, n);
      if (killedIndex === undefined && performance.now() - began >= killAfterMs) {
        const pid = runningPid(brokerProcess(world.platform, artifactPaths(world.platform), victim));
        assert.ok(pid !== undefined, `kafka-${victim + 1} runs`);
        process.kill(pid, 'SIGKILL');
        killedIndex = victim;
      }
    }
    assert.ok(killedIndex !== undefined, 'the broker was killed during the load');

    const expected = Array.from({ length: total }, (_, i) => i + 1);
    let slowest = 0;
    for (const [i, device] of devices.entries()) {
      const clientId = clientIds[i]!;
      await Promise.race([
        device.until(() => device.closed || device.pubacks().length >= total),
        new Promise((resolve) => setTimeout(resolve, 60_000).unref()),
      ]);
      assert.equal(device.closed, false, `${clientId} was disconnected`);
      assert.deepEqual(device.pubacks(), expected, `${clientId}: every PUBLISH acknowledged, in order`);
      device.received.forEach((packet, k) => {
        if (packet.cmd !== 'puback') return;
        const sent = sentAt.get(`${clientId}/${packet.messageId}`)!;
        slowest = Math.max(slowest, device.receivedAt[k]! - sent);
      });
    }
    // The figure is 10 s: 6.9-9.4 s right after the broker-failure test's restarts
    // (2026-12-06, brokers fenced after 4.5 s). The bound here is what must never happen
    // (acknowledgements stuck); the figure itself is reported and quoted as measured.
    t.diagnostic(`longest PUBLISH -> PUBACK: ${Math.round(slowest)} ms (issue 14's figure: < 10 s)`);
    assert.ok(slowest < 20_000, `the longest PUBLISH -> PUBACK was ${Math.round(slowest)} ms`);

    await world.assertStoredOnceInOrder(clientIds, expected);
  });
});
