import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kafkaBootstrap } from '../../lib/local-platform.js';
import { warmBrokers } from '../../platform/warmup.js';
import { ensurePlatform, testKafka, uniqueName } from '../helpers/platform.js';

/** The warm-up `stack up` runs on brokers it launched, here against the running cluster. */
describe('broker warm-up', { timeout: 120_000 }, () => {
  it('sends traffic through one hop until three windows in a row meet the target, then deletes its topics and group', async (t) => {
    const config = await ensurePlatform();
    const topicPrefix = `${uniqueName('warmup')}.`;
    // A target any working hop meets on a busy test machine: this checks the mechanism, not the brokers.
    const report = await warmBrokers({
      brokers: kafkaBootstrap(config),
      topicPrefix,
      partitions: 3,
      maxSeconds: 60,
      rate: 100,
      targetP99Ms: 5000,
      windowMs: 1000,
    });
    assert.equal(report.warm, true, `P99 per window: ${report.windowP99Ms.join(' ')}`);
    assert.ok(report.windowP99Ms.length >= 3);
    assert.ok(report.records >= 100, `${report.records} records`);
    assert.ok(report.seconds < 60);
    // A busy test machine may give the clients something to warn of: reported, not asserted.
    for (const warning of report.clientWarnings) t.diagnostic(`kafka client warned: ${warning}`);
    assert.ok(report.clientWarnings.length <= 5);

    const admin = testKafka(config).admin();
    await admin.connect();
    try {
      const left = (await admin.listTopics()).filter((name) => name.startsWith(topicPrefix));
      assert.deepEqual(left, []);
      const groups = (await admin.listGroups()).groups.filter((g) => g.groupId.startsWith(topicPrefix));
      assert.deepEqual(groups, []);
    } finally {
      await admin.disconnect();
    }
  });

  it('gives up at its bound and says so, instead of failing', async () => {
    const config = await ensurePlatform();
    const report = await warmBrokers({
      brokers: kafkaBootstrap(config),
      topicPrefix: `${uniqueName('warmup')}.`,
      partitions: 3,
      maxSeconds: 3,
      rate: 100,
      // No hop answers in under a microsecond.
      targetP99Ms: 0.001,
      windowMs: 1000,
    });
    assert.equal(report.warm, false);
    assert.ok(report.seconds >= 3 && report.seconds < 30, `${report.seconds} s`);
  });
});
