import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Admin } from 'kafkajs';
import {
  BatchConsumer,
  type KafkaRecord,
  RecordProducer,
  readPartitionsToEnd,
} from '../../lib/kafka/rdkafka.js';
import { createServedTopics } from '../../lib/kafka/topics.js';
import { kafkaBootstrap, type StackConfig } from '../../lib/local-platform.js';
import { ensurePlatform, testKafka, uniqueName } from '../helpers/platform.js';

/** The librdkafka layer against the real brokers: what the services rely on. */
describe('lib/kafka/rdkafka', () => {
  let config: StackConfig;
  let admin: Admin;
  const topics: string[] = [];
  const groups: string[] = [];

  before(async () => {
    config = await ensurePlatform();
    admin = testKafka(config).admin();
    await admin.connect();
  });

  after(async () => {
    await admin.deleteGroups(groups).catch(() => undefined);
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  async function topic(partitions = 3): Promise<string> {
    const name = uniqueName('rdk');
    topics.push(name);
    await createServedTopics(admin, [{ topic: name, numPartitions: partitions, replicationFactor: 3 }]);
    return name;
  }

  function connection(name: string) {
    return { brokers: kafkaBootstrap(config), clientId: uniqueName(name) };
  }

  function consumer(
    groupId: string,
    t: string,
    extra: Partial<ConstructorParameters<typeof BatchConsumer>[0]> = {},
  ) {
    groups.push(groupId);
    return new BatchConsumer({
      connection: connection('c'),
      groupId,
      topics: [t],
      start: 'earliest',
      ...extra,
    });
  }

  async function collect(c: BatchConsumer, count: number, timeoutMs = 30_000): Promise<KafkaRecord[]> {
    const seen: KafkaRecord[] = [];
    let done: () => void = () => undefined;
    const enough = new Promise<void>((resolve) => {
      done = resolve;
    });
    const running = c.run((records) => {
      seen.push(...records);
      if (seen.length >= count) done();
    }, 200);
    const timer = setTimeout(done, timeoutMs);
    await enough;
    clearTimeout(timer);
    await c.disconnect();
    await running;
    return seen;
  }

  it('acknowledges every record and hands them over in order per partition, keyed like kafkajs', async () => {
    const t = await topic();
    const producer = new RecordProducer({ connection: connection('p') });
    await producer.connect();
    const sent = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        producer.send({ topic: t, key: `device-${i % 7}`, value: Buffer.from(String(i)) }),
      ),
    );
    await producer.disconnect();
    assert.equal(sent.length, 300);
    const c = consumer(uniqueName('g'), t);
    await c.connect();
    const records = await collect(c, 300);
    assert.equal(records.length, 300);
    const byKey = new Map<string, number[]>();
    for (const r of records) {
      const key = String(r.key);
      byKey.set(key, [...(byKey.get(key) ?? []), Number(String(r.value))]);
    }
    for (const values of byKey.values())
      assert.deepEqual(
        values,
        [...values].sort((a, b) => a - b),
      );
    // One partition per key, so that a device's events stay in order whoever produces them.
    for (const [key] of byKey) {
      assert.equal(new Set(records.filter((r) => String(r.key) === key).map((r) => r.partition)).size, 1);
    }
  });

  it('commits offsets with metadata and reads them back', async () => {
    const t = await topic(1);
    const producer = new RecordProducer({ connection: connection('p') });
    await producer.connect();
    await Promise.all([1, 2, 3].map((i) => producer.send({ topic: t, value: Buffer.from(String(i)) })));
    await producer.disconnect();
    const groupId = uniqueName('g');
    const c = consumer(groupId, t);
    await c.connect();
    const records = await collect(c, 3);
    assert.equal(records.length, 3);
    const again = consumer(groupId, t);
    await again.connect();
    let assigned = false;
    const running = again.run(() => undefined, 100);
    const deadline = Date.now() + 30_000;
    while (!assigned && Date.now() < deadline) {
      assigned = again.assignment(t).length === 1;
      if (!assigned) await new Promise((r) => setTimeout(r, 50));
    }
    again.commit([{ topic: t, partition: 0, offset: 2, metadata: 'watermark:41' }]);
    let committed: { offset: number; metadata?: string | null } | undefined;
    while (Date.now() < deadline) {
      [committed] = await again.committed([{ topic: t, partition: 0 }]);
      if (committed?.offset === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(committed?.offset, 2);
    assert.equal(committed?.metadata, 'watermark:41');
    await again.disconnect();
    await running;
  });

  it('a transaction commits records and the consumer offsets together; an aborted one leaves neither', async () => {
    const input = await topic(1);
    const output = await topic(1);
    const plain = new RecordProducer({ connection: connection('p') });
    await plain.connect();
    await plain.send({ topic: input, value: Buffer.from('in') });
    await plain.disconnect();

    const groupId = uniqueName('g');
    const c = consumer(groupId, input);
    await c.connect();
    const txn = new RecordProducer({ connection: connection('t'), transactionalId: uniqueName('txn') });
    await txn.connect();
    await txn.initTransactions();
    let handled: () => void = () => undefined;
    const got = new Promise<void>((resolve) => {
      handled = resolve;
    });
    const running = c.run(async (records) => {
      await txn.beginTransaction();
      await txn.send({ topic: output, value: Buffer.from('aborted') });
      await txn.abortTransaction();
      await txn.beginTransaction();
      void txn.send({ topic: output, value: Buffer.from('committed') });
      const last = records.at(-1) as KafkaRecord;
      await txn.sendOffsets([{ topic: input, partition: last.partition, offset: last.offset + 1 }], c);
      await txn.commitTransaction();
      handled();
    }, 100);
    await got;
    const [committed] = await c.committed([{ topic: input, partition: 0 }]);
    assert.equal(committed?.offset, 1);
    await c.disconnect();
    await running;
    await txn.disconnect();

    const values: string[] = [];
    const read = await readPartitionsToEnd({
      connection: connection('r'),
      topic: output,
      partitions: [0],
      timeoutMs: 30_000,
      onRecord: (r) => values.push(String(r.value)),
    });
    assert.equal(read, 1);
    assert.deepEqual(values, ['committed']);
  });

  it('reads partitions to their end, an empty one included, and leaves no group behind', async () => {
    const t = await topic(3);
    const producer = new RecordProducer({ connection: connection('p') });
    await producer.connect();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        producer.send({ topic: t, partition: i % 2, value: Buffer.from('x') }),
      ),
    );
    await producer.disconnect();
    const before = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
    const perPartition = new Map<number, number>();
    const read = await readPartitionsToEnd({
      connection: connection('r'),
      topic: t,
      partitions: [0, 1, 2],
      timeoutMs: 30_000,
      onRecord: (r) => perPartition.set(r.partition, (perPartition.get(r.partition) ?? 0) + 1),
    });
    assert.equal(read, 20);
    assert.deepEqual([...perPartition].sort(), [
      [0, 10],
      [1, 10],
    ]);
    const created = (await admin.listGroups()).groups.filter((g) => !before.has(g.groupId));
    assert.deepEqual(
      created.filter((g) => g.groupId.startsWith('sentinel-read-')),
      [],
    );
  });
});
