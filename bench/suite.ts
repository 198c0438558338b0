import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka } from '../lib/kafka/client.js';
import { createTopics, describeTopics, topicNames, topicRetentionMs } from '../lib/kafka/topics.js';
import { kafkaBootstrap, projectRoot, type StackConfig } from '../lib/local-platform.js';
import { stackDown, stackUp } from '../platform/stack.js';
import type { DownlinkRun } from './downlink.bench.js';
import type { LatencySummary } from './lib/histogram.js';
import { describeMachine } from './lib/machine.js';
import { formatTable, writeJsonResult } from './lib/output.js';

/**
 * `sentinel bench`: every scenario in a process of its own (each starts its own load processes),
 * one after another so they do not share the two cores; then one table of the figures that answer
 * the seed's performance table, each beside the plain-Mosquitto figure where there is one, and the
 * JSON of everything under bench/results/.
 */
export const scenarioNames = [
  'parse',
  'inspect',
  'ratelimit',
  'auth',
  'connections',
  'floor',
  'pipeline',
  'downlink',
  'detection',
] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export interface SuiteOptions {
  readonly quick: boolean;
  readonly only: readonly ScenarioName[];
  readonly out: string;
  readonly keepPlatform: boolean;
  /** Extra flags for one scenario, e.g. pipeline: ['--targets', 'sentinel']. */
  readonly scenarioFlags: Partial<Record<ScenarioName, readonly string[]>>;
}

/**
 * The scenario running now, so that a signal to the suite reaches it. A scenario runs in a process
 * group of its own: the terminal's Ctrl-C goes to the suite only, which asks the scenario to stop
 * (SIGTERM: it stops what it started and removes what it created), and whatever is still in the
 * scenario's group once it exited is killed by the group's id.
 */
interface Running {
  child: ChildProcess | null;
  interrupted: NodeJS.Signals | null;
}

/** How long a scenario may take to stop and clean up after SIGTERM before its group is killed. */
const stopGraceMs = 120_000;

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: nobody left in the group
  }
}

async function runScenario(
  name: ScenarioName,
  options: SuiteOptions,
  dir: string,
  running: Running,
): Promise<unknown> {
  if (running.interrupted) throw new Error(`bench: interrupted (${running.interrupted}) before ${name}`);
  const json = join(dir, `${name}.json`);
  const args = [
    join(projectRoot, 'dist', 'bench', `${name}.bench.js`),
    '--json',
    json,
    ...(options.quick ? ['--quick'] : []),
    ...(options.scenarioFlags[name] ?? []),
  ];
  console.log(`\n== ${name}${options.quick ? ' (quick)' : ''}`);
  const started = Date.now();
  // The IPC channel tells the scenario when the suite is gone (even killed), so it cleans up then too.
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  running.child = child;
  const [code] = (await once(child, 'exit')) as [number | null];
  running.child = null;
  if (child.pid !== undefined && killGroup(child.pid, 'SIGKILL'))
    console.error(`bench ${name}: killed the processes it left in its process group ${child.pid}`);
  if (running.interrupted) throw new Error(`bench: interrupted (${running.interrupted}) during ${name}`);
  if (code !== 0 || !existsSync(json))
    throw new Error(`bench ${name} failed (exit ${code}); see its output above`);
  console.log(`== ${name}: ${Math.round((Date.now() - started) / 1000)} s`);
  return JSON.parse(readFileSync(json, 'utf8'));
}

async function verifyRetention(platform: StackConfig) {
  const kafka = createKafka({ brokers: kafkaBootstrap(platform), clientId: 'sentinel-bench' });
  const admin = kafka.admin();
  await admin.connect();
  const names = topicNames(`bench_retention_${Date.now().toString(36)}.`);
  try {
    await createTopics(admin, [names.packets], 3);
    const [description] = await describeTopics(admin, [names.packets]);
    return {
      topic: 'sentinel.packets contract, created and read back from the cluster',
      retentionHours: Number(description!.configs['retention.ms']) / 3_600_000,
      replicationFactor: description!.replicationFactor,
      minInsyncReplicas: Number(description!.configs['min.insync.replicas']),
      expectedRetentionHours: topicRetentionMs / 3_600_000,
    };
  } finally {
    await admin.deleteTopics({ topics: [names.packets] }).catch(() => undefined);
    await admin.disconnect();
  }
}

interface PipelineStep {
  target: string;
  rate: number;
  sent: number;
  delivered: number;
  latency: LatencySummary;
  cpuMsPerMessage?: number;
  brokersJitSeconds?: number | null;
}
interface PipelineResult {
  latency: PipelineStep[];
  throughput: Array<{
    target: string;
    qos: number;
    payloadBytes: number;
    highestSustained: number | null;
    limitedBy: string;
  }>;
  eventsPerCpuSecond: Record<string, number>;
}
interface FloorResult {
  latency: Array<{
    rate: number;
    sent: number;
    delivered: number;
    latency: LatencySummary;
    cpuMsPerMessage: number;
    brokersJitSeconds?: number | null;
  }>;
  throughput: { highestSustained: number | null; limitedBy: string };
}
interface ConnectionsResult {
  auth: Array<{
    cache: string;
    achievedPerSecond: number;
    rate: number;
    accepted: number;
    attempted: number;
    connack: LatencySummary;
    serverCpuMsPerConnect?: number;
    edgeAuthDecisionMs: { p50: number | null; p99: number | null };
    /** Absent in results of older runs. */
    edgeConnackMs?: { p50: number | null; p99: number | null };
    /** Handshake packets dropped at a full accept queue during the phase; absent in results of older runs. */
    listenOverflows?: number;
    /** CONNECTs answered with a refusing CONNACK, and with no answer; absent in results of older runs. */
    refused?: number;
    unanswered?: number;
  }>;
  /** The same CONNECT rates against a plain Mosquitto; absent in results of older runs. */
  mosquitto?: Array<{
    rate: number;
    accepted: number;
    attempted: number;
    achievedPerSecond: number;
    connack: LatencySummary;
    serverCpuMsPerConnect?: number;
  }>;
  idle: {
    opened: number;
    target: number;
    stillOpenAfterQuiet: number;
    bytesPerConnection: number;
    /** Absent in results of older runs. */
    bytesPerConnectionFromEmpty?: number;
    connectPerSecond: number;
    edgeWorkers: number;
  };
}

interface DetectionRow {
  key: string;
  n: number;
  rate: number;
  ci95: { lower: number; upper: number };
}

interface DetectionResult {
  attacks: { labels: DetectionRow[] };
  benign: { labels: DetectionRow[] };
}

type Row = [string, string, string, string, string, string];

const fmt = (n: number | null | undefined, unit = '') =>
  n === null || n === undefined || !Number.isFinite(n) ? '—' : `${n.toLocaleString('en-US')}${unit}`;
const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a && b && Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}x` : '—';

export const comparisonHeader = [
  'rate msg/s',
  'floor P50 / P99 ms',
  'pipeline P50 / P99 ms',
  'pipeline P99 / floor P99',
  'Mosquitto P50 / P99 ms',
] as const;
type ComparisonRow = [string, string, string, string, string];

/**
 * Issue 13's table: the pipeline (device -> origin through Sentinel) beside the floor (a bare
 * two-hop Kafka relay on the same brokers, same client settings) and plain Mosquitto, all from
 * this one run; then the sustained rates and the CPU per delivered message. Empty when neither the
 * floor nor the pipeline ran.
 */
export function comparisonRows(results: Partial<Record<ScenarioName, unknown>>): ComparisonRow[] {
  const floor = results.floor as FloorResult | undefined;
  const pipeline = results.pipeline as PipelineResult | undefined;
  if (!floor && !pipeline) return [];
  const pair = (l: { latency: LatencySummary; sent: number; delivered: number } | undefined) =>
    l
      ? `${fmt(l.latency.p50Ms)} / ${fmt(l.latency.p99Ms)}${l.delivered < l.sent ? ` (${l.delivered}/${l.sent})` : ''}`
      : '—';
  const at = (target: string, rate: number) =>
    pipeline?.latency.find((s) => s.target === target && s.rate === rate);
  const rates = [
    ...new Set([...(floor?.latency ?? []), ...(pipeline?.latency ?? [])].map((s) => s.rate)),
  ].sort((a, b) => a - b);
  const rows: ComparisonRow[] = rates.map((rate) => {
    const f = floor?.latency.find((s) => s.rate === rate);
    const p = at('sentinel', rate);
    return [
      rate.toLocaleString('en-US'),
      pair(f),
      pair(p),
      ratio(p?.latency.p99Ms, f?.latency.p99Ms),
      pair(at('direct', rate)),
    ];
  });
  const sustained = (target: string) =>
    pipeline?.throughput.find((t) => t.target === target && t.qos === 1 && t.payloadBytes === 100);
  const p = sustained('sentinel');
  const d = sustained('direct');
  rows.push([
    'sustained msg/s, QoS 1, 100 B (nothing lost, P99 <= 1 s)',
    floor ? `${fmt(floor.throughput.highestSustained)} (next: ${floor.throughput.limitedBy})` : '—',
    p ? `${fmt(p.highestSustained)} (next: ${p.limitedBy})` : '—',
    ratio(p?.highestSustained, floor?.throughput.highestSustained),
    d ? `${fmt(d.highestSustained)} (next: ${d.limitedBy})` : '—',
  ]);
  for (const rate of rates) {
    const f = floor?.latency.find((s) => s.rate === rate)?.cpuMsPerMessage;
    const s = at('sentinel', rate)?.cpuMsPerMessage;
    rows.push([
      `CPU ms per delivered message at ${rate.toLocaleString('en-US')}/s (floor: relay + brokers; pipeline: every stage + brokers)`,
      fmt(f),
      fmt(s),
      ratio(s, f),
      fmt(at('direct', rate)?.cpuMsPerMessage),
    ]);
  }
  for (const rate of rates) {
    const f = floor?.latency.find((s) => s.rate === rate)?.brokersJitSeconds;
    const s = at('sentinel', rate)?.brokersJitSeconds;
    // Results written before the benches read it have neither.
    if (typeof f !== 'number' && typeof s !== 'number') continue;
    rows.push([
      `brokers' JIT seconds during the ${rate.toLocaleString('en-US')}/s step (more than a few: the brokers were still compiling, and the step measured that, not warm brokers)`,
      fmt(f),
      fmt(s),
      '—',
      '—',
    ]);
  }
  return rows;
}

/** The table the seed's performance section asks for, from whatever scenarios ran. */
export function summaryRows(
  results: Partial<Record<ScenarioName, unknown>>,
  retention: Awaited<ReturnType<typeof verifyRetention>> | null,
): Row[] {
  const rows: Row[] = [];
  const pipeline = results.pipeline as PipelineResult | undefined;
  if (pipeline) {
    const sustained = (target: string, qos: number, bytes: number) =>
      pipeline.throughput.find((t) => t.target === target && t.qos === qos && t.payloadBytes === bytes);
    for (const cell of pipeline.throughput.filter((t) => t.target === 'sentinel')) {
      const direct = sustained('direct', cell.qos, cell.payloadBytes);
      rows.push([
        `sustained msg/s, QoS ${cell.qos}, ${cell.payloadBytes} B (no loss, P99 bounded)`,
        `${fmt(cell.highestSustained)} (next: ${cell.limitedBy})`,
        direct ? `${fmt(direct.highestSustained)}` : '—',
        ratio(cell.highestSustained, direct?.highestSustained),
        '600 msg/s',
        '>= 10,000 msg/s',
      ]);
    }
    for (const step of pipeline.latency.filter((s) => s.target === 'sentinel')) {
      const direct = pipeline.latency.find((s) => s.target === 'direct' && s.rate === step.rate);
      rows.push([
        `device -> origin at ${step.rate.toLocaleString('en-US')}/s, P50 / P99 / max ms (${step.delivered}/${step.sent})`,
        `${fmt(step.latency.p50Ms)} / ${fmt(step.latency.p99Ms)} / ${fmt(step.latency.maxMs)}`,
        direct
          ? `${fmt(direct.latency.p50Ms)} / ${fmt(direct.latency.p99Ms)} / ${fmt(direct.latency.maxMs)}`
          : '—',
        ratio(step.latency.p99Ms, direct?.latency.p99Ms),
        'P99 < 50 ms',
        step.rate === 1000 ? 'P99 < 20 ms' : '—',
      ]);
    }
    const cost = pipeline.eventsPerCpuSecond;
    rows.push([
      'events per CPU-second: ingest / processors / bridge / forensics sink / 3 Kafka brokers / origin',
      `${fmt(cost.ingest)} / ${fmt(cost.processors)} / ${fmt(cost.bridge)} / ${fmt(cost.forensics)} / ${fmt(cost.kafka)} / ${fmt(cost.origin)}`,
      `${fmt(cost.mosquitto)} (Mosquitto)`,
      '—',
      '—',
      '—',
    ]);
  }
  const downlink = results.downlink as
    | { runs: DownlinkRun[]; settings: { rate: number; payloadBytes: number } }
    | undefined;
  if (downlink) {
    for (const run of downlink.runs.filter((r) => r.target === 'sentinel')) {
      const direct = downlink.runs.find((r) => r.target === 'direct' && r.qos === run.qos);
      const cell = (r: DownlinkRun) => `${fmt(r.p50Ms)} / ${fmt(r.p99Ms)} (${r.delivered}/${r.sent})`;
      rows.push([
        `origin -> device at ${downlink.settings.rate}/s, ${downlink.settings.payloadBytes} B, QoS ${run.qos}: P50 / P99 ms (delivered)`,
        cell(run),
        direct ? cell(direct) : '—',
        ratio(run.p99Ms, direct?.p99Ms),
        '—',
        'every message delivered',
      ]);
    }
  }
  const detection = results.detection as DetectionResult | undefined;
  if (detection) {
    const percent = (x: number) => `${(x * 100).toFixed(1)} %`;
    const interval = (r: DetectionRow) => `[${percent(r.ci95.lower)}, ${percent(r.ci95.upper)}]`;
    for (const r of detection.attacks.labels)
      rows.push([
        `detection on the held-out set: ${r.key} (n=${r.n}), 95 % interval`,
        `${percent(r.rate)} ${interval(r)}`,
        '—',
        '—',
        '—',
        '>= 99 %',
      ]);
    for (const r of detection.benign.labels)
      rows.push([
        `false positives on the held-out set: ${r.key} (n=${r.n}), 95 % interval`,
        `${percent(r.rate)} ${interval(r)}`,
        '—',
        '—',
        '—',
        r.key === 'benign-iot' ? '<= 0.1 %' : '<= 1 %',
      ]);
  }
  const connections = results.connections as ConnectionsResult | undefined;
  if (connections) {
    for (const a of connections.auth) {
      const plain = a.cache === 'hit' ? connections.mosquitto?.find((m) => m.rate === a.rate) : undefined;
      rows.push([
        `CONNECT at ${a.rate}/s, cache ${a.cache}: CONNACK P50 / P99 ms (edge decision P99; edge accept -> CONNACK P99), accepted (refused with a CONNACK, unanswered), achieved/s, server CPU ms per CONNECT, accept-queue overflows`,
        `${fmt(a.connack.p50Ms)} / ${fmt(a.connack.p99Ms)} (${fmt(a.edgeAuthDecisionMs.p99)}; ${fmt(a.edgeConnackMs?.p99 ?? null)}), ${a.accepted}/${a.attempted} (${fmt(a.refused ?? null)}, ${fmt(a.unanswered ?? null)}), ${fmt(a.achievedPerSecond)}/s, ${fmt(a.serverCpuMsPerConnect)}, ${fmt(a.listenOverflows ?? null)}`,
        plain
          ? `${fmt(plain.connack.p50Ms)} / ${fmt(plain.connack.p99Ms)}, ${plain.accepted}/${plain.attempted}, ${fmt(plain.achievedPerSecond)}/s, ${fmt(plain.serverCpuMsPerConnect)}`
          : '—',
        plain ? `${ratio(a.connack.p99Ms, plain.connack.p99Ms)} (P99)` : '—',
        'P99 < 10 ms',
        a.cache === 'hit' ? 'P99 < 2 ms' : 'P99 < 10 ms',
      ]);
    }
    const idle = connections.idle;
    rows.push([
      `idle connections held (${idle.edgeWorkers} edge workers, started for them), bytes each (from empty; second half), CONNECT/s`,
      `${fmt(idle.stillOpenAfterQuiet)}/${fmt(idle.target)}, ${fmt(idle.bytesPerConnectionFromEmpty)} B; ${fmt(idle.bytesPerConnection)} B, ${fmt(idle.connectPerSecond)}/s`,
      '—',
      '—',
      '1,000,000+ across the fleet',
      '>= 100,000, <= 8 KB each',
    ]);
  }
  const parse = results.parse as { results: Array<{ qos: number; packetsPerSecond: number }> } | undefined;
  if (parse) {
    rows.push([
      'frame + parse + validate PUBLISH 100 B, one core (QoS 0 / 1)',
      parse.results.map((r) => fmt(r.packetsPerSecond)).join(' / '),
      '—',
      '—',
      '—',
      '—',
    ]);
  }
  const inspect = results.inspect as
    | { results: Array<{ set: string; p50Us: number; p99Us: number; worstUs: number }> }
    | undefined;
  if (inspect) {
    const benign = inspect.results.find((r) => r.set.startsWith('benign'));
    const worst = Math.max(...inspect.results.map((r) => r.worstUs));
    rows.push([
      'inspection per message: benign P50 / P99 µs, worst adversarial µs',
      `${fmt(benign?.p50Us)} / ${fmt(benign?.p99Us)}, ${fmt(worst)}`,
      '—',
      '—',
      '—',
      'bounded',
    ]);
  }
  const auth = results.auth as { results: Array<{ case: string; p50Ms: number; p99Ms: number }> } | undefined;
  if (auth) {
    for (const r of auth.results.filter(
      (x) => x.case === 'cache hit (allow)' || x.case === 'cache miss, allow',
    )) {
      rows.push([
        `auth, one at a time: ${r.case}, P50 / P99 ms`,
        `${fmt(r.p50Ms)} / ${fmt(r.p99Ms)}`,
        '—',
        '—',
        'P99 < 10 ms',
        '—',
      ]);
    }
  }
  if (retention) {
    rows.push([
      'retention, replication, min ISR (from the cluster)',
      `${retention.retentionHours} h, RF ${retention.replicationFactor}, min ISR ${retention.minInsyncReplicas}`,
      '—',
      '—',
      '72 h, 3x replication',
      '72 h, RF 3, min ISR 2',
    ]);
  }
  return rows;
}

export async function runSuite(
  platform: StackConfig,
  options: SuiteOptions,
): Promise<{ file: string; rows: Row[] }> {
  const running: Running = { child: null, interrupted: null };
  const onSignal = (signal: NodeJS.Signals) => {
    if (running.interrupted) {
      console.error(`bench: ${signal}: still stopping`);
      return;
    }
    running.interrupted = signal;
    const child = running.child;
    console.error(`bench: ${signal}: stopping the running scenario and everything it started`);
    if (!child?.pid) return;
    child.kill('SIGTERM');
    const pgid = child.pid;
    setTimeout(() => {
      if (running.child === child && killGroup(pgid, 'SIGKILL'))
        console.error(
          `bench: the scenario did not stop within ${stopGraceMs / 1000} s; killed its process group`,
        );
    }, stopGraceMs).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Stops again only what it started: a platform that was running stays running.
  let startedComponents: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-'));
  const started = Date.now();
  const results: Partial<Record<ScenarioName, unknown>> = {};
  const durations: Partial<Record<ScenarioName, number>> = {};
  try {
    startedComponents = (await stackUp(platform, (line) => console.log(line))).started;
    console.log(
      startedComponents.length > 0
        ? `bench: started platform components ${startedComponents.join(', ')}; ${options.keepPlatform ? 'left running at the end (--keep)' : 'stopped at the end, also on a failure or Ctrl-C'}`
        : 'bench: the platform was running already; this run starts and stops none of it',
    );
    const machine = describeMachine(platform);
    for (const name of options.only) {
      const scenarioStarted = Date.now();
      results[name] = await runScenario(name, options, dir, running);
      durations[name] = Math.round((Date.now() - scenarioStarted) / 1000);
    }
    const retention = await verifyRetention(platform);
    const rows = summaryRows(results, retention);
    const header = [
      'figure',
      'through Sentinel',
      'direct Mosquitto',
      'Sentinel / direct',
      'seed target',
      'our goal',
    ];
    console.log(`\n${formatTable(header, rows)}`);
    const comparison = comparisonRows(results);
    if (comparison.length > 0) console.log(`\n${formatTable(comparisonHeader, comparison)}`);
    writeJsonResult(options.out, {
      suite: 'sentinel bench',
      at: new Date().toISOString(),
      quick: options.quick,
      seconds: Math.round((Date.now() - started) / 1000),
      scenarioSeconds: durations,
      machine,
      summary: { header, rows },
      comparison: { header: comparisonHeader, rows: comparison },
      scenarios: results,
      retention,
    });
    console.log(`\nbench: ${Math.round((Date.now() - started) / 1000)} s; results in ${options.out}`);
    return { file: options.out, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (startedComponents.length > 0 && !options.keepPlatform) {
      await stackDown(platform, (line) => console.log(line), new Set(startedComponents));
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (running.interrupted) process.exitCode = running.interrupted === 'SIGINT' ? 130 : 143;
  }
}
