import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wilsonInterval, Z_95 } from './wilson.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} is not ${expected}`);

test('wilson: 0/10 runs from 0 to z²/(n+z²)', () => {
  const { lower, upper } = wilsonInterval(0, 10);
  assert.equal(lower, 0);
  close(upper, (Z_95 * Z_95) / (10 + Z_95 * Z_95), '0/10 upper');
  close(upper, 0.2775328, '0/10 upper');
});

test('wilson: 10/10 runs from n/(n+z²) to 1', () => {
  const { lower, upper } = wilsonInterval(10, 10);
  close(lower, 10 / (10 + Z_95 * Z_95), '10/10 lower');
  close(lower, 0.7224672, '10/10 lower');
  assert.equal(upper, 1);
});

test('wilson: 50/100 is symmetric around 0.5', () => {
  const { lower, upper } = wilsonInterval(50, 100);
  close(lower, 0.4038315, '50/100 lower');
  close(upper, 0.5961685, '50/100 upper');
  close(lower + upper, 1, 'symmetry');
});

test('wilson: the standard formula at another point (8/40) and another z', () => {
  const n = 40;
  const p = 8 / n;
  const z = 1.644854;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  const interval = wilsonInterval(8, n, z);
  close(interval.lower, centre - half, '8/40 lower');
  close(interval.upper, centre + half, '8/40 upper');
});

test('wilson: no trials give the whole [0, 1]; impossible counts are refused', () => {
  assert.deepEqual(wilsonInterval(0, 0), { lower: 0, upper: 1 });
  assert.throws(() => wilsonInterval(11, 10), RangeError);
  assert.throws(() => wilsonInterval(-1, 10), RangeError);
  assert.throws(() => wilsonInterval(1.5, 10), RangeError);
});
