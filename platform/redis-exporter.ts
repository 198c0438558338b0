import { join } from 'node:path';
import { SentinelError } from '../lib/errors.js';
import type { StackConfig } from '../lib/local-platform.js';
import type { ComponentStatus } from './component-status.js';
import {
  type ManagedProcess,
  runningPid,
  startDetached,
  stopProcess,
  tcpReachable,
  waitFor,
} from './processes.js';
import { requireCommand } from './prometheus.js';

/**
 * Debian's prometheus-redis-exporter in front of the machine's Redis (session registry, auth
 * decision cache, global rate-limit budget): connected and blocked clients for the "Cache Clients"
 * panel, and redis_up for "Service Health". The Redis URL goes in the environment, not the
 * command line, so a password in it does not show in `ps`.
 */
export function redisExporterProcess(config: StackConfig): ManagedProcess {
  const dir = join(config.stateDir, 'redis-exporter');
  return {
    name: 'redis-exporter',
    command: config.redisExporterCommand,
    args: [`-web.listen-address=127.0.0.1:${config.redisExporterPort}`, '-redis-only-metrics'],
    env: { REDIS_ADDR: config.redisUrl },
    pidFile: join(dir, 'redis-exporter.pid'),
    logFile: join(dir, 'redis-exporter.log'),
  };
}

/** The exporter answers and reaches Redis (its redis_up gauge is 1). */
export async function redisExporterHealthy(config: StackConfig): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${config.redisExporterPort}/metrics`, {
      signal: AbortSignal.timeout(2000),
    });
    return response.ok && /^redis_up 1$/m.test(await response.text());
  } catch {
    return false;
  }
}

export async function startRedisExporter(config: StackConfig): Promise<boolean> {
  const proc = redisExporterProcess(config);
  if (runningPid(proc) !== undefined) return false;
  if (await tcpReachable('127.0.0.1', config.redisExporterPort)) {
    throw new SentinelError(
      'SNT_COMPONENT_START_FAILED',
      `redis-exporter: port ${config.redisExporterPort} is taken by a process this stack did not start; set SENTINEL_REDIS_EXPORTER_PORT`,
    );
  }
  requireCommand(proc.command, 'prometheus-redis-exporter', 'SENTINEL_REDIS_EXPORTER');
  startDetached(proc);
  await waitFor('redis-exporter', () => redisExporterHealthy(config), {
    timeoutMs: 20_000,
    intervalMs: 100,
    logFile: proc.logFile,
    alive: () => runningPid(proc) !== undefined,
  });
  return true;
}

export function stopRedisExporter(config: StackConfig): Promise<boolean> {
  return stopProcess(redisExporterProcess(config), 10_000);
}

export async function redisExporterStatus(config: StackConfig): Promise<ComponentStatus> {
  const healthy = await redisExporterHealthy(config);
  return {
    name: 'redis-exporter',
    address: `http://127.0.0.1:${config.redisExporterPort}/metrics`,
    healthy,
    managed: runningPid(redisExporterProcess(config)) !== undefined,
    detail: healthy ? `Redis ${config.redisUrl} exported (redis_up 1)` : 'not answering or Redis unreachable',
  };
}
