import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { topicList, topicNames } from '../../lib/kafka/topics.js';
import { kafkaBootstrap, type StackConfig } from '../../lib/local-platform.js';
import { ensurePlatform, runCli, testKafka, uniqueName } from '../helpers/platform.js';

describe('sentinel topics', () => {
  let config: StackConfig;
  const prefix = `${uniqueName('t')}.`;
  const env = { SENTINEL_TOPIC_PREFIX: prefix, SENTINEL_KAFKA_PARTITIONS: '6' };

  before(async () => {
    config = await ensurePlatform();
  });

  after(async () => {
    const admin = testKafka(config).admin();
    await admin.connect();
    const names = topicNames(prefix);
    await admin.deleteTopics({ topics: topicList(names) }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates the four topics, and the cluster reports 72 h retention, 3 replicas, min ISR 2', async () => {
    const created = await runCli(['topics', 'create'], env);
    assert.equal(created.code, 0, created.stderr);
    const names = topicNames(prefix);
    assert.match(created.stdout, new RegExp(`created: .*${names.packets.replaceAll('.', '\\.')}`));

    const described = await runCli(['topics', 'describe', '--json'], env);
    assert.equal(described.code, 0, described.stderr);
    const topics = JSON.parse(described.stdout) as Array<{
      name: string;
      partitions: number;
      replicationFactor: number;
      minIsr: number;
      configs: Record<string, string>;
    }>;
    assert.deepEqual(
      topics.map((t) => t.name),
      topicList(names),
    );
    for (const topic of topics) {
      assert.equal(topic.configs['retention.ms'], '259200000', topic.name);
      assert.equal(topic.replicationFactor, 3, topic.name);
      assert.equal(topic.configs['min.insync.replicas'], '2', topic.name);
      assert.equal(topic.partitions, 6, topic.name);
      assert.equal(topic.minIsr, 3, `${topic.name}: every replica in sync on a healthy cluster`);
    }
  });

  it('restores a drifted config when create runs again, and creates nothing twice', async () => {
    const names = topicNames(prefix);
    const admin = testKafka(config).admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          { type: 2, name: names.verdicts, configEntries: [{ name: 'retention.ms', value: '60000' }] },
        ],
      });
    } finally {
      await admin.disconnect();
    }
    const again = await runCli(['topics', 'create'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /created: none/);
    assert.match(again.stdout, new RegExp(`configs restored: .*${names.verdicts.replaceAll('.', '\\.')}`));
    const described = JSON.parse((await runCli(['topics', 'describe', '--json'], env)).stdout) as Array<{
      name: string;
      configs: Record<string, string>;
    }>;
    assert.equal(described.find((t) => t.name === names.verdicts)?.configs['retention.ms'], '259200000');
  });

  it('describe names topics that do not exist', async () => {
    const result = await runCli(['topics', 'describe'], {
      SENTINEL_TOPIC_PREFIX: `${uniqueName('absent')}.`,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SNT_TOPIC_MISCONFIGURED: topics not found/);
  });

  it('talks to the brokers SENTINEL_KAFKA_BROKERS names, as every service does', async () => {
    const one = kafkaBootstrap(config)[1]!;
    const through = await runCli(['topics', 'describe', '--json'], { ...env, SENTINEL_KAFKA_BROKERS: one });
    assert.equal(through.code, 0, through.stderr);
    const closed = await runCli(['topics', 'describe'], { ...env, SENTINEL_KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /127\.0\.0\.1:1/, 'the broker it was told to use, not the local platform');
  });

  it('refuses a Kafka security setting that cannot work, naming it', async () => {
    const result = await runCli(['topics', 'describe'], {
      ...env,
      SENTINEL_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /SENTINEL_KAFKA_SASL/);
  });
});
