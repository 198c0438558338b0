import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaBootstrap, projectRoot, registryUrl } from '../../lib/local-platform.js';
import { mosquittoConf } from '../../platform/origin.js';
import { freePort } from '../../platform/processes.js';
import type { BenchWorld } from '../support.js';
import type { ScenarioCleanup } from './cleanup.js';

export interface RunningService {
  readonly name: string;
  readonly process: ChildProcess;
  readonly metricsPort: number;
}

async function waitReady(service: RunningService): Promise<void> {
  for (let i = 0; ; i++) {
    if (service.process.exitCode !== null)
      throw new Error(`${service.name} exited (${service.process.exitCode})`);
    const ok = await fetch(`http://127.0.0.1:${service.metricsPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (i > 900) throw new Error(`${service.name} did not become ready on ${service.metricsPort}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function stopService(service: RunningService): Promise<void> {
  if (service.process.exitCode !== null || service.process.signalCode !== null) return;
  const exited = once(service.process, 'exit');
  service.process.kill('SIGTERM');
  const timer = setTimeout(() => service.process.kill('SIGKILL'), 45_000);
  await exited;
  clearTimeout(timer);
}

export interface SentinelPipeline {
  readonly edgePort: number;
  readonly ingest: RunningService;
  readonly processors: RunningService | null;
  readonly bridge: RunningService | null;
  readonly forensicsSink: RunningService | null;
  /** Where the forensics sink's embedded ClickHouse keeps this run's rows (removed by stop()). */
  readonly forensicsDir: string | null;
  stop(): Promise<void>;
}

export type PipelineStage = 'ingest' | 'processors' | 'bridge' | 'forensics-sink';

/**
 * The edge alone (`stages: ['ingest']`) or the whole path. Rate limits are off: throughput, not
 * limiting, is measured (the limiter's own cost is in ratelimit.bench). The forensics sink, when
 * asked for, stores into an embedded ClickHouse of its own in a temp dir (chDB locks its directory,
 * and the platform's store is not the bench's to fill).
 */
export async function startSentinelPipeline(
  world: BenchWorld,
  options: {
    readonly stages?: readonly PipelineStage[];
    readonly ingestEnv?: Record<string, string>;
    readonly bridgeEnv?: Record<string, string>;
    /** Node.js flags for the services (e.g. --heapsnapshot-signal) and their working directory. */
    readonly nodeArgs?: readonly string[];
    readonly cwd?: string;
    /** Each service is registered here as soon as it is spawned, so a failure at any point stops it. */
    readonly cleanup?: ScenarioCleanup;
  } = {},
): Promise<SentinelPipeline> {
  const stages = options.stages ?? ['ingest', 'processors', 'bridge'];
  const common = {
    ...process.env,
    SENTINEL_LOG_LEVEL: 'warn',
    SENTINEL_KAFKA_BROKERS: kafkaBootstrap(world.platform).join(','),
    SENTINEL_REGISTRY_URL: registryUrl(world.platform),
    SENTINEL_TOPIC_PREFIX: world.prefix,
  };
  const metricsPortSetting = {
    ingest: 'SENTINEL_INGEST_METRICS_PORT',
    processors: 'SENTINEL_PROCESSORS_METRICS_PORT',
    bridge: 'SENTINEL_BRIDGE_METRICS_PORT',
    'forensics-sink': 'SENTINEL_FORENSICS_METRICS_PORT',
  } as const;
  const start = async (
    command: keyof typeof metricsPortSetting,
    env: Record<string, string>,
  ): Promise<RunningService> => {
    const metricsPort = await freePort();
    const service: RunningService = {
      name: command,
      metricsPort,
      process: spawn(
        process.execPath,
        [...(options.nodeArgs ?? []), join(projectRoot, 'dist', 'cli', 'main.js'), command],
        {
          env: { ...common, [metricsPortSetting[command]]: String(metricsPort), ...env },
          stdio: ['ignore', 'ignore', 'inherit'],
          ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        },
      ),
    };
    options.cleanup?.add(`${command} (pid ${service.process.pid})`, () => stopService(service));
    return service;
  };
  const edgePort = await freePort();
  const ingest = await start('ingest', {
    SENTINEL_MYSQL_URL: world.mysqlUrl,
    SENTINEL_INGEST_PORT: String(edgePort),
    SENTINEL_INGEST_PROXY_ID: world.id,
    SENTINEL_INGEST_SESSION_PREFIX: `${world.id}:s:`,
    SENTINEL_AUTH_CACHE_PREFIX: `${world.id}:auth:`,
    SENTINEL_RATE_REDIS_KEY_PREFIX: `${world.id}:rl`,
    SENTINEL_INGEST_DOWNLINK: 'false',
    SENTINEL_RATE_GLOBAL_PER_SECOND: '0',
    SENTINEL_RATE_IP_PER_SECOND: '0',
    SENTINEL_RATE_CONNECT_PER_SECOND: '0',
    SENTINEL_RATE_PUBLISH_PER_SECOND: '0',
    SENTINEL_RATE_CLIENT_PER_SECOND: '0',
    ...options.ingestEnv,
  });
  const services = [ingest];
  let processors: RunningService | null = null;
  let bridge: RunningService | null = null;
  if (stages.includes('processors')) {
    processors = await start('processors', {
      SENTINEL_PROCESSORS_GROUP_ID: `${world.id}-processors`,
    });
    services.push(processors);
  }
  if (stages.includes('bridge')) {
    bridge = await start('bridge', {
      SENTINEL_BRIDGE_GROUP_ID: `${world.id}-bridge`,
      SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none',
      ...options.bridgeEnv,
    });
    services.push(bridge);
  }
  let forensicsSink: RunningService | null = null;
  let forensicsDir: string | null = null;
  if (stages.includes('forensics-sink')) {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-forensics-'));
    forensicsDir = dir;
    // Registered before the sink, so undone after it stopped.
    options.cleanup?.add(`forensic store ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    forensicsSink = await start('forensics-sink', {
      SENTINEL_FORENSICS_GROUP_ID: `${world.id}-forensics`,
      SENTINEL_CLICKHOUSE_URL: 'embedded',
      SENTINEL_CLICKHOUSE_PATH: dir,
      SENTINEL_FORENSICS_QUERY_PORT: '0',
    });
    services.push(forensicsSink);
  }
  const stop = async () => {
    await Promise.all(services.map(stopService));
    if (forensicsDir) rmSync(forensicsDir, { recursive: true, force: true });
  };
  try {
    await Promise.all(services.map(waitReady));
  } catch (error) {
    await stop();
    throw error;
  }
  return { edgePort, ingest, processors, bridge, forensicsSink, forensicsDir, stop };
}

export interface PlainMosquitto {
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A plain Mosquitto as a fleet without Sentinel would run it: anonymous MQTT on loopback, no
 * persistence, otherwise configured as the project's origin (queue cap, TCP_NODELAY).
 */
export async function startPlainMosquitto(): Promise<PlainMosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-bench-mosquitto-'));
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(config, mosquittoConf({ mqttPort: port, quiet: true }));
  const child = spawn('mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || i > 100) throw new Error(`mosquitto did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
