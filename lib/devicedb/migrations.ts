import mysql from 'mysql2/promise';
import { SentinelError } from '../errors.js';

/**
 * The device database (Percona/MySQL in production, MariaDB locally). Migrations are numbered and
 * applied once each, in order; a table records which ran. Identifiers are checked before they are
 * spliced into DDL (MySQL cannot bind a database name as a parameter).
 */
interface Migration {
  readonly version: number;
  readonly description: string;
  readonly statements: readonly string[];
}

export const deviceDbMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'devices and their topic ACLs',
    statements: [
      `CREATE TABLE IF NOT EXISTS devices (
        client_id VARCHAR(128) NOT NULL,
        username VARCHAR(128) NOT NULL,
        password_hash VARCHAR(512) NOT NULL COMMENT 'scrypt$N$r$p$salt$key, base64url parts',
        enabled TINYINT(1) NOT NULL DEFAULT 1,
        disabled_reason VARCHAR(255) NULL,
        created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (client_id),
        KEY devices_username (username)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      `CREATE TABLE IF NOT EXISTS device_acls (
        id BIGINT NOT NULL AUTO_INCREMENT,
        client_id VARCHAR(128) NOT NULL,
        action ENUM('publish', 'subscribe', 'all') NOT NULL,
        topic_pattern VARCHAR(1024) NOT NULL COMMENT 'MQTT filter; %c is the client id, %u the username',
        PRIMARY KEY (id),
        KEY device_acls_client (client_id),
        CONSTRAINT device_acls_device FOREIGN KEY (client_id) REFERENCES devices (client_id) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
  },
];

export interface MysqlTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

const identifier = /^[A-Za-z0-9_]{1,64}$/;

export function parseMysqlUrl(url: string): MysqlTarget {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'sentinel';
  if (!identifier.test(database)) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `setting SENTINEL_MYSQL_URL: database name "${database}" must match ${identifier}`,
    );
  }
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 3306),
    user: decodeURIComponent(parsed.username || 'root'),
    password: decodeURIComponent(parsed.password),
    database,
  };
}

/** Creates the database if needed and applies pending migrations; returns the versions applied now. */
export async function migrateDeviceDb(target: MysqlTarget): Promise<number[]> {
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      connectTimeout: 3000,
    });
  } catch (err) {
    throw new SentinelError(
      'SNT_DEVICE_DB_UNAVAILABLE',
      `device DB at ${target.host}:${target.port} does not answer (${(err as Error).message}); check SENTINEL_MYSQL_URL`,
      { cause: err },
    );
  }
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    );
    await connection.query(`USE \`${target.database}\``);
    await connection.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
        version INT NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL,
        applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB`,
    );
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of deviceDbMigrations) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements) await connection.query(statement);
      await connection.execute('INSERT INTO schema_migrations (version, description) VALUES (?, ?)', [
        migration.version,
        migration.description,
      ]);
      applied.push(migration.version);
    }
    return applied;
  } finally {
    await connection.end();
  }
}

export async function deviceDbTables(target: MysqlTarget): Promise<string[]> {
  const connection = await mysql.createConnection({ ...target, connectTimeout: 3000 });
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name',
      [target.database],
    );
    return rows.map((row) => String(row.name));
  } finally {
    await connection.end();
  }
}
