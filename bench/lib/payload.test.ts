import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchPayload, MIN_PAYLOAD_BYTES, readPayloadHead } from './payload.js';

test('bench payload: exact size, valid JSON, head read back without parsing', () => {
  for (const size of [MIN_PAYLOAD_BYTES, 100, 4096]) {
    const payload = benchPayload('abcd1234', 987654, 123456789012, size);
    assert.equal(payload.length, size);
    const parsed = JSON.parse(payload.toString()) as { r: string; s: number; t: number; p: string };
    assert.deepEqual([parsed.r, parsed.s, parsed.t], ['abcd1234', 987654, 123456789012]);
    assert.deepEqual(readPayloadHead(payload), { run: 'abcd1234', seq: 987654, scheduledUs: 123456789012 });
  }
});

test('bench payload: foreign payloads are not mistaken for bench messages', () => {
  assert.equal(readPayloadHead(Buffer.from('{"temp":21.5}')), null);
  assert.equal(readPayloadHead(Buffer.alloc(200, 0x41)), null);
  assert.throws(() => benchPayload('short', 1, 1, 100), /8 characters/);
});
