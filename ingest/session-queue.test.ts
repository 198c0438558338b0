import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOwed, encodeOwed } from './session-queue.js';

describe('owed messages as stored in a session queue', () => {
  it('round-trip: a queued message, and an unfinished exchange with its packet id and PUBREC state', () => {
    const queued = {
      topic: 'devices/d/cmd',
      payload: Buffer.from([0, 1, 255]),
      qos: 2 as const,
      retain: true,
    };
    assert.deepEqual(decodeOwed(encodeOwed(queued)), queued);
    const unfinished = { ...queued, retain: false, packetId: 42, released: true };
    assert.deepEqual(decodeOwed(encodeOwed(unfinished)), unfinished);
  });

  it('an entry it cannot read is undefined, not a crash', () => {
    for (const entry of ['', 'not json', '{"t":"a","p":"","q":0}', '{"t":1,"p":"","q":1}'])
      assert.equal(decodeOwed(entry), undefined, entry);
  });
});
