import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { type RunningBridge, startBridge } from '../../bridge/main.js';
import { loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { originCredentials } from '../../lib/stack/origin.js';
import { kafkaBootstrap, registryUrl } from '../../lib/stack/settings.js';
import { type ProcessorsService, startProcessors } from '../../processors/main.js';
import { processorsSchema } from '../../processors/settings.js';
import type { ApprovedMessage } from '../../schemas/types.generated.js';
import {
  BridgeTestWorld,
  type OriginMessage,
  OriginSubscriber,
  TopicFollower,
} from '../helpers/bridge-world.js';
import { EdgeTestWorld, listenerPort } from '../helpers/edge.js';
import { NginxHop, OriginInstance } from '../helpers/origin-instance.js';
import { testKafka, uniqueName } from '../helpers/platform.js';

/**
 * The bridge on the real platform: approved messages reach an origin subscriber over
 * MQTT-over-WebSocket, offsets are committed only after the origin acknowledged, an origin outage
 * loses nothing and keeps per-client order, origin messages flow into sentinel.downlink, and the
 * traffic passes a standard L7 reverse proxy.
 */

/** Payloads carry the client and a per-client sequence number, so order is checkable at the origin. */
function payloadOf(m: OriginMessage): { id: string; client: string; seq: number } {
  try {
    const parsed = JSON.parse(m.payload.toString()) as { id?: string; client?: string; seq?: number };
    return { id: parsed.id ?? '', client: parsed.client ?? '', seq: parsed.seq ?? -1 };
  } catch {
    return { id: '', client: '', seq: -1 };
  }
}

function stream(world: BridgeTestWorld, tag: string, clients: number, perClient: number, from = 0) {
  const messages: ApprovedMessage[] = [];
  for (let seq = from; seq < from + perClient; seq++) {
    for (let c = 0; c < clients; c++) {
      const client = `${tag}-d${c}`;
      messages.push(
        world.approved(
          client,
          `devices/${client}/telemetry`,
          JSON.stringify({ id: randomUUID(), client, seq }),
        ),
      );
    }
  }
  return messages;
}

/** Per client: the sequence numbers in arrival order with a re-sent run collapsed (a duplicate only repeats a suffix). */
function perClientArrivals(messages: readonly OriginMessage[], tag: string): Map<string, number[]> {
  const byClient = new Map<string, number[]>();
  for (const m of messages) {
    const p = payloadOf(m);
    if (!p.client.startsWith(tag)) continue;
    const list = byClient.get(p.client) ?? [];
    list.push(p.seq);
    byClient.set(p.client, list);
  }
  return byClient;
}

describe('bridge: approved messages to the origin over MQTT-over-WebSocket', () => {
  it('delivers topic, payload and retain to an origin subscriber, records each delivery, and commits only what the origin acknowledged', {
    timeout: 120_000,
  }, async (t) => {
    const world = new BridgeTestWorld();
    await world.setUp();
    const tag = uniqueName('t');
    try {
      const subscriber = await world.subscribeAtOrigin([`devices/+/telemetry`, `devices/+/state`]);
      const deliveries = await world.follow('deliveries');
      const first = stream(world, tag, 8, 25);
      const retainedTopic = `devices/${tag}-d0/state`;
      const retained = world.approved(`${tag}-d0`, retainedTopic, '{"state":"on"}', { retain: true, qos: 0 });
      await world.produceApproved([...first, retained]);

      const bridge = await world.startBridge({ SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none' });
      const ours = (m: OriginMessage) => m.topic.includes(tag);
      await subscriber.until((ms) => ms.filter(ours).length >= first.length + 1);
      await deliveries.until((rs) => rs.length >= first.length + 1);

      const arrivals = perClientArrivals(subscriber.messages, tag);
      for (const [client, seqs] of arrivals) {
        assert.deepEqual(
          seqs,
          Array.from({ length: 25 }, (_, i) => i),
          `${client}: all, in order, once`,
        );
      }
      const state = subscriber.messages.find((m) => m.topic === retainedTopic);
      assert.equal(state?.payload.toString(), '{"state":"on"}');
      assert.equal(state?.qos, 1, 'QoS 0 from the device goes to the origin at QoS 1');

      // RETAIN preserved: a newcomer subscribing now is handed the stored message.
      const late = await world.subscribeAtOrigin([retainedTopic]);
      await late.until((ms) => ms.length > 0);
      assert.equal(late.messages[0]?.retain, true);
      assert.equal(late.messages[0]?.payload.toString(), '{"state":"on"}');
      await late.client.publishAsync(retainedTopic, '', { qos: 1, retain: true });

      for (const { key, value } of deliveries.records) {
        assert.equal(key, value.clientId);
        assert.equal(value.bridgeId, bridge.instanceId);
        assert.equal(value.endToEndMs, value.deliveredAt - value.receivedAt);
        assert.ok(value.endToEndMs >= 0 && value.endToEndMs < 60_000, `sane latency ${value.endToEndMs} ms`);
        assert.ok(value.qos >= 1);
        assert.equal(value.attempts, 1);
      }
      assert.equal(new Set(deliveries.records.map((r) => r.value.eventId)).size, first.length + 1);
      const metrics = await (await fetch(`http://127.0.0.1:${bridge.metricsPort}/metrics`)).text();
      assert.match(metrics, /sentinel_bridge_delivery_latency_seconds_count\{[^}]*\} 201/);
      assert.match(metrics, /sentinel_bridge_origin_connected\{connection="c0"[^}]*\} 1/);

      // A restarted bridge in the same group starts after what the first one committed.
      await world.stopBridge(bridge);
      const second = stream(world, tag, 8, 5, 25);
      await world.produceApproved(second);
      await world.startBridge({ SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none' });
      await subscriber.until((ms) => ms.filter(ours).length >= first.length + second.length + 1);
      // Marker: produced last, its arrival proves nothing more is coming from before it.
      const marker = world.approved(
        `${tag}-d0`,
        `devices/${tag}-d0/telemetry`,
        JSON.stringify({ id: 'marker', client: `${tag}-marker`, seq: 0 }),
      );
      await world.produceApproved([marker]);
      await subscriber.until((ms) => ms.some((m) => payloadOf(m).id === 'marker'));
      const ids = subscriber.messages
        .filter(ours)
        .map((m) => payloadOf(m).id)
        .filter((id) => id !== '');
      assert.equal(ids.length, new Set(ids).size, 'no message delivered twice across the restart');
      assert.equal(ids.length, first.length + second.length + 1);
      t.diagnostic(`${ids.length} delivered once each across a bridge restart`);
    } finally {
      await world.tearDown();
    }
  });

  it('origin stopped under a steady load, then restarted: every message arrives, per-client order kept', {
    timeout: 180_000,
  }, async (t) => {
    const world = new BridgeTestWorld();
    const origin = new OriginInstance();
    await world.setUp();
    world.onTearDown(() => origin.dispose());
    const tag = uniqueName('o');
    let producing = true;
    try {
      await origin.start();
      const subscriber = await world.subscribeAtOrigin(
        ['devices/+/telemetry'],
        `mqtt://127.0.0.1:${origin.mqttPort}`,
        origin.credentials.app,
        // A persistent session: the origin queues for it across its own restart.
        { clientId: `${tag}-app`, clean: false, reconnectPeriod: 200 },
      );
      const bridge = await world.startBridge({
        SENTINEL_BRIDGE_ORIGIN_URL: origin.wsUrl,
        SENTINEL_BRIDGE_USERNAME: origin.credentials.bridge.username,
        SENTINEL_BRIDGE_PASSWORD: origin.credentials.bridge.password,
        SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none',
        SENTINEL_BRIDGE_CONNECTIONS: '2',
        SENTINEL_BRIDGE_RECONNECT_MIN_MS: '100',
      });

      const clients = 6;
      const produced: ApprovedMessage[] = [];
      let seq = 0;
      const load = (async () => {
        while (producing) {
          const batch = stream(world, tag, clients, 1, seq++);
          produced.push(...batch);
          await world.produceApproved(batch);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();

      await subscriber.until((ms) => ms.length >= 100);
      const disconnected = Promise.all(
        bridge.links.map(
          (link) => new Promise<void>((resolve) => link.watchConnected((up) => !up && resolve())),
        ),
      );
      await origin.stop();
      await disconnected;
      const atStop = produced.length;
      // The outage lasts while the load produces another 300 messages into Kafka.
      while (produced.length < atStop + 300) await new Promise((resolve) => setTimeout(resolve, 50));
      const metrics = await (await fetch(`http://127.0.0.1:${bridge.metricsPort}/metrics`)).text();
      assert.match(metrics, /sentinel_bridge_origin_connected\{connection="c0"[^}]*\} 0/);
      const lag = [...metrics.matchAll(/sentinel_bridge_consumer_lag\{partition="\d+"[^}]*\} (\d+)/g)].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
      assert.ok(lag > 0, `lag visible during the outage (${lag})`);
      await origin.start();
      while (produced.length < atStop + 450) await new Promise((resolve) => setTimeout(resolve, 50));
      producing = false;
      await load;

      const wanted = new Set(produced.map((m) => JSON.parse(m.payload.toString()).id as string));
      await subscriber.until((ms) => {
        const got = new Set(ms.map((m) => payloadOf(m).id));
        for (const id of wanted) if (!got.has(id)) return false;
        return true;
      });
      const arrivals = perClientArrivals(subscriber.messages, tag);
      let duplicates = 0;
      for (const [client, seqs] of arrivals) {
        const firsts: number[] = [];
        const seen = new Set<number>();
        for (const s of seqs) {
          if (seen.has(s)) duplicates++;
          else {
            seen.add(s);
            firsts.push(s);
          }
        }
        assert.deepEqual(
          firsts,
          Array.from({ length: seq }, (_, i) => i),
          `${client}: none lost, in order`,
        );
      }
      t.diagnostic(
        `${produced.length} produced (${lag} waiting in Kafka during the outage); all arrived in per-client order; ${duplicates} duplicates (re-sent, unacknowledged at the outage)`,
      );
    } finally {
      producing = false;
      await world.tearDown();
    }
  });

  it('downlink: what an origin application publishes on the filters lands in sentinel.downlink', {
    timeout: 60_000,
  }, async () => {
    const world = new BridgeTestWorld();
    await world.setUp();
    const tag = uniqueName('dl');
    try {
      const downlink = await world.follow('downlink');
      await world.startBridge({ SENTINEL_BRIDGE_DOWNLINK_FILTERS: `clients/+/#,fleet/${tag}/#` });
      const app = await world.subscribeAtOrigin([]);
      await app.client.publishAsync(`clients/${tag}-dev/alerts`, '{"alert":"overheat"}', { qos: 1 });
      await app.client.publishAsync(`fleet/${tag}/notice`, 'maintenance at 02:00', { qos: 1 });
      await downlink.until((rs) => rs.filter((r) => r.value.topic.includes(tag)).length >= 2);
      const alert = downlink.records.find((r) => r.value.topic === `clients/${tag}-dev/alerts`);
      assert.equal(alert?.key, `${tag}-dev`);
      assert.equal(alert?.value.targetClientId, `${tag}-dev`);
      assert.equal(alert?.value.payload.toString(), '{"alert":"overheat"}');
      assert.equal(alert?.value.qos, 1);
      const notice = downlink.records.find((r) => r.value.topic === `fleet/${tag}/notice`);
      assert.equal(notice?.key, `fleet/${tag}/notice`, 'a topic without a client id is the key');
      assert.equal(notice?.value.targetClientId, null);
    } finally {
      await world.tearDown();
    }
  });

  it('passes an L7 hop: nginx proxying the WebSocket upgrade in front of the origin', {
    timeout: 60_000,
  }, async () => {
    const world = new BridgeTestWorld();
    const nginx = new NginxHop();
    await world.setUp();
    world.onTearDown(() => nginx.dispose());
    const tag = uniqueName('l7');
    try {
      await nginx.start(world.platform.originWsPort);
      const subscriber = await world.subscribeAtOrigin(['devices/+/telemetry']);
      const bridge = await world.startBridge({
        SENTINEL_BRIDGE_ORIGIN_URL: `ws://127.0.0.1:${nginx.port}/mqtt`,
        SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none',
      });
      const messages = stream(world, tag, 4, 5);
      await world.produceApproved(messages);
      await subscriber.until((ms) => ms.filter((m) => m.topic.includes(tag)).length >= messages.length);
      // nginx logs an upgraded request when it ends.
      await world.stopBridge(bridge);
      const access = readFileSync(nginx.accessLog, 'utf8');
      assert.match(access, /"GET \/mqtt HTTP\/1\.1" 101 /, 'the WebSocket upgrade went through nginx');
    } finally {
      await world.tearDown();
    }
  });
});

describe('end to end: device -> edge -> Kafka -> processors -> bridge -> origin, and back', () => {
  it('delivers a clean PUBLISH to the origin, holds back a malicious one with its verdict, and closes the loop to devices', {
    timeout: 240_000,
  }, async (t) => {
    const world = new EdgeTestWorld();
    const log = createLogger({ name: 'e2e-test', level: 'warn', destination: 2 });
    const policyDir = mkdtempSync(join(tmpdir(), 'sentinel-policy-'));
    const cleanups: Array<() => Promise<unknown>> = [];
    await world.setUp();
    try {
      const tag = uniqueName('e2e');
      const password = 'e2e-device-password';
      const [a, b] = [`${tag}-a`, `${tag}-b`];
      // B follows A's shared namespace: granted at the edge, and by the processors' subscribe policy.
      await world.addDevice({
        clientId: a,
        username: a,
        password,
        publish: ['devices/%c/#'],
        subscribe: ['clients/%c/#'],
      });
      await world.addDevice({
        clientId: b,
        username: b,
        password,
        publish: ['devices/%c/#'],
        subscribe: ['clients/%c/#', 'devices/+/shared/#'],
      });
      const policyFile = join(policyDir, 'policy.json');
      writeFileSync(
        policyFile,
        JSON.stringify({
          validation: {
            subscribeTemplates: ['clients/{clientId}/#', 'devices/{clientId}/#', 'devices/+/shared/#'],
          },
        }),
      );

      const verdicts = new TopicFollower(
        testKafka(world.platform),
        world.catalog,
        world.topics.verdicts,
        'verdicts',
      );
      await verdicts.start();
      cleanups.push(() => verdicts.stop());
      const edge = await world.startEdge();
      const processors: ProcessorsService = await startProcessors(
        loadConfig(processorsSchema, {
          env: {
            SENTINEL_KAFKA_PORT: String(world.platform.kafkaPort),
            SENTINEL_REGISTRY_PORT: String(world.platform.registryPort),
            SENTINEL_TOPIC_PREFIX: world.topicPrefix,
            SENTINEL_PROCESSORS_GROUP_ID: uniqueName('e2e-processors'),
            SENTINEL_PROCESSORS_METRICS_PORT: '0',
            SENTINEL_PROCESSORS_SESSION_TIMEOUT_MS: '6000',
            SENTINEL_PROCESSORS_BATCH_MAX_MS: '5',
            SENTINEL_PROCESSORS_POLICY_FILE: policyFile,
          },
        }),
        { log },
      );
      cleanups.push(() => processors.stop());
      const bridge: RunningBridge = await startBridge(
        {
          env: {
            SENTINEL_KAFKA_BROKERS: kafkaBootstrap(world.platform).join(','),
            SENTINEL_REGISTRY_URL: registryUrl(world.platform),
            SENTINEL_TOPIC_PREFIX: world.topicPrefix,
            SENTINEL_STATE_DIR: world.platform.stateDir,
            SENTINEL_ORIGIN_WS_PORT: String(world.platform.originWsPort),
            SENTINEL_BRIDGE_METRICS_PORT: '0',
            SENTINEL_BRIDGE_GROUP_ID: uniqueName('e2e-bridge'),
            SENTINEL_BRIDGE_INSTANCE_ID: uniqueName('e2e-bridge'),
            SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'clients/+/#,devices/+/shared/#',
          },
        },
        log,
      );
      cleanups.push(() => bridge.stop());
      await Promise.all(bridge.links.map((link) => link.whenReady()));

      const app = originCredentials(world.platform).app;
      const origin = await OriginSubscriber.connect(
        `mqtt://127.0.0.1:${world.platform.originMqttPort}`,
        app,
        [`devices/${a}/#`],
      );
      cleanups.push(() => origin.close());

      const port = listenerPort(edge, 'mqtt');
      const device = (id: string): Promise<MqttClient> =>
        mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: id,
          username: id,
          password,
          protocolVersion: 4,
          reconnectPeriod: 0,
          connectTimeout: 5000,
        });
      const deviceA = await device(a);
      cleanups.push(() => deviceA.endAsync(true));
      const deviceB = await device(b);
      cleanups.push(() => deviceB.endAsync(true));

      // 1. A clean reading reaches the origin application.
      const sentAt = Date.now();
      await deviceA.publishAsync(`devices/${a}/telemetry`, JSON.stringify({ t: 21.5, n: 1 }), { qos: 1 });
      await origin.until((ms) => ms.some((m) => m.payload.toString().includes('"n":1')));
      t.diagnostic(`device -> origin in ${Date.now() - sentAt} ms (first message, cold consumers)`);

      // 2. A command injection is blocked; a marker published after it proves it never arrived.
      await deviceA.publishAsync(`devices/${a}/telemetry`, JSON.stringify({ cmd: '; rm -rf /' }), { qos: 1 });
      await deviceA.publishAsync(`devices/${a}/telemetry`, JSON.stringify({ t: 21.6, n: 2 }), { qos: 1 });
      await origin.until((ms) => ms.some((m) => m.payload.toString().includes('"n":2')));
      assert.equal(
        origin.messages.some((m) => m.payload.toString().includes('rm -rf')),
        false,
        'the malicious payload did not reach the origin',
      );
      await verdicts.until((rs) => rs.some((r) => r.value.clientId === a && r.value.decision !== 'allow'));
      const blocked = verdicts.records.find(
        (r) => r.value.clientId === a && r.value.decision !== 'allow',
      )?.value;
      assert.equal(blocked?.decision, 'block');
      assert.ok(
        blocked?.findings.some((f) => f.class === 'command-injection' && f.location.includes('cmd')),
        `the verdict says why: ${JSON.stringify(blocked?.findings)}`,
      );

      // 3. Downlink: an origin application alerts device A through Sentinel.
      await deviceA.subscribeAsync(`clients/${a}/alerts`, { qos: 1 });
      const alert = new Promise<[string, Buffer]>((resolve) =>
        deviceA.on('message', (topic, payload) => {
          if (topic === `clients/${a}/alerts`) resolve([topic, payload]);
        }),
      );
      await origin.client.publishAsync(`clients/${a}/alerts`, '{"alert":"overheat"}', { qos: 1 });
      const [alertTopic, alertPayload] = await alert;
      assert.equal(alertTopic, `clients/${a}/alerts`);
      assert.equal(alertPayload.toString(), '{"alert":"overheat"}');

      // 4. Device to device through the whole loop: A -> edge -> inspection -> origin -> downlink -> B.
      await deviceB.subscribeAsync(`devices/+/shared/#`, { qos: 1 });
      const shared = new Promise<[string, Buffer]>((resolve) =>
        deviceB.on('message', (topic, payload) => {
          if (topic === `devices/${a}/shared/chat`) resolve([topic, payload]);
        }),
      );
      const loopStart = Date.now();
      await deviceA.publishAsync(`devices/${a}/shared/chat`, JSON.stringify({ hello: b }), { qos: 1 });
      const [, sharedPayload] = await shared;
      assert.deepEqual(JSON.parse(sharedPayload.toString()), { hello: b });
      t.diagnostic(`device A -> origin -> device B in ${Date.now() - loopStart} ms`);
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
      await world.tearDown();
      rmSync(policyDir, { recursive: true, force: true });
    }
  });
});
