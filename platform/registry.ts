import { join } from 'node:path';
import { SentinelError } from '../lib/errors.js';
import { kafkaBootstrap, registryUrl, type StackConfig } from '../lib/local-platform.js';
import type { JvmArtifacts } from './artifacts.js';
import {
  type ManagedProcess,
  runningPid,
  startDetached,
  stopProcess,
  tcpReachable,
  waitFor,
} from './processes.js';

/**
 * Apicurio Registry 3 with `kafkasql` storage: every schema change is a record in a journal topic of
 * the same Kafka cluster (replication 3, infinite retention), so the registry keeps nothing of its own
 * and a restarted registry replays its state from Kafka.
 */
export function registryManagementPort(config: StackConfig): number {
  return config.registryPort + 1;
}

export function registryJournalTopic(config: StackConfig): string {
  return `${config.topicPrefix}registry-journal`;
}

export function registryProcess(config: StackConfig, artifacts: JvmArtifacts): ManagedProcess {
  const dir = join(config.stateDir, 'registry');
  const properties: Record<string, string> = {
    'quarkus.http.host': '127.0.0.1',
    'quarkus.http.port': String(config.registryPort),
    'quarkus.management.host': '127.0.0.1',
    'quarkus.management.port': String(registryManagementPort(config)),
    'quarkus.log.level': 'WARN',
    'quarkus.log.category."io.apicurio".level': 'WARN',
    'quarkus.http.access-log.enabled': 'false',
    'apicurio.storage.kind': 'kafkasql',
    'apicurio.kafkasql.bootstrap.servers': kafkaBootstrap(config).join(','),
    'apicurio.kafkasql.topic': registryJournalTopic(config),
    'apicurio.kafkasql.snapshots.topic': `${config.topicPrefix}registry-snapshots`,
    'apicurio.events.kafka.topic': `${config.topicPrefix}registry-events`,
    'apicurio.kafkasql.consumer.group-prefix': 'sentinel-registry-',
  };
  return {
    name: 'registry',
    command: artifacts.registryJava,
    args: [
      `-Xmx${config.registryHeapMb}m`,
      '-XX:+ExitOnOutOfMemoryError',
      ...Object.entries(properties).map(([key, value]) => `-D${key}=${value}`),
      '-jar',
      join(artifacts.apicurioHome, 'quarkus-run.jar'),
    ],
    cwd: dir,
    pidFile: join(dir, 'registry.pid'),
    logFile: join(dir, 'registry.log'),
  };
}

export async function registryHealthy(config: StackConfig): Promise<boolean> {
  try {
    const response = await fetch(`${registryUrl(config)}/subjects`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

export async function startRegistry(config: StackConfig, artifacts: JvmArtifacts): Promise<boolean> {
  const proc = registryProcess(config, artifacts);
  if (runningPid(proc) !== undefined) return false;
  if (await tcpReachable('127.0.0.1', config.registryPort)) {
    if (await registryHealthy(config)) return false;
    throw new SentinelError(
      'SNT_COMPONENT_START_FAILED',
      `registry: port ${config.registryPort} is taken by another program; set SENTINEL_REGISTRY_PORT`,
    );
  }
  startDetached(proc);
  return true;
}

export async function waitForRegistry(
  config: StackConfig,
  artifacts: JvmArtifacts,
  timeoutMs = 180_000,
): Promise<void> {
  const proc = registryProcess(config, artifacts);
  await waitFor('schema registry', () => registryHealthy(config), {
    timeoutMs,
    intervalMs: 500,
    logFile: proc.logFile,
    alive: () => runningPid(proc) !== undefined,
  });
}

export function stopRegistry(config: StackConfig, artifacts: JvmArtifacts): Promise<boolean> {
  return stopProcess(registryProcess(config, artifacts));
}
