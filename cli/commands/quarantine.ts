import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import type { HeldDetail, HeldPage } from '../../console/model.js';
import { addSettingFlags, type ConfigOf, loadConfig, settings } from '../../lib/config.js';
import { SentinelError } from '../../lib/errors.js';
import { stackSchema } from '../../lib/local-platform.js';
import { renderTable } from '../output.js';

/**
 * `sentinel quarantine list|show|release|drop`: the review queue from a terminal, through the
 * console's HTTP API with a bearer token (`sentinel console tokens add`; the local platform's
 * first run writes one to <state dir>/console/cli-token).
 */
export const quarantineCliSchema = {
  consoleUrl: settings.url('SENTINEL_CONSOLE_URL', 'http://127.0.0.1:18090', 'the console to talk to', [
    'http',
    'https',
  ]),
  token: settings.string(
    'SENTINEL_CONSOLE_TOKEN',
    '',
    'bearer token for the console API; empty = the token file',
    {
      secret: true,
    },
  ),
  tokenFile: settings.string(
    'SENTINEL_CONSOLE_TOKEN_FILE',
    '',
    'file holding the bearer token; empty = <state dir>/console/cli-token (written by the local platform’s first run)',
  ),
  stateDir: stackSchema.stateDir,
} as const;

type QuarantineCliConfig = ConfigOf<typeof quarantineCliSchema>;

function tokenOf(config: QuarantineCliConfig): string {
  if (config.token !== '') return config.token;
  const file = config.tokenFile !== '' ? config.tokenFile : join(config.stateDir, 'console', 'cli-token');
  if (!existsSync(file))
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `no console token: set SENTINEL_CONSOLE_TOKEN, or SENTINEL_CONSOLE_TOKEN_FILE (${file} does not exist); \`sentinel console tokens add <name> --role operator\` issues one`,
    );
  return readFileSync(file, 'utf8').trim();
}

async function call<T>(
  config: QuarantineCliConfig,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, config.consoleUrl), {
      method,
      headers: {
        Authorization: `Bearer ${tokenOf(config)}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new SentinelError(
      'SNT_COMPONENT_UNHEALTHY',
      `the console at ${config.consoleUrl} did not answer (${(err as Error).message}); is \`sentinel console\` running?`,
    );
  }
  const parsed = (await response.json().catch(() => ({}))) as T & {
    error?: { code: string; message: string };
  };
  if (response.status >= 400 && response.status !== 409) {
    throw new SentinelError('SNT_USAGE', `console: ${parsed.error?.message ?? `HTTP ${response.status}`}`);
  }
  return { status: response.status, body: parsed };
}

const time = (ms: number) => new Date(ms).toISOString();

interface FilterFlags {
  readonly status?: string;
  readonly client?: string;
  readonly rule?: string;
  readonly since?: string;
  readonly until?: string;
}

function filterQuery(flags: FilterFlags): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['status', 'client', 'rule', 'since', 'until'] as const) {
    const value = flags[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function withFilterOptions(command: Command): Command {
  return command
    .option('--client <client-id>', 'only this device')
    .option('--rule <rule-id>', 'only messages with a finding of this rule')
    .option('--since <time>', 'held at or after: 15m, 24h, 7d, an ISO 8601 time')
    .option('--until <time>', 'held at or before, same forms');
}

function decideCommand(action: 'release' | 'drop'): Command {
  const verb =
    action === 'release' ? 'release to the origin (exactly once, through the bridge)' : 'drop for good';
  return withFilterOptions(
    new Command(action)
      .description(`${verb}: held messages by id, or every held message a filter selects`)
      .argument('[held-ids...]', 'held message ids (from `list`)')
      .requiredOption('--reason <text>', 'why: recorded with the decision'),
  ).action(async (ids: string[], flags: FilterFlags & { reason: string }, cmd: Command) => {
    const config = loadConfig(quarantineCliSchema, { env: process.env, flags: cmd.optsWithGlobals() });
    const bulk = Object.keys(filterQuery(flags)).length > 0;
    if (ids.length > 0 === bulk)
      throw new SentinelError(
        'SNT_USAGE',
        'give held ids, or a filter (--client, --rule, --since, --until), not both',
      );
    if (bulk) {
      const { body } = await call<{ decided: number; skipped: number }>(
        config,
        'POST',
        '/api/v1/held/decide',
        {
          action,
          reason: flags.reason,
          ...filterQuery(flags),
        },
      );
      console.log(
        `${action === 'release' ? 'released' : 'dropped'} ${body.decided}; already decided ${body.skipped}`,
      );
      return;
    }
    let refused = 0;
    for (const id of ids) {
      const { status, body } = await call<{
        outcome: string;
        decision: { action: string; operator: string; decidedAt: number };
      }>(config, 'POST', `/api/v1/held/${encodeURIComponent(id)}/${action}`, { reason: flags.reason });
      if (status === 409) {
        refused += 1;
        console.log(
          `${id}: already decided (${body.decision.action} by ${body.decision.operator} at ${time(body.decision.decidedAt)})`,
        );
      } else console.log(`${id}: ${action === 'release' ? 'released' : 'dropped'}`);
    }
    if (refused > 0) process.exitCode = 3;
  });
}

export function quarantineCommand(): Command {
  const command = new Command('quarantine').description(
    'review held (quarantined) messages through the console API: list, show, release, drop',
  );
  addSettingFlags(command, quarantineCliSchema);
  command.addCommand(
    withFilterOptions(
      new Command('list')
        .description('held messages, newest first')
        .option('--status <status>', 'held (default), released, dropped, expired or all')
        .option('--limit <n>', 'rows at most', '100')
        .option('--json', 'print JSON'),
    ).action(async (flags: FilterFlags & { limit: string; json?: boolean }, cmd: Command) => {
      const config = loadConfig(quarantineCliSchema, { env: process.env, flags: cmd.optsWithGlobals() });
      const query = new URLSearchParams({ ...filterQuery(flags), limit: flags.limit });
      const { body } = await call<HeldPage>(config, 'GET', `/api/v1/held?${query}`);
      if (flags.json) {
        console.log(JSON.stringify(body, null, 2));
        return;
      }
      if (body.items.length === 0) {
        console.log('(no held messages)');
        return;
      }
      console.log(
        renderTable(
          ['held at', 'id', 'client', 'topic', 'rules', 'bytes', 'status'],
          body.items.map((h) => [
            time(h.heldAt),
            h.heldId,
            h.clientId,
            h.topic,
            h.ruleIds.join(','),
            String(h.payloadSize),
            h.decision ? `${h.status} by ${h.decision.operator}` : h.status,
          ]),
        ),
      );
      console.log(`(${body.items.length} of ${body.total})`);
    }),
  );
  command.addCommand(
    new Command('show')
      .description('one held message: metadata, findings, payload')
      .argument('<held-id>')
      .option('--view <view>', 'payload as text, json or hex', 'text')
      .option('--json', 'print the whole record as JSON (payload base64 included)')
      .action(async (id: string, flags: { view: string; json?: boolean }, cmd: Command) => {
        const config = loadConfig(quarantineCliSchema, { env: process.env, flags: cmd.optsWithGlobals() });
        const { body: held } = await call<HeldDetail>(
          config,
          'GET',
          `/api/v1/held/${encodeURIComponent(id)}`,
        );
        if (flags.json) {
          console.log(JSON.stringify(held, null, 2));
          return;
        }
        console.log(
          renderTable(
            ['field', 'value'],
            [
              ['id', held.heldId],
              [
                'status',
                held.decision
                  ? `${held.status} by ${held.decision.operator} at ${time(held.decision.decidedAt)}: ${held.decision.reason}`
                  : held.status,
              ],
              ['client', held.clientId],
              ['user', held.username ?? ''],
              ['source', held.sourceIp],
              ['topic', held.topic],
              ['qos / retain', `${held.qos} / ${held.retain}`],
              ['received / held', `${time(held.receivedAt)} / ${time(held.heldAt)}`],
              ['packet', `${held.packetRef.topic}/${held.packetRef.partition}@${held.packetRef.offset}`],
              ['bytes', String(held.payload.size)],
            ],
          ),
        );
        console.log(
          renderTable(
            ['rule', 'class', 'severity', 'location', 'evidence'],
            held.findings.map((f) => [
              f.ruleId,
              f.class,
              f.severity,
              f.location,
              f.evidence.replace(/[\r\n\t]/g, ' '),
            ]),
          ),
        );
        const view =
          flags.view === 'json'
            ? held.payload.json
            : flags.view === 'hex'
              ? held.payload.hex
              : held.payload.text;
        console.log(view ?? `(payload has no ${flags.view} form; try --view hex)`);
      }),
  );
  command.addCommand(decideCommand('release'));
  command.addCommand(decideCommand('drop'));
  return command;
}
