import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { brokersCompileSeconds, histogramQuantile, jitDuring, metricTotal } from './prometheus.js';

const text = [
  '# TYPE x_seconds histogram',
  'x_seconds_bucket{le="0.001",result="hit"} 90',
  'x_seconds_bucket{le="0.01",result="hit"} 100',
  'x_seconds_bucket{le="+Inf",result="hit"} 100',
  'x_seconds_bucket{le="0.001",result="miss"} 0',
  'x_seconds_bucket{le="0.01",result="miss"} 10',
  'x_seconds_bucket{le="+Inf",result="miss"} 10',
].join('\n');

test('histogram quantile: linear within the bucket, filtered by label, summed otherwise', () => {
  const near = (actual: number, expected: number) =>
    assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} is not ${expected}`);
  near(histogramQuantile(text, 'x_seconds', 0.5, { result: 'hit' }), 0.001 * (50 / 90));
  near(histogramQuantile(text, 'x_seconds', 0.99, { result: 'hit' }), 0.001 + 0.009 * (9 / 10));
  // The miss series has nothing under 1 ms: its median is halfway into the 1-10 ms bucket.
  near(histogramQuantile(text, 'x_seconds', 0.5, { result: 'miss' }), 0.0055);
  near(histogramQuantile(text, 'x_seconds', 0.5), 0.001 * (55 / 90));
  assert.ok(Number.isNaN(histogramQuantile(text, 'y_seconds', 0.5)));
});

test('metric total: every sample of the name summed, whatever its labels; null when absent', () => {
  const jvm = [
    '# HELP jvm_compilation_time_seconds_total The total time in seconds taken for HotSpot class compilation',
    '# TYPE jvm_compilation_time_seconds_total counter',
    'jvm_compilation_time_seconds_total 113.197',
    'jvm_compilation_time_seconds_total_created 1.7e9',
    'kafka_network_requests_total{request="Fetch",version="17"} 10.0',
    'kafka_network_requests_total{request="Produce",version="11"} 2.5',
  ].join('\n');
  assert.equal(metricTotal(jvm, 'jvm_compilation_time_seconds_total'), 113.197);
  assert.equal(metricTotal(jvm, 'kafka_network_requests_total'), 12.5);
  assert.equal(metricTotal(jvm, 'jvm_compilation_time_seconds'), null);
  assert.equal(metricTotal('', 'x'), null);
});

test('JIT seconds of a step: to a tenth; unknown when a read failed or a broker restarted', () => {
  assert.equal(jitDuring(100, 112.46), 12.5);
  assert.equal(jitDuring(null, 5), null);
  assert.equal(jitDuring(5, null), null);
  // A restarted broker's counter begins again: the difference would be negative.
  assert.equal(jitDuring(300, 20), null);
});

/** Servers answering `bodies[i]` on three consecutive ports (the brokers' exporters), and the first. */
async function exportersOn(bodies: readonly string[]): Promise<{ first: number; close(): void }> {
  const listen = (port: number, body: string) =>
    new Promise<Server | null>((resolve) => {
      const server = createServer((_, response) => response.end(body));
      server.once('error', () => resolve(null));
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await listen(0, bodies[0] ?? '');
    if (!first) continue;
    const port = (first.address() as AddressInfo).port;
    const servers: Server[] = [first];
    for (let i = 1; i < bodies.length; i++) {
      const next = await listen(port + i, bodies[i] ?? '');
      if (!next) break;
      servers.push(next);
    }
    const close = () => {
      for (const server of servers) server.close();
    };
    if (servers.length === bodies.length) return { first: port, close };
    close();
  }
  throw new Error('no three consecutive free ports on 127.0.0.1');
}

test("brokers compile seconds: the three exporters' figures summed; unknown, not an error, when one lacks it", async () => {
  const figure = (seconds: number) =>
    `# TYPE jvm_compilation_time_seconds_total counter\njvm_compilation_time_seconds_total ${seconds}\n`;
  const all = await exportersOn([figure(10), figure(20.5), figure(30)]);
  try {
    assert.equal(await brokersCompileSeconds({ kafkaPort: all.first - 300 }), 60.5);
  } finally {
    all.close();
  }
  const oneWithout = await exportersOn([figure(10), 'up 1\n', figure(30)]);
  try {
    assert.equal(await brokersCompileSeconds({ kafkaPort: oneWithout.first - 300 }), null);
  } finally {
    oneWithout.close();
  }
});
