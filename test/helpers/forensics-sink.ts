import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { kafkaBootstrap, projectRoot, registryUrl, type StackConfig } from '../../lib/local-platform.js';
import { freePort } from '../../platform/processes.js';

/** `sentinel forensics-sink` as a child process (the built CLI), as in production. */
export interface SinkProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  readonly metricsPort: number;
}

/**
 * Starts a sink on a test's own topics (`prefix`), embedded store (`storePath`) and group, with
 * small batches so rows land quickly; `extra` overrides or adds settings.
 */
export async function spawnForensicsSink(options: {
  readonly platform: StackConfig;
  readonly prefix: string;
  readonly storePath: string;
  readonly groupId: string;
  readonly extra?: Record<string, string>;
}): Promise<SinkProcess> {
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), 'forensics-sink'], {
    env: {
      ...process.env,
      SENTINEL_KAFKA_BROKERS: kafkaBootstrap(options.platform).join(','),
      SENTINEL_REGISTRY_URL: registryUrl(options.platform),
      SENTINEL_TOPIC_PREFIX: options.prefix,
      SENTINEL_CLICKHOUSE_URL: 'embedded',
      SENTINEL_CLICKHOUSE_PATH: options.storePath,
      SENTINEL_FORENSICS_GROUP_ID: options.groupId,
      SENTINEL_FORENSICS_METRICS_PORT: String(metricsPort),
      SENTINEL_FORENSICS_QUERY_PORT: '0',
      SENTINEL_FORENSICS_BATCH_ROWS: '50',
      SENTINEL_FORENSICS_BATCH_MAX_MS: '200',
      SENTINEL_FORENSICS_SESSION_TIMEOUT_MS: '6000',
      SENTINEL_LOG_LEVEL: 'warn',
      ...options.extra,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, metricsPort };
}
