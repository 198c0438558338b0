import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensurePlatform, runCli } from '../helpers/platform.js';

/**
 * `sentinel bench --quick`, the smoke run of the benchmark suite that CI executes: every scenario
 * runs against the real platform and a real plain Mosquitto and writes its figures. Figures are
 * not judged here (tests never assert on time); what is checked is that each one was measured:
 * the messages counted arrived, the connections counted were held, the table has every row.
 */
interface Summary {
  readonly header: string[];
  readonly rows: string[][];
}
interface LatencyStep {
  target: string;
  rate: number;
  sent: number;
  delivered: number;
  lost: number;
  latency: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
}
interface BenchFile {
  quick: boolean;
  machine: { cores: number; versions: Record<string, string>; commit: string };
  summary: Summary;
  retention: { retentionHours: number; replicationFactor: number; minInsyncReplicas: number };
  scenarios: {
    pipeline: {
      latency: LatencyStep[];
      throughput: Array<{ target: string; steps: LatencyStep[] }>;
      eventsPerCpuSecond: Record<string, number>;
    };
    connections: {
      auth: Array<{ cache: string; accepted: number; attempted: number; connack: { count: number } }>;
      idle: { target: number; opened: number; stillOpenAfterQuiet: number; edgeConnectionsActive: number };
    };
    parse: { results: Array<{ packetsPerSecond: number }> };
    inspect: { results: Array<{ n: number }> };
    ratelimit: { checks: Array<{ nsPerCheck: number }> };
    auth: { results: Array<{ n: number }> };
  };
}

describe('sentinel bench --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-test-'));
  const out = join(dir, 'bench.json');
  let result: { code: number; stdout: string; stderr: string };
  let bench: BenchFile;

  before(async () => {
    await ensurePlatform();
    result = await runCli(['bench', '--quick', '--out', out]);
    assert.equal(result.code, 0, `bench exited ${result.code}:\n${result.stderr.slice(-3000)}`);
    bench = JSON.parse(readFileSync(out, 'utf8')) as BenchFile;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('describes the machine and the versions it measured', () => {
    assert.equal(bench.quick, true);
    assert.ok(bench.machine.cores >= 1);
    for (const name of ['node', 'kafka', 'mosquitto'])
      assert.match(bench.machine.versions[name] ?? '', /\d+\.\d+/);
  });

  it('sends the same workload through Sentinel and straight into Mosquitto, and counts every message', () => {
    const latency = bench.scenarios.pipeline.latency;
    for (const target of ['sentinel', 'direct']) {
      const steps = latency.filter((s) => s.target === target);
      assert.deepEqual(
        steps.map((s) => s.rate),
        [100, 1000],
        `${target}: the quick latency rates`,
      );
      for (const step of steps) {
        assert.equal(step.sent, step.rate * 3, `${target} ${step.rate}/s: 3 s of messages sent`);
        assert.equal(step.delivered, step.sent, `${target} ${step.rate}/s: every QoS 1 message arrived`);
        assert.equal(step.latency.count, step.delivered, 'one latency sample per message');
        assert.ok(step.latency.p50Ms > 0 && step.latency.p50Ms <= step.latency.p99Ms);
      }
    }
    for (const stage of ['ingest', 'processors', 'bridge', 'mosquitto']) {
      assert.ok((bench.scenarios.pipeline.eventsPerCpuSecond[stage] ?? 0) > 0, `${stage}: a per-stage cost`);
    }
    assert.ok(bench.scenarios.pipeline.throughput.every((t) => t.steps.length > 0));
  });

  it('measures CONNECT auth on cache hits then misses, and holds the idle connections it opened', () => {
    const { auth, idle } = bench.scenarios.connections;
    assert.deepEqual(
      auth.map((a) => a.cache),
      ['hit', 'miss'],
    );
    for (const a of auth) {
      assert.equal(a.accepted, a.attempted, `${a.cache}: every CONNECT accepted`);
      assert.equal(a.connack.count, a.accepted);
    }
    assert.equal(idle.opened, idle.target);
    assert.equal(idle.stillOpenAfterQuiet, idle.target);
    assert.equal(idle.edgeConnectionsActive, idle.target, 'the edge counts the same connections');
  });

  it('runs the micro-benchmarks and reads retention back from the cluster', () => {
    assert.ok(bench.scenarios.parse.results.every((r) => r.packetsPerSecond > 0));
    assert.ok(bench.scenarios.inspect.results.every((r) => r.n > 0));
    assert.ok(bench.scenarios.ratelimit.checks.every((r) => r.nsPerCheck > 0));
    assert.ok(bench.scenarios.auth.results.every((r) => r.n > 0));
    assert.deepEqual(
      [bench.retention.retentionHours, bench.retention.replicationFactor, bench.retention.minInsyncReplicas],
      [72, 3, 2],
    );
  });

  it('prints one table with Sentinel beside direct Mosquitto and the ratio', () => {
    assert.deepEqual(bench.summary.header.slice(0, 4), [
      'figure',
      'through Sentinel',
      'direct Mosquitto',
      'Sentinel / direct',
    ]);
    const figures = bench.summary.rows.map((row) => row[0] ?? '');
    for (const expected of [
      /sustained msg\/s, QoS 1, 100 B/,
      /device -> origin at 100\/s/,
      /CONNECT at 250\/s, cache hit/,
      /idle connections held/,
      /retention/,
    ]) {
      assert.ok(
        figures.some((f) => expected.test(f)),
        `a row for ${expected}`,
      );
    }
    const atHundred = bench.summary.rows.find((row) => /device -> origin at 100\//.test(row[0] ?? ''));
    assert.match(atHundred?.[3] ?? '', /^\d+\.\d+x$/, 'a Sentinel / direct ratio');
    assert.match(result.stdout, /through Sentinel\s+direct Mosquitto/);
  });
});
