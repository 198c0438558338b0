import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTimeInput, TimeInputError } from './time-input.js';

describe('parseTimeInput', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  it('reads durations ago, ISO times, datetime-local as UTC and epoch ms; empty is no bound', () => {
    assert.equal(parseTimeInput('since', '15m', now), now - 15 * 60_000);
    assert.equal(parseTimeInput('since', '7d', now), now - 7 * 86_400_000);
    assert.equal(parseTimeInput('since', '2026-12-06T10:00:00Z', now), Date.parse('2026-12-06T10:00:00Z'));
    assert.equal(parseTimeInput('since', '2026-12-06T10:00', now), Date.parse('2026-12-06T10:00:00Z'));
    assert.equal(parseTimeInput('since', '1796000000000', now), 1_796_000_000_000);
    assert.equal(parseTimeInput('since', '', now), undefined);
    assert.equal(parseTimeInput('since', undefined, now), undefined);
  });

  it('names the field when it cannot read the value', () => {
    assert.throws(
      () => parseTimeInput('until', 'yesterday', now),
      (err: Error) => {
        assert.ok(err instanceof TimeInputError);
        assert.match(err.message, /^until: "yesterday" is not a time/);
        return true;
      },
    );
  });
});
