import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparisonHeader, comparisonRows } from './suite.js';

const summary = (p50Ms: number, p99Ms: number) => ({
  count: 1,
  p50Ms,
  p95Ms: p99Ms,
  p99Ms,
  p999Ms: p99Ms,
  maxMs: p99Ms,
});

const floor = {
  latency: [
    { rate: 100, sent: 300, delivered: 300, latency: summary(28, 80), cpuMsPerMessage: 1.5 },
    {
      rate: 1000,
      sent: 3000,
      delivered: 3000,
      latency: summary(50, 200),
      cpuMsPerMessage: 0.4,
      brokersJitSeconds: 0.3,
    },
  ],
  throughput: { highestSustained: 4000, limitedBy: '8000/s P99 3100 ms' },
};
const pipeline = {
  latency: [
    {
      target: 'sentinel',
      rate: 100,
      sent: 300,
      delivered: 300,
      latency: summary(60, 120),
      cpuMsPerMessage: 3,
    },
    {
      target: 'sentinel',
      rate: 1000,
      sent: 3000,
      delivered: 2990,
      latency: summary(400, 900),
      cpuMsPerMessage: 1,
      brokersJitSeconds: 12.5,
    },
    {
      target: 'direct',
      rate: 100,
      sent: 300,
      delivered: 300,
      latency: summary(1.2, 7),
      cpuMsPerMessage: 0.05,
    },
    {
      target: 'direct',
      rate: 1000,
      sent: 3000,
      delivered: 3000,
      latency: summary(1, 14),
      cpuMsPerMessage: 0.02,
    },
  ],
  throughput: [
    { target: 'sentinel', qos: 1, payloadBytes: 100, highestSustained: 1000, limitedBy: '2000/s lost 3' },
    {
      target: 'direct',
      qos: 1,
      payloadBytes: 100,
      highestSustained: 8000,
      limitedBy: 'ladder ends at 8000/s',
    },
  ],
  eventsPerCpuSecond: {},
};

test('the comparison puts floor, pipeline and Mosquitto of one run side by side, rate by rate', () => {
  assert.equal(comparisonHeader.length, 5);
  const rows = comparisonRows({ floor, pipeline });
  assert.deepEqual(rows[0], ['100', '28 / 80', '60 / 120', '1.50x', '1.2 / 7']);
  assert.deepEqual(
    rows[1],
    ['1,000', '50 / 200', '400 / 900 (2990/3000)', '4.50x', '1 / 14'],
    'a loss is shown',
  );
  assert.deepEqual(rows[2], [
    'sustained msg/s, QoS 1, 100 B (nothing lost, P99 <= 1 s)',
    '4,000 (next: 8000/s P99 3100 ms)',
    '1,000 (next: 2000/s lost 3)',
    '0.25x',
    '8,000 (next: ladder ends at 8000/s)',
  ]);
  assert.match(rows[4]?.[0] ?? '', /CPU ms per delivered message at 1,000\/s/);
  assert.deepEqual(rows[4]?.slice(1), ['0.4', '1', '2.50x', '0.02']);
  // Brokers still compiling during a step are shown beside it; a rate whose steps lack the figure
  // (results written before the benches read it) gets no row.
  assert.equal(rows.length, 6);
  assert.match(rows[5]?.[0] ?? '', /brokers' JIT seconds during the 1,000\/s step/);
  assert.deepEqual(rows[5]?.slice(1), ['0.3', '12.5', '—', '—']);
});

test('the comparison has a dash where a scenario did not run, and is empty when neither did', () => {
  const rows = comparisonRows({ floor });
  assert.deepEqual(rows[0], ['100', '28 / 80', '—', '—', '—']);
  assert.deepEqual(comparisonRows({}), []);
});
