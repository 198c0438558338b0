import { bridgeServiceSchema, retiredBridgeSettings } from '../bridge/settings.js';
import { consoleServiceSchema } from '../console/settings.js';
import {
  forensicsQuerySchema,
  forensicsSinkSchema,
  retiredForensicsSettings,
} from '../forensics/settings.js';
import { ingestServiceSchema, retiredIngestSettings } from '../ingest/settings.js';
import { loadConfig, type Schema, type SettingNames, shownValue } from '../lib/config.js';
import { stackSchema } from '../lib/local-platform.js';
import { processorsSchema, retiredProcessorsSettings } from '../processors/settings.js';
import { devicesSchema } from './commands/devices.js';
import { quarantineCliSchema } from './commands/quarantine.js';
import { topicsSchema } from './commands/topics.js';

/**
 * Every setting of the platform, by the `sentinel` command that reads it: the one place that knows
 * them all, so a variable nothing reads is refused at start (`refuseUnknownSettings`) and
 * `sentinel config` can print what a service would run with.
 */
export const commandSchemas: Readonly<Record<string, Schema>> = {
  ingest: ingestServiceSchema,
  processors: processorsSchema,
  bridge: bridgeServiceSchema,
  'forensics-sink': forensicsSinkSchema,
  forensics: forensicsQuerySchema,
  console: consoleServiceSchema,
  quarantine: quarantineCliSchema,
  devices: devicesSchema,
  topics: topicsSchema,
  stack: stackSchema,
};

/** SENTINEL_* variables read outside the schemas, and by what. */
export const settingsReadElsewhere: Readonly<Record<string, string>> = {
  SENTINEL_LOG_LEVEL: 'every service: the pino log level (lib/log.ts), default info',
  SENTINEL_INGEST_WORKER_INDEX: 'set by `sentinel ingest` for each of its worker processes',
  SENTINEL_TEST_KEEP_STACK: '`npm test`: leave running the platform the run started',
  SENTINEL_BENCH_TEST_FAIL_AT: 'test/integration/bench.test.ts: makes a bench scenario fail on purpose',
  SENTINEL_DASHBOARDS_DIR: "Grafana's dashboard provisioning (deploy/grafana): the dashboards folder",
  SENTINEL_PROMETHEUS_URL: "Grafana's datasource provisioning (deploy/grafana): the Prometheus to query",
};

/** The demo's and the Locust load test's own variables (demo/), never read by a service. */
const toolPrefixes = ['SENTINEL_DEMO_', 'SENTINEL_LOADTEST_'];

export function platformSettingNames(): SettingNames {
  const known = new Set(Object.keys(settingsReadElsewhere));
  for (const schema of Object.values(commandSchemas))
    for (const setting of Object.values(schema)) known.add(setting.env);
  return {
    known,
    retired: {
      ...retiredIngestSettings,
      ...retiredProcessorsSettings,
      ...retiredBridgeSettings,
      ...retiredForensicsSettings,
    },
    ownedPrefixes: toolPrefixes,
  };
}

export interface EffectiveSetting {
  readonly env: string;
  readonly value: string;
  readonly source: 'environment' | 'default';
  readonly description: string;
}

/** What `sentinel <command>` would run with from this environment, each value with its source; secrets masked. */
export function effectiveSettings(
  command: string,
  env: Readonly<Record<string, string | undefined>>,
): EffectiveSetting[] {
  const schema = commandSchemas[command];
  if (!schema) return [];
  const values = loadConfig(schema, { env }) as Record<string, unknown>;
  return Object.entries(schema)
    .map(([key, setting]) => {
      const value = values[key];
      return {
        env: setting.env,
        // An empty secret is shown empty: whether one is set is what an operator checks here.
        value: setting.secret && value === '' ? '' : shownValue(setting, value),
        source: (env[setting.env] ?? '') === '' ? ('default' as const) : ('environment' as const),
        description: setting.description,
      };
    })
    .sort((a, b) => a.env.localeCompare(b.env));
}
