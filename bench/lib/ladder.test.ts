import assert from 'node:assert/strict';
import { test } from 'node:test';
import { climbLadder, type MeasuredStep } from './ladder.js';

const stepAt = (rate: number, passed: boolean, lost = 0): MeasuredStep => ({
  rate,
  seconds: 1,
  sent: rate,
  delivered: rate - lost,
  lost,
  duplicates: 0,
  achievedPerSecond: rate,
  latency: { count: rate, p50Ms: 1, p95Ms: 1, p99Ms: passed ? 10 : 2000, p999Ms: 1, maxMs: 1 },
  generatorMaxBehindMs: 0,
  cpuSeconds: {},
  passed,
});

test('the ladder doubles the rate until a step fails; the sustained rate is the last that passed', async () => {
  const tried: number[] = [];
  const result = await climbLadder(250, 16000, async (rate) => {
    tried.push(rate);
    return stepAt(rate, rate < 2000);
  });
  assert.deepEqual(tried, [250, 500, 1000, 2000]);
  assert.equal(result.highestSustained, 1000);
  assert.equal(result.limitedBy, '2000/s P99 2000 ms');
});

test('the ladder names a loss before a slow P99, and its end when every step passed', async () => {
  const lossy = await climbLadder(250, 1000, async (rate) => stepAt(rate, false, 3));
  assert.equal(lossy.highestSustained, null);
  assert.equal(lossy.limitedBy, '250/s lost 3');
  const clean = await climbLadder(250, 1000, async (rate) => stepAt(rate, true));
  assert.equal(clean.highestSustained, 1000);
  assert.equal(clean.limitedBy, 'ladder ends at 1000/s');
});
