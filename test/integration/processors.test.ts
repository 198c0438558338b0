import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { loadConfig } from '../../lib/config.js';
import { readPartitionsToEnd } from '../../lib/kafka/rdkafka.js';
import { ReplayWatermark } from '../../lib/kafka/replays.js';
import { createTopics, type TopicNames, topicNames } from '../../lib/kafka/topics.js';
import { kafkaBootstrap, projectRoot, type StackConfig } from '../../lib/local-platform.js';
import { createLogger } from '../../lib/log.js';
import { startProcessors } from '../../processors/main.js';
import { OfflineInspector } from '../../processors/offline.js';
import { DEFAULT_POLICY } from '../../processors/policy/policy.js';
import { replayPackets } from '../../processors/replay-kafka.js';
import { changelogTopicName } from '../../processors/runtime/changelog.js';
import { MemoryRuntime } from '../../processors/runtime/memory.js';
import { parseChangelogKey, toInspectedEvent } from '../../processors/runtime/records.js';
import { type ProcessorsConfig, processorsSchema } from '../../processors/settings.js';
import { buildTopology } from '../../processors/topology.js';
import { SchemaCatalog, type TopicValues } from '../../schemas/catalog.js';
import type { PacketEvent, Verdict } from '../../schemas/types.generated.js';
import { samplePacketEvent } from '../fixtures/events.js';
import { ensurePlatform, registryUrl, testKafka, uniqueName } from '../helpers/platform.js';

/**
 * The processors on the real cluster: every packet event gets one verdict, allowed PUBLISHes reach
 * the approved topic and blocked ones do not; a processor killed mid-stream, or instances joining and
 * leaving under load, lose nothing, and what they write twice is dropped by the readers' replay rule
 * (lib/kafka/replays.ts), so a reader sees each verdict once; per-device baselines are carried on.
 */
const PARTITIONS = 4;
const T0 = 1_790_000_000_000;
const log = createLogger({ name: 'processors-test', level: 'fatal', destination: 2 });

interface Fixture {
  readonly platform: StackConfig;
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly prefix: string;
  readonly topics: TopicNames;
  readonly catalog: SchemaCatalog;
  readonly producer: Producer;
}

async function createFixture(platform: StackConfig): Promise<Fixture> {
  const kafka = testKafka(platform);
  const admin = kafka.admin();
  await admin.connect();
  const prefix = `${uniqueName('proc')}.`;
  const topics = topicNames(prefix);
  await createTopics(
    admin,
    [topics.packets, topics.verdicts, topics.approved, topics.quarantine],
    PARTITIONS,
  );
  const catalog = await SchemaCatalog.connect(registryUrl(platform), topics);
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  return { platform, kafka, admin, prefix, topics, catalog, producer };
}

async function disposeFixture(f: Fixture): Promise<void> {
  await f.producer.disconnect().catch(() => undefined);
  const names = [
    f.topics.packets,
    f.topics.verdicts,
    f.topics.approved,
    f.topics.quarantine,
    changelogTopicName(f.prefix),
  ];
  const existing = new Set(await f.admin.listTopics());
  await f.admin.deleteTopics({ topics: names.filter((n) => existing.has(n)) }).catch(() => undefined);
  await f.admin.disconnect();
}

function processorsEnv(f: Fixture, groupId: string): Record<string, string> {
  return {
    SENTINEL_KAFKA_PORT: String(f.platform.kafkaPort),
    SENTINEL_REGISTRY_PORT: String(f.platform.registryPort),
    SENTINEL_TOPIC_PREFIX: f.prefix,
    SENTINEL_PROCESSORS_GROUP_ID: groupId,
    SENTINEL_PROCESSORS_METRICS_PORT: '0',
    SENTINEL_PROCESSORS_SESSION_TIMEOUT_MS: '6000',
    SENTINEL_PROCESSORS_CHECKPOINT_INTERVAL_MS: '200',
  };
}

function processorsConfig(f: Fixture, groupId: string, extra: Record<string, string> = {}): ProcessorsConfig {
  return loadConfig(processorsSchema, { env: { ...processorsEnv(f, groupId), ...extra } });
}

let seq = 0;
function event(clientId: string, overrides: Partial<PacketEvent> = {}): PacketEvent {
  seq += 1;
  return {
    ...samplePacketEvent,
    eventId: randomUUID(),
    clientId,
    username: clientId,
    // One address per device, so per-source state is the same whichever partition holds it.
    sourceIp: `10.0.${Math.floor(Number(clientId.replace(/\D/g, '') || 0) / 250)}.${Number(clientId.replace(/\D/g, '') || 0) % 250}`,
    topic: `devices/${clientId}/telemetry`,
    payload: Buffer.from(JSON.stringify({ temp: 20 + (seq % 10) / 10, seq })),
    // A session's CONNECT carries the ACL the edge granted; the admission step checks PUBLISHes against it.
    ...(overrides.packetType === 'CONNECT'
      ? { acl: { publish: [`devices/${clientId}/#`], subscribe: [`clients/${clientId}/#`] } }
      : {}),
    ...overrides,
  };
}

async function produce(f: Fixture, events: readonly PacketEvent[], partition?: number): Promise<void> {
  for (let i = 0; i < events.length; i += 2000) {
    await f.producer.send({
      topic: f.topics.packets,
      acks: -1,
      messages: events.slice(i, i + 2000).map((e) => ({
        key: e.clientId,
        value: f.catalog.encode('packets', e),
        ...(partition !== undefined ? { partition } : {}),
      })),
    });
  }
}

/** One marker per partition, produced last: its verdict proves everything before it was decided. */
function markers(): PacketEvent[] {
  return Array.from({ length: PARTITIONS }, (_, p) =>
    event(`marker${p}`, { receivedAt: T0, sourceIp: '192.0.2.1' }),
  );
}

async function produceMarkers(f: Fixture, events: readonly PacketEvent[]): Promise<void> {
  for (const [p, e] of events.entries()) await produce(f, [e], p);
}

/** Follows a topic read_committed and wakes waiters as records arrive. */
class CommittedFollower {
  readonly seen = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private consumer: Consumer | null = null;

  constructor(
    private readonly f: Fixture,
    private readonly topic: string,
  ) {}

  async start(): Promise<void> {
    const consumer = this.f.kafka.consumer({
      groupId: uniqueName('follower'),
      readUncommitted: false,
      maxWaitTimeInMs: 100,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          if (!message.value) continue;
          const verdict = (await this.f.catalog.decode('verdicts', message.value)) as Verdict;
          this.seen.set(verdict.eventId, (this.seen.get(verdict.eventId) ?? 0) + 1);
        }
        for (const wake of this.waiters) wake();
      },
    });
  }

  async until(predicate: () => boolean): Promise<void> {
    while (!predicate()) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.waiters = [];
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** The accepted CONNECT that opens a device's session (its ACL: its own devices/<id>/#). */
function sessionOpen(
  clientId: string,
  receivedAt: number,
  overrides: Partial<PacketEvent> = {},
): PacketEvent {
  return event(clientId, {
    packetType: 'CONNECT',
    topic: null,
    payload: null,
    authResult: 'allowed',
    receivedAt,
    ...overrides,
  });
}

/** Produces the events and one marker per partition, runs one processor until every marker is decided. */
async function decideAll(f: Fixture, follower: CommittedFollower, events: readonly PacketEvent[]) {
  const ends = markers();
  await produce(f, events);
  await produceMarkers(f, ends);
  await follower.start();
  const service = await startProcessors(processorsConfig(f, uniqueName('group')), { log });
  try {
    await follower.until(() => ends.every((m) => follower.seen.has(m.eventId)));
  } finally {
    await service.stop();
  }
  return ends;
}

interface Outputs<R extends 'verdicts' | 'approved'> {
  /** What a reader applying the replay rule sees. */
  readonly records: Array<TopicValues[R]>;
  /** Records written more than once (replays after a kill or a rebalance), dropped by the rule. */
  readonly replays: number;
}

/** Every record of an output topic, read to its end of this moment, with the readers' replay rule applied. */
async function readOutputs<R extends 'verdicts' | 'approved'>(f: Fixture, role: R): Promise<Outputs<R>> {
  const raw: Array<{ partition: number; value: Buffer }> = [];
  await readPartitionsToEnd({
    connection: { brokers: kafkaBootstrap(f.platform), clientId: uniqueName('check') },
    topic: f.topics[role],
    partitions: Array.from({ length: PARTITIONS }, (_, p) => p),
    timeoutMs: 60_000,
    onRecord: (record) => {
      if (record.value) raw.push({ partition: record.partition, value: record.value });
    },
  });
  const watermark = new ReplayWatermark(f.topics.packets);
  const records: Array<TopicValues[R]> = [];
  let replays = 0;
  for (const { partition, value } of raw) {
    const decoded = await f.catalog.decode(role, value);
    if (watermark.admit(partition, decoded.packetRef)) records.push(decoded);
    else replays += 1;
  }
  return { records, replays };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** What two deciders must agree on: the decision and the rules that fired. */
function outcome(decision: string, ruleIds: readonly string[]) {
  return { decision, rules: [...ruleIds].sort().join(',') };
}

/** What the broker-free driver decides for the same events: the reference for the Kafka runtime. */
function referenceVerdicts(events: readonly PacketEvent[]) {
  const runtime = new MemoryRuntime({ steps: buildTopology({ policy: DEFAULT_POLICY }) });
  const byEvent = new Map<string, { decision: string; rules: string }>();
  for (const e of events) {
    const [verdict] = runtime.pipe(toInspectedEvent(e)).verdicts;
    if (verdict)
      byEvent.set(
        e.eventId,
        outcome(
          verdict.decision,
          verdict.findings.map((x) => x.ruleId),
        ),
      );
  }
  return { byEvent, runtime };
}

describe('processors on Kafka', () => {
  let platform: StackConfig;

  before(async () => {
    platform = await ensurePlatform();
  });

  it('writes exactly one verdict per event; allowed PUBLISHes reach approved, blocked ones do not', {
    timeout: 120_000,
  }, async () => {
    const f = await createFixture(platform);
    const follower = new CommittedFollower(f, f.topics.verdicts);
    try {
      const devices = Array.from({ length: 20 }, (_, i) => `dev${i}`);
      const events: PacketEvent[] = [];
      for (const d of devices) {
        events.push(sessionOpen(d, T0));
        for (let i = 0; i < 25; i++) events.push(event(d, { receivedAt: T0 + 1000 * (i + 1) }));
        events.push(
          event(d, {
            payload: Buffer.from(JSON.stringify({ note: "x' OR '1'='1" })),
            receivedAt: T0 + 30_000,
          }),
        );
        events.push(event(d, { topic: `devices/other/telemetry`, receivedAt: T0 + 31_000 }));
        events.push(event(d, { packetType: 'SUBACK', topic: null, payload: null, receivedAt: T0 + 32_000 }));
      }
      const ends = await decideAll(f, follower, events);

      const all = [...events, ...ends];
      const read = await readOutputs(f, 'verdicts');
      assert.equal(read.replays, 0, 'an uninterrupted run writes nothing twice');
      const verdicts = read.records;
      const perEvent = countBy(verdicts, (v) => v.eventId);
      assert.equal(verdicts.length, all.length, 'one verdict per event, none extra');
      for (const e of all) assert.equal(perEvent.get(e.eventId), 1, `exactly one verdict for ${e.eventId}`);

      const reference = referenceVerdicts(all).byEvent;
      for (const v of verdicts) {
        assert.deepEqual(
          outcome(
            v.decision,
            v.findings.map((x) => x.ruleId),
          ),
          reference.get(v.eventId),
          `verdict of ${v.eventId} as the memory driver decides it`,
        );
        assert.equal(v.processingLatencyMs, v.decidedAt - v.receivedAt);
        assert.equal(v.packetRef.topic, f.topics.packets);
      }

      const approved = (await readOutputs(f, 'approved')).records;
      const approvedIds = countBy(approved, (a) => a.eventId);
      const allowedPublishes = all.filter(
        (e) => e.packetType === 'PUBLISH' && reference.get(e.eventId)?.decision === 'allow',
      );
      assert.equal(approved.length, allowedPublishes.length);
      assert.ok(
        allowedPublishes.length >= devices.length * 20,
        'the plain telemetry of every session is allowed',
      );
      for (const e of allowedPublishes)
        assert.equal(approvedIds.get(e.eventId), 1, 'an allowed PUBLISH is approved once');
      const blocked = verdicts.filter((v) => v.decision !== 'allow');
      assert.ok(
        blocked.length >= devices.length * 3,
        'the injection, the foreign topic and the SUBACK are blocked',
      );
      for (const v of blocked)
        assert.equal(approvedIds.has(v.eventId), false, 'a blocked PUBLISH is never approved');
    } finally {
      await follower.stop();
      await disposeFixture(f);
    }
  });

  it('sentinel inspect decides every case as the live processors do (detection corpora, entropy, size)', {
    timeout: 120_000,
  }, async () => {
    const f = await createFixture(platform);
    const follower = new CommittedFollower(f, f.topics.verdicts);
    try {
      const corpus = (name: string) =>
        readFileSync(join(projectRoot, 'test', 'fixtures', 'corpora', name), 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { topic: string; payload: string })
          .filter((_, i) => i % 8 === 0)
          .map((c) => ({ topic: c.topic, payload: Buffer.from(c.payload) }));
      const cases = [
        ...corpus('attacks.jsonl'),
        ...corpus('benign.jsonl'),
        { topic: 'devices/ent-1/telemetry', payload: randomBytes(2048) },
        { topic: 'devices/ent-2/firmware/7', payload: randomBytes(2048) },
        { topic: 'devices/ent-3/logs', payload: randomBytes(2048) },
        { topic: 'devices/big-1/data', payload: Buffer.from(JSON.stringify({ img: 'QUJD'.repeat(4000) })) },
      ];
      const inspector = new OfflineInspector({ policy: DEFAULT_POLICY });
      const offline = new Map<string, { decision: string; rules: string }>();
      const events: PacketEvent[] = [];
      const connected = new Set<string>();
      for (const [i, c] of cases.entries()) {
        const clientId = c.topic.split('/')[1] ?? 'unknown';
        const at = T0 + i * 1000;
        if (!connected.has(clientId)) {
          connected.add(clientId);
          events.push(sessionOpen(clientId, at, { sourceIp: '127.0.0.1' }));
        }
        const publish = event(clientId, {
          topic: c.topic,
          payload: c.payload,
          sourceIp: '127.0.0.1',
          receivedAt: at,
        });
        events.push(publish);
        const result = inspector.inspect({
          id: publish.eventId,
          clientId,
          topic: c.topic,
          payload: c.payload,
          receivedAt: at,
        });
        offline.set(
          publish.eventId,
          outcome(
            result.decision,
            result.findings.map((x) => x.rule),
          ),
        );
      }
      await decideAll(f, follower, events);
      const live = (await readOutputs(f, 'verdicts')).records.filter((v) => offline.has(v.eventId));
      assert.equal(live.length, offline.size, 'a live verdict for every case');
      const decisions = new Set<string>();
      for (const v of live) {
        decisions.add(v.decision);
        assert.deepEqual(
          outcome(
            v.decision,
            v.findings.map((x) => x.ruleId),
          ),
          offline.get(v.eventId),
          `case ${v.eventId}: sentinel inspect and the live processors agree`,
        );
      }
      assert.deepEqual(
        [...decisions].sort(),
        ['allow', 'block', 'quarantine'],
        'the cases cover every decision',
      );
    } finally {
      await follower.stop();
      await disposeFixture(f);
    }
  });

  it('sentinel inspect --replay reports what a candidate policy would decide differently, writing nothing', {
    timeout: 180_000,
  }, async (t) => {
    const f = await createFixture(platform);
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-replay-'));
    try {
      const devices = Array.from({ length: 50 }, (_, i) => `rp${i}`);
      const events: PacketEvent[] = [];
      const now = Date.now();
      for (const d of devices) {
        events.push(sessionOpen(d, now));
        for (let i = 0; i < 200; i++) events.push(event(d, { receivedAt: now + 1000 * (i + 1) }));
        events.push(
          event(d, { topic: `devices/${d}/logs`, payload: randomBytes(1024), receivedAt: now + 300_000 }),
        );
      }
      await produce(f, events);
      const candidate = {
        policyFile: join(dir, 'candidate.json'),
        rulesFile: processorsConfig(f, 'x').rulesFile,
      };
      writeFileSync(candidate.policyFile, JSON.stringify({ rules: { 'ANOM-ENTROPY': { action: 'flag' } } }));
      const report = await replayPackets({
        config: processorsConfig(f, uniqueName('group')),
        candidate,
        sinceMs: now - 60_000,
        workers: 2,
      });
      assert.equal(report.packets, events.length, 'every packet read');
      assert.deepEqual(report.transitions, { 'quarantine -> allow': devices.length });
      assert.equal(report.rules['ANOM-ENTROPY']?.removed, devices.length);
      assert.match(report.rules['ANOM-ENTROPY']?.examples[0]?.topic ?? '', /^devices\/rp\d+\/logs$/);
      assert.equal(report.devices.length, 20, 'the top 20 devices');
      const verdicts = await readOutputs(f, 'verdicts');
      assert.equal(verdicts.records.length, 0, 'the replay wrote no verdict');
      t.diagnostic(`replay: ${report.packets} packets at ${report.packetsPerSecond}/s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await disposeFixture(f);
    }
  });

  it('instances joining and leaving under load: nothing lost, replays dropped by the readers, partitions shared', {
    timeout: 180_000,
  }, async (t) => {
    const f = await createFixture(platform);
    const follower = new CommittedFollower(f, f.topics.verdicts);
    const groupId = uniqueName('group');
    const services: Array<Awaited<ReturnType<typeof startProcessors>>> = [];
    try {
      await follower.start();
      services.push(await startProcessors(processorsConfig(f, groupId), { log }));
      const waves = 8;
      const perWave = Array.from({ length: 40 }, (_, i) => `dev${i}`);
      const all: PacketEvent[] = [];
      for (let w = 0; w < waves; w++) {
        const wave = perWave.flatMap((d) =>
          Array.from({ length: 25 }, (_, j) => event(d, { receivedAt: T0 + 1000 * (w * 25 + j) })),
        );
        all.push(...wave);
        await produce(f, wave);
        // A second instance joins while events flow, then the first leaves, then a third joins.
        if (w === 1) services.push(await startProcessors(processorsConfig(f, groupId), { log }));
        if (w === 3) await services.shift()?.stop();
        if (w === 5) services.push(await startProcessors(processorsConfig(f, groupId), { log }));
        if (w === 2) {
          const deadline = Date.now() + 60_000;
          while (Date.now() < deadline && services.some((s) => s.runtime.assignedPartitions().length === 0))
            await new Promise((resolve) => setTimeout(resolve, 100));
          assert.deepEqual(
            services.map((s) => s.runtime.assignedPartitions().length).sort(),
            [2, 2],
            'two instances share the four partitions',
          );
        }
      }
      const ends = markers();
      all.push(...ends);
      await produceMarkers(f, ends);
      await follower.until(() => ends.every((m) => follower.seen.has(m.eventId)));

      const read = await readOutputs(f, 'verdicts');
      const perEvent = countBy(read.records, (v) => v.eventId);
      const lost = all.filter((e) => !perEvent.has(e.eventId)).length;
      const doubled = [...perEvent.values()].filter((n) => n > 1).length;
      t.diagnostic(
        `${all.length} events, ${read.replays} verdicts written twice and dropped by the replay rule`,
      );
      assert.equal(lost, 0, 'no verdict lost');
      assert.equal(doubled, 0, 'no verdict doubled after the replay rule');
    } finally {
      await Promise.all(services.map((s) => s.stop()));
      await follower.stop();
      await disposeFixture(f);
    }
  });

  it('a processor killed mid-stream is replaced: no verdict lost or doubled, baselines carried on', {
    timeout: 240_000,
  }, async (t) => {
    const f = await createFixture(platform);
    const follower = new CommittedFollower(f, f.topics.verdicts);
    const groupId = uniqueName('group');
    let child: ChildProcess | null = null;
    try {
      const devices = Array.from({ length: 50 }, (_, i) => `dev${i}`);
      // Each device's session, then warm-up and bulk: one telemetry PUBLISH per device every 2 s of event time.
      const stream: PacketEvent[] = devices.map((d) =>
        event(d, {
          packetType: 'CONNECT',
          topic: null,
          payload: null,
          authResult: 'allowed',
          receivedAt: T0 - 1000,
        }),
      );
      for (let i = 0; i < 400; i++) {
        for (const d of devices) {
          const attack = (i * 7 + Number(d.slice(3))) % 97 === 0;
          stream.push(
            event(d, {
              receivedAt: T0 + 2000 * i,
              ...(attack ? { payload: Buffer.from(JSON.stringify({ cmd: '; cat /etc/passwd' })) } : {}),
            }),
          );
        }
      }
      await produce(f, stream);
      await follower.start();

      let childOutput = '';
      child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), 'processors'], {
        env: { ...process.env, ...processorsEnv(f, groupId), SENTINEL_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (c: Buffer) => {
        childOutput += c.toString();
      });
      child.stderr?.on('data', (c: Buffer) => {
        childOutput += c.toString();
      });
      const exited = new Promise<void>((resolve) => child?.once('exit', () => resolve()));
      await follower.until(() => follower.seen.size >= 3000);
      // Killed once it has checkpointed at least once, so that there are baselines to carry on.
      const checkpointed = async () => {
        const [offsets] = await f.admin.fetchOffsets({ groupId, topics: [f.topics.packets] });
        return (offsets?.partitions ?? []).some((p) => Number(p.offset) > 0);
      };
      while (!(await checkpointed())) await new Promise((resolve) => setTimeout(resolve, 20));
      child.kill('SIGKILL');
      await exited;
      const atKill = follower.seen.size;
      assert.ok(
        atKill < stream.length,
        `killed mid-stream (${atKill} of ${stream.length} decided): ${childOutput.slice(-500)}`,
      );

      // What the killed processor committed: the last value of every device baseline.
      const beforeKill = new Map<string, string | null>();
      await readPartitionsToEnd({
        connection: { brokers: kafkaBootstrap(f.platform), clientId: uniqueName('check') },
        topic: changelogTopicName(f.prefix),
        partitions: Array.from({ length: PARTITIONS }, (_, p) => p),
        timeoutMs: 60_000,
        onRecord: (record) => {
          const parsed = parseChangelogKey(record.key?.toString() ?? '');
          if (parsed?.store === 'anomaly.device')
            beforeKill.set(parsed.key, record.value === null ? null : record.value.toString());
        },
      });
      assert.ok(
        beforeKill.size > 0,
        `the killed processor committed device baselines: ${childOutput.slice(-3000)}`,
      );

      // After the kill: one large payload per device, a size anomaly only against a warmed-up baseline.
      const tail = devices.map((d) =>
        event(d, {
          receivedAt: T0 + 2000 * 400,
          payload: Buffer.from(JSON.stringify({ blob: 'a'.repeat(2000) })),
        }),
      );
      const ends = markers();
      await produce(f, tail);
      await produceMarkers(f, ends);

      const restored = new Map<string, unknown>();
      const service = await startProcessors(processorsConfig(f, groupId), {
        log,
        onRestored: (_p, stores) => {
          const store = stores.get('anomaly.device');
          if (!store) return;
          for (const [key, value] of store.entries()) restored.set(key, JSON.parse(JSON.stringify(value)));
        },
      });
      try {
        await follower.until(() => ends.every((m) => follower.seen.has(m.eventId)));
      } finally {
        await service.stop();
      }

      t.diagnostic(
        `killed after ${atKill} of ${stream.length} verdicts; ${beforeKill.size} device baselines committed, ${restored.size} restored`,
      );
      for (const [clientId, value] of beforeKill) {
        if (value === null) continue;
        assert.deepEqual(
          restored.get(clientId),
          JSON.parse(value),
          `baseline of ${clientId} restored as committed`,
        );
      }

      const all = [...stream, ...tail, ...ends];
      const read = await readOutputs(f, 'verdicts');
      const verdicts = read.records;
      t.diagnostic(`${read.replays} verdicts written twice after the kill, dropped by the replay rule`);
      const perEvent = countBy(verdicts, (v) => v.eventId);
      const lost = all.filter((e) => perEvent.get(e.eventId) === undefined).length;
      const doubled = [...perEvent.values()].filter((n) => n > 1).length;
      assert.equal(lost, 0, 'no verdict lost');
      assert.equal(doubled, 0, 'no verdict doubled');
      assert.equal(verdicts.length, all.length);

      const reference = referenceVerdicts(all);
      for (const v of verdicts) {
        assert.deepEqual(
          outcome(
            v.decision,
            v.findings.map((x) => x.ruleId),
          ),
          reference.byEvent.get(v.eventId),
          `verdict of ${v.eventId} (${v.clientId}) equals the uninterrupted reference`,
        );
      }
      for (const e of tail) {
        assert.match(
          reference.byEvent.get(e.eventId)?.rules ?? '',
          /ANOM-SIZE-BASELINE/,
          'the tail tests the baseline',
        );
      }
      const approved = (await readOutputs(f, 'approved')).records;
      const approvedIds = countBy(approved, (a) => a.eventId);
      assert.equal([...approvedIds.values()].filter((n) => n > 1).length, 0, 'no approved message doubled');
      const allowed = all.filter(
        (e) => e.packetType === 'PUBLISH' && reference.byEvent.get(e.eventId)?.decision === 'allow',
      );
      assert.ok(allowed.length > devices.length * 300, 'the sessions telemetry is allowed');
      assert.equal(approved.length, allowed.length, 'every allowed PUBLISH approved once');
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await follower.stop();
      await disposeFixture(f);
    }
  });
});
