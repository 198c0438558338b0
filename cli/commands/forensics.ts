import { Command } from 'commander';
import { namedQueryList, prepareNamedQuery, runPreparedQuery } from '../../forensics/queries.js';
import { forensicsQuerySchema } from '../../forensics/settings.js';
import { addSettingFlags, loadConfig } from '../../lib/config.js';
import { renderTable } from '../output.js';

/**
 * `sentinel forensics <query> [args]`: the saved investigations, and `sql` for anything else
 * (read-only). Talks ClickHouse HTTP to SENTINEL_FORENSICS_URL: the sink's query endpoint with the
 * embedded engine, or a ClickHouse server.
 */
interface ForensicsFlags {
  readonly since?: string;
  readonly until?: string;
  readonly interval?: string;
  readonly rule?: string;
  readonly limit?: string;
  readonly client?: string;
  readonly json?: boolean;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/[\r\n\t]/g, ' ');
}

export function forensicsCommand(): Command {
  const list = namedQueryList.map((q) => `  ${q.usage.padEnd(62)} ${q.summary}`).join('\n');
  return addSettingFlags(
    new Command('forensics')
      .description('run a named forensic query, or read-only SQL, against the forensic store')
      .argument('<query>', `one of: ${namedQueryList.map((q) => q.name).join(', ')}`)
      .argument('[args...]', 'the query’s arguments')
      .option(
        '--since <time>',
        'window start: a duration ago (15m, 24h, 7d) or an ISO 8601 time; default 24h',
      )
      .option('--until <time>', 'window end, same forms; default now')
      .option('--interval <duration>', 'bucket width for findings-by-rule (1m, 15m, 1h, 1d); default 1h')
      .option('--rule <rule-id>', 'payload-search: findings of this rule instead of a substring')
      .option('--limit <rows>', 'rows at most; default 1000')
      .option('--client <client-id>', 'quarantine, quarantine-decisions: one client only')
      .option('--json', 'print the rows as JSON')
      .addHelpText(
        'after',
        `\nQueries:\n${list}\n\nTimes are UTC. Example: sentinel forensics device-timeline sensor-0001 --since 2h`,
      )
      .action(async (name: string, args: string[], flags: ForensicsFlags, command: Command) => {
        const config = loadConfig(forensicsQuerySchema, { env: process.env, flags: command.opts() });
        const prepared = prepareNamedQuery(name, {
          positional: args,
          ...(flags.since !== undefined ? { since: flags.since } : {}),
          ...(flags.until !== undefined ? { until: flags.until } : {}),
          ...(flags.interval !== undefined ? { interval: flags.interval } : {}),
          ...(flags.rule !== undefined ? { rule: flags.rule } : {}),
          ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
          ...(flags.client !== undefined ? { client: flags.client } : {}),
        });
        const { createClickHouse } = await import('../../lib/clickhouse/client.js');
        const client = createClickHouse({
          url: config.url,
          embeddedPath: '',
          database: config.database,
          ...(config.user ? { username: config.user } : {}),
          ...(config.password ? { password: config.password } : {}),
        });
        try {
          const rows = await runPreparedQuery(client, prepared);
          if (flags.json) {
            console.log(JSON.stringify(rows, null, 2));
            return;
          }
          if (rows.length === 0) {
            console.log('(no rows)');
            return;
          }
          const headers = Object.keys(rows[0] as object);
          console.log(
            renderTable(
              headers,
              rows.map((row) => headers.map((h) => cell(row[h]))),
            ),
          );
          console.log(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
        } finally {
          await client.close();
        }
      }),
    forensicsQuerySchema,
  );
}
