import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SentinelError } from '../lib/errors.js';
import { projectRoot, type StackConfig } from '../lib/local-platform.js';
import type { ComponentStatus } from './component-status.js';
import { jmxExporterPort } from './kafka.js';
import {
  type ManagedProcess,
  runningPid,
  startDetached,
  stopProcess,
  tcpReachable,
  waitFor,
} from './processes.js';
import { registryManagementPort } from './registry.js';

/**
 * The local Prometheus: Debian's `prometheus` running deploy/prometheus/prometheus.yml on its own
 * port and data dir under the state dir. The machine's own Prometheus (a Debian install starts one
 * on 9090) is never touched.
 */
export const prometheusDeployDir = join(projectRoot, 'deploy', 'prometheus');

/** Where the stack's own components listen in deploy/prometheus/prometheus.yml (their defaults). */
const deployedAddresses = {
  prometheus: '127.0.0.1:19090',
  kafka1: '127.0.0.1:19392',
  kafka2: '127.0.0.1:19393',
  kafka3: '127.0.0.1:19394',
  registry: '127.0.0.1:18082',
  redis: '127.0.0.1:19122',
} as const;

export interface PrometheusConfigOptions {
  /** Scrape targets to replace: address in the deployed file -> address to scrape instead. */
  readonly targets?: ReadonlyMap<string, string>;
  /** Absolute paths of the rule files (the deployed file names alerts.yml beside itself). */
  readonly ruleFiles?: readonly string[];
  /** Overrides the global scrape and evaluation interval, e.g. '1s' in tests. */
  readonly interval?: string;
}

/**
 * deploy/prometheus/prometheus.yml, re-targeted. Targets are quoted `"host:port"` strings in that
 * file, so a literal replacement keeps the rest byte for byte.
 */
export function renderPrometheusConfig(options: PrometheusConfigOptions = {}): string {
  let text = readFileSync(join(prometheusDeployDir, 'prometheus.yml'), 'utf8');
  for (const [from, to] of options.targets ?? []) {
    text = text.replaceAll(`'${from}'`, `'${to}'`).replaceAll(`"${from}"`, `"${to}"`);
  }
  const ruleFiles = options.ruleFiles ?? [join(prometheusDeployDir, 'alerts.yml')];
  text = text.replace(
    /^rule_files:\n(?:[ \t]+-[^\n]*\n)+/m,
    `rule_files:\n${ruleFiles.map((file) => `  - '${file}'\n`).join('')}`,
  );
  if (options.interval !== undefined) {
    text = text
      .replace(/^(\s+scrape_interval:) \S+/m, `$1 ${options.interval}`)
      .replace(/^(\s+evaluation_interval:) \S+/m, `$1 ${options.interval}`)
      .replace(/^(\s+scrape_timeout:) \S+/m, `$1 ${options.interval}`);
  }
  return text;
}

/** The stack's components where this config put them (SENTINEL_KAFKA_PORT etc. may move them). */
export function stackTargets(config: StackConfig): Map<string, string> {
  return new Map<string, string>([
    [deployedAddresses.prometheus, `127.0.0.1:${config.prometheusPort}`],
    [deployedAddresses.kafka1, `127.0.0.1:${jmxExporterPort(config, 0)}`],
    [deployedAddresses.kafka2, `127.0.0.1:${jmxExporterPort(config, 1)}`],
    [deployedAddresses.kafka3, `127.0.0.1:${jmxExporterPort(config, 2)}`],
    [deployedAddresses.registry, `127.0.0.1:${registryManagementPort(config)}`],
    [deployedAddresses.redis, `127.0.0.1:${config.redisExporterPort}`],
  ]);
}

function prometheusDir(config: StackConfig): string {
  return join(config.stateDir, 'prometheus');
}

export interface PrometheusInstance {
  readonly name: string;
  readonly command: string;
  readonly port: number;
  /** Directory holding prometheus.yml, data/, the pid and the log. */
  readonly dir: string;
}

export function prometheusProcess(instance: PrometheusInstance): ManagedProcess {
  return {
    name: instance.name,
    command: instance.command,
    args: [
      `--config.file=${join(instance.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(instance.dir, 'data')}`,
      '--storage.tsdb.retention.time=3d',
      `--web.listen-address=127.0.0.1:${instance.port}`,
      `--web.external-url=http://127.0.0.1:${instance.port}/`,
      '--log.level=warn',
    ],
    pidFile: join(instance.dir, 'prometheus.pid'),
    logFile: join(instance.dir, 'prometheus.log'),
  };
}

/** Fails with the package to install when `command` cannot run (spawn would only fail later, asynchronously). */
export function requireCommand(command: string, debianPackage: string, setting: string): void {
  const probe = spawnSync(command, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  if (probe.error !== undefined && (probe.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new SentinelError(
      'SNT_DEPENDENCY_MISSING',
      `${command} not found; install the Debian package ${debianPackage} or set ${setting}`,
    );
  }
}

export async function prometheusReady(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Writes the config and starts Prometheus unless it runs; a running one re-reads the config
 * (SIGHUP), so `stack up` applies edits of deploy/prometheus. True when it was started.
 */
export async function startPrometheusInstance(
  instance: PrometheusInstance,
  configText: string,
): Promise<boolean> {
  const proc = prometheusProcess(instance);
  mkdirSync(join(instance.dir, 'data'), { recursive: true });
  const pid = runningPid(proc);
  writeFileSync(join(instance.dir, 'prometheus.yml'), configText);
  if (pid !== undefined) {
    process.kill(pid, 'SIGHUP');
    return false;
  }
  if (await tcpReachable('127.0.0.1', instance.port)) {
    throw new SentinelError(
      'SNT_COMPONENT_START_FAILED',
      `${instance.name}: port ${instance.port} is taken by a process this stack did not start; set SENTINEL_PROMETHEUS_PORT`,
    );
  }
  requireCommand(instance.command, 'prometheus', 'SENTINEL_PROMETHEUS');
  startDetached(proc);
  await waitFor(instance.name, () => prometheusReady(instance.port), {
    timeoutMs: 30_000,
    intervalMs: 100,
    logFile: proc.logFile,
    alive: () => runningPid(proc) !== undefined,
  });
  return true;
}

export function stackPrometheus(config: StackConfig): PrometheusInstance {
  return {
    name: 'prometheus',
    command: config.prometheusCommand,
    port: config.prometheusPort,
    dir: prometheusDir(config),
  };
}

export function startPrometheus(config: StackConfig): Promise<boolean> {
  return startPrometheusInstance(
    stackPrometheus(config),
    renderPrometheusConfig({ targets: stackTargets(config) }),
  );
}

export function stopPrometheus(config: StackConfig): Promise<boolean> {
  return stopProcess(prometheusProcess(stackPrometheus(config)), 10_000);
}

interface TargetsResponse {
  readonly data: { readonly activeTargets: ReadonlyArray<{ readonly health: string }> };
}

export async function prometheusStatus(config: StackConfig): Promise<ComponentStatus> {
  const instance = stackPrometheus(config);
  const address = `http://127.0.0.1:${instance.port}`;
  const managed = runningPid(prometheusProcess(instance)) !== undefined;
  if (!(await prometheusReady(instance.port))) {
    return { name: 'prometheus', address, healthy: false, managed, detail: 'not answering' };
  }
  let detail = 'ready';
  try {
    const response = await fetch(`${address}/api/v1/targets?state=active`, {
      signal: AbortSignal.timeout(2000),
    });
    const targets = ((await response.json()) as TargetsResponse).data.activeTargets;
    const up = targets.filter((target) => target.health === 'up').length;
    detail = `scraping ${up}/${targets.length} targets up (deploy/prometheus/prometheus.yml)`;
  } catch {
    // Ready but the targets API did not answer in time: still healthy.
  }
  return { name: 'prometheus', address, healthy: true, managed, detail };
}
