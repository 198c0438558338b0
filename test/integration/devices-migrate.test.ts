/**
 * `sentinel devices migrate`, the command the Kubernetes Job and the compose service run: it creates
 * the device DB from lib/devicedb/migrations.ts on an empty database and changes nothing the second
 * time. Runs against the machine's MariaDB only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { deviceDbMigrations, deviceDbTables, parseMysqlUrl } from '../../lib/devicedb/migrations.js';
import { projectRoot } from '../../lib/local-platform.js';
import { uniqueName } from '../helpers/platform.js';

const database = `st_${uniqueName('migrate').replaceAll('-', '_')}`;
const url = `mysql://root@127.0.0.1:3306/${database}`;
const cli = join(projectRoot, 'dist', 'cli', 'main.js');

async function migrate(): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'devices', 'migrate'], {
    env: { ...process.env, SENTINEL_MYSQL_URL: url },
  });
  return stdout.trim();
}

after(async () => {
  const connection = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await connection.end();
});

describe('sentinel devices migrate', () => {
  const newest = deviceDbMigrations.at(-1)!.version;

  it('creates the device DB on an empty server and records every migration', async () => {
    const versions = deviceDbMigrations.map((m) => m.version).join(', ');
    assert.equal(await migrate(), `device DB migrated: applied ${versions}; schema version ${newest}`);
    assert.deepEqual((await deviceDbTables(parseMysqlUrl(url))).sort(), [
      'device_acls',
      'devices',
      'schema_migrations',
    ]);
  });

  it('is idempotent: run again (every Job retry, every compose up), it applies nothing', async () => {
    assert.equal(await migrate(), `device DB up to date: schema version ${newest}`);
  });
});
