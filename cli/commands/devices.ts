import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { DeviceStore } from '../../ingest/auth/device-store.js';
import { authSchema, scryptParamsOf } from '../../ingest/auth/settings.js';
import { addSettingFlags, loadConfig } from '../../lib/config.js';
import { describeError, SentinelError } from '../../lib/errors.js';
import { renderTable } from '../output.js';

/**
 * `sentinel devices add|list|disable|enable`: the device DB as an operator sees it. Passwords are
 * hashed before they leave this process and are never printed; every change also invalidates the
 * device's cached auth decisions in Redis, so it takes effect on the next CONNECT.
 */
export const devicesSchema = {
  mysqlUrl: authSchema.mysqlUrl,
  redisUrl: authSchema.redisUrl,
  cachePrefix: authSchema.cachePrefix,
  dbTimeoutMs: authSchema.dbTimeoutMs,
  scryptLog2N: authSchema.scryptLog2N,
  scryptR: authSchema.scryptR,
  scryptP: authSchema.scryptP,
};

type DevicesConfig = ReturnType<typeof loadDevicesConfig>;

function loadDevicesConfig(command: Command) {
  return loadConfig(devicesSchema, { env: process.env, flags: command.opts() });
}

async function withStore<T>(config: DevicesConfig, work: (store: DeviceStore) => Promise<T>): Promise<T> {
  // Loaded when a subcommand runs, with the drivers: the CLI's other commands never map them.
  const { createDevicePool, DeviceStore } = await import('../../ingest/auth/device-store.js');
  const pool = createDevicePool(config.mysqlUrl, { timeoutMs: config.dbTimeoutMs, connectionLimit: 1 });
  try {
    return await work(
      new DeviceStore(pool, { hashParams: scryptParamsOf(config), queryTimeoutMs: config.dbTimeoutMs }),
    );
  } finally {
    await pool.end();
  }
}

/** Replaces the devices' cache epochs (one connection for all); returns why it could not, or undefined. */
async function invalidateCached(
  config: DevicesConfig,
  clientIds: readonly string[],
): Promise<string | undefined> {
  if (clientIds.length === 0) return undefined;
  const [{ Redis }, { RedisDecisionCache }] = await Promise.all([
    import('ioredis'),
    import('../../ingest/auth/decision-cache.js'),
  ]);
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    // The secret only shapes decision keys; invalidation touches the epoch key, which needs none.
    const cache = new RedisDecisionCache(redis, { prefix: config.cachePrefix, ttlSeconds: 1, secret: '' });
    for (const clientId of clientIds) await cache.invalidateDevice(clientId);
    return undefined;
  } catch (err) {
    return describeError(err);
  } finally {
    redis.disconnect();
  }
}

/**
 * After disable and remove a cached allow could still admit the device until it expires: the
 * operator must know. Returns false (and sets exit code 1) when Redis could not be told.
 */
async function revokeCached(
  config: DevicesConfig,
  clientId: string,
  change: 'disabled in' | 'removed from',
): Promise<boolean> {
  const problem = await invalidateCached(config, [clientId]);
  if (!problem) return true;
  console.error(
    `devices: ${clientId} is ${change} the device DB, but its cached decisions were not invalidated (Redis: ${problem}); a cached allow may be honoured for up to SENTINEL_AUTH_CACHE_TTL_SECONDS.${change === 'disabled in' ? ' Run this again when Redis answers.' : ''}`,
  );
  process.exitCode = 1;
  return false;
}

/** After add and enable a stale cached denial only delays the device until its TTL: a warning is enough. */
async function invalidateCachedDenials(config: DevicesConfig, clientId: string): Promise<void> {
  const problem = await invalidateCached(config, [clientId]);
  if (problem) {
    console.error(
      `devices: warning: cached denials of ${clientId} not invalidated (Redis: ${problem}); they expire within the cache TTL`,
    );
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** The secret from stdin without its line ending, as `echo "$SECRET" | ...` sends it. */
export function stripLineEnd(input: Buffer): Buffer {
  let end = input.length;
  if (end > 0 && input[end - 1] === 0x0a) end--;
  if (end > 0 && input[end - 1] === 0x0d) end--;
  return input.subarray(0, end);
}

interface AddOptions {
  username: string;
  password?: string;
  passwordStdin?: boolean;
  publish: string[];
  subscribe: string[];
}

export function devicesCommand(): Command {
  const devices = new Command('devices').description(
    'manage devices in the device DB: credentials (scrypt hashes) and per-device topic ACLs',
  );

  addSettingFlags(
    devices
      .command('add')
      .description('add a device with its credentials and ACL patterns (%c = client id, %u = user name)')
      .argument('<client-id>', 'MQTT client id of the device')
      .requiredOption('--username <name>', 'MQTT user name the device sends')
      .option('--password <secret>', 'device password (visible in the process list; prefer --password-stdin)')
      .option('--password-stdin', 'read the password from standard input (one trailing newline is removed)')
      .option('--publish <pattern>', 'topic filter the device may publish to (repeatable)', collect, [])
      .option(
        '--subscribe <pattern>',
        'topic filter the device may subscribe within (repeatable)',
        collect,
        [],
      )
      .addHelpText(
        'after',
        '\nExample:\n  printf %s "$SECRET" | sentinel devices add dev-1 --username fleet-a --password-stdin \\\n    --publish "devices/%c/telemetry" --subscribe "clients/%c/alerts"',
      )
      .action(async (clientId: string, options: AddOptions, command: Command) => {
        const config = loadDevicesConfig(command);
        if ((options.password === undefined) === (options.passwordStdin !== true)) {
          throw new SentinelError('SNT_USAGE', 'give exactly one of --password and --password-stdin');
        }
        if (options.password !== undefined) {
          console.error('devices: warning: --password is visible in the process list and shell history');
        }
        const password = options.password ?? stripLineEnd(await readStdin());
        await withStore(config, (store) =>
          store.add({
            clientId,
            username: options.username,
            password,
            publish: options.publish,
            subscribe: options.subscribe,
          }),
        );
        console.log(
          `added device ${clientId} (user ${options.username}): ${options.publish.length} publish, ${options.subscribe.length} subscribe pattern(s)`,
        );
        await invalidateCachedDenials(config, clientId);
      }),
    devicesSchema,
  );

  addSettingFlags(
    devices
      .command('list')
      .description('list devices, their state and ACL patterns (never credentials)')
      .option('--json', 'print JSON')
      .action(async (options: { json?: boolean }, command: Command) => {
        const rows = await withStore(loadDevicesConfig(command), (store) => store.list());
        if (options.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        console.log(
          renderTable(
            ['client id', 'user', 'state', 'reason', 'publish', 'subscribe', 'created'],
            rows.map((row) => [
              row.clientId,
              row.username,
              row.enabled ? 'enabled' : 'DISABLED',
              row.disabledReason ?? '',
              row.publish.join(' '),
              row.subscribe.join(' '),
              row.createdAt,
            ]),
          ),
        );
      }),
    devicesSchema,
  );

  addSettingFlags(
    devices
      .command('disable')
      .description('refuse the device from its next CONNECT on (cached decisions are invalidated)')
      .argument('<client-id>', 'MQTT client id of the device')
      .option('--reason <text>', 'why, for the audit trail (shown by list)')
      .action(async (clientId: string, options: { reason?: string }, command: Command) => {
        const config = loadDevicesConfig(command);
        await withStore(config, (store) => store.disable(clientId, options.reason));
        if (!(await revokeCached(config, clientId, 'disabled in'))) return;
        console.log(`disabled device ${clientId}${options.reason ? ` (${options.reason})` : ''}`);
      }),
    devicesSchema,
  );

  addSettingFlags(
    devices
      .command('enable')
      .description('accept a disabled device again')
      .argument('<client-id>', 'MQTT client id of the device')
      .action(async (clientId: string, _options: unknown, command: Command) => {
        const config = loadDevicesConfig(command);
        await withStore(config, (store) => store.enable(clientId));
        await invalidateCachedDenials(config, clientId);
        console.log(`enabled device ${clientId}`);
      }),
    devicesSchema,
  );
  addSettingFlags(
    devices
      .command('import')
      .description(
        'add or update devices in bulk from CSV (header: client_id,username,password|password_hash,publish,subscribe; patterns ;-separated) or JSONL; idempotent',
      )
      .argument('<file>', 'the devices: .csv is read as CSV, anything else as JSONL')
      .option('--format <format>', 'csv or jsonl, when the file name does not say')
      .option('--json', 'print the summary as JSON')
      .action(async (file: string, options: { format?: string; json?: boolean }, command: Command) => {
        const config = loadDevicesConfig(command);
        const format = options.format ?? (file.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl');
        if (format !== 'csv' && format !== 'jsonl')
          throw new SentinelError('SNT_USAGE', `--format ${format}: csv or jsonl`);
        const started = performance.now();
        const { parseImport } = await import('../../ingest/auth/device-import.js');
        const parsed = parseImport(readFileSync(file, 'utf8'), format);
        const result = await withStore(config, (store) =>
          store.importDevices(parsed.devices.map((line) => line.device)),
        );
        const problem = await invalidateCached(config, result.updated);
        const seconds = (performance.now() - started) / 1000;
        const summary = {
          added: result.added.length,
          updated: result.updated.length,
          unchanged: result.unchanged.length,
          refused: parsed.refused,
          seconds: Math.round(seconds * 100) / 100,
          devicesPerSecond: Math.round(parsed.devices.length / Math.max(seconds, 0.001)),
        };
        if (options.json) console.log(JSON.stringify(summary, null, 2));
        else {
          console.log(
            `imported ${file}: ${summary.added} added, ${summary.updated} updated, ${summary.unchanged} unchanged, ${summary.refused.length} refused in ${summary.seconds} s (${summary.devicesPerSecond}/s)`,
          );
          for (const r of summary.refused)
            console.log(`  line ${r.line}${r.clientId ? ` (${r.clientId})` : ''}: ${r.reason}`);
        }
        if (problem)
          console.error(
            `devices: warning: cached decisions of the ${result.updated.length} updated devices not invalidated (Redis: ${problem}); they expire within the cache TTL`,
          );
        if (summary.refused.length > 0) process.exitCode = 1;
      }),
    devicesSchema,
  );

  addSettingFlags(
    devices
      .command('show')
      .description('one device: user name, state, ACL patterns (never credentials)')
      .argument('<client-id>', 'MQTT client id of the device')
      .option('--json', 'print as JSON')
      .action(async (clientId: string, options: { json?: boolean }, command: Command) => {
        const config = loadDevicesConfig(command);
        const device = await withStore(config, (store) => store.show(clientId));
        if (!device) throw new SentinelError('SNT_DEVICE_UNKNOWN', `no device "${clientId}"`);
        if (options.json) {
          console.log(JSON.stringify(device, null, 2));
          return;
        }
        console.log(
          [
            `client id   ${device.clientId}`,
            `user name   ${device.username}`,
            `state       ${device.enabled ? 'enabled' : `disabled${device.disabledReason ? ` (${device.disabledReason})` : ''}`}`,
            `publish     ${device.publish.join(' ') || '-'}`,
            `subscribe   ${device.subscribe.join(' ') || '-'}`,
            `created     ${device.createdAt}`,
            `updated     ${device.updatedAt}`,
          ].join('\n'),
        );
      }),
    devicesSchema,
  );

  addSettingFlags(
    devices
      .command('remove')
      .description('remove a device and its ACLs (its cached decisions are invalidated)')
      .argument('<client-id>', 'MQTT client id of the device')
      .action(async (clientId: string, _options: unknown, command: Command) => {
        const config = loadDevicesConfig(command);
        await withStore(config, (store) => store.remove(clientId));
        if (!(await revokeCached(config, clientId, 'removed from'))) return;
        console.log(`removed device ${clientId}`);
      }),
    devicesSchema,
  );

  addSettingFlags(
    devices
      .command('migrate')
      .description(
        'create the device DB tables, or bring them to the newest schema (idempotent: applies only migrations not yet recorded)',
      )
      .action(async (_options: unknown, command: Command) => {
        const config = loadDevicesConfig(command);
        const { deviceDbMigrations, migrateDeviceDb, parseMysqlUrl } = await import(
          '../../lib/devicedb/migrations.js'
        );
        const applied = await migrateDeviceDb(parseMysqlUrl(config.mysqlUrl));
        const newest = deviceDbMigrations.at(-1)?.version ?? 0;
        console.log(
          applied.length > 0
            ? `device DB migrated: applied ${applied.join(', ')}; schema version ${newest}`
            : `device DB up to date: schema version ${newest}`,
        );
      }),
    devicesSchema,
  );
  return devices;
}
