import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { type RunningBridge, startBridge } from '../../bridge/main.js';
import { loadBridgeConfig } from '../../bridge/settings.js';
import { loadConfig } from '../../lib/config.js';
import { kafkaBootstrap, originCredentials, registryUrl } from '../../lib/local-platform.js';
import { createLogger } from '../../lib/log.js';
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

/** A bridge metric without labels of its own, read from its /metrics. */
async function metricOf(bridge: RunningBridge, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${bridge.metricsPort}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/**
 * A steady stream of approved messages, one round (a message per client) every 20 ms, until stopped.
 * With `replayEvery`, every that many rounds a processor "restarts" and writes the last 5 rounds
 * again (same eventId and packetRef), as the processors do after a crash or a rebalance.
 */
class SteadyLoad {
  readonly produced: ApprovedMessage[] = [];
  rounds = 0;
  replays = 0;
  #producing = true;
  readonly #waiters: Array<() => void> = [];
  readonly #done: Promise<void>;

  constructor(world: BridgeTestWorld, tag: string, clients: number, replayEvery = 0) {
    this.#done = (async () => {
      while (this.#producing) {
        const round = stream(world, tag, clients, 1, this.rounds++);
        this.produced.push(...round);
        const replay =
          replayEvery > 0 && this.rounds % replayEvery === 0 ? this.produced.slice(-clients * 5) : [];
        this.replays += replay.length;
        await world.produceApproved([...round, ...replay]);
        for (const wake of this.#waiters.splice(0)) wake();
        // The load's pace, not a wait for a condition.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
  }

  /** Resolves once `count` messages (replays not counted) have been produced. */
  async untilProduced(count: number): Promise<void> {
    while (this.produced.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#producing = false;
    await this.#done;
  }

  ids(): Set<string> {
    return new Set(this.produced.map((m) => (JSON.parse(m.payload.toString()) as { id: string }).id));
  }
}

/**
 * Waits until every message of `load` reached the origin, then checks per client that the first
 * arrivals are every round in order; returns the number of messages that arrived more than once.
 */
async function assertNoneLostInOrder(
  subscriber: OriginSubscriber,
  load: SteadyLoad,
  tag: string,
): Promise<number> {
  const wanted = load.ids();
  await subscriber.until((ms) => {
    const got = new Set(ms.map((m) => payloadOf(m).id));
    for (const id of wanted) if (!got.has(id)) return false;
    return true;
  });
  let duplicates = 0;
  for (const [client, seqs] of perClientArrivals(subscriber.messages, tag)) {
    const firsts = seqs.filter((s, i) => seqs.indexOf(s) === i);
    duplicates += seqs.length - firsts.length;
    assert.deepEqual(
      firsts,
      Array.from({ length: load.rounds }, (_, i) => i),
      `${client}: none lost, in order`,
    );
  }
  return duplicates;
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

  it("skips the processors' replays (same packetRef): each packet reaches the origin once, also after a restart (watermark in the commit metadata)", {
    timeout: 120_000,
  }, async (t) => {
    const world = new BridgeTestWorld();
    await world.setUp();
    const tag = uniqueName('r');
    const clients = 6;
    try {
      const subscriber = await world.subscribeAtOrigin(['devices/+/telemetry']);
      const ids = () => subscriber.messages.map((m) => payloadOf(m)).filter((p) => p.client.startsWith(tag));
      /** Per-client order: a client's last message arriving proves everything before it in its partition was handled. */
      const lastOfEachClient = (seq: number) => () =>
        Array.from({ length: clients }, (_, c) => `${tag}-d${c}`).every((client) =>
          ids().some((p) => p.client === client && p.seq === seq),
        );
      // A processor restarted after round 10 writes rounds 10..19 again (same eventId and packetRef).
      const first = stream(world, tag, clients, 20);
      const replayed = first.slice(clients * 10);
      const next = stream(world, tag, clients, 5, 20);
      await world.produceApproved([...first, ...replayed, ...next]);
      const bridge = await world.startBridge({ SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none' });
      await subscriber.until(lastOfEachClient(24));
      const delivered = ids().map((p) => p.id);
      assert.equal(
        delivered.length,
        first.length + next.length,
        'the replayed rounds were not delivered again',
      );
      assert.equal(new Set(delivered).size, delivered.length, 'each packet once');
      assert.equal(await metricOf(bridge, 'sentinel_bridge_replays_skipped_total'), replayed.length);

      // The watermark travels with the offset commit of each partition.
      await world.stopBridge(bridge);
      const committed = await world.committed();
      assert.ok(committed.size > 0);
      for (const [partition, { metadata }] of committed) {
        assert.match(metadata ?? '', /^wm1:0=\d+/, `partition ${partition} commits its watermark`);
      }

      // After the restart the processors replay everything delivered so far; only the new rounds go out.
      const later = stream(world, tag, clients, 3, 25);
      await world.produceApproved([...first, ...next, ...later]);
      const restarted = await world.startBridge({ SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none' });
      await subscriber.until(lastOfEachClient(27));
      const all = ids().map((p) => p.id);
      assert.equal(
        all.length,
        first.length + next.length + later.length,
        'no replay delivered after the restart',
      );
      assert.equal(new Set(all).size, all.length);
      for (const [client, seqs] of perClientArrivals(subscriber.messages, tag)) {
        assert.deepEqual(
          seqs,
          Array.from({ length: 28 }, (_, i) => i),
          `${client}: all, in order, once`,
        );
      }
      assert.equal(
        await metricOf(restarted, 'sentinel_bridge_replays_skipped_total'),
        first.length + next.length,
      );
      t.diagnostic(
        `${all.length} delivered once each; ${replayed.length} replays skipped, then ${first.length + next.length} after a restart`,
      );
    } finally {
      await world.tearDown();
    }
  });

  it('a bridge process killed with SIGKILL under a steady stream with replays, then restarted: none lost, duplicates only past its last commit', {
    timeout: 180_000,
  }, async (t) => {
    const world = new BridgeTestWorld();
    await world.setUp();
    const tag = uniqueName('k');
    let load: SteadyLoad | undefined;
    try {
      const subscriber = await world.subscribeAtOrigin(['devices/+/telemetry']);
      const ours = () => subscriber.messages.filter((m) => payloadOf(m).client.startsWith(tag));
      load = new SteadyLoad(world, tag, 6, 10);
      const env = { SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none' };
      const killed = world.spawnBridge(env);
      // Killed mid-stream, in a steady state: past the backlog of its start-up, and once its commits
      // cover part of what it delivered (commits leave no event to await: the offsets are read until they do).
      const committedTotal = async () =>
        [...(await world.committed()).values()].reduce((n, c) => n + c.offset, 0);
      await subscriber.until(() => ours().length >= 600);
      while ((await committedTotal()) < 600) await new Promise((resolve) => setTimeout(resolve, 50));
      killed.child.kill('SIGKILL');
      const [, signal] = await killed.exited;
      assert.equal(signal, 'SIGKILL', killed.output());
      const atKill = ours().length;
      // What the killed bridge had committed: everything below it was acknowledged by the origin.
      const committedAtKill = await world.committed();

      const restarted = world.spawnBridge(env);
      // The stream goes on until the restarted bridge (after the dead member's session expired) delivers.
      await subscriber.until(() => ours().length >= atKill + 300);
      await load.stop();
      const duplicates = await assertNoneLostInOrder(subscriber, load, tag);

      // Every duplicate must be a record at or past the killed bridge's commit point: below it the
      // restored watermark stops replays, past it the killed bridge's unfinished work is redone.
      const firstAt = new Map<string, { partition: number; offset: number }>();
      for (const r of await world.readApproved()) {
        const id = (JSON.parse(r.value.payload.toString()) as { id: string }).id;
        const seen = firstAt.get(id);
        if (!seen || r.offset < seen.offset) firstAt.set(id, { partition: r.partition, offset: r.offset });
      }
      const arrivals = new Map<string, number>();
      for (const m of ours()) arrivals.set(payloadOf(m).id, (arrivals.get(payloadOf(m).id) ?? 0) + 1);
      const belowCommit = [...arrivals]
        .filter(([id, n]) => {
          const at = firstAt.get(id);
          return n > 1 && at !== undefined && at.offset < (committedAtKill.get(at.partition)?.offset ?? 0);
        })
        .map(([id]) => id);
      const committedRecords = [...committedAtKill.values()].reduce((n, c) => n + c.offset, 0);
      const summary = `${load.produced.length} produced (+${load.replays} replays), none lost, ${duplicates} duplicates (${atKill} delivered before the kill, ${committedRecords} approved records below its last commit)`;
      assert.deepEqual(belowCommit, [], `no duplicate below the killed bridge's commit point: ${summary}`);

      restarted.child.kill('SIGTERM');
      const [code] = await restarted.exited;
      assert.equal(code, 0, `SIGTERM drains and exits 0: ${restarted.output()}`);
      t.diagnostic(summary);
    } finally {
      await load?.stop();
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
    let load: SteadyLoad | undefined;
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

      load = new SteadyLoad(world, tag, 6);
      await subscriber.until((ms) => ms.length >= 100);
      const disconnected = Promise.all(
        bridge.links.map(
          (link) => new Promise<void>((resolve) => link.watchConnected((up) => !up && resolve())),
        ),
      );
      await origin.stop();
      await disconnected;
      const atStop = load.produced.length;
      // The outage lasts while the load produces another 300 messages into Kafka.
      await load.untilProduced(atStop + 300);
      const metrics = await (await fetch(`http://127.0.0.1:${bridge.metricsPort}/metrics`)).text();
      assert.match(metrics, /sentinel_bridge_origin_connected\{connection="c0"[^}]*\} 0/);
      const lag = [...metrics.matchAll(/sentinel_bridge_consumer_lag\{partition="\d+"[^}]*\} (\d+)/g)].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
      assert.ok(lag > 0, `lag visible during the outage (${lag})`);
      await origin.start();
      await load.untilProduced(atStop + 450);
      await load.stop();
      const duplicates = await assertNoneLostInOrder(subscriber, load, tag);
      t.diagnostic(
        `${load.produced.length} produced (${lag} waiting in Kafka during the outage); all arrived in per-client order; ${duplicates} duplicates (re-sent, unacknowledged at the outage)`,
      );
    } finally {
      await load?.stop();
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
            SENTINEL_PROCESSORS_POLICY_FILE: policyFile,
          },
        }),
        { log },
      );
      cleanups.push(() => processors.stop());
      const bridge: RunningBridge = await startBridge(
        loadBridgeConfig({
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
        }),
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
