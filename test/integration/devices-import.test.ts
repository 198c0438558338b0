/**
 * `sentinel devices import | show | remove` through the CLI, against the machine's MariaDB (a
 * database of its own, dropped afterwards) and Redis.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { hashPassword } from '../../ingest/auth/password.js';
import { projectRoot } from '../../lib/local-platform.js';
import { uniqueName } from '../helpers/platform.js';
import { deleteKeysWithPrefix } from '../helpers/redis-keys.js';

const database = `st_${uniqueName('import').replaceAll('-', '_')}`;
const url = `mysql://root@127.0.0.1:3306/${database}`;
const cli = join(projectRoot, 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sentinel-import-'));

async function sentinel(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], {
      env: { ...process.env, SENTINEL_MYSQL_URL: url, SENTINEL_AUTH_CACHE_PREFIX: `${database}:` },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

interface Summary {
  added: number;
  updated: number;
  unchanged: number;
  refused: Array<{ line: number; clientId: string | null; reason: string }>;
  devicesPerSecond: number;
}

async function importFile(name: string, text: string): Promise<Summary> {
  const file = join(dir, name);
  writeFileSync(file, text);
  const run = await sentinel('devices', 'import', file, '--json');
  return JSON.parse(run.stdout) as Summary;
}

before(async () => {
  assert.equal((await sentinel('devices', 'migrate')).code, 0);
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  // The cache epochs that updates and removals replaced, under this test's own prefix.
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await deleteKeysWithPrefix(redis, `${database}:`);
  redis.disconnect();
  const connection = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await connection.end();
});

describe('sentinel devices import', () => {
  let hash = '';

  it('adds devices from JSONL with stored hashes, fast, and refuses bad lines by number', async (t) => {
    hash = await hashPassword('imported-device-secret', { log2N: 10, r: 8, p: 1 });
    const lines = Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({
        client_id: `imp-${i}`,
        username: `fleet-${i % 7}`,
        password_hash: hash,
        publish: [`devices/%c/telemetry`],
        subscribe: ['clients/%c/alerts'],
      }),
    );
    lines.splice(10, 0, '{"client_id":"bad\\u0007id","username":"u","password_hash":"x"}', 'not json');
    const summary = await importFile('fleet.jsonl', `${lines.join('\n')}\n`);
    assert.equal(summary.added, 2000);
    assert.deepEqual(
      summary.refused.map((r) => r.line),
      [11, 12],
    );
    t.diagnostic(`devices import: 2,000 devices with hashes at ${summary.devicesPerSecond}/s`);
  });

  it('is idempotent, and updates only what changed', async () => {
    const again = Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({
        client_id: `imp-${i}`,
        username: `fleet-${i % 7}`,
        password_hash: hash,
        publish: [i === 5 ? 'devices/%c/#' : 'devices/%c/telemetry'],
        subscribe: ['clients/%c/alerts'],
      }),
    );
    const summary = await importFile('fleet-2.jsonl', `${again.join('\n')}\n`);
    assert.deepEqual(
      { added: summary.added, updated: summary.updated, unchanged: summary.unchanged },
      { added: 0, updated: 1, unchanged: 1999 },
    );
    const shown = JSON.parse((await sentinel('devices', 'show', 'imp-5', '--json')).stdout) as {
      publish: string[];
    };
    assert.deepEqual(shown.publish, ['devices/%c/#']);
  });

  it('reads CSV with plain passwords, and a password already stored is not rehashed', async () => {
    const csv = [
      'client_id,username,password,publish,subscribe',
      'csv-1,fleet-a,csv-device-secret-1,devices/%c/telemetry;devices/%c/status,clients/%c/alerts',
      'csv-2,fleet-a,short,,',
    ].join('\n');
    const first = await importFile('fleet.csv', csv);
    assert.equal(first.added, 1);
    assert.equal(first.refused[0]?.line, 3);
    assert.match(first.refused[0]?.reason ?? '', /password must be at least/);
    const second = await importFile('fleet-again.csv', csv);
    assert.equal(second.unchanged, 1, 'the same password verifies against the stored hash');
    const shown = await sentinel('devices', 'show', 'csv-1');
    assert.match(shown.stdout, /publish +devices\/%c\/telemetry devices\/%c\/status/);
    assert.doesNotMatch(shown.stdout, /scrypt|secret/, 'never credentials');
  });

  it('removes a device; removing or showing one that is not there says so', async () => {
    assert.equal((await sentinel('devices', 'remove', 'csv-1')).code, 0);
    const gone = await sentinel('devices', 'show', 'csv-1');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /SNT_DEVICE_UNKNOWN/);
    assert.match((await sentinel('devices', 'remove', 'csv-1')).stderr, /SNT_DEVICE_UNKNOWN/);
  });
});
