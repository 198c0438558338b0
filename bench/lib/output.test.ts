import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatNumber, formatTable } from './output.js';

test('bench table: numbers right-aligned and grouped, text left-aligned', () => {
  const table = formatTable(
    ['what', 'msg/s'],
    [
      ['qos 1', 12345],
      ['qos 0 direct', 7],
    ],
  );
  assert.equal(table, ['what          msg/s', 'qos 1         12,345', 'qos 0 direct       7'].join('\n'));
});

test('bench numbers: integers grouped, fractions to 2 or 1 digits, missing as a dash', () => {
  assert.deepEqual(
    [
      formatNumber(1234567),
      formatNumber(3.256),
      formatNumber(42.42),
      formatNumber(1234.5),
      formatNumber(Number.NaN),
    ],
    ['1,234,567', '3.26', '42.4', '1,235', '—'],
  );
});
