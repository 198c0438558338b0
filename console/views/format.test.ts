import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { datetimeLocalValue, formatSize, formatTime, isoTime } from './format.js';

describe('format', () => {
  it('writes times in UTC to the millisecond', () => {
    assert.equal(formatTime(Date.UTC(2026, 11, 6, 10, 31, 5, 123)), '2026-12-06 10:31:05.123Z');
    assert.equal(isoTime(0), '1970-01-01T00:00:00.000Z');
    assert.equal(formatTime(Number.NaN), '—');
    assert.equal(isoTime(8.64e15 + 1), '');
  });

  it('writes sizes in bytes, then binary units with one decimal', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 1024 * 1024 * 2, 1024 ** 3 * 5].map(formatSize), [
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '2.0 MiB',
      '5.0 GiB',
    ]);
    assert.equal(formatSize(-1), '—');
  });

  it('gives datetime-local values in UTC, to the second', () => {
    assert.equal(datetimeLocalValue(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05');
    assert.equal(datetimeLocalValue(undefined), '');
  });
});
