import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import { isSentinelError } from '../../lib/errors.js';
import type { TopicRole } from '../../lib/kafka/topics.js';
import { createTopics, topicList, topicNames, topicRoles } from '../../lib/kafka/topics.js';
import { registryUrl, type StackConfig } from '../../lib/local-platform.js';
import {
  avroTypeOf,
  frame,
  readSchema,
  registerSchema,
  SchemaCatalog,
  subjectOf,
  type TopicValues,
} from '../../schemas/catalog.js';
import { samplePacketEvent } from '../fixtures/events.js';
import { ensurePlatform, testKafka, uniqueName } from '../helpers/platform.js';

const packetRef = { topic: 'sentinel.packets', partition: 3, offset: 1234 };

const samples: TopicValues = {
  packets: samplePacketEvent,
  verdicts: {
    eventId: samplePacketEvent.eventId,
    clientId: 'sensor-0001',
    packetType: 'PUBLISH',
    sourceIp: '127.0.0.1',
    proxyId: 'edge-a',
    topic: 'devices/sensor-0001/telemetry',
    decision: 'block',
    mode: 'enforce',
    findings: [
      {
        ruleId: 'sqli-union-select',
        class: 'sqli',
        stage: 'patterns',
        severity: 'critical',
        action: 'block',
        evidence: "' UNION SELECT password FROM users--",
        location: 'payload.json:$.name',
        shadow: false,
      },
    ],
    packetRef,
    receivedAt: 1_795_000_000_123,
    decidedAt: 1_795_000_000_130,
    processingLatencyMs: 7.25,
    review: null,
  },
  approved: {
    eventId: samplePacketEvent.eventId,
    clientId: 'sensor-0001',
    topic: 'devices/sensor-0001/telemetry',
    payload: Buffer.from('{"t":21.5}'),
    qos: 1,
    retain: false,
    sourceIp: '127.0.0.1',
    proxyId: 'edge-a',
    receivedAt: 1_795_000_000_123,
    approvedAt: 1_795_000_000_130,
    packetRef,
  },
  downlink: {
    messageId: 'a3a1f0e2-4b1c-4d0e-9e2a-1c2b3d4e5f60',
    topic: 'clients/sensor-0001/alerts',
    payload: Buffer.from('{"alert":"firmware update"}'),
    qos: 1,
    retain: false,
    targetClientId: 'sensor-0001',
    originReceivedAt: 1_795_000_000_200,
    bridgeId: 'bridge-1',
  },
  deliveries: {
    eventId: samplePacketEvent.eventId,
    clientId: 'sensor-0001',
    topic: 'devices/sensor-0001/telemetry',
    qos: 1,
    retain: false,
    payloadSize: 10,
    bridgeId: 'bridge-1',
    receivedAt: 1_795_000_000_123,
    approvedAt: 1_795_000_000_130,
    deliveredAt: 1_795_000_000_141,
    endToEndMs: 18,
    packetRef,
    attempts: 1,
  },
  quarantine: {
    heldId: samplePacketEvent.eventId,
    clientId: 'sensor-0001',
    username: 'sensor-0001',
    sourceIp: '127.0.0.1',
    proxyId: 'edge-a',
    topic: 'devices/sensor-0001/telemetry',
    payload: Buffer.from('{"cmd":"; cat /etc/passwd"}'),
    qos: 1,
    retain: false,
    findings: [
      {
        ruleId: 'CMD-932100',
        class: 'cmdi',
        stage: 'patterns',
        severity: 'critical',
        action: 'quarantine',
        evidence: '; cat /etc/passwd',
        location: 'payload.json:$.cmd',
        shadow: false,
      },
    ],
    packetRef,
    receivedAt: 1_795_000_000_123,
    heldAt: 1_795_000_000_130,
  },
  decisions: {
    decisionId: 'c0ffee00-4b1c-4d0e-9e2a-1c2b3d4e5f60',
    heldId: samplePacketEvent.eventId,
    clientId: 'sensor-0001',
    topic: 'devices/sensor-0001/telemetry',
    action: 'release',
    operator: 'alice',
    reason: 'firmware test command, expected',
    heldAt: 1_795_000_000_130,
    decidedAt: 1_795_000_060_000,
  },
};

/** Avro records decode to class instances; compare their plain data. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('Avro contracts through Kafka and the schema registry', () => {
  let config: StackConfig;
  const prefix = `${uniqueName('schema')}.`;
  const topics = topicNames(prefix);

  before(async () => {
    config = await ensurePlatform();
    const admin = testKafka(config).admin();
    await admin.connect();
    await createTopics(admin, topicList(topics), 1);
    await admin.disconnect();
  });

  after(async () => {
    const admin = testKafka(config).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: topicList(topics) }).catch(() => undefined);
    await admin.disconnect();
  });

  async function produceAndConsume(
    values: ReadonlyArray<{ topic: string; key: string; value: Buffer }>,
  ): Promise<Map<string, Buffer[]>> {
    const kafka = testKafka(config);
    const producer = kafka.producer();
    await producer.connect();
    for (const { topic, key, value } of values)
      await producer.send({ topic, acks: -1, messages: [{ key, value }] });
    await producer.disconnect();

    const received = new Map<string, Buffer[]>();
    const wanted = new Set(values.map((v) => v.topic));
    const consumer = kafka.consumer({ groupId: uniqueName('schema-test') });
    await consumer.connect();
    for (const topic of wanted) await consumer.subscribe({ topic, fromBeginning: true });
    let count = 0;
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ topic, message }) => {
          if (!message.value) return;
          received.set(topic, [...(received.get(topic) ?? []), message.value]);
          if (++count === values.length) resolve();
        },
      });
    });
    await consumer.disconnect();
    return received;
  }

  it('round-trips each topic schema: registered under <topic>-value, produced, consumed, decoded', async () => {
    const catalog = await SchemaCatalog.connect(registryUrl(config), topics);
    const received = await produceAndConsume(
      topicRoles.map((role) => ({
        topic: topics[role],
        key: 'sensor-0001',
        value: catalog.encode(role, samples[role] as never),
      })),
    );
    for (const role of topicRoles) {
      const [value] = received.get(topics[role]) ?? [];
      assert.ok(value, `${role}: a record arrived`);
      assert.deepEqual(plain(await catalog.decode(role, value)), plain(samples[role]), role);
    }
    const registry = new SchemaRegistry({ host: registryUrl(config) });
    for (const role of topicRoles) {
      assert.equal(
        await registry.getLatestSchemaId(subjectOf(topics[role])),
        catalog.schemaId(role),
        `${role} subject`,
      );
    }
  });

  it('reads a record written with the previous schema version into the current one', async () => {
    const role: TopicRole = 'packets';
    const evolvedPrefix = `${uniqueName('evolve')}.`;
    const evolvedTopics = topicNames(evolvedPrefix);
    const admin = testKafka(config).admin();
    await admin.connect();
    await createTopics(admin, [evolvedTopics.packets], 1);
    await admin.disconnect();
    try {
      // The previous version: the current schema before tlsClientSubject was added (with a default).
      const current = readSchema(role) as avro.schema.RecordType;
      const previous = {
        ...current,
        fields: current.fields.filter((field) => field.name !== 'tlsClientSubject'),
      };
      const registry = new SchemaRegistry({ host: registryUrl(config) });
      const previousId = await registerSchema(registry, subjectOf(evolvedTopics.packets), previous);
      const { tlsClientSubject: _dropped, ...oldRecord } = samplePacketEvent;
      const previousType = (await import('avsc')).default.Type.forSchema(previous);
      const oldBytes = frame(previousId, previousType.toBuffer(oldRecord));

      const received = await produceAndConsume([
        { topic: evolvedTopics.packets, key: 'sensor-0001', value: oldBytes },
      ]);
      const catalog = await SchemaCatalog.connect(registryUrl(config), evolvedTopics);
      assert.notEqual(
        catalog.schemaId(role),
        previousId,
        'the current schema is a new version of the subject',
      );
      const [value] = received.get(evolvedTopics.packets) ?? [];
      assert.ok(value);
      const decoded = await catalog.decode(role, value);
      assert.equal(decoded.tlsClientSubject, null, 'the added field takes its default');
      assert.equal(decoded.clientId, samplePacketEvent.clientId);
      assert.deepEqual(decoded.payload, samplePacketEvent.payload);
      assert.ok(avroTypeOf.packets.isValid(decoded));
    } finally {
      const cleanup = testKafka(config).admin();
      await cleanup.connect();
      await cleanup.deleteTopics({ topics: [evolvedTopics.packets] }).catch(() => undefined);
      await cleanup.disconnect();
    }
  });

  it('refuses an incompatible change: a new field without a default', async () => {
    const subject = subjectOf(`${uniqueName('incompatible')}.packets`);
    const registry = new SchemaRegistry({ host: registryUrl(config) });
    const current = readSchema('packets') as avro.schema.RecordType;
    await registerSchema(registry, subject, current);
    const breaking = { ...current, fields: [...current.fields, { name: 'firmware', type: 'string' }] };
    await assert.rejects(registerSchema(registry, subject, breaking), (err: unknown) =>
      isSentinelError(err, 'SNT_SCHEMA_INCOMPATIBLE'),
    );
  });
  it('services starting together on new subjects all register, with the same ids', async () => {
    // `sentinel up` starts ingest, processors, bridge and sink at once; on a fresh prefix each
    // races to create the same subjects.
    const fresh = topicNames(`${uniqueName('schema-race')}.`);
    const catalogs = await Promise.all(
      Array.from({ length: 4 }, () => SchemaCatalog.connect(registryUrl(config), fresh)),
    );
    for (const role of topicRoles) {
      assert.equal(new Set(catalogs.map((c) => c.schemaId(role))).size, 1, `${role}: one id for all`);
    }
  });
});
