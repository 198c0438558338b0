import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../lib/local-platform.js';
import { type CommandResult, runToCompletion } from '../../lib/process/run.js';
import { ensurePlatform, runCli } from '../helpers/platform.js';

/**
 * The seed's demo scripts and Locust fan-out test against the real platform: the four services run
 * as child processes on their default ports (the ports the scripts default to, as after `npm start`),
 * and each script is run as a user runs it.
 */
const cli = join(projectRoot, 'dist', 'cli', 'main.js');
const scripts = join(projectRoot, 'demo', 'scripts');
const loadtest = join(projectRoot, 'demo', 'loadtest');
const work = mkdtempSync(join(tmpdir(), 'sentinel-demo-test-'));

interface Service {
  readonly command: string;
  readonly metricsPort: number;
  readonly env?: Record<string, string>;
}

const services: readonly Service[] = [
  { command: 'forensics-sink', metricsPort: 19131 },
  { command: 'processors', metricsPort: 19111 },
  // the broadcast topic of the load test comes back through the bridge's downlink too
  { command: 'bridge', metricsPort: 19121, env: { SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'clients/+/#,fleet/#' } },
  { command: 'ingest', metricsPort: 19101 },
];
const defaultPorts = [11883, 18123, 19101, 19111, 19121, 19131];
const children: ChildProcess[] = [];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** Runs a command to its end (or kills it after the limit) with stdout and stderr together. */
function runTool(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; limitMs?: number } = {},
): Promise<CommandResult> {
  return runToCompletion(command, args, {
    cwd: options.cwd ?? projectRoot,
    env: { ...process.env, ...options.env },
    limitMs: options.limitMs ?? 120_000,
  });
}

/** Sum of one metric's samples whose labels match, read from a service's /metrics. */
async function metric(port: number, name: string, labels = /.*/): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name || !labels.test(match[2] ?? '')) continue;
    sum += Number(match[3]);
  }
  return sum;
}

async function verdictCount(sql: string): Promise<number> {
  const result = await runCli(['forensics', 'sql', sql, '--json']);
  assert.equal(result.code, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as Array<{ n: string | number }>;
  return Number(rows[0]?.n ?? 0);
}

before(async () => {
  for (const tool of ['mosquitto_pub', 'mosquitto_sub', 'curl', 'locust', 'shellcheck']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
    assert.ok(
      found,
      `${tool} is missing: .ci/run installs it (mosquitto-clients, curl, python3-locust, shellcheck)`,
    );
  }
  const taken: number[] = [];
  for (const port of defaultPorts) if (!(await portFree(port))) taken.push(port);
  assert.deepEqual(
    taken,
    [],
    `the demo test runs the services on their default ports, and ${taken.join(', ')} ${taken.length === 1 ? 'is' : 'are'} taken: stop the running platform services (npm start / sentinel ingest ...) first`,
  );
  const config = await ensurePlatform();
  for (const service of services) {
    const log = createWriteStream(join(work, `${service.command}.log`));
    const child = spawn(process.execPath, [cli, service.command], {
      env: { ...process.env, SENTINEL_STATE_DIR: config.stateDir, ...service.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    children.push(child);
    const deadline = Date.now() + 90_000;
    while (!(await ready(service.metricsPort))) {
      assert.ok(
        child.exitCode === null,
        `${service.command} exited; see ${join(work, `${service.command}.log`)}`,
      );
      assert.ok(Date.now() < deadline, `${service.command} not ready in 90 s`);
      await sleep(250);
    }
  }
});

after(async () => {
  for (const child of [...children].reverse()) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
});

describe('demo scripts against the running platform', () => {
  it('--help describes every script', async () => {
    for (const script of [
      join(scripts, 'demo-walkthrough.sh'),
      join(scripts, 'simulate-bad-traffic.sh'),
      join(scripts, 'inject-security.sh'),
      join(loadtest, 'create-devices.sh'),
    ]) {
      const result = await runTool(script, ['--help']);
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /^Usage: /m);
    }
    const lint = await runTool('shellcheck', [
      '-x',
      ...['lib.sh', 'demo-walkthrough.sh', 'simulate-bad-traffic.sh', 'inject-security.sh'].map((f) =>
        join(scripts, f),
      ),
      join(loadtest, 'create-devices.sh'),
    ]);
    assert.equal(lint.code, 0, `shellcheck:\n${lint.output}`);
    const bad = await runTool(join(scripts, 'inject-security.sh'), ['no-such-scenario']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.output, /unknown scenario 'no-such-scenario'; one of: all auth-failure/);
  });

  const expected: Record<string, string> = {
    'auth-failure': "client_id = 'demo-auth' AND has(findings.rule_id, 'ANOM-AUTH-BURST-CLIENT')",
    'rate-anomaly': "client_id = 'demo-rate' AND has(findings.rule_id, 'ANOM-RATE-ABSOLUTE')",
    'pattern-violation': "client_id = 'demo-pattern' AND decision = 'block' AND has(findings.class, 'sqli')",
    'size-anomaly':
      "client_id = 'demo-size' AND decision = 'quarantine' AND has(findings.rule_id, 'ANOM-SIZE-CAP')",
    entropy: "client_id = 'demo-entropy' AND has(findings.rule_id, 'ANOM-ENTROPY')",
  };
  for (const [scenario, condition] of Object.entries(expected)) {
    it(`inject-security.sh ${scenario} exits 0 and its verdict is in the forensic store`, async () => {
      const since = new Date(Date.now() - 2000).toISOString().replace('T', ' ').replace('Z', '');
      const result = await runTool(join(scripts, 'inject-security.sh'), [scenario, '--timeout', '60']);
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /every scenario produced its verdict/);
      const found = await verdictCount(
        `SELECT count() AS n FROM verdicts WHERE decided_at >= toDateTime64('${since}', 3, 'UTC') AND ${condition}`,
      );
      assert.ok(found > 0, `no ${scenario} verdict since ${since}`);
    });
  }

  const modes: ReadonlyArray<[string, number, string, RegExp]> = [
    ['auth-flood', 19101, 'sentinel_auth_requests_total', /result="denied"/],
    [
      'injection',
      19111,
      'sentinel_processor_findings_total',
      /class="(sqli|xss|command-injection|path-traversal)"/,
    ],
    ['connection-flood', 19101, 'sentinel_ingest_connections_opened_total', /.*/],
    ['size-anomaly', 19111, 'sentinel_processor_findings_total', /rule_id="ANOM-SIZE-CAP"/],
  ];
  for (const [mode, port, name, labels] of modes) {
    it(`simulate-bad-traffic.sh --mode ${mode} moves ${name}`, async () => {
      const before = await metric(port, name, labels);
      const result = await runTool(join(scripts, 'simulate-bad-traffic.sh'), [
        '--mode',
        mode,
        '--duration',
        '3',
      ]);
      assert.equal(result.code, 0, result.output);
      const afterRun = await metric(port, name, labels);
      assert.ok(afterRun > before, `${name}${labels.source} stayed at ${before}\n${result.output}`);
    });
  }

  it('demo-walkthrough.sh --non-interactive runs to the end', async () => {
    const result = await runTool(join(scripts, 'demo-walkthrough.sh'), ['--non-interactive']);
    assert.equal(result.code, 0, result.output);
    for (const heading of [
      '1. Platform health and connection metrics',
      '2. Device authentication (valid + invalid credentials)',
      '3. Rate limiting under burst traffic',
      '4. Security inspection catching malicious payloads',
      '5. Grafana dashboard visualization',
      '6. Scale metrics',
      '== Done',
    ]) {
      assert.ok(result.output.includes(heading), `missing "${heading}"\n${result.output}`);
    }
    assert.match(result.output, /received CONNACK \(0\)/);
    assert.match(result.output, /not authorised/);
    assert.match(result.output, /the burst was cut at the edge: \d+ of 1000/);
  });

  it('the Locust fan-out test runs headless and reports fan-out latency', async () => {
    const env = { SENTINEL_LOADTEST_PREFIX: 'demo-load' };
    const devices = await runTool(join(loadtest, 'create-devices.sh'), ['--count', '10'], { env });
    assert.equal(devices.code, 0, devices.output);
    const csv = join(work, 'locust');
    const result = await runTool(
      'locust',
      [
        '-f',
        'locustfile.py',
        '--headless',
        '--host=mqtt://127.0.0.1:11883',
        '-u',
        '10',
        '-r',
        '10',
        '-t',
        '15s',
        '--csv',
        csv,
        '--only-summary',
      ],
      { cwd: loadtest, env, limitMs: 60_000 },
    );
    assert.equal(result.code, 0, result.output);
    const rows = readFileSync(`${csv}_stats.csv`, 'utf8').trim().split('\n');
    const header = (rows[0] ?? '').split(',');
    const column = (name: string) => header.indexOf(name);
    const stats = rows.slice(1).map((row) => row.split(','));
    const fanout = (name: string) => stats.find((cells) => cells[0] === 'MQTT' && cells[1] === name);
    for (const name of ['fanout clients/{id}/alerts', 'fanout broadcast']) {
      const row = fanout(name);
      assert.ok(row, `no "${name}" row in the Locust stats\n${result.output}`);
      assert.ok(Number(row[column('Request Count')]) > 0, `no ${name} deliveries\n${result.output}`);
      assert.equal(Number(row[column('Failure Count')]), 0);
      assert.ok(Number(row[column('99%')]) > 0, 'a P99 fan-out latency');
    }
    assert.match(result.output, /fan-out summary .*: 9 subscribers/);
  });
});
