import { hostname } from 'node:os';
import { join } from 'node:path';
import { forensicsQuerySchema } from '../forensics/settings.js';
import { type ConfigOf, type ConfigSources, loadConfig, settings } from '../lib/config.js';
import { endpointSchema } from '../lib/endpoints.js';
import { kafkaSecuritySchema } from '../lib/kafka/security.js';
import { stackSchema } from '../lib/local-platform.js';

/**
 * Settings of `sentinel console`: the quarantine review API and the operators' web page. Beside a
 * local platform it needs none: accounts live under the state directory (`sentinel console
 * operators add`), Kafka and the registry are the local ones, the forensic store is the sink's
 * query endpoint.
 */
export const consoleSchema = {
  ...kafkaSecuritySchema,
  host: settings.string(
    'SENTINEL_CONSOLE_HOST',
    '127.0.0.1',
    'address the console (API and web page) listens on',
  ),
  port: settings.int('SENTINEL_CONSOLE_PORT', 18090, 'port of the console; 0 picks a free one', {
    min: 0,
    max: 65535,
  }),
  operatorsFile: settings.string(
    'SENTINEL_CONSOLE_OPERATORS_FILE',
    '',
    'operator accounts (name, role, scrypt hash), managed with `sentinel console operators`; empty = <state dir>/console/operators.json',
  ),
  tokensFile: settings.string(
    'SENTINEL_CONSOLE_TOKENS_FILE',
    '',
    'bearer tokens for the CLI and scripts, "<name> <viewer|operator> <token>" per line; empty = <state dir>/console/tokens',
  ),
  tlsCert: settings.string(
    'SENTINEL_CONSOLE_TLS_CERT',
    '',
    'PEM certificate: serve HTTPS (and mark the session cookie Secure)',
  ),
  tlsKey: settings.string('SENTINEL_CONSOLE_TLS_KEY', '', 'PEM private key of SENTINEL_CONSOLE_TLS_CERT'),
  holdHours: settings.int(
    'SENTINEL_QUARANTINE_HOLD_HOURS',
    70,
    'a held message not decided within this is expired (recorded as an expired verdict) before the 72 h topics forget it',
    { min: 1, max: 71, unit: 'h' },
  ),
  sweepIntervalMs: settings.int(
    'SENTINEL_CONSOLE_SWEEP_INTERVAL_MS',
    60_000,
    'how often overdue held messages are expired',
    {
      min: 100,
      max: 3_600_000,
      unit: 'ms',
    },
  ),
  transactionalId: settings.string(
    'SENTINEL_CONSOLE_TRANSACTIONAL_ID',
    'sentinel-console',
    'transactional id of the decision writer: one console per id decides at a time (a second one fences the first)',
    { pattern: /^[A-Za-z0-9._-]{1,200}$/ },
  ),
  instanceId: settings.string(
    'SENTINEL_CONSOLE_INSTANCE_ID',
    '',
    'name of this instance (logs, metrics, consumer groups); empty = <hostname>-<pid>',
    {
      pattern: /^[A-Za-z0-9._-]{0,100}$/,
    },
  ),
  fetchWaitMs: settings.int(
    'SENTINEL_CONSOLE_FETCH_WAIT_MS',
    1000,
    'longest a broker holds an empty fetch of the quarantine topics and the verdict stream: a new record answers a held fetch at once, so this bounds only the idle fetches (each costs the brokers CPU)',
    { min: 1, max: 1000, unit: 'ms' },
  ),
  sessionIdleMinutes: settings.int(
    'SENTINEL_CONSOLE_SESSION_IDLE_MINUTES',
    60,
    'a browser session unused this long is signed out',
    {
      min: 1,
      max: 1440,
      unit: 'min',
    },
  ),
  sessionMaxHours: settings.int(
    'SENTINEL_CONSOLE_SESSION_MAX_HOURS',
    12,
    'a browser session ends this long after sign-in',
    {
      min: 1,
      max: 168,
      unit: 'h',
    },
  ),
  maxPayloadBytes: settings.int(
    'SENTINEL_CONSOLE_MAX_PAYLOAD_BYTES',
    256 * 1024 * 1024,
    'payload bytes of held messages kept in memory at most; past it the oldest (decided ones first) are let go and read back from the forensic store when shown or released',
    { min: 0, max: 64 * 1024 * 1024 * 1024, unit: 'bytes' },
  ),
  bulkBatch: settings.int(
    'SENTINEL_CONSOLE_BULK_BATCH',
    500,
    'decisions per Kafka transaction in a bulk decision',
    {
      min: 1,
      max: 10_000,
    },
  ),
  graceMs: settings.int(
    'SENTINEL_CONSOLE_GRACE_MS',
    10_000,
    'time a SIGTERM gives a decision in progress to commit',
    {
      min: 100,
      max: 600_000,
      unit: 'ms',
    },
  ),
} as const;

export const consoleServiceSchema = {
  ...consoleSchema,
  ...endpointSchema,
  stateDir: stackSchema.stateDir,
  forensicsUrl: forensicsQuerySchema.url,
  forensicsUser: forensicsQuerySchema.user,
  forensicsPassword: forensicsQuerySchema.password,
  forensicsDatabase: forensicsQuerySchema.database,
} as const;

export type ConsoleConfig = ConfigOf<typeof consoleServiceSchema>;

export function loadConsoleConfig(sources: ConfigSources = {}): ConsoleConfig {
  return loadConfig(consoleServiceSchema, sources);
}

export function operatorsFileOf(config: Pick<ConsoleConfig, 'operatorsFile' | 'stateDir'>): string {
  return config.operatorsFile !== ''
    ? config.operatorsFile
    : join(config.stateDir, 'console', 'operators.json');
}

export function tokensFileOf(config: Pick<ConsoleConfig, 'tokensFile' | 'stateDir'>): string {
  return config.tokensFile !== '' ? config.tokensFile : join(config.stateDir, 'console', 'tokens');
}

export function consoleInstanceIdOf(config: Pick<ConsoleConfig, 'instanceId'>): string {
  return config.instanceId !== '' ? config.instanceId : `${hostname()}-${process.pid}`;
}
