import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { commandLine, platformPids as platformProcesses, processTree } from '../../bench/lib/processes.js';
import { projectRoot, type StackConfig } from '../../lib/local-platform.js';
import { isAlive } from '../../platform/processes.js';
import { ensurePlatform, registryUrl, runCli, testKafka } from '../helpers/platform.js';
import { keysWithPrefix } from '../helpers/redis-keys.js';

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
  comparison: Summary;
  retention: { retentionHours: number; replicationFactor: number; minInsyncReplicas: number };
  scenarios: {
    downlink: { runs: Array<{ target: string; qos: number; sent: number; delivered: number }> };
    pipeline: {
      latency: Array<LatencyStep & { cpuMsPerMessage: number; brokersJitSeconds: number | null }>;
      throughput: Array<{ target: string; steps: LatencyStep[] }>;
      eventsPerCpuSecond: Record<string, number>;
    };
    floor: {
      latency: Array<LatencyStep & { cpuMsPerMessage: number; brokersJitSeconds: number | null }>;
      throughput: { highestSustained: number | null; steps: LatencyStep[] };
      relay: { relayed: number; relayFailed: number };
    };
    connections: {
      auth: Array<{
        cache: string;
        accepted: number;
        attempted: number;
        connack: { count: number };
        edgeConnackMs: { p99: number | null };
        listenOverflows: number;
      }>;
      mosquitto: Array<{ rate: number; accepted: number; attempted: number }>;
      idle: {
        target: number;
        opened: number;
        stillOpenAfterQuiet: number;
        edgeConnectionsActive: number;
        bytesPerConnectionFromEmpty: number;
      };
    };
    parse: { results: Array<{ packetsPerSecond: number }> };
    inspect: { results: Array<{ n: number }> };
    ratelimit: { checks: Array<{ nsPerCheck: number }> };
    auth: { results: Array<{ n: number }> };
    detection: {
      cases: number;
      attacks: { labels: Array<{ key: string; n: number }> };
      benign: { labels: Array<{ key: string; n: number }> };
    };
  };
}

describe('sentinel bench --quick', () => {
  // Made in the hook, not here: a run filtered to other tests must not leave an empty dir behind.
  let dir = '';
  let result: { code: number; stdout: string; stderr: string };
  let bench: BenchFile;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-test-'));
    const out = join(dir, 'bench.json');
    await ensurePlatform();
    result = await runCli(['bench', '--quick', '--out', out]);
    assert.equal(result.code, 0, `bench exited ${result.code}:\n${result.stderr.slice(-3000)}`);
    bench = JSON.parse(readFileSync(out, 'utf8')) as BenchFile;
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

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
    for (const stage of ['ingest', 'processors', 'bridge', 'forensics', 'kafka', 'mosquitto']) {
      assert.ok((bench.scenarios.pipeline.eventsPerCpuSecond[stage] ?? 0) > 0, `${stage}: a per-stage cost`);
    }
    assert.ok(bench.scenarios.pipeline.throughput.every((t) => t.steps.length > 0));
  });

  it('relays the same rates through a bare two-hop Kafka relay (the floor), and counts every message', () => {
    const floor = bench.scenarios.floor;
    assert.deepEqual(
      floor.latency.map((s) => s.rate),
      [100, 1000],
    );
    for (const step of floor.latency) {
      assert.equal(step.sent, step.rate * 3, `floor ${step.rate}/s: 3 s of messages sent`);
      assert.equal(step.delivered, step.sent, `floor ${step.rate}/s: every message arrived`);
      assert.equal(step.latency.count, step.delivered);
      assert.ok(step.cpuMsPerMessage > 0, 'CPU of the relay and the brokers per message');
      // Read from the brokers' JMX exporters before and after the step: cold or warm, it is said.
      assert.ok(
        typeof step.brokersJitSeconds === 'number' && step.brokersJitSeconds >= 0,
        `floor ${step.rate}/s: brokers' JIT seconds ${step.brokersJitSeconds}`,
      );
    }
    assert.ok(floor.throughput.steps.length > 0);
    assert.equal(floor.relay.relayFailed, 0);
    const sentinel = bench.scenarios.pipeline.latency.filter((s) => s.target === 'sentinel');
    assert.ok(
      sentinel.every((s) => s.cpuMsPerMessage > 0),
      'pipeline CPU per message, every stage',
    );
    assert.ok(
      sentinel.every((s) => typeof s.brokersJitSeconds === 'number' && s.brokersJitSeconds >= 0),
      "the brokers' JIT seconds of every pipeline step",
    );
    assert.ok(
      bench.scenarios.pipeline.latency
        .filter((s) => s.target === 'direct')
        .every((s) => s.brokersJitSeconds === null),
      'no brokers behind plain Mosquitto',
    );
  });

  it('prints floor, pipeline and Mosquitto in one table with the pipeline / floor ratio', () => {
    assert.deepEqual(bench.comparison.header, [
      'rate msg/s',
      'floor P50 / P99 ms',
      'pipeline P50 / P99 ms',
      'pipeline P99 / floor P99',
      'Mosquitto P50 / P99 ms',
    ]);
    const byFigure = new Map(bench.comparison.rows.map((row) => [row[0], row]));
    for (const rate of ['100', '1,000']) {
      const row = byFigure.get(rate);
      assert.ok(row, `a row for ${rate}/s`);
      assert.match(row[3] ?? '', /^\d+\.\d+x$/, 'a pipeline / floor ratio');
      assert.match(row[4] ?? '', /^[\d.]+ \/ [\d.]+$/, 'Mosquitto P50 / P99');
    }
    assert.ok([...byFigure.keys()].some((f) => /^sustained msg\/s/.test(f ?? '')));
    assert.ok([...byFigure.keys()].some((f) => /^CPU ms per delivered message at 1,000\/s/.test(f ?? '')));
    assert.match(result.stdout, /floor P50 \/ P99 ms\s+pipeline P50 \/ P99 ms/);
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
      // The edge's own accept -> CONNACK, from its histogram, is reported for every phase.
      const edgeP99 = a.edgeConnackMs.p99;
      assert.ok(
        edgeP99 !== null && Number.isFinite(edgeP99) && edgeP99 > 0,
        `${a.cache}: edge accept -> CONNACK`,
      );
      // And what the kernel dropped before the edge saw a CONNECT (machine-wide, so only reported).
      assert.ok(
        Number.isInteger(a.listenOverflows) && a.listenOverflows >= 0,
        `${a.cache}: handshakes dropped at a full accept queue: ${a.listenOverflows}`,
      );
    }
    for (const m of bench.scenarios.connections.mosquitto)
      assert.equal(m.accepted, m.attempted, `plain Mosquitto at ${m.rate}/s: every CONNECT accepted`);
    assert.equal(idle.opened, idle.target);
    assert.equal(idle.stillOpenAfterQuiet, idle.target);
    assert.equal(idle.edgeConnectionsActive, idle.target, 'the edge counts the same connections');
    // Measured on an edge started for the idle sessions: it can only have grown by holding them.
    assert.ok(idle.bytesPerConnectionFromEmpty > 0, `${idle.bytesPerConnectionFromEmpty} B per connection`);
  });

  it('judges every case of the held-out detection set, attacks and benign apart', () => {
    const { cases, attacks, benign } = bench.scenarios.detection;
    const counted = [...attacks.labels, ...benign.labels].reduce((sum, l) => sum + l.n, 0);
    assert.equal(counted, cases, 'every case counted under its label');
    assert.deepEqual(
      benign.labels.map((l) => l.key),
      ['benign-iot', 'benign-text'],
    );
  });

  it('measures origin -> device through Sentinel beside the plain fan-out, every message delivered', () => {
    const runs = bench.scenarios.downlink.runs;
    assert.deepEqual(runs.map((r) => `${r.target}/${r.qos}`).sort(), [
      'direct/0',
      'direct/1',
      'sentinel/0',
      'sentinel/1',
    ]);
    for (const run of runs) assert.equal(run.delivered, run.sent, `${run.target} QoS ${run.qos}`);
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

/**
 * A bench that fails, or is stopped, leaves nothing behind: no process it started, no topic,
 * consumer group, registry subject, device database, Redis key or temp dir of its run. The failure
 * is provoked cheaply: SENTINEL_BENCH_TEST_FAIL_AT makes a scenario throw right after it started
 * everything, and a signal stops one that is running.
 */
describe('sentinel bench after a failure', () => {
  let platform: StackConfig;
  before(async () => {
    platform = await ensurePlatform();
  });

  /** The CLI as a user runs it, with every process below it noted (pid -> command line) while it runs. */
  function watchedCli(args: readonly string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const seen = new Map<number, string>();
    const platformPids = new Set(Object.values(platformProcesses(platform.stateDir)).flat());
    const noteOne = (pid: number) => {
      if (pid > 0 && pid !== child.pid && !platformPids.has(pid) && !seen.has(pid) && isAlive(pid))
        seen.set(pid, commandLine(pid));
    };
    // Every process below the CLI, and every pid its output names as started by the run.
    const note = () => {
      for (const pid of processTree(child.pid!)) noteOne(pid);
      for (const match of output.matchAll(/\bpids? (\d+(?:, \d+)*)/g))
        for (const pid of match[1]!.split(', ')) noteOne(Number(pid));
    };
    const timer = setInterval(note, 100);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      note();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = once(child, 'exit').then(([code, signal]) => {
      clearInterval(timer);
      return { code: code as number | null, signal: signal as NodeJS.Signals | null };
    });
    return {
      child,
      exited,
      seen,
      output: () => output,
      /** Resolves once the output matches `pattern`; rejects if the CLI exits first. */
      waitFor(pattern: RegExp): Promise<void> {
        return new Promise((resolve, reject) => {
          const check = () => {
            if (!pattern.test(output)) return;
            child.stdout.off('data', check);
            child.stderr.off('data', check);
            resolve();
          };
          child.stdout.on('data', check);
          child.stderr.on('data', check);
          void exited.then(() =>
            reject(new Error(`exited before printing ${pattern}:\n${output.slice(-3000)}`)),
          );
          check();
        });
      },
    };
  }

  /** Processes noted while the CLI ran that still run the same command. */
  function leftRunning(run: ReturnType<typeof watchedCli>): string[] {
    return [...run.seen]
      .filter(([pid, command]) => isAlive(pid) && commandLine(pid) === command)
      .map(([pid, command]) => `${pid} ${command}`);
  }

  async function leftInServices(id: string): Promise<string[]> {
    const left: string[] = [];
    const admin = testKafka(platform).admin();
    await admin.connect();
    try {
      left.push(...(await admin.listTopics()).filter((t) => t.startsWith(id)).map((t) => `topic ${t}`));
      left.push(
        ...(await admin.listGroups()).groups
          .filter((g) => g.groupId.startsWith(id))
          .map((g) => `group ${g.groupId}`),
      );
    } finally {
      await admin.disconnect();
    }
    const subjects = (await (await fetch(`${registryUrl(platform)}/subjects`)).json()) as string[];
    left.push(...subjects.filter((s) => s.startsWith(id)).map((s) => `subject ${s}`));
    const db = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
    try {
      const [rows] = await db.query('SHOW DATABASES LIKE ?', [id]);
      left.push(...(rows as unknown[]).map(() => `database ${id}`));
    } finally {
      await db.end();
    }
    const redis = new Redis(platform.redisUrl);
    try {
      const keys = await keysWithPrefix(redis, `${id}:`);
      left.push(...keys.map((k) => `redis key ${k}`));
    } finally {
      redis.disconnect();
    }
    return left;
  }

  it('a pipeline run that fails after starting everything stops its services and removes its topics, groups, database, keys and store', async () => {
    const run = watchedCli(
      [
        'bench',
        '--only',
        'pipeline',
        '--quick',
        '--targets',
        'sentinel',
        '--out',
        join(tmpdir(), 'never.json'),
      ],
      {
        SENTINEL_BENCH_TEST_FAIL_AT: 'pipeline-sentinel-started',
      },
    );
    const { code } = await run.exited;
    const output = run.output();
    assert.notEqual(code, 0, 'the run fails');
    assert.match(output, /failing at "pipeline-sentinel-started"/);
    assert.match(output, /sentinel: started for this run/, 'it says what it started');
    assert.match(output, /limits: latency at 100, 1000 msg\/s/, 'and with which limits');
    const id = /topics (bench_pipeline_\w+)\./.exec(output)?.[1];
    assert.ok(id, `the run's id in:\n${output.slice(-2000)}`);
    const store = /embedded ClickHouse in (\S+?)\)/.exec(output)?.[1];
    assert.ok(store && !existsSync(store), `the forensic store ${store} is removed`);
    assert.ok(run.seen.size >= 7, `services and load processes were seen running: ${run.seen.size}`);
    assert.deepEqual(leftRunning(run), []);
    assert.deepEqual(await leftInServices(id), []);
  });

  it('a floor run stopped with SIGINT, as Ctrl-C does, stops its relay processes and deletes its topics and groups', async () => {
    const run = watchedCli(['bench', '--only', 'floor', '--quick', '--out', join(tmpdir(), 'never.json')]);
    await run.waitFor(/floor: started for this run/);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    const output = run.output();
    assert.notEqual(code, 0);
    assert.match(output, /bench: SIGINT: stopping the running scenario/);
    assert.match(output, /floor: terminated \(SIGTERM\); stopping and removing what it started/);
    const id = /topic (bench_floor_\w+)\.a/.exec(output)?.[1];
    assert.ok(id);
    assert.ok(run.seen.size >= 4, `scenario and its three hops were seen: ${run.seen.size}`);
    assert.deepEqual(leftRunning(run), []);
    assert.deepEqual(await leftInServices(id), []);
  });
});
