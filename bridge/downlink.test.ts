import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downlinkTargetOf } from '../lib/mqtt/downlink-target.js';
import { toDownlinkMessage } from './downlink.js';

describe('downlink keys and targets', () => {
  const rows: Array<[string, string | null]> = [
    ['clients/dev-7/alerts', 'dev-7'],
    ['clients/dev-7/commands/reboot', 'dev-7'],
    ['clients/dev-7', null],
    ['clients//alerts', null],
    ['devices/dev-7/shared/chat', null],
    ['broadcast/firmware', null],
  ];
  for (const [topic, target] of rows) {
    it(`${topic} -> ${target ?? 'every subscriber (key = topic)'}`, () => {
      assert.equal(downlinkTargetOf(topic), target);
      const record = toDownlinkMessage(
        { topic, payload: Buffer.from('x'), qos: 1, retain: false, receivedAt: 1 },
        'bridge-1',
      );
      assert.equal(record.targetClientId, target);
      assert.equal(record.originReceivedAt, 1);
    });
  }
});
