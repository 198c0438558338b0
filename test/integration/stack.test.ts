import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { forensicDatabase } from '../../forensics/ddl.js';
import { createClickHouse } from '../../lib/clickhouse/client.js';
import type { StackConfig } from '../../lib/local-platform.js';
import { brokerIndexes, brokerLogFile } from '../../platform/kafka.js';
import { tcpReachable } from '../../platform/processes.js';
import { clickhouseTarget } from '../../platform/stack.js';
import { ensurePlatform, runCli, uniqueName } from '../helpers/platform.js';

describe('sentinel stack', () => {
  let config: StackConfig;

  before(async () => {
    config = await ensurePlatform();
  });

  it('up twice in a row is harmless: the second starts nothing and everything stays healthy', async () => {
    const first = await runCli(['stack', 'up']);
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli(['stack', 'up']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /started nothing \(all running\)/);
    const status = await runCli(['stack', 'status', '--json']);
    assert.equal(status.code, 0, status.stdout);
    const rows = JSON.parse(status.stdout) as Array<{ name: string; healthy: boolean }>;
    assert.deepEqual(
      rows.map((r) => r.name),
      [
        'kafka-1',
        'kafka-2',
        'kafka-3',
        'registry',
        'origin',
        'prometheus',
        'redis-exporter',
        'redis',
        'device-db',
        'clickhouse',
      ],
    );
    for (const row of rows) assert.ok(row.healthy, `${row.name} healthy`);
  });

  it("the brokers log through log4j2: each one's latest start says so, not SLF4J's no-operation fallback", () => {
    // Kafka 4 logs through SLF4J 1.7; an SLF4J 2 binding on its class path left every broker silent.
    // The file is appended to across starts, so the latest of the two lines tells about the latest start.
    for (const index of brokerIndexes) {
      const log = readFileSync(brokerLogFile(config, index), 'utf8');
      const outcomes = [...log.matchAll(/Kafka Server started|no-operation \(NOP\) logger/g)].map(
        (m) => m[0],
      );
      assert.equal(outcomes.at(-1), 'Kafka Server started', `kafka-${index + 1}: ${log.slice(-2000)}`);
    }
  });

  const badSettings: Array<[string, Record<string, string>, string[], RegExp]> = [
    [
      'a port that is not a number',
      { SENTINEL_KAFKA_PORT: 'ninety' },
      [],
      /SENTINEL_KAFKA_PORT \(--kafka-port\).*"ninety" is not a whole number/,
    ],
    [
      'a flag out of range',
      {},
      ['--registry-port', '70000'],
      /SENTINEL_REGISTRY_PORT \(--registry-port\) from --registry-port.*out of range/,
    ],
    [
      'a Redis URL of the wrong scheme',
      { SENTINEL_REDIS_URL: 'http://127.0.0.1:6379' },
      [],
      /SENTINEL_REDIS_URL.*scheme http: not allowed/,
    ],
  ];
  for (const [what, env, flags, message] of badSettings) {
    it(`stops with a message naming the setting on ${what}`, async () => {
      const result = await runCli(['stack', 'up', ...flags], env);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /SNT_CONFIG_INVALID/);
      assert.match(result.stderr, message);
    });
  }

  it('every subcommand answers --help', async () => {
    for (const args of [
      [],
      ['up'],
      ['stack'],
      ['stack', 'up'],
      ['stack', 'down'],
      ['stack', 'status'],
      ['topics'],
      ['topics', 'create'],
      ['topics', 'describe'],
    ]) {
      const result = await runCli([...args, '--help']);
      assert.equal(result.code, 0, args.join(' '));
      assert.match(result.stdout, /Usage: sentinel/, args.join(' '));
    }
  });

  // Last in this file: it opens the embedded engine in this process, and chDB locks its directory.
  it('creates the forensic tables in chDB, and @clickhouse/client writes and reads them', async () => {
    const client = createClickHouse(clickhouseTarget(config));
    const clientId = uniqueName('device');
    try {
      const tables = await client.query({
        query:
          "SELECT name, engine FROM system.tables WHERE database = {db:String} AND engine NOT LIKE 'Materialized%' ORDER BY name",
        query_params: { db: forensicDatabase },
        format: 'JSONEachRow',
      });
      assert.deepEqual(await tables.json(), [
        { name: 'deliveries', engine: 'ReplacingMergeTree' },
        { name: 'held_messages', engine: 'ReplacingMergeTree' },
        { name: 'packets', engine: 'ReplacingMergeTree' },
        { name: 'quarantine_decisions', engine: 'ReplacingMergeTree' },
        { name: 'schema_version', engine: 'MergeTree' },
        { name: 'verdicts', engine: 'ReplacingMergeTree' },
        { name: 'verdicts_per_minute', engine: 'SummingMergeTree' },
      ]);
      const row = {
        received_at: '2026-11-25 10:00:00.123',
        client_id: clientId,
        event_id: 'e-1',
        packet_type: 'PUBLISH',
        username: clientId,
        source_ip: '::ffff:127.0.0.1',
        source_port: 40000,
        proxy_id: 'edge-test',
        connection_id: 'c-1',
        topic: `devices/${clientId}/telemetry`,
        qos: 1,
        retain: false,
        dup: false,
        message_id: 1,
        payload: '{"t":21.5}',
        payload_size: 10,
        packet_size: 48,
        auth_result: '',
        malformed_reason: '',
        kafka_partition: 3,
        kafka_offset: 42,
      };
      // Written twice, as a sink restart would: the Kafka coordinates in the sorting key collapse it.
      await client.insert({ table: `${forensicDatabase}.packets`, values: [row], format: 'JSONEachRow' });
      await client.insert({ table: `${forensicDatabase}.packets`, values: [row], format: 'JSONEachRow' });
      const result = await client.query({
        query: `SELECT client_id, packet_type, toString(source_ip) AS ip, kafka_offset FROM ${forensicDatabase}.packets FINAL WHERE client_id = {id:String}`,
        query_params: { id: clientId },
        format: 'JSONEachRow',
      });
      assert.deepEqual(await result.json(), [
        { client_id: clientId, packet_type: 'PUBLISH', ip: '::ffff:127.0.0.1', kafka_offset: '42' },
      ]);
      await client.command({
        query: `ALTER TABLE ${forensicDatabase}.packets DELETE WHERE client_id = {id:String}`,
        query_params: { id: clientId },
      });
    } finally {
      await client.close();
    }
  });
});

/**
 * A start that fails stops what it started and says so (issue 17: a failed `npm start` left the
 * three Kafka JVMs and the registry running, unmentioned). A second platform of its own (state dir,
 * ports) beside the running one; its origin's port is held by this test, so `stack up` fails after
 * it has started the brokers and the registry.
 */
describe('sentinel stack up that fails', () => {
  it('stops the brokers and the registry it had started, names them, and leaves no process or port behind', {
    timeout: 240_000,
  }, async () => {
    await ensurePlatform();
    const stateDir = mkdtempSync(join(tmpdir(), 'sentinel-failed-start-'));
    const squatter = createServer();
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const originPort = (squatter.address() as { port: number }).port;
    const kafkaPort = 29_092;
    const registryPort = 28_181;
    try {
      const result = await runCli(['stack', 'up'], {
        SENTINEL_STATE_DIR: stateDir,
        SENTINEL_KAFKA_PORT: String(kafkaPort),
        SENTINEL_REGISTRY_PORT: String(registryPort),
        SENTINEL_ORIGIN_MQTT_PORT: String(originPort),
      });
      const output = `${result.stdout}${result.stderr}`;
      assert.notEqual(result.code, 0, output);
      assert.match(output, /origin: port \d+ is taken by a process this stack did not start/);
      assert.match(
        output,
        /start failed; stopping what this start launched \(kafka-1, kafka-2, kafka-3, registry\)/,
      );
      for (const port of [kafkaPort, kafkaPort + 1, kafkaPort + 2, registryPort])
        assert.equal(await tcpReachable('127.0.0.1', port), false, `port ${port} still listening`);
      const leftovers = spawnSync('pgrep', ['-f', stateDir], { encoding: 'utf8' }).stdout.trim();
      assert.equal(leftovers, '', 'no process of the failed start left running');
    } finally {
      squatter.close();
      spawnSync('pkill', ['-KILL', '-f', stateDir]);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
