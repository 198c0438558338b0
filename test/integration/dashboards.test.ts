import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { type RunningBridge, startBridge } from '../../bridge/main.js';
import { loadBridgeConfig } from '../../bridge/settings.js';
import type { RunningIngest } from '../../ingest/main.js';
import { loadConfig } from '../../lib/config.js';
import { kafkaBootstrap, originCredentials, projectRoot, registryUrl } from '../../lib/local-platform.js';
import { createLogger } from '../../lib/log.js';
import { mqttConnectAccepted } from '../../platform/origin.js';
import { freePort, stopProcess } from '../../platform/processes.js';
import {
  type PrometheusInstance,
  prometheusDeployDir,
  prometheusProcess,
  renderPrometheusConfig,
  stackTargets,
  startPrometheusInstance,
} from '../../platform/prometheus.js';
import { type ProcessorsService, startProcessors } from '../../processors/main.js';
import { processorsSchema } from '../../processors/settings.js';
import { EdgeTestWorld, listenerPort } from '../helpers/edge.js';
import { uniqueName } from '../helpers/platform.js';

/**
 * The MQTT Security Dashboard against the real platform. Its structure is checked first (no services
 * needed); then every PromQL expression of every panel is evaluated by a real Prometheus, running
 * deploy/prometheus/prometheus.yml re-targeted at services this test starts on free ports, while
 * good and bad traffic flows through a real edge. A panel whose query returns nothing fails by name.
 */
interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly datasource?: { readonly type: string; readonly uid: string };
}

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: { readonly type: string; readonly uid: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}

interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly type: string }> };
}

/** Grafana's variable reference, not a template literal. */
const datasourceVariable = ['$', '{datasource}'].join('');
const dashboardFile = join(projectRoot, 'dashboards', 'mqtt-security.json');
const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = allPanels.filter((p) => p.type !== 'row');

/** The seed's "MQTT Security Dashboard", section by section: title and type of every panel. */
const seedPanels: ReadonlyArray<readonly [section: string, title: string, type: string]> = [
  ['Overview', 'Connection Rate', 'stat'],
  ['Overview', 'Active Proxy Connections', 'stat'],
  ['Overview', 'Active MQTT Sessions', 'stat'],
  ['Overview', 'Auth Success Rate', 'gauge'],
  ['Overview', 'Rate Limit Rejection %', 'gauge'],
  ['Rate Limiting', 'Rate Limits by Type', 'timeseries'],
  ['Rate Limiting', 'Rejections by Type', 'timeseries'],
  ['Authentication', 'Auth Requests by Result', 'timeseries'],
  ['Authentication', 'Auth Latency (P50/P95/P99)', 'timeseries'],
  ['Proxy Latency', 'Preread Phase Latency', 'timeseries'],
  ['Proxy Latency', 'Upstream Broker Connect Latency', 'timeseries'],
  ['Proxy Latency', 'Packet Forward Latency by Direction', 'timeseries'],
  ['Proxy Latency', 'End-to-End Connection Setup Latency', 'timeseries'],
  ['Connections', 'Connections Opened/Rejected', 'timeseries'],
  ['Connections', 'Rejection Reasons', 'piechart'],
  ['MQTT Packets', 'Packets/sec by Type', 'timeseries'],
  ['MQTT Packets', 'Bytes/sec by Type', 'timeseries'],
  ['MQTT Packets', 'Inbound vs Outbound', 'timeseries'],
  ['Broker', 'Message Throughput', 'timeseries'],
  ['Broker', 'Broker JVM Heap', 'timeseries'],
  ['Infrastructure Health', 'Service Health', 'stat'],
  ['Infrastructure Health', 'Cache Clients', 'timeseries'],
  ['Infrastructure Health', 'Message Bus Throughput', 'timeseries'],
];

/** What the issue adds for the pipeline. */
const pipelinePanels = [
  'Inspection Findings by Class',
  'Inspection Findings by Rule',
  'Verdicts by Decision',
  'Processor Lag per Partition',
  'Bridge Lag per Partition',
  'Delivery Latency (P50/P95/P99)',
  'Forensics Sink Throughput',
];

/** The section a panel sits in: the last row above it. */
function sectionOf(panel: Panel): string | undefined {
  const rows = dashboard.panels.filter((p) => p.type === 'row' && p.gridPos.y <= panel.gridPos.y);
  return rows.sort((a, b) => b.gridPos.y - a.gridPos.y)[0]?.title;
}

describe('the MQTT Security Dashboard JSON', () => {
  it('is a current-schema dashboard with a Prometheus datasource variable', () => {
    assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
    assert.equal(dashboard.uid, 'mqtt-sentinel-security');
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
  });

  it('has unique panel ids', () => {
    const ids = allPanels.map((p) => p.id);
    assert.deepEqual(
      ids.filter((id, i) => ids.indexOf(id) !== i),
      [],
    );
  });

  it('gives every panel the datasource variable and at least one query', () => {
    for (const panel of queryPanels) {
      assert.equal(panel.datasource?.uid, datasourceVariable, `${panel.title}: datasource`);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title}: at least one target`);
      for (const target of panel.targets ?? []) {
        assert.ok(target.expr.trim().length > 0, `${panel.title} ${target.refId}: an expression`);
        assert.equal(
          target.datasource?.uid,
          datasourceVariable,
          `${panel.title} ${target.refId}: datasource`,
        );
      }
    }
  });

  it('lays panels on the 24-column grid without overlaps', () => {
    for (const panel of allPanels) {
      const { x, w } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${panel.title}: within 24 columns`);
    }
    for (const [i, a] of allPanels.entries()) {
      for (const b of allPanels.slice(i + 1)) {
        const apart =
          a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
          b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
          a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
          b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        assert.ok(apart, `"${a.title}" and "${b.title}" overlap`);
      }
    }
  });

  it("has every panel of the seed, by its title and type, in the seed's section", () => {
    for (const [section, title, type] of seedPanels) {
      const panel = queryPanels.find((p) => p.title === title);
      assert.ok(panel, `panel "${title}" is missing`);
      assert.equal(panel.type, type, `"${title}" is a ${type}`);
      assert.equal(sectionOf(panel), section, `"${title}" sits in the ${section} row`);
    }
  });

  it('has the pipeline panels the seed does not', () => {
    for (const title of pipelinePanels) {
      assert.ok(
        queryPanels.some((p) => p.title === title),
        `panel "${title}" is missing`,
      );
    }
  });

  it('never groups by or filters on a client id', () => {
    for (const panel of queryPanels) {
      for (const target of panel.targets ?? []) assert.doesNotMatch(target.expr, /client_?id/i, panel.title);
    }
  });
});

describe('Prometheus configuration and alert rules', () => {
  it('pass promtool check config and check rules', () => {
    for (const args of [
      ['check', 'config', join(prometheusDeployDir, 'prometheus.yml')],
      ['check', 'rules', join(prometheusDeployDir, 'alerts.yml')],
    ]) {
      const result = spawnSync('promtool', args, { encoding: 'utf8' });
      assert.equal(result.status, 0, `promtool ${args.join(' ')}: ${result.stdout}${result.stderr}`);
    }
  });
});

// --- Against the running platform ---------------------------------------------------------------

interface QueryResult {
  readonly status: string;
  readonly error?: string;
  readonly data?: { readonly result: readonly unknown[] };
}

interface AlertsResult {
  readonly data: {
    readonly alerts: ReadonlyArray<{ readonly labels: { alertname: string }; state: string }>;
  };
}

interface TargetsResult {
  readonly data: {
    readonly activeTargets: ReadonlyArray<{ labels: { job: string; instance: string }; health: string }>;
  };
}

const world = new EdgeTestWorld();
const password = 'dashboard-device-password';
const good = `dash-good-${world.id.slice(-6)}`;
const attacker = `dash-attack-${world.id.slice(-6)}`;
const flooder = `dash-flood-${world.id.slice(-6)}`;
const scratch = mkdtempSync(join(tmpdir(), 'sentinel-dashboards-'));
const log = createLogger({ name: 'dashboards-test', level: 'warn' });
const cleanups: Array<() => Promise<unknown>> = [];
/** Services this test could not start: their panels are skipped with the reason, never silently. */
const missing = new Map<string, string>();
let edge: RunningIngest;
let prometheus: PrometheusInstance;
let trickle: NodeJS.Timeout | undefined;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Grafana's macros, as Grafana would expand them for a 30-minute dashboard. */
function expand(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '30m');
}

async function instantQuery(port: number, expr: string): Promise<QueryResult> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await response.json()) as QueryResult;
}

/** The service a panel needs, when it is one this test may not have been able to start. */
function serviceOf(expr: string): string | undefined {
  if (expr.includes('sentinel_bridge_')) return 'bridge';
  if (expr.includes('sentinel_forensics_')) return 'forensics';
  return undefined;
}

async function describeTargets(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=active`);
  const { data } = (await response.json()) as TargetsResult;
  return data.activeTargets.map((tg) => `${tg.labels.job} ${tg.labels.instance} ${tg.health}`).join(', ');
}

function device(clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${listenerPort(edge, 'mqtt')}`, {
    clientId,
    username: clientId,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
}

/** Bytes no MQTT packet starts with: a remaining length of five bytes (MQTT 3.1.1 §2.2.3 allows four). */
function sendMalformed(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    });
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

/** `count` refused CONNECTs (unknown devices), `concurrency` at a time. */
async function authFailures(count: number, concurrency = 20): Promise<void> {
  const port = listenerPort(edge, 'mqtt');
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      const accepted = await mqttConnectAccepted(port, `intruder-${world.id.slice(-6)}`, 'wrong-password');
      assert.equal(accepted, false, 'an unknown device is refused');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function startForensicsSink(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), 'forensics-sink'], {
    env: {
      ...process.env,
      SENTINEL_KAFKA_BROKERS: kafkaBootstrap(world.platform).join(','),
      SENTINEL_REGISTRY_URL: registryUrl(world.platform),
      SENTINEL_TOPIC_PREFIX: world.topicPrefix,
      SENTINEL_CLICKHOUSE_URL: 'embedded',
      SENTINEL_CLICKHOUSE_PATH: join(scratch, 'clickhouse'),
      SENTINEL_FORENSICS_GROUP_ID: uniqueName('dash-forensics'),
      SENTINEL_FORENSICS_METRICS_PORT: String(port),
      SENTINEL_FORENSICS_QUERY_PORT: '0',
      SENTINEL_FORENSICS_BATCH_MAX_MS: '200',
      SENTINEL_FORENSICS_SESSION_TIMEOUT_MS: '6000',
      SENTINEL_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  await until(
    'the forensics sink to be ready',
    async () => {
      if (exited) throw new Error('exited');
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined;
    },
    60_000,
  );
  return child;
}

async function startServices(): Promise<Map<string, string>> {
  await world.setUp();
  for (const clientId of [good, attacker, flooder]) {
    await world.addDevice({
      clientId,
      username: clientId,
      password,
      publish: ['devices/%c/#'],
      subscribe: ['clients/%c/#'],
    });
  }
  // A low PUBLISH tier so that the flooder is limited while the others are not.
  edge = await world.startEdge({ SENTINEL_RATE_PUBLISH_PER_SECOND: '5', SENTINEL_RATE_PUBLISH_BURST: '20' });
  const processors: ProcessorsService = await startProcessors(
    loadConfig(processorsSchema, {
      env: {
        SENTINEL_KAFKA_BROKERS: kafkaBootstrap(world.platform).join(','),
        SENTINEL_REGISTRY_URL: registryUrl(world.platform),
        SENTINEL_TOPIC_PREFIX: world.topicPrefix,
        SENTINEL_PROCESSORS_GROUP_ID: uniqueName('dash-processors'),
        SENTINEL_PROCESSORS_METRICS_PORT: '0',
      },
    }),
    { log },
  );
  cleanups.push(() => processors.stop());
  // Where deploy/prometheus/prometheus.yml expects each service -> where this test runs it.
  const targets = new Map([['127.0.0.1:19101', `127.0.0.1:${edge.metricsPort}`]]);
  targets.set('127.0.0.1:19111', `127.0.0.1:${processors.http.port}`);
  try {
    const bridge: RunningBridge = await startBridge(
      loadBridgeConfig({
        env: {
          SENTINEL_KAFKA_BROKERS: kafkaBootstrap(world.platform).join(','),
          SENTINEL_REGISTRY_URL: registryUrl(world.platform),
          SENTINEL_TOPIC_PREFIX: world.topicPrefix,
          SENTINEL_STATE_DIR: world.platform.stateDir,
          SENTINEL_ORIGIN_WS_PORT: String(world.platform.originWsPort),
          SENTINEL_BRIDGE_METRICS_PORT: '0',
          SENTINEL_BRIDGE_GROUP_ID: uniqueName('dash-bridge'),
          SENTINEL_BRIDGE_INSTANCE_ID: uniqueName('dash-bridge'),
          SENTINEL_BRIDGE_SESSION_TIMEOUT_MS: '6000',
          SENTINEL_BRIDGE_DOWNLINK_FILTERS: `clients/${good}/#`,
        },
      }),
      log,
    );
    cleanups.push(() => bridge.stop());
    await Promise.all(bridge.links.map((link) => link.whenReady()));
    targets.set('127.0.0.1:19121', `127.0.0.1:${bridge.metricsPort}`);
  } catch (err) {
    missing.set('bridge', `the bridge did not start (${(err as Error).message})`);
  }
  try {
    const port = await freePort();
    const sink = await startForensicsSink(port);
    cleanups.push(() => stopProcessByChild(sink));
    targets.set('127.0.0.1:19131', `127.0.0.1:${port}`);
  } catch (err) {
    missing.set('forensics', `the forensics sink did not start (${(err as Error).message})`);
  }
  return targets;
}

async function stopProcessByChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function startTestPrometheus(serviceTargets: Map<string, string>): Promise<void> {
  const port = await freePort();
  prometheus = {
    name: 'prometheus (dashboards test)',
    command: world.platform.prometheusCommand,
    port,
    dir: join(scratch, 'prometheus'),
  };
  // The deployed rules with every `for:` cut to 0 s, so an alert fires on its first evaluation.
  const rules = join(scratch, 'alerts.yml');
  writeFileSync(
    rules,
    readFileSync(join(prometheusDeployDir, 'alerts.yml'), 'utf8').replace(/^(\s+for:) \S+$/gm, '$1 0s'),
  );
  const targets = stackTargets(world.platform);
  for (const [from, to] of serviceTargets) targets.set(from, to);
  targets.set('127.0.0.1:19090', `127.0.0.1:${port}`);
  await startPrometheusInstance(
    prometheus,
    renderPrometheusConfig({ targets, ruleFiles: [rules], interval: '2s' }),
  );
  cleanups.push(() => stopProcess(prometheusProcess(prometheus), 10_000));
}

async function driveTraffic(): Promise<void> {
  const port = listenerPort(edge, 'mqtt');
  // Good traffic: telemetry reaches the origin through the bridge; an origin alert comes back down.
  const goodDevice = await device(good);
  cleanups.push(() => goodDevice.endAsync(true));
  await goodDevice.subscribeAsync(`clients/${good}/alerts`, { qos: 1 });
  let n = 0;
  const publishGood = () =>
    goodDevice.publishAsync(`devices/${good}/telemetry`, JSON.stringify({ t: 21.5, n: n++ }), { qos: 1 });
  for (let i = 0; i < 10; i++) await publishGood();
  trickle = setInterval(() => void publishGood().catch(() => undefined), 500);
  const { app } = originCredentials(world.platform);
  const origin = await mqtt.connectAsync(`mqtt://127.0.0.1:${world.platform.originMqttPort}`, {
    username: app.username,
    password: app.password,
    reconnectPeriod: 0,
  });
  cleanups.push(() => origin.endAsync(true));
  const alert = new Promise<void>((resolve) => goodDevice.once('message', () => resolve()));
  await origin.publishAsync(`clients/${good}/alerts`, '{"alert":"dashboard"}', { qos: 1 });
  if (!missing.has('bridge')) await alert;

  // Injection payloads: findings and blocking verdicts.
  const attack = await device(attacker);
  cleanups.push(() => attack.endAsync(true));
  for (const payload of [
    { cmd: '; rm -rf /' },
    { name: "x' UNION SELECT password FROM users--" },
    { note: '<script>alert(1)</script>' },
    { file: '../../../../etc/passwd' },
  ]) {
    await attack.publishAsync(`devices/${attacker}/telemetry`, JSON.stringify(payload), { qos: 1 });
  }

  // A flood of QoS 0 PUBLISHes over the PUBLISH tier: rate-limit rejections (dropped).
  const flood = await device(flooder);
  cleanups.push(() => flood.endAsync(true));
  for (let i = 0; i < 80; i++) flood.publish(`devices/${flooder}/telemetry`, `{"i":${i}}`, { qos: 0 });
  await flood.publishAsync(`devices/${flooder}/marker`, '{}', { qos: 1 }).catch(() => undefined);

  // A malformed packet closes its connection (MQTT 3.1.1 §4.8) and is counted.
  await sendMalformed(port);
}

describe('the dashboard against the real Prometheus, with traffic flowing', { timeout: 600_000 }, () => {
  before(async () => {
    const targets = await startServices();
    await startTestPrometheus(targets);
    await driveTraffic();
    // Auth failures: a first few so the series exists in Prometheus, then a burst (rate() only sees
    // increases between two scrapes of a series).
    await authFailures(5, 5);
    await until('auth denials in Prometheus', async () => {
      const result = await instantQuery(prometheus.port, 'sum(sentinel_auth_denials_total)');
      return (result.data?.result.length ?? 0) > 0 ? true : undefined;
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}; targets: ${await describeTargets(prometheus.port)}`);
    });
    await authFailures(300);
  });

  after(async () => {
    if (trickle) clearInterval(trickle);
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await world.tearDown();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('every query of every panel returns data', async (t) => {
    const queries = queryPanels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel, target, expr: expand(target.expr) })),
    );
    const expected = queries.filter((q) => {
      const service = serviceOf(q.expr);
      return service === undefined || !missing.has(service);
    });
    const empty = new Set<string>();
    const errors = new Map<string, string>();
    // Scrapes and rate windows need a few intervals: wait until every query answers, then report.
    const deadline = Date.now() + 120_000;
    for (;;) {
      empty.clear();
      errors.clear();
      for (const q of expected) {
        const result = await instantQuery(prometheus.port, q.expr);
        const key = `"${q.panel.title}" [${q.target.refId}]`;
        if (result.status !== 'success') errors.set(key, `${result.error}: ${q.expr}`);
        else if ((result.data?.result.length ?? 0) === 0) empty.add(`${key}: ${q.expr}`);
      }
      if ((empty.size === 0 && errors.size === 0) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    for (const panel of queryPanels) {
      const service = (panel.targets ?? []).map((tg) => serviceOf(tg.expr)).find((s) => s !== undefined);
      const reason = service !== undefined ? missing.get(service) : undefined;
      await t.test(panel.title, { skip: reason ? `not checked: ${reason}` : false }, () => {
        const failed = [...errors.entries()]
          .filter(([key]) => key.startsWith(`"${panel.title}" `))
          .map(([key, error]) => `${key}: ${error}`);
        assert.deepEqual(failed, [], `panel "${panel.title}": query errors`);
        const nothing = [...empty].filter((key) => key.startsWith(`"${panel.title}" `));
        assert.deepEqual(nothing, [], `panel "${panel.title}" returns nothing`);
      });
    }
  });

  it('fires SentinelAuthFailureSpike during an auth failure burst', async () => {
    await until('SentinelAuthFailureSpike to fire', async () => {
      const response = await fetch(`http://127.0.0.1:${prometheus.port}/api/v1/alerts`);
      const { data } = (await response.json()) as AlertsResult;
      return data.alerts.some(
        (a) => a.labels.alertname === 'SentinelAuthFailureSpike' && a.state === 'firing',
      )
        ? true
        : undefined;
    });
  });

  it("the stack's own Prometheus scrapes every job of deploy/prometheus/prometheus.yml", async () => {
    const port = world.platform.prometheusPort;
    const deployed = [
      ...readFileSync(join(prometheusDeployDir, 'prometheus.yml'), 'utf8').matchAll(/job_name: (\S+)/g),
    ].map((m) => m[1]!);
    const active = await until('the stack Prometheus to report its targets', async () => {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=active`);
      const { data } = (await response.json()) as TargetsResult;
      // Healths are 'unknown' until the first scrape of each target.
      return data.activeTargets.every((tg) => tg.health !== 'unknown') ? data.activeTargets : undefined;
    });
    assert.deepEqual([...new Set(active.map((tg) => tg.labels.job))].sort(), [...deployed].sort());
    // The components the stack runs are up; the services are up only while `sentinel up` runs them.
    for (const job of ['prometheus', 'kafka', 'registry', 'redis']) {
      const of = active.filter((tg) => tg.labels.job === job);
      assert.ok(of.length > 0, `${job} is scraped`);
      for (const tg of of) assert.equal(tg.health, 'up', `${job} ${tg.labels.instance} is up`);
    }
    assert.equal(active.filter((tg) => tg.labels.job === 'kafka').length, 3, 'three brokers');
  });
});
