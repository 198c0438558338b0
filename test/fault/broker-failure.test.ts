import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Producer } from 'kafkajs';
import { createKafka } from '../../lib/kafka/client.js';
import { createTopics } from '../../lib/kafka/topics.js';
import { kafkaBootstrap, type StackConfig } from '../../lib/local-platform.js';
import { artifactPaths } from '../../platform/artifacts.js';
import {
  brokerIndexes,
  startBroker,
  stopBroker,
  waitForBroker,
  waitForCluster,
  waitForSettledCluster,
} from '../../platform/kafka.js';
import { waitFor } from '../../platform/processes.js';
import { stackStatus } from '../../platform/stack.js';
import { ensurePlatform, testKafka, uniqueName } from '../helpers/platform.js';

/**
 * Replication 3 with min.insync.replicas 2: an acks=all write survives one broker down and is
 * refused, with an error, when two are down. Stops real brokers, so it runs after every other test.
 */
describe('acks=all under broker failure', () => {
  let config: StackConfig;
  const topic = uniqueName('fault');
  let producer: Producer;

  before(async () => {
    config = await ensurePlatform();
    const admin = testKafka(config).admin();
    await admin.connect();
    await createTopics(admin, [topic], 3);
    await admin.disconnect();
    producer = createKafka({
      brokers: kafkaBootstrap(config),
      clientId: uniqueName('fault-producer'),
      retries: 3,
    }).producer({
      allowAutoTopicCreation: false,
    });
    await producer.connect();
  });

  after(async () => {
    await producer?.disconnect().catch(() => undefined);
    const artifacts = artifactPaths(config);
    for (const index of brokerIndexes) await startBroker(config, artifacts, index);
    for (const index of brokerIndexes) await waitForBroker(config, artifacts, index);
    await waitForCluster(config);
    await waitForSettledCluster(config);
    const admin = testKafka(config).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('acks=all succeeds with all three brokers', async () => {
    const [result] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: 'k', value: 'three brokers' }],
    });
    assert.equal(result?.errorCode, 0);
  });

  it('acks=all still succeeds with one of the three brokers stopped, and stack status names it', async () => {
    // The middle broker: a status that compared the registered count with a broker's index would
    // call kafka-3 down and kafka-2 healthy.
    await stopBroker(config, artifactPaths(config), 1);
    const expected = ['kafka-1 up', 'kafka-2 down', 'kafka-3 up'];
    let seen: string[] = [];
    const statusShows = async () => {
      seen = (await stackStatus(config))
        .filter((r) => r.name.startsWith('kafka-'))
        .map((r) => `${r.name} ${r.healthy ? 'up' : 'down'}`);
      return seen.join() === expected.join();
    };
    // The cluster deregisters the stopped broker within a heartbeat; the assertion shows what was seen last.
    await waitFor('stack status naming kafka-2 down', statusShows, { timeoutMs: 30_000 }).catch(
      () => undefined,
    );
    assert.deepEqual(seen, expected);
    const results = await producer.send({
      topic,
      acks: -1,
      messages: [0, 1, 2, 3, 4, 5].map((i) => ({ key: `device-${i}`, value: 'two brokers' })),
    });
    assert.ok(results.every((r) => r.errorCode === 0));
  });

  it('acks=all fails with an error, not silently, with two brokers stopped', async () => {
    await stopBroker(config, artifactPaths(config), 2);
    await assert.rejects(
      producer.send({ topic, acks: -1, timeout: 5000, messages: [{ key: 'k', value: 'one broker' }] }),
      (err: Error & { cause?: Error; type?: string }) => {
        const text = `${err.name} ${err.message} ${err.cause?.message ?? ''} ${err.type ?? ''}`;
        assert.match(text, /replicas|NOT_ENOUGH_REPLICAS|timed out|Timeout|leader/i, text);
        return true;
      },
    );
  });
});
