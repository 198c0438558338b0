import { deviceDbMigrations } from '../../lib/devicedb/migrations.js';

/**
 * The device DB schema as one SQL file for a MySQL/Percona entrypoint (docker-entrypoint-initdb.d),
 * rendered from lib/devicedb/migrations.ts: the same statements, and schema_migrations left as
 * migrateDeviceDb leaves it, so a later migration run applies only newer versions.
 * Regenerate: node dist/scripts/deploy/devicedb-sql.js > deploy/kubernetes/base/core/devicedb-schema.sql
 */
export function renderDeviceDbSchema(): string {
  const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;
  const lines = [
    '-- Generated from lib/devicedb/migrations.ts by scripts/deploy/devicedb-sql.ts; do not edit.',
    '-- Applied once by the MySQL entrypoint, to an empty data directory, in database MYSQL_DATABASE.',
    `CREATE TABLE IF NOT EXISTS schema_migrations (
        version INT NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL,
        applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB;`,
  ];
  for (const migration of deviceDbMigrations) {
    lines.push(`-- migration ${migration.version}: ${migration.description}`);
    for (const statement of migration.statements) lines.push(`${statement};`);
    lines.push(
      `INSERT IGNORE INTO schema_migrations (version, description) VALUES (${migration.version}, ${quote(migration.description)});`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1]?.endsWith('devicedb-sql.js')) process.stdout.write(renderDeviceDbSchema());
